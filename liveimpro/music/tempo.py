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
   equal notes are left to the prior.
3. Prior: log-normal over bpm centred on 100 bpm (spread 0.5 in ln-tempo), times a
   steeper fall outside the usual band 60..140 bpm (spread 0.15 beyond its edges), so
   eighths at 120 are not read as quarters at 240. With a previous tempo (players keep
   their tempo across phrases) the prior is 0.9 * log-normal(previous, spread 8 %) + 0.1 *
   that base prior: the octave of the last phrase wins an ambiguous phrase, while a
   change of tempo within the octave (x0.8, x1.25) still comes through.
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
0.8 s -> 75); faster equal notes read as eighths (0.4 s -> 75, 0.25 s -> 120); with a
previous tempo the octave nearer to it wins.
Fewer than three onsets give no estimate: the previous tempo (or 120) with confidence 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..melody import Melody

NOTE_VALUES = np.array([1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4])
NOTE_WEIGHTS = np.array([0.10, 0.08, 0.26, 0.04, 0.04, 0.26, 0.05, 0.10, 0.03, 0.04])
NOTE_WEIGHTS = NOTE_WEIGHTS / NOTE_WEIGHTS.sum()
OUTLIER = 0.02 / 4.0  # probability 2 % spread evenly over 0..4 s
TIMING_SD = 0.020  # seconds of timing error regardless of the note value
TIMING_SD_REL = 0.05  # and in proportion to the note's length
PRIOR_BPM, PRIOR_SD = 100.0, 0.5  # log-normal base prior over tempo
BAND, BAND_SD = (60.0, 140.0), 0.15  # and a steeper fall outside the usual band of tempi
PREVIOUS_SD, PREVIOUS_WEIGHT = 0.08, 0.9  # prior around the previous phrase's tempo
MIN_BPM, MAX_BPM = 40.0, 240.0
CANDIDATES = np.exp(np.arange(math.log(MIN_BPM), math.log(MAX_BPM), 0.005))  # bpm
MAX_ONSETS = 64  # only the most recent onsets of a long phrase are scored
NOTE_TWELFTHS = np.round(NOTE_VALUES * 12).astype(int)
# how likely a note starts at each twelfth of a beat: on the beat, on the half, the quarters,
# the triplet eighths; other twelfths (sextuplets) are rare
POSITION_WEIGHTS = np.array([1.0, 0.01, 0.01, 0.2, 0.15, 0.01, 0.5, 0.01, 0.15, 0.2, 0.01, 0.01])
FIRST_ON_BEAT = 2.0  # a phrase's first note is that much more likely on the beat: ties go to no pickup


@dataclass(frozen=True, slots=True)
class TempoEstimate:
    bpm: float  # quarter notes per minute
    phase: float  # seconds: the time of a beat (the one at or before the phrase's first onset)
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


def _log_prior(bpm: np.ndarray, previous_bpm: float | None) -> np.ndarray:
    def lognormal(centre: float, sd: float) -> np.ndarray:
        return np.exp(-0.5 * ((np.log(bpm) - math.log(centre)) / sd) ** 2) / sd

    centre, half_width = math.sqrt(BAND[0] * BAND[1]), 0.5 * math.log(BAND[1] / BAND[0])
    outside = np.maximum(0.0, np.abs(np.log(bpm / centre)) - half_width)
    base = lognormal(PRIOR_BPM, PRIOR_SD) * np.exp(-0.5 * (outside / BAND_SD) ** 2)
    if previous_bpm is None:
        return np.log(base)
    return np.log((1 - PREVIOUS_WEIGHT) * base + PREVIOUS_WEIGHT * lognormal(previous_bpm, PREVIOUS_SD))


def _note_densities(iois: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """[periods, iois, values] weighted Gaussian densities of each IOI under each note value."""
    expected = periods[:, None, None] * NOTE_VALUES[None, None, :]
    sd = np.sqrt(TIMING_SD**2 + (TIMING_SD_REL * expected) ** 2)
    z = (iois[None, :, None] - expected) / sd
    return NOTE_WEIGHTS * np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))


def estimate_tempo(onsets: Sequence[float], previous_bpm: float | None = None) -> TempoEstimate:
    """Tempo and beat phase from onset times in seconds (one per chord; sorted or not)."""
    times = np.asarray(onsets, dtype=float)
    times = np.unique(times[np.isfinite(times)])[-MAX_ONSETS:]
    if previous_bpm is not None:
        previous_bpm = min(MAX_BPM, max(MIN_BPM, previous_bpm))
    if len(times) < 3:
        return TempoEstimate(previous_bpm or 120.0, float(times[0]) if len(times) else 0.0, 0.0)
    iois = np.diff(times)
    prior = _log_prior(CANDIDATES, previous_bpm)
    score = np.log(_note_densities(iois, 60.0 / CANDIDATES).sum(axis=2) + OUTLIER).sum(axis=1) + prior
    best = int(np.argmax(score))
    posterior = np.exp(score - score[best])
    near = np.abs(np.log(CANDIDATES / CANDIDATES[best])) <= math.log(1.03)
    confidence = float(posterior[near].sum() / posterior.sum())

    period = 60.0 / CANDIDATES[best]
    beats = _beat_positions(iois, period)
    slope, intercept = np.polyfit(beats, times, 1)
    if slope > 0 and MIN_BPM <= 60.0 / slope <= MAX_BPM:
        period = float(slope)
    else:
        intercept = float(np.mean(times - period * beats))
    return TempoEstimate(60.0 / period, float(intercept), confidence)


def _beat_positions(iois: np.ndarray, period: float) -> np.ndarray:
    """Beat position of every onset (the first one in [0, 1)) by Viterbi over the twelve
    positions within a beat: a note value moves the position on, its IOI likelihood and the
    metrical weight of where it lands (POSITION_WEIGHTS) score the step."""
    log_position = np.log(POSITION_WEIGHTS)
    with np.errstate(divide="ignore"):
        emissions = np.log(_note_densities(iois, np.array([period]))[0])  # [iois, values]
    positions = np.arange(12)
    score = log_position + np.log(FIRST_ON_BEAT) * (positions == 0)
    came_from = []  # per IOI: [12] twelfths moved to reach each position
    for ioi, emission in zip(iois, emissions):
        rest = max(3, int(round(ioi / period * 4)) * 3)  # an outlier IOI moves by whole sixteenths
        moves = np.append(NOTE_TWELFTHS, rest)
        # candidates[m, p]: arriving at p by move m from position p - moves[m]
        step_scores = np.append(emission, math.log(OUTLIER))[:, None]
        candidates = score[(positions[None, :] - moves[:, None]) % 12] + step_scores
        best = np.argmax(candidates, axis=0)
        came_from.append(moves[best])
        score = candidates[best, positions] + log_position
    position = int(np.argmax(score))
    moved = []
    for moves in reversed(came_from):
        moved.append(int(moves[position]))
        position = (position - moved[-1]) % 12
    return (position + np.concatenate([[0], np.cumsum(moved[::-1])])) / 12.0


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


__all__ = ["TempoEstimate", "estimate_tempo", "quantize", "NOTE_VALUES", "NOTE_WEIGHTS"]
