"""The answer benchmark: liveimpro's answers to Essen calls against what the human wrote next, and baselines.

    nice -n 10 .venv/bin/python scripts/eval_answers.py --tunes 60 --seeds 3 --bars 4 --tempo 100 \\
        --json out/answers.json --png scripts/figures/answers.png

Validation tunes of the prepared dataset (--data) with at least 8 bars are cut after --bars bars at
their own bar lines (pickups kept in the call; liveimpro/data/answer_calls.py). Each call is played at
each --tempo (quarter notes per minute) through the engine's offline path (`liveimpro.music.offline.respond`,
the decisions of the live engine: tempo, key, phrase end, answer) with a fresh responder per call and
seed, as `liveimpro respond` builds it (the shipped LSTM unless --lstm, live adaptation on, default
settings); the answer lands in the call's beats where it would have sounded. The same metrics
(liveimpro/data/answers.py) are taken of the answer, of the human continuation and of the baselines,
and their means printed as a table (rows: metrics, columns: systems). Measuring only: nothing here
changes how answers are made.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from liveimpro.cli import run_reporting_errors
from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.data.answer_baselines import BASELINES, RANDOM_BASELINES
from liveimpro.data.answer_calls import answer_calls
from liveimpro.data.answers import (
    ROWS,
    format_value,
    key_relation,
    measure,
    summarize,
    tempo_relation,
)
from liveimpro.data.dataset import Dataset
from liveimpro.errors import UserError
from liveimpro.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "essen",
                        help="prepared dataset; its validation split is used (default data/essen)")
    parser.add_argument("--lstm", type=Path, default=DEFAULT_LSTM, help="next-note LSTM folder (default: shipped)")
    parser.add_argument("--tunes", type=int, default=60, help="calls (tunes) measured (default 60)")
    parser.add_argument("--seeds", type=int, default=3, help="answers per call and tempo, seeds 0..N-1 (default 3)")
    parser.add_argument("--bars", type=int, choices=(2, 4), default=4, help="bars in the call and continuation")
    parser.add_argument("--tempo", type=float, nargs="+", default=[100.0],
                        help="tempi the calls are played at, bpm, 40..240 (default 100; several: one column each)")
    parser.add_argument("--json", type=Path, help="write the table, settings and every answer's metrics here")
    parser.add_argument("--png", type=Path, help="piano rolls of 4 calls with the human's and liveimpro's answers")
    args = parser.parse_args(argv)
    if args.tunes < 1 or args.seeds < 1:
        parser.error("--tunes and --seeds must be at least 1")
    if any(not 40 <= bpm <= 240 for bpm in args.tempo):
        parser.error("--tempo must be in 40..240 bpm")
    return args




def header(argv) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = " ".join(shlex.quote(a) for a in ["scripts/eval_answers.py", *argv])
    return f"# {command}\n# {datetime.now():%Y-%m-%d %H:%M}, {cpu_model()} ({os.cpu_count()} cores), load average {load}"


def live_column(bpm: float, tempi) -> str:
    return "liveimpro" if len(tempi) == 1 else f"liveimpro@{bpm:g}"


def run_answers(args, pairs, progress=sys.stderr):
    """{column: [metrics of each answer]} and the answers to plot ((pair, liveimpro answer) at seed 0)."""
    from liveimpro.lstm.folder import load_model_folder
    from liveimpro.lstm.improviser import Improviser
    from liveimpro.music.offline import respond
    from liveimpro.music.responder import Responder
    from liveimpro.music.settings import LiveSettings

    folder = load_model_folder(args.lstm)
    results = {"human": []}
    results.update({live_column(bpm, args.tempo): [] for bpm in args.tempo})
    results.update({name: [] for name in BASELINES})
    shown = []
    started = time.perf_counter()
    for number, pair in enumerate(pairs):
        results["human"].append({"tune": pair.name, **measure(pair.human, pair)})
        for name, make in BASELINES.items():
            for seed in range(args.seeds if name in RANDOM_BASELINES else 1):
                rng = np.random.default_rng([seed, pair.index, 1])
                results[name].append({"tune": pair.name, "seed": seed, **measure(make(pair, rng), pair)})
        for t, bpm in enumerate(args.tempo):
            call = replace(pair.call, tempo=bpm)
            for seed in range(args.seeds):
                rng = np.random.default_rng([seed, pair.index, 0, t])  # the same answers in any order
                responder = Responder(Improviser(folder, rng, adapt=True), LiveSettings(), rng)
                answer = respond(responder, call)
                row = {"tune": pair.name, "seed": seed, "bpm": bpm, **measure(answer, pair)}
                relation = tempo_relation(responder.tempo.bpm / bpm)
                row.update({f"tempo_{r}": relation == r for r in ("equal", "double", "half", "other")})
                row["key_same"], row["key_scale"] = key_relation(responder.key, pair.key)
                row["responder_bpm"] = round(responder.tempo.bpm, 2)
                row["responder_key"] = responder.key.name if responder.key else None
                results[live_column(bpm, args.tempo)].append(row)
                if seed == 0 and t == 0 and len(shown) < 4:
                    shown.append((pair, answer, responder.tempo.bpm))
        if progress is not None:
            print(f"\r{number + 1}/{len(pairs)} calls, {time.perf_counter() - started:.0f} s", end="", file=progress)
    if progress is not None:
        print(file=progress)
    return results, shown


def table(results) -> tuple[str, dict]:
    summaries = {column: summarize(rows) for column, rows in results.items()}
    columns = list(results)
    lines = ["| metric | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|",
             "| answers | " + " | ".join(str(len(results[c])) for c in columns) + " |"]
    for key, label, kind in ROWS:
        if all(summaries[c][key][0] is None for c in columns):
            continue
        lines.append(f"| {label.replace('|', chr(92) + '|')} | " + " | ".join(format_value(summaries[c][key][0], kind) for c in columns) + " |")
    return "\n".join(lines), {c: {k: v for k, (v, _) in s.items()} for c, s in summaries.items()}


def plot(shown, path: Path, tempo: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    from liveimpro.pianoroll import COLOURS

    figure = Figure(figsize=(13, 2.6 * len(shown)))
    colours = {"call": COLOURS[0], "human": COLOURS[2], "liveimpro": COLOURS[1]}
    for row, (pair, answer, bpm) in enumerate(shown):
        end = max(pair.human.end, answer.end, pair.split + 1) + 0.5
        notes = [*pair.call.notes, *pair.human.notes, *answer.notes]
        low, high = min(n.pitch for n in notes) - 2, max(n.pitch for n in notes) + 2
        for column, (other, melody) in enumerate((("human", pair.human), ("liveimpro", answer))):
            axes = figure.add_subplot(len(shown), 2, 2 * row + column + 1)
            bar_line, grid = pair.grid.origin, pair.grid
            while bar_line <= end:
                axes.axvline(bar_line, color="0.55", linewidth=1.0, zorder=0)
                bar_line += grid.bar
            axes.axvline(pair.split, color="black", linewidth=1.5, linestyle="--", zorder=0)
            for name, track in (("call", pair.call), (other, melody)):
                for n in track.notes:
                    axes.add_patch(Rectangle((n.onset, n.pitch - 0.4), n.duration, 0.8, facecolor=colours[name],
                                             edgecolor="black", linewidth=0.4))
            axes.set_xlim(0, end)
            axes.set_ylim(low, high)
            title = pair.name if len(pair.name) < 48 else pair.name[:46] + "…"
            if column:
                title = f"liveimpro, seed 0 (heard at {bpm:.0f} bpm)"
            axes.set_title(title, fontsize=9)
            axes.tick_params(labelsize=7)
    figure.legend(handles=[Patch(facecolor=c, label=n) for n, c in colours.items()], loc="lower center", ncol=3)
    figure.suptitle(f"calls (blue) cut at the dashed bar line; what the tune does next (green) and liveimpro's "
                    f"answer at {tempo:g} bpm (red); grey: the tune's bar lines; x: beats", fontsize=10)
    figure.tight_layout(rect=(0, 0.03, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=72)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    head = header(argv)
    melodies = Dataset.load(args.data).melodies("valid")
    pairs, skipped = answer_calls(melodies, args.tunes, args.bars)
    if not pairs:
        raise UserError(f"{args.data}: no validation tune has {args.bars * 2} regular bars to cut")
    started = time.perf_counter()
    results, shown = run_answers(args, pairs, sys.stderr if sys.stderr.isatty() else None)
    seconds = time.perf_counter() - started
    text, means = table(results)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pickups = sum(p.grid.origin > 0 for p in pairs)
    print(head)
    print(f"# {len(pairs)} calls of {args.bars} bars ({pickups} with a pickup) from {args.data.name}'s validation "
          f"split, {args.seeds} seed(s), {', '.join(f'{b:g}' for b in args.tempo)} bpm; tunes looked at and "
          f"skipped: {dict(skipped) or 'none'}; {seconds:.1f} s, load average at the end {load}")
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"header": head, "settings": {k: str(v) if isinstance(v, Path) else v
                                                                       for k, v in vars(args).items()},
                                         "skipped": dict(skipped), "table": means, "answers": results},
                                        indent=1, default=float) + "\n")
    if args.png:
        plot(shown, args.png, args.tempo[0])
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("eval_answers", main))
