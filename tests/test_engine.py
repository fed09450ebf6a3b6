"""The live engine on real JACK ports: `liveimpro duet` in one process, tests/peer.py in another
playing calls into "liveimpro in" and recording "liveimpro out" with timestamps (tests/duet_harness.py)."""
from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
from duet_harness import (
    BEAT,
    CALL,
    assert_valid_session,
    call_events,
    notes_of,
    run_peer,
    stop,
    wait_until_answering,
)


# The peer listens until the answer is over (every note released, then 2 s of quiet: four beats of
# rest inside an answer would be unusual), at most 60 s: a loaded machine answers later, and a
# fixed window would cut off its note-offs and count them as stuck.
UNTIL_QUIET = {"listen": 60.0, "quiet_after": 3.5}


def test_answer_arrives_in_tempo_with_every_note_released(duet, tmp_path, server_stall):
    proc, session = duet()
    result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    assert not stuck
    assert len(notes) >= 2
    # the call fills two bars and ends on a bar line (4.3 s); its end is known a beat of silence
    # later, so the answer comes in on the next bar line, as long as the call (2 bars)
    next_bar = 0.3 + 12 * BEAT
    stall = server_stall()  # a note the server delivered late is not the engine's (0 most runs)
    assert abs(notes[0][0] - next_bar) < 0.03 + stall
    assert notes[-1][1] < next_bar + 8 * BEAT + 0.1
    # in tempo: onsets fall on the call's grid of sixteenths and triplets (1/12 beat), from its first beat
    positions = np.array([(on - 0.3) / BEAT for on, _, _ in notes]) * 12
    assert np.all(np.abs(positions - np.round(positions)) * BEAT / 12 < 0.012 + stall), (positions / 12, stall)
    if len(notes) >= 3:  # the answer's beat against the call's: the slope of its onsets over their grid points
        slope = np.polyfit(np.round(positions), positions, 1)[0]
        print(f"the answer's beat is {100 * (slope - 1):+.2f} % of the call's over {len(notes)} notes")
    assert all(off > on for on, off, _ in notes)
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


def test_a_calls_pickup_lies_before_a_bar_line_of_the_session_file(duet, tmp_path, server_stall):
    """A call of a one-beat pickup and two bars of 4/4: in the session file its first bar line is
    the one after the pickup (read from the call), so a DAW shows the pickup in the bar before."""
    from liveimpro.midi.files import read_midi_tracks

    proc, session = duet()
    notes = [(55, 0, 1)] + [(pitch, onset + 1, length) for pitch, onset, length in CALL]
    result = run_peer(tmp_path, {"events": call_events(notes=notes), **UNTIL_QUIET})
    assert notes_of(result["received"])[0]
    code, err = stop(proc)
    assert code == 0, err
    call = read_midi_tracks(session, follow_tempo=False)["call"]  # beats: the file's quarter notes, as a DAW counts
    assert call.time_signature == (4, 4)
    onsets, stall = [n.onset for n in call.notes], server_stall() / BEAT  # in beats
    assert abs(onsets[1] % 4) < 0.01 or abs(onsets[1] % 4 - 4) < 0.01, onsets  # the downbeat on a bar line
    assert abs(onsets[1] - onsets[0] - 1) < 0.02 + stall, (onsets, stall)  # the pickup a beat before it


