"""The answer comes in on the player's bar line, read from the call without a clock (issue 13), or
on the bars given by a clock with --meter or by a MIDI file's time signature (issue 12)."""
from __future__ import annotations

import numpy as np
import pytest

from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.lstm.improviser import Improviser
from liveimpro.melody import melody_from_tuples
from liveimpro.music.bars import BarGrid, bars_given, beat_phase, call_end, infer_bars
from liveimpro.music.offline import played_notes, respond
from liveimpro.music.responder import Responder

# 4/4 with a one-beat pickup, 4 bars after it (ends at 17); 3/4 with one (ends at 13)
FOUR_FOUR = [(67, 0, 1), (72, 1, 2), (71, 3, 1), (69, 4, 1), (67, 5, 2), (64, 7, 2), (65, 9, 1), (67, 10, 1),
             (69, 11, 1), (71, 12, 1), (72, 13, 4)]
# three bars of 3/4 from beat 0 (ends at 9): read from the call, 4/4 with a pickup is likelier
THREE_BARS_OF_3_4 = [(67, 0, 1), (71, 1, 1), (74, 2, 1), (72, 3, 2), (71, 5, 1), (69, 6, 1), (67, 7, 2)]
THREE_FOUR = [(62, 0, 1), (67, 1, 2), (71, 3, 1), (69, 4, 2), (67, 6, 1), (66, 7, 1), (64, 8, 1), (62, 9, 1),
              (67, 10, 3)]


@pytest.fixture(scope="module")
def folder():
    return Improviser.load(DEFAULT_LSTM).folder


def test_a_call_ends_on_the_beat_it_was_held_to_or_the_next_one():
    assert call_end(17.0) == 17.0 and call_end(17.08) == 17.0 and call_end(16.95) == 17.0
    assert call_end(16.7) == 17.0  # a detached last note, let go early
    assert call_end(16.52) == 17.0  # near a half beat, but the call's beats are whole
    assert call_end(16.52, phase=0.5) == 16.5 and call_end(16.2, phase=0.5) == 16.5
    assert beat_phase([0, 0.5, 1.5, 2.5, 3.5], [0.5, 1, 1, 1, 1]) == 0.5  # an eighth-note pickup
    assert beat_phase([0, 1, 1.5, 2, 3], [1, 0.5, 0.5, 1, 1]) == 0.0


def test_the_bar_length_makes_the_call_a_phrase_of_whole_bars():
    four = infer_bars(17.0)
    assert (four.bar, four.end, four.bars, four.downbeat) == (4.0, 17.0, 4, 1.0)
    assert four.line_at_or_after(18.0) == 21.0 and four.line_at_or_after(21.0) == 21.0
    three = infer_bars(13.0)
    assert (three.bar, three.bars, three.downbeat) == (3.0, 4, 1.0)
    assert three.line_at_or_after(14.0) == 16.0
    assert infer_bars(8.0).bar == 4.0  # 2 bars of 4/4 or 4 of 2/4: one bar line in two is both
    assert infer_bars(1.0) is None


@pytest.mark.parametrize("rows, bar, line", [(FOUR_FOUR, 4, 21.0), (THREE_FOUR, 3, 16.0)], ids=["4/4", "3/4"])
def test_the_answer_to_a_call_that_fills_its_bars_starts_on_the_next_bar_line(folder, rows, bar, line):
    call = melody_from_tuples(rows, tempo=100)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        responder = Responder(Improviser(folder, rng, adapt=True), rng=rng)
        answer = respond(responder, call)
        assert responder.bar_grid().bar == bar
        assert answer.notes[0].onset == pytest.approx(line, abs=0.02)
        cadence = line + 4 * bar - (2 if bar == 4 else bar)  # the last bar line (of 4: its half)
        assert answer.notes[-1].onset == pytest.approx(cadence, abs=0.02)
        assert cadence + 2 - 0.02 <= answer.end <= line + 4 * bar + 0.02  # as many bars as the call


def test_next_beat_waits_for_the_bar_line_only_once_every_key_is_up(folder):
    call = played_notes(melody_from_tuples(FOUR_FOUR, tempo=100))
    responder = Responder(Improviser(folder, np.random.default_rng(0)))
    responder.start_call()
    held = [*call[:-1], type(call[-1])(call[-1].pitch, call[-1].velocity, 0, call[-1].onset)]
    responder.hear(held, held[-1].onset)
    spb = 0.6
    assert responder.next_beat(17.6 * spb) == pytest.approx(18 * spb, abs=1e-3)  # a key held: the next beat
    responder.hear(call, call[-1].release, final=True)
    assert responder.next_beat(18 * spb) == pytest.approx(21 * spb, abs=1e-3)  # the next bar line


def test_given_bars_count_the_call_from_its_downbeat_to_the_bar_line_it_ends_on():
    assert bars_given(9.0, 0.0, 3.0) == BarGrid(3.0, 9.0, 3)
    assert bars_given(9.08, 0.0, 3.0).end == 9.0  # held a little past the bar line: on it
    assert bars_given(8.0, 0.0, 3.0).end == 9.0  # let go a beat early: the bar it ends in counts
    pickup = bars_given(13.0, 1.0, 3.0)  # a one-beat pickup, then four bars
    assert (pickup.end, pickup.bars, pickup.downbeat) == (13.0, 4, 1.0)
    assert pickup.line_at_or_after(14.0) == 16.0
    assert bars_given(6.5, -0.5, 1.5).bar == 1.5  # 6/8 bars (in quarter notes) off the call's first beat
    assert bars_given(9.9, -0.05, 5.0).bars == 2  # the first note a little after the bar line: on it


@pytest.mark.parametrize("meter", [None, (3, 4)], ids=["read from the call", "3/4 given"])
def test_bars_given_by_the_meter_place_and_measure_the_answer(folder, meter):
    """`liveimpro respond` gives a MIDI file's time signature (the engine: a clock's bars in
    --meter's length); read from this call, its bars would be 4/4 with a pickup."""
    call = melody_from_tuples(THREE_BARS_OF_3_4, tempo=100)
    assert infer_bars(9.0).bar == 4.0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        responder = Responder(Improviser(folder, rng, adapt=True), rng=rng)
        answer = respond(responder, call, meter=meter)
        if meter is None:
            assert responder.bar_grid().bar == 4.0 and answer.notes[0].onset == pytest.approx(13.0, abs=0.02)
            continue
        assert responder.bar_grid().bar == pytest.approx(3.0, abs=0.01)
        assert answer.notes[0].onset == pytest.approx(12.0, abs=0.02)  # the first 3/4 bar line after a beat's rest
        assert answer.notes[-1].onset == pytest.approx(18.0, abs=0.02)  # the cadence on the last bar line
        assert 20.0 - 0.02 <= answer.end <= 21.0 + 0.02  # three bars, as many as the call
