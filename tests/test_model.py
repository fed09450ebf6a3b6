"""The LSTM and its step form: training forward == step by step == whole sequence, in the model folder
and in the standalone TorchScript file. (Damaged, wrong and hostile folders: test_model_files.py.)

The helpers here (synthetic melodies, a tiny exported model) are shared with test_runtime.py,
test_train.py and test_model_files.py."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from liveimpro.lstm.folder import load_model_folder, save_model_folder
from liveimpro.lstm.network import (
    CachedStepLSTM,
    ModelConfig,
    NextTokenLSTM,
    script_for_inference,
    standalone_torchscript,
)
from liveimpro.melody import melody_from_tuples
from liveimpro.tokens.base import BOS
from liveimpro.tokens.curve import CurveTokenizer
from liveimpro.tokens.note import NoteTokenizer

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
    save_model_folder(path, net, tokenizer, {"name": path.name})
    return path


@pytest.mark.parametrize("tie, embed_dim, layers", [(True, 24, 2), (True, 16, 2), (False, 16, 3), (True, 24, 1)])
def test_step_by_step_gives_the_training_logits(tie, embed_dim, layers):
    torch.manual_seed(1)
    net = NextTokenLSTM(ModelConfig(vocab_size=50, embed_dim=embed_dim, hidden=24, layers=layers,
                                    tie_weights=tie)).eval()
    tokens = torch.randint(0, 50, (30,))
    with torch.no_grad():
        expected = net(tokens[None])[0]
    for form in (CachedStepLSTM(net), script_for_inference(net), standalone_torchscript(net)):
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
    card = save_model_folder(tmp_path / "m", net, tokenizer, {"name": "m"})
    assert card["model_config"]["vocab_size"] == len(tokenizer) and card["tokenizer"] == "curve"
    assert card["files"]["weights.pt"]["bytes"] == (tmp_path / "m" / "weights.pt").stat().st_size
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["card.json", "vocab.json", "weights.pt"]
    stored = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert "head.weight" not in stored and sum(t.numel() for t in stored.values()) == net.num_parameters()  # tied: once
    folder = load_model_folder(tmp_path / "m")
    assert folder.tokenizer.to_json() == tokenizer.to_json()
    tokens = [BOS] + tokenizer.encode(synthetic_melodies(1, seed=9)[0])[1:-1]
    with torch.no_grad():
        expected = net(torch.tensor([tokens]))[0]
        state = folder.module.init_state()
        for position, token in enumerate(tokens):
            logits, state = folder.module.step(token, state)
            torch.testing.assert_close(logits, expected[position], rtol=1e-5, atol=1e-5)


def test_note_and_curve_folders_both_load(tmp_path):
    for kind in ("curve", "note"):
        loaded = load_model_folder(tiny_model_folder(tmp_path / kind, kind))
        assert loaded.tokenizer.kind == loaded.card["tokenizer"] == kind


def test_saving_over_a_folder_replaces_it(tmp_path):
    folder = tiny_model_folder(tmp_path / "model")
    shutil.copytree(folder, folder.parent / "copy")
    tiny_model_folder(folder.parent / "copy", seed=5)
    a, b = load_model_folder(folder), load_model_folder(folder.parent / "copy")
    with torch.no_grad():
        assert not torch.equal(a.module.step(BOS, a.module.init_state())[0], b.module.step(BOS, b.module.init_state())[0])
    assert not list(folder.parent.joinpath("copy").glob("*.tmp"))
