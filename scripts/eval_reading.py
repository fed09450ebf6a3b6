"""Does the responder read the call's tempo and key? (issue 13) Calls from the validation split at known tempi.

    nice -n 10 .venv/bin/python scripts/eval_reading.py --half held --json out/reading.json

Calls: the validation tunes of the prepared dataset (--data) cut after 2 and after 4 of their own bars
(a pickup kept), exactly as the answer benchmark cuts them (`liveimpro.data.answer_calls`: the bar lines
read again from the tune's ABC, the key = signature with the tune's final as tonic). Each call is played
at each --tempo, in beats of its meter:

- the beat is the meter's own: the note of its denominator (2/4, 3/4, 4/4: the quarter; 3/8: the
  eighth; 2/2, 4/2: the half), three of them in compound meters (6/8, 9/8, 12/8: the dotted quarter,
  what a player taps in a jig, so at "100 bpm" the quarter goes at 150 and the eighths at 300 a
  minute; 6/4: the dotted half).

Reading: the call is played into a fresh `Responder` as the live engine plays it (`hear` after every
onset, notes held to their full length: `liveimpro.music.offline`'s played_notes and heard_at), and at
the phrase end the key is read as `Responder.answer` reads it (the call in the beats of the tempo
heard, `KeyTracker.observe`). The tempo read is right when it is the beat's tempo or the notated
quarter's (the same thing in 2/4, 3/4, 4/4), within 7 % (0.1 octave, as eval_answers); double /
half: twice / half of either; else other. In 6/8 this counts a reading of dotted quarters at 100 and
one of quarters at 150 as right, and eighths at 300 (out of range anyway) or dotted halves at 50 as
wrong; in 4/2 halves at 100 and quarters at 200; in 3/8 eighths at 100 and quarters at 50. Outside
the meters of one quarter per beat this is two right readings an octave or a fifth apart. Key: exact
(tonic and mode) and the same scale (the same or the relative key), against the tune's key as the
answer benchmark takes it. `--respond N` checks for N calls (spread over all) that the
engine's whole offline path (`liveimpro.music.offline.respond`, the shipped LSTM) reads the same.

Rows: all readings; by tempo; by meter family; "running notes (dance-like)": calls in which at least
60 % of the IOIs are one value of half a beat or less (eighths in 2/4, eighths in 6/8 ...), the
nearest thing to reels and jigs in Essen; by call length.

Halves: tunes are split by a hash of their name into "tune" (parameters were chosen looking at these)
and "held" (reported; never looked at while choosing); --half all takes both. Cost: the microseconds of
each hear() (the tempo tracker; the model is not fed here) and of the phrase-end key reading.
Measuring only: nothing here changes how calls are read.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from liveimpro.cli import run_reporting_errors
from liveimpro.data.answer_calls import answer_calls, essen_measures
from liveimpro.data.answers import key_relation
from liveimpro.data.dataset import Dataset
from liveimpro.errors import UserError
from liveimpro.machine import cpu_model
from liveimpro.music.offline import heard_at, played_notes
from liveimpro.music.responder import Responder

ROOT = Path(__file__).resolve().parents[1]
TEMPI = (60.0, 80.0, 100.0, 120.0, 150.0, 180.0)
TOLERANCE = 0.1  # octaves: 7 %
RUNNING_SHARE = 0.6  # a call of "running notes": this share of its IOIs is one value of half a beat or less


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "essen",
                        help="prepared dataset; its validation split is used (default data/essen)")
    parser.add_argument("--tunes", type=int, default=1000, help="tunes looked for, at most (default 1000: all)")
    parser.add_argument("--half", choices=("tune", "held", "all"), default="held",
                        help="which half of the validation tunes (module docstring; default held)")
    parser.add_argument("--tempo", type=float, nargs="+", default=list(TEMPI), help="beats per minute")
    parser.add_argument("--bars", type=int, nargs="+", choices=(2, 4), default=[2, 4])
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "reading-measures.json",
                        help="the tunes' bar lines read from their ABC, kept here (JSON) between runs")
    parser.add_argument("--respond", type=int, default=0, help="check N calls against offline.respond (LSTM)")
    parser.add_argument("--json", type=Path, help="write the tables and every call's reading here")
    return parser.parse_args(argv)


def half_of(name: str) -> str:
    return "tune" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "held"


def compound(time_signature) -> bool:
    num, den = time_signature
    return num % 3 == 0 and num >= 6 and den >= 4


def beat_quarters(time_signature) -> float:
    """Quarter notes in the meter's beat (module docstring): the denominator's note, three of them
    in compound meters (6/8: 1.5, 6/4: 3, 3/8: 0.5, 4/2: 2)."""
    return 4.0 / time_signature[1] * (3.0 if compound(time_signature) else 1.0)


def family(time_signature) -> str:
    num, den = time_signature
    if compound(time_signature):
        return "compound (6/8, 6/4, 9/8 ...)"
    if den == 4:
        return {2: "duple (2/4, 4/4)", 4: "duple (2/4, 4/4)", 3: "triple (3/4)"}.get(num, "other N/4 (1/4, 5/4 ...)")
    if den == 8:
        return "eighth beat (3/8, 5/8 ...)"
    return "half or whole beat (2/2, 4/2, 3/1 ...)"


def tempo_reading(bpm_read: float, beat_bpm: float, quarter_bpm: float) -> str:
    for name, factor in (("right", 1.0), ("double", 2.0), ("half", 0.5)):
        if any(abs(math.log2(bpm_read / (factor * t))) < TOLERANCE for t in (beat_bpm, quarter_bpm)):
            return name
    return "other"


def running(call) -> bool:
    iois = np.round(np.diff(sorted({n.onset for n in call.notes})), 4)
    values, counts = np.unique(iois, return_counts=True)
    top = int(np.argmax(counts))
    return bool(values[top] <= 0.5 * beat_quarters(call.time_signature) + 1e-6 and \
        counts[top] >= RUNNING_SHARE * len(iois))


def cached_measures(path: Path):
    """essen_measures, kept in a JSON file between runs (music21 re-reads the ABC slowly)."""
    store = json.loads(path.read_text()) if path.exists() else {}
    changed = []

    def measures(melody):
        if melody.name not in store:
            store[melody.name] = essen_measures(melody)
            changed.append(melody.name)
        value = store[melody.name]
        return value if isinstance(value, str) else [tuple(m) for m in value]

    def save():
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(store))
    return measures, save


def read_call(call, quarter_bpm: float):
    """(tempo, key, [seconds of each hear()], seconds of the key reading) of a fresh responder that
    hears the call played at `quarter_bpm`, as `liveimpro.music.offline.respond` plays it."""
    responder = Responder(None, prime=False)
    notes = played_notes(replace(call, tempo=quarter_bpm))
    costs = []
    for onset in sorted({n.onset for n in notes}):
        heard = heard_at(notes, onset)
        started = time.perf_counter()
        responder.hear(heard, onset)
        costs.append(time.perf_counter() - started)
    now = max(n.release for n in notes)  # every key is up: the phrase end hears them all
    started = time.perf_counter()
    responder.hear(notes, now, final=True)  # as Responder.answer, before the answer is made
    key = responder.keys.observe(responder.call_melody(notes, now).notes)
    return responder.tempo, key, costs, time.perf_counter() - started


def check_respond(rows, pairs, count: int) -> int:
    """The first `count` readings again through offline.respond with the shipped LSTM; mismatches."""
    from liveimpro.cli.options import DEFAULT_LSTM
    from liveimpro.lstm.folder import load_model_folder
    from liveimpro.lstm.improviser import Improviser
    from liveimpro.music.offline import respond
    from liveimpro.music.settings import LiveSettings

    folder, by_name, wrong = load_model_folder(DEFAULT_LSTM), {(p.name, p.split): p for p in pairs}, 0
    for row in rows[::max(1, len(rows) // count)][:count]:  # spread over the tunes and tempi
        pair = by_name[(row["tune"], row["split"])]
        rng = np.random.default_rng(0)
        responder = Responder(Improviser(folder, rng, adapt=True), LiveSettings(), rng)
        respond(responder, replace(pair.call, tempo=row["quarter_bpm"]))
        key = responder.key.name if responder.key else None
        wrong += abs(responder.tempo.bpm - row["bpm_read"]) > 1e-6 or key != row["key_read"]
    return wrong


def run(args):
    melodies = [m for m in Dataset.load(args.data).melodies("valid") if args.half in ("all", half_of(m.name))]
    measures, save = cached_measures(args.cache)
    rows, pairs_all, skipped_all = [], [], {}
    for bars in args.bars:
        pairs, skipped = answer_calls(melodies, args.tunes, bars, measures=measures)
        save()
        pairs_all += pairs
        skipped_all[bars] = dict(skipped)
        for pair in pairs:
            quarters = beat_quarters(pair.call.time_signature)
            for bpm in args.tempo:
                tempo, key, costs, key_cost = read_call(pair.call, bpm * quarters)
                same, scale = key_relation(key, pair.key)
                rows.append({"tune": pair.name, "split": pair.split, "bars": bars, "bpm": bpm,
                             "quarter_bpm": bpm * quarters, "meter": "%d/%d" % pair.call.time_signature,
                             "family": family(pair.call.time_signature), "running": running(pair.call),
                             "bpm_read": tempo.bpm, "tempo": tempo_reading(tempo.bpm, bpm, bpm * quarters),
                             "key_read": key.name if key else None, "key_same": same, "key_scale": scale,
                             "hear_us": [c * 1e6 for c in costs], "key_us": key_cost * 1e6})
    return rows, pairs_all, skipped_all


def table(rows) -> str:
    groups = defaultdict(list)
    for row in rows:
        groups["all"].append(row)
        groups[f"{row['bpm']:g} bpm"].append(row)
        groups[row["family"]].append(row)
        groups[f"{row['bars']} bars"].append(row)
        if row["running"]:
            groups["running notes (dance-like)"].append(row)
    order = ["all", *sorted((g for g in groups if g.endswith(" bpm")), key=lambda g: float(g.split()[0])),
             *sorted({row["family"] for row in rows}),
             "running notes (dance-like)", "2 bars", "4 bars"]
    lines = ["| calls | n | tempo right | double | half | other | key = tune's | key same or relative |",
             "|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(order):
        group = groups.get(name)
        if not group:
            continue
        share = {r: 100.0 * sum(g["tempo"] == r for g in group) / len(group)
                 for r in ("right", "double", "half", "other")}
        same = 100.0 * np.mean([g["key_same"] for g in group])
        scale = 100.0 * np.mean([g["key_scale"] for g in group])
        lines.append(f"| {name} | {len(group)} | {share['right']:.1f} | {share['double']:.1f} | {share['half']:.1f} "
                     f"| {share['other']:.1f} | {same:.1f} | {scale:.1f} |")
    hear = np.concatenate([r["hear_us"] for r in rows])
    keys = np.array([r["key_us"] for r in rows])
    lines.append(f"\nper hear() (µs, tempo tracker, {len(hear)} onsets): median {np.median(hear):.1f}, "
                 f"p99 {np.percentile(hear, 99):.1f}; key at the phrase end (µs): median {np.median(keys):.1f}, "
                 f"p99 {np.percentile(keys, 99):.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    head = (f"# {' '.join(shlex.quote(a) for a in ['scripts/eval_reading.py', *argv])}\n"
            f"# {datetime.now():%Y-%m-%d %H:%M}, {cpu_model()} ({os.cpu_count()} cores), load average {load}")
    if not args.data.exists():
        raise UserError(f"{args.data}: no dataset; build it with .venv/bin/python scripts/prepare_data.py")
    started = time.perf_counter()
    rows, pairs, skipped = run(args)
    if not rows:
        raise UserError(f"{args.data}: no validation tune to cut in the {args.half} half")
    seconds = time.perf_counter() - started
    print(head)
    tunes = len({r["tune"] for r in rows})
    print(f"# {tunes} tunes ({args.half} half of {args.data.name}'s validation split), calls of "
          f"{' and '.join(map(str, args.bars))} bars at {', '.join(f'{b:g}' for b in args.tempo)} bpm: "
          f"{len(rows)} readings; skipped tunes by bars: {skipped}; {seconds:.1f} s")
    print(table(rows))
    if args.respond:
        print(f"# offline.respond (shipped LSTM) on {args.respond} of the calls: "
              f"{check_respond(rows, pairs, args.respond)} read differently")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"header": head, "skipped": skipped, "table": table(rows),
                                         "readings": [{k: v for k, v in r.items() if k != "hear_us"} for r in rows]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("eval_reading", main))
