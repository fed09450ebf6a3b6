"""A model folder holds data only, never code: liveimpro rebuilds the network from its own source
and the saved config (as nanoGPT does), then fills in the weights.

    card.json    what the model is: format, version, kind ("next-note-lstm" or "melody-vae"),
                 model_config (what the network is rebuilt from), the size and SHA-256 of each
                 other file, and how it was trained (data, validation, training config)
    weights.pt   the parameters, {name: float32 tensor}: torch.save, read with torch.load(weights_only=True)
    vocab.json   (next-note LSTM) the tokenizer, liveimpro.tokens.registry.load_tokenizer reads it
    representation.json   (melody VAE) the step representation, liveimpro.vae.melody_vae checks it

Why loading a folder cannot run code from it: JSON is parsed, never evaluated. weights.pt goes
through torch's weights-only unpickler, which builds tensors and plain containers and refuses every
other global, so no `__reduce__` can call a function. Before torch opens it, the archive is looked at:
a TorchScript archive (its code/ is compiled and its __setstate__ run as it loads, and any torch op,
file-creating ones included, can be called from there) is refused, and so are compressed entries
(they could inflate far past the file's size). The network's code is liveimpro's own (liveimpro.lstm.network,
liveimpro.vae.network), scripted here. Nothing is allocated from an unchecked number: every model_config
field has a type and a range (the ranges keep any network within a few hundred MB), and each file's
size must be the card's, itself capped, before the file is read.

Every way a folder can be wrong is one ModelError line naming the file and the reason: no folder, a
missing file, a file that is not the one the card describes (truncated, or damaged: its SHA-256), a
card of another format, version or kind, a model_config out of range, weights whose names, shapes or
values do not fit the rebuilt network, a vocabulary of another size than the network's. The SHA-256
finds damage; it proves nothing about who wrote a folder (whoever writes the weights can write the
card): that the folder holds no code is what makes loading a stranger's folder safe.
"""
from __future__ import annotations

import math
import re
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

from .errors import ModelError
from .files import atomic_write, first_line, read_json, sha256_of, write_json

CARD_FORMAT = "liveimpro-model"
CARD_VERSION = 2  # version 1 folders held a TorchScript model.pt: refused, TorchScript runs code as it loads
CARD = "card.json"
WEIGHTS = "weights.pt"
MAX_FILE_BYTES = 256 * 2**20  # of any file in a folder (the shipped weights.pt are 4-7 MB)
MAX_CARD_BYTES = 4 * 2**20  # card.json is read before anything else says how large it should be (shipped: 18 kB)
MAX_PICKLE_BYTES = 1 << 20  # weights.pt's data.pkl, the names and shapes of the tensors (the shipped ones: 2-3 kB)
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@contextmanager
def quiet_torchscript():
    """Silence torch's "`torch.jit.X` is deprecated" warnings: liveimpro scripts its own step modules
    (one TorchScript call per step is the fastest step measured) and never loads TorchScript."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def save_folder(folder, kind: str, network, data_files: dict, card: dict) -> dict:
    """Write weights.pt (the parameters of `network`, which has `cfg`, a config dataclass), the data files
    ({name: write(path)}, each writer atomic) and card.json last; returns the card as written."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {name: p.detach().to("cpu", torch.float32).clone() for name, p in network.named_parameters()}
    atomic_write(folder / WEIGHTS, lambda path: torch.save(weights, path))
    for name, write in data_files.items():
        write(folder / name)
    (folder / "model.pt").unlink(missing_ok=True)  # a version 1 folder's TorchScript: nothing reads it any more
    card = {"format": CARD_FORMAT, "version": CARD_VERSION, "kind": kind, **card,
            "parameters": sum(w.numel() for w in weights.values()), "model_config": asdict(network.cfg),
            "files": {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256_of(folder / name)}
                      for name in (WEIGHTS, *data_files)}}
    write_json(folder / CARD, card)
    return card


def read_card(folder: Path, kind: str, files: tuple[str, ...]) -> dict:
    """card.json of a folder of `kind`, after checking each of `files` against the card's size and SHA-256."""
    holds = f"a model folder holds {', '.join((CARD, *files))}"
    if not folder.exists():
        raise ModelError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise ModelError(f"{folder}: a file, not a model folder")
    if not (folder / CARD).is_file():
        raise ModelError(f"{folder}: empty ({holds})" if not any(folder.iterdir())
                         else f"{folder / CARD}: missing ({holds})")
    path = folder / CARD
    if path.stat().st_size > MAX_CARD_BYTES:
        raise ModelError(f"{path}: {path.stat().st_size:,} bytes, more than a model card may have ({MAX_CARD_BYTES:,})")
    card = read_json(path)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        found = card.get("format") if isinstance(card, dict) else None
        raise ModelError(f"{path}: not a liveimpro model card (format {found!r}, expected {CARD_FORMAT!r})")
    version = card.get("version")
    if isinstance(version, bool):
        version = repr(version)  # not a number, though Python would compare True == 1
    if version == 1:
        raise ModelError(f"{path}: an old model folder (version 1, a TorchScript model.pt, which liveimpro no "
                         f"longer loads: it can run code); export it again with this liveimpro")
    if isinstance(version, int) and version > CARD_VERSION:
        raise ModelError(f"{path}: written by a newer liveimpro (card version {version}; this one reads {CARD_VERSION})")
    if version != CARD_VERSION:
        raise ModelError(f"{path}: card version {version!r}, this liveimpro reads {CARD_VERSION}")
    if card.get("kind") != kind:
        raise ModelError(f"{path}: a {card.get('kind')!r} model, not a {kind!r} one")
    listed = card.get("files")
    if not isinstance(listed, dict) or sorted(listed) != sorted(files):
        raise ModelError(f"{path}: 'files' must list {', '.join(files)} and nothing else")
    for name in files:
        _check_file(folder / name, listed[name], path)
    return card


