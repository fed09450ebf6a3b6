"""Measure melody VAE model folders on the validation split of a prepared dataset (README table material).

    python scripts/eval_vae.py models/melody-vae runs/melody-vae-flat/model --data data/essen

For each model:
- reconstruction of validation windows (every distinct 2- and 4-unit window of the validation tunes, up to
  --windows per shape), z = the posterior mean: per step (the share of steps whose class is right) and per
  note (the share of the original's notes given back with the same onset, pitch and length), teacher forced
  (each step predicted from the true previous ones) and free running (decoding from z alone), both greedy
  as the model's `most_likely` (rest, hold or note-on first, then the pitch);
- KL(q(z|x) || N(0, I)) per latent dimension, mean over the windows: the total, and how many dimensions
  carry more than 0.1 nats (a collapsed posterior would put ~0 everywhere);
- interpolation between --pairs random pairs of 4-bar validation windows of 4/4 tunes, --steps melodies
  each (slerp of the means, greedy decoding, as `liveimpro morph`): the distance (share of differing steps)
  of each step's melody to the start melody A and to the end melody B, per step, and the share of morphs
  along which the distance to A never falls and the distance to B never rises; the in-between melodies
  scored by the LSTM (--lstm, bits per note as `liveimpro evaluate`: joint token and pitch only) beside a
  naive blend at the same fraction f: each step (16th) taken from B with probability f, else from A (a
  HOLD that then follows a rest is a rest), and beside A and B themselves;
- latency of MelodyVAE.encode and .decode for one 4-bar phrase, and of vary and morph (median, p99 over
  --repeats calls, one thread), against the LSTM proposing and committing as many notes (the baseline,
  the same process).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from liveimpro.cli import run_reporting_errors
from liveimpro.data.dataset import Dataset
from liveimpro.errors import UserError
from liveimpro.melody import Melody
from liveimpro.vae.melody_vae import MelodyVAE, slerp
from liveimpro.vae.steps import (
    HOLD,
    REST,
    SHAPES,
    shape_id,
    shape_windows,
    steps_to_notes,
)

LN2 = math.log(2)
TEMPLATE = Melody(time_signature=(4, 4))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", metavar="DIR", help="melody VAE model folders")
    parser.add_argument("--data", default="data/essen", help="prepared dataset (its validation split is used)")
    parser.add_argument("--lstm", default="models/curve-lstm", help="LSTM model folder scoring the morphs")
    parser.add_argument("--windows", type=int, default=1000, help="validation windows per shape at most")
    parser.add_argument("--pairs", type=int, default=200, help="morphs measured")
    parser.add_argument("--steps", type=int, default=7, help="melodies per morph, ends included")
    parser.add_argument("--repeats", type=int, default=200, help="calls timed per latency figure")
    parser.add_argument("--seed", type=int, default=0, help="seeds the window sample, the pairs and the blends")
    return parser.parse_args(argv)


def notes_of(steps: np.ndarray) -> set[tuple[int, int, int]]:
    """(onset step, pitch class, end step) of each note of a window."""
    out, start = set(), None
    for i, value in enumerate(np.append(steps, REST)):
        if value != HOLD and start is not None:
            out.add((start, int(steps[start]), i))
            start = None
        if value >= 2:
            start = i
    return out


def note_accuracy(truth: np.ndarray, guess: np.ndarray) -> tuple[int, int]:
    """(notes of `truth` given back exactly in `guess`, notes of `truth`), over the rows."""
    hit = total = 0
    for a, b in zip(truth, guess):
        notes = notes_of(a)
        hit, total = hit + len(notes & notes_of(b)), total + len(notes)
    return hit, total


@torch.inference_mode()
def reconstruction(module, windows: list[np.ndarray]) -> dict:
    """Accuracies and KL per dimension over windows of every shape (see the module docstring)."""
    rows = {units: {"tf": [0, 0, 0, 0], "free": [0, 0, 0, 0]} for units in (2, 4)}  # steps hit/all, notes hit/all
    kls = []
    for shape, batch in enumerate(windows):
        units = SHAPES[shape][1]
        for start in range(0, len(batch), 500):
            truth = batch[start:start + 500]
            steps = torch.from_numpy(truth)
            mu, logvar = module.encode(steps, shape)
            kls.append((0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)).numpy())
            inputs = torch.cat([torch.full_like(steps[:, :1], module.start), steps[:, :-1]], dim=1)
            guesses = {"tf": module.most_likely(module.teacher_forced(mu, shape, inputs)).numpy(),
                       "free": module.decode(mu, shape, 0.0, torch.zeros(len(truth), truth.shape[1], 1)).numpy()}
            for kind, guess in guesses.items():
                tally = rows[units][kind]
                tally[0] += int((guess == truth).sum())
                tally[1] += truth.size
                hit, total = note_accuracy(truth, guess)
                tally[2] += hit
                tally[3] += total
    kl = np.concatenate(kls).mean(axis=0)
    return {"rows": rows, "kl": kl}


def as_melody(steps: np.ndarray) -> Melody:
    return TEMPLATE.with_notes(steps_to_notes(steps))


def naive_blend(a: np.ndarray, b: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Each step from b with probability `fraction`, else from a; a HOLD after a rest becomes a rest."""
    out = np.where(rng.random(len(a)) < fraction, b, a)
    for i in range(len(out)):
        if out[i] == HOLD and (i == 0 or out[i - 1] == REST):
            out[i] = REST
    return out


