"""The LSTM and its exported form: training forward == step by step == whole sequence, and model
folders that are missing, damaged or inconsistent give one-line ModelErrors naming the file.

The helpers here (synthetic melodies, a tiny exported model) are shared with test_runtime.py
and test_train.py."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from liveimpro.curve_tokens import CurveTokenizer
from liveimpro.errors import ModelError
from liveimpro.melody import melody_from_tuples
from liveimpro.model import CachedStepLSTM, ModelConfig, NextTokenLSTM, script_for_inference
from liveimpro.modelfolder import load_model_folder, save_model_folder, sha256_of
from liveimpro.note_tokens import NoteTokenizer
from liveimpro.tokenizer import BOS

MAJOR = [0, 2, 4, 5, 7, 9, 11, 12]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")  # the tests script modules too


def synthetic_melodies(count: int, seed: int = 0):
    """Scale-wise tunes of 8..39 notes in several keys, with a few rhythms."""
    rng = np.random.default_rng(seed)
    melodies = []
    for i in range(count):
        root, onset, rows = 60 + int(rng.integers(-5, 6)), 0.0, []
        for k in range(int(rng.integers(8, 40))):
            duration = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
            rows.append((root + MAJOR[(2 * k + i) % 8], onset, duration))
            onset += duration
        melodies.append(melody_from_tuples(rows, name=f"tune {i}"))
    return melodies


def tiny_model_folder(path, kind: str = "curve", seed: int = 0, special_bias: float = 0.0, **model_kw):
    """An untrained exported model over a tokenizer built from synthetic melodies; returns the path.
    `special_bias` is added to the head bias of PAD, BOS and EOS (to test that they are never proposed)."""
    tokenizer = {"curve": CurveTokenizer, "note": NoteTokenizer}[kind].build(synthetic_melodies(40))
    torch.manual_seed(seed)
    net = NextTokenLSTM(ModelConfig(vocab_size=len(tokenizer), **{"embed_dim": 16, "hidden": 24, **model_kw}))
    with torch.no_grad():
        net.head.bias[:3] += special_bias
    save_model_folder(path, script_for_inference(net), tokenizer, {"name": path.name})
    return path


@pytest.mark.parametrize("tie, embed_dim, layers", [(True, 24, 2), (True, 16, 2), (False, 16, 3), (True, 24, 1)])
def test_step_by_step_gives_the_training_logits(tie, embed_dim, layers):
    torch.manual_seed(1)
    net = NextTokenLSTM(ModelConfig(vocab_size=50, embed_dim=embed_dim, hidden=24, layers=layers,
                                    tie_weights=tie)).eval()
    tokens = torch.randint(0, 50, (30,))
    with torch.no_grad():
        expected = net(tokens[None])[0]
    for form in (CachedStepLSTM(net), script_for_inference(net)):
        with torch.no_grad():
            state, rows = form.init_state(), []
            for token in tokens.tolist():
                logits, state = form.step(token, state)
                rows.append(logits)
            torch.testing.assert_close(torch.stack(rows), expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(form.forward_sequence(tokens), expected, rtol=1e-5, atol=1e-5)


def test_dropout_is_off_in_the_exported_form():
    torch.manual_seed(2)
    net = NextTokenLSTM(ModelConfig(vocab_size=30, embed_dim=8, hidden=8, dropout=0.5))
    net.train()  # script_for_inference must switch to eval itself
    scripted = script_for_inference(net)
    tokens = torch.tensor([BOS, 5, 6, 7])
    with torch.no_grad():
        torch.testing.assert_close(scripted.forward_sequence(tokens), scripted.forward_sequence(tokens))
        torch.testing.assert_close(scripted.forward_sequence(tokens), net.eval()(tokens[None])[0])


def test_export_then_load_steps_like_the_eager_model(tmp_path):
    tokenizer = CurveTokenizer.build(synthetic_melodies(30))
    torch.manual_seed(3)
    net = NextTokenLSTM(ModelConfig(vocab_size=len(tokenizer), embed_dim=16, hidden=16)).eval()
    card = save_model_folder(tmp_path / "m", script_for_inference(net), tokenizer, {"name": "m"})
    assert card["vocab_size"] == len(tokenizer) and card["tokenizer"] == "curve"
    assert card["model_file_bytes"] == (tmp_path / "m" / "model.pt").stat().st_size
    folder = load_model_folder(tmp_path / "m")
    assert folder.tokenizer.to_json() == tokenizer.to_json()
    tokens = [BOS] + tokenizer.encode(synthetic_melodies(1, seed=9)[0])[1:-1]
    with torch.no_grad():
        expected = net(torch.tensor([tokens]))[0]
        state = folder.module.init_state()
        for position, token in enumerate(tokens):
            logits, state = folder.module.step(token, state)
            torch.testing.assert_close(logits, expected[position], rtol=1e-5, atol=1e-5)


@pytest.fixture
def folder(tmp_path):
    return tiny_model_folder(tmp_path / "model")


def assert_model_error(path, *words):
    with pytest.raises(ModelError) as caught:
        load_model_folder(path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("name", ["model.pt", "vocab.json", "card.json"])
def test_a_missing_file_is_named(folder, name):
    (folder / name).unlink()
    assert_model_error(folder, name, "missing")


def test_a_missing_folder(tmp_path):
    assert_model_error(tmp_path / "nowhere", "nowhere", "no such model folder")


def damage_file(path, damage: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"this is not a model\n" * 50, "empty": b"",
                      "zeroed tail": data[:-40] + bytes(40),
                      "zeroed weights": data[: len(data) // 2] + bytes(2000) + data[len(data) // 2 + 2000:]}[damage])


def rehash_card(folder) -> None:
    """Make card.json agree with model.pt again, so that torch itself has to read the damage."""
    card = json.loads((folder / "card.json").read_text())
    card["model_sha256"] = sha256_of(folder / "model.pt")
    (folder / "card.json").write_text(json.dumps(card))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "zeroed tail", "zeroed weights"])
def test_a_damaged_model_file_is_caught_by_its_checksum(folder, damage):
    damage_file(folder / "model.pt", damage)
    assert_model_error(folder, "model.pt", "damaged", "SHA-256")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "zeroed tail"])
def test_torch_reading_a_damaged_model_file_becomes_one_line(folder, damage):
    damage_file(folder / "model.pt", damage)
    rehash_card(folder)
    message = assert_model_error(folder, "model.pt", "damaged or not a TorchScript model")
    assert len(message) < 300


def test_a_script_module_that_is_not_a_step_model(folder):
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 3)), str(folder / "model.pt"))
    rehash_card(folder)
    assert_model_error(folder, "model.pt", "not a liveimpro step model", "init_state")


def test_a_vocabulary_of_another_size_than_the_card(folder, tmp_path):
    other = CurveTokenizer.build(synthetic_melodies(3, seed=5))
    other.save(folder / "vocab.json")
    assert_model_error(folder, "vocab.json", f"{len(other)} tokens", "card.json says")


def test_a_model_of_another_size_than_its_vocabulary(folder, tmp_path):
    tokenizer = load_model_folder(folder).tokenizer
    net = NextTokenLSTM(ModelConfig(vocab_size=len(tokenizer) + 7, embed_dim=8, hidden=8))
    torch.jit.save(script_for_inference(net), str(folder / "model.pt"))
    rehash_card(folder)
    assert_model_error(folder, "model.pt", f"({len(tokenizer) + 7},)", f"{len(tokenizer)} tokens")


def test_a_vocabulary_of_another_kind_than_the_card(folder):
    card = json.loads((folder / "card.json").read_text())
    card["tokenizer"] = "note"
    (folder / "card.json").write_text(json.dumps(card))
    assert_model_error(folder, "vocab.json", "a curve tokenizer", "card.json says note")


@pytest.mark.parametrize("text, words", [
    ("{not json", ("card.json", "not a JSON file")),
    ('{"format": "something else"}', ("card.json", "not a liveimpro model card")),
    ('{"format": "liveimpro-model", "version": 99}', ("card.json", "version 99")),
    ('{"format": "liveimpro-model", "version": 1, "tokenizer": "curve"}', ("card.json", "vocab_size")),
    ('{"format": "liveimpro-model", "version": 1, "tokenizer": "curve", "vocab_size": 3}', ("card.json", "model_sha256")),
])
def test_a_wrong_card(folder, text, words):
    (folder / "card.json").write_text(text)
    assert_model_error(folder, *words)


def test_a_damaged_vocabulary(folder):
    (folder / "vocab.json").write_text('{"kind": "curve", "vocab": 3')
    assert_model_error(folder, "vocab.json")


def test_note_and_curve_folders_both_load(tmp_path):
    for kind in ("curve", "note"):
        loaded = load_model_folder(tiny_model_folder(tmp_path / kind, kind))
        assert loaded.tokenizer.kind == loaded.card["tokenizer"] == kind


def test_saving_over_a_folder_replaces_it(folder):
    shutil.copytree(folder, folder.parent / "copy")
    tiny_model_folder(folder.parent / "copy", seed=5)
    a, b = load_model_folder(folder), load_model_folder(folder.parent / "copy")
    with torch.no_grad():
        assert not torch.equal(a.module.step(BOS, a.module.init_state())[0], b.module.step(BOS, b.module.init_state())[0])
    assert not list(folder.parent.joinpath("copy").glob("*.tmp"))
