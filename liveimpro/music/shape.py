"""The shape of an answer: no loops, and an ending on a stable tone.

These are the responder's second line against loops (the first: the short-term model no longer
learns the answer's own notes, liveimpro.lstm.adapt) and its cadence rule; pure functions of the
notes so far, a few dozen operations per answer note, so the phrase-end path stays as cheap.

Loops. `loop_pitches` names the pitches that would make the answer's pitch line repeat itself for
more than `MAX_LOOP` notes: for each period p = 1..MAX_PERIOD, a stretch in which every pitch
equals the one p notes before, counted as in the answer benchmark's literal loop (the run plus the
period, once the run reaches the period; liveimpro.data.answers.longest_loop, which also asks for
equal rhythm). With MAX_LOOP = 5: at most 5 notes on one pitch, a two-note cell played two and a
half times (a b a b a), a three- or four-note cell not repeated whole (a b c a b, a b c d a b c):
so never a cell three times in a row. The answer benchmark measured the loops left after the first
line (README, "Answers against what humans wrote next"): a long tail of answers with 7 to 20
notes of literal loop, which humans never write at that length.

Key lock. `in_scale` moves a pitch of a whole melody (the VAE's vary and morph) into the scale.

Cadence. `cadence_pitch_classes` is the triad on the key's tonic (its 1st, 3rd and 5th scale
degrees): the answer's last note is drawn from those (see `Responder`).
"""
from __future__ import annotations

from typing import Sequence

from .keys import KeyEstimate, parse_scale, scale_pitch_classes

MAX_LOOP = 5  # notes: the longest pitch loop an answer may play
MAX_PERIOD = 8  # notes: the longest repeated group looked for


def loop_pitches(pitches: Sequence[int], max_loop: int = MAX_LOOP, max_period: int = MAX_PERIOD) -> frozenset[int]:
    """The pitches that, played next after `pitches`, would make a pitch loop longer than `max_loop`
    notes (module docstring). Looks at the last 2 * max_period notes at most."""
    n = len(pitches)
    banned = set()
    for period in range(1, min(max_period, n) + 1):
        run = 0  # notes at the end equal to the one `period` before
        while run < n - period and pitches[n - 1 - run] == pitches[n - 1 - run - period]:
            run += 1
            if run > max_loop:
                break
        if run + 1 >= period and run + 1 + period > max_loop:
            banned.add(pitches[n - period])
    return frozenset(banned)


def in_scale(pitch: int, scale: frozenset[int] | None, previous: int | None = None) -> int:
    """`pitch` moved to the nearest pitch whose class is in `scale` (None: as it is); of two as near,
    the one nearer `previous` (the line's last note), else the lower. Keeps the VAE's vary and morph
    answers in the key lock, as the LSTM's proposals are by their mask."""
    if not scale or pitch % 12 in scale:
        return pitch
    for step in range(1, 7):
        near = [p for p in (pitch - step, pitch + step) if p % 12 in scale and 0 <= p <= 127]
        if near:
            return min(near, key=lambda p: (abs(p - previous) if previous is not None else 0, p))
    return pitch


def cadence_pitch_classes(key: str | KeyEstimate) -> frozenset[int]:
    """The tonic triad's pitch classes in `key` (a KeyEstimate or a scale such as "D dorian"): the
    tonic, the scale's third above it (minor or major) and its fifth, where the scale has them."""
    tonic = key.tonic_pc if isinstance(key, KeyEstimate) else parse_scale(key)[0]
    scale = scale_pitch_classes(key)
    return frozenset(pc for pc in ((tonic + 3) % 12, (tonic + 4) % 12, (tonic + 7) % 12) if pc in scale) | {tonic}


__all__ = ["loop_pitches", "in_scale", "cadence_pitch_classes", "MAX_LOOP", "MAX_PERIOD"]