class LSTMScore:
    """Bits per note of a melody under an exported LSTM, as `liveimpro evaluate` counts them."""

    def __init__(self, folder):
        from liveimpro.data.evaluation import LSTMPredictor
        from liveimpro.lstm.folder import load_model_folder

        loaded = load_model_folder(folder)
        self.tokenizer, self.predictor = loaded.tokenizer, LSTMPredictor(loaded)

    def __call__(self, melodies: list[Melody]) -> tuple[float, float]:
        from liveimpro.data.evaluation import score

        tally = score(self.tokenizer, [self.tokenizer.encode(m) for m in melodies if m.notes],
                      [self.predictor])[self.predictor.name]
        return tally.joint / tally.notes, tally.pitch / tally.notes


@torch.inference_mode()
def interpolation(module, windows: np.ndarray, args, lstm: LSTMScore | None) -> dict:
    rng = np.random.default_rng([args.seed, 1])
    shape = shape_id(16, 4)
    pairs = rng.choice(len(windows), size=(args.pairs, 2), replace=len(windows) < 2 * args.pairs)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    a, b = windows[pairs[:, 0]], windows[pairs[:, 1]]
    mu_a = module.encode(torch.from_numpy(a), shape)[0].numpy()
    mu_b = module.encode(torch.from_numpy(b), shape)[0].numpy()
    fractions = np.linspace(0.0, 1.0, args.steps)
    morphs = np.stack([module.decode(torch.from_numpy(slerp(mu_a, mu_b, f)), shape, 0.0,
                                     torch.zeros(len(a), a.shape[1], 1)).numpy() for f in fractions], axis=1)
    to_a = (morphs != a[:, None]).mean(axis=2)  # [pairs, steps]
    to_b = (morphs != b[:, None]).mean(axis=2)
    right_way = (np.diff(to_a, axis=1) >= 0) & (np.diff(to_b, axis=1) <= 0)  # [pairs, steps - 1]
    result = {"pairs": len(a), "to_a": to_a.mean(axis=0), "to_b": to_b.mean(axis=0),
              "monotone": right_way.all(axis=1).mean(), "right_way": right_way.mean(), "notes": {}}
    inner = range(1, args.steps - 1)
    blends = [[naive_blend(x, y, fractions[k], rng) for x, y in zip(a, b)] for k in inner]
    groups = {"VAE in-betweens": [morphs[i, k] for k in inner for i in range(len(a))],
              "naive blends": [row for rows in blends for row in rows],
              "A and B themselves": list(a) + list(b)}
    for name, rows in groups.items():
        melodies = [as_melody(row) for row in rows]
        result["notes"][name] = np.mean([len(m) for m in melodies])
        if lstm is not None:
            result.setdefault("lstm", {})[name] = lstm(melodies)
    return result


