"""Melody-curve tokens: each note as (interval from the previous note, ioi, duration).

The input is reduced to one line first with `Melody.monophonic()` (highest
sounding note). The first note is an *anchor* token carrying its absolute pitch
(pitch part "@60"), so a model scores every note, the first included; every
later note carries its interval in semitones from the previous one ("+2", "-5",
"+0"). Applied to a chord (a live Event with several pitches), a curve token
uses the chord's top pitch.

Interval cap: an interval beyond +-24 semitones is folded by the fewest
octaves towards 0 that make it fit (the pitch class is kept, the note lands
one or more octaves nearer the previous one). Encoding is closed-loop, so the
next interval is taken from the folded note: after a leap of more than two
octaves the melody comes back to its own pitches within a few notes, each
moving up to 24 semitones towards them.

When two notes' onsets round to the same grid point, the later one is kept
(a grace note yields to its main note).

Nearest-mapping pitch feature: the interval in semitones (for an anchor: its
pitch); anchors are only mapped to anchors, intervals to intervals that keep
the pitch in 0..127.
"""
from __future__ import annotations

import numpy as np

from ..melody import MAX_PITCH
from .base import Tokenizer
from .event import Event
from .vocab import N_SPECIALS

MAX_INTERVAL = 24  # semitones; larger intervals are folded by octaves


def fold_interval(semitones: int) -> int:
    """`semitones` moved by whole octaves towards 0 until it is within +-MAX_INTERVAL."""
    if abs(semitones) <= MAX_INTERVAL:
        return semitones
    octaves = -(-(abs(semitones) - MAX_INTERVAL) // 12)  # ceiling division
    return semitones - 12 * octaves if semitones > 0 else semitones + 12 * octaves


class CurveTokenizer(Tokenizer):
    kind = "curve"
    PITCH_FEATURES = ("interval semitones (anchor: pitch)",)

    def _reduce(self, melody):
        return melody.monophonic().notes

    def _merge(self, group):
        return group[-1:]

    def _pitch_part(self, prev: Event | None, event: Event) -> str:
        if prev is None:
            return f"@{event.top}"
        return f"{fold_interval(event.top - prev.top):+d}"

    def _parse(self, part: str) -> tuple[bool, int]:
        """(is anchor, pitch or interval)."""
        anchor = part.startswith("@")
        try:
            value = int(part[1:] if anchor else part)
        except ValueError:
            value = None
        if value is None or part != (f"@{value}" if anchor else f"{value:+d}") or not (
                0 <= value <= MAX_PITCH if anchor else abs(value) <= MAX_INTERVAL):
            raise ValueError(f"a curve pitch part is @0..@127 or -{MAX_INTERVAL}..+{MAX_INTERVAL}, got {part!r}")
        return anchor, value

    def _pitches(self, prev: Event | None, parsed: tuple[bool, int]) -> tuple[int, ...]:
        anchor, value = parsed
        if anchor and prev is not None:
            raise ValueError("an anchor can only start a melody")
        if not anchor and prev is None:
            raise ValueError("an interval needs a note before it")
        pitch = value if anchor else prev.top + value
        if not 0 <= pitch <= MAX_PITCH:
            raise ValueError(f"pitch {prev.top} {value:+d} = {pitch} is outside 0..127")
        return (pitch,)

    def _pitch_features(self, parsed: tuple[bool, int]) -> tuple[float, ...]:
        return (float(parsed[1]),)

    def _index(self) -> None:
        parsed = self._parsed[N_SPECIALS:]
        special = np.zeros(N_SPECIALS, dtype=bool)
        self._is_anchor = np.concatenate([special, np.array([a for a, _ in parsed], dtype=bool)])
        self._is_interval = np.concatenate([special, np.array([not a for a, _ in parsed], dtype=bool)])
        self._value = np.array([0] * N_SPECIALS + [v for _, v in parsed], dtype=np.int64)

    def _pitch_context(self, prev: Event | None):
        return None if prev is None else prev.top

    def _tops(self, context: int | None) -> np.ndarray:
        if context is None:
            return np.where(self._is_anchor, self._value, -1)
        pitch = context + self._value
        return np.where(self._is_interval & (pitch >= 0) & (pitch <= MAX_PITCH), pitch, -1)

    def _settings(self) -> dict:
        return {"max_interval": MAX_INTERVAL}


__all__ = ["CurveTokenizer", "MAX_INTERVAL", "fold_interval"]
