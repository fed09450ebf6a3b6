"""Scoring token sequences in bits per note: `score` runs predictors over whole tunes and sums, per
predictor, the joint bits (-log2 p(token)), the pitch-only bits and the end-of-melody bits.

A predictor has a `name` and `sequence_probs(seq)` -> [len(seq) - 1, V], row i its distribution of
seq[i + 1] given seq[:i + 1] (see liveimpro.data.baselines); `LSTMPredictor` wraps an exported model
folder. Mixtures (baselines.Mixture) combine the rows their parts gave for the same tune.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tally:
    """Running sums of one predictor's bits over the notes scored."""
    joint: float = 0.0
    pitch: float = 0.0
    eos: float = 0.0
    notes: int = 0
    melodies: int = 0

    def as_dict(self, name: str) -> dict:
        """Means per note (None when nothing was scored)."""
        def mean(total, count):
            return total / count if count else None
        return {"name": name, "joint_bits_per_note": mean(self.joint, self.notes),
                "pitch_bits_per_note": mean(self.pitch, self.notes),
                "eos_bits_per_melody": mean(self.eos, self.melodies), "notes": self.notes, "melodies": self.melodies}


def note_pitches(tokenizer, seq) -> tuple[np.ndarray, np.ndarray]:
    """For the note tokens seq[1:-1]: next_pitches before each [n, V], and each note's top pitch [n]."""
    tops, pitches, prev = [], [], None
    for token in seq[1:-1]:
        reachable = tokenizer.next_pitches(prev)
        tops.append(reachable)
        pitches.append(reachable[token])
        prev = tokenizer.token_event(prev, int(token))
    return np.stack(tops), np.array(pitches)


def score(tokenizer, sequences, predictors, mixtures=()) -> dict[str, Tally]:
    """{name: Tally} for every predictor and mixture over `sequences` ([BOS, notes..., EOS] each)."""
    tallies = {p.name: Tally() for p in [*predictors, *mixtures]}
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        n = len(seq) - 2
        if n < 1:
            continue
        tops, pitch = note_pitches(tokenizer, seq)
        same_pitch, sounding = tops == pitch[:, None], tops >= 0
        rows = {p.name: p.sequence_probs(seq) for p in predictors}
        rows.update({m.name: m.combine(rows) for m in mixtures})
        for p in [*predictors, *mixtures]:
            probs, tally = rows[p.name], tallies[p.name]
            notes = probs[:n]
            tally.joint -= np.log2(notes[np.arange(n), seq[1:-1]]).sum()
            if getattr(p, "uniform_pitches", False):
                tally.pitch += sum(np.log2(len(np.unique(t[t >= 0]))) for t in tops)
            else:
                hit = np.where(same_pitch, notes, 0.0).sum(axis=1)
                tally.pitch -= np.log2(hit / np.where(sounding, notes, 0.0).sum(axis=1)).sum()
            tally.eos -= np.log2(probs[n, seq[-1]])
            tally.notes += n
            tally.melodies += 1
    return tallies


class LSTMPredictor:
    """An exported model folder's network, scoring a whole tune in one `forward_sequence` call.
    Sets torch to one thread, process-wide (as liveimpro.lstm.improviser does)."""

    def __init__(self, folder):
        import torch

        torch.set_num_threads(1)  # one tune is a few small matrix products: more threads only wait on each other
        self._torch, self._module = torch, folder.module
        self.name = "LSTM"

    def sequence_probs(self, seq) -> np.ndarray:
        torch = self._torch
        # The profiling executor re-optimises for every new sequence length; plain execution is ~10x faster.
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            logits = self._module.forward_sequence(torch.as_tensor(np.asarray(seq[:-1]), dtype=torch.int64))
            return torch.softmax(logits.double(), dim=-1).numpy()
