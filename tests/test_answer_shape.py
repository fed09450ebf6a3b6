"""Answers a musician would keep (issue 13): no loops on their own notes, no stuck pitch, a cadence.

Offline, on the shipped curve LSTM as `liveimpro respond` loads it (live adaptation on). The calls that
loop were found with the code before the fix: the short-term model learned the answer's own notes, and
"CELLS" answered with a 2-4-note cell three times in a row in 4 of seeds 0..9.
"""
from __future__ import annotations

import numpy as np
import pytest

from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.data.answers import has_cell_loop, longest_loop, longest_same_pitch
from liveimpro.lstm.adapt import AdaptiveMixer, ShortTermPPM
from liveimpro.lstm.improviser import Improviser
from liveimpro.melody import melody_from_tuples
from liveimpro.music.offline import respond
from liveimpro.music.responder import Responder
from liveimpro.music.settings import LiveSettings
from liveimpro.music.shape import MAX_LOOP, cadence_pitch_classes, in_scale, loop_pitches
from liveimpro.tokens.event import Event

CELLS = [(67, 0, 0.5), (64, 0.5, 0.5), (67, 1, 0.5), (64, 1.5, 0.5), (67, 2, 1), (65, 3, 1), (64, 4, 0.5),
         (62, 4.5, 0.5), (64, 5, 0.5), (62, 5.5, 0.5), (60, 6, 2)]
REPEATED = [(60, 0, 1), (60, 1, 1), (62, 2, 1), (60, 3, 1), (64, 4, 1), (64, 5, 1), (62, 6, 1), (60, 7, 1),
            (60, 8, 1), (60, 9, 1), (67, 10, 1), (67, 11, 1), (65, 12, 1), (64, 13, 1), (62, 14, 1), (60, 15, 1)]


@pytest.fixture(scope="module")
def folder():
    return Improviser.load(DEFAULT_LSTM).folder


def answers(folder, rows, seeds=range(10), settings=None):
    call = melody_from_tuples(rows, tempo=100)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        yield respond(Responder(Improviser(folder, rng, adapt=True), settings or LiveSettings(), rng), call)


@pytest.mark.parametrize("rows", [CELLS, REPEATED], ids=["cells", "repeated notes"])
def test_answers_to_calls_that_looped_have_no_cell_loop_and_no_stuck_pitch(folder, rows):
    for answer in answers(folder, rows):
        assert answer.notes
        assert not has_cell_loop(answer)
        assert longest_same_pitch(answer) <= MAX_LOOP
        assert longest_loop(answer) <= MAX_LOOP


def test_the_short_term_model_does_not_learn_what_is_only_context():
    heard, played = ShortTermPPM(10), ShortTermPPM(10)
    for stm in (heard, played):
        for token in (5, 6, 5, 6):
            stm.observe(token)
    for _ in range(6):  # the answer repeating token 7: learned it would become near certain
        heard.observe(7)
        played.observe(7, learn=False)
    assert heard.probs()[7] > 0.5
    assert played.probs()[7] < 0.2
    assert played.probs()[5] > played.probs()[7]  # 6 was followed by 5 (heard); 7 never was


def test_the_improviser_learns_calls_and_not_its_own_answer(folder):
    imp = Improviser(folder, np.random.default_rng(0), adapt=True)
    assert isinstance(imp.adapt, AdaptiveMixer)
    stm = imp.adapt.short_term
    imp.observe(Event((60,), 0.0, 1.0))
    imp.commit(imp.propose(rng=np.random.default_rng(1)))
    assert stm._learned[stm._length - 2:stm._length].tolist() == [True, False]  # the call's note, then ours


def test_avoided_pitches_are_not_proposed_unless_nothing_else_is_allowed(folder):
    imp = Improviser(folder, np.random.default_rng(0))
    imp.observe(Event((64,), 0.0, 1.0))
    best = imp.propose(temperature=0, pitch_range=(55, 76), scale={0, 2, 4, 5, 7, 9, 11}).top
    other = imp.propose(temperature=0, pitch_range=(55, 76), scale={0, 2, 4, 5, 7, 9, 11}, avoid={best}).top
    assert other != best
    only = imp.propose(temperature=0, pitch_range=(64, 64), avoid={64}).top
    assert only == 64  # the other masks leave only the avoided pitch: it is proposed anyway


def test_loop_pitches_stop_a_pitch_loop_at_max_loop_notes():
    assert loop_pitches([]) == frozenset()
    assert loop_pitches([60] * 4) == frozenset() and loop_pitches([60] * 5) == {60}
    assert loop_pitches([60, 62, 60, 62]) == frozenset()  # a b a b a is allowed ...
    assert loop_pitches([60, 62, 60, 62, 60]) == {62}  # ... a third a b is not
    assert loop_pitches([60, 62, 64, 60, 62]) == {64}  # a three-note cell is not repeated whole
    assert loop_pitches([60, 62, 64, 65, 60, 62, 64]) == {65}
    assert loop_pitches([60, 62, 64, 65, 67, 65]) == frozenset()


def test_the_cadence_is_the_tonic_triad_of_the_key_or_scale():
    assert cadence_pitch_classes("C major") == {0, 4, 7}
    assert cadence_pitch_classes("A minor") == {9, 0, 4}
    assert cadence_pitch_classes("D dorian") == {2, 5, 9}
    assert cadence_pitch_classes("C major pentatonic") == {0, 4, 7}


def test_an_answer_ends_on_the_tonic_triad_on_its_last_bar_line(folder):
    settings = LiveSettings(scale="C major")
    for answer in answers(folder, REPEATED, range(6), settings):
        last = answer.notes[-1]
        assert last.pitch % 12 in {0, 4, 7}
        start = answer.notes[0].onset  # a bar line (16-beat call in 4/4: 20, a bar after its end)
        assert start == pytest.approx(20.0)
        assert last.onset == pytest.approx(start + 16 - 2)  # 4 bars of 4: on the last bar's half
        assert last.end == pytest.approx(start + 16)  # held 2 beats at least, to the end at most


def test_in_scale_moves_a_pitch_to_the_nearest_one_of_the_scale():
    c_major = frozenset({0, 2, 4, 5, 7, 9, 11})
    assert in_scale(61, c_major) == 60  # C#: C and D as near, the lower
    assert in_scale(61, c_major, previous=64) == 62  # ...or the one nearer the line's last note
    assert in_scale(66, c_major, previous=60) == 65 and in_scale(66, c_major, previous=70) == 67
    assert in_scale(64, c_major) == 64 and in_scale(61, None) == 61


@pytest.mark.parametrize("mode", ["vary", "morph"])
def test_vary_and_morph_keep_the_scale_lock(folder, mode):
    from liveimpro.cli.options import DEFAULT_VAE
    from liveimpro.music.keys import scale_pitch_classes
    from liveimpro.vae.melody_vae import MelodyVAE

    vae = MelodyVAE.load(DEFAULT_VAE)
    lock = scale_pitch_classes("D dorian")
    chromatic = [(60 + i % 12, i * 0.5, 0.5) for i in range(16)]  # a call in no key: every pitch class
    for seed in range(4):
        rng = np.random.default_rng(seed)
        settings = LiveSettings(mode=mode, scale="D dorian", amount=1.0)
        responder = Responder(Improviser(folder, rng, adapt=True), settings, rng, vae=vae)
        for _ in range(2):  # morph's first call has nothing to morph from: it varies
            answer = respond(responder, melody_from_tuples(chromatic, tempo=100))
            assert answer.notes and all(n.pitch % 12 in lock for n in answer.notes), answer.notes
