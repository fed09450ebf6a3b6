"""Benchmark the work per note of `Responder.hear` as a phrase grows: it should stay flat, where
the full-phrase tempo estimate it replaced grew with the phrase.

    python scripts/bench_hear.py                          # 16..2048 onsets, the shipped LSTM
    python scripts/bench_hear.py --lengths 64 512 --lstm models/note-lstm --seed 3

For each length n, a phrase of n onsets is played into the engine's listening end the way the
live engine does it (`liveimpro.live.input.LiveInput`, which keeps the last 512 notes; `hear()`
at every new onset, and with final=True whenever no key is held): a made-up but ordinary melody
(steps and leaps in C major; quarters, eighths, dotted and triplet figures, sixteenths, halves;
a chord now and then; notes held 60..95 % of their IOI) at 104 bpm with +-12 ms of uniform
timing jitter, from a seeded generator. Columns, microseconds per onset (median, p99):

- hear: `Responder.hear` at the onset, everything included: the tempo tracker, tokenizing the
  notes after the last event the model heard, one model step (the note before this one);
- tempo: `TempoTracker.add` + `.estimate` alone, on the phrase's onsets;
- old: the tempo estimate as it was before the tracker (`full_phrase_estimate` below, verbatim:
  every IOI of the last 64 onsets scored against every candidate tempo and a Viterbi pass over
  all of them, at every onset) on the same onsets, in the same process; timed at every onset up
  to 256 onsets, at 256 onsets spread evenly over longer phrases (its cost is flat past 64);
- ratio: old median / tempo median;
- cpu p99: the same calls' p99 in this thread's CPU time, which leaves out the time spent waiting
  for a core (on a shared machine the wall-clock p99 is mostly that; the header gives the load).
Tests never gate on these numbers; they are for reading.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import sys
import time

import numpy as np

from liveimpro.cli import run_reporting_errors
from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.live.input import LiveInput, NoteOn
from liveimpro.machine import machine_info
from liveimpro.music.responder import Responder
from liveimpro.music.tempo import (
    CANDIDATES,
    FIRST_ON_BEAT,
    MAX_BPM,
    MAX_ONSETS,
    MIN_BPM,
    NOTE_TWELFTHS,
    OUTLIER,
    POSITION_WEIGHTS,
    TempoEstimate,
    TempoTracker,
    _log_prior,
    _note_densities,
)

LENGTHS = (16, 64, 256, 512, 1024, 2048)
BPM = 104.0
JITTER = 0.012  # seconds, uniform +-
FIGURES = ([1.0], [0.5, 0.5], [0.75, 0.25], [1 / 3] * 3, [1.5, 0.5], [0.25] * 4, [2.0], [0.5, 0.25, 0.25])
FIGURE_WEIGHTS = np.array([0.22, 0.3, 0.08, 0.06, 0.1, 0.06, 0.08, 0.1])
SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
OLD_TIMED = 256  # onsets at which the old estimate is timed, at most


def full_phrase_estimate(onsets, previous_bpm=None) -> TempoEstimate:
    """`estimate_tempo` as it was before TempoTracker: the baseline, kept verbatim."""
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
    beats = _full_beat_positions(iois, period)
    slope, intercept = np.polyfit(beats, times, 1)
    if slope > 0 and MIN_BPM <= 60.0 / slope <= MAX_BPM:
        period = float(slope)
    else:
        intercept = float(np.mean(times - period * beats))
    return TempoEstimate(60.0 / period, float(intercept), confidence)


def _full_beat_positions(iois: np.ndarray, period: float) -> np.ndarray:
    """The Viterbi pass of the old estimate, over every IOI at every call (verbatim)."""
    log_position = np.log(POSITION_WEIGHTS)
    with np.errstate(divide="ignore"):
        emissions = np.log(_note_densities(iois, np.array([period]))[0])  # [iois, values]
    positions = np.arange(12)
    score = log_position + np.log(FIRST_ON_BEAT) * (positions == 0)
    came_from = []  # per IOI: [12] twelfths moved to reach each position
    for ioi, emission in zip(iois, emissions):
        rest = max(3, int(round(ioi / period * 4)) * 3)  # an outlier IOI moves by whole sixteenths
        moves = np.append(NOTE_TWELFTHS, rest)
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


def melody(onsets: int, rng: np.random.Generator, start: float = 10.0) -> list[tuple[float, float, list[int]]]:
    """(onset, release, pitches) of `onsets` chord onsets: a walk in C major, in figures of a beat or two."""
    beats: list[float] = [0.0]
    while len(beats) < onsets + 1:
        for value in FIGURES[rng.choice(len(FIGURES), p=FIGURE_WEIGHTS / FIGURE_WEIGHTS.sum())]:
            beats.append(beats[-1] + value)
    times = start + np.array(beats[:onsets + 1]) * 60.0 / BPM + rng.uniform(-JITTER, JITTER, onsets + 1)
    degree, notes = 28, []
    for i in range(onsets):
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3, 4]), 21, 35))
        pitch = 12 * (degree // 7) + int(SCALE[degree % 7])
        chord = [pitch, pitch - 4 if degree % 7 in (0, 3, 4) else pitch - 3] if rng.random() < 0.08 else [pitch]
        release = times[i] + rng.uniform(0.6, 0.95) * (times[i + 1] - times[i])
        notes.append((float(times[i]), float(release), chord))
    return notes


class Stopwatch:
    """Microseconds of each timed call: wall clock and this thread's CPU time."""

    def __init__(self):
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, call, *args, **kwargs):
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        result = call(*args, **kwargs)
        self.cpu.append((time.thread_time_ns() - cpu) / 1e3)
        self.wall.append((time.perf_counter_ns() - wall) / 1e3)
        return result

    def row(self, cpu: bool = True) -> str:
        wall = np.array(self.wall)
        text = f"{np.median(wall):9.1f} {np.percentile(wall, 99):8.1f}"
        return text + (f" {np.percentile(self.cpu, 99):8.1f}" if cpu else "")


