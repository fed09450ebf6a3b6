"""Finding melody files, reading any of them (in parallel, tune by tune), and caching what was read.

Reading a large ABC collection with music21 takes minutes, so every file read
is cached as gzipped JSON under `$LIVEIMPRO_CACHE/parsed/` (default
`~/.cache/liveimpro/parsed/`), keyed by a hash of the file's name and bytes
and PARSER_VERSION: a changed file, or a changed reader (bump PARSER_VERSION),
is read again. No pickle anywhere.

Reserved for evaluation, never to be trained, validated or tuned on: the Essen
file kinder0.abc and the Bach chorales of the music21 corpus (`is_reserved`).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import signal
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MidiFileError, UserError
from ..files import atomic_write, midi_file_error, read_limited
from ..melody import Melody, Note
from ..midi.files import read_midi
from .scores import (
    ABC_SUFFIXES,
    KERN_SUFFIXES,
    MAX_SCORE_BYTES,
    MUSICXML_SUFFIXES,
    abc_tunes,
    decode_text,
    parse_abc_tune,
    read_score_file,
)

MIDI_SUFFIXES = (".mid", ".midi")
SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES + KERN_SUFFIXES
RESERVED_ESSEN_FILES = ("kinder0.abc",)  # in music21/corpus/essenFolksong/: kept for external evaluation
RESERVED_MUSIC21_FOLDERS = ("bach",)  # music21/corpus/bach/: the Bach chorales, kept for external evaluation
PARSER_VERSION = 3  # bump whenever reading changes what a file yields: it invalidates the cache


@dataclass
class FileResult:
    path: Path
    tunes: list[tuple[int, Melody]] = field(default_factory=list)  # (position in the file, melody), in order
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tune label, reason): failed or no notes
    error: str | None = None  # why the whole file could not be read; None if it could


def music21_corpus() -> Path:
    """The corpus folder of the installed music21 package (found without importing music21)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("music21 is not installed: pip install music21")
    return Path(list(spec.submodule_search_locations)[0]) / "corpus"


def is_reserved(path) -> bool:
    path = Path(path).resolve()
    corpus = music21_corpus().resolve()
    in_reserved_folder = any(path.is_relative_to(corpus / folder) for folder in RESERVED_MUSIC21_FOLDERS)
    return in_reserved_folder or path.name in RESERVED_ESSEN_FILES


def reserved_essen_files() -> list[Path]:
    """The Essen files kept for evaluation (kinder0.abc)."""
    return [music21_corpus() / "essenFolksong" / name for name in RESERVED_ESSEN_FILES]


def essen_files() -> list[Path]:
    """The Essen folk song ABC files shipped with music21, minus the reserved ones."""
    return sorted(p for p in (music21_corpus() / "essenFolksong").glob("*.abc") if not is_reserved(p))


def find_files(paths) -> list[Path]:
    """Melody files among `paths` (files, or folders searched recursively by suffix), sorted, no repeats.
    A named file is kept whatever its suffix (reading it says what is wrong); a missing path is a UserError."""
    found = set()
    for path in map(Path, paths):
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            found.add(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return sorted(found)


def melody_to_json(melody: Melody) -> dict:
    return {"name": melody.name, "tempo": melody.tempo, "time_signature": list(melody.time_signature),
            "key": melody.key, "notes": [[n.pitch, n.onset, n.duration, n.velocity] for n in melody.notes]}


def melody_from_json(data: dict) -> Melody:
    return Melody(notes=tuple(Note(int(p), float(o), float(d), int(v)) for p, o, d, v in data["notes"]),
                  tempo=float(data["tempo"]), time_signature=tuple(data["time_signature"]),
                  key=data["key"], name=data["name"])


def cache_folder() -> Path:
    return Path(os.environ.get("LIVEIMPRO_CACHE") or Path.home() / ".cache" / "liveimpro") / "parsed"


def _cache_file(path: Path, content: bytes) -> Path:
    digest = hashlib.sha256(f"{PARSER_VERSION}\0{path.name}\0".encode() + content).hexdigest()
    return cache_folder() / f"{digest}.json.gz"


def _load_cached(path: Path, cache_file: Path) -> FileResult | None:
    """The cached result, or None if there is none or it is unreadable (then the file is read again)."""
    try:
        with gzip.open(cache_file, "rt", encoding="utf-8") as f:
            data = json.load(f)
        tunes = [(int(pos), melody_from_json(m)) for pos, m in data["tunes"]]
        return FileResult(path, tunes, [(str(label), str(reason)) for label, reason in data["skipped"]])
    except (OSError, EOFError, ValueError, KeyError, TypeError, zlib.error):
        return None


def _store_cached(result: FileResult, cache_file: Path) -> None:
    """Best effort: a cache that cannot be written only costs time next run."""
    data = {"parser": PARSER_VERSION, "file": result.path.name,
            "tunes": [[pos, melody_to_json(m)] for pos, m in result.tunes], "skipped": result.skipped}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file, lambda path: _write_gzip_json(path, data))
    except OSError:
        pass