def timings(fn, repeats: int) -> tuple[float, float]:
    """(median, p99) milliseconds of `fn()` over `repeats` calls after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 99))


def latency(vae: MelodyVAE, phrase: Melody, other: Melody, lstm_folder, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    code = vae.encode(phrase)
    found = {"encode": timings(lambda: vae.encode(phrase), repeats),
             "decode": timings(lambda: vae.decode(code), repeats),
             "vary": timings(lambda: vae.vary(phrase, 0.5, rng), repeats),
             "morph": timings(lambda: vae.morph(phrase, other, 0.5), repeats)}
    if lstm_folder is not None:
        from liveimpro.lstm.improviser import Improviser

        imp = Improviser.load(lstm_folder, rng=rng)
        notes = len(phrase)

        def answer():
            imp.reset()
            for _ in range(notes):
                imp.commit(imp.propose())
        found["LSTM baseline"] = timings(answer, repeats)
    return found


def four_bar_phrases(melodies: list[Melody]) -> tuple[Melody, Melody]:
    """Two phrases to time: the first 4 bars of 4/4 validation tunes, those with the median number of notes."""
    phrases = [m.with_notes(n for n in m.notes if n.end <= 16) for m in melodies
               if m.time_signature == (4, 4) and m.end >= 16]
    if len(phrases) < 2:
        raise UserError("fewer than two 4/4 validation tunes of 4 bars or more to time")
    phrases.sort(key=len)
    middle = len(phrases) // 2
    return phrases[middle], phrases[middle + 1]


def pct(hit, total) -> str:
    return f"{100.0 * hit / max(total, 1):.1f}%"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    dataset = Dataset.load(args.data)
    valid = dataset.melodies("valid")
    rng = np.random.default_rng(args.seed)
    windows = [rows[rng.permutation(len(rows))[:args.windows]] for rows in shape_windows(valid)]
    print("validation windows (steps per unit x units): "
          + ", ".join(f"{u}x{n}: {len(w)}" for (u, n), w in zip(SHAPES, windows)))
    lstm_folder = args.lstm if Path(args.lstm).is_dir() else None
    if lstm_folder is None:
        print(f"{args.lstm}: no such model folder; the LSTM scores and the latency baseline are left out")
    lstm = LSTMScore(lstm_folder) if lstm_folder else None
    phrase, other = four_bar_phrases(valid)
    for folder in args.models:
        vae = MelodyVAE.load(folder)
        module = vae.module
        card = vae.card
        print(f"\n## {folder}: {card['model_config']['decoder']} decoder, {card['parameters']:,} parameters, "
              f"trained {card['training']['wall_seconds'] / 60:.1f} min ({card['training']['steps']} steps)")
        rec = reconstruction(module, windows)
        print("\n| windows | decoding | step accuracy | note accuracy |\n|---|---|---|---|")
        for units, kinds in rec["rows"].items():
            for kind, (sh, st, nh, nt) in kinds.items():
                label = "teacher forced" if kind == "tf" else "free running"
                print(f"| {units} bars | {label} | {pct(sh, st)} | {pct(nh, nt)} |")
        kl = rec["kl"]
        print(f"\nKL per window: {kl.sum():.1f} nats ({kl.sum() / LN2:.1f} bits); dimensions above 0.1 nats: "
              f"{int((kl > 0.1).sum())} of {len(kl)}; largest {kl.max():.2f}, median {np.median(kl):.2f} nats")
        inter = interpolation(module, windows[shape_id(16, 4)], args, lstm)
        print(f"\ninterpolation, {inter['pairs']} pairs of 4-bar 4/4 windows, {args.steps} steps: "
              f"monotone (distance to A never falls, to B never rises): {100 * inter['monotone']:.1f}% of the "
              f"morphs, {100 * inter['right_way']:.1f}% of the steps from one melody to the next")
        print("| step | " + " | ".join(str(k) for k in range(args.steps)) + " |")
        print("|---" * (args.steps + 1) + "|")
        print("| distance to A | " + " | ".join(f"{d:.3f}" for d in inter["to_a"]) + " |")
        print("| distance to B | " + " | ".join(f"{d:.3f}" for d in inter["to_b"]) + " |")
        print("\n| melodies | notes per melody | LSTM joint bits/note | LSTM pitch bits/note |\n|---|---|---|---|")
        for name, notes in inter["notes"].items():
            joint, pitch = inter.get("lstm", {}).get(name, (float("nan"), float("nan")))
            print(f"| {name} | {notes:.1f} | {joint:.3f} | {pitch:.3f} |")
        lat = latency(vae, phrase, other, lstm_folder, args.repeats)
        print(f"\nlatency, one 4-bar phrase ({len(phrase)} notes), 1 thread:\n| call | median ms | p99 ms |\n|---|---|---|")
        for name, (median, p99) in lat.items():
            print(f"| {name} | {median:.2f} | {p99:.2f} |")
        if "LSTM baseline" in lat:
            base = lat["LSTM baseline"][0]
            print(f"vary / LSTM baseline (median): {lat['vary'][0] / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("eval_vae", main))
