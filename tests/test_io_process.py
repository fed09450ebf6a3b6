"""`liveimpro duet --io-process`: the JACK MIDI ports in a real-time process of their own
(liveimpro/live/io_process.py), on real ports with tests/peer.py in a third process."""
from __future__ import annotations

import numpy as np
from duet_harness import BEAT, assert_valid_session, call_events, notes_of, run_peer, stop

UNTIL_QUIET = {"listen": 60.0, "quiet_after": 3.5}


def test_answer_arrives_in_tempo_with_every_note_released(duet, tmp_path):
    proc, session = duet("--io-process")
    result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    assert not stuck
    assert len(notes) >= 2, result["received"]
    next_bar = 0.3 + 12 * BEAT
    assert abs(notes[0][0] - next_bar) < 0.03, notes[0][0] - next_bar
    positions = np.array([(on - 0.3) / BEAT for on, _, _ in notes]) * 12
    assert np.all(np.abs(positions - np.round(positions)) * BEAT / 12 < 0.012), positions / 12
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)