def test_player_barging_in_stops_the_answer_at_once(duet, tmp_path, server_stall):
    proc, session = duet("--length-ratio", "2")
    result = run_peer(tmp_path, {"events": call_events(), "barge_in_after": 0.3, **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    barge = next((t for t, m in result["sent"] if m[1] == 72 and m[0] == 0x90), None)
    assert barge is not None, f"no answer to barge in on: {result['received']}"
    assert not [s for s in stuck if s[0] < barge + 0.35]  # (the answer to the barge-in may still sound)
    before = [n for n in notes if n[0] < barge]
    assert before and all(off < barge + 0.015 + server_stall() for _, off, _ in before)  # released at once
    assert not [n for n in notes if barge < n[0] < barge + 0.35]  # nothing new until the barge-in phrase ends
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


def test_control_change_ends_the_phrase(duet, tmp_path):
    proc, _ = duet("--cc", "end=85", "--silence-beats", "8")  # silence alone would wait 2 s (the ceiling)
    events = call_events()
    press = 0.3 + 8 * BEAT
    events += [(press, [0xB0, 85, 127]), (press + 0.05, [0xB0, 85, 0])]
    result = run_peer(tmp_path, {"events": events, **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    assert not stuck and notes
    assert notes[0][0] - press < 0.05  # the answer starts right at the press, not after 2 s of silence
    assert stop(proc)[0] == 0


def test_answers_follow_the_daws_midi_clock(duet, tmp_path, server_stall):
    proc, _ = duet("--bars", "1", "--silence-beats", "8")
    bpm, start = 100.0, 0.3
    bar = 4 * 60.0 / bpm
    # the call fills the first bar (on the clock's beats); the answer must start on bar 2's line
    notes = [(60, 0, 1), (64, 1, 1), (67, 2, 1), (72, 3, 0.9)]
    events = call_events(start, 60.0 / bpm, notes)
    result = run_peer(tmp_path, {"events": events, "clock": {"bpm": bpm, "from": start, "until": start + 5 * bar},
                                 "listen": 5 * bar + 0.5})
    answer, stuck = notes_of(result["received"])
    assert not stuck and answer
    first = answer[0][0]
    assert abs(first - (start + bar)) < 0.02 + server_stall(), (first - start) / bar  # on the next bar line, after one bar
    ticks = (np.array([on for on, _, _ in answer]) - start) / (60.0 / bpm / 24)  # in clock ticks (1/24 beat)
    assert np.all(np.abs(ticks - np.round(ticks)) < 0.5)
    assert stop(proc)[0] == 0


def test_an_answer_follows_the_clocks_tempo_change_while_it_plays(duet, tmp_path, server_stall):
    proc, _ = duet("--bars", "1", "--silence-beats", "8", "--length-ratio", "4")
    bpm, start = 100.0, 0.3
    bar = 4 * 60.0 / bpm
    notes = [(60, 0, 1), (64, 1, 1), (67, 2, 1), (72, 3, 0.9)]
    change = start + 2 * bar  # a bar into the four-bar answer, the DAW goes from 100 to 120 bpm
    clock = {"bpm": bpm, "from": start, "until": start + 7 * bar, "change_at": change, "to_bpm": 120.0}
    result = run_peer(tmp_path, {"events": call_events(start, 60.0 / bpm, notes), "clock": clock,
                                 "listen": 7 * bar + 0.5})
    answer, stuck = notes_of(result["received"])
    assert not stuck and answer
    ticks = np.array([t for t, m in result["sent"] if m == [0xF8]])
    # from two beats after the change on (a tempo jump is read within two beats of ticks), the
    # answer onsets lie on ticks of the new tempo (every 20.8 ms; measured 0.5-2 ms off, the sender's
    # lateness and the peer's poll): one placed at the old tempo drifts off them by 20 % of each beat
    # (measured up to 9.4 ms, any distance from a tick alike: about 3 in 10 within 3 ms). Counted,
    # not the worst: a note the in-process sender sent late on a loaded machine (6.8 ms once in CI,
    # the lateness the I/O process removes) is not a note placed at the wrong tempo
    later = [on for on, _, _ in answer if on > change + 1.0]
    assert len(later) >= 6, (change, answer)
    signed = np.array([on - ticks[np.abs(ticks - on).argmin()] for on in later])
    # After a server stall the I/O process's timeline (JACK's smoothed time of a cycle) runs a few ms
    # off the peer's clock for a while (conftest's server_stall says why; CI: three onsets in a row
    # 3.0-3.7 ms off, in a test with a 17.6 ms XRun). Then each onset is measured from the answer's
    # own median offset, which moves the whole answer, not one note, and leaves notes placed at the
    # old tempo as spread across the grid as before. With no stall, from the ticks themselves
    reference = float(np.median(signed)) if server_stall() else 0.0
    off_ms = [round(abs(float(s) - reference) * 1e3, 1) for s in signed]
    near = sum(off < 3.0 for off in off_ms) / len(off_ms)
    assert near >= 0.8, f"answer onsets after the change, ms from the nearest tick less {reference}: {off_ms}"
    assert stop(proc)[0] == 0


def test_answers_to_a_clock_keep_to_the_bars_of_meter(duet, tmp_path, server_stall):
    """--meter 5/4: the clock's bars are 5 beats. Read from the call alone (two bars of 5/4), its
    bars would be 4/4 after a pickup of two beats and the answer 8 beats long, its cadence on beat 6;
    in the clock's bars it is two bars of 5/4 from the bar line, its cadence on the last bar line."""
    proc, _ = duet("--bars", "2", "--meter", "5/4", "--silence-beats", "8")
    bpm, start = 100.0, 0.3
    beat = 60.0 / bpm
    notes = [(60, 0, 1), (62, 1, 1), (64, 2, 1), (65, 3, 1), (67, 4, 1), (65, 5, 1), (64, 6, 1), (62, 7, 1),
             (60, 8, 1.9)]
    clock = {"bpm": bpm, "from": start, "until": start + 22 * beat}
    result = run_peer(tmp_path, {"events": call_events(start, beat, notes), "clock": clock, "listen": 22 * beat + 0.5})
    answer, stuck = notes_of(result["received"])
    assert not stuck and answer
    onsets = [round((on - start) / beat, 2) for on, _, _ in answer]
    # a stall moves the clock's ticks as the I/O process stamps them, and the answer placed on them
    # (conftest's server_stall; CI44: the cadence 30 ms early in a test with eight XRuns, up to 5.9 ms)
    near = 0.04 + server_stall() / beat
    assert abs(onsets[0] - 10) < near, onsets  # on the bar line after the call's two bars
    assert abs(onsets[-1] - 15) < near, onsets  # the cadence on the last bar line (read from the call: 16)
    assert (answer[-1][1] - start) / beat < 20 + near, onsets  # two bars: over by the next bar line
    assert stop(proc)[0] == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_an_answer_leaves_no_note_sounding(duet, tmp_path, signum):
    proc, session = duet("--length-ratio", "2")
    peer = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET}, background=True)
    wait_until_answering(proc, peer)
    time.sleep(1.0)  # mid-answer
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    out, _ = peer.communicate(timeout=30)
    notes, stuck = notes_of(json.loads(out)["received"])
    assert notes and not stuck
    assert_valid_session(session)


def test_output_port_vanishing_leaves_the_engine_running(duet, tmp_path):
    peer = run_peer(tmp_path, {"sink_port": "peer sink", "events": [], "listen": 30.0}, background=True)
    assert peer.stderr.readline().strip() == "ready"  # its virtual input exists: duet can connect to it
    proc, session = duet("--out", "peer sink", "--length-ratio", "4")
    player = run_peer(tmp_path, {"sink_port": "peer spare", "events": call_events(), "listen": 5.5}, background=True)
    assert player.stderr.readline().strip() == "ready"
    wait_until_answering(proc, player)
    time.sleep(1.0)  # the answer is playing into "peer sink"
    peer.kill()
    peer.wait()
    player.communicate(timeout=30)
    time.sleep(0.5)
    assert proc.poll() is None  # still running without its output port
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


def test_exception_in_the_engine_releases_every_note(jack_server, tmp_path):
    from liveimpro.cli.options import DEFAULT_MODEL
    from liveimpro.live.engine import Engine, EngineConfig
    from liveimpro.live.recorder import SessionRecorder
    from liveimpro.live.sinks import MidiPortSink
    from liveimpro.lstm.improviser import Improviser
    from liveimpro.midi.ports import close_client, open_input
    from liveimpro.midi.reader import PortReader
    from liveimpro.music.responder import Responder

    class FailingResponder(Responder):
        """The model fails while the answer's third note is sampled."""

        def answer(self, *args, **kwargs):
            notes = super().answer(*args, **kwargs)

            def failing():
                for index, note in enumerate(notes):
                    if index == 2:
                        raise RuntimeError("the model failed")
                    yield note
            return failing()

    responder = FailingResponder(Improviser.load(DEFAULT_MODEL, np.random.default_rng(1)))
    sink = MidiPortSink.open(None, api="jack")
    session = tmp_path / "session.mid"
    engine = Engine(responder, sink, EngineConfig(), SessionRecorder(session)).start()
    midi_in = open_input(None, api="jack")
    reader = PortReader(midi_in, engine.on_midi).start()
    try:
        result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})
    finally:
        reader.stop()
        close_client(midi_in)
        engine.stop()
        sink.close()
    assert isinstance(engine.error, RuntimeError)
    notes, stuck = notes_of(result["received"])
    assert 1 <= len(notes) <= 2 and not stuck  # what was played before the failure was released
    assert_valid_session(session)


