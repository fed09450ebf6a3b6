"""Benchmark the phrase-end path of the VAE's answers: with the call encoded at its last release
(as the live engine does it now, `liveimpro.music.encoded`) against encoding it at the phrase end
(as before), in the same process.

    python scripts/bench_vae_answer.py                    # 4-bar calls of 16 notes, 30 rounds each
    python scripts/bench_vae_answer.py --rounds 100 --seed 3

Each round plays one call into a `Responder` with the shipped LSTM and melody VAE (note by note,
`hear()` at every onset and with final=True at the last release, as the engine does), then times
the phrase end: `answer()` and the first note out of it. "ahead": the codes made at the release
are used; "at the end": they are dropped first, so the phrase end encodes too. Columns: ms,
median and p99, and the ratio of the medians. The release's own cost (the encoding moved there)
is printed too: it is paid a beat before the phrase end, while the player rests.
Tests never gate on these numbers; they are for reading.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time

import numpy as np
import torch

from liveimpro.cli import run_reporting_errors
from liveimpro.cli.options import DEFAULT_LSTM, DEFAULT_VAE
from liveimpro.lstm.improviser import Improviser
from liveimpro.machine import machine_info
from liveimpro.melody import melody_from_tuples
from liveimpro.music.offline import heard_at, played_notes
from liveimpro.music.responder import Responder
from liveimpro.music.settings import LiveSettings
from liveimpro.vae.melody_vae import MelodyVAE

BPM = 104.0


def call_of(rng) -> list:
    """A 4-bar call of 16 notes in C major: steps and leaps, quarters and eighths."""
    pitches = 60 + np.cumsum(rng.choice([-2, -1, 1, 2, 3, -3], size=16)) % 12
    lengths = rng.choice([0.5, 1.0], size=16)
    lengths[-1] = 16 - lengths[:-1].sum() if lengths[:-1].sum() < 16 else 1.0
    onsets = np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    return melody_from_tuples([(int(p), float(o), float(d) * 0.9) for p, o, d in zip(pitches, onsets, lengths)],
                              tempo=BPM)


def one_round(responder: Responder, call, drop: bool) -> tuple[float, float]:
    """(ms of the last release's hear(), ms of the phrase end) for one call."""
    notes = played_notes(call)
    responder.start_call()
    for onset in sorted({n.onset for n in notes}):
        responder.hear(heard_at(notes, onset), onset)
    release = max(n.release for n in notes)
    began = time.perf_counter()
    responder.hear(notes, release, final=True)
    heard = time.perf_counter() - began
    if drop:
        responder.ahead.take("", call, None)  # dropped: the phrase end encodes, as before
    end = release + 60.0 / BPM
    began = time.perf_counter()
    next(responder.answer(notes, end, end), None)
    return heard * 1e3, (time.perf_counter() - began) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine_info(f'torch {torch.__version__}')}")
    vae = MelodyVAE.load(DEFAULT_VAE)
    print(f"{'mode':6} {'phrase end, ahead':>20} {'phrase end, at the end':>24} {'ratio':>6} {'last release':>14}")
    for mode in ("vary", "morph"):
        responder = Responder(Improviser.load(DEFAULT_LSTM, rng=rng), LiveSettings(mode=mode), rng=rng, vae=vae)
        one_round(responder, call_of(rng), False)  # warm-up (and morph's first call)
        times = {False: [], True: []}
        releases = []
        for _ in range(args.rounds):
            call = call_of(rng)
            for drop in (False, True):
                heard, end = one_round(responder, call, drop)
                times[drop].append(end)
                releases.append(heard)
        ahead, before = (np.array(times[False]), np.array(times[True]))
        print(f"{mode:6} {np.median(ahead):9.2f} / {np.percentile(ahead, 99):6.2f} ms "
              f"{np.median(before):11.2f} / {np.percentile(before, 99):6.2f} ms "
              f"{np.median(before) / np.median(ahead):6.1f} {np.median(releases):8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_vae_answer", main))
