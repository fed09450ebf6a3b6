"""The prepared training data on disk: melodies split into train/valid, tokenizers, token arrays.

A folder written by `Dataset.save` (scripts/prepare_data.py makes one) holds
- dataset.json: format name and version, build settings and the summary;
- melodies-train.json.gz, melodies-valid.json.gz: the melodies (gzipped JSON);
- curve-vocab.json, note-vocab.json: the tokenizers, built on the training split;
- curve-tokens.npz, note-tokens.npz: per split, every tune's token ids
  ([BOS ... EOS]) concatenated (`{split}_ids`, int32) and where each tune
  starts (`{split}_offsets`, one more entry than tunes).
No pickle: JSON, and .npz read with allow_pickle=False.

The split is by tune and deterministic: a tune goes to validation when a
SHA-256 hash of "<file name>#<position of the tune in the file>" falls in the
lowest `valid_share` of the hash range. A tune keeps its split whatever else is
in the corpus, and every copy of a tune is on one side.
Tunes whose notes repeat an earlier tune's exactly, perhaps transposed or
shifted in time (same pitches and onsets measured from the first note, same
durations), are left out and reported, so that no tune is both trained and
validated on; variants that differ in any note stay.
Transposition augmentation (`transpose=K`) adds, to the training split only,
copies of each tune shifted by -K..+K semitones (0 excluded) that stay in 0..127.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
import zlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..melody import Melody
from .corpus import FileResult, melody_from_json, melody_to_json

FORMAT = "liveimpro-dataset"
FORMAT_VERSION = 1  # bump when the files change; load() then asks for a rebuild
SPLITS = ("train", "valid")
KINDS = ("curve", "note")


def split_of(source: str, position: int, valid_share: float) -> str:
    """'valid' or 'train' for the tune at `position` in the file named `source` (see module docstring)."""
    digest = hashlib.sha256(f"{source}#{position}".encode()).digest()
    return "valid" if int.from_bytes(digest[:8], "big") < valid_share * 2.0**64 else "train"


def transposed_copies(melody: Melody, semitones: int) -> list[Melody]:
    """Copies shifted by -semitones..+semitones (not 0), leaving out those that would leave 0..127."""
    if not melody.notes:
        return []
    low, high = min(n.pitch for n in melody.notes), max(n.pitch for n in melody.notes)
    return [replace(melody.transpose(k), name=f"{melody.name} {k:+d}")
            for k in range(-semitones, semitones + 1) if k != 0 and 0 <= low + k and high + k <= 127]


def _signature(melody: Melody) -> tuple:
    """What makes two tunes the same: pitches and onsets measured from the first note, durations."""
    first = melody.notes[0] if melody.notes else None
    return tuple((n.pitch - first.pitch, round(n.onset - first.onset, 6), round(n.duration, 6))
                 for n in melody.notes)


def tokenizer_class(kind: str):
    if kind == "curve":
        from ..tokens.curve import CurveTokenizer
        return CurveTokenizer
    if kind == "note":
        from ..tokens.note import NoteTokenizer
        return NoteTokenizer
    raise ValueError(f"tokenizer kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _reasons(pairs) -> dict:
    """[(name, reason)] -> {reason: {"count": n, "names": [...]}}, most frequent reason first."""
    grouped = defaultdict(list)
    for name, reason in pairs:
        grouped[reason].append(name)
    return {reason: {"count": len(names), "names": names}
            for reason, names in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))}


def _encode_all(tokenizer, melodies) -> tuple[np.ndarray, np.ndarray]:
    encoded = [np.asarray(tokenizer.encode(m), dtype=np.int32) for m in melodies]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return (np.concatenate(encoded) if encoded else np.zeros(0, np.int32)), offsets


class Dataset:
    """Melodies, tokenizers and token arrays; from `build` (in memory) or `load` (read lazily)."""

    def __init__(self, summary: dict, folder: Path | None = None):
        self.summary = summary
        self.folder = folder
        self._melodies: dict[str, list[Melody]] = {}
        self._tokenizers: dict = {}
        self._tokens: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def build(cls, results: list[FileResult], valid_share: float = 0.1, transpose: int = 0,
              min_count: int = 1, kinds=KINDS, skipped_files=(), dedupe: bool = True) -> "Dataset":
        """From read files, in their order. `skipped_files`: extra (file name, reason) pairs to report
        (e.g. reserved files). `dedupe`: leave out tunes that repeat an earlier one (module docstring)."""
        if not 0 <= valid_share < 1:
            raise ValueError(f"valid_share must be in range 0..1, got {valid_share!r}")
        if transpose < 0:
            raise ValueError(f"transpose must be >= 0 semitones, got {transpose!r}")
        splits = {split: [] for split in SPLITS}
        first_seen, duplicates = {}, []
        for result in results:
            for position, melody in result.tunes:
                signature = _signature(melody)
                if dedupe and signature in first_seen:
                    duplicates.append((f"{melody.name} (= {first_seen[signature]})",
                                       "repeats an earlier tune (same notes, maybe transposed)"))
                    continue
                first_seen[signature] = melody.name
                splits[split_of(result.path.name, position, valid_share)].append(melody)
        originals = len(splits["train"])
        splits["train"] += [c for m in splits["train"][:originals] for c in transposed_copies(m, transpose)]
        dataset = cls({})
        dataset._melodies = splits
        summary = {
            "files": sum(r.error is None for r in results),
            "tunes": {split: len(splits[split]) for split in SPLITS},
            "train_transposed_copies": len(splits["train"]) - originals,
            "notes": {split: sum(len(m) for m in splits[split]) for split in SPLITS},
            "polyphonic_tunes": sum(not m.is_monophonic() for m in splits["train"][:originals] + splits["valid"]),
            "skipped_files": _reasons([(r.path.name, r.error) for r in results if r.error is not None]
                                      + list(skipped_files)),
            "skipped_tunes": _reasons([pair for r in results for pair in r.skipped] + duplicates),
            "vocab": {}, "nearest_valid": {},
            "settings": {"valid_share": valid_share, "transpose": transpose, "min_count": min_count,
                         "dedupe": dedupe},
        }
        for kind in kinds:
            tokenizer = tokenizer_class(kind).build(splits["train"], min_count=min_count)
            dataset._tokenizers[kind] = tokenizer
            for split in SPLITS:
                dataset._tokens[kind, split] = _encode_all(tokenizer, splits[split])
            mapped = total = 0
            for melody in splits["valid"]:
                tune_mapped, tune_total = tokenizer.count_nearest(melody)
                mapped, total = mapped + tune_mapped, total + tune_total
            summary["vocab"][kind] = len(tokenizer)
            summary["nearest_valid"][kind] = {"mapped": mapped, "events": total,
                                              "share": mapped / total if total else 0.0}
        dataset.summary = summary
        return dataset

    def save(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            with gzip.open(folder / f"melodies-{split}.json.gz", "wt", encoding="utf-8") as f:
                json.dump([melody_to_json(m) for m in self.melodies(split)], f, separators=(",", ":"))
        kinds = sorted(self.summary["vocab"])
        for kind in kinds:
            self.tokenizer(kind).save(folder / f"{kind}-vocab.json")
            arrays = {}
            for split in SPLITS:
                arrays[f"{split}_ids"], arrays[f"{split}_offsets"] = self.token_arrays(kind, split)
            np.savez_compressed(folder / f"{kind}-tokens.npz", **arrays)
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "kinds": kinds, "summary": self.summary}
        (folder / "dataset.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder) -> "Dataset":
        """Open a saved dataset; UserError if it is missing, damaged, or of another format version."""
        folder = Path(folder)
        rebuild = f"rebuild it with: python scripts/prepare_data.py --out {folder}"
        meta_file = folder / "dataset.json"
        if not meta_file.is_file():
            raise UserError(f"{folder}: no dataset here (dataset.json missing); {rebuild}")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            found_format, version = meta.get("format"), meta.get("version")
        except (OSError, ValueError, AttributeError) as error:
            raise UserError(f"{meta_file}: damaged ({error}); {rebuild}") from None
        if found_format != FORMAT:
            raise UserError(f"{meta_file}: not a liveimpro dataset (format {found_format!r})")
        if version != FORMAT_VERSION:
            raise UserError(f"{folder}: dataset format version {version}, but this liveimpro reads version "
                            f"{FORMAT_VERSION}; {rebuild}")
        return cls(meta["summary"], folder)

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}")

    def _check_kind(self, kind: str) -> None:
        if kind not in self.summary["vocab"]:
            raise UserError(f"{self.folder or 'dataset'}: no {kind!r} tokens in it (it has: "
                            f"{', '.join(sorted(self.summary['vocab'])) or 'none'})")

    def _damaged(self, path: Path, error: Exception) -> UserError:
        return UserError(f"{path}: damaged ({type(error).__name__}: {error}); rebuild the dataset with "
                         f"scripts/prepare_data.py")

    def melodies(self, split: str) -> list[Melody]:
        """The split's melodies; the training split includes transposed copies when built with them."""
        self._check_split(split)
        if split not in self._melodies:
            path = self.folder / f"melodies-{split}.json.gz"
            try:
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    self._melodies[split] = [melody_from_json(m) for m in json.load(f)]
            except (OSError, EOFError, ValueError, KeyError, TypeError, zlib.error) as error:
                raise self._damaged(path, error) from None
        return self._melodies[split]

    def tokenizer(self, kind: str):
        """The tokenizer of that kind ("curve" or "note"), its vocabulary built on the training split."""
        self._check_kind(kind)
        if kind not in self._tokenizers:
            from ..tokens.registry import load_tokenizer
            self._tokenizers[kind] = load_tokenizer(self.folder / f"{kind}-vocab.json")
        return self._tokenizers[kind]

    def token_arrays(self, kind: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, offsets): all tunes' int32 ids end to end; tune i is ids[offsets[i]:offsets[i + 1]]."""
        self._check_kind(kind)
        self._check_split(split)
        if (kind, split) not in self._tokens:
            path = self.folder / f"{kind}-tokens.npz"
            try:
                with np.load(path, allow_pickle=False) as arrays:
                    ids, offsets = arrays[f"{split}_ids"], arrays[f"{split}_offsets"]
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
                raise self._damaged(path, error) from None
            if ids.dtype != np.int32 or offsets.ndim != 1 or offsets[-1] != len(ids):
                raise self._damaged(path, ValueError(f"{split} ids and offsets disagree"))
            self._tokens[kind, split] = ids, offsets
        return self._tokens[kind, split]

    def tokens(self, kind: str, split: str) -> list[np.ndarray]:
        """One int32 array per tune ([BOS ... EOS]), in the order of `melodies(split)`."""
        ids, offsets = self.token_arrays(kind, split)
        return [ids[start:end] for start, end in zip(offsets[:-1], offsets[1:])]


__all__ = ["Dataset", "split_of", "transposed_copies", "tokenizer_class", "FORMAT_VERSION", "SPLITS", "KINDS"]
