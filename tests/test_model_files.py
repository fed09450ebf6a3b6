"""Model folders that are missing, damaged, mismatched or hostile: each is refused with one ModelError line
naming the file and the reason, and loading a hostile folder runs none of its code.

The hostile files are live: each test first shows that the usual way of reading the file (pickle, or
torch.jit.load, which the version 1 loader used) does create the marker file, then that liveimpro's
loader refuses the file and the marker stays absent."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from test_model import tiny_model_folder
from test_vae import tiny_vae

from liveimpro.errors import ModelError
from liveimpro.files import sha256_of
from liveimpro.lstm.folder import load_model_folder
from liveimpro.lstm.improviser import Improviser
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import write_midi
from liveimpro.vae.folder import save_vae_folder
from liveimpro.vae.melody_vae import MelodyVAE

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """(LSTM folder, VAE folder), built once; tests damage copies."""
    root = tmp_path_factory.mktemp("pristine")
    save_vae_folder(root / "vae", tiny_vae(seed=1), {"name": "tiny"})
    return tiny_model_folder(root / "lstm"), root / "vae"


@pytest.fixture
def lstm(pristine, tmp_path):
    return Path(shutil.copytree(pristine[0], tmp_path / "lstm"))


@pytest.fixture
def vae(pristine, tmp_path):
    return Path(shutil.copytree(pristine[1], tmp_path / "vae"))


def refused(load, folder, path, *words) -> str:
    """The one-line ModelError that `load(folder)` raises; it names `path` and says each of `words`."""
    with pytest.raises(ModelError) as caught:
        load(folder)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and len(message) < 300, message
    assert message.startswith(f"{path}:"), message
    for word in words:
        assert word in message, message
    return message


def edit_card(folder: Path, change) -> None:
    card = json.loads((folder / "card.json").read_text())
    change(card)
    (folder / "card.json").write_text(json.dumps(card))


def rehash(folder: Path, name: str) -> None:
    """Make card.json describe the file as it now is, as whoever wrote a hostile folder would."""
    def change(card):
        card["files"][name] = {"bytes": (folder / name).stat().st_size, "sha256": sha256_of(folder / name)}
    edit_card(folder, change)


def replace_weights(folder: Path, change) -> None:
    weights = torch.load(folder / "weights.pt", weights_only=True)
    change(weights)
    torch.save(weights, folder / "weights.pt")
    rehash(folder, "weights.pt")


# -- the folder itself -----------------------------------------------------------------------------------

def test_no_folder_a_file_and_an_empty_folder(tmp_path):
    refused(load_model_folder, tmp_path / "nowhere", tmp_path / "nowhere", "no such model folder")
    (tmp_path / "file").write_text("x")
    refused(load_model_folder, tmp_path / "file", tmp_path / "file", "a file, not a model folder")
    (tmp_path / "empty").mkdir()
    refused(MelodyVAE.load, tmp_path / "empty", tmp_path / "empty", "empty", "card.json, weights.pt, "
                                                                              "representation.json")


@pytest.mark.parametrize("name", ["card.json", "weights.pt", "vocab.json"])
def test_a_missing_file(lstm, name):
    (lstm / name).unlink()
    refused(load_model_folder, lstm, lstm / name, "missing")


def test_a_folder_given_to_the_wrong_loader(lstm, vae):
    refused(load_model_folder, vae, vae / "card.json", "'melody-vae' model, not a 'next-note-lstm'")
    refused(MelodyVAE.load, lstm, lstm / "card.json", "'next-note-lstm' model, not a 'melody-vae'")


# -- damage: the card's sizes and SHA-256 --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["weights.pt", "vocab.json"])
def test_truncated_extended_and_damaged_files(lstm, name):
    data = (lstm / name).read_bytes()
    (lstm / name).write_bytes(data[:len(data) // 2])
    refused(load_model_folder, lstm, lstm / name, "truncated", f"{len(data) // 2:,} bytes", f"says {len(data):,}")
    (lstm / name).write_bytes(data + b"\0")
    refused(load_model_folder, lstm, lstm / name, "damaged", f"{len(data) + 1:,} bytes")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x20
    (lstm / name).write_bytes(bytes(flipped))
    refused(load_model_folder, lstm, lstm / name, "damaged (SHA-256 does not match card.json)")


def test_damaged_vae_files(vae):
    for name in ("weights.pt", "representation.json"):
        original = (vae / name).read_bytes()
        (vae / name).write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        refused(MelodyVAE.load, vae, vae / name, "damaged (SHA-256")
        (vae / name).write_bytes(original)
    MelodyVAE.load(vae)


# -- the card ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("{not json", ["not a JSON file"]),
    ("[1, 2]", ["not a liveimpro model card"]),
    ("[" * 100_000, ["not a JSON file"]),
    ('{"format": "something else"}', ["not a liveimpro model card", "'something else'"]),
    ('{"format": "liveimpro-model", "version": 3}', ["written by a newer liveimpro", "version 3"]),
    ('{"format": "liveimpro-model", "version": "2"}', ["card version '2'"]),
    ('{"format": "liveimpro-model", "version": true}', ["card version 'True'"]),
    ('{"format": "liveimpro-model", "version": 2}', ["a None model"]),
    ('{"format": "liveimpro-model", "version": 2, "kind": "next-note-lstm"}', ["'files' must list"]),
    ('{"format": "liveimpro-model", "version": 2, "kind": "next-note-lstm", "files": {"weights.pt": {}, '
     '"vocab.json": {}}}', ["the entry of weights.pt needs 'bytes'"]),
])
def test_a_wrong_card(lstm, text, words):
    (lstm / "card.json").write_text(text)
    refused(load_model_folder, lstm, lstm / "card.json", *words)


def test_sizes_are_capped_before_anything_is_read(lstm):
    edit_card(lstm, lambda card: card["files"]["weights.pt"].update(bytes=10**12))
    refused(load_model_folder, lstm, lstm / "card.json", "the entry of weights.pt needs 'bytes' (0..")
    with open(lstm / "card.json", "r+b") as card:
        card.truncate(5 * 2**20)  # sparse: no disk space taken
    refused(load_model_folder, lstm, lstm / "card.json", "5,242,880 bytes, more than a model card may have")


@pytest.mark.parametrize("field, value, words", [
    ("hidden", 10**9, ["model_config.hidden is 1000000000, expected an int in 1..1024"]),
    ("hidden", "24", ["model_config.hidden is '24', expected an int"]),
    ("hidden", True, ["model_config.hidden is True"]),
    ("hidden", 24.0, ["model_config.hidden is 24.0, expected an int"]),
    ("layers", 0, ["model_config.layers is 0, expected an int in 1..4"]),
    ("vocab_size", -5, ["vocab_size is -5"]),
    ("dropout", float("nan"), ["model_config.dropout is nan, expected a number in 0.0..1.0"]),
    ("tie_weights", 1, ["model_config.tie_weights is 1, expected a bool"]),
    ("bogus", 1, ["model_config.bogus is not a field this liveimpro knows"]),
    ("embed_dim", None, ["model_config.embed_dim is missing"]),
])
def test_an_out_of_range_or_malformed_model_config(lstm, field, value, words):
    def change(card):
        if value is None:
            del card["model_config"][field]
        else:
            card["model_config"][field] = value
    edit_card(lstm, change)
    refused(load_model_folder, lstm, lstm / "card.json", *words)


def test_vae_config_limits(vae):
    edit_card(vae, lambda card: card["model_config"].update(decoder="transformer"))
    refused(MelodyVAE.load, vae, vae / "card.json", "model_config.decoder is 'transformer', expected one of "
                                                   "hierarchical, flat")
    edit_card(vae, lambda card: card["model_config"].update(decoder="flat", latent=100_000))
    refused(MelodyVAE.load, vae, vae / "card.json", "model_config.latent is 100000, expected an int in 1..512")


# -- parts that disagree -------------------------------------------------------------------------------------

def test_a_vocabulary_of_another_size_or_kind(lstm):
    size = json.loads((lstm / "card.json").read_text())["model_config"]["vocab_size"]
    edit_card(lstm, lambda card: card["model_config"].update(vocab_size=size + 7))
    refused(load_model_folder, lstm, lstm / "vocab.json", f"{size} tokens", f"vocab_size {size + 7}")
    edit_card(lstm, lambda card: card.update(tokenizer="note", model_config={**card["model_config"], "vocab_size": size}))
    refused(load_model_folder, lstm, lstm / "vocab.json", "a curve tokenizer, but card.json says note")
    (lstm / "vocab.json").write_text('{"kind": "curve", "vocab": 3}')
    rehash(lstm, "vocab.json")
    refused(load_model_folder, lstm, lstm / "vocab.json")


def test_a_config_that_does_not_fit_the_weights(lstm):
    edit_card(lstm, lambda card: card["model_config"].update(hidden=16))
    refused(load_model_folder, lstm, lstm / "weights.pt", "lstm.weight_ih_l0 is torch.float32 [96, 16]",
            "needs float32 [64, 16]")


@pytest.mark.parametrize("change, words", [
    (lambda w: w.pop("lstm.weight_hh_l1"), ["no tensor lstm.weight_hh_l1"]),
    (lambda w: w.update(extra=torch.zeros(3)), ["a tensor extra that the network", "does not have"]),
    (lambda w: w.update({"head.bias": w["head.bias"][:-1]}), ["head.bias is torch.float32 ["]),
    (lambda w: w.update({"head.bias": w["head.bias"].double()}), ["head.bias is torch.float64", "needs float32"]),
    (lambda w: w["lstm.bias_hh_l0"].__setitem__(3, float("nan")), ["lstm.bias_hh_l0 holds infinite or NaN values"]),
    (lambda w: w["embed.weight"].__setitem__((0, 0), float("inf")), ["embed.weight holds infinite or NaN"]),
])
def test_weights_that_do_not_fit_the_network(lstm, change, words):
    replace_weights(lstm, change)
    refused(load_model_folder, lstm, lstm / "weights.pt", *words)


def test_weights_that_are_not_a_dict_of_tensors(lstm):
    for content in ([torch.zeros(3)], {"embed.weight": [1.0, 2.0]}, {1: torch.zeros(3)}):
        torch.save(content, lstm / "weights.pt")
        rehash(lstm, "weights.pt")
        refused(load_model_folder, lstm, lstm / "weights.pt", "not plain weights (expected a dict of named tensors)")


def test_weights_that_are_not_a_torch_save_archive(lstm):
    for content in (b"", b"this is not a model\n" * 50, (lstm / "weights.pt").read_bytes()[:-200]):
        (lstm / "weights.pt").write_bytes(content)
        rehash(lstm, "weights.pt")
        refused(load_model_folder, lstm, lstm / "weights.pt", "not a weights file written by torch.save")


def test_compressed_weights_are_refused(lstm):
    """A deflated record could inflate to far more than the file (torch itself would read it)."""
    original = zipfile.ZipFile(lstm / "weights.pt")
    with zipfile.ZipFile(lstm / "deflated.pt", "w", zipfile.ZIP_DEFLATED) as out:
        for entry in original.infolist():
            out.writestr(entry.filename, original.read(entry.filename))
    assert set(torch.load(lstm / "deflated.pt", weights_only=True)) == set(torch.load(lstm / "weights.pt",
                                                                                       weights_only=True))
    (lstm / "deflated.pt").replace(lstm / "weights.pt")
    rehash(lstm, "weights.pt")
    refused(load_model_folder, lstm, lstm / "weights.pt", "compressed record")


def test_vae_weights_and_representation_checked_against_the_config(vae):
    edit_card(vae, lambda card: card["model_config"].update(dec_hidden=8))
    refused(MelodyVAE.load, vae, vae / "weights.pt", "dec_init.weight is torch.float32 [32,", "needs float32 [16,")
    edit_card(vae, lambda card: card["model_config"].update(dec_hidden=16, classes=60))
    refused(MelodyVAE.load, vae, vae / "representation.json", "54 step classes", "has classes 60")
    representation = json.loads((vae / "representation.json").read_text())
    (vae / "representation.json").write_text(json.dumps({**representation, "min_pitch": 30}))
    rehash(vae, "representation.json")
    edit_card(vae, lambda card: card["model_config"].update(classes=54))
    refused(MelodyVAE.load, vae, vae / "representation.json", "another step representation (min_pitch")


# -- hostile folders: no code runs -------------------------------------------------------------------------

class Touch:
    """Unpickled, this creates `marker`: what a malicious pickle would do with any function it names."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


