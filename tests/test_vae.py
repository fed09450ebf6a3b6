"""The melody VAE: step representation (round trip, cut/pad rule), model shapes, the scripted model and the
model folder, the runtime (encode/decode/vary/morph/interpolate), and scripts/train_vae.py on tiny data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from script_modules import load_script

from liveimpro.data.corpus import FileResult
from liveimpro.data.dataset import Dataset
from liveimpro.errors import ModelError
from liveimpro.melody import Melody, Note, melody_from_tuples
from liveimpro.vae.folder import save_vae_folder
from liveimpro.vae.melody_vae import Code, MelodyVAE, slerp
from liveimpro.vae.network import VAEConfig, build_vae
from liveimpro.vae.steps import (
    HOLD,
    MAX_PITCH,
    MIN_PITCH,
    NUM_CLASSES,
    REST,
    SHAPES,
    bar_phase,
    from_windows,
    layout,
    length_in_bars,
    melody_to_steps,
    meter_unit,
    pitch_class,
    steps_to_notes,
    to_windows,
    training_windows,
)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")
TINY = ["--embed-dim", "8", "--enc-hidden", "16", "--latent", "8", "--conductor-hidden", "16", "--dec-hidden", "16",
        "--batch-size", "8", "--eval-windows", "16", "--warmup-steps", "2", "--kl-anneal-steps", "4",
        "--sampling-steps", "4", "--threads", "1"]




train_vae = load_script("train_vae")


def synthetic_tunes(count: int, seed: int = 0) -> list[Melody]:
    """Random-walk tunes of 6..10 bars on the 16th grid, 4/4 and 3/4 (some with a pickup)."""
    rng = np.random.default_rng(seed)
    tunes = []
    for i in range(count):
        meter = (4, 4) if i % 3 else (3, 4)
        bar = meter[0]
        onset, pitch, rows = (0.0 if i % 2 else bar - 1.0), 62 + int(rng.integers(0, 8)), []
        end = bar * int(rng.integers(6, 11))
        while onset < end:
            duration = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            rows.append((pitch, onset, duration))
            onset += duration
            pitch = int(np.clip(pitch + rng.integers(-3, 4), 55, 80))
        tunes.append(melody_from_tuples(rows, time_signature=meter, name=f"tune {i}"))
    return tunes


@st.composite
def grid_melodies(draw, low=MIN_PITCH, high=MAX_PITCH, max_steps=64):
    """Monophonic melodies whose onsets and ends lie on the 16th grid, no note longer than the gaps allow."""
    rows, step = [], draw(st.integers(0, 8))
    while step < max_steps and len(rows) < 40:
        length = draw(st.integers(1, 12))
        rows.append((draw(st.integers(low, high)), step / 4, length / 4))
        step += length + draw(st.integers(0, 4))
    return melody_from_tuples(rows)


def triples(notes, until: float | None = None):
    """(pitch, onset, duration) of the notes, cut at `until` beats."""
    out = []
    for n in notes:
        if until is None or n.onset < until:
            out.append((n.pitch, n.onset, min(n.end, until) - n.onset if until is not None else n.duration))
    return out


@settings(max_examples=150, deadline=None)
@given(grid_melodies())
def test_melodies_on_the_16th_grid_survive_steps_exactly(melody):
    steps = melody_to_steps(melody, 64)
    assert steps.dtype == np.int64 and steps.shape == (64,) and steps.min() >= 0 and steps.max() < NUM_CLASSES
    assert triples(steps_to_notes(steps)) == triples(melody.notes, until=16.0)


@settings(max_examples=100, deadline=None)
@given(grid_melodies(low=58, high=78, max_steps=200))
def test_melodies_survive_windows_exactly_within_their_length(melody):
    # 58..78: moving the melody by octaves toward the trained register folds no note
    lay = layout(melody)
    windows = to_windows(melody, lay)
    assert [len(w) for w in windows] == [units * lay.unit_steps for units in lay.windows]
    back = from_windows(windows, lay, melody)
    assert triples(back.notes) == triples(melody.notes, until=lay.length)
    assert back.time_signature == melody.time_signature and back.tempo == melody.tempo


def test_steps_classes_and_what_is_lost():
    melody = melody_from_tuples([(60, 0, 1), (60, 1, 0.5), (64, 2.0, 0.3), (67, 4 / 3, 1 / 3), (72, 3.5, 0.1)])
    steps = melody_to_steps(melody, 16)
    c60, c64, c67, c72 = (pitch_class(p) for p in (60, 64, 67, 72))
    # a repeated pitch is a new note-on; the triplet at 4/3 goes to step 5; 0.3 beats rounds to one step; a
    # 0.1-beat note still takes one step
    assert steps.tolist() == [c60, HOLD, HOLD, HOLD, c60, c67, HOLD, REST, c64, REST, REST, REST, REST, REST, c72,
                              REST]
    assert steps_to_notes(steps)[2] == Note(67, 1.25, 0.5)
    # of two notes on one step the later stays; HOLD after a rest is a rest
    assert melody_to_steps(melody_from_tuples([(60, 0, 1), (62, 0.05, 1)]), 4).tolist() == [pitch_class(62), HOLD,
                                                                                             HOLD, HOLD]
    assert steps_to_notes([REST, HOLD, c60, HOLD]) == [Note(60, 0.5, 0.5)]
    # pitches outside the range are folded in by octaves
    assert melody_to_steps(melody_from_tuples([(MAX_PITCH + 1, 0, 1)]), 1).tolist() == [pitch_class(MAX_PITCH - 11)]


@pytest.mark.parametrize("meter, unit", [((4, 4), 16), ((2, 4), 16), ((2, 2), 16), ((1, 8), 16), ((3, 4), 12),
                                         ((6, 8), 12), ((3, 8), 12), ((12, 8), 12), ((3, 2), 12), ((5, 4), None),
                                         ((7, 8), None)])
def test_meter_units(meter, unit):
    assert meter_unit(meter) == unit


def test_cut_pad_rule():
    def phrase(bars, meter=(4, 4), tail=0.0):
        beats = bars * meter[0] * 4 / meter[1]
        return melody_from_tuples([(60, 0, 1), (62, beats - 1, 1 + tail)], time_signature=meter)

    assert length_in_bars(phrase(3)) == 3
    assert length_in_bars(phrase(3, tail=0.25)) == 3  # a 16th over the bar line adds no bar
    assert length_in_bars(phrase(3, tail=0.5)) == 4
    assert length_in_bars(Melody()) == 1
    cases = {1: (2,), 2: (2,), 3: (4,), 4: (4,), 5: (4, 2), 6: (4, 2), 7: (4, 4), 8: (4, 4), 10: (4, 4, 2)}
    for bars, windows in cases.items():
        lay = layout(phrase(bars))
        assert (lay.windows, lay.length, lay.bars) == (windows, bars * 4.0, bars)
        assert (lay.describe() is None) == (bars in (2, 4)), bars
    assert "padded with 4 beats of rest" in layout(phrase(3)).describe()
    assert "cut back to 3 bars" in layout(phrase(3)).describe()
    assert "split into windows of 16 + 16 beats" == layout(phrase(8)).describe()
    three_four = layout(phrase(4, (3, 4)))
    assert (three_four.unit_steps, three_four.windows, three_four.describe()) == (12, (4,), None)
    two_four = layout(phrase(4, (2, 4)))  # 4 bars of 2/4: two 16-step units
    assert (two_four.unit_steps, two_four.windows, two_four.describe()) == (16, (2,), None)
    odd = layout(phrase(2, (5, 4)))
    assert odd.unit_steps == 16 and not odd.meter_fits and "neither duple nor triple" in odd.describe()
    # bars given: notes after them are cut, and the last one shortened
    four = melody_from_tuples([(60, 0, 6), (62, 6, 4), (64, 10, 6)])
    cut = from_windows(to_windows(four, layout(four, bars=2)), layout(four, bars=2), four)
    assert triples(cut.notes) == [(60, 0.0, 6.0), (62, 6.0, 2.0)]
    # laid out beside another melody: by units
    assert layout(phrase(4, (3, 4)), units=2).windows == (2,)


def test_octave_shift_moves_low_melodies_into_the_register_and_back():
    low = melody_from_tuples([(36, 0, 1), (38, 1, 1), (31, 2, 1)])
    lay = layout(low)
    assert lay.shift == 36
    steps = np.concatenate(to_windows(low, lay))
    assert steps[0] == pitch_class(72)
    assert triples(from_windows([steps], lay, low).notes) == triples(low.notes)


def test_training_windows_start_on_bar_lines():
    pickup = melody_from_tuples([(60, 0, 1)] + [(62 + k % 5, 1 + 4 * k, 4) for k in range(8)])
    assert bar_phase(pickup) == 1.0
    windows = training_windows(pickup, 2)
    assert windows.shape[1] == 32
    assert windows[0][:12].tolist() == [REST] * 12 and windows[0][12] == pitch_class(60)  # the pickup ends bar 0
    assert all(w[16] >= 2 for w in windows)  # a note starts on each bar line
    assert training_windows(melody_from_tuples([(60, 0, 1)], time_signature=(5, 4)), 2).shape == (0, 32)


def tiny_vae(decoder="hierarchical", seed=0):
    torch.manual_seed(seed)
    return build_vae(VAEConfig(decoder=decoder, embed_dim=8, enc_hidden=16, latent=8, conductor_hidden=16,
                               dec_hidden=16)).eval()


@pytest.mark.parametrize("decoder", ["hierarchical", "flat"])
def test_encode_decode_shapes_and_teacher_forcing_agree_with_decoding(decoder):
    model = tiny_vae(decoder)
    for shape, (unit, units) in enumerate(SHAPES):
        steps = torch.randint(0, NUM_CLASSES, (3, unit * units))
        mu, logvar = model.encode(steps, shape)
        assert mu.shape == logvar.shape == (3, 8)
        inputs = train_vae.decoder_inputs(steps, model.start)
        logits, _, _ = model(steps, shape, inputs)
        assert logits.shape == (3, unit * units, NUM_CLASSES)
        out = model.decode(mu, shape, 0.0, torch.zeros(3, unit * units, NUM_CLASSES))
        assert out.shape == (3, unit * units) and out.dtype == torch.int64
        assert not ((out[:, 1:] == HOLD) & (out[:, :-1] == REST)).any() and not (out[:, 0] == HOLD).any()
        previous = train_vae.decoder_inputs(out, model.start)
        with torch.no_grad():  # greedy decoding = the argmax of teacher forcing on its own output
            again = model.most_likely(model.teacher_forced(mu, shape, previous))
        hold_allowed = (previous != REST) & (previous != model.start)
        assert torch.equal(again[hold_allowed], out[hold_allowed])


def test_model_in_a_folder_gives_the_same_output(tmp_path):
    model = tiny_vae()
    folder = tmp_path / "vae"
    save_vae_folder(folder, model, {"name": "tiny"})
    vae = MelodyVAE.load(folder)
    assert isinstance(vae.module, torch.jit.ScriptModule)  # rebuilt from liveimpro.vae.network and scripted at load
    steps = torch.randint(0, NUM_CLASSES, (2, 48))
    with torch.no_grad():
        mu, _ = model.encode(steps, 3)
        expected = model.decode(mu, 3, 0.0, torch.zeros(2, 48, NUM_CLASSES))
        assert torch.allclose(vae.module.encode(steps, 3)[0], mu, atol=1e-6)
        assert torch.equal(vae.module.decode(mu, 3, 0.0, torch.zeros(2, 48, NUM_CLASSES)), expected)
        noise = torch.from_numpy(np.random.default_rng(0).gumbel(size=(2, 48, NUM_CLASSES)).astype(np.float32))
        assert torch.equal(vae.module.decode(mu, 3, 0.7, noise), model.decode(mu, 3, 0.7, noise))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "tiny"
    tunes = [(i, melody) for i, melody in enumerate(synthetic_tunes(40))]
    Dataset.build([FileResult(Path("synthetic.abc"), tunes=tunes)], valid_share=0.2, kinds=()).save(folder)
    return folder


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A tiny training run exported to a model folder: (run folder, model folder)."""
    run, folder = tmp_path_factory.mktemp("run"), tmp_path_factory.mktemp("model") / "vae"
    assert train_vae.main(["--data", str(data), "--out", str(run), "--max-steps", "8", "--eval-interval", "4",
                           *TINY, "--export", str(folder)]) == 0
    return run, folder


