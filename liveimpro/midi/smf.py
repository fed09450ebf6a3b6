"""Standard MIDI Files read from bytes, written for files that may be damaged or hostile.

`parse(data)` walks a file's chunks and events once and keeps what liveimpro uses: note-ons
and note-offs, each track's first name, and tempo, time signature and key signature events.
- Every length is checked against the bytes really there, and a variable-length number has
  at most 4 bytes (the standard's limit), so reading is one pass, linear in the file's size.
- A file may hold at most MAX_FILE_BYTES bytes and MAX_NOTES notes, and last MAX_BEATS
  beats: beyond that it is refused, rather than read for minutes into gigabytes.
- Chunks other than MThd and MTrk are skipped, as the standard tells readers to.
- Running status is the last channel message's status, kept across meta and sysex events
  (some writers rely on that).
- Meta events liveimpro does not use, or whose data cannot be meant (a tempo of 0, a key with
  9 sharps, a wrong length), are ignored.
Whatever else is wrong raises SmfError(reason); liveimpro.midi.files puts the file's name in front.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .messages import (
    DATA_BYTES,
    END_OF_EXCLUSIVE,
    MAX_DATA,
    META_EVENT,
    NOTE_OFF,
    NOTE_ON,
    STATUS_BIT,
    SYSEX,
    channel_of,
    message_kind,
)

MAX_FILE_BYTES = 4 * 2**20  # the largest orchestral MIDI files are ~1 MB; "black MIDI" runs to 100s of MB
MAX_NOTES = 100_000  # a dense piano piece has 10,000-30,000
MAX_BEATS = 100_000  # over 8 hours at 200 beats per minute
MAX_DELTA_BYTES = 4  # a variable-length number is at most 4 bytes (0x0FFFFFFF)
PERCUSSION_CHANNEL = 9  # General MIDI channel 10

# what only files have (status bytes and data-byte counts are liveimpro.midi.messages')
_SMPTE_DIVISION = 0x8000  # the header's division has this bit set when it counts SMPTE frames, not ticks per beat
_CONTINUES = 0x80  # a byte of a variable-length number with this bit set has another after it
_TRACK_NAME, _SET_TEMPO, _TIME_SIGNATURE, _KEY_SIGNATURE = 0x03, 0x51, 0x58, 0x59  # meta event types
_MAJOR_KEYS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")  # -7..7 sharps
_MINOR_KEYS = ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#")


class SmfError(ValueError):
    """Why a MIDI file cannot be read: one line, without the file's name."""


@dataclass
class Track:
    name: str | None = None  # the first track name event's text (Latin-1, as mido reads it)
    notes: list = field(default_factory=list)  # (tick, is_on, channel, pitch, velocity) in file order;
    # a note-on of velocity 0 has is_on False
    meta: list = field(default_factory=list)  # (tick, kind, value): ("tempo", microseconds per beat),
    # ("time_signature", (numerator, denominator)), ("key", "Eb major")
    end: int = 0  # tick of the last event


@dataclass
class SmfFile:
    format: int  # 0, 1 or 2
    ticks_per_beat: int
    tracks: list[Track]


def parse(data: bytes) -> SmfFile:
    """The tracks of a Standard MIDI File held in `data` (see the module docstring)."""
    if not data:
        raise SmfError("empty file")
    if data[:4] != b"MThd":
        raise SmfError("not a MIDI file (no MThd header)")
    if len(data) > MAX_FILE_BYTES:
        raise SmfError(f"too large: {len(data)} bytes, more than the {MAX_FILE_BYTES} a MIDI file may have here")
    header_length = int.from_bytes(data[4:8], "big")
    if len(data) < 14 or len(data) < 8 + header_length:
        raise SmfError("truncated MIDI file (the header is cut short)")
    if header_length < 6:
        raise SmfError(f"not a readable MIDI file (a header of {header_length} bytes, 6 needed)")
    file_format, track_count, division = (int.from_bytes(data[i:i + 2], "big") for i in (8, 10, 12))
    if file_format > 2:
        raise SmfError(f"not a readable MIDI file (unknown format {file_format})")
    if division & _SMPTE_DIVISION:
        raise SmfError(f"unsupported time division: SMPTE ({256 - (division >> 8)} frames per second); "
                       f"only ticks per beat are read")
    if division == 0:
        raise SmfError("unsupported time division 0 (no ticks per beat)")
    tracks, pos, notes = [], 8 + header_length, 0
    while len(tracks) < track_count:
        if pos + 8 > len(data):
            raise SmfError(f"truncated MIDI file (the header declares {track_count} track{'s' * (track_count != 1)}, "
                           f"{len(tracks)} found)")
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        start, pos = pos + 8, pos + 8 + size
        if pos > len(data):
            raise SmfError(f"truncated MIDI file (track {len(tracks) + 1} declares {size} bytes, "
                           f"{len(data) - start} follow)")
        if kind == b"MTrk":
            tracks.append(_read_track(data[start:pos], len(tracks) + 1, division, notes))
            notes += sum(is_on for _, is_on, *_ in tracks[-1].notes)
    return SmfFile(file_format, division, tracks)


