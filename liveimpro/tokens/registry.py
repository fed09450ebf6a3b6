"""TODO docstring."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelError
from .base import Tokenizer


def load_tokenizer(path) -> Tokenizer:
    """Read a tokenizer's JSON, whichever kind; ModelError naming the file and the reason if it cannot."""
    from .curve import CurveTokenizer
    from .note import NoteTokenizer

    kinds = {cls.kind: cls for cls in (CurveTokenizer, NoteTokenizer)}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(data, dict) or data.get("kind") not in kinds:
        kind = data.get("kind") if isinstance(data, dict) else None
        raise ModelError(f"{path}: not a tokenizer (kind {kind!r}, expected one of {sorted(kinds)})")
    try:
        return kinds[data["kind"]].from_json(data)
    except (ValueError, TypeError) as error:
        raise ModelError(f"{path}: {error}") from None


__all__ = ["load_tokenizer"]
