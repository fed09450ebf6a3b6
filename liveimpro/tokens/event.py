"""What one token stands for, an `Event`, and a melody's notes placed on the token grid.

`grid_timeline(notes, merge)` is the first half of `Tokenizer.events(melody)` (the tokenizer
says which notes, and what is kept of notes that sound together):

- The first event is at beat 0 (leading silence is dropped).
- Each onset is rounded relative to the previous *rounded* onset, so rounding errors do not
  add up: a decoded onset is within 1/12 beat (half the widest grid gap) of the original,
  measured from the first note.
- A gap longer than the ioi cap is shortened to the cap, and timing goes on from there.
- Notes whose onsets round to the same grid point form one event (`merge` says what is kept).
- A duration is rounded on its own (1/6..8 beats), then cut at the next event's onset when
  the note did not overlap that event before rounding, so rounding never creates an overlap.

The grid itself (ticks of 1/12 beat, straight and triplet subdivisions) is liveimpro.tokens.grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..melody import MAX_PITCH, Note
from . import grid

DEFAULT_VELOCITY = 80  # velocities are not tokenised: decoded events have this one
_INTEGERS = (int, np.integer)  # concrete types: much faster to check than numbers.Integral


@dataclass(frozen=True, slots=True)
class Event:
    """What one token stands for: one note, or notes sounding together (a chord)."""

    pitches: tuple[int, ...]  # MIDI pitches, stored sorted ascending and without repeats
    onset: float  # beats
    duration: float  # beats, > 0
    velocity: int = DEFAULT_VELOCITY

    def __post_init__(self):
        if not self.pitches or not all(isinstance(p, _INTEGERS) and 0 <= p <= MAX_PITCH for p in self.pitches):
            raise ValueError(f"pitches must be one or more integers in range 0..127, got {self.pitches!r}")
        object.__setattr__(self, "pitches", tuple(sorted({int(p) for p in self.pitches})))
        if not math.isfinite(self.onset):
            raise ValueError(f"onset must be a finite number of beats, got {self.onset!r}")
        if not (self.duration > 0 and math.isfinite(self.duration)):
            raise ValueError(f"duration must be a positive number of beats, got {self.duration!r}")
        if not isinstance(self.velocity, _INTEGERS) or not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be in range 1..127, got {self.velocity!r}")

    @property
    def top(self) -> int:
        return self.pitches[-1]


def grid_timeline(notes: tuple[Note, ...], merge: Callable[[tuple[Note, ...]], tuple[Note, ...]]
                  ) -> list[tuple[int, int, tuple[Note, ...]]]:
    """(onset ticks, duration ticks, kept notes) of each event of `notes` (sorted by onset);
    `merge` keeps some of the notes whose onsets round to the same grid point."""
    groups: list[tuple[int, list[Note]]] = []
    lag = 0.0  # beats: original time minus rounded time
    for note in notes:
        if not math.isfinite(note.onset):
            raise ValueError(f"note onset must be a finite number of beats, got {note.onset!r}")
        if not groups:
            lag = note.onset
            groups.append((0, [note]))
            continue
        last = groups[-1][0]
        gap = note.onset - lag - grid.to_beats(last)
        ioi = grid.snap_ioi(gap)
        if ioi == 0:
            groups[-1][1].append(note)
            continue
        if gap > grid.to_beats(grid.MAX_IOI_TICKS):
            lag = note.onset - grid.to_beats(last + ioi)  # the cut part of a long gap is not carried on
        groups.append((last + ioi, [note]))
    timeline = []
    for i, (onset, group) in enumerate(groups):
        kept = merge(tuple(group))
        duration = max(grid.snap_duration(n.duration) for n in kept)
        if i + 1 < len(groups):
            next_onset, next_group = groups[i + 1]
            if all(n.end <= next_group[0].onset + 1e-9 for n in kept):
                duration = min(duration, next_onset - onset)
        timeline.append((onset, duration, kept))
    return timeline


__all__ = ["Event", "DEFAULT_VELOCITY", "grid_timeline"]
