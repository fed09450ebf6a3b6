"""Live adaptation: learn from the melody being heard, and mix that with a trained model.

`ShortTermPPM` is IDyOM's short-term model: a PPM model (liveimpro.lstm.ppm) whose only training data is
the current melody so far, so a motif heard twice becomes likely the third time, which a model
trained on a corpus cannot know. `mix` combines distributions the way IDyOM combines its long- and
short-term models (Pearce 2005, section 6.2.4): each model m gets the weight

    w_m = (H(p_m) / H_max) ** -bias        H = entropy in bits, H_max = log2(predictable tokens)

so a model that is sure of itself (low entropy) counts more; "arithmetic" mixing is the weighted
mean, "geometric" the normalised weighted geometric mean (IDyOM's default, better in its
experiments, but 0.06-0.1 bits per note worse than arithmetic on our pitch+rhythm tokens).
`AdaptiveMixer` packages both for the live engine, one note at a time.

Heard, not played: a token can be observed as context only (`learn=False`): it moves the contexts on
but is never counted as a successor. The engine's own answer is stepped that way. Learned, it closed a
loop: a note the answer repeated made the short-term model sure of it (an order-4 context followed by
one token only has entropy near 0, so its weight ** -3 took the whole mixture), which made the answer
repeat it again. Measured on the answer benchmark (scripts/eval_answers.py, 60 calls x 3 seeds): 16.7 %
of answers stuck 8+ notes on one pitch and the longest literal loops averaged 8.0 notes; the LSTM
alone, 2.2 % and 3.1 notes; learning only what is heard, see the README's answer section.
"""
from __future__ import annotations

import numpy as np

from .ppm import NEVER_PREDICTED, PPMConfig, blend, successor_counts

BOS = NEVER_PREDICTED[1]
# Chosen on the Essen validation split (mixed with the long-term PPM): on this sparse alphabet of
# pitch+rhythm tokens, order 4 beat IDyOM's default short-term model (PPM*, escape X, update
# exclusion) by 0.09 pitch bits per note.
SHORT_TERM = PPMConfig(order=4, escape="c", exclusion=False, update_exclusion=True)
# Also chosen there, mixing the short-term model with the LSTM (and with the long-term PPM): the
# arithmetic mixture beat the geometric one by 0.06-0.1 bits per note, bias 3 being best or within 0.01.
BIAS = 3.0
COMBINATION = "arithmetic"


