"""The int8 step (liveimpro.lstm.quantized) against float32: its logits stay close on real token sequences of
the shipped models, it is deterministic, it is what Improviser.load runs by default, and loading
still refuses what it refused before.

Tolerances, stepping hand-typed tunes and tunes the model samples (measured: max |logit difference|
~0.08 to 0.2, mean KL ~2e-4 bits a step, max probability difference ~0.014): max |logit difference|
<= 0.25, mean KL divergence <= 1e-3 bits a step, max probability difference <= 0.03, the same most
likely token at >= 95% of the steps. Bits per note on the validation split: scripts/bench_step.py --bits."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_model import tiny_model_folder

from liveimpro.errors import ModelError
from liveimpro.lstm import improviser as improviser_module
from liveimpro.lstm.folder import load_model_folder
from liveimpro.lstm.improviser import DEFAULT_PRECISION, Improviser, resolve_precision
from liveimpro.lstm.network import CachedStepLSTM, ModelConfig, NextTokenLSTM
from liveimpro.lstm.quantized import (
    ALIGN,
    Int8StepLSTM,
    int8_kernel_available,
    int8_rows,
    script_int8,
)
from liveimpro.melody import melody_from_tuples
from liveimpro.tokens.base import BOS
from liveimpro.tokens.event import Event

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ["curve-lstm", "note-lstm"]
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning"),
              pytest.mark.skipif(not int8_kernel_available(), reason="this torch has no weight-only int8 kernel")]

# Tunes typed in by hand (traditional, public domain): real melodies, none from a held-out corpus.
TUNES = {
    "Ode to Joy": [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1), (60, 1), (60, 1),
                   (62, 1), (64, 1), (64, 1.5), (62, 0.5), (62, 2)],
    "Frere Jacques": ([(60, 1), (62, 1), (64, 1), (60, 1)] * 2 + [(64, 1), (65, 1), (67, 2)] * 2
                      + [(67, 0.5), (69, 0.5), (67, 0.5), (65, 0.5), (64, 1), (60, 1)] * 2
                      + [(60, 1), (55, 1), (60, 2)] * 2),
    "Twinkle": [(62, 1), (62, 1), (69, 1), (69, 1), (71, 1), (71, 1), (69, 2), (67, 1), (67, 1), (66, 1), (66, 1),
                (64, 1), (64, 1), (62, 2)],
    "Greensleeves": [(69, 1), (72, 2), (74, 1), (76, 1.5), (77, 0.5), (76, 1), (74, 2), (71, 1), (67, 1.5), (69, 0.5),
                     (71, 1), (72, 2), (69, 1), (69, 1.5), (68, 0.5), (69, 1), (71, 2), (68, 1), (64, 2)],
}


def tune_tokens(tokenizer) -> list[list[int]]:
    out = []
    for name, rows in TUNES.items():
        onset, notes = 0.0, []
        for pitch, length in rows:
            notes.append((pitch, onset, length))
            onset += length
        out.append(tokenizer.encode(melody_from_tuples(notes, name=name))[:-1])  # BOS, notes (EOS is never fed)
    return out


def sampled_tokens(imp: Improviser, count: int, seed: int) -> list[list[int]]:
    """Tunes the float32 model samples itself: its own kind of sequence, 40 notes each."""
    rng, tunes = np.random.default_rng(seed), []
    for _ in range(count):
        imp.reset()
        ids = [BOS]
        for _ in range(40):
            event = imp.propose(temperature=1.0, rng=rng)
            ids.append(imp.tokenizer.event_token(imp.previous, event))
            imp.commit(event)
        tunes.append(ids)
    return tunes


def stepped(module, tokens) -> torch.Tensor:
    with torch.inference_mode():
        state, rows = module.init_state(), []
        for token in tokens:
            logits, state = module.step(int(token), state)
            rows.append(logits)
        return torch.stack(rows).double()


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request):
    """(float32 Improviser, int8 Improviser) of a shipped model."""
    folder = REPO / "models" / request.param
    return Improviser.load(folder, precision="float32"), Improviser.load(folder, precision="int8")


def test_int8_logits_agree_with_float32_on_real_tunes(shipped):
    f32, int8 = shipped
    tunes = tune_tokens(f32.tokenizer) + sampled_tokens(f32, 4, seed=0)
    worst, kl, same, steps = 0.0, 0.0, 0, 0
    for tokens in tunes:
        a, b = stepped(f32.module, tokens), stepped(int8.module, tokens)
        worst = max(worst, float((a - b).abs().max()))
        la, lb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
        assert float((la.exp() - lb.exp()).abs().max()) <= 0.03
        kl += float((la.exp() * (la - lb)).sum()) / np.log(2)
        same += int((a.argmax(-1) == b.argmax(-1)).sum())
        steps += len(tokens)
    assert worst <= 0.25, worst
    assert kl / steps <= 1e-3, kl / steps
    assert same / steps >= 0.95, same / steps


def test_the_float32_step_is_the_folders_own(shipped):
    f32, _ = shipped
    assert f32.module is f32.folder.module


def test_int8_is_deterministic_and_its_sequence_scoring_is_its_step(shipped):
    _, int8 = shipped
    tokens = tune_tokens(int8.tokenizer)[0]
    again = script_int8(load_model_folder(int8.folder.path).module)
    with torch.inference_mode():
        whole = int8.module.forward_sequence(torch.tensor(tokens)).double()
    assert torch.equal(stepped(int8.module, tokens), stepped(again, tokens))
    assert torch.equal(stepped(int8.module, tokens), whole)


def test_advance_then_logits_is_step(shipped):
    for imp in shipped:
        with torch.inference_mode():
            state = imp.module.advance(BOS, imp.module.init_state())
            logits, stepped_state = imp.module.step(BOS, imp.module.init_state())
            assert torch.equal(state, stepped_state) and torch.equal(imp.module.logits(state), logits)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_default_precision_is_what_load_runs(name):
    assert DEFAULT_PRECISION == "int8"
    imp = Improviser.load(REPO / "models" / name)
    assert imp.precision == DEFAULT_PRECISION == resolve_precision(None)
    assert imp.module.original_name == "Int8StepLSTM"
    assert Improviser.load(REPO / "models" / name, precision="float32").module.original_name == "CachedStepLSTM"


def test_without_the_kernel_the_default_falls_back_to_float32(monkeypatch, tmp_path):
    monkeypatch.setattr("liveimpro.lstm.quantized.int8_kernel_available", lambda: False)
    assert resolve_precision(None) == "float32"
    folder = tiny_model_folder(tmp_path / "m")
    assert Improviser.load(folder).precision == "float32"
    with pytest.raises(ModelError, match="no working weight-only int8 kernel"):
        Improviser.load(folder, precision="int8")


def test_an_unknown_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="precision must be one of int8, float32"):
        Improviser.load(tiny_model_folder(tmp_path / "m"), precision="float16")


@pytest.mark.parametrize("precision", [None, "int8", "float32"])
def test_damaged_folders_are_still_refused(tmp_path, precision):
    with pytest.raises(ModelError, match="no such model folder"):
        Improviser.load(tmp_path / "missing", precision=precision)
    folder = tiny_model_folder(tmp_path / "m")
    damaged = Path(shutil.copytree(folder, tmp_path / "damaged"))
    data = bytearray((damaged / "weights.pt").read_bytes())
    data[len(data) // 3] ^= 0x20
    (damaged / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged"):
        Improviser.load(damaged, precision=precision)
    missing = Path(shutil.copytree(folder, tmp_path / "no-vocab"))
    (missing / "vocab.json").unlink()
    with pytest.raises(ModelError, match="vocab.json: missing"):
        Improviser.load(missing, precision=precision)


@pytest.mark.parametrize("tie, embed_dim, hidden, layers", [(True, 24, 24, 2), (True, 16, 24, 2), (False, 16, 40, 3),
                                                             (True, 64, 64, 1), (False, 8, 5, 2)])
def test_int8_of_any_shape_follows_float32(tie, embed_dim, hidden, layers):
    """Widths that are not multiples of the kernel's block are padded with zeros (unpadded, its AVX512 path
    returns NaNs or crashes); projections and untied heads are quantised like the rest."""
    torch.manual_seed(1)
    net = NextTokenLSTM(ModelConfig(vocab_size=50, embed_dim=embed_dim, hidden=hidden, layers=layers,
                                    tie_weights=tie)).eval()
    float_step = CachedStepLSTM(net)
    tokens = torch.randint(0, 50, (30,)).tolist()
    expected = stepped(float_step, tokens)
    for form in (Int8StepLSTM.from_step(float_step), script_int8(torch.jit.script(float_step))):
        got = stepped(form, tokens)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, expected, rtol=0, atol=0.05)
        with torch.inference_mode():
            assert torch.equal(form.forward_sequence(torch.tensor(tokens)).double(), got)


def test_int8_rows_round_trip():
    weight = torch.randn(30, 70) * torch.logspace(-3, 1, 30)[:, None]  # rows of very different sizes
    weight[4] = 0.0
    q, scale = int8_rows(weight)
    assert q.dtype == torch.int8 and q.abs().max() <= 127 and torch.isfinite(scale).all()
    assert torch.equal(scale, scale.to(torch.bfloat16).float())  # what the kernel will use, exactly
    error = (q.float() * scale[:, None] - weight).abs()
    assert torch.all(error <= scale[:, None] * 0.5 + 1e-12)
    assert ALIGN % 16 == 0


def test_improviser_runs_the_head_only_when_asked(monkeypatch):
    imp = Improviser.load(REPO / "models" / "curve-lstm", precision="int8")
    calls = []
    module = imp._model

    class Counting:
        def __getattr__(self, name):
            return getattr(module, name)

        def logits(self, state):
            calls.append(1)
            return module.logits(state)

    imp._model = Counting()
    for pitch, onset in [(67, 0.0), (69, 1.0), (71, 2.0)]:
        imp.observe(Event((pitch,), onset, 1.0))
    assert calls == []
    first = imp.next_distribution()
    imp.propose(rng=np.random.default_rng(0))
    assert len(calls) == 1 and np.array_equal(first, imp.next_distribution())
    assert improviser_module.PRECISIONS == ("int8", "float32")
