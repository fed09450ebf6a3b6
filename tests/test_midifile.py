"""MIDI files: round trips, hand-made multi-track files, damaged files."""
import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.errors import MidiFileError
from liveimpro.melody import Melody, Note, melody_from_tuples
from liveimpro.midi.files import TICKS_PER_BEAT, read_midi, read_midi_tracks, write_midi

TICK = 1 / TICKS_PER_BEAT


def notes_strategy(max_notes=40):
    """Notes on the tick grid (so they survive the file exactly), overlapping freely."""
    note = st.builds(lambda p, start, length, v: Note(p, start * TICK, length * TICK, v),
                     st.integers(0, 127), st.integers(0, 16 * TICKS_PER_BEAT),
                     st.integers(1, 4 * TICKS_PER_BEAT), st.integers(1, 127))
    return st.lists(note, max_size=max_notes)


def same_key_separated(notes):
    """What a MIDI channel can hold: a note is cut where a later note of its pitch starts."""
    kept = []
    for note in sorted(notes, key=lambda n: (n.pitch, n.onset)):
        if kept and kept[-1].pitch == note.pitch and kept[-1].end > note.onset:
            previous = kept.pop()
            if note.onset > previous.onset:
                kept.append(Note(previous.pitch, previous.onset, note.onset - previous.onset, previous.velocity))
        kept.append(note)
    return sorted(kept, key=lambda n: (n.onset, n.pitch))


def close(a: Note, b: Note) -> bool:
    return (a.pitch, a.velocity) == (b.pitch, b.velocity) and abs(a.onset - b.onset) < 1e-9 \
        and abs(a.duration - b.duration) < 1e-9


@settings(max_examples=60, deadline=None)
@given(notes=notes_strategy(), tempo=st.integers(30, 300), ts=st.sampled_from([(4, 4), (3, 4), (6, 8), (5, 16)]))
def test_round_trip_single_track(tmp_path_factory, notes, tempo, ts):
    path = tmp_path_factory.mktemp("rt") / "m.mid"
    melody = Melody(notes=tuple(notes), tempo=float(tempo), time_signature=ts, key="Eb major")
    write_midi(path, melody)
    back = read_midi(path)
    expected = same_key_separated(notes)
    assert len(back.notes) == len(expected)
    assert all(close(a, b) for a, b in zip(sorted(back.notes, key=lambda n: (n.onset, n.pitch, n.duration)),
                                           sorted(expected, key=lambda n: (n.onset, n.pitch, n.duration))))
    assert back.tempo == pytest.approx(tempo, abs=1e-3)
    assert back.time_signature == ts
    assert back.key == "Eb major"


@settings(max_examples=30, deadline=None)
@given(call=notes_strategy(20), answer=notes_strategy(20))
def test_round_trip_two_named_tracks(tmp_path_factory, call, answer):
    path = tmp_path_factory.mktemp("rt") / "session.mid"
    write_midi(path, {"call": Melody(notes=tuple(call)), "answer": Melody(notes=tuple(answer))}, tempo=97.0)
    midi = mido.MidiFile(path)
    assert midi.type == 1 and [t.name for t in midi.tracks] == ["call", "answer"]
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks]
    assert channels[0] <= {0} and channels[1] <= {1}
    tracks = read_midi_tracks(path)
    for name, notes in (("call", call), ("answer", answer)):
        expected = same_key_separated(notes)
        got = tracks[name].notes if name in tracks else ()
        assert len(got) == len(expected)
    merged = read_midi(path)
    assert len(merged) == len(same_key_separated(call)) + len(same_key_separated(answer))
    assert merged.tempo == pytest.approx(97.0, abs=1e-3)


def test_explicit_channels_and_bad_channel(tmp_path):
    melody = melody_from_tuples([(60, 0, 1)])
    write_midi(tmp_path / "a.mid", {"call": melody, "answer": melody}, channels={"call": 3, "answer": 9})
    midi = mido.MidiFile(tmp_path / "a.mid")
    assert [m.channel for t in midi.tracks for m in t if m.type == "note_on"] == [3, 9]
    assert len(read_midi(tmp_path / "a.mid")) == 1  # channel 10 is percussion: not pitches
    assert len(read_midi(tmp_path / "a.mid", drums=True)) == 2
    with pytest.raises(ValueError, match="channel must be in range 0..15"):
        write_midi(tmp_path / "b.mid", melody, channels={"melody": 16})


