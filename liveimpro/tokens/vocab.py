"""A vocabulary: token triples <-> integer ids, its JSON form, and the nearest-token search.

A token is a triple (pitch_part, ioi_ticks, duration_ticks): the pitch part is
a short string whose meaning the tokenizer defines ("@60", "+2", "52:0,4,7"),
the times are ticks of the quantisation grid (liveimpro.tokens.grid). Ids 0, 1, 2 are
the specials PAD, BOS, EOS; tokens follow from id 3. A vocabulary built from
counts lists the most frequent token first (ties in token order), so that the
same data always gives the same ids.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
N_SPECIALS = len(SPECIALS)

Token = tuple[str, int, int]


class Vocabulary:
    def __init__(self, tokens: Iterable[Token], counts: Iterable[int] | None = None):
        self.tokens: tuple[Token, ...] = tuple(tokens)  # token of id N_SPECIALS + i
        self.counts: tuple[int, ...] = tuple(counts) if counts is not None else (0,) * len(self.tokens)
        if len(self.counts) != len(self.tokens):
            raise ValueError(f"{len(self.counts)} counts for {len(self.tokens)} tokens")
        self._ids = {token: N_SPECIALS + i for i, token in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            duplicate = next(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(f"duplicate token {duplicate!r}")

    @classmethod
    def from_counts(cls, counts: Counter, min_count: int = 1) -> "Vocabulary":
        """The tokens seen at least `min_count` times, most frequent first."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count!r}")
        kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        return cls(kept, [counts[t] for t in kept])

    def __len__(self) -> int:
        """Number of ids, specials included."""
        return N_SPECIALS + len(self.tokens)

    def id(self, token: Token) -> int | None:
        """The token's id, None if it is not in the vocabulary."""
        return self._ids.get(token)

    def token(self, index: int) -> Token | None:
        """The token of an id, None for a special id; IndexError outside 0..len-1."""
        if not 0 <= index < len(self):
            raise IndexError(f"token id must be in range 0..{len(self) - 1}, got {index!r}")
        return None if index < N_SPECIALS else self.tokens[index - N_SPECIALS]

    def to_json(self) -> dict:
        return {"specials": list(SPECIALS), "tokens": [list(t) for t in self.tokens], "counts": list(self.counts)}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        """Checks the shape only; what a pitch part means is the tokenizer's to check."""
        if list(data.get("specials", ())) != list(SPECIALS):
            raise ValueError(f"specials must be {list(SPECIALS)}, got {data.get('specials')!r}")
        tokens = []
        for row in data.get("tokens", ()):
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in row[1:])):
                raise ValueError(f"a token must be [pitch part, ioi ticks, duration ticks], got {row!r}")
            tokens.append((row[0], row[1], row[2]))
        counts = data.get("counts")
        if counts is not None and not all(isinstance(n, int) and n >= 0 for n in counts):
            raise ValueError("counts must be non-negative integers")
        return cls(tokens, counts)


def nearest(features: np.ndarray, query: np.ndarray, allowed: np.ndarray) -> int:
    """Row of `features` [n, k] nearest to `query` [k] (Euclidean) among rows where `allowed` [n] is True.

    Ties go to the lowest index (in a vocabulary built from counts: the most
    frequent token). ValueError when no row is allowed.
    """
    distance = np.square(features - query).sum(axis=1)
    distance[~allowed] = np.inf
    best = int(np.argmin(distance))
    if not allowed[best]:
        raise ValueError("no vocabulary token is allowed here")
    return best


__all__ = ["PAD", "BOS", "EOS", "SPECIALS", "N_SPECIALS", "Token", "Vocabulary", "nearest"]
