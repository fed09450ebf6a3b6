"""The footswitch's standby note (liveimpro/live/standby.py): the answer's first note rehearsed while
the player rests, played by the real-time I/O process at the footswitch's own frame.

Offline: rehearsing changes nothing an answer depends on, and the answer then begins with the very
note rehearsed. On real ports: the footswitch's answer arrives within a JACK period or two of the
press, every note released; pressed at the release (no time to rehearse), it is answered the usual way.
"""
from __future__ import annotations

import numpy as np
import pytest
from duet_harness import assert_valid_session, notes_of, run_peer, stop

from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.live.input import LiveInput
from liveimpro.lstm.improviser import Improviser
from liveimpro.music.responder import Responder
from liveimpro.music.settings import LiveSettings

CALL = [(60, 0.0), (62, 0.25), (64, 0.5), (65, 0.75), (67, 1.0), (65, 1.25), (64, 1.5), (62, 1.75)]  # s, 120 bpm eighths


@pytest.fixture(scope="module")
def folder():
    return Improviser.load(DEFAULT_LSTM).folder


def heard(folder, seed: int):
    """A responder (live adaptation on, as duet) that has heard CALL to its last release, and the notes."""
    rng = np.random.default_rng(seed)
    responder = Responder(Improviser(folder, rng, adapt=True), LiveSettings(), rng)
    live = LiveInput()
    responder.start_call()
    for pitch, onset in CALL:
        live.feed([0x90, pitch, 90], onset)
        responder.hear(live.notes, onset)
        live.feed([0x80, pitch, 0], onset + 0.22)
    responder.hear(live.notes, CALL[-1][1] + 0.22, final=True)
    return responder, live


def answer(responder, live, end: float):
    notes = live.take_phrase(end)
    return [(n.pitches, round(n.time - end, 9), n.velocity) for n in responder.answer(notes, end, end)]


@pytest.mark.parametrize("seed", range(5))
def test_rehearsing_changes_nothing_and_the_answer_begins_with_the_rehearsed_note(folder, seed):
    plain, plain_live = heard(folder, seed)
    rehearsed, live = heard(folder, seed)
    first = [rehearsed.rehearse_first(live.notes, 2.1) for _ in range(3)]  # as often as the player rests
    assert first[0] is not None and first[0] == first[1] == first[2]
    end = 2.3
    assert answer(rehearsed, live, end) == answer(plain, plain_live, end)  # the same answer, note for note
    assert rehearsed.keys.histogram.tolist() == plain.keys.histogram.tolist()
    again, again_live = heard(folder, seed)
    note = again.rehearse_first(again_live.notes, 2.1)
    first_answered = next(again.answer(again_live.take_phrase(end), end, end))
    assert (first_answered.pitches, first_answered.velocity) == (note.pitches, note.velocity)


def test_nothing_is_rehearsed_while_the_last_note_is_held(folder):
    responder, live = heard(folder, 0)
    live.feed([0x90, 69, 90], 2.0)  # one more note, held: its length (a token carries it) is open
    responder.hear(live.notes, 2.0)
    assert responder.rehearse_first(live.notes, 2.1) is None


def footswitch_call(delay: float) -> list:
    """CALL at 0.3 s, then the footswitch (CC 64) `delay` s after the last release, and up again later."""
    events = []
    for pitch, onset in CALL:
        events += [(0.3 + onset, [0x90, pitch, 90]), (0.3 + onset + 0.22, [0x80, pitch, 0])]
    press = 0.3 + CALL[-1][1] + 0.22 + delay
    return events + [(press, [0xB0, 64, 127]), (press + 1.5, [0xB0, 64, 0])]


@pytest.mark.parametrize("delay", [0.05, 0.0], ids=["pressed after the release", "pressed at the release"])
def test_the_footswitch_answer_starts_at_the_press(duet, tmp_path, delay):
    proc, session = duet("--io-process", "--silence-beats", "8")  # only the footswitch ends the phrase
    result = run_peer(tmp_path, {"events": footswitch_call(delay), "listen": 30.0, "quiet_after": 3.5})
    notes, stuck = notes_of(result["received"])
    assert not stuck and len(notes) >= 2, result["received"]
    press = next(t for t, m in result["sent"] if m[0] == 0xB0 and m[2] == 127)
    reaction = notes[0][0] - press
    # after the release the standby note is written in the press's own JACK cycle (1.33 ms): what is
    # left is the peer's two hops and its polls; at the release the engine starts the answer itself
    assert 0 < reaction < (0.004 if delay else 0.05), reaction
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)
