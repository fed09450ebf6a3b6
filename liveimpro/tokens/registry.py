"""A saved tokenizer read back, whichever kind it is.

A tokenizer's JSON (a model folder's vocab.json, written by `Tokenizer.save`) names its kind,
"curve" or "note"; `load_tokenizer` reads it with that kind's class. Whatever cannot be read
is a ModelError naming the file and the reason, in one line.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..files import read_json
from .base import Tokenizer
from .curve import CurveTokenizer
from .note import NoteTokenizer

KINDS: dict[str, type[Tokenizer]] = {cls.kind: cls for cls in (CurveTokenizer, NoteTokenizer)}


def load_tokenizer(path) -> Tokenizer:
    """Read a tokenizer's JSON, whichever kind; ModelError naming the file and the reason if it cannot."""
    data = read_json(Path(path))
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:  # a str first: a list or dict cannot be looked up
        raise ModelError(f"{path}: not a tokenizer (kind {kind!r}, expected one of {sorted(KINDS)})")
    try:
        return KINDS[kind].from_json(data)
    except (ValueError, TypeError) as error:
        raise ModelError(f"{path}: {error}") from None


__all__ = ["load_tokenizer", "KINDS"]