class HostileScript(torch.nn.Module):
    """As torch.jit.load restores it, TorchScript runs __setstate__, which calls a torch op that creates
    (or truncates) any file it is given."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return self.marker, self.training

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.marker = state[0]
        created = torch.from_file(self.marker, True, 1).numel()
        self.training = state[1] and created >= 0


def hostile_script(path: Path, marker: Path) -> None:
    torch.jit.save(torch.jit.script(HostileScript(str(marker))), str(path))


def hostile_pickle(path: Path, marker: Path, weights_from: Path) -> None:
    weights = torch.load(weights_from, weights_only=True)
    torch.save({**weights, "embed.weight": Touch(marker)}, path)


# a hostile weights.pt: how to write one, what plain loading does with it (and so what it does run),
# the words of liveimpro's refusal
HOSTILE_WEIGHTS = {
    "pickle": (lambda path, marker, lstm: hostile_pickle(path, marker, lstm / "weights.pt"),
               lambda path: torch.load(path, weights_only=False), ("not plain weights", "Unsupported global")),
    "torchscript": (lambda path, marker, lstm: hostile_script(path, marker),
                    lambda path: torch.jit.load(str(path)),  # what the version 1 loader did with model.pt
                    ("a TorchScript archive", "can run code")),
}


@pytest.mark.parametrize("kind", list(HOSTILE_WEIGHTS))
def test_weights_that_would_run_code_are_refused_unrun(lstm, tmp_path, kind):
    write, plain_load, words = HOSTILE_WEIGHTS[kind]
    marker = tmp_path / f"{kind}-ran"
    write(tmp_path / "hostile.pt", marker, lstm)
    plain_load(tmp_path / "hostile.pt")
    assert marker.exists()  # the file really runs code when loaded the plain way
    marker.unlink()
    shutil.copy(tmp_path / "hostile.pt", lstm / "weights.pt")
    rehash(lstm, "weights.pt")
    refused(load_model_folder, lstm, lstm / "weights.pt", *words)
    assert not marker.exists()


def test_an_old_folder_with_a_hostile_model_pt_is_refused(lstm, tmp_path):
    """A version 1 folder, its card agreeing with a hostile model.pt: the version 1 loader would have run it."""
    marker = tmp_path / "torchscript-ran"
    hostile_script(lstm / "model.pt", marker)
    edit_card(lstm, lambda card: card.update(version=1, model_sha256=sha256_of(lstm / "model.pt")))
    refused(load_model_folder, lstm, lstm / "card.json", "an old model folder", "TorchScript", "export it again")
    assert not marker.exists()


def test_files_the_card_does_not_list_are_never_opened(lstm, vae, tmp_path):
    marker = tmp_path / "torchscript-ran"
    for folder in (lstm, vae):
        hostile_script(folder / "model.pt", marker)
    imp = Improviser.load(lstm, rng=np.random.default_rng(0))
    imp.commit(imp.propose())
    MelodyVAE.load(vae).sample(1, np.random.default_rng(0), bars=1)
    assert not marker.exists()


def test_saving_over_an_old_folder_removes_its_model_pt(lstm):
    (lstm / "model.pt").write_bytes(b"TorchScript of an earlier export")
    tiny_model_folder(lstm)
    assert sorted(p.name for p in lstm.iterdir()) == ["card.json", "vocab.json", "weights.pt"]


# -- the shipped folders, and the command line ---------------------------------------------------------------

def test_the_shipped_folders_are_data_only_and_load():
    for name in ("curve-lstm", "note-lstm"):
        assert sorted(p.name for p in (REPO / "models" / name).iterdir()) == ["card.json", "vocab.json", "weights.pt"]
        load_model_folder(REPO / "models" / name)
    assert sorted(p.name for p in (REPO / "models" / "melody-vae").iterdir()) == ["card.json", "representation.json",
                                                                                  "weights.pt"]


@pytest.mark.parametrize("problem", ["truncated", "the VAE folder"])
def test_the_command_line_says_one_line(lstm, tmp_path, problem):
    if problem == "truncated":
        data = (lstm / "weights.pt").read_bytes()
        (lstm / "weights.pt").write_bytes(data[:1000])
        model, expected = lstm, f"{lstm / 'weights.pt'}: truncated (1,000 bytes, card.json says {len(data):,})"
    else:
        model = REPO / "models" / "melody-vae"
        expected = f"{model / 'card.json'}: a 'melody-vae' model, not a 'next-note-lstm' one"
    write_midi(tmp_path / "call.mid", melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 2)]))
    done = subprocess.run([sys.executable, "-m", "liveimpro", "respond", "--model", str(model),
                           str(tmp_path / "call.mid"), "-o", str(tmp_path / "answer.mid")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 1
    assert done.stderr == f"liveimpro respond: error: {expected}\n"
    assert not (tmp_path / "answer.mid").exists()