def test_hand_made_multitrack_file(tmp_path):
    """A type 1 file as a sequencer writes it: conductor track, running note_on velocity 0 as note-off,
    a retriggered key, a hanging note, meta messages in the first track only."""
    tpb = 96
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = mido.MidiTrack([
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("key_signature", key="Em", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=4 * tpb),  # later change: followed
    ])
    melody = mido.MidiTrack([
        mido.MetaMessage("track_name", name="flute"),
        mido.Message("note_on", note=64, velocity=100, time=0),
        mido.Message("note_on", note=64, velocity=0, time=tpb),  # velocity 0 = note-off
        mido.Message("note_on", note=67, velocity=90, time=0),
        mido.Message("note_on", note=67, velocity=70, time=tpb // 2),  # same key again: first one ends
        mido.Message("note_off", note=67, velocity=0, time=tpb // 2),
        mido.Message("note_off", note=67, velocity=0, time=0),  # nothing left to end: ignored
        mido.Message("program_change", program=73, time=0),
    ])
    bass = mido.MidiTrack([
        mido.Message("note_on", channel=1, note=40, velocity=60, time=tpb * 2),
        mido.Message("note_off", channel=1, note=40, velocity=0, time=tpb * 2),
        mido.Message("note_on", channel=1, note=43, velocity=60, time=0),  # never ended: ends with the track
        mido.MetaMessage("end_of_track", time=tpb),
    ])
    drums = mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                            mido.Message("note_off", channel=9, note=36, time=tpb)])
    midi.tracks.extend([conductor, melody, bass, drums])
    midi.save(tmp_path / "song.mid")

    song = read_midi(tmp_path / "song.mid")
    assert song.tempo == pytest.approx(90)
    assert song.time_signature == (3, 4)
    assert song.key == "E minor"
    expected = [(64, 0.0, 1.0, 100), (67, 1.0, 0.5, 90), (67, 1.5, 0.5, 70), (40, 2.0, 2.0, 60), (43, 4.0, 1.0, 60)]
    assert [(n.pitch, n.onset, n.duration, n.velocity) for n in read_midi(tmp_path / "song.mid", follow_tempo=False)
            ] == expected
    # followed, the last note's beat at 150 bpm lasts 0.4 s: 0.6 beats of the Melody's 90 bpm
    assert [(n.pitch, n.onset, round(n.duration, 6), n.velocity) for n in song.notes] == expected[:4] + [
        (43, 4.0, 0.6, 60)]
    assert set(read_midi_tracks(tmp_path / "song.mid")) == {"flute", "track 2"}


