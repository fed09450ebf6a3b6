"""The quantisation grid shared by both tokenizers.

Time is counted in ticks of 1/12 beat (one beat = one quarter note), the
smallest unit in which both the straight subdivisions (multiples of 1/4 beat)
and the triplet ones (multiples of 1/6 beat) are whole numbers. The grid is the
union of the two, so within each beat its points are

    0, 1/6, 1/4, 1/3, 1/2, 2/3, 3/4, 5/6  (ticks 0, 2, 3, 4, 6, 8, 9, 10)

Rounding rule: a time goes to the nearest grid point; a value exactly halfway
between two points (within 1e-6 tick, so float noise cannot flip it) goes to
the smaller one. Negative times round to 0.

Caps: an inter-onset interval (ioi) or a duration longer than 8 beats becomes
8 beats. A duration is at least 1/6 beat (the smallest positive grid point), so
a very short note stays a note.
"""
from __future__ import annotations

import math
from bisect import bisect_right

TICKS_PER_BEAT = 12
SUBDIVISIONS = (4, 6)  # straight 1/4 beat and triplet 1/6 beat
MAX_IOI_TICKS = 8 * TICKS_PER_BEAT  # ioi cap: 8 beats
MAX_DURATION_TICKS = 8 * TICKS_PER_BEAT  # duration cap: 8 beats
MIN_DURATION_TICKS = TICKS_PER_BEAT // max(SUBDIVISIONS)  # 1/6 beat
_TIE = 1e-6  # ticks: distances closer than this count as a tie
GRID_TICKS = tuple(t for t in range(max(MAX_IOI_TICKS, MAX_DURATION_TICKS) + 1)
                   if any(t % (TICKS_PER_BEAT // s) == 0 for s in SUBDIVISIONS))
_GRID_SET = frozenset(GRID_TICKS)


def snap(beats: float, cap_ticks: int) -> int:
    """`beats` rounded to the grid (rounding rule above) and capped at `cap_ticks`, in ticks."""
    if math.isnan(beats):
        raise ValueError("cannot quantise NaN beats")
    ticks = beats * TICKS_PER_BEAT
    if ticks <= 0:
        return 0
    if ticks >= cap_ticks:
        return cap_ticks
    i = bisect_right(GRID_TICKS, ticks)
    lower, upper = GRID_TICKS[i - 1], GRID_TICKS[i]
    return lower if ticks - lower <= upper - ticks + _TIE else upper


def snap_ioi(beats: float) -> int:
    """An inter-onset interval in ticks: on the grid, 0..8 beats."""
    return snap(beats, MAX_IOI_TICKS)


def snap_duration(beats: float) -> int:
    """A duration in ticks: on the grid, 1/6..8 beats."""
    return max(MIN_DURATION_TICKS, snap(beats, MAX_DURATION_TICKS))


def duration_span(beats: float) -> tuple[float, float]:
    """(low, high]: the durations in beats that `snap_duration` rounds to the same ticks as `beats`
    (low 0.0 for the shortest, high inf at the cap). The footswitch's standby notes are rehearsed per
    span while a key is held (liveimpro.live.standby): any release in a span gives the same token."""
    ticks = snap_duration(beats)
    if ticks >= MAX_DURATION_TICKS:
        return (GRID_TICKS[-2] + MAX_DURATION_TICKS) / 2 / TICKS_PER_BEAT, math.inf
    i = GRID_TICKS.index(ticks)
    low = 0.0 if ticks == MIN_DURATION_TICKS else (GRID_TICKS[i - 1] + ticks) / 2 / TICKS_PER_BEAT
    return low, (ticks + GRID_TICKS[i + 1]) / 2 / TICKS_PER_BEAT


def to_beats(ticks: int) -> float:
    return ticks / TICKS_PER_BEAT


def is_ioi(ticks) -> bool:
    return isinstance(ticks, int) and ticks in _GRID_SET and ticks <= MAX_IOI_TICKS


def is_duration(ticks) -> bool:
    return isinstance(ticks, int) and ticks in _GRID_SET and MIN_DURATION_TICKS <= ticks <= MAX_DURATION_TICKS


def grid_json() -> dict:
    """The grid's parameters, saved with a vocabulary: a vocabulary is only valid on its own grid."""
    return {"ticks_per_beat": TICKS_PER_BEAT, "subdivisions": list(SUBDIVISIONS),
            "max_ioi_ticks": MAX_IOI_TICKS, "max_duration_ticks": MAX_DURATION_TICKS,
            "min_duration_ticks": MIN_DURATION_TICKS, "rounding": "nearest, ties to the smaller"}


__all__ = ["TICKS_PER_BEAT", "SUBDIVISIONS", "MAX_IOI_TICKS", "MAX_DURATION_TICKS", "MIN_DURATION_TICKS",
           "GRID_TICKS", "snap", "snap_ioi", "snap_duration", "duration_span", "to_beats", "is_ioi", "is_duration", "grid_json"]