def _write_gzip_json(path: Path, data) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))


def file_kind(path: Path, content: bytes) -> str:
    """"midi", "abc" or "score" (MusicXML, kern) by the suffix, "" for any other; a file that starts as a
    MIDI file does (MThd) is read as one whatever its name."""
    suffix = path.suffix.lower()
    if content.startswith(b"MThd") or suffix in MIDI_SUFFIXES:
        return "midi"
    return "abc" if suffix in ABC_SUFFIXES else "score" if suffix in MUSICXML_SUFFIXES + KERN_SUFFIXES else ""


def _worker_start() -> None:
    """A forked worker ends at Pool.terminate's SIGTERM whatever it is doing. It inherits our
    handler (a command's KeyboardInterrupt, duet's stop flag), which runs only once its Python runs
    again: a worker waiting in C never ended, and the pool waited for it until the test run's
    timeout (seen once in CI, tests/test_evaluate.py with --jobs 2). It is forked with SIGTERM
    blocked (`_forked_with_sigterm_blocked`) and unblocks it only once the default action is back."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _forked_with_sigterm_blocked(make_pool):
    """`make_pool()`, its workers forked with SIGTERM blocked; it waits in each until `_worker_start`
    has put back the default action. Without it, a pool closed at once (a tiny corpus, read by the
    first worker before the second had started) sent its SIGTERM into that gap: the signal only
    tripped the inherited Python handler, which `_worker_start` then replaced, so it was lost; the
    worker waited for tasks on the lock the terminating pool holds, and the pool for the worker,
    for ever (tests/test_evaluate.py, three pytest workers). The pool's own threads, started here,
    keep SIGTERM blocked: the workers they fork again start the same way."""
    if not hasattr(signal, "pthread_sigmask"):
        return make_pool()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        return make_pool()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # a SIGTERM meanwhile is delivered here, now


def _read_unit(unit) -> tuple[str, list, list, str | None]:
    """Read one unit of work: (path, kind, ABC tune or None for the whole file).
    Returns (path, [(position, melody)], [(label, reason)], file error or None)."""
    path, kind, tune = unit
    try:
        if tune is not None:
            found = [(tune.position, tune.label, parse_abc_tune(tune))]
        elif kind == "midi":
            # the written beats, as before tempo maps were followed: a tune's rhythm, not its rubato
            found = [(0, path.name, read_midi(path, need_notes=True, follow_tempo=False))]
        elif kind == "score":
            found = [(pos, f"{path.name} #{pos + 1}", m) for pos, m in enumerate(read_score_file(path))]
        else:
            return str(path), [], [], f"unsupported file type {path.suffix or '(no suffix)'!r}"
    except MidiFileError as error:
        if tune is not None:
            return str(path), [], [(tune.label, error.reason)], None
        return str(path), [], [], error.reason
    tunes = [(pos, m) for pos, _, m in found if m.notes]
    return str(path), tunes, [(label, "no notes") for _, label, m in found if not m.notes], None


def read_many(paths, jobs: int = 1, progress: bool = False, use_cache: bool = True) -> list[FileResult]:
    """Read every file, one FileResult each in the given order; never raises for a bad file.

    Cached files are not read again. The rest is split into units (one per ABC
    tune, one per other file) spread over `jobs` processes, with a tqdm bar
    on stderr when `progress`.
    """
    from tqdm import tqdm

    results: dict[Path, FileResult] = {}
    cache_files, units = {}, []
    for path in dict.fromkeys(map(Path, paths)):  # a file named twice is read once
        results[path] = FileResult(path)
        try:
            content = read_limited(path, MAX_SCORE_BYTES)  # MIDI files are held to less when parsed
        except MidiFileError as error:
            results[path].error = error.reason
            continue
        cache_files[path] = _cache_file(path, content)
        cached = _load_cached(path, cache_files[path]) if use_cache else None
        kind = file_kind(path, content)
        if cached is not None:
            results[path] = cached
        elif kind == "abc":
            tunes = abc_tunes(decode_text(content), path.name)
            units.extend((path, kind, tune) for tune in tunes)
            if not tunes:
                results[path].error = "no ABC tunes (no line starts with X:)"
        else:
            units.append((path, kind, None))

    remaining = {path: 0 for path, _, _ in units}
    for path, _, _ in units:
        remaining[path] += 1

    def collect(outcomes):
        for path, tunes, skipped, error in tqdm(outcomes, total=len(units), unit="tune", desc="reading",
                                                disable=not progress):
            result = results[Path(path)]
            result.tunes.extend(tunes)  # units come back in order: tunes stay in file order
            result.skipped.extend(skipped)
            result.error = result.error or error
            remaining[result.path] -= 1
            if remaining[result.path] == 0 and result.error is None and use_cache:
                _store_cached(result, cache_files[result.path])  # now, so an interrupted run keeps it

    if jobs > 1 and len(units) > 1:
        import multiprocessing

        if any(kind != "midi" for _, kind, _ in units):
            import music21  # noqa: F401  imported once here, inherited by the forked workers
        with _forked_with_sigterm_blocked(lambda: multiprocessing.Pool(jobs, initializer=_worker_start)) as pool:
            collect(pool.imap(_read_unit, units, chunksize=8))
    else:
        collect(map(_read_unit, units))
    return list(results.values())


def reason_counts(reasons) -> str:
    """'2 truncated MIDI file, 1 empty file': how many times each reason was given, counting by its part
    before any details in parentheses, most frequent first."""
    counts = Counter(reason.split(" (")[0] for reason in reasons)
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def skip_summary(file_reasons, tune_reasons) -> str:
    """'2 files skipped: 2 empty file; 1 tune skipped: 1 no notes' ('none skipped' when both are empty)."""
    parts = [f"{len(reasons)} {kind}{'s' * (len(reasons) != 1)} skipped: {reason_counts(reasons)}"
             for kind, reasons in (("file", list(file_reasons)), ("tune", list(tune_reasons))) if reasons]
    return "; ".join(parts) or "none skipped"


def read_any(path) -> list[Melody]:
    """Every melody with notes in one file of any supported kind (cached), at least one: tunes that fail
    or have no notes are left out, and a file without any raises MidiFileError saying why."""
    result = read_many([path])[0]
    if result.error is not None:
        raise midi_file_error(path, result.error)
    if not result.tunes and not result.skipped:
        raise midi_file_error(path, "no notes")
    if not result.tunes:
        label, reason = result.skipped[0]
        others = f"; {len(result.skipped) - 1} more tunes skipped" if len(result.skipped) > 1 else ""
        raise midi_file_error(path, f"no tune with notes ({label.split(' ', 1)[-1]}: {reason}{others})")
    return [melody for _, melody in result.tunes]


__all__ = ["FileResult", "find_files", "read_any", "read_many", "reason_counts", "skip_summary", "file_kind",
           "essen_files", "is_reserved", "reserved_essen_files", "music21_corpus", "melody_to_json",
           "melody_from_json", "cache_folder",
           "SUFFIXES", "MIDI_SUFFIXES", "RESERVED_ESSEN_FILES", "RESERVED_MUSIC21_FOLDERS", "PARSER_VERSION"]
