"""A model folder: the exported network, its vocabulary and its card, written and read together.

    model.pt    TorchScript (frozen) with init_state(), step(token, state), forward_sequence(tokens)
    vocab.json  the tokenizer's JSON (liveimpro.tokenizer.load_tokenizer reads it)
    card.json   what the model is: tokenizer kind, vocabulary size, SHA-256 of model.pt, training data,
                validation loss, config

Reading never unpickles anything: TorchScript and JSON only. Every way a folder can be
wrong (a missing file, a damaged model.pt, a vocabulary of another size or kind than the
model and card say) is a one-line `ModelError` naming the file and the reason. model.pt is
checked against the card's SHA-256 before torch reads it: TorchScript's zip reader does not
check the records' CRCs, so damage inside the weights would otherwise load silently.

TorchScript is deprecated in recent torch releases but is still the one format that holds
the network with its step method, runs without Python model code and loads without pickle;
its deprecation warnings are silenced where this module and liveimpro.model use it.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .tokenizer import BOS, Tokenizer, load_tokenizer

CARD_FORMAT = "liveimpro-model"
CARD_VERSION = 1
FILES = ("model.pt", "vocab.json", "card.json")
STEP_METHODS = ("init_state", "step", "forward_sequence")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    module: "torch.jit.ScriptModule"  # noqa: F821 (torch is imported when a folder is read)
    tokenizer: Tokenizer
    card: dict


@contextmanager
def quiet_torchscript():
    """Silence torch's "`torch.jit.X` is deprecated" warnings (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def _first_line(error: Exception) -> str:
    """The first sentence of an error: torch's messages go on for lines of advice."""
    text = str(error).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(error).__name__


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_write(path: Path, write) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)  # a crash while writing never leaves half a file under the real name


def save_model_folder(folder, module, tokenizer: Tokenizer, card: dict) -> dict:
    """Write model.pt, vocab.json and card.json (card completed with format and file size); returns the card."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_torchscript():
        _atomic_write(folder / "model.pt", lambda p: torch.jit.save(module, str(p)))
    tokenizer.save(folder / "vocab.json")
    card = {"format": CARD_FORMAT, "version": CARD_VERSION, **card,
            "tokenizer": tokenizer.kind, "vocab_size": len(tokenizer),
            "model_file_bytes": (folder / "model.pt").stat().st_size, "model_sha256": sha256_of(folder / "model.pt")}
    write_json(folder / "card.json", card)
    return card


def read_json(path: Path):
    """A JSON file of a model folder; ModelError naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not a JSON file ({error})") from None


def write_json(path: Path, data) -> None:
    """Atomically, indented: the folder's JSON files are meant to be read by people too."""
    _atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8"))


def _read_card(path: Path) -> dict:
    card = read_json(path)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        found = card.get("format") if isinstance(card, dict) else None
        raise ModelError(f"{path}: not a liveimpro model card (format {found!r}, expected {CARD_FORMAT!r})")
    if card.get("version") != CARD_VERSION:
        raise ModelError(f"{path}: model card version {card.get('version')!r}, this liveimpro reads {CARD_VERSION}")
    for key, kind in (("tokenizer", str), ("vocab_size", int), ("model_sha256", str)):
        if not isinstance(card.get(key), kind):
            raise ModelError(f"{path}: {key} is missing or not a {kind.__name__}")
    return card


def _read_module(path: Path, sha256: str, methods: tuple[str, ...] = STEP_METHODS):
    """The TorchScript module in `path`, checked against the card's SHA-256 and for the `methods` it must have."""
    import torch

    if sha256_of(path) != sha256:
        raise ModelError(f"{path}: damaged or replaced (its SHA-256 differs from the one in card.json)")
    try:
        with quiet_torchscript():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # torch reports a damaged archive as RuntimeError, ValueError or worse
        raise ModelError(f"{path}: damaged or not a TorchScript model ({_first_line(error)})") from None
    missing = [name for name in methods if not hasattr(module, name)]
    if missing:
        raise ModelError(f"{path}: not a liveimpro step model (no {', '.join(missing)} method)")
    return module


def load_model_folder(folder) -> ModelFolder:
    """Read and cross-check a model folder; ModelError (one line, naming the file) if anything is wrong."""
    import torch

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    for name in FILES:
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing (a model folder holds {', '.join(FILES)})")
    card = _read_card(folder / "card.json")
    tokenizer = load_tokenizer(folder / "vocab.json")
    if tokenizer.kind != card["tokenizer"]:
        raise ModelError(f"{folder / 'vocab.json'}: a {tokenizer.kind} tokenizer, but card.json says "
                         f"{card['tokenizer']}")
    if len(tokenizer) != card["vocab_size"]:
        raise ModelError(f"{folder / 'vocab.json'}: {len(tokenizer)} tokens, but card.json says {card['vocab_size']}")
    module = _read_module(folder / "model.pt", card["model_sha256"])
    try:
        with torch.inference_mode():
            logits, _ = module.step(BOS, module.init_state())
    except Exception as error:  # a script module with the right names but the wrong signature
        raise ModelError(f"{folder / 'model.pt'}: cannot take a step ({_first_line(error)})") from None
    if tuple(logits.shape) != (len(tokenizer),):
        raise ModelError(f"{folder / 'model.pt'}: predicts {tuple(logits.shape)} scores, but vocab.json has "
                         f"{len(tokenizer)} tokens")
    return ModelFolder(folder, module, tokenizer, card)


__all__ = ["ModelFolder", "load_model_folder", "save_model_folder", "CARD_FORMAT", "CARD_VERSION", "FILES"]
