"""Melodies in and out of standard MIDI files.

Reading (liveimpro.midi.smf, bounded for damaged and hostile files: at most MAX_FILE_BYTES
bytes, MAX_NOTES notes, MAX_BEATS beats) merges every track and channel into one Melody
(it may be polyphonic); `read_midi_tracks` keeps the tracks apart. Times become beats
through the file's ticks_per_beat, so the tempo map does not change note positions; the
Melody's tempo is the first set_tempo (120 if there is none, or if it is outside
TEMPO_RANGE). Writing uses mido.

How note messages become notes:
- a note_on with velocity 0 is a note_off;
- at one tick, note_offs are applied before note_ons, so a note that ends
  exactly where the same key strikes again is not cut to nothing;
- a note_on for a key already sounding on that channel ends the sounding
  note there (one channel sounds a key once); a note_off with nothing to end
  is ignored; a note still sounding at the end of its track ends there;
- channel 10 (index 9) is General MIDI percussion, not pitches: dropped
  unless drums=True.

Writing makes a type 1 file, one track per named melody, each on its own
channel; the first track also carries tempo, time signature and key. Notes of
one track that overlap on the same key are cut where the later one starts,
the same rule reading applies, so what is written reads back the same.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mido

from ..errors import MidiFileError
from ..files import midi_file_error, read_limited
from ..melody import Melody, Note
from .smf import (
    MAX_BEATS,
    MAX_FILE_BYTES,
    MAX_NOTES,
    PERCUSSION_CHANNEL,
    SmfError,
    SmfFile,
    parse,
)

TICKS_PER_BEAT = 480  # divisible by 4 and 6: straight and triplet sixteenths are exact
TEMPO_RANGE = (10.0, 1000.0)  # beats per minute taken from a file; a tempo outside is ignored (120): a set_tempo
# can say 3.6 .. 60 million, and an answer placed in seconds at such a tempo lands beyond what a file can hold
MAX_DELTA_TICKS = 0x0FFFFFFF  # the longest gap between two events a MIDI file can hold


def _load(path) -> SmfFile:
    try:
        return parse(read_limited(path, MAX_FILE_BYTES))
    except SmfError as error:
        raise midi_file_error(path, str(error)) from None


def _track_notes(track, ticks_per_beat: int, drums: bool) -> list[Note]:
    """Pair the note events of one track into Notes, by the rules in the module docstring."""
    events = [e for e in track.notes if drums or e[2] != PERCUSSION_CHANNEL]  # (tick, is_on, channel, pitch, vel)
    events.sort(key=lambda e: (e[0], e[1]))  # stable: file order kept within a tick and kind

    notes, sounding = [], {}  # (channel, pitch) -> (start tick, velocity)

    def finish(key, end_tick):
        start, velocity = sounding.pop(key)
        if end_tick > start:  # a note with no length is dropped
            notes.append(Note(key[1], start / ticks_per_beat, (end_tick - start) / ticks_per_beat, velocity))

    for tick, is_on, channel, pitch, velocity in events:
        key = (channel, pitch)
        if key in sounding:
            finish(key, tick)
        if is_on:
            sounding[key] = (tick, velocity)
    for key in list(sounding):
        finish(key, track.end)
    return notes


def _meta(midi: SmfFile) -> dict:
    """Tempo, time signature and key from the first such events (by time, any track)."""
    found = {}
    for track in midi.tracks:
        for tick, kind, value in track.meta:
            if kind not in found or tick < found[kind][0]:
                found[kind] = (tick, value)
    meta = {}
    if "tempo" in found and TEMPO_RANGE[0] <= 60e6 / found["tempo"][1] <= TEMPO_RANGE[1]:
        meta["tempo"] = round(60e6 / found["tempo"][1], 6)
    if "time_signature" in found:
        meta["time_signature"] = found["time_signature"][1]
    if "key" in found:
        meta["key"] = found["key"][1]
    return meta


def _no_notes(path, midi: SmfFile) -> MidiFileError:
    drums = any(event[2] == PERCUSSION_CHANNEL for track in midi.tracks for event in track.notes)
    return midi_file_error(path, "no notes (only drums: channel 10 is percussion, not pitches)" if drums
                           else "no notes")


def read_midi_tracks(path, drums: bool = False) -> dict[str, Melody]:
    """One Melody per track that has notes, keyed by track name ("track N" when unnamed or repeated)."""
    midi = _load(path)
    meta = _meta(midi)
    melodies = {}
    for index, track in enumerate(midi.tracks):
        notes = _track_notes(track, midi.ticks_per_beat, drums)
        if not notes:
            continue
        name = (track.name or "").strip() or f"track {index}"
        if name in melodies:
            name = f"track {index}"
        melodies[name] = Melody(notes=tuple(notes), name=f"{Path(path).stem}/{name}", **meta)
    return melodies


def read_midi(path, drums: bool = False, need_notes: bool = False) -> Melody:
    """All note tracks of a MIDI file merged into one Melody, named after the file.
    need_notes: a file without notes raises MidiFileError (saying when it holds only drums)."""
    midi = _load(path)
    notes = [n for track in midi.tracks for n in _track_notes(track, midi.ticks_per_beat, drums)]
    if need_notes and not notes:
        raise _no_notes(path, midi)
    return Melody(notes=tuple(notes), name=Path(path).stem, **_meta(midi))


def _ticks(beats: float) -> int:
    return round(beats * TICKS_PER_BEAT)


def _tick_notes(notes) -> list[tuple[int, int, int, int]]:
    """Notes as (start, end, pitch, velocity) in ticks, at least one tick long; a note is cut where
    a later note of the same pitch starts, and dropped if that leaves it no length (of notes of one
    pitch starting together, the last in the melody's order is kept)."""
    by_pitch = defaultdict(list)
    for note in notes:
        start = _ticks(note.onset)
        by_pitch[note.pitch].append((start, max(_ticks(note.end), start + 1), note.pitch, note.velocity))
    kept = []
    for same in by_pitch.values():
        same.sort(key=lambda row: row[0])  # stable: melody order kept among equal starts
        for (start, end, pitch, velocity), following in zip(same, same[1:] + [None]):
            if following is not None and end > following[0]:
                end = following[0]
            if end > start:
                kept.append((start, end, pitch, velocity))
    return kept


def _midi_key(key: str | None) -> str | None:
    """'G major' -> 'G', 'E minor' -> 'Em'; None for keys a MIDI key signature cannot name."""
    if not key:
        return None
    tonic, _, mode = key.partition(" ")
    name = {"major": tonic, "minor": tonic + "m"}.get(mode)
    try:  # mido checks the name against the keys a key signature can hold
        return None if name is None else mido.MetaMessage("key_signature", key=name).key
    except ValueError:
        return None


def write_midi(path, tracks: dict[str, Melody] | Melody, tempo: float | None = None,
               channels: dict[str, int] | None = None) -> None:
    """Write melodies as a type 1 MIDI file, one track per name (a single Melody: one track "melody").

    tempo: quarter notes per minute; default the first melody's tempo.
    channels: track name -> MIDI channel 0..15; by default tracks take channels
    0, 1, 2, ... in order, skipping 9 (percussion).
    Time signature and key come from the first melody.
    """
    if isinstance(tracks, Melody):
        tracks = {"melody": tracks}
    if not tracks:
        raise ValueError("nothing to write: no tracks given")
    default_channels = [c for c in range(16) if c != PERCUSSION_CHANNEL]
    if len(tracks) > len(default_channels) and not channels:
        raise ValueError(f"at most {len(default_channels)} tracks without explicit channels, got {len(tracks)}")
    first = next(iter(tracks.values()))
    tempo = first.tempo if tempo is None else tempo
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0 beats per minute, got {tempo!r}")

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    for index, (name, melody) in enumerate(tracks.items()):
        channel = (channels or {}).get(name, default_channels[index % len(default_channels)])
        if not isinstance(channel, int) or not 0 <= channel <= 15:
            raise ValueError(f"channel must be in range 0..15, got {channel!r}")
        header = [mido.MetaMessage("track_name", name=name)]
        if index == 0:
            num, den = first.time_signature
            header.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
            header.append(mido.MetaMessage("time_signature", numerator=num, denominator=den))
            if _midi_key(first.key):
                header.append(mido.MetaMessage("key_signature", key=_midi_key(first.key)))
        events = []  # (tick, order, message): note_offs (0) before note_ons (1) at one tick
        for start, end, pitch, velocity in _tick_notes(melody.notes):
            events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
            events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack(header)
        now = 0
        for tick, _, message in events:
            if tick - now > MAX_DELTA_TICKS:  # mido would write it, as a file no reader accepts
                raise midi_file_error(path, f"cannot write: a gap of {(tick - now) / TICKS_PER_BEAT:.0f} beats, "
                                            f"more than a MIDI file can hold")
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    try:
        midi.save(path)
    except OSError as error:
        raise midi_file_error(path, f"cannot write ({error.strerror or error})") from None


__all__ = ["read_midi", "read_midi_tracks", "write_midi", "TICKS_PER_BEAT", "TEMPO_RANGE", "MAX_FILE_BYTES", "MAX_NOTES",
           "MAX_BEATS"]