def test_training_writes_checkpoint_loss_curve_and_model_folder(trained):
    run, folder = trained
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 8 and ckpt["history"]["step"] == [4, 8]
    assert ckpt["config"]["latent"] == 8 and ckpt["config"]["decoder"] == "hierarchical"
    assert all(np.isfinite(ckpt["history"][key]).all() for key in ("train_recon", "valid_recon", "valid_kl"))
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "melody-vae" and card["training"]["steps"] == 8 and card["training"]["wall_seconds"] > 0
    assert card["parameters"] == sum(v.numel() for k, v in ckpt["model"].items())


def test_resumed_training_continues_exactly(data, tmp_path):
    args = ["--data", str(data), "--eval-interval", "3", *TINY, "--decoder", "flat"]
    assert train_vae.main([*args, "--out", str(tmp_path / "straight"), "--max-steps", "6"]) == 0
    assert train_vae.main([*args, "--out", str(tmp_path / "split"), "--max-steps", "3"]) == 0
    assert train_vae.main(["--out", str(tmp_path / "split"), "--resume", "--max-steps", "6"]) == 0
    straight, split = (torch.load(tmp_path / name / "ckpt.pt", weights_only=True) for name in ("straight", "split"))
    assert split["step"] == 6
    for key, value in straight["model"].items():
        assert torch.equal(value, split["model"][key]), key


