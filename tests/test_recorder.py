"""Session recording (a MIDI file complete after every phrase, with a tempo map and a meter); the piano roll."""
from __future__ import annotations

import logging

import mido
import pytest

from liveimpro.live.recorder import SessionRecorder
from liveimpro.melody import Melody, Note, melody_from_tuples
from liveimpro.midi.files import read_midi, read_midi_tracks
from liveimpro.pianoroll import plot_pianoroll

CALL = melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 2)], tempo=100, key="C major")
ANSWER = melody_from_tuples([(67, 0, 1), (65, 1, 1), (64, 2, 2)], tempo=100)
ORIGIN = 1000.0  # perf_counter time of the file's 0
MS = 1e-3


def played(recorder, track, bpm, downbeat, beats, jitter=None, length=0.5, pitch=60):
    """A phrase as the engine hands it over: notes on the phrase's beats (plus `jitter` seconds), in
    seconds (a 60 bpm melody from the first onset). Returns [(track, pitch, onset, end)], seconds from ORIGIN."""
    period = 60 / bpm
    onsets = [downbeat + b * period + (jitter[i] if jitter else 0.0) for i, b in enumerate(beats)]
    first = min(onsets)
    notes = [Note(pitch + i, t - first, length * period, 80) for i, t in enumerate(onsets)]
    recorder.add(track, Melody(tuple(notes), tempo=60.0), first, bpm=bpm, downbeat=downbeat)
    return [(track, pitch + i, t - ORIGIN, t + length * period - ORIGIN) for i, t in enumerate(onsets)]


def mido_notes(path):
    """[(track, pitch, onset s, end s)] as mido plays the file (its own tempo-map arithmetic)."""
    now, sounding, notes = 0.0, {}, []
    for message in mido.MidiFile(path):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding[(message.channel, message.note)] = now
        elif message.type in ("note_on", "note_off") and (message.channel, message.note) in sounding:
            start = sounding.pop((message.channel, message.note))
            notes.append((("call", "answer")[message.channel], message.note, start, now))
    return sorted(notes, key=lambda n: (n[0], n[2]))


def liveimpro_notes(path):
    """The same through liveimpro's reader: beats of the Melody's tempo, turned into seconds."""
    return sorted(((track, n.pitch, n.onset * 60 / m.tempo, n.end * 60 / m.tempo)
                   for track, m in read_midi_tracks(path).items() for n in m.notes), key=lambda n: (n[0], n[2]))


def conductor(path):
    """The file's tempo map as [(seconds, bpm)] and its bar lines in seconds (from its time signatures)."""
    midi = mido.MidiFile(path)
    tick, tempos, signatures = 0, [], []
    for message in midi.tracks[0]:
        tick += message.time
        if message.type == "set_tempo":
            tempos.append((tick, message.tempo))
        elif message.type == "time_signature":
            signatures.append((tick, message.numerator, message.denominator))
    end = max(sum(m.time for m in track) for track in midi.tracks)

    def seconds(at):
        total, (last, us) = 0.0, tempos[0]
        for change, following in tempos[1:]:
            if change > at:
                break
            total, last, us = total + (change - last) * us / 1e6 / midi.ticks_per_beat, change, following
        return total + (at - last) * us / 1e6 / midi.ticks_per_beat

    bars = []
    for (start, num, den), following in zip(signatures, signatures[1:] + [(end + 1, 0, 0)]):
        bar, at = round(midi.ticks_per_beat * num * 4 / den), start
        while at < following[0]:
            bars.append(seconds(at))
            at += bar
    return [(seconds(t), mido.tempo2bpm(us)) for t, us in tempos], bars, signatures


def assert_same_times(got, expected):
    assert [(n[0], n[1]) for n in got] == [(n[0], n[1]) for n in expected]
    worst = max(max(abs(g[2] - e[2]), abs(g[3] - e[3])) for g, e in zip(got, expected))
    assert worst < 1 * MS, worst
    return worst