def _check_file(path: Path, entry, card_path: Path) -> None:
    if not (isinstance(entry, dict) and isinstance(entry.get("bytes"), int) and not isinstance(entry["bytes"], bool)
            and 0 <= entry["bytes"] <= MAX_FILE_BYTES and isinstance(entry.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])):
        raise ModelError(f"{card_path}: the entry of {path.name} needs 'bytes' (0..{MAX_FILE_BYTES}) and 'sha256' "
                         f"(64 hex digits)")
    if not path.is_file():
        raise ModelError(f"{path}: missing")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise ModelError(f"{path}: {'truncated' if size < entry['bytes'] else 'damaged'} ({size:,} bytes, "
                         f"card.json says {entry['bytes']:,})")
    if sha256_of(path) != entry["sha256"]:
        raise ModelError(f"{path}: damaged (SHA-256 does not match card.json)")


def read_config(card_path: Path, card: dict, config_class, limits: dict):
    """The card's model_config as a `config_class`: every field present, of its type and within `limits`
    ({name: (low, high)} for numbers, a tuple of choices for strings). (Counting the parameters on torch's
    meta device instead would import torch._dynamo: 3 s.)"""
    data = card.get("model_config")
    if not isinstance(data, dict):
        raise ModelError(f"{card_path}: model_config is missing or not an object")
    names = [f.name for f in fields(config_class)]
    unknown = [name for name in data if name not in names]
    if unknown:
        raise ModelError(f"{card_path}: model_config.{unknown[0]} is not a field this liveimpro knows")
    values = {}
    for f in fields(config_class):
        if f.name not in data:
            raise ModelError(f"{card_path}: model_config.{f.name} is missing")
        kind = f.type if isinstance(f.type, type) else _TYPES[f.type]
        values[f.name] = _field_value(card_path, f.name, data[f.name], kind, limits.get(f.name))
    return config_class(**values)


def _field_value(card_path: Path, name: str, value, kind: type, limit):
    numeric = kind in (int, float)
    ok = (isinstance(value, bool) if kind is bool else isinstance(value, str) if kind is str
          else isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool))
    if ok and numeric:
        ok = math.isfinite(value) and limit[0] <= value <= limit[1]
    elif ok and kind is str and limit is not None:
        ok = value in limit
    if not ok:
        wanted = (f"{'an int' if kind is int else 'a number'} in {limit[0]}..{limit[1]}" if numeric
                  else f"one of {', '.join(limit)}" if kind is str and limit else f"a {kind.__name__}")
        raise ModelError(f"{card_path}: model_config.{name} is {value!r}, expected {wanted}")
    return float(value) if kind is float else value


def read_weights(path: Path, network) -> None:
    """Fill the parameters of `network` from weights.pt, which must hold exactly those: the same names and
    shapes, float32, finite."""
    import torch

    expected = dict(network.named_parameters())
    _check_archive(path, len(expected))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses anything but tensors and plain containers
        refusal = next((line for line in str(error).splitlines() if "Unsupported" in line), None)
        detail = refusal.split("error: ")[-1].split(". ")[0] if refusal else first_line(error)
        raise ModelError(f"{path}: not plain weights ({detail.rstrip('.')})") from None
    if not (isinstance(loaded, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items())):
        raise ModelError(f"{path}: not plain weights (expected a dict of named tensors)")
    for name, parameter in expected.items():
        tensor = loaded.get(name)
        if tensor is None:
            raise ModelError(f"{path}: no tensor {name} (the network of card.json's model_config has one)")
        if tensor.shape != parameter.shape or tensor.dtype != torch.float32 or tensor.layout != torch.strided:
            raise ModelError(f"{path}: {name} is {tensor.dtype} {list(tensor.shape)}, the network of card.json's "
                             f"model_config needs float32 {list(parameter.shape)}")
        if not torch.isfinite(tensor).all():
            raise ModelError(f"{path}: {name} holds infinite or NaN values")
    extra = [name for name in loaded if name not in expected]
    if extra:
        raise ModelError(f"{path}: a tensor {extra[0]} that the network of card.json's model_config does not have")
    with torch.no_grad():
        for name, parameter in expected.items():
            parameter.copy_(loaded[name])


def _check_archive(path: Path, tensors: int) -> None:
    """weights.pt must be what torch.save writes of `tensors` tensors: a zip archive of stored (uncompressed)
    records, one per tensor and a few more, without TorchScript's code/ and constants.pkl. The record count
    and the pickle's size are capped, so that the unpickler cannot be made to build millions of objects."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelError(f"{path}: not a weights file written by torch.save ({first_line(error)})") from None
    if len(entries) > tensors + 16:
        raise ModelError(f"{path}: {len(entries):,} records, but the network has {tensors} tensors")
    for entry in entries:
        inner = entry.filename.partition("/")[2]
        if inner == "constants.pkl" or inner.startswith("code/"):
            raise ModelError(f"{path}: a TorchScript archive, not plain weights (liveimpro never loads TorchScript: "
                             f"loading it can run code)")
        if entry.compress_type != zipfile.ZIP_STORED:
            raise ModelError(f"{path}: compressed record {entry.filename} (torch.save stores records uncompressed)")
        if inner == "data.pkl" and entry.file_size > MAX_PICKLE_BYTES:
            raise ModelError(f"{path}: a {entry.file_size:,}-byte data.pkl, more than weights need "
                             f"({MAX_PICKLE_BYTES:,} at most)")


__all__ = ["save_folder", "read_card", "read_config", "read_weights", "read_json", "write_json", "CARD_FORMAT", "CARD_VERSION", "WEIGHTS"]
