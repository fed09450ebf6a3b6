"""Prepare training data: read melody files, split them by tune, tokenize, save a dataset folder.

    python scripts/prepare_data.py                      # Essen folk songs of music21 (minus kinder0.abc)
    python scripts/prepare_data.py songs/ extra.mid --out data/mine --transpose 5

Reads MIDI, ABC, MusicXML and kern files (folders are searched), in parallel
tune by tune, with a cache of parsed files (see liveimpro.data.corpus). A file or
tune that cannot be read is skipped, counted and named in the summary; it never
stops the run. Files reserved for evaluation are never used. The summary is
printed at the end and saved in the dataset (dataset.json).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from liveimpro.cli import run_reporting_errors
from liveimpro.data.corpus import (
    essen_files,
    find_files,
    is_reserved,
    read_many,
    reserved_essen_files,
    skip_summary,
)
from liveimpro.data.dataset import KINDS, Dataset
from liveimpro.errors import UserError

NAMES_SHOWN = 8  # names printed per skip reason; dataset.json keeps them all


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*",
                        help="melody files or folders (default: music21's Essen folk songs minus kinder0.abc)")
    parser.add_argument("--out", default="data/essen", help="dataset folder to write (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes reading files (default: all cores, %(default)s)")
    parser.add_argument("--valid-share", type=float, default=0.1,
                        help="share of tunes kept for validation, chosen by a hash of file name and position "
                             "(default: %(default)s)")
    parser.add_argument("--transpose", type=int, default=0, metavar="K",
                        help="add training copies transposed by -K..+K semitones (default: %(default)s, off)")
    parser.add_argument("--min-count", type=int, default=1,
                        help="tokens seen fewer times in training are left out of the vocabulary "
                             "(default: %(default)s)")
    parser.add_argument("--keep-duplicates", action="store_true",
                        help="keep tunes that repeat an earlier one, even transposed (default: left out)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="tokenizers to build")
    parser.add_argument("--no-cache", action="store_true", help="read every file again, ignoring the cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def _print_skips(title: str, reasons: dict, given: int | None = None) -> None:
    total = sum(entry["count"] for entry in reasons.values())
    print(f"skipped {title}: {total}" + (f" of {given}" if given is not None else ""))
    for reason, entry in reasons.items():
        names = entry["names"][:NAMES_SHOWN]
        more = f", ... and {entry['count'] - len(names)} more" if entry["count"] > len(names) else ""
        print(f"  {reason} ({entry['count']}): {', '.join(names)}{more}")


def print_summary(summary: dict) -> None:
    tunes, notes = summary["tunes"], summary["notes"]
    print(f"files read: {summary['files']}")
    print(f"tunes: train {tunes['train']} (of which {summary['train_transposed_copies']} transposed copies), "
          f"valid {tunes['valid']}; polyphonic tunes: {summary['polyphonic_tunes']}")
    print(f"notes: train {notes['train']}, valid {notes['valid']}")
    _print_skips("files", summary["skipped_files"],
                 summary["files"] + sum(entry["count"] for entry in summary["skipped_files"].values()))
    _print_skips("tunes", summary["skipped_tunes"])
    for kind in summary["vocab"]:
        nearest = summary["nearest_valid"][kind]
        print(f"{kind} tokens: vocabulary {summary['vocab'][kind]} (built on the training split); "
              f"valid events nearest-mapped {nearest['mapped']} of {nearest['events']} "
              f"({100 * nearest['share']:.3f}%)")


def nothing_read(results) -> str:
    """The one-line error when no file had a tune with notes: what was skipped, counted by reason."""
    summary = skip_summary((r.error for r in results if r.error is not None),
                           (reason for r in results for _, reason in r.skipped))
    return f"no tunes with notes in {len(results)} files ({summary}); nothing to prepare"


def main(argv=None) -> int:
    """Exit status; an error the user can act on is one line on stderr (`prepare_data: error: ...`)."""
    given = sys.argv[1:] if argv is None else argv
    return run_reporting_errors("prepare_data", prepare, parse_args(argv), given)


def prepare(args: argparse.Namespace, given: list[str]) -> int:
    started = time.perf_counter()
    try:
        files = find_files(args.paths) if args.paths else essen_files() + reserved_essen_files()
        reserved = [path for path in files if is_reserved(path)]  # named in the summary, never read
        files = [path for path in files if not is_reserved(path)]
        print(f"reading {len(files)} files with {args.jobs} processes -> {args.out}", flush=True)
        results = read_many(files, jobs=args.jobs, progress=not args.quiet, use_cache=not args.no_cache)
        if not any(result.tunes for result in results):
            raise UserError(nothing_read(results))
        print("splitting and tokenizing", flush=True)
        dataset = Dataset.build(results, valid_share=args.valid_share, transpose=args.transpose,
                                min_count=args.min_count, kinds=args.kinds, dedupe=not args.keep_duplicates,
                                skipped_files=[(path.name, "reserved for evaluation") for path in reserved])
        dataset.summary["inputs"] = [str(path) for path in files]
        dataset.summary["command"] = " ".join(["scripts/prepare_data.py", *given])
        dataset.summary["seconds"] = round(time.perf_counter() - started, 1)
        dataset.save(args.out)
    except ValueError as error:  # options Dataset.build refuses (a share outside 0..1, a negative transposition)
        raise UserError(str(error)) from None
    print_summary(dataset.summary)
    print(f"saved {args.out} in {dataset.summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
