"""What a next-note model is measured against, all over the same token alphabet as the model.

Every predictor maps a token sequence [BOS, t1, ..., tn, EOS] to `sequence_probs(seq)`, an array
[len(seq) - 1, V] whose row i is its distribution of seq[i + 1] given seq[:i + 1]:

- `Uniform`: every token 1/V (joint bits = log2 V exactly); its pitch-only figure is uniform over
  the pitches the vocabulary can reach from the previous note (`uniform_pitches`), not the token sum.
- `Unigram`: token frequencies of the training tunes, add-one smoothed over the predictable tokens.
- `LongTermPPM`: PPM (liveimpro.lstm.ppm) trained on the training tunes (IDyOM's long-term model, LTM).
- `ShortTermOnly`: PPM on the current melody so far only (IDyOM's short-term model, STM).
- `Mixture`: the entropy-weighted mixture (liveimpro.lstm.adapt.mix) of other predictors' rows, e.g.
  LTM+STM (IDyOM's "both") or LSTM+STM; it reuses the rows its parts produced for the same tune.
"""
from __future__ import annotations

import numpy as np

from ..lstm.adapt import BIAS, COMBINATION, SHORT_TERM, ShortTermPPM, mix
from ..lstm.ppm import NEVER_PREDICTED, PPM, PPMConfig


class Uniform:
    name = "uniform"
    uniform_pitches = True  # pitch-only: 1 / (number of distinct pitches reachable), see evaluate

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def sequence_probs(self, seq) -> np.ndarray:
        return np.full((len(seq) - 1, self.vocab_size), 1.0 / self.vocab_size)


class Unigram:
    name = "unigram (add-one)"

    def __init__(self, train_sequences, vocab_size: int):
        targets = np.concatenate([np.asarray(s[1:], np.int64) for s in train_sequences])
        counts = np.bincount(targets, minlength=vocab_size).astype(np.float64) + 1.0
        counts[list(NEVER_PREDICTED)] = 0.0
        self.probs = counts / counts.sum()

    def sequence_probs(self, seq) -> np.ndarray:
        return np.broadcast_to(self.probs, (len(seq) - 1, len(self.probs)))


class LongTermPPM:
    def __init__(self, train_sequences, vocab_size: int, config: PPMConfig = PPMConfig()):
        self.model = PPM.train(train_sequences, vocab_size, config)
        self.name = f"PPM ({config.describe()})"

    def sequence_probs(self, seq) -> np.ndarray:
        return self.model.sequence_probs(seq)


class ShortTermOnly:
    def __init__(self, vocab_size: int, config: PPMConfig = SHORT_TERM):
        self.model = ShortTermPPM(vocab_size, config)
        self.name = f"STM alone ({config.describe()})"

    def sequence_probs(self, seq) -> np.ndarray:
        return self.model.sequence_probs(seq)


class Mixture:
    def __init__(self, name: str, parts: list[str], bias: float = BIAS, combination: str = COMBINATION):
        self.name, self.parts, self.bias, self.combination = name, parts, bias, combination

    def combine(self, rows_by_name: dict) -> np.ndarray:
        return mix([rows_by_name[part] for part in self.parts], self.bias, self.combination)
