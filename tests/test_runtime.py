"""The Improviser: one step per call, masks honoured, specials never proposed, seeded = repeatable."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_model import synthetic_melodies, tiny_model_folder

from liveimpro.errors import ModelError
from liveimpro.lstm.improviser import Improviser
from liveimpro.tokens.base import EOS
from liveimpro.tokens.event import Event

REPO = Path(__file__).resolve().parents[1]
C_MAJOR = {0, 2, 4, 5, 7, 9, 11}


@pytest.fixture(scope="module")
def curve_folder(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory.mktemp("runtime") / "curve")


@pytest.fixture(scope="module")
def note_folder(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory.mktemp("runtime") / "note", "note")


def softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), -1).numpy()


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_observe_steps_once_and_matches_whole_sequence_scoring(curve_folder, precision):
    imp = Improviser.load(curve_folder, precision=precision)
    assert imp.precision == precision
    melody = synthetic_melodies(1, seed=3)[0]
    events = imp.tokenizer.events(melody)
    tokens = imp.tokenizer.encode(melody)
    with torch.inference_mode():  # the step module's own whole-sequence scoring (the fused kernel for float32)
        expected = imp.module.forward_sequence(torch.tensor(tokens[:-1]))
    assert imp.steps == 1  # BOS
    np.testing.assert_allclose(imp.next_distribution(), softmax(expected[0]), rtol=1e-5, atol=1e-7)
    for position, event in enumerate(events, start=1):
        imp.observe(event)
        assert imp.steps == position + 1
        assert imp.previous == event
        np.testing.assert_allclose(imp.next_distribution(), softmax(expected[position]), rtol=1e-5, atol=1e-7)


def test_observe_token_follows_the_encoded_ids(note_folder):
    imp, reference = Improviser.load(note_folder), Improviser.load(note_folder)
    melody = synthetic_melodies(1, seed=4)[0]
    for token, event in zip(imp.tokenizer.encode(melody)[1:-1], imp.tokenizer.events(melody)):
        imp.observe_token(token)
        reference.observe(event)
        np.testing.assert_array_equal(imp.next_distribution(), reference.next_distribution())
    with pytest.raises(ValueError, match="special"):
        imp.observe_token(EOS)


def test_propose_does_not_advance_and_commit_does(curve_folder):
    imp = Improviser.load(curve_folder)
    imp.observe(Event((62,), 0.0, 1.0))
    before = imp.next_distribution()
    proposal = imp.propose(rng=np.random.default_rng(0))
    assert imp.steps == 2
    np.testing.assert_array_equal(imp.next_distribution(), before)
    imp.commit(proposal)
    assert imp.steps == 3 and imp.previous == proposal
    assert not np.array_equal(imp.next_distribution(), before)


def test_committing_the_proposal_equals_observing_it(curve_folder):
    a, b = Improviser.load(curve_folder), Improviser.load(curve_folder)
    rng = np.random.default_rng(1)
    for _ in range(12):
        proposal = a.propose(rng=rng)
        a.commit(proposal)
        b.observe(proposal)
        np.testing.assert_array_equal(a.next_distribution(), b.next_distribution())


def test_proposals_follow_the_previous_event_in_the_callers_timeline(curve_folder):
    imp = Improviser.load(curve_folder)
    assert imp.propose(rng=np.random.default_rng(2)).onset == 0.0  # the first event of a melody
    played = Event((64,), 17.25, 0.5)
    imp.observe(played)
    tokens = imp.tokenizer.next_pitches(played)
    for seed in range(20):
        proposal = imp.propose(rng=np.random.default_rng(seed))
        assert proposal.onset >= played.onset
        assert proposal.top in set(tokens[tokens >= 0])


@pytest.mark.parametrize("kind", ["curve", "note"])
def test_proposals_respect_pitch_range_and_scale(kind, curve_folder, note_folder):
    imp = Improviser.load(curve_folder if kind == "curve" else note_folder)
    rng = np.random.default_rng(3)
    imp.observe(Event((67,), 0.0, 1.0))
    for _ in range(150):
        event = imp.propose(temperature=1.5, top_p=1.0, pitch_range=(60, 72), scale=C_MAJOR, rng=rng)
        assert 60 <= event.top <= 72 and event.top % 12 in C_MAJOR, event
        imp.commit(event)


def test_specials_are_never_proposed_even_when_most_likely(tmp_path):
    imp = Improviser.load(tiny_model_folder(tmp_path / "eos", special_bias=30.0))
    assert imp.next_distribution()[:3].sum() > 0.999  # the model all but insists on a special
    rng = np.random.default_rng(4)
    for _ in range(30):
        event = imp.propose(rng=rng)
        assert isinstance(event, Event)
        imp.commit(event)
    assert isinstance(imp.propose(temperature=0), Event)


def test_an_impossible_mask_falls_back_to_every_playable_token(curve_folder):
    imp = Improviser.load(curve_folder)
    imp.observe(Event((60,), 0.0, 1.0))
    tops = imp.tokenizer.next_pitches(imp.previous)
    playable = set(tops[tops >= 0])
    rng = np.random.default_rng(5)
    proposals = {imp.propose(pitch_range=(120, 127), top_p=1.0, rng=rng).top for _ in range(40)}
    assert proposals <= playable and not any(120 <= p <= 127 for p in proposals)


def test_greedy_and_tiny_top_p_take_the_most_likely_allowed_token(curve_folder):
    imp = Improviser.load(curve_folder)
    imp.observe(Event((65,), 0.0, 1.0))
    probabilities = imp.next_distribution()
    tops = imp.tokenizer.next_pitches(imp.previous)
    allowed = (tops >= 60) & (tops <= 70)
    best = int(np.flatnonzero(allowed)[np.argmax(probabilities[allowed])])
    expected = imp.tokenizer.token_event(imp.previous, best)
    assert imp.propose(temperature=0, pitch_range=(60, 70)) == expected
    assert imp.propose(top_p=1e-9, pitch_range=(60, 70), rng=np.random.default_rng(6)) == expected


@pytest.mark.parametrize("precision", ["int8", "float32"])
def test_a_seeded_rng_repeats_the_same_improvisation(curve_folder, precision):
    def improvise(seed):
        imp = Improviser.load(curve_folder, rng=np.random.default_rng(seed), precision=precision)
        imp.observe(Event((62,), 0.0, 0.5))
        out = []
        for _ in range(25):
            out.append(imp.propose(temperature=1.2, top_p=0.9, pitch_range=(50, 80)))
            imp.commit(out[-1])
        return out

    assert improvise(7) == improvise(7)
    assert improvise(7) != improvise(8)


def test_sampling_follows_the_model_distribution(curve_folder):
    imp = Improviser.load(curve_folder)
    imp.observe(Event((60,), 0.0, 1.0))
    probabilities = imp.next_distribution()
    playable_mass = probabilities[imp.tokenizer.next_pitches(imp.previous) >= 0].sum()
    rng = np.random.default_rng(9)
    draws = 4000
    counts = {}
    for _ in range(draws):
        event = imp.propose(top_p=1.0, rng=rng)
        counts[event] = counts.get(event, 0) + 1
    for event, count in counts.items():
        token = imp.tokenizer.event_token(imp.previous, event)
        expected = probabilities[token] / playable_mass
        assert abs(count / draws - expected) < 4 * np.sqrt(expected * (1 - expected) / draws) + 1e-3


def test_reset_starts_again(curve_folder):
    imp = Improviser.load(curve_folder)
    fresh = imp.next_distribution()
    imp.observe(Event((60,), 0.0, 1.0))
    imp.reset()
    assert imp.steps == 1 and imp.previous is None
    np.testing.assert_array_equal(imp.next_distribution(), fresh)


def test_bad_sampling_arguments(curve_folder):
    imp = Improviser.load(curve_folder)
    with pytest.raises(ValueError, match="temperature"):
        imp.propose(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        imp.propose(top_p=0)


def test_loading_a_broken_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no such model folder"):
        Improviser.load(tmp_path / "missing")


@pytest.mark.parametrize("name, kind", [("curve-lstm", "curve"), ("note-lstm", "note")])
def test_the_shipped_models_improvise(name, kind):
    imp = Improviser.load(REPO / "models" / name, rng=np.random.default_rng(0))
    assert imp.tokenizer.kind == imp.card["tokenizer"] == kind
    assert imp.card["training"]["wall_seconds"] > 0 and imp.card["validation"]["bits_per_token"] > 0
    for pitch, onset in [(67, 0.0), (69, 1.0), (71, 2.0), (72, 3.0)]:
        imp.observe(Event((pitch,), onset, 1.0))
    for _ in range(16):
        event = imp.propose(temperature=0.9, pitch_range=(55, 84), scale={7, 9, 11, 0, 2, 4, 6})
        assert 55 <= event.top <= 84 and event.top % 12 in {7, 9, 11, 0, 2, 4, 6}
        imp.commit(event)
    assert imp.steps == 1 + 4 + 16


def test_live_adaptation_learns_a_motif_the_player_repeats():
    """An unusual motif played six times: with adaptation the next proposal continues it far more often."""
    motif = [(60, 1.0), (66, 0.5), (61, 1.5), (67, 0.5)]  # tritone leaps in an odd rhythm
    events, onset = [], 0.0
    for _ in range(6):
        for pitch, length in motif:
            events.append(Event((pitch,), onset, length))
            onset += length
    hits = {}
    for adapt in (False, True):
        imp = Improviser.load(Path(__file__).resolve().parents[1] / "models" / "curve-lstm", adapt=adapt)
        for event in events:
            imp.observe(event)
        imp.observe(Event((60,), onset, 1.0))  # the motif starts once more: 66 should follow
        rng = np.random.default_rng(0)
        hits[adapt] = sum(imp.propose(temperature=1.0, top_p=1.0, rng=rng).pitches == (66,) for _ in range(300))
    assert hits[True] > 2 * hits[False] + 30, hits