def test_runtime_keeps_length_and_form_and_is_deterministic(trained):
    vae = MelodyVAE.load(trained[1])
    call = melody_from_tuples([(60, 0, 1), (64, 1, 1), (67, 2, 2), (65, 4.5, 1), (62, 6, 3.5)],
                              time_signature=(3, 4), tempo=90, key="C major", name="call")  # 4 bars of 3/4
    code = vae.encode(call)
    assert code.z.shape == (1, 8) and code.layout.unit_steps == 12 and code.layout.windows == (4,)
    for melody in (vae.decode(code), vae.vary(call, 0.5, np.random.default_rng(1)), vae.morph(call, call, 0.5)):
        assert melody.end <= 12.0 + 1e-9
        assert (melody.time_signature, melody.tempo, melody.key) == ((3, 4), 90, "C major")
        assert all(n.velocity == 80 for n in melody.notes)
    assert vae.vary(call, 0.7, np.random.default_rng(5)) == vae.vary(call, 0.7, np.random.default_rng(5))
    assert vae.vary(call, 0.0, np.random.default_rng(5)) == vae.decode(code)
    samples = vae.sample(3, np.random.default_rng(2), bars=2)
    assert len(samples) == 3 and all(s.end <= 8.0 for s in samples)
    assert samples == vae.sample(3, np.random.default_rng(2), bars=2)
    assert vae.vary(call, 0.5, bars=2).end <= 6.0 and vae.morph(call, call, 0.2, bars=6).end <= 18.0
    long_call = call.with_notes(list(call.notes) + [Note(60, 13.0, 1.0)])  # 5 bars: windows of 4 + 2 units
    assert vae.encode(long_call).z.shape == (2, 8) and vae.vary(long_call, 0.3).end <= 15.0