def test_a_lost_note_off_does_not_keep_the_engine_from_answering(duet, tmp_path):
    proc, _ = duet()
    events = call_events()[:-1]  # the last note's note-off never comes
    result = run_peer(tmp_path, {"events": events, **UNTIL_QUIET})
    notes, _ = notes_of(result["received"])
    from liveimpro.live.engine import HELD_KEY_TIMEOUT
    last_onset = max(t for t, m in events if m[0] == 0x90)
    assert notes and notes[0][0] > last_onset + HELD_KEY_TIMEOUT  # answered once the key counts as released
    assert stop(proc)[0] == 0


@pytest.mark.parametrize("mode", ["vary", "morph"])
def test_vae_modes_answer_through_the_same_engine(duet, tmp_path, mode):
    proc, session = duet("--mode", mode)
    second = [(67, 0, 1), (65, 1, 1), (64, 2, 0.5), (62, 2.5, 0.5), (60, 3, 1), (62, 4, 2), (60, 6, 2)]
    events = call_events() + call_events(start=10.3, notes=second)  # morph answers the second from the first
    result = run_peer(tmp_path, {"events": events, **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    assert not stuck
    first_answer = [n for n in notes if 4.3 < n[0] < 10.3]
    second_answer = [n for n in notes if n[0] > 14.3]
    assert first_answer and second_answer
    assert all(off > on for on, off, _ in notes)
    assert stop(proc)[0] == 0
    assert_valid_session(session, min_phrases=2)
