"""The meter: MIDI clock and Link carry none, so it is a setting (`liveimpro duet --meter N/D`).

    parse_meter("6/8")      -> (6, 8)      ValueError of one line for anything else
    meter_problem("3-4")    -> what a meter's text should be, or None
    bar_beats((6, 8))       -> 3.0         a bar in quarter-note (clock) beats
    pickup_beats((6, 8))    -> 1.5         how close before a bar line a first note is a pickup
"""
from __future__ import annotations

import re

from ..melody import bar_beats  # one definition of a bar; re-exported here with the meter tools

METER_DENOMINATORS = (1, 2, 4, 8, 16)  # what --meter takes (a whole note .. a sixteenth)
MAX_METER_NUMERATOR = 32
_METER = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", re.ASCII)


def meter_problem(text) -> str | None:
    """What a meter's text should be, when `text` is not one (`parse_meter`); None when it is."""
    found = _METER.fullmatch(text) if isinstance(text, str) else None
    if found is None or int(found[2]) not in METER_DENOMINATORS:
        return f"N/D with D one of {', '.join(map(str, METER_DENOMINATORS))}"
    if not 1 <= int(found[1]) <= MAX_METER_NUMERATOR:
        return f"N/D with N from 1 to {MAX_METER_NUMERATOR}"
    return None


def parse_meter(text: str) -> tuple[int, int]:
    """"3/4" -> (3, 4): N/D with N a whole number 1..32 and D one of METER_DENOMINATORS (spaces
    around either are allowed). ValueError with a one-line message otherwise:
    "expected N/D with D one of 1, 2, 4, 8, 16, got '3-4'"."""
    problem = meter_problem(text)
    if problem is not None:
        raise ValueError(f"expected {problem}, got {text!r}")
    found = _METER.fullmatch(text)
    return int(found[1]), int(found[2])


def pickup_beats(time_signature: tuple[int, int]) -> float:
    """The pickup window of a meter, in quarter-note (clock) beats: one beat of the meter, and at
    most half a bar. A meter's beat is its denominator's note (4/4, 3/4, 5/4: a quarter, 1 beat;
    2/2, 3/2: a half, 2 beats), a dotted quarter in compound meters (N divisible by 3 from 6 up,
    over 8 or 16: 6/8, 9/8, 12/8: 1.5 beats; 6/16: 0.75), else a quarter (5/8, 7/8: 1 beat).
    Half a bar caps it: 3/8 0.75, 1/4 0.5."""
    num, den = time_signature
    if den <= 4:
        beat = 4.0 / den
    elif num % 3 == 0 and num >= 6:
        beat = 3 * 4.0 / den
    else:
        beat = 1.0
    return min(beat, num * 4.0 / den / 2)


__all__ = ["METER_DENOMINATORS", "MAX_METER_NUMERATOR", "meter_problem", "parse_meter", "bar_beats", "pickup_beats"]
