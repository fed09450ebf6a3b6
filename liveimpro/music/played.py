"""Notes as a player played them: seconds on the input clock, and the phrase as a Melody in beats.

`PlayedNote` is what the listening end (`liveimpro.live.input.LiveInput`) makes of note-on and
note-off messages and what the `Responder` hears; `phrase_melody` puts played notes on a beat grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from ..melody import Melody, Note

MIN_DURATION_BEATS = 1 / 64  # a note too short to measure still needs a positive length


@dataclass(frozen=True, slots=True)
class PlayedNote:
    pitch: int  # MIDI note number
    velocity: int  # 1..127
    channel: int  # 0..15
    onset: float  # seconds (perf_counter clock); the onset of its chord
    release: float | None = None  # seconds; None while the key is held

    @property
    def duration(self) -> float | None:
        """Seconds from onset to release; None while held (the duration is still open)."""
        return None if self.release is None else self.release - self.onset


def phrase_melody(notes: Iterable[PlayedNote], tempo: float, origin: float | None = None, now: float | None = None,
                  **melody_kw) -> Melody:
    """Played notes (seconds) as a Melody (beats) at `tempo` quarter notes per minute.

    Beat 0 is `origin` (seconds): by default the first note's onset; pass a beat time from
    the tempo estimate, or the bar line from the MIDI clock, to put the phrase on the grid.
    Notes that start before the origin start at beat 0. A held note (release None) lasts
    until `now`, or until the latest known onset/release when `now` is None. Every note
    lasts at least MIN_DURATION_BEATS. Extra keywords (time_signature, key, name) go to Melody.
    """
    notes = list(notes)
    if not notes:
        return Melody(tempo=tempo, **melody_kw)
    if origin is None:
        origin = min(n.onset for n in notes)
    if now is None:
        now = max(max(n.onset for n in notes), max((n.release for n in notes if n.release is not None), default=0))
    beat = tempo / 60.0
    converted = []
    for n in notes:
        end = n.release if n.release is not None else max(now, n.onset)
        onset = max(0.0, (n.onset - origin) * beat)
        duration = max(MIN_DURATION_BEATS, (end - n.onset) * beat)
        converted.append(Note(n.pitch, onset, duration, n.velocity))
    return Melody(notes=tuple(converted), tempo=tempo, **melody_kw)


def quantize(melody: Melody, subdivisions: tuple[int, ...] = (4, 3)) -> Melody:
    """Snap onsets and note ends to the grid of k/s beats for each s in `subdivisions`
    (default: sixteenths and eighth-note triplets). A note lasts at least 1 / max(subdivisions)
    beat so nothing vanishes."""
    grid = np.unique([k / s for s in subdivisions for k in range(s + 1)])

    def snap(x: float) -> float:
        whole = math.floor(x)
        return whole + float(grid[np.argmin(np.abs(grid - (x - whole)))])

    shortest = 1.0 / max(subdivisions)
    notes = []
    for note in melody.notes:
        onset = snap(note.onset)
        notes.append(replace(note, onset=onset, duration=max(shortest, snap(note.end) - onset)))
    return melody.with_notes(notes)


__all__ = ["quantize", "MIN_DURATION_BEATS", "PlayedNote", "phrase_melody"]
