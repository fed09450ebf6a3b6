"""Melodies in and out of standard MIDI files.

Reading (liveimpro.midi.smf, bounded for damaged and hostile files: at most MAX_FILE_BYTES
bytes, MAX_NOTES notes, MAX_BEATS beats) merges every track and channel into one Melody
(it may be polyphonic); `read_midi_tracks` keeps the tracks apart. The Melody's tempo is the
first set_tempo (120 if there is none, or if it is outside TEMPO_RANGE), and its beats are
the file's seconds at that tempo: a file with tempo changes reads seconds-accurately (beat x
of the Melody sounds at x * 60 / tempo s, as a sequencer plays it). The first tempo holds from
the file's start; set_tempo events outside TEMPO_RANGE are ignored. follow_tempo=False keeps
the file's own beats (ticks / ticks_per_beat) instead, whatever the tempo changes; a file
with one tempo reads the same both ways. Writing uses mido.

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
channel; the first track also carries tempo, time signature and key, or a tempo
map ((beat, bpm) changes) and time signature changes. Notes of one track that
overlap on the same key are cut where the later one starts, the same rule reading
applies, so what is written reads back the same.
"""
from __future__ import annotations

from bisect import bisect_right
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


def _in_range(microseconds: int) -> bool:
    return TEMPO_RANGE[0] <= 60e6 / microseconds <= TEMPO_RANGE[1]


def _beats_of(midi: SmfFile, follow_tempo: bool):
    """tick -> beat of the Melody: seconds through the file's tempo map, at its first tempo (module docstring)."""
    tpb = midi.ticks_per_beat
    changes = sorted(((tick, us) for track in midi.tracks for tick, kind, us in track.meta
                      if kind == "tempo" and _in_range(us)), key=lambda change: change[0])  # stable: file order
    first = min(((tick, us) for track in midi.tracks for tick, kind, us in track.meta if kind == "tempo"),
                default=None, key=lambda change: change[0])
    reference = first[1] if first is not None and _in_range(first[1]) else 500_000  # 120 bpm, the Melody's
    if not follow_tempo or all(us == reference for _, us in changes):
        return lambda tick: tick / tpb
    ticks, starts, ratios = [0], [0.0], [1.0]  # segments: from tick, at beat, beats per tick (x tpb)
    for tick, us in changes:
        if tick == ticks[-1]:  # at one tick the last change holds
            ratios[-1] = us / reference
        elif us / reference != ratios[-1]:
            starts.append(starts[-1] + (tick - ticks[-1]) * ratios[-1] / tpb)
            ticks.append(tick)
            ratios.append(us / reference)

    def beats(tick: int) -> float:
        i = bisect_right(ticks, tick) - 1
        return starts[i] + (tick - ticks[i]) * ratios[i] / tpb
    return beats


def _track_notes(track, beats, drums: bool) -> list[Note]:
    """Pair the note events of one track into Notes, by the rules in the module docstring;
    `beats`: tick -> beat (_beats_of)."""
    events = [e for e in track.notes if drums or e[2] != PERCUSSION_CHANNEL]  # (tick, is_on, channel, pitch, vel)
    events.sort(key=lambda e: (e[0], e[1]))  # stable: file order kept within a tick and kind

    notes, sounding = [], {}  # (channel, pitch) -> (start tick, velocity)

    def finish(key, end_tick):
        start, velocity = sounding.pop(key)
        if end_tick > start:  # a note with no length is dropped
            onset = beats(start)
            notes.append(Note(key[1], onset, beats(end_tick) - onset, velocity))

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
    if "tempo" in found and _in_range(found["tempo"][1]):
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


def _bounded(path, notes: list[Note]) -> list[Note]:
    """Tempo changes can stretch a file's beats (up to 100x): the Melody too lasts at most MAX_BEATS."""
    end = max((n.end for n in notes), default=0.0)
    if end > MAX_BEATS:
        raise midi_file_error(path, f"too long: lasts {end:.0f} beats at its first tempo, more than the "
                                    f"{MAX_BEATS} read here")
    return notes


def read_midi_tracks(path, drums: bool = False, follow_tempo: bool = True) -> dict[str, Melody]:
    """One Melody per track that has notes, keyed by track name ("track N" when unnamed or repeated)."""
    midi = _load(path)
    meta, beats = _meta(midi), _beats_of(midi, follow_tempo)
    melodies = {}
    for index, track in enumerate(midi.tracks):
        notes = _bounded(path, _track_notes(track, beats, drums))
        if not notes:
            continue
        name = (track.name or "").strip() or f"track {index}"
        if name in melodies:
            name = f"track {index}"
        melodies[name] = Melody(notes=tuple(notes), name=f"{Path(path).stem}/{name}", **meta)
    return melodies