class ShortTermPPM:
    """PPM over the tokens observed since `reset()` (BOS first), at most `max_history` of them.

    Each prediction filters the earlier positions whose context matches, one order at a time, so it
    costs O(history x orders used) numpy work and no bookkeeping per observed token.
    """

    def __init__(self, vocab_size: int, config: PPMConfig = SHORT_TERM, max_history: int = 4096):
        self.vocab_size, self.config, self.max_history = vocab_size, config, max_history
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros(self.max_history, np.int64)
        self._learned = np.zeros(self.max_history, bool)  # counted as a successor (module docstring)
        self._history[0], self._length = BOS, 1
        self._unlearned = 0  # tokens in the window observed with learn=False

    def observe(self, token: int, learn: bool = True) -> None:
        """Append a token (learn=False: as context only); when full, keep the newest half (the window
        restarts without BOS)."""
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token must be in range 0..{self.vocab_size - 1}, got {token!r}")
        if self._length == self.max_history:
            keep = self.max_history // 2
            self._history[:keep] = self._history[self._length - keep:self._length]
            self._learned[:keep] = self._learned[self._length - keep:self._length]
            self._length = keep
            self._unlearned = int(keep - np.count_nonzero(self._learned[:keep]))
        self._history[self._length], self._learned[self._length] = token, learn
        self._unlearned += not learn
        self._length += 1

    def snapshot(self) -> tuple:
        """What `observe` changes, for `restore`: only the length, unless a full window will shift."""
        full = self._length == self.max_history
        return self._length, self._unlearned, (self._history.copy(), self._learned.copy()) if full else None

    def restore(self, saved: tuple) -> None:
        self._length, self._unlearned, arrays = saved
        if arrays is not None:
            self._history[:], self._learned[:] = arrays

    def probs(self) -> np.ndarray:
        """Distribution of the next token given the tokens observed so far."""
        history, end, order = self._history[:self._length], self._length, self.config.order
        # per order, the earlier positions whose context matches now's (only learned successors)
        matches = [np.flatnonzero(self._learned[1:end]) + 1 if self._unlearned else np.arange(1, end)]
        while len(matches[-1]) and len(matches) - 1 != order and len(matches) < end:
            if order is None and (history[matches[-1]] == history[matches[-1][0]]).all():
                break  # PPM*: the shortest deterministic context is the longest one used
            older = matches[-1] - len(matches)
            keep = (older >= 0) & (history[np.maximum(older, 0)] == history[end - len(matches)])
            matches.append(matches[-1][keep])
        if not len(matches[-1]):
            matches.pop()
        levels = []
        for level, positions in enumerate(matches):
            before = positions - level - 1
            before = np.where(before >= 0, history[np.maximum(before, 0)], -1)
            continuation = self.config.update_exclusion and level < len(matches) - 1
            tokens, raw, cont = successor_counts(0, history[positions], before, self.vocab_size, continuation)
            levels.append((tokens, cont if continuation else raw))
        return blend(levels[::-1], self.vocab_size, self.config)

    def sequence_probs(self, seq) -> np.ndarray:
        """[len(seq) - 1, V]: the short-term distribution before each token of seq (BOS first)."""
        self.reset()
        rows = []
        for token in seq[1:]:
            rows.append(self.probs())
            self.observe(int(token))
        return np.stack(rows)


def mix(dists, bias: float = BIAS, combination: str = COMBINATION, never=NEVER_PREDICTED) -> np.ndarray:
    """Entropy-weighted mixture of distributions [..., V] (same shape each; rows mixed independently)."""
    if combination not in ("geometric", "arithmetic"):
        raise ValueError(f"combination must be geometric or arithmetic, got {combination!r}")
    dists = np.stack([np.asarray(d, np.float64) for d in dists])  # [models, ..., V]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log2(dists)
        entropy = -np.sum(np.where(dists > 0, dists * logs, 0.0), axis=-1, keepdims=True)
        max_entropy = np.log2(dists.shape[-1] - len(never))
        weights = np.maximum(entropy / max_entropy, 1e-6) ** -bias
        weights /= weights.sum(axis=0, keepdims=True)
        if combination == "arithmetic":
            return np.sum(weights * dists, axis=0)
        log_mix = np.sum(np.where(dists > 0, weights * logs, -np.inf), axis=0)
    log_mix -= log_mix.max(axis=-1, keepdims=True)
    out = np.exp2(log_mix)
    return out / out.sum(axis=-1, keepdims=True)


class AdaptiveMixer:
    """Note-by-note live adaptation for the engine: `observe(token)` every note heard or played,
    `mix(model_probs)` before choosing the next one. `reset()` at the start of a new piece.

    Not thread-safe. A `mix` is one short-term prediction plus a few passes over the vocabulary:
    measured median 0.15 ms, p99 5 ms (a loaded 2-core machine), vocabulary 2221, 0-500 notes heard.
    """

    def __init__(self, vocab_size: int, config: PPMConfig = SHORT_TERM, bias: float = BIAS,
                 combination: str = COMBINATION, max_history: int = 4096):
        self.short_term = ShortTermPPM(vocab_size, config, max_history)
        self.bias, self.combination = bias, combination

    def reset(self) -> None:
        self.short_term.reset()

    def observe(self, token: int, learn: bool = True) -> None:
        self.short_term.observe(token, learn)

    def snapshot(self) -> tuple:
        return self.short_term.snapshot()

    def restore(self, saved: tuple) -> None:
        self.short_term.restore(saved)

    def mix(self, model_probs) -> np.ndarray:
        return mix([model_probs, self.short_term.probs()], self.bias, self.combination)