def test_phrases_at_100_80_and_132_bpm_keep_their_seconds_their_tempi_and_their_bar_lines(tmp_path):
    path = tmp_path / "session.mid"
    recorder = SessionRecorder(path, origin=ORIGIN)
    expected = []

    def check(new_sections):
        assert recorder.write()  # written after every phrase: complete each time
        want = sorted(expected, key=lambda n: (n[0], n[2]))
        assert_same_times(mido_notes(path), want)
        assert_same_times(liveimpro_notes(path), want)
        tempos, bars, _ = conductor(path)
        for downbeat, bpm in new_sections:  # a set_tempo where each phrase began, at its tempo ...
            assert any(abs(t - downbeat) < MS and bpm == pytest.approx(b, rel=1e-5) for t, b in tempos), \
                (downbeat, bpm, tempos)
            for k in range(2):  # ... and the file's bar lines where the phrase's fell: its downbeat and the next
                assert min(abs(bar - (downbeat + k * 4 * 60 / bpm)) for bar in bars) < MS, (downbeat, k)
        return tempos, bars

    # a call at 100 bpm, played a little unevenly, its first note a little early (before its beat line)
    d1 = 3.37
    expected += played(recorder, "call", 100, ORIGIN + d1, [0, 1, 1.5, 2, 3, 4.5, 6, 7],
                       jitter=[-0.03, 0.012, -0.007, 0.02, 0.0, -0.011, 0.004, 0.009])
    check([(d1, 100)])
    # the answer at 80 bpm (a DAW's clock), on the clock's bar line, nowhere on the call's grid
    d2 = d1 + 8 * 0.6 + 0.913
    expected += played(recorder, "answer", 80, ORIGIN + d2, [0, 0.5, 1, 2, 3, 3.5, 5, 6, 7], length=0.45, pitch=70)
    check([(d1, 100), (d2, 80)])
    # a call at 132 bpm after a long pause
    d3 = d2 + 8 * 0.75 + 4.281
    expected += played(recorder, "call", 132, ORIGIN + d3, [0, 1, 2, 2.5, 3, 4, 6, 7],
                       jitter=[-0.02, 0.01, 0.0, -0.005, 0.013, 0.0, -0.008, 0.0], pitch=50)
    # its answer without a clock: the call's tempo, from the call's beat 9 (not a bar line): the call's bars go on
    d4 = d3 + 9 * 60 / 132
    expected += played(recorder, "answer", 132, ORIGIN + d4, [0, 1, 2, 3, 4, 5, 6, 7], pitch=74)
    tempos, bars = check([(d1, 100), (d2, 80), (d3, 132)])
    assert not any(abs(t - d4) < 0.05 for t, _ in tempos)  # no tempo change where the answer began
    assert min(abs(bar - (d3 + 8 * 60 / 132)) for bar in bars) < MS  # the call's third bar line, in the answer

    # the player barges in: the answer is cut there, the new call (100 bpm) counted from the beat before
    barge = d4 + 5.2 * 60 / 132
    recorder.cut("answer", ORIGIN + barge)
    expected = [(t, p, on, min(end, barge)) for t, p, on, end in expected if t != "answer" or on < barge]
    d5 = barge - 0.21
    expected += played(recorder, "call", 100, ORIGIN + d5, [0.35, 1, 2, 3, 4], pitch=62)
    tempos, _ = check([(d1, 100), (d2, 80), (d3, 132), (d5, 100)])

    # the silences are bridged by tempi near the phrases' own, never a wild one
    assert all(40 < bpm < 270 for _, bpm in tempos), tempos
    _, _, signatures = conductor(path)
    assert signatures[0] == (0, 4, 4)  # the meter
    assert read_midi(path).time_signature == (4, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["session.mid"]  # no temporary file left


@pytest.mark.parametrize("meter, bar_beats", [((3, 4), 3), ("6/8", 3), ((4, 4), 4), ((7, 8), 3.5), ((5, 4), 5)])
def test_the_meter_is_written_and_bar_lines_follow_it(tmp_path, meter, bar_beats):
    path = tmp_path / "s.mid"
    recorder = SessionRecorder(path, origin=ORIGIN, meter=meter)
    expected, downbeats, at = [], [], 2.9
    for index, bpm in enumerate([90, 120, 72, 100]):
        downbeats.append((at, bpm))
        expected += played(recorder, ("call", "answer")[index % 2], bpm, ORIGIN + at, [0, 1, 2, 3, 5], pitch=60 + index)
        at += 6 * 60 / bpm + 0.37 + 0.61 * index
    assert recorder.write()
    assert_same_times(mido_notes(path), sorted(expected, key=lambda n: (n[0], n[2])))
    _, bars, signatures = conductor(path)
    num, den = (6, 8) if meter == "6/8" else meter
    assert signatures[0] == (0, num, den) and signatures[-1][1:] == (num, den)
    assert all(d == max(den, 4) for _, _, d in signatures[1:-1])  # shortened bars: N/4 (or N/8 in 6/8)
    for downbeat, bpm in downbeats:
        for k in range(2):
            assert min(abs(bar - (downbeat + k * bar_beats * 60 / bpm)) for bar in bars) < MS
    assert read_midi(path).time_signature == (num, den)


@pytest.mark.parametrize("meter", ["6/8", "3/4", "7/8"])
def test_duet_meter_sets_the_clocks_bars_and_the_session_files_time_signature(tmp_path, monkeypatch, meter):
    """`duet --meter N/D --bars 2`: the engine's clock, its phrase detector and the recorder all take
    the meter (no port opened: the sink and the connections are stand-ins), and the file carries it."""
    import signal

    from liveimpro.cli import main
    from liveimpro.cli import duet as duet_cli
    from liveimpro.live import sinks
    from liveimpro.midi import ports, reconnect

    class NoConnections:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            pass

        def stop(self):
            pass

    engines = []
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # duet's handlers stay out of the test process
    monkeypatch.setattr(ports, "choose_api", lambda api: "jack")
    monkeypatch.setattr(sinks.MidiPortSink, "open", staticmethod(lambda *args, **kwargs: sinks.MemorySink()))
    monkeypatch.setattr(reconnect, "Connections", NoConnections)
    monkeypatch.setattr(duet_cli, "show_status", lambda engine, stop, link=None, say=None: engines.append(engine))
    path = tmp_path / "session.mid"
    # the threads' path, whose ports the stand-ins replace (duet's default would start the I/O process)
    assert main(["duet", "--io-process", "none", "--meter", meter, "--bars", "2", "--record", str(path),
                 "--seed", "1"]) == 0
    (engine,) = engines
    num, den = (int(part) for part in meter.split("/"))
    assert engine.config.meter == engine.clock.time_signature == (num, den)
    assert engine.detector.clock is engine.clock and engine.detector.bars == 2
    assert engine.detector.pickup_window == engine.clock.pickup_beats
    recorder = engine.answer.recorder
    assert recorder.meter == (num, den) and recorder.path == path
    recorder.add("call", CALL, start=recorder.origin + 1.0)
    assert recorder.write()
    assert conductor(path)[2][0] == (0, num, den)
    assert read_midi(path).time_signature == (num, den)


def test_a_phrase_keeps_its_timing_in_seconds_and_the_file_its_tempo(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.mid", origin=0.0)
    recorder.add("call", melody_from_tuples([(60, 0, 1), (62, 1, 1)], tempo=60), start=0.0, bpm=120)
    call = recorder.melodies()["call"]  # the file's beats at its tempo: 120, as played (beats of 1 s: 2 beats)
    assert call.tempo == pytest.approx(120) and [(n.onset, n.duration) for n in call.notes] == [(0.0, 2.0), (2.0, 2.0)]


def test_cut_ends_an_answer_stopped_by_barge_in(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.mid", origin=0.0)
    recorder.add("answer", ANSWER, start=0.0)  # notes at 0, 0.6, 1.2 s
    recorder.cut("answer", at=0.9)  # the player came back in
    notes = recorder.melodies()["answer"].notes
    assert [n.pitch for n in notes] == [67, 65]
    assert notes[1].end == pytest.approx(0.9 * 100 / 60, abs=1e-3)
    assert recorder.write()
    assert [(n[1], round(n[2], 4), round(n[3], 4)) for n in mido_notes(tmp_path / "s.mid")] == [
        (67, 0.0, 0.6), (65, 0.6, 0.9)]


def test_an_unwritable_path_warns_once_and_the_session_goes_on(tmp_path, caplog):
    recorder = SessionRecorder(tmp_path / "no-such-dir" / "session.mid")
    recorder.add("call", CALL, start=recorder.origin)
    with caplog.at_level(logging.WARNING, logger="liveimpro.live.recorder"):
        assert recorder.write() is False
        recorder.add("answer", ANSWER, start=recorder.origin + 3)
        assert recorder.write() is False
    assert len(caplog.records) == 1
    assert "cannot record the session" in caplog.records[0].getMessage()
    assert "no-such-dir" in recorder.problem


def test_unknown_track_and_bad_meter_are_refused(tmp_path):
    with pytest.raises(ValueError, match="track must be one of call, answer"):
        SessionRecorder(tmp_path / "s.mid").add("drums", CALL, start=0.0)
    with pytest.raises(ValueError, match="meter must be"):
        SessionRecorder(tmp_path / "s.mid", meter="4/3")


def test_pianoroll_writes_a_png(tmp_path):
    path = tmp_path / "roll.png"
    plot_pianoroll({"call": CALL, "answer": ANSWER.shift(CALL.end)}, path, title="call and answer")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_pianoroll_of_nothing_is_an_empty_grid(tmp_path):
    path = tmp_path / "empty.png"
    plot_pianoroll({"call": melody_from_tuples([])}, path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_atomic_write_leaves_no_temporary_file_when_writing_fails(tmp_path):
    from liveimpro.files import atomic_write

    def fail(path):
        path.write_text("half a file")
        raise OSError(28, "No space left on device")

    target = tmp_path / "session.mid"
    target.write_text("the previous session")
    try:
        atomic_write(target, fail)
    except OSError:
        pass
    assert target.read_text() == "the previous session" and [p.name for p in tmp_path.iterdir()] == ["session.mid"]


@pytest.mark.parametrize("meter", [(4, 4), (3, 4)])
def test_a_pickup_lies_on_the_beats_before_its_downbeats_bar_line(tmp_path, meter):
    """A call with a one-beat pickup, first in the file and again after an answer at another tempo:
    both times the downbeat is a bar line and the pickup a beat before it, at the call's tempo
    (its notes keep their seconds)."""
    path = tmp_path / "pickup.mid"
    recorder = SessionRecorder(path, origin=ORIGIN, meter=meter)
    beats = [-1, 0, 1, 2, 3]  # the pickup, then the downbeat
    expected = played(recorder, "call", 100, ORIGIN + 3.7, beats)
    expected += played(recorder, "answer", 100, ORIGIN + 3.7 + 7 * 0.6, [0, 1, 2, 3], pitch=70)
    expected += played(recorder, "call", 90, ORIGIN + 13.1, beats, pitch=50)
    assert recorder.write()
    assert_same_times(mido_notes(path), sorted(expected, key=lambda n: (n[0], n[2])))
    _, bars, _ = conductor(path)
    beats = [n.onset for n in read_midi_tracks(path, follow_tempo=False)["call"].notes]  # the file's quarter notes
    seconds = [n[2] for n in sorted(expected, key=lambda n: (n[0], n[2])) if n[0] == "call"]
    for pickup, downbeat in ((0, 1), (5, 6)):
        assert beats[downbeat] - beats[pickup] == pytest.approx(1.0, abs=1e-3)
        assert min(abs(line - seconds[downbeat]) for line in bars) < MS, (seconds, bars)
        assert min(abs(line - seconds[pickup]) for line in bars) > 0.1, (seconds, bars)
