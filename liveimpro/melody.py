"""The one data model for music in liveimpro: a Melody is a sorted tuple of Notes.

Times are in beats (one beat = one quarter note), so a melody is independent of
tempo; the tempo (quarter notes per minute) travels beside it for playback.
A Melody may be polyphonic (overlapping notes, chords); `monophonic()` reduces
it to a melody by the highest-sounding-note rule documented there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

MAX_PITCH = 127


@dataclass(frozen=True, slots=True)
class Note:
    pitch: int  # MIDI note number 0..127 (60 = middle C)
    onset: float  # beats from the start of the melody, >= 0
    duration: float  # beats, > 0
    velocity: int = 80  # MIDI velocity 1..127

    def __post_init__(self):
        if not isinstance(self.pitch, int) or not 0 <= self.pitch <= MAX_PITCH:
            raise ValueError(f"pitch must be in range 0..127, got {self.pitch!r}")
        if not self.onset >= 0:  # also rejects NaN
            raise ValueError(f"onset must be >= 0 beats, got {self.onset!r}")
        if not self.duration > 0 or self.duration == float("inf"):
            raise ValueError(f"duration must be a positive number of beats, got {self.duration!r}")
        if not isinstance(self.velocity, int) or not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be in range 1..127, got {self.velocity!r}")

    @property
    def end(self) -> float:
        return self.onset + self.duration


def bar_beats(time_signature: tuple[int, int]) -> float:
    """A bar of the meter in quarter-note beats: 4/4 4, 3/4 3, 6/8 3, 7/8 3.5, 2/2 4."""
    num, den = time_signature
    return num * 4.0 / den


@dataclass(frozen=True)
class Melody:
    notes: tuple[Note, ...] = ()  # sorted by (onset, pitch)
    tempo: float = 120.0  # quarter notes per minute
    time_signature: tuple[int, int] = (4, 4)  # (numerator, denominator)
    key: str | None = None  # e.g. "G major", "E minor"; None when unknown
    name: str = ""  # title or source, for messages

    def __post_init__(self):
        object.__setattr__(self, "notes", tuple(sorted(self.notes, key=lambda n: (n.onset, n.pitch))))
        if not self.tempo > 0:
            raise ValueError(f"tempo must be > 0 beats per minute, got {self.tempo!r}")
        num, den = self.time_signature
        if num < 1 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"time signature must be N/1..N/32, got {num}/{den}")

    def __len__(self) -> int:
        return len(self.notes)

    def __iter__(self):
        return iter(self.notes)

    @property
    def beats_per_bar(self) -> float:
        return bar_beats(self.time_signature)

    @property
    def end(self) -> float:
        """Beat at which the last note stops sounding (0 for an empty melody)."""
        return max((n.end for n in self.notes), default=0.0)

    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo

    def with_notes(self, notes: Iterable[Note]) -> "Melody":
        return replace(self, notes=tuple(notes))

    def transpose(self, semitones: int) -> "Melody":
        """Shift every pitch; raises ValueError if a pitch would leave 0..127."""
        return self.with_notes(replace(n, pitch=n.pitch + semitones) for n in self.notes)

    def shift(self, beats: float) -> "Melody":
        """Move every onset by `beats` (the result must not start before 0)."""
        return self.with_notes(replace(n, onset=n.onset + beats) for n in self.notes)

    def is_monophonic(self) -> bool:
        return all(a.end <= b.onset + 1e-9 for a, b in zip(self.notes, self.notes[1:]))

    def chords(self) -> list[tuple[Note, ...]]:
        """Notes grouped by common onset (within 1e-6 beats), in time order, lowest pitch first."""
        groups: list[list[Note]] = []
        for note in self.notes:
            if groups and abs(groups[-1][0].onset - note.onset) < 1e-6:
                groups[-1].append(note)
            else:
                groups.append([note])
        return [tuple(g) for g in groups]

    def monophonic(self) -> "Melody":
        """Reduce to a melody by the highest-sounding-note ("skyline") rule.

        At each onset the highest note starting there is a candidate; it is kept
        unless a higher note that started earlier is still sounding. A kept note
        is cut short where the next kept note starts, so no two notes overlap.
        """
        kept: list[Note] = []
        for group in self.chords():
            top = group[-1]
            if kept and kept[-1].end > top.onset + 1e-9 and kept[-1].pitch > top.pitch:
                continue
            if kept and kept[-1].end > top.onset:
                kept[-1] = replace(kept[-1], duration=top.onset - kept[-1].onset)
            kept.append(top)
        return self.with_notes(kept)


def melody_from_tuples(rows: Iterable[tuple[int, float, float] | tuple[int, float, float, int]], **kwargs) -> Melody:
    """Build a Melody from (pitch, onset, duration[, velocity]) rows: handy in tests and scripts."""
    return Melody(notes=tuple(Note(*row) for row in rows), **kwargs)


__all__ = ["Note", "Melody", "melody_from_tuples", "bar_beats", "MAX_PITCH"]
