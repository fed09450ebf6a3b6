"""The player's tempo from the onset times of a phrase, and quantisation to that beat.

Method (a small Bayesian model scored on a grid of candidate tempi):

1. Candidates: beat periods from 0.25 s to 1.5 s (240..40 bpm) on a log grid, 0.5 % apart.
2. Likelihood: each inter-onset interval (IOI) is a note value v beats long, drawn from
   NOTE_VALUES with the rough frequencies of melodies (beat = quarter note), played
   with Gaussian timing error sigma = sqrt(20 ms^2 + (5 % of v*period)^2), plus a small
   uniform "anything" term (rests, fermatas) so one odd IOI cannot dominate.
   log p(IOIs | period) = sum_i log(sum_v w_v N(ioi_i; v*period, sigma) + outlier).
   Because w sums to one, a faster beat (finer grid) gains nothing for free: the
   likelihood itself says which reading of the rhythm is the more ordinary one.
   NOTE_WEIGHTS are set by hand near the IOI frequencies of ~1100 Essen melodies
   (eighths .35, quarters .23, sixteenths .14, halves .14, dotted .05, no triplets),
   with triplet and swing values added for improvisers, and quarters = eighths so that
   equal notes are left to the prior. (The IOI frequencies of the dataset's 7,343 training tunes
   did no better: eval_reading.py --half tune right 79.8 % with these, 78.1 % with those.)
3. Prior: log-normal over bpm centred on 100 bpm, spread 1.0 in ln-tempo (nearly flat), times
   a steep fall outside the band 60..180 bpm (spread 0.01: 5 % outside costs 12 in log
   probability, more than a phrase's better fit), so a call at 100 bpm is read at 100, not at
   200 or 50 (the band was 60..140, spread 0.15: 180 read as 90, many at 100 read as 200); a
   player at 200 is read at 100. With a previous tempo (players keep their tempo across
   phrases) the prior is 0.9 * log-normal(previous, spread 8 %) + 0.1 * that base prior: the
   octave of the last phrase wins an ambiguous phrase, while a change of tempo within the
   octave (x0.8, x1.25) still comes through.
4. The best candidate is refined. A Viterbi pass over the twelve positions within a beat
   (on the beat, the eighths, the sixteenths, the triplets, weighted by how often notes
   start there: POSITION_WEIGHTS) gives every onset a beat position; a misheard triplet
   cannot push the rest of the phrase off the grid because landing off the beat costs.
   A least-squares line onset = phase + period * position gives the period and the
   phase: the time of the beat at or before the first onset (a pickup gets its offbeat;
   when the phrase does not say, the first note is on the beat).
5. Confidence: the posterior mass within +-3 % of the estimate (0..1); an octave
   ambiguity shows up as a low confidence.

What it cannot know: a rhythm and the same rhythm in half values at twice the tempo
are the same onsets. The note-value frequencies pick the reading in which the common
values are eighths and quarters, so a phrase mostly of sixteenths at 60 bpm reads as
eighths at 120 bpm (unless the previous tempo says 60). A phrase of all quarter notes
(equal IOIs d) is explained equally well as quarters or eighths, so the prior decides:
the beat is the note when 60/d is at most ~141 bpm (d = 0.5 s -> 120, 1.0 s -> 60,
0.8 s -> 75); faster equal notes read as eighths (0.4 s -> 75, 0.3 s -> 100: running eighths
at 100 are not quarters at 200); with a previous tempo the octave nearer to it wins. Essen
itself writes the same rhythm in either octave (2/4 in eighths and sixteenths, 4/4 in
quarters and eighths), so on calls from its tunes the octave is right in about 80 %
(scripts/eval_reading.py, README).
Fewer than three onsets give no estimate: the previous tempo (or 120) with confidence 0.

Onset by onset (`TempoTracker`, what the live engine uses), at a cost per onset that does not
grow with the phrase: the log-likelihood is a sum over IOIs, so each new IOI is scored once into
a running sum (taken out again when its onset leaves the window of MAX_ONSETS). The Viterbi pass
goes on by one step per onset; a new one starts over the window only when the best period is
more than PERIOD_DRIFT from that of the passes kept (at all, up to EXACT_ONSETS onsets, so that
short phrases get the same answer as all their onsets at once: `estimate_tempo`). The last two
are kept going, so a reading that flips between two tempi an octave apart costs a step each.
Once onsets have left the window a pass goes on from the phrase's beginning instead of taking
the window's first onset to be on the beat, so the beats do not move by half a beat when old
onsets go; `phase` is then the beat at or before the window's first onset.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Sequence

import numpy as np

from .beat_grid import Pass, TempoEstimate, viterbi_step

NOTE_VALUES = np.array([1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4])
NOTE_WEIGHTS = np.array([0.10, 0.08, 0.26, 0.04, 0.04, 0.26, 0.05, 0.10, 0.03, 0.04])
NOTE_WEIGHTS = NOTE_WEIGHTS / NOTE_WEIGHTS.sum()
OUTLIER = 0.02 / 4.0  # probability 2 % spread evenly over 0..4 s
TIMING_SD = 0.020  # seconds of timing error regardless of the note value
TIMING_SD_REL = 0.05  # and in proportion to the note's length
PRIOR_BPM, PRIOR_SD = 100.0, 1.0  # log-normal base prior over tempo: nearly flat
BAND, BAND_SD = (60.0, 180.0), 0.01  # and a steep fall outside the band of tempi players use
PREVIOUS_SD, PREVIOUS_WEIGHT = 0.08, 0.9  # prior around the previous phrase's tempo
MIN_BPM, MAX_BPM = 40.0, 240.0
CANDIDATES = np.exp(np.arange(math.log(MIN_BPM), math.log(MAX_BPM), 0.005))  # bpm
MAX_ONSETS = 64  # only the most recent onsets of a long phrase are scored
NOTE_TWELFTHS = np.round(NOTE_VALUES * 12).astype(int)
# how likely a note starts at each twelfth of a beat: on the beat, on the half, the quarters,
# the triplet eighths; other twelfths (sextuplets) are rare
POSITION_WEIGHTS = np.array([1.0, 0.01, 0.01, 0.2, 0.15, 0.01, 0.5, 0.01, 0.15, 0.2, 0.01, 0.01])
FIRST_ON_BEAT = 2.0  # a phrase's first note is that much more likely on the beat: ties go to no pickup
EXACT_ONSETS = 24  # TempoTracker: up to this many onsets it re-decides the positions whenever the period moves
PERIOD_DRIFT = 0.02  # ... and after that, when the period moved this much from the one its Viterbi pass used
PASSES = 2  # Viterbi passes kept going (at the latest two periods)
_PERIODS = 60.0 / CANDIDATES
_EXPECTED = _PERIODS[:, None] * NOTE_VALUES[None, :]  # [candidates, values]: what _note_densities computes
_SD = np.sqrt(TIMING_SD**2 + (TIMING_SD_REL * _EXPECTED) ** 2)
_LOG_POSITION = np.log(POSITION_WEIGHTS).tolist()
_LOG_OUTLIER = math.log(OUTLIER)
_TWELFTHS = NOTE_TWELFTHS.tolist()


def _log_prior(bpm: np.ndarray, previous_bpm: float | None) -> np.ndarray:
    """In logs throughout: far outside the band the prior is below the smallest float."""
    def log_lognormal(centre: float, sd: float) -> np.ndarray:
        return -0.5 * ((np.log(bpm) - math.log(centre)) / sd) ** 2 - math.log(sd)

    centre, half_width = math.sqrt(BAND[0] * BAND[1]), 0.5 * math.log(BAND[1] / BAND[0])
    outside = np.maximum(0.0, np.abs(np.log(bpm / centre)) - half_width)
    base = log_lognormal(PRIOR_BPM, PRIOR_SD) - 0.5 * (outside / BAND_SD) ** 2
    if previous_bpm is None:
        return base
    return np.logaddexp(math.log(1 - PREVIOUS_WEIGHT) + base,
                        math.log(PREVIOUS_WEIGHT) + log_lognormal(previous_bpm, PREVIOUS_SD))


def _note_densities(iois: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """[periods, iois, values] weighted Gaussian densities of each IOI under each note value."""
    expected = periods[:, None, None] * NOTE_VALUES[None, None, :]
    sd = np.sqrt(TIMING_SD**2 + (TIMING_SD_REL * expected) ** 2)
    z = (iois[None, :, None] - expected) / sd
    return NOTE_WEIGHTS * np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))


def estimate_tempo(onsets: Sequence[float], previous_bpm: float | None = None) -> TempoEstimate:
    """Tempo and beat phase from onset times in seconds (one per chord; sorted or not), from the
    last MAX_ONSETS of them: a TempoTracker given them all at once."""
    times = np.asarray(onsets, dtype=float)
    tracker = TempoTracker(previous_bpm)
    for onset in np.unique(times[np.isfinite(times)])[-MAX_ONSETS:].tolist():
        tracker.add(onset)
    return tracker.estimate


class TempoTracker:
    """The running estimate of one phrase, fed its onsets one at a time (module docstring, end):
    `add` each new onset, `forget_before` when the phrase drops its oldest notes, read `estimate`.
    `work`: the IOIs scored and Viterbi steps taken for the latest estimate: per new onset one IOI
    and a step for each pass kept (a window's worth when a pass starts), however long the phrase."""

    def __init__(self, previous_bpm: float | None = None, window: int = MAX_ONSETS):
        self.previous_bpm = None if previous_bpm is None else min(MAX_BPM, max(MIN_BPM, previous_bpm))
        self.window, self.count, self.work, self._work = window, 0, 0, 0  # count: onsets added to the phrase
        self._prior = _log_prior(CANDIDATES, self.previous_bpm)
        self._times: deque[float] = deque()  # the window's onsets
        self._rows: deque[np.ndarray] = deque()  # per IOI in the window: its log-likelihood per candidate
        self._loglik = np.zeros(len(CANDIDATES))  # their sum
        self._dropped = False  # onsets have left: the window does not start at the phrase's first onset
        self._passes: list[Pass] = []  # Viterbi passes at the latest periods, the one in use first
        self._positions: deque[int] = deque()  # twelfths of the window's onsets on the best path
        self._estimate: TempoEstimate | None = None

    @property
    def last(self) -> float | None:
        return self._times[-1] if self._times else None

    @property
    def onsets(self) -> int:
        """Onsets in the window."""
        return len(self._times)

    def add(self, onset: float) -> None:
        """A new onset (seconds); one not after the last is ignored."""
        if not math.isfinite(onset) or (self._times and onset <= self._times[-1]):
            return
        if self._times:  # _note_densities for one IOI, the candidates' parts computed once
            z = (onset - self._times[-1] - _EXPECTED) / _SD
            row = np.log((NOTE_WEIGHTS * np.exp(-0.5 * z * z) / (_SD * math.sqrt(2 * math.pi))).sum(axis=1) + OUTLIER)
            self._rows.append(row)
            self._loglik += row
            self._work += 1
        self._times.append(onset)
        self.count += 1
        if self.count % self.window == 0 and self._rows:  # summed afresh now and then: += and -= drift
            self._loglik = np.sum(self._rows, axis=0)
        while len(self._times) > self.window:
            self._drop()
        self._estimate = None

    def forget_before(self, time: float) -> None:
        """Onsets before `time` leave the window (the phrase dropped its oldest notes)."""
        while self._times and self._times[0] < time:
            self._drop()

    def _drop(self) -> None:
        self._times.popleft()
        if self._rows:
            self._loglik -= self._rows.popleft()
        if self._positions:
            self._positions.popleft()
        for one in self._passes:
            if one.moves:
                one.moves.popleft()
            else:  # it stood on the onset that left: it cannot go on from there
                one.score = None
        self._passes = [one for one in self._passes if one.score is not None]
        self._dropped, self._estimate = True, None

    @property
    def estimate(self) -> TempoEstimate:
        if self._estimate is None:
            self._estimate, self.work, self._work = self._make_estimate(), self._work, 0
        return self._estimate

    def _make_estimate(self) -> TempoEstimate:
        if len(self._times) < 3:
            return TempoEstimate(self.previous_bpm or 120.0, self._times[0] if self._times else 0.0, 0.0)
        score = self._loglik + self._prior
        best = int(np.argmax(score))
        posterior = np.exp(score - score[best])
        near = np.abs(np.log(CANDIDATES / CANDIDATES[best])) <= math.log(1.03)
        confidence = float(posterior[near].sum() / posterior.sum())
        period, times = float(_PERIODS[best]), np.array(self._times)
        beats = self._beat_positions(times, period)
        x, y = beats - beats.mean(), times - times.mean()  # the least-squares line, as np.polyfit
        slope = float(x @ y / (x @ x))
        if slope > 0 and MIN_BPM <= 60.0 / slope <= MAX_BPM:
            period, phase = slope, float(times.mean() - slope * beats.mean())
        else:
            phase = float(np.mean(times - period * beats))
        return TempoEstimate(60.0 / period, phase, confidence)

    def _beat_positions(self, times: np.ndarray, period: float) -> np.ndarray:
        """Beats of the window's onsets, the first in [0, 1), by Viterbi over the twelve positions
        within a beat: a note value moves the position on, its IOI likelihood and the metrical
        weight of where it lands (POSITION_WEIGHTS) score the step. The pass is carried on over the
        IOIs not stepped yet, or started again (module docstring)."""
        drift = 0.0 if self.count <= EXACT_ONSETS else math.log1p(PERIOD_DRIFT)
        now = next((one for one in self._passes if abs(math.log(period / one.period)) <= drift), None)
        if now is None:  # a new pass: from where the phrase's reading put the window's first onset
            last = self._passes[0].period if self._passes else 0.0  # (unless the reading's beat changed)
            if self._dropped and self._positions and last and abs(math.log(period / last)) <= math.log(1.25):
                now = Pass(period, [0.0 if p == self._positions[0] % 12 else -math.inf for p in range(12)])
            else:  # from the first onset as the phrase's: on the beat, or a pickup
                now = Pass(period, [p + math.log(FIRST_ON_BEAT) * (i == 0) for i, p in enumerate(_LOG_POSITION)])
        else:
            self._passes.remove(now)
        self._passes = [now, *self._passes[:PASSES - 1]]
        for one in self._passes:  # each goes on to the last onset: ready when the reading flips back
            iois = np.diff(times[len(one.moves):])
            with np.errstate(divide="ignore"):
                emissions = np.log(_note_densities(iois, np.array([one.period]))[0]).tolist()
            for ioi, emission in zip(iois.tolist(), emissions):
                rest = max(3, int(round(ioi / one.period * 4)) * 3)  # an outlier IOI moves by whole sixteenths
                one.score, came = viterbi_step(one.score, [*emission, _LOG_OUTLIER], [*_TWELFTHS, rest], _LOG_POSITION)
                one.moves.append(came)
            self._work += len(iois)
        position = max(range(12), key=now.score.__getitem__)  # the first best, as np.argmax
        back = [0]  # twelfths back from the last onset
        for came in reversed(now.moves):
            back.append(back[-1] + came[position])
            position = (position - came[position]) % 12
        self._positions = deque(position + back[-1] - b for b in reversed(back))
        return np.array(self._positions, dtype=float) / 12.0


__all__ = ["TempoEstimate", "TempoTracker", "estimate_tempo", "NOTE_VALUES", "NOTE_WEIGHTS"]
