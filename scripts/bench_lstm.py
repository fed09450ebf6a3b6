"""Benchmark the next-note LSTM: live step latency with the cached state vs re-reading the context,
the two ways of writing one step, and training throughput.

    python scripts/bench_lstm.py                                   # the shipped models
    python scripts/bench_lstm.py --models models/curve-lstm --repeats 5000

0. Load time of the model folder (Improviser.load: check, rebuild, read the weights, script), the
   first in the process (it compiles the step module) and again.
1. Latency through the runtime (liveimpro.lstm.improviser.Improviser, one torch thread, at --precision:
   the runtime's default, int8, unless float32 is asked for): observe (one step of the layers; the
   output head runs in propose), propose (the head, sampling with pitch-range and scale masks, top-p),
   commit; median, p99, max. float32 against int8, interleaved: scripts/bench_step.py.
2. (float32) The same next-note prediction at context lengths 16..1024: the cached step (one token on top
   of the kept state) against re-running the whole context with no cache, either with the fused
   LSTM kernel (forward_sequence) or as a loop of steps from a fresh state; the ratio is
   no-cache / cached. The cached cost should stay flat as the context grows.
3. One step written LSTMCell-style (what runs: scripted at load) against the same eager, frozen
   (the standalone TorchScript file of scripts/export.py --torchscript), and nn.LSTM on a length-1
   sequence, same weights.
4. Training throughput (tokens/s, forward + backward + AdamW) of each model's configuration on
   batches like the trainer's, at 1 thread and at all cores.
Tests never gate on these numbers; they are for reading.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from liveimpro.cli import run_reporting_errors
from liveimpro.data.training import make_optimizer
from liveimpro.data.tune_batches import collate, epoch_batches, train_step
from liveimpro.lstm.improviser import Improviser
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM
from liveimpro.machine import machine_info
from liveimpro.modelcard import quiet_torchscript
from liveimpro.tokens.base import BOS, Event

CONTEXTS = (16, 64, 256, 1024)


def timed(call, repeats: int, warmup: int = 50) -> np.ndarray:
    """Microseconds per call, [2, repeats]: wall-clock time, and this thread's CPU time (which leaves
    out the time the thread waited for a core: on a shared machine the two differ)."""
    for _ in range(warmup):
        call()
    times = np.empty((2, repeats))
    for i in range(repeats):
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        call()
        times[1, i] = time.thread_time_ns() - cpu
        times[0, i] = time.perf_counter_ns() - wall
    return times / 1e3


STATS_HEADER = f"{'median':>8s} {'p99':>8s} {'max':>8s} {'cpu med':>8s} {'cpu p99':>8s}"


def stats(us: np.ndarray) -> str:
    wall, cpu = us
    return (f"{np.median(wall):8.1f} {np.percentile(wall, 99):8.1f} {wall.max():8.1f} "
            f"{np.median(cpu):8.1f} {np.percentile(cpu, 99):8.1f}")




def live_events(imp: Improviser, count: int, rng) -> list[Event]:
    """A plausible melody of `count` events, sampled from the model itself."""
    imp.reset()
    events = []
    for _ in range(count):
        events.append(imp.propose(temperature=1.0, pitch_range=(48, 84), rng=rng))
        imp.commit(events[-1])
    return events


def bench_runtime(imp: Improviser, repeats: int, rng) -> None:
    print(f"\n1. runtime latency, microseconds ({repeats} calls each; context grows as it runs)")
    print(f"   {'call':34s} {STATS_HEADER}")
    events = live_events(imp, 64, rng)
    imp.reset()
    position = iter(range(10**9))

    def observe():
        i = next(position)
        if i % 512 == 0:
            imp.reset()  # keep melodies of a realistic length
        event = events[i % len(events)]
        imp.observe(Event(event.pitches, 1000.0 + i, event.duration))

    rows = [("observe (one step)", observe)]
    scale = {0, 2, 4, 5, 7, 9, 11}
    rows.append(("propose (masks, top_p 0.95)",
                 lambda: imp.propose(temperature=1.0, top_p=0.95, pitch_range=(48, 84), scale=scale, rng=rng)))

    def propose_commit():
        if imp.steps > 512:
            imp.reset()
        imp.commit(imp.propose(temperature=1.0, top_p=0.95, pitch_range=(48, 84), scale=scale, rng=rng))

    rows.append(("propose + commit", propose_commit))
    module, state = imp.module, imp.module.init_state()

    def raw_step():
        with torch.inference_mode():
            module.step(BOS, state)

    rows.append((f"model.step alone ({imp.precision})", raw_step))
    for name, call in rows:
        print(f"   {name:34s} {stats(timed(call, repeats))}")


def bench_contexts(imp: Improviser, repeats: int, rng) -> None:
    print("\n2. next-note prediction after a context of n tokens, wall-clock microseconds: cached step vs no cache")
    print(f"   {'n':>5s} {'cached median':>14s} {'p99':>8s} {'no-cache fused':>15s} {'p99':>9s} "
          f"{'no-cache steps':>15s} {'ratio fused':>12s} {'ratio steps':>12s} {'max |diff|':>10s}")
    module = imp.folder.module
    events = live_events(imp, max(CONTEXTS) + 1, rng)
    imp.reset()
    tokens = [BOS]
    for event in events:
        tokens.append(imp.tokenizer.event_token(imp.previous, event))
        imp.observe(event)
    for n in CONTEXTS:
        context = torch.tensor(tokens[:n])
        with torch.inference_mode():
            state = module.init_state()
            for token in tokens[:n - 1]:
                _, state = module.step(token, state)

            def cached():
                return module.step(tokens[n - 1], state)[0]

            def fused():
                return module.forward_sequence(context)[-1]

            def steps():
                fresh = module.init_state()
                for token in tokens[:n]:
                    logits, fresh = module.step(token, fresh)
                return logits

            difference = (cached() - fused()).abs().max().item()
            cached_us = timed(cached, repeats)[0]
            slow = max(5, repeats // n)
            fused_us, steps_us = timed(fused, slow, warmup=3)[0], timed(steps, max(3, slow // 4), warmup=1)[0]
        print(f"   {n:5d} {np.median(cached_us):14.1f} {np.percentile(cached_us, 99):8.1f} "
              f"{np.median(fused_us):15.1f} {np.percentile(fused_us, 99):9.1f} {np.median(steps_us):15.1f} "
              f"{np.median(fused_us) / np.median(cached_us):11.1f}x {np.median(steps_us) / np.median(cached_us):11.1f}x "
              f"{difference:10.1e}")


class LengthOneLSTMStep(nn.Module):
    """The alternative step: nn.LSTM on a length-1 sequence (same weights), for comparison only."""

    def __init__(self, trained: NextTokenLSTM):
        super().__init__()
        self.embed, self.lstm, self.proj, self.head = trained.embed, trained.lstm, trained.proj, trained.head

    def step(self, token: int, state: tuple[torch.Tensor, torch.Tensor]):
        out, state = self.lstm(self.embed(torch.tensor([[token]])), state)
        out = out[0, 0] if self.proj is None else self.proj(out[0, 0])
        return self.head(out), state


def bench_step_forms(card: dict, repeats: int) -> None:
    from liveimpro.lstm.network import (
        CachedStepLSTM,
        script_for_inference,
        standalone_torchscript,
    )

    print(f"\n3. one step, four ways, same weights (microseconds)\n   {'':44s} {STATS_HEADER}")
    cfg = ModelConfig(**card["model_config"])
    trained = NextTokenLSTM(cfg).eval()
    forms = [("LSTMCell-style, scripted (what runs)", script_for_inference(trained)),
             ("LSTMCell-style, TorchScript frozen (export)", standalone_torchscript(trained)),
             ("LSTMCell-style, eager", CachedStepLSTM(trained).requires_grad_(False))]
    alternative = LengthOneLSTMStep(trained)
    with torch.inference_mode():
        for name, form in forms:
            state = form.init_state()
            print(f"   {name:44s} {stats(timed(lambda: form.step(5, state), repeats))}")
        pair = (torch.zeros(cfg.layers, 1, cfg.hidden),) * 2
        print(f"   {'nn.LSTM, length-1 sequence (eager)':44s} "
              f"{stats(timed(lambda: alternative.step(5, pair), max(100, repeats // 4)))}")


def bench_training(card: dict, tunes: list[np.ndarray], seconds: float) -> None:
    cfg = SimpleNamespace(**{**card["config"], "batch_size": 32})  # the trainer's config, saved in the card
    print(f"\n4. training throughput (forward + backward + AdamW, batch 32 tunes, bf16 autocast {cfg.bf16}, "
          f"~{seconds:.0f} s each)")
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net = NextTokenLSTM(ModelConfig(**card["model_config"]))
        optimizer = make_optimizer(net, cfg)
        lengths = np.array([len(t) for t in tunes])
        batches = epoch_batches(lengths, cfg.batch_size, 0, 0)
        tokens, started, i = 0, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            batch = collate([tunes[j] for j in batches[i % len(batches)]], cfg.max_len, np.random.default_rng(i))
            train_step(net, optimizer, batch, 1e-3, cfg.grad_clip, cfg.bf16)
            tokens += int((batch[:, 1:] != 0).sum())
            i += 1
        print(f"   {threads} thread(s): {tokens / (time.perf_counter() - started):10,.0f} tokens/s ({i} steps)")
    torch.set_num_threads(1)


def training_tunes(imp: Improviser, data: str, rng) -> tuple[list[np.ndarray], str]:
    try:
        from liveimpro.data.dataset import Dataset
        dataset = Dataset.load(data)
        if dataset.tokenizer(imp.tokenizer.kind).to_json() == imp.tokenizer.to_json():
            return dataset.tokens(imp.tokenizer.kind, "train"), f"{data} training split"
    except Exception as error:  # any reason the dataset is unusable: fall back to sampled tunes, and say so
        print(f"   ({data}: {error}; using tunes sampled from the model)")
    tunes = []
    for _ in range(256):
        imp.reset()
        ids = [BOS]
        for _ in range(int(rng.integers(20, 120))):
            event = imp.propose(rng=rng)
            ids.append(imp.tokenizer.event_token(imp.previous, event))
            imp.commit(event)
        tunes.append(np.array(ids + [2]))
    return tunes, "tunes sampled from the model"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["models/curve-lstm", "models/note-lstm"])
    parser.add_argument("--repeats", type=int, default=3000, help="timed calls per latency row")
    parser.add_argument("--data", default="data/essen", help="dataset for the training-throughput batches")
    parser.add_argument("--train-seconds", type=float, default=15.0, help="seconds per throughput measurement")
    parser.add_argument("--precision", choices=["int8", "float32"], default=None,
                        help="the runtime's step in section 1 (default: the runtime's default)")
    args = parser.parse_args(argv)
    print("command: " + " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine_info(f'torch {torch.__version__}', f'numpy {np.__version__}')}")
    rng = np.random.default_rng(0)
    with quiet_torchscript():
        for folder in args.models:
            loads = []
            for _ in range(2):
                started = time.perf_counter()
                imp = Improviser.load(folder, rng=rng, precision=args.precision)
                loads.append((time.perf_counter() - started) * 1e3)
            card = imp.card
            print(f"\n=== {folder}: {card['tokenizer']} tokens ({card['model_config']['vocab_size']}), "
                  f"{card['parameters']:,} parameters, weights.pt {card['files']['weights.pt']['bytes'] / 1e6:.2f} MB; "
                  f"runtime torch threads {torch.get_num_threads()}, precision {imp.precision}")
            print(f"\n0. load: {loads[0]:.1f} ms, again {loads[1]:.1f} ms")
            bench_runtime(imp, args.repeats, rng)
            bench_contexts(imp, max(200, args.repeats // 10), rng)
            bench_step_forms(card, args.repeats)
            tunes, source = training_tunes(imp, args.data, rng)
            print(f"   (throughput batches: {source})")
            bench_training(card, tunes, args.train_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_lstm", main))