def test_interpolation_ends_are_the_reconstructions(trained):
    vae = MelodyVAE.load(trained[1])
    a, b = synthetic_tunes(2, seed=3)
    a, b = (m.with_notes(n for n in m.notes if n.onset < 12) for m in (a, b))
    morph = vae.interpolate(a, b, 5)
    assert len(morph) == 5
    assert morph[0] == vae.decode(vae.encode(a)) == vae.morph(a, b, 0.0)
    code_a = vae.encode(a)
    assert morph[-1] == vae.decode(code_a.with_z(vae.encode(b, units=sum(code_a.layout.windows)).z))
    assert vae.morph(a, b, 1.0) == morph[-1]


def test_slerp():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    assert np.allclose(slerp(a, b, 0.5), [[np.sqrt(0.5), 2 * np.sqrt(0.5)]], atol=1e-6)  # along the arc
    assert np.allclose(slerp(a, a, 0.3), a)


def damage(folder: Path, how: str) -> str:
    """Break a model folder copy in one way; returns the file the error must name."""
    if how == "missing":
        (folder / "representation.json").unlink()
        return "representation.json"
    if how == "bytes":
        data = bytearray((folder / "weights.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "weights.pt").write_bytes(bytes(data))
        return "weights.pt"
    if how == "representation":
        text = json.loads((folder / "representation.json").read_text())
        (folder / "representation.json").write_text(json.dumps({**text, "min_pitch": 30}))
        return "representation.json"
    if how == "card":
        (folder / "card.json").write_text("{not json")
        return "card.json"
    if how == "kind":
        card = json.loads((folder / "card.json").read_text())
        (folder / "card.json").write_text(json.dumps({**card, "kind": "lstm"}))
        return "card.json"
    raise ValueError(how)


@pytest.mark.parametrize("how", ["missing", "bytes", "representation", "card", "kind"])
def test_damaged_model_folder_is_a_one_line_model_error(trained, tmp_path, how):
    import shutil

    folder = tmp_path / "vae"
    shutil.copytree(trained[1], folder)
    name = damage(folder, how)
    with pytest.raises(ModelError) as error:
        MelodyVAE.load(folder)
    assert name in str(error.value) and "\n" not in str(error.value)


def test_code_with_z_keeps_the_form():
    code = Code(np.zeros((1, 4), np.float32), layout(Melody(), bars=2), Melody())
    assert code.with_z(np.ones((1, 4))).layout == code.layout
