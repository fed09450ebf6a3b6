"""`liveimpro evaluate`: how well a model predicts melodies, in bits per note, beside its baselines.

    liveimpro evaluate CORPUS...                        # files or folders: MIDI, ABC, MusicXML, kern
    liveimpro evaluate --data data/essen --split valid  # a split of a prepared dataset
    liveimpro evaluate --model models/note-lstm --adapt --json --jobs 0 CORPUS...

What is computed, and the baselines: liveimpro.data.evaluation. This module turns the options into
its parameters and prints the reports, as a table or as JSON. Without the prepared dataset that
trains the unigram and PPM baselines, one line on stderr says how to build it; the other rows are
printed all the same.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from ..data.evaluation import (
    BEST_PPM,
    COMBINATIONS,
    EvaluationOptions,
    evaluate_models,
    load_training_data,
)
from ..errors import UserError
from .options import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[2]  # the repository, whatever the current folder
DEFAULT_DATA = REPO / "data" / "essen"  # what `scripts/prepare_data.py` builds by default


def add_arguments(parser) -> None:
    parser.add_argument("corpus", nargs="*", metavar="CORPUS", help="melody files or folders to score")
    parser.add_argument("--model", action="append", type=Path, metavar="DIR",
                        help="model folder (repeat to compare several; default: the shipped curve-token LSTM, "
                             "or $LIVEIMPRO_MODEL)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR",
                        help="prepared dataset whose training split trains the baselines (default: the "
                             "repository's data/essen)")
    parser.add_argument("--split", choices=("train", "valid"), help="score this split of --data instead of CORPUS")
    parser.add_argument("--adapt", action="store_true",
                        help="also score live adaptation (short-term model learnt from the melody so far)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--limit", type=int, metavar="N", help="score only the first N melodies")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="processes parsing the CORPUS files (0: all cores; default %(default)s)")
    parser.add_argument("--ppm-order", default="unbounded" if BEST_PPM.order is None else str(BEST_PPM.order),
                        metavar="N", help="longest PPM context in notes, or 'unbounded' (PPM*) (default %(default)s)")
    parser.add_argument("--ppm-escape", choices=("a", "c", "d", "x"), default=BEST_PPM.escape,
                        help="PPM escape method (default %(default)s)")
    parser.add_argument("--ppm-exclusion", action=argparse.BooleanOptionalAction, default=BEST_PPM.exclusion,
                        help="PPM back-off with exclusion (else interpolated)")
    parser.add_argument("--ppm-update-exclusion", action=argparse.BooleanOptionalAction,
                        default=BEST_PPM.update_exclusion, help="PPM update exclusion")
    parser.add_argument("--bias", type=float, default=EvaluationOptions.bias,
                        help="entropy-weighting exponent of the mixing (default %(default)g)")
    parser.add_argument("--combination", choices=COMBINATIONS, default=EvaluationOptions.combination,
                        help="how the mixing combines distributions (default %(default)s)")


def evaluation_options(args) -> EvaluationOptions:
    """The library's options from the command's; UserError for a bad --ppm-order or --limit."""
    from ..lstm.ppm import PPMConfig

    order = args.ppm_order
    if order != "unbounded" and not (order.isdigit() and int(order) >= 0):
        raise UserError(f"--ppm-order must be a number >= 0 or 'unbounded', got {order!r}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    ppm = PPMConfig(None if order == "unbounded" else int(order), args.ppm_escape, args.ppm_exclusion,
                    args.ppm_update_exclusion)
    return EvaluationOptions(ppm=ppm, adapt=args.adapt, bias=args.bias, combination=args.combination,
                             limit=args.limit)


def build_data_command(data: Path) -> str:
    """The shell command that prepares the dataset `data` (the Essen folk songs), run from anywhere."""
    python = Path(sys.executable)
    python = python.relative_to(REPO) if python.is_relative_to(REPO) else python
    command = f"{shlex.quote(str(python))} scripts/prepare_data.py"
    if data.resolve() != DEFAULT_DATA.resolve():
        command += f" --out {shlex.quote(str(data.resolve()))}"
    return command if Path.cwd().resolve() == REPO else f"cd {shlex.quote(str(REPO))} && {command}"


def print_table(report: dict) -> None:
    from ..data.corpus import reason_counts

    print(f"{report['model']} ({report['tokenizer']} tokens, vocabulary {report['vocab_size']}) on "
          f"{report['source']}: {report['melodies']} melodies, {report['notes']} notes "
          f"(EOS not counted), {report['seconds']:.1f} s")
    for kind, total, key, name in (("files", report["files"], "skipped_files", "file"),
                                   ("tunes", None, "skipped_tunes", "tune")):
        skipped = report[key]
        if skipped:
            of = f" of {total}" if total else ""
            print(f"  skipped {len(skipped)}{of} {kind}: {reason_counts(s['reason'] for s in skipped)}")
            for entry in skipped:
                print(f"    {entry[name]}: {entry['reason']}")
    for note in report["notes_about_baselines"]:
        print(f"  note: {note}")
    width = max(len(r["name"]) for r in report["results"])
    print(f"  {'predictor':<{width}}  joint bits/note  pitch bits/note")
    for r in report["results"]:
        joint, pitch = (f"{r[key]:15.3f}" if r[key] is not None else f"{'-':>15}"
                        for key in ("joint_bits_per_note", "pitch_bits_per_note"))
        print(f"  {r['name']:<{width}}  {joint}  {pitch}")


def run(args) -> int:
    if args.split and args.corpus:
        raise UserError("give either CORPUS files/folders or --split, not both")
    if not args.split and not args.corpus:
        raise UserError("nothing to score: give CORPUS files/folders, or --split valid to score --data's split")
    if args.jobs < 0:
        raise UserError(f"--jobs must be >= 0 (0: all cores), got {args.jobs}")
    options = evaluation_options(args)  # bad options are reported before anything slow starts
    dataset = load_training_data(args.data, required=bool(args.split))
    started = time.perf_counter()
    reports = evaluate_models(args.model or [DEFAULT_MODEL], corpus=args.corpus, split=args.split, dataset=dataset,
                              options=options, jobs=args.jobs)
    if dataset is None:  # said once the scores are in, so that an error stays the only line on stderr
        print(f"liveimpro evaluate: no training data at {args.data} (no dataset.json), so no unigram and PPM "
              f"baselines; build it with: {build_data_command(args.data)}", file=sys.stderr)
    if args.json:
        print(json.dumps({"reports": reports, "seconds": round(time.perf_counter() - started, 2)}, indent=1))
    else:
        for report in reports:
            print_table(report)
    return 0
