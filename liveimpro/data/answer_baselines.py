"""The baselines a liveimpro answer is measured against (scripts/eval_answers.py): the call repeated,
the call a diatonic fifth higher, a random walk in the key, and a Continuator-style Markov answer
(liveimpro.lstm.ppm over the call's pitches). Each answers in the call's rhythm, a whole number of
bars after the call; see liveimpro.data.answers for the metrics.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..lstm.ppm import PPM, PPMConfig
from ..melody import Melody
from .answer_calls import CallPair
from .answers import line, pitches

REGISTER_MARGIN = 4  # semitones (the engine's)
MARKOV = PPMConfig(order=4, escape="c")
PITCH_TOKEN = 3  # PPM tokens: 0 PAD, 1 BOS, 2 EOS, then MIDI pitch + 3


# --- baselines ---------------------------------------------------------------------------------------------
def _in_call_rhythm(pair: CallPair, new_pitches) -> Melody:
    call = line(pair.call)
    start, bar = call.notes[0].onset, pair.grid.bar
    shift = math.ceil((pair.split - start) / bar - 1e-9) * bar
    notes = [replace(n, pitch=int(min(127, max(0, p))), onset=n.onset + shift) for n, p in zip(call.notes, new_pitches)]
    return replace(call, notes=tuple(notes), name="baseline")


def _scale_steps(key) -> list[int]:
    return sorted(key.scale)


def _degree_shift(pitch: int, steps: int, key) -> int:
    """`pitch` moved by `steps` degrees of the key's scale (a pitch off the scale: as its nearest one)."""
    scale = _scale_steps(key)
    nearest = min(scale, key=lambda pc: min((pitch - pc) % 12, (pc - pitch) % 12))
    offset = ((pitch - nearest + 6) % 12) - 6
    octave, pc = divmod(pitch - offset, 12)
    octaves, degree = divmod(scale.index(pc) + steps, len(scale))
    return (octave + octaves) * 12 + scale[degree] + offset


def repeat_call(pair: CallPair) -> Melody:
    return _in_call_rhythm(pair, pitches(line(pair.call)))


def transposed_call(pair: CallPair) -> Melody:
    call = pitches(line(pair.call))
    moved = [_degree_shift(p, 4, pair.key) for p in call]
    if max(moved) > max(call) + 5:
        moved = [p - 12 for p in moved]
    return _in_call_rhythm(pair, moved)


def _register(call: Melody) -> tuple[int, int]:
    p = pitches(call)
    return min(p) - REGISTER_MARGIN, max(p) + REGISTER_MARGIN


def random_walk(pair: CallPair, rng: np.random.Generator) -> Melody:
    call = line(pair.call)
    low, high = _register(call)
    scale = sorted(pc for pc in pair.key.scale)
    ladder = [p for p in range(max(0, low), min(127, high) + 1) if p % 12 in scale]
    at = min(range(len(ladder)), key=lambda i: abs(ladder[i] - call.notes[-1].pitch))
    walk = []
    for _ in call.notes:
        step = int(rng.choice([-2, -1, 1, 2]))
        at = at + step if 0 <= at + step < len(ladder) else at - step
        at = min(len(ladder) - 1, max(0, at))
        walk.append(ladder[at])
    return _in_call_rhythm(pair, walk)


def markov_answer(pair: CallPair, rng: np.random.Generator) -> Melody:
    call = pitches(line(pair.call))
    tokens = [p + PITCH_TOKEN for p in call]
    model = PPM.train([[1, *tokens, 2]], 128 + PITCH_TOKEN, MARKOV)
    allowed = np.zeros(128 + PITCH_TOKEN, bool)
    allowed[tokens] = True
    history, out = [1, *tokens], []
    for _ in call:
        probs = np.where(allowed, model.next_probs(history), 0.0)
        token = int(rng.choice(len(probs), p=probs / probs.sum()))
        history.append(token)
        out.append(token - PITCH_TOKEN)
    return _in_call_rhythm(pair, out)


BASELINES = {"call repeated": lambda pair, rng: repeat_call(pair),
             "call in the dominant": lambda pair, rng: transposed_call(pair),
             "random walk": random_walk,
             "Markov (PPM on the call)": markov_answer}


RANDOM_BASELINES = ("random walk", "Markov (PPM on the call)")


__all__ = ["BASELINES", "RANDOM_BASELINES", "repeat_call", "transposed_call", "random_walk", "markov_answer"]