def test_empty_track_file_gives_empty_melody(tmp_path):
    midi = mido.MidiFile(type=1)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100))]))
    midi.save(tmp_path / "empty.mid")
    melody = read_midi(tmp_path / "empty.mid")
    assert len(melody) == 0 and melody.tempo == pytest.approx(100)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a MIDI file"),
    (b"X:1\nT:an ABC tune\nK:C\nCDEF|\n", "not a MIDI file"),
    (b"MThd\x00\x00", "truncated"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\x00\x90\x3c\xff\x00\xff\x2f\x00",
     "not a readable MIDI file"),  # velocity byte 255
])
def test_bad_files_raise_midi_file_error(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(MidiFileError, match=reason) as error:
        read_midi(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_and_corrupted_files(tmp_path):
    good = tmp_path / "good.mid"
    write_midi(good, melody_from_tuples([(60 + i % 12, i * 0.5, 0.5) for i in range(50)]))
    data = good.read_bytes()
    for name, damaged in [("cut.mid", data[: len(data) // 2]), ("header.mid", data[:10]),
                          ("bytes.mid", data[:40] + b"\xff\xff\xff\xff" + data[44:])]:
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(MidiFileError) as error:
            read_midi(tmp_path / name)
        assert name in str(error.value)
    with pytest.raises(MidiFileError, match="no such file"):
        read_midi(tmp_path / "missing.mid")
    with pytest.raises(MidiFileError, match="folder"):
        read_midi(tmp_path)


def map_seconds(changes, beat):
    """Seconds at `beat` under [(beat, bpm)] tempo changes (the first at beat 0)."""
    seconds = 0.0
    for (start, bpm), following in zip(changes, changes[1:] + [(float("inf"), None)]):
        seconds += (min(beat, following[0]) - start) * 60 / bpm
        if beat <= following[0]:
            return seconds
    return seconds


@settings(max_examples=40, deadline=None)
@given(notes=notes_strategy(30), first=st.integers(30, 300),
       changes=st.lists(st.tuples(st.integers(1, 16 * 8), st.integers(30, 300)), max_size=6, unique_by=lambda c: c[0]))
def test_tempo_map_round_trip(tmp_path_factory, notes, first, changes):
    """What write_midi's tempo map says, read_midi plays: every note at its second (its beats at the
    first tempo), and its beats unchanged with follow_tempo=False."""
    path = tmp_path_factory.mktemp("map") / "m.mid"
    tempo_map = [(0.0, float(first))] + sorted((eighth / 8, float(bpm)) for eighth, bpm in changes)
    written = Melody(notes=tuple(notes), key="D minor")
    write_midi(path, {"call": written}, tempo_map=tempo_map, time_signature=[(0, (3, 4)), (6, (5, 8))])
    midi = mido.MidiFile(path)
    tick, found = 0, []
    for message in midi.tracks[0]:
        tick += message.time
        if message.type in ("set_tempo", "time_signature"):
            found.append((tick / TICKS_PER_BEAT, message.type, message.tempo
                          if message.type == "set_tempo" else (message.numerator, message.denominator)))
    assert [f for f in found if f[1] == "set_tempo"] == [(b, "set_tempo", mido.bpm2tempo(bpm)) for b, bpm in tempo_map]
    as_written = [(b, 60e6 / mido.bpm2tempo(bpm)) for b, bpm in tempo_map]  # whole microseconds per beat
    assert [f[::2] for f in found if f[1] == "time_signature"] == [(0, (3, 4)), (6, (5, 8))]

    expected = same_key_separated(notes)
    back = read_midi(path)
    assert back.tempo == pytest.approx(first, abs=1e-3) and back.time_signature == (3, 4) and back.key == "D minor"
    key = lambda n: (n.onset, n.pitch, n.duration)  # noqa: E731
    beat = mido.bpm2tempo(first) / 1e6  # seconds per beat of the Melody (its tempo, unrounded)
    for got, want in zip(sorted(back.notes, key=key), sorted(expected, key=key)):
        assert got.pitch == want.pitch
        assert got.onset * beat == pytest.approx(map_seconds(as_written, want.onset), abs=1e-9)
        assert got.end * beat == pytest.approx(map_seconds(as_written, want.end), abs=1e-9)
    assert len(back.notes) == len(expected)
    assert all(close(a, b) for a, b in zip(sorted(read_midi(path, follow_tempo=False).notes, key=key),
                                           sorted(expected, key=key)))
    track = read_midi_tracks(path).get("call", Melody())  # read_midi_tracks the same way
    assert sorted(track.notes, key=key) == sorted(back.notes, key=key)


def test_mido_and_read_midi_agree_on_a_file_with_tempo_changes(tmp_path):
    """Seconds as mido plays the file; tempi outside TEMPO_RANGE are ignored, as for the first tempo."""
    path = tmp_path / "m.mid"
    melody = melody_from_tuples([(60 + i % 12, i * 0.75, 0.5) for i in range(40)])
    write_midi(path, melody, tempo_map=[(0, 96), (4, 132), (9.5, 61), (20, 180)], ticks_per_beat=960)
    now, onsets = 0.0, []
    for message in mido.MidiFile(path):
        now += message.time
        if message.type == "note_on" and message.velocity:
            onsets.append(now)
    back = read_midi(path)
    assert [n.onset * 60 / back.tempo for n in back.notes] == pytest.approx(onsets, abs=1e-9)

    midi = mido.MidiFile(path)
    midi.tracks[0].insert(3, mido.MetaMessage("set_tempo", tempo=60_000_000 // 5))  # 5 bpm, at beat 0: ignored
    midi.save(path)
    assert [n.onset * 60 / read_midi(path).tempo for n in read_midi(path).notes] == pytest.approx(onsets, abs=1e-9)


def test_tempo_changes_that_stretch_a_file_past_max_beats_are_refused(tmp_path):
    midi = mido.MidiFile(type=1, ticks_per_beat=1)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(1000)),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(10), time=1),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, time=2000)]))  # 2000 beats at 10 bpm: 200,000 beats at 1000
    midi.save(tmp_path / "long.mid")
    with pytest.raises(MidiFileError, match="too long"):
        read_midi(tmp_path / "long.mid")
    assert read_midi(tmp_path / "long.mid", follow_tempo=False).end == 2001