def read_midi(path, drums: bool = False, need_notes: bool = False, follow_tempo: bool = True) -> Melody:
    """All note tracks of a MIDI file merged into one Melody, named after the file.
    need_notes: a file without notes raises MidiFileError (saying when it holds only drums)."""
    midi = _load(path)
    beats = _beats_of(midi, follow_tempo)
    notes = _bounded(path, [n for track in midi.tracks for n in _track_notes(track, beats, drums)])
    if need_notes and not notes:
        raise _no_notes(path, midi)
    return Melody(notes=tuple(notes), name=Path(path).stem, **_meta(midi))


def _tick_notes(notes, ticks_per_beat: int = TICKS_PER_BEAT) -> list[tuple[int, int, int, int]]:
    """Notes as (start, end, pitch, velocity) in ticks, at least one tick long; a note is cut where
    a later note of the same pitch starts, and dropped if that leaves it no length (of notes of one
    pitch starting together, the last in the melody's order is kept)."""
    by_pitch = defaultdict(list)
    for note in notes:
        start = round(note.onset * ticks_per_beat)
        by_pitch[note.pitch].append((start, max(round(note.end * ticks_per_beat), start + 1), note.pitch,
                                     note.velocity))
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


def _conductor(tempo_map, time_signature, ticks_per_beat: int) -> list[tuple[int, int, mido.MetaMessage]]:
    """The tempo and time signature events of the first track, as (tick, order, message)."""
    events = []
    for beat, bpm in tempo_map:
        if not beat >= 0 or not 60e6 / 0xFFFFFF <= bpm <= 60e6:
            raise ValueError(f"a tempo change needs a beat >= 0 and 3.6 .. 60,000,000 bpm, got ({beat!r}, {bpm!r})")
        events.append((round(beat * ticks_per_beat), -1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for beat, (num, den) in time_signature:
        if not beat >= 0 or not 1 <= num <= 255 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"a time signature needs a beat >= 0 and N/1..N/32 (N <= 255), "
                             f"got ({beat!r}, {num}/{den})")
        events.append((round(beat * ticks_per_beat), -1,
                       mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    return events


def write_midi(path, tracks: dict[str, Melody] | Melody, tempo: float | None = None,
               channels: dict[str, int] | None = None, *, tempo_map=None, time_signature=None,
               ticks_per_beat: int = TICKS_PER_BEAT) -> None:
    """Write melodies as a type 1 MIDI file, one track per name (a single Melody: one track "melody").

    tempo: quarter notes per minute; default the first melody's tempo.
    tempo_map: [(beat, bpm), ...] tempo changes (beats of the melodies, quarter notes); before the
    first one `tempo` holds. The notes stay at their beats: their seconds follow the map.
    time_signature: (numerator, denominator), or [(beat, (numerator, denominator)), ...] changes;
    default the first melody's.
    channels: track name -> MIDI channel 0..15; by default tracks take channels
    0, 1, 2, ... in order, skipping 9 (percussion).
    The key comes from the first melody.
    """
    if isinstance(tracks, Melody):
        tracks = {"melody": tracks}
    if not tracks:
        raise ValueError("nothing to write: no tracks given")
    default_channels = [c for c in range(16) if c != PERCUSSION_CHANNEL]
    if len(tracks) > len(default_channels) and not channels:
        raise ValueError(f"at most {len(default_channels)} tracks without explicit channels, got {len(tracks)}")
    if not isinstance(ticks_per_beat, int) or not 1 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be in range 1..32767, got {ticks_per_beat!r}")
    first = next(iter(tracks.values()))
    tempo = first.tempo if tempo is None else tempo
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0 beats per minute, got {tempo!r}")
    changes = list(tempo_map or ())
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0.0, tempo))
    signatures = time_signature or first.time_signature
    if not isinstance(signatures[0], (tuple, list)):
        signatures = [(0.0, tuple(signatures))]
    conductor = _conductor(changes, signatures, ticks_per_beat)

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for index, (name, melody) in enumerate(tracks.items()):
        channel = (channels or {}).get(name, default_channels[index % len(default_channels)])
        if not isinstance(channel, int) or not 0 <= channel <= 15:
            raise ValueError(f"channel must be in range 0..15, got {channel!r}")
        events = []  # (tick, order, message): meta first, note_offs (0) before note_ons (1) at one tick
        if index == 0:
            events += conductor
            if _midi_key(first.key):
                events.append((0, -1, mido.MetaMessage("key_signature", key=_midi_key(first.key))))
        for start, end, pitch, velocity in _tick_notes(melody.notes, ticks_per_beat):
            events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
            events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        now = 0
        for tick, _, message in events:
            if tick - now > MAX_DELTA_TICKS:  # mido would write it, as a file no reader accepts
                raise midi_file_error(path, f"cannot write: a gap of {(tick - now) / ticks_per_beat:.0f} beats, "
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
