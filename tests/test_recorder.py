"""Session recording (a MIDI file complete after every phrase) and the piano-roll picture."""
from __future__ import annotations

import logging

import mido
import pytest

from liveimpro.live.recorder import SessionRecorder
from liveimpro.melody import melody_from_tuples
from liveimpro.pianoroll import plot_pianoroll

CALL = melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 2)], tempo=100, key="C major")
ANSWER = melody_from_tuples([(67, 0, 1), (65, 1, 1), (64, 2, 2)], tempo=100)


def read(path):
    midi = mido.MidiFile(path)
    names = [next(m.name for m in track if m.type == "track_name") for track in midi.tracks]
    tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
    notes = {}
    for name, track in zip(names, midi.tracks):
        tick, notes[name] = 0, []
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                notes[name].append((tick, message.note))
    return midi, names, tempos, notes


def test_the_file_is_complete_after_every_phrase(tmp_path):
    path = tmp_path / "session.mid"
    recorder = SessionRecorder(path, origin=1000.0)
    seconds_per_beat = 0.6  # 100 bpm
    recorder.add("call", CALL, start=1000.0)
    recorder.add("answer", ANSWER, start=1000.0 + 4 * seconds_per_beat)
    assert recorder.write()
    midi, names, tempos, notes = read(path)
    assert midi.type == 1 and names == ["call", "answer"]
    assert tempos == [mido.bpm2tempo(100)]
    assert notes["call"] == [(0, 60), (480, 62), (960, 64)]
    assert notes["answer"] == [(1920, 67), (2400, 65), (2880, 64)]

    recorder.add("call", CALL, start=1000.0 + 8 * seconds_per_beat)  # the second phrase
    assert recorder.write()
    _, names, _, notes = read(path)
    assert names == ["call", "answer"] and len(notes["call"]) == 6 and notes["call"][3] == (3840, 60)
    assert [p.name for p in tmp_path.iterdir()] == ["session.mid"]  # no temporary file left


def test_a_phrase_at_another_tempo_keeps_its_timing_in_seconds(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.mid", tempo=120, origin=0.0)
    recorder.add("call", melody_from_tuples([(60, 0, 1), (62, 1, 1)], tempo=60), start=1.0)
    assert [(n.onset, n.duration) for n in recorder.melodies()["call"].notes] == [(2.0, 2.0), (4.0, 2.0)]


def test_cut_ends_an_answer_stopped_by_barge_in(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.mid", origin=0.0)
    recorder.add("answer", ANSWER, start=0.0)  # notes at 0, 0.6, 1.2 s
    recorder.cut("answer", at=0.9)  # the player came back in
    notes = recorder.melodies()["answer"].notes
    assert [n.pitch for n in notes] == [67, 65]
    assert notes[1].end == pytest.approx(0.9 * 100 / 60)
    recorder.write()
    assert read(tmp_path / "s.mid")[3]["answer"] == [(0, 67), (480, 65)]


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


def test_unknown_track_is_refused(tmp_path):
    with pytest.raises(ValueError, match="track must be one of call, answer"):
        SessionRecorder(tmp_path / "s.mid").add("drums", CALL, start=0.0)


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
