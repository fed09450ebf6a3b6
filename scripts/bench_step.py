"""Benchmark the live step at each precision: float32 (the folder's weights as they are) against int8
(liveimpro.lstm.quantized, made at load), in one process, and what int8 costs in prediction.

    python scripts/bench_step.py                          # latency, the shipped models
    python scripts/bench_step.py --bits                   # and bits per note on the validation split
    python scripts/bench_step.py --models models/curve-lstm --repeats 5000

1. Latency, microseconds, one torch thread. The two precisions are timed interleaved (each round
   runs every row's calls once, in a shuffled order), so a busy machine's noise falls on both alike.
   `model.step`: the step module alone (token -> logits, state). `model.step, caches cold`: the
   same after reading a buffer larger than the caches (untimed) before each call, as when other
   work ran between two notes. `observe`: the Improviser's step (no output head: it runs when a
   distribution is asked for). `propose + commit`: one answer note (masks, top-p 0.95, the head
   and one step). Wall-clock median, p99, max, and this thread's CPU time (which leaves out time
   spent waiting for a core). Ratios: float32 / int8.
2. Agreement of the logits, int8 against float32, stepping validation tunes (or tunes sampled
   from the model when there is no dataset): max |difference|, mean KL divergence in bits, how
   often the most likely token is the same.
3. With --bits: bits per note (joint and pitch, liveimpro.data.evaluation.evaluate_model) of both
   precisions on the dataset's validation split; int8 scores its step in a loop, float32 the
   fused kernel (equal to its step within 4e-6).
Tests never gate on these numbers; they are for reading.
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time

import numpy as np
import torch

from liveimpro.cli import run_reporting_errors
from liveimpro.lstm.folder import ModelFolder, load_model_folder
from liveimpro.lstm.improviser import Improviser
from liveimpro.lstm.quantized import int8_kernel_available
from liveimpro.machine import machine_info
from liveimpro.modelcard import quiet_torchscript
from liveimpro.tokens.base import BOS

PRECISIONS = ("float32", "int8")
SCALE = {0, 2, 4, 5, 7, 9, 11}




def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def interleaved(rows: dict, repeats: int, before=None, warmup: int = 50) -> dict:
    """{name: [2, repeats] microseconds (wall, thread CPU)}: every call once per round, shuffled."""
    for call in rows.values():
        for _ in range(warmup):
            call()
    names = list(rows)
    times = {name: np.empty((2, repeats)) for name in names}
    order = random.Random(0)
    for i in range(repeats):
        order.shuffle(names)
        for name in names:
            if before is not None:
                before()
            wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
            rows[name]()
            times[name][1, i] = time.thread_time_ns() - cpu
            times[name][0, i] = time.perf_counter_ns() - wall
    return {name: t / 1e3 for name, t in times.items()}


def stats(us: np.ndarray) -> tuple:
    wall, cpu = us
    return np.median(wall), np.percentile(wall, 99), wall.max(), np.median(cpu), np.percentile(cpu, 99)


def sample_tunes(imp: Improviser, count: int, rng) -> list[list[int]]:
    """[BOS, tokens...] sampled from the model, 20..120 notes each."""
    tunes = []
    for _ in range(count):
        imp.reset()
        ids = [BOS]
        for _ in range(int(rng.integers(20, 120))):
            event = imp.propose(temperature=1.0, pitch_range=(48, 84), rng=rng)
            ids.append(imp.tokenizer.event_token(imp.previous, event))
            imp.commit(event)
        tunes.append(ids)
    return tunes


def bench_latency(imps: dict, repeats: int, cold_repeats: int, cold_mb: int) -> None:
    print(f"\n1. latency, microseconds ({repeats} calls a row, {cold_repeats} cold; float32 and int8 interleaved)")
    print(f"   {'call':38s} {'precision':>9s} {'median':>8s} {'p99':>8s} {'max':>8s} {'cpu med':>8s} {'cpu p99':>8s}")
    steps, improvise = {}, {}
    for precision, imp in imps.items():
        module = imp.module
        with torch.inference_mode():
            state = module.step(BOS, module.init_state())[1]
        steps[precision] = (lambda m, s: lambda: m.step(5, s))(module, state)
        rng = np.random.default_rng(0)

        def propose_commit(imp=imp, rng=rng):
            if imp.steps > 512:
                imp.reset()
            imp.commit(imp.propose(temperature=1.0, top_p=0.95, pitch_range=(48, 84), scale=SCALE, rng=rng))

        improvise[precision] = propose_commit
    events = []
    imp = next(iter(imps.values()))
    for tune in sample_tunes(imp, 4, np.random.default_rng(1)):
        imp.reset()
        for token in tune[1:]:
            imp.observe_token(token)
            events.append(imp.previous)
    observers = {}
    for precision, imp in imps.items():
        position = iter(range(10**9))

        def observe(imp=imp, position=position):
            i = next(position)
            if i % 256 == 0:
                imp.reset()
            imp.observe(events[i % len(events)])

        observers[precision] = observe
    buffer = np.ones(cold_mb * 2**20 // 8)
    results = []
    with torch.inference_mode():
        timed = interleaved({(p, "model.step"): call for p, call in steps.items()}, repeats)
        results += [("model.step", timed)]
        timed = interleaved({(p, "cold"): call for p, call in steps.items()}, cold_repeats, before=buffer.sum)
        results += [(f"model.step, caches cold ({cold_mb} MB read)", timed)]
    timed = interleaved({(p, "observe"): call for p, call in observers.items()}, repeats)
    results += [("observe (layers, no head)", timed)]
    timed = interleaved({(p, "pc"): call for p, call in improvise.items()}, repeats)
    results += [("propose + commit", timed)]
    ratios = []
    for name, timed in results:
        row = {}
        for (precision, _), us in timed.items():
            row[precision] = stats(us)
        for precision in PRECISIONS:
            print(f"   {name:38s} {precision:>9s} " + " ".join(f"{v:8.1f}" for v in row[precision]))
        ratios.append((name, row["float32"][0] / row["int8"][0], row["float32"][1] / row["int8"][1],
                       row["float32"][3] / row["int8"][3]))
    print(f"\n   ratio float32 / int8                   {'median':>8s} {'p99':>8s} {'cpu med':>8s}")
    for name, median, p99, cpu in ratios:
        print(f"   {name:38s} {median:7.2f}x {p99:7.2f}x {cpu:7.2f}x")


def bench_agreement(imps: dict, tunes: list, source: str) -> None:
    worst, kl, same, count = 0.0, 0.0, 0, 0
    modules = {p: imp.module for p, imp in imps.items()}
    with torch.inference_mode():
        for tune in tunes:
            a, b = (modules[p].forward_sequence(torch.as_tensor(np.asarray(tune[:-1]), dtype=torch.int64)).double()
                    for p in PRECISIONS)
            worst = max(worst, float((a - b).abs().max()))
            la, lb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
            kl += float((la.exp() * (la - lb)).sum())
            same += int((a.argmax(-1) == b.argmax(-1)).sum())
            count += len(a)
    print(f"\n2. logits, int8 against float32, over {count:,} steps of {len(tunes)} {source}: max |difference| "
          f"{worst:.4f}, mean KL {kl / count / np.log(2):.2e} bits, same most likely token {100 * same / count:.2f}%")


def bench_bits(folder: ModelFolder, imps: dict, dataset) -> None:
    from liveimpro.data.evaluation import evaluate_model

    print("\n3. bits per note on the validation split (liveimpro.data.evaluation.evaluate_model)")
    print(f"   {'precision':>9s} {'joint':>8s} {'pitch':>8s} {'notes':>8s} {'melodies':>8s} {'seconds':>8s}")
    scores = {}
    for precision, imp in imps.items():
        report = evaluate_model(ModelFolder(folder.path, imp.module, folder.tokenizer, folder.card), split="valid",
                                dataset=dataset)
        lstm = next(r for r in report["results"] if r["name"] == "LSTM")
        scores[precision] = (lstm["joint_bits_per_note"], lstm["pitch_bits_per_note"])
        print(f"   {precision:>9s} {scores[precision][0]:8.4f} {scores[precision][1]:8.4f} {lstm['notes']:8,d} "
              f"{lstm['melodies']:8,d} {report['seconds']:8.1f}")
    joint, pitch = (scores["int8"][i] - scores["float32"][i] for i in range(2))
    print(f"   {'int8 - float32':>9s} {joint:+8.4f} {pitch:+8.4f}   (budget: +0.01 each)")


def validation_tunes(folder: ModelFolder, dataset, count: int) -> list | None:
    if dataset is None:
        return None
    from liveimpro.data.evaluation import dataset_tokens

    return [list(map(int, t)) for t in dataset_tokens(dataset, folder.tokenizer, "valid")[:count]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["models/curve-lstm", "models/note-lstm"])
    parser.add_argument("--repeats", type=int, default=3000, help="timed calls per latency row and precision")
    parser.add_argument("--cold-repeats", type=int, default=500, help="timed calls of the cold-cache row")
    parser.add_argument("--cold-mb", type=int, default=64, help="MB read before each cold-cache call")
    parser.add_argument("--bits", action="store_true", help="also bits per note on the validation split (slow)")
    parser.add_argument("--data", default="data/essen", help="the prepared dataset (validation split)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("command: " + " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine_info(f'torch CPU capability {torch.backends.cpu.get_cpu_capability()}', f'torch {torch.__version__}', f'numpy {np.__version__}')}")
    print(f"load average at start: {load_average()}; torch threads {torch.get_num_threads()}; "
          f"int8 kernel available: {int8_kernel_available()}")
    from liveimpro.data.evaluation import load_training_data

    dataset = load_training_data(args.data)
    if dataset is None:
        print(f"({args.data}: no prepared dataset; agreement on sampled tunes"
              + (", no bits per note" if args.bits else "") + ")")
    with quiet_torchscript():
        for path in args.models:
            folder = load_model_folder(path)
            imps, loads = {}, {}
            for precision in PRECISIONS:
                started = time.perf_counter()
                imps[precision] = Improviser(load_model_folder(path), precision=precision)
                loads[precision] = (time.perf_counter() - started) * 1e3
            card = folder.card
            print(f"\n=== {path}: {card['tokenizer']} tokens ({card['model_config']['vocab_size']}), "
                  f"{card['parameters']:,} parameters; load (with the folder's checks) float32 "
                  f"{loads['float32']:.0f} ms, int8 {loads['int8']:.0f} ms")
            matrices = sum(p.numel() for n, p in folder.module.named_parameters() if p.dim() == 2 and n != "proj_w")
            print(f"   the matrices a step reads (LSTM layers, head): float32 {4 * matrices / 1e6:.2f} MB, "
                  f"int8 {matrices / 1e6:.2f} MB")
            bench_latency(imps, args.repeats, args.cold_repeats, args.cold_mb)
            tunes = validation_tunes(folder, dataset, 200)
            source = "validation tunes" if tunes else "tunes sampled from the model"
            bench_agreement(imps, tunes or sample_tunes(imps["float32"], 50, np.random.default_rng(2)), source)
            if args.bits and dataset is not None:
                bench_bits(folder, imps, dataset)
    print(f"\nload average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_step", main))
