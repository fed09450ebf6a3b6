"""Prediction by Partial Match (PPM): the variable-order Markov model of the Continuator and IDyOM.

A PPM model predicts the next token from the counts of what followed the same context (the last k
tokens) before, for every k from 0 up to an order bound, blended from long contexts to short ones
(Cleary & Witten 1984; Moffat 1990; Bunton 1996; Pearce 2005, chapter 6):

    p_k(s) = alpha_k(s) + gamma_k * p_{k-1}(s),     p_{-1} = uniform over the alphabet

    alpha_k(s) = (c(s) + K) / (N + E),   gamma_k = E / (N + E),   N = sum over seen s of (c(s) + K)

    escape "a": K=0,    E = 1            escape "c": K=0, E = number of distinct successors
    escape "d": K=-1/2, E = distinct/2   escape "x": K=0, E = successors seen exactly once + 1

`exclusion=True` removes from each shorter context the successors a longer one has already
predicted, which turns the blend into PPM's classic back-off; `exclusion=False` is the interpolated
blend that IDyOM calls "mixtures". `update_exclusion=True` counts a successor, in every context but
the longest one used, once per distinct token that preceded the context (the counts PPM's update
exclusion produces, the same as Kneser-Ney's continuation counts; like IDyOM, the longest context
keeps its full counts). `order=None` is PPM*: use the shortest context that was ever followed by one
token only, else the longest context seen.

Two stores share the blend: `PPM` is trained on a corpus (numpy tables, one per order: a context id
is the id of its one-shorter suffix plus one older token, so contexts are found exactly, without
hashing); `ShortTermPPM` learns from the melody being heard, one token at a time (IDyOM's short-term
model), by filtering the earlier positions of that melody whose context matches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.ma  # noqa: F401  np.unique imports it on its first call (90 ms): at load, not in the first answer

NEVER_PREDICTED = (0, 1)  # PAD and BOS: no melody continues with them, so they get probability 0


@dataclass(frozen=True)
class PPMConfig:
    order: int | None = 5  # longest context in tokens; None = unbounded (PPM*)
    escape: str = "c"  # escape method: "a", "c", "d" or "x" (see the module docstring)
    exclusion: bool = False  # True: back-off with exclusion; False: interpolated blend
    update_exclusion: bool = False  # count successors once per distinct longer context

    def __post_init__(self):
        if self.escape not in ("a", "c", "d", "x"):
            raise ValueError(f"escape must be one of a, c, d, x, got {self.escape!r}")
        if self.order is not None and self.order < 0:
            raise ValueError(f"order must be >= 0 or None (unbounded), got {self.order!r}")

    def describe(self) -> str:
        order = "unbounded" if self.order is None else self.order
        flags = ("exclusion " if self.exclusion else "") + ("update-excl " if self.update_exclusion else "")
        return f"order {order}, escape {self.escape.upper()}, {flags or 'interpolated '}".strip()


def blend(levels, vocab_size: int, config: PPMConfig, never=NEVER_PREDICTED) -> np.ndarray:
    """Probability of every token, from `levels`: (tokens, counts) of the contexts used, longest first.

    `tokens` are distinct ids < vocab_size, `counts` floats > 0. The result sums to 1 and is 0 exactly
    on the `never` tokens, > 0 on all others.
    """
    probs = np.zeros(vocab_size)
    excluded = np.zeros(vocab_size, bool) if config.exclusion else None
    offset = -0.5 if config.escape == "d" else 0.0
    weight = 1.0  # probability mass not yet given out by longer contexts
    for tokens, counts in levels:
        if excluded is not None:
            keep = ~excluded[tokens]
            tokens, counts = tokens[keep], counts[keep]
            excluded[tokens] = True
        if len(tokens) == 0:
            continue
        if config.escape == "a":
            escape = 1.0
        elif config.escape == "x":
            escape = np.count_nonzero(counts == 1) + 1.0
        else:
            escape = len(tokens) * (0.5 if config.escape == "d" else 1.0)
        total = counts.sum() + offset * len(tokens) + escape
        probs[tokens] += (weight / total) * (counts + offset)
        weight *= escape / total
    rest = np.ones(vocab_size, bool) if excluded is None else ~excluded
    rest[list(never)] = False
    if rest.any():
        probs[rest] += weight / np.count_nonzero(rest)
    else:  # every token was predicted by some context: the escape mass has nowhere to go
        probs /= probs.sum()
    return probs


def select_levels(types_per_level: list[int], order: int | None) -> int:
    """How many levels (orders 0..n-1) to use, given the successor-type counts of the contexts found
    for orders 0, 1, ...: all of them when bounded, else up to the shortest deterministic one (PPM*)."""
    if order is None:
        for k, types in enumerate(types_per_level):
            if types == 1:
                return k + 1
    return len(types_per_level)


def successor_counts(groups, successors, before, vocab_size: int, continuation: bool):
    """Count each (group, successor) pair: raw counts, and (if `continuation`) the number of distinct
    tokens `before` the context (-1 where the context starts the sequence: each of those counts once).

    Returns (sorted unique pair keys group * vocab_size + successor, raw counts, continuation counts
    or None), counts as float64.
    """
    pairs, inverse = np.unique(groups * vocab_size + successors, return_inverse=True)
    inverse = inverse.reshape(-1)
    raw = np.bincount(inverse, minlength=len(pairs)).astype(np.float64)
    if not continuation:
        return pairs, raw, None
    at_start = before < 0
    triples = np.unique(inverse[~at_start] * (vocab_size + 1) + before[~at_start])
    distinct = np.bincount(triples // (vocab_size + 1), minlength=len(pairs))
    return pairs, raw, (distinct + np.bincount(inverse[at_start], minlength=len(pairs))).astype(np.float64)


class PPM:
    """A PPM model trained on token sequences ([BOS, ..., EOS] each), fixed after training.

    Level k holds the order-k contexts: `_keys[k]` sorted (id of the order-(k-1) suffix) * V + (the
    older token) for lookup, and per context a slice `_ptr[k][c]:_ptr[k][c+1]` of the successor
    `_tokens[k]`, their `_raw[k]` counts and (with update exclusion) `_cont[k]` continuation counts.
    """

    def __init__(self, vocab_size: int, config: PPMConfig, keys, ptr, tokens, raw, cont):
        self.vocab_size, self.config = vocab_size, config
        self._keys, self._ptr, self._tokens, self._raw, self._cont = keys, ptr, tokens, raw, cont
        self._types = [np.diff(p) for p in ptr]

    @classmethod
    def train(cls, sequences, vocab_size: int, config: PPMConfig = PPMConfig()) -> "PPM":
        seqs = [np.asarray(s, np.int64) for s in sequences if len(s) >= 2]
        if not seqs:
            raise ValueError("PPM needs at least one sequence of 2 or more tokens to train on")
        tokens = np.concatenate(seqs)
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise ValueError(f"tokens must be in range 0..{vocab_size - 1}")
        lengths = np.array([len(s) for s in seqs])
        local = np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.flatnonzero(local >= 1)  # every token after BOS is a prediction target
        cid, n_ctx, level = np.zeros(len(pos), np.int64), 1, 0
        keys, ptrs, succ, raws, conts = [np.zeros(0, np.int64)], [], [], [], []
        while True:
            has_before = local[pos] > level
            before = np.where(has_before, tokens[np.maximum(pos - level - 1, 0)], -1)
            pairs, raw, cont = successor_counts(cid, tokens[pos], before, vocab_size, config.update_exclusion)
            ptrs.append(np.searchsorted(pairs // vocab_size, np.arange(n_ctx + 1)))
            succ.append(pairs % vocab_size)
            raws.append(raw)
            conts.append(cont)
            if level == config.order:
                break
            grow = has_before if config.order is not None else has_before & (np.diff(ptrs[-1])[cid] > 1)
            if not grow.any():
                break
            level_keys, cid = np.unique(cid[grow] * vocab_size + before[grow], return_inverse=True)
            keys.append(level_keys)
            cid, pos, n_ctx, level = cid.reshape(-1), pos[grow], len(level_keys), level + 1
        return cls(vocab_size, config, keys, ptrs, succ, raws, conts)

    @property
    def max_order(self) -> int:
        """Longest context stored (for PPM*, the longest that is ever needed)."""
        return len(self._keys) - 1

    def context_ids(self, seq, targets) -> np.ndarray:
        """[len(targets), levels] ids of the order-0.. contexts before each target index, -1 if unseen."""
        seq, targets = np.asarray(seq, np.int64), np.asarray(targets, np.int64)
        ids = [np.zeros(len(targets), np.int64)]
        for level in range(1, len(self._keys)):
            keys, prev = self._keys[level], ids[-1]
            valid = (prev >= 0) & (targets >= level)
            key = prev * self.vocab_size + seq[np.maximum(targets - level, 0)]
            at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            found = valid & (keys[at] == key)
            if not found.any():
                break
            ids.append(np.where(found, at, -1))
        return np.stack(ids, axis=1)

    def _levels(self, ids_row) -> list:
        found = [int(c) for c in ids_row if c >= 0]
        used = select_levels([int(self._types[k][c]) for k, c in enumerate(found)], self.config.order)
        levels = []
        for k in reversed(range(used)):
            lo, hi = self._ptr[k][found[k]], self._ptr[k][found[k] + 1]
            counts = self._raw[k] if k == used - 1 or not self.config.update_exclusion else self._cont[k]
            levels.append((self._tokens[k][lo:hi], counts[lo:hi]))
        return levels

    def sequence_probs(self, seq) -> np.ndarray:
        """[len(seq) - 1, V]: row i is the distribution of seq[i + 1] given seq[:i + 1]."""
        ids = self.context_ids(seq, np.arange(1, len(seq)))
        return np.stack([blend(self._levels(row), self.vocab_size, self.config) for row in ids])

    def next_probs(self, history) -> np.ndarray:
        """Distribution of the token after `history` (which starts with BOS)."""
        ids = self.context_ids(history, [len(history)])
        return blend(self._levels(ids[0]), self.vocab_size, self.config)