def _read_track(data: bytes, number: int, ticks_per_beat: int, notes_before: int) -> Track:
    """One MTrk chunk's events; `notes_before`: note-ons in the tracks before (for MAX_NOTES)."""
    track, pos, tick, status, notes = Track(), 0, 0, None, notes_before
    event = 0  # where the event being read starts
    max_tick = MAX_BEATS * ticks_per_beat

    def damaged(reason: str) -> SmfError:
        return SmfError(f"not a readable MIDI file (track {number}, the event at byte {event}: {reason})")

    def take(count: int) -> bytes:
        nonlocal pos
        if pos + count > len(data):
            raise damaged("an event runs past the end of the track")
        pos += count
        return data[pos - count:pos]

    def number_of_bytes() -> int:  # a variable-length number
        value = 0
        for _ in range(MAX_DELTA_BYTES):
            byte = take(1)[0]
            value = (value << 7) | (byte & ~_CONTINUES)
            if not byte & _CONTINUES:
                return value
        raise damaged(f"a variable-length number longer than {MAX_DELTA_BYTES} bytes")

    while pos < len(data):
        event = pos
        tick += number_of_bytes()
        if tick > max_tick:
            raise SmfError(f"too long: more than the {MAX_BEATS} beats read here")
        status_byte = take(1)[0]
        if status_byte < STATUS_BIT:  # running status: this was the first data byte
            if status is None:
                raise damaged(f"data byte 0x{status_byte:02x} where a status byte belongs")
            status_byte, pos = status, pos - 1
        if status_byte == META_EVENT:
            meta_type = take(1)[0]
            _meta_event(track, tick, meta_type, take(number_of_bytes()))
        elif status_byte in (SYSEX, END_OF_EXCLUSIVE):  # a sysex, or a sysex escape: skipped
            take(number_of_bytes())
        elif status_byte > SYSEX:
            if status_byte not in DATA_BYTES:
                raise damaged(f"undefined status byte 0x{status_byte:02x}")
            take(DATA_BYTES[status_byte])
        else:
            status, kind = status_byte, message_kind(status_byte)
            values = take(DATA_BYTES[kind])
            if max(values) > MAX_DATA:
                raise damaged(f"data byte 0x{max(values):02x} where 0..127 belongs")
            if kind in (NOTE_OFF, NOTE_ON):
                is_on = kind == NOTE_ON and values[1] > 0
                track.notes.append((tick, is_on, channel_of(status), values[0], values[1]))
                notes += is_on
                if notes > MAX_NOTES:
                    raise SmfError(f"too many notes: more than the {MAX_NOTES} read here")
    track.end = tick
    return track


def _meta_event(track: Track, tick: int, meta_type: int, data: bytes) -> None:
    if meta_type == _TRACK_NAME and track.name is None:
        track.name = data.decode("latin-1")
    elif meta_type == _SET_TEMPO and len(data) == 3 and int.from_bytes(data, "big") > 0:
        track.meta.append((tick, "tempo", int.from_bytes(data, "big")))
    elif meta_type == _TIME_SIGNATURE and len(data) >= 2 and data[0] >= 1 and data[1] <= 5:
        track.meta.append((tick, "time_signature", (data[0], 2 ** data[1])))
    elif meta_type == _KEY_SIGNATURE and len(data) == 2:
        sharps = data[0] - 256 if data[0] > 127 else data[0]
        if -7 <= sharps <= 7 and data[1] in (0, 1):
            name = (_MINOR_KEYS if data[1] else _MAJOR_KEYS)[sharps + 7]
            track.meta.append((tick, "key", f"{name} {'minor' if data[1] else 'major'}"))


__all__ = ["parse", "SmfFile", "Track", "SmfError", "MAX_FILE_BYTES", "MAX_NOTES", "MAX_BEATS",
           "PERCUSSION_CHANNEL"]
