"""The beat grid a tempo reading gives (`TempoEstimate`) and the Viterbi pass of
`liveimpro.music.tempo` over the twelve positions within a beat, one step per inter-onset
interval: kept apart so that tempo.py holds the model, its constants and the tracker."""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, slots=True)
class TempoEstimate:
    bpm: float  # quarter notes per minute
    phase: float  # seconds: the time of a beat (the one at or before the first onset it was estimated from)
    confidence: float  # 0..1, posterior mass near bpm; 0 when there was nothing to estimate from

    @property
    def period(self) -> float:
        """Seconds per beat."""
        return 60.0 / self.bpm

    def beat_of(self, time: float) -> float:
        """Beats from the phase beat to `time` (seconds)."""
        return (time - self.phase) / self.period

    def origin_for(self, time: float) -> float:
        """The beat line to count a phrase from when it starts at `time`: the nearest beat if
        the note is within 1/8 beat of it (played a little early or late), else the beat before."""
        beats = self.beat_of(time)
        nearest = round(beats)
        whole = nearest if abs(beats - nearest) <= 1 / 8 else math.floor(beats)
        return self.phase + whole * self.period


class Pass:
    """A Viterbi pass at one period: the best path's log score ending at each twelfth; per IOI from
    the window's first onset, the move (twelfths) that reached each twelfth."""
    __slots__ = ("period", "score", "moves")

    def __init__(self, period: float, score: list[float]):
        self.period, self.score, self.moves = period, score, deque()


def viterbi_step(score: list[float], steps: Sequence[float], moves: Sequence[int],
                 log_position: Sequence[float]) -> tuple[list[float], list[int]]:
    """One IOI of a Viterbi pass, in plain Python (numpy's cost per call would dominate): the new
    scores and the move that reached each twelfth, from each move's log score (`steps`, the IOI as
    that note value) and the log weight of landing on each twelfth. Moves are tried best step first
    until none can do better; ties go to the first move, as np.argmax."""
    order, top = sorted(range(len(moves)), key=steps.__getitem__, reverse=True), max(score)
    new, came = [], []
    for position in range(12):
        best, arg = -math.inf, 0
        for k in order:
            if top + steps[k] < best:
                break
            value = score[(position - moves[k]) % 12] + steps[k]
            if value > best or (value == best and k < arg):
                best, arg = value, k
        new.append(best + log_position[position])
        came.append(moves[arg])
    return new, came


__all__ = ["TempoEstimate", "Pass", "viterbi_step"]
