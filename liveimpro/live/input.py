"""Raw MIDI messages in, played notes out: the listening end of the live engine.

`LiveInput.feed(message, time)` takes one message as python-rtmidi delivers it (a
list of ints) with our own `time.perf_counter()` timestamp in seconds, and returns
what it meant: a `NoteOn`, a `NoteOff`, a `ControlChange`, or None. It never
raises: a message it cannot use is skipped and counted in `LiveInput.skipped`:

- `malformed`: wrong length for its status (`liveimpro.midi.messages.DATA_BYTES`), a data
  byte > 127, a message that starts with a data byte (a stray byte; rtmidi never delivers
  running status), an undefined status, a value that is not an int 0..255, an empty message;
- `sysex`: system exclusive (SYSEX ... END_OF_EXCLUSIVE);
- `realtime`: clock, start/stop, active sensing, reset, the undefined real-time bytes
  (`is_realtime`) — feed the clock (`liveimpro.midi.clock.MidiClock.feed`) first;
  whatever it consumes never reaches here;
- `unused`: well-formed but of no use here (program change, pitch bend,
  aftertouch, system common);
- `orphan_note_offs`: a note-off for a key that is not held.

A note-on with velocity 0 is a note-off. Notes on every channel are accepted and
keep their channel; held keys are tracked per (channel, pitch), so at most 16 x 128
are held. A second note-on for a held key ends the held note there and starts a new
one. The controllers that silence a channel, `RELEASING_CONTROLS` (120 all sound off,
123 all notes off, and 124..127, the mode changes that MIDI 1.0 says also turn all
notes off), release every held key of their channel and are still returned (so after
one, tell the phrase detector: `on_note_off(time, held_count)`). `release_held(time)`
lets go of every key at once (a note-off that never came).

Chords: a note-on within `chord_window` seconds of the first note of the current
chord joins that chord and gets its onset time, so the notes of a chord share one
onset (what `Melody.chords()` groups) and tempo estimation sees one onset per
chord. The window is measured from the chord's first note, not chained, so a
fast run never collapses into one chord.

The sustain pedal does not lengthen notes: a note lasts from key down to key up.
Control changes (pedal included) are returned to the caller, who routes them
(phrase end, live controls).

The current phrase is the list of notes since the last `take_phrase()`. It keeps
at most `max_notes` notes (oldest dropped, counted in `skipped.dropped`), so a
player who never stops cannot grow it without bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from ..melody import Melody
from ..midi.messages import (
    CONTROL_CHANGE,
    DATA_BYTES,
    MAX_DATA,
    NOTE_OFF,
    NOTE_ON,
    RELEASING_CONTROLS,
    STATUS_BIT,
    SYSEX,
    channel_of,
    is_realtime,
    message_kind,
)
from ..music.played import PlayedNote, phrase_melody


@dataclass(frozen=True, slots=True)
class NoteOn:
    time: float  # when the message arrived
    note: PlayedNote  # onset = the chord's onset (<= time)
    chord_start: bool  # True for the first note of a new chord onset


@dataclass(frozen=True, slots=True)
class NoteOff:
    time: float
    note: PlayedNote  # with its release set


@dataclass(frozen=True, slots=True)
class ControlChange:
    time: float
    channel: int
    control: int  # 0..127
    value: int  # 0..127


@dataclass
class SkipCounts:
    malformed: int = 0
    sysex: int = 0
    realtime: int = 0
    unused: int = 0
    orphan_note_offs: int = 0
    dropped: int = 0  # notes dropped from an over-long phrase


@dataclass
class LiveInput:
    chord_window: float = 0.030  # seconds: note-ons this close to a chord's first note join it
    max_notes: int = 512  # the current phrase keeps at most this many notes (oldest dropped)
    skipped: SkipCounts = field(default_factory=SkipCounts)
    _notes: list[PlayedNote] = field(default_factory=list, repr=False)
    _first_serial: int = field(default=0, repr=False)  # serial number of _notes[0]
    # (channel, pitch) -> (serial number, the note as struck)
    _held: dict[tuple[int, int], tuple[int, PlayedNote]] = field(default_factory=dict, repr=False)
    _chord_onset: float | None = field(default=None, repr=False)

    @property
    def notes(self) -> tuple[PlayedNote, ...]:
        """The current phrase's notes in onset order; held ones have release None."""
        return tuple(self._notes)

    @property
    def held_count(self) -> int:
        """Keys down now, over every channel (also those held across a `take_phrase`)."""
        return len(self._held)

    def onsets(self) -> list[float]:
        """One time per chord onset of the current phrase (what tempo estimation needs)."""
        return sorted({n.onset for n in self._notes})

    def feed(self, message: Sequence[int], time: float) -> NoteOn | NoteOff | ControlChange | None:
        kind = _classify(message)
        if kind != "channel":
            setattr(self.skipped, kind, getattr(self.skipped, kind) + 1)
            return None
        kind, data = message_kind(message[0]), message[1:]
        channel = channel_of(message[0])
        if kind == NOTE_ON and data[1] > 0:
            return self._note_on(channel, data[0], data[1], time)
        if kind in (NOTE_OFF, NOTE_ON):
            return self._note_off(channel, data[0], time)
        if kind == CONTROL_CHANGE:
            if data[0] in RELEASING_CONTROLS:
                for ch, pitch in [k for k in self._held if k[0] == channel]:
                    self._note_off(ch, pitch, time)
            return ControlChange(time, channel, data[0], data[1])
        self.skipped.unused += 1
        return None

    def release_held(self, time: float) -> list[NoteOff]:
        """Every key still held counts as released at `time` (its note-off was lost)."""
        return [self._note_off(channel, pitch, time) for channel, pitch in list(self._held)]

    def take_phrase(self, now: float) -> tuple[PlayedNote, ...]:
        """End the current phrase: return its notes (keys still held are cut at `now`) and start
        an empty one. Keys held across the cut stay tracked, so their note-offs are not orphans,
        but they do not belong to the next phrase."""
        phrase = tuple(n if n.release is not None else replace(n, release=max(now, n.onset)) for n in self._notes)
        self._first_serial += len(self._notes)
        self._notes = []
        self._chord_onset = None
        return phrase

    def melody(self, tempo: float, origin: float | None = None, now: float | None = None, **melody_kw) -> Melody:
        """The current phrase as a Melody in beats; see `phrase_melody`."""
        return phrase_melody(self._notes, tempo, origin, now, **melody_kw)

    def _note_on(self, channel: int, pitch: int, velocity: int, time: float) -> NoteOn:
        if (channel, pitch) in self._held:  # re-struck without a release: end the old note here
            self._note_off(channel, pitch, time)
        chord_start = self._chord_onset is None or time - self._chord_onset > self.chord_window
        if chord_start:
            self._chord_onset = time
        note = PlayedNote(pitch, velocity, channel, onset=self._chord_onset)
        if len(self._notes) >= self.max_notes:
            self._notes.pop(0)
            self._first_serial += 1
            self.skipped.dropped += 1
        self._held[(channel, pitch)] = (self._first_serial + len(self._notes), note)
        self._notes.append(note)
        return NoteOn(time, note, chord_start)

    def _note_off(self, channel: int, pitch: int, time: float) -> NoteOff | None:
        held = self._held.pop((channel, pitch), None)
        if held is None:
            self.skipped.orphan_note_offs += 1
            return None
        serial, note = held
        note = replace(note, release=max(time, note.onset))
        index = serial - self._first_serial
        if 0 <= index < len(self._notes):  # else it belonged to a phrase already taken, or was dropped
            self._notes[index] = note
        return NoteOff(time, note)


def _classify(message: Sequence[int]) -> str:
    """'channel' for a well-formed channel message, else the SkipCounts field it counts under."""
    try:
        if not message:
            return "malformed"
        status = message[0]
        if status == SYSEX and isinstance(status, int):  # whatever follows: a 64 KB sysex is not scanned
            return "sysex"
        if not all(isinstance(b, int) and 0 <= b <= 255 for b in message):
            return "malformed"
        if status < STATUS_BIT or any(b > MAX_DATA for b in message[1:]):
            return "malformed"
        if is_realtime(status):  # the undefined real-time bytes too: one byte, nothing to read
            return "realtime" if len(message) == 1 else "malformed"
        expected = DATA_BYTES.get(message_kind(status))  # None: undefined, or a lone END_OF_EXCLUSIVE
        if expected is None or len(message) != expected + 1:
            return "malformed"
        return "channel" if status < SYSEX else "unused"  # system common: of no use here
    except (TypeError, ValueError):  # not a sequence of ints at all
        return "malformed"


__all__ = ["LiveInput", "NoteOn", "NoteOff", "ControlChange", "SkipCounts"]
