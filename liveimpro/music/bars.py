"""The player's bars, read from a call without a clock: where the answer comes in, and how long it is.

A phrase that fills its bars ends on a bar line: its last note lasts until the bar line (a tune's
phrase, or its next phrase's pickup, runs up to it). So the call's end E, its latest release put on
the player's grid, is taken as a bar line; a call shorter than a bar of two beats has no grid, and the
answer comes in on the next beat as before. `call_end` puts the release there:

- within HELD beats of a whole beat: that beat (the last note held to the bar line);
- within HELD beats of a half beat, when the call's beats are the half beats (below): that half beat;
- else the next beat after the release, a release up to EARLY_RELEASE beats before a beat counting
  as on it (players let go early, seldom late): a detached last note.

Which beats: the player's beat grid (liveimpro.music.tempo) is counted from the call's first note,
which may be an eighth-note pickup; then the call's beats are the half beats of that grid.
`beat_phase` tells: 0.5 when the notes that start on a half beat weigh more (each by its
inter-onset interval: long notes fall on beats) than those on a whole beat, else 0.
The bar length b (beats of the player's tempo) is the one of BAR_CHOICES that makes the call the most
likely phrase: with its end E a bar line, the bar lines are E - k*b, the first one at or after the
call's first beat is its downbeat d (the beats before it a pickup), and the call is N = (E - d) / b
bars. Score: N a power of two (1, 2, 4, 8 ... bars: how phrases are built) 0, three times one
(3, 6, 12 bars) -3, else -6; a pickup of at most half a bar -0.5, a longer one -2.5, none 0. Ties go to
the longer bar (4 before 3 before 2): a 4-beat bar line is also one of a 2-beat bar.

Chosen on 400 calls of 2 and 4 bars from the training split of data/essen (cut at their own bar lines
as the answer benchmark cuts the validation split), the answer entering on the first bar line at
least a beat after the call's end: on one of the tune's bar lines in 82 % of the calls with the beat
grid counted from the first note (88 % on the tune's own beats): 2/4 93 %, 4/4 96 %, 3/4 99 %, 3/8
67 %, 6/8 55 % (an eighth-note pickup in 6/8 leaves the half-beat vote even), none of the 31 calls in
3/2, 4/2, 6/4 and 4/1 (bars longer than 4 beats). Rounding every release to the nearest half beat did
better there (88 %, 6/8 90 %) but put a detached quarter note released at 0.7 of its length on the
half beat, and the answer off the player's beat. Accents (long notes on bar lines) in the bar score
lost up to 3 points, so they are not used. The work: one pass over the call's last notes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

BAR_CHOICES = (4.0, 3.0, 2.0)  # beats per bar, in the order ties are broken
EARLY_RELEASE = 0.25  # beats: a release this much before a beat counts as on it
HELD = 0.1  # beats: a release this near a beat (or half beat) was held to it
ON_BEAT = 0.125  # beats: how near a whole or half beat an onset counts as on it
EPS = 1e-6


@dataclass(frozen=True, slots=True)
class BarGrid:
    bar: float  # beats per bar
    end: float  # beats from the call's first beat: the bar line the call ends on
    bars: int  # bars from the call's downbeat to its end

    @property
    def downbeat(self) -> float:
        """Beats from the call's first beat to its first bar line (the pickup's length)."""
        return self.end - self.bars * self.bar

    def line_at_or_after(self, beat: float) -> float:
        """The first bar line at or after `beat` (beats from the call's first beat)."""
        return self.end + math.ceil((beat - self.end) / self.bar - EPS) * self.bar


def _phrase_score(bars: int) -> float:
    if bars & (bars - 1) == 0:
        return 0.0
    return -3.0 if bars % 3 == 0 and (bars // 3) & (bars // 3 - 1) == 0 else -6.0


def _pickup_score(pickup: float, bar: float) -> float:
    if pickup < EPS:
        return 0.0
    return -0.5 if pickup <= bar / 2 + EPS else -2.5


def beat_phase(onsets: Sequence[float], weights: Sequence[float]) -> float:
    """0.5 when the onsets (beats) on half beats outweigh those on whole beats, else 0.0."""
    whole = half = 0.0
    for onset, weight in zip(onsets, weights):
        fraction = onset % 1.0
        if min(fraction, 1.0 - fraction) <= ON_BEAT:
            whole += weight
        elif abs(fraction - 0.5) <= ON_BEAT:
            half += weight
    return 0.5 if half > whole else 0.0


def call_end(last_release: float, phase: float = 0.0) -> float:
    """The bar line a call whose last release is at `last_release` (beats) ends on (module docstring)."""
    whole = round(last_release)
    if abs(last_release - whole) <= HELD:
        return float(whole)
    half = math.floor(last_release) + 0.5
    if phase and abs(last_release - half) <= HELD:
        return half
    return math.ceil(last_release - EARLY_RELEASE - phase - EPS) + phase


def infer_bars(last_release: float, phase: float = 0.0) -> BarGrid | None:
    """The bar grid of a call that starts on beat 0 and whose last note ends `last_release` beats
    later, its beats at `phase` + whole beats (the module docstring's rule), or None under a bar."""
    end = call_end(last_release, phase)
    if end < min(BAR_CHOICES):
        return None
    best: tuple[float, BarGrid] | None = None
    for bar in BAR_CHOICES:
        pickup = end % bar
        bars = round((end - pickup) / bar)
        if bars < 1:
            continue
        score = _phrase_score(bars) + _pickup_score(pickup, bar)
        if best is None or score > best[0]:
            best = (score, BarGrid(bar, end, bars))
    return None if best is None else best[1]


def bars_given(last_release: float, line: float, bar: float) -> BarGrid:
    """The bar grid of a call that starts on beat 0 and whose last note ends `last_release` beats
    later, in bars given from outside (a MIDI clock or Link with --meter, a MIDI file's time
    signature): `bar` beats long, one of their lines at `line` beats. The call ends on the first
    bar line at or after its last release (held up to HELD beats past a line: on that line); its
    downbeat is the first bar line at or after its first beat (played up to EARLY_RELEASE beats
    late: on that line), the beats before it a pickup."""
    lines = BarGrid(bar, line, 0)  # the given bar lines: its line_at_or_after
    end = lines.line_at_or_after(last_release - HELD)
    return BarGrid(bar, end, max(1, round((end - lines.line_at_or_after(-EARLY_RELEASE)) / bar)))


def answer_beats(grid: BarGrid, ratio: float) -> float:
    """Beats of an answer as long as the call in bars, times `ratio` (rounded half up, at least 1 bar)."""
    return max(1, math.floor(grid.bars * ratio + 0.5)) * grid.bar


__all__ = ["BarGrid", "beat_phase", "call_end", "infer_bars", "bars_given", "answer_beats", "BAR_CHOICES", "EARLY_RELEASE"]