def play(responder: Responder, notes) -> tuple[Stopwatch, list[float]]:
    """Play the notes into a LiveInput and the responder as the engine does; the time of each
    hear() at a new onset, and the onsets (chords' first notes' times)."""
    live, timings, onsets = LiveInput(), Stopwatch(), []
    pending: list[tuple[float, int]] = []  # (release time, pitch)
    responder.start_call()
    for onset, release, pitches in notes:
        for off, pitch in sorted(p for p in pending if p[0] <= onset):
            live.feed([0x80, pitch, 0], off)
            if live.held_count == 0:
                responder.hear(live.notes, off, final=True)
        pending = [p for p in pending if p[0] > onset]
        for index, pitch in enumerate(pitches):
            event = live.feed([0x90, pitch, 90], onset + 0.004 * index)
            if isinstance(event, NoteOn) and event.chord_start:
                timings(responder.hear, live.notes, onset)
                onsets.append(onset)
            pending.append((release, pitch))
    return timings, onsets


def time_tempo(onsets: list[float]) -> Stopwatch:
    tracker, timings = TempoTracker(), Stopwatch()

    def step(onset):
        tracker.add(onset)
        return tracker.estimate

    for onset in onsets:
        timings(step, onset)
    return timings


def time_old(onsets: list[float]) -> Stopwatch:
    timings = Stopwatch()
    for n in np.unique(np.linspace(1, len(onsets), min(len(onsets), OLD_TIMED)).round().astype(int)):
        timings(full_phrase_estimate, onsets[:n])
    return timings




def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS), help="phrase lengths in onsets")
    parser.add_argument("--lstm", default=DEFAULT_LSTM, help="the model folder the responder feeds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("command: " + " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine_info(f'numpy {np.__version__}')}")
    from liveimpro.lstm.improviser import (
        Improviser,  # here: loading the script (tests do) needs no torch
    )

    rng = np.random.default_rng(args.seed)
    responder = Responder(Improviser.load(args.lstm, rng), rng=rng)
    play(responder, melody(64, rng))  # warm up
    print(f"\nper-onset microseconds, wall clock; {BPM:g} bpm, +-{JITTER * 1e3:g} ms jitter, seed {args.seed}")
    print(f"{'onsets':>7s} {'hear med':>9s} {'p99':>8s} {'cpu p99':>8s} {'tempo med':>9s} {'p99':>8s} "
          f"{'cpu p99':>8s} {'old med':>9s} {'p99':>8s} {'ratio':>7s}  bpm: tracker / old")
    for n in args.lengths:
        notes = melody(n, rng)
        gc.collect()
        hear, onsets = play(responder, notes)
        bpm = responder.tempo.bpm
        gc.collect()
        tempo = time_tempo(onsets)
        old = time_old(onsets)
        ratio = np.median(old.wall) / np.median(tempo.wall)
        print(f"{n:7d} {hear.row()} {tempo.row()} {old.row(cpu=False)} {ratio:6.1f}x"
              f"  {bpm:.2f} / {full_phrase_estimate(onsets).bpm:.2f}")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_hear", main))
