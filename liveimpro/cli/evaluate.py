"""`liveimpro evaluate`: how well a model predicts melodies, in bits per note, beside its baselines.

    liveimpro evaluate CORPUS...                        # files or folders: MIDI, ABC, MusicXML, kern
    liveimpro evaluate --data data/essen --split valid  # a split of a prepared dataset
    liveimpro evaluate --model models/note-lstm --adapt --json CORPUS...

Every note of every melody is scored, the first one included (the model's first token after BOS):
- joint bits: -log2 p(the note's token), the token being the model's own (pitch part + ioi +
  duration), so this depends on the vocabulary;
- pitch bits: -log2 of the probability of the note's (top) pitch: the sum over every token that
  would sound that pitch after the previous note (`tokenizer.next_pitches`), divided by the total
  probability of the tokens that sound a note at all (so the end-of-melody token takes no share),
  which is what melodic-expectation studies (IDyOM/PPM) report.
The end-of-melody token (EOS) is left out of both per-note figures; its mean bits are in the JSON.

Baselines (liveimpro.data.baselines), trained on the training split of --data over the model's own
token alphabet, score the same notes: uniform, unigram, PPM. With --adapt, also live adaptation:
the short-term model (PPM on the melody so far) alone, mixed with the PPM (IDyOM's "both"), and
mixed with the LSTM (liveimpro.lstm.adapt). Files that cannot be read are skipped and counted.
The defaults were chosen on the Essen validation split (a search over order 1..8 and unbounded,
escapes A/C/D/X, exclusion and update exclusion for the PPM; short-term model and mixing in
liveimpro.lstm.adapt): PPM* with escape X, exclusion and update exclusion was best for both tokenizers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..lstm.adapt import BIAS, COMBINATION
from ..errors import UserError

DEFAULT_MODEL = "models/curve-lstm"
DEFAULT_DATA = "data/essen"


def add_arguments(parser) -> None:
    parser.add_argument("corpus", nargs="*", metavar="CORPUS", help="melody files or folders to score")
    parser.add_argument("--model", action="append", metavar="DIR",
                        help=f"model folder (repeat to compare several; default {DEFAULT_MODEL})")
    parser.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                        help=f"prepared dataset whose training split trains the baselines (default {DEFAULT_DATA})")
    parser.add_argument("--split", choices=("train", "valid"), help="score this split of --data instead of CORPUS")
    parser.add_argument("--adapt", action="store_true",
                        help="also score live adaptation (short-term model learnt from the melody so far)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--limit", type=int, metavar="N", help="score only the first N melodies")
    parser.add_argument("--ppm-order", default="unbounded", metavar="N",
                        help="longest PPM context in notes, or 'unbounded' (PPM*) (default %(default)s)")
    parser.add_argument("--ppm-escape", choices=("a", "c", "d", "x"), default="x",
                        help="PPM escape method (default %(default)s)")
    parser.add_argument("--ppm-exclusion", action=argparse.BooleanOptionalAction, default=True,
                        help="PPM back-off with exclusion (else interpolated)")
    parser.add_argument("--ppm-update-exclusion", action=argparse.BooleanOptionalAction, default=True,
                        help="PPM update exclusion")
    parser.add_argument("--bias", type=float, default=BIAS,
                        help="entropy-weighting exponent of the mixing (default %(default)g)")
    parser.add_argument("--combination", choices=("geometric", "arithmetic"), default=COMBINATION,
                        help="how the mixing combines distributions (default %(default)s)")


@dataclass
class Tally:
    """Running sums of one predictor's bits over the notes scored."""
    joint: float = 0.0
    pitch: float = 0.0
    eos: float = 0.0
    notes: int = 0
    melodies: int = 0

    def as_dict(self, name: str) -> dict:
        """Means per note (None when nothing was scored)."""
        def mean(total, count):
            return total / count if count else None
        return {"name": name, "joint_bits_per_note": mean(self.joint, self.notes),
                "pitch_bits_per_note": mean(self.pitch, self.notes),
                "eos_bits_per_melody": mean(self.eos, self.melodies), "notes": self.notes, "melodies": self.melodies}


@dataclass
class Corpus:
    """Melodies to score, as token sequences of one tokenizer, and what could not be read."""
    sequences: list = field(default_factory=list)
    files: int = 0  # files read (or tried)
    skipped_files: list = field(default_factory=list)  # (file, reason)
    skipped_tunes: list = field(default_factory=list)  # (tune label, reason)
    description: str = ""


def note_pitches(tokenizer, seq) -> tuple[np.ndarray, np.ndarray]:
    """For the note tokens seq[1:-1]: next_pitches before each [n, V], and each note's top pitch [n]."""
    tops, pitches, prev = [], [], None
    for token in seq[1:-1]:
        reachable = tokenizer.next_pitches(prev)
        tops.append(reachable)
        pitches.append(reachable[token])
        prev = tokenizer.token_event(prev, int(token))
    return np.stack(tops), np.array(pitches)


def score(tokenizer, sequences, predictors, mixtures=()) -> dict:
    """{name: Tally} for every predictor and mixture over `sequences` ([BOS, notes..., EOS] each)."""
    tallies = {p.name: Tally() for p in [*predictors, *mixtures]}
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        n = len(seq) - 2
        if n < 1:
            continue
        tops, pitch = note_pitches(tokenizer, seq)
        same_pitch, sounding = tops == pitch[:, None], tops >= 0
        rows = {p.name: p.sequence_probs(seq) for p in predictors}
        rows.update({m.name: m.combine(rows) for m in mixtures})
        for p in [*predictors, *mixtures]:
            probs, tally = rows[p.name], tallies[p.name]
            notes = probs[:n]
            tally.joint -= np.log2(notes[np.arange(n), seq[1:-1]]).sum()
            if getattr(p, "uniform_pitches", False):
                tally.pitch += sum(np.log2(len(np.unique(t[t >= 0]))) for t in tops)
            else:
                hit = np.where(same_pitch, notes, 0.0).sum(axis=1)
                tally.pitch -= np.log2(hit / np.where(sounding, notes, 0.0).sum(axis=1)).sum()
            tally.eos -= np.log2(probs[n, seq[-1]])
            tally.notes += n
            tally.melodies += 1
    return tallies


class LSTMPredictor:
    """An exported model folder's network, scoring a whole tune in one `forward_sequence` call.
    Sets torch to one thread, process-wide (as liveimpro.lstm.improviser does)."""

    def __init__(self, folder):
        import torch

        torch.set_num_threads(1)  # one tune is a few small matrix products: more threads only wait on each other
        self._torch, self._module = torch, folder.module
        self.name = "LSTM"

    def sequence_probs(self, seq) -> np.ndarray:
        torch = self._torch
        # The profiling executor re-optimises for every new sequence length; plain execution is ~10x faster.
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            logits = self._module.forward_sequence(torch.as_tensor(np.asarray(seq[:-1]), dtype=torch.int64))
            return torch.softmax(logits.double(), dim=-1).numpy()


def read_corpus(paths, tokenizer) -> Corpus:
    """Every melody in the files or folders `paths`, encoded; unreadable files skipped with a reason."""
    from ..data.corpus import find_files, read_many

    corpus = Corpus(description=" ".join(map(str, paths)))
    for result in read_many(find_files(paths)):
        corpus.files += 1
        if result.error is not None:
            corpus.skipped_files.append((str(result.path), result.error))
        corpus.skipped_tunes += result.skipped
        corpus.sequences += [tokenizer.encode(melody) for _, melody in result.tunes]
    return corpus


def nothing_read(corpus: Corpus) -> str:
    """The one-line error when no melody of the files could be read: a single file's own reason, else counts."""
    from ..data.corpus import skip_summary

    if corpus.files == 1 and corpus.skipped_files:
        return "{}: {}".format(*corpus.skipped_files[0])
    summary = skip_summary((r for _, r in corpus.skipped_files), (r for _, r in corpus.skipped_tunes))
    return f"nothing to score: no melody with notes in {corpus.files} files ({summary})"


def same_tokenizer(a, b) -> bool:
    return a.to_json() == b.to_json()


def dataset_tokens(dataset, tokenizer, split: str) -> list:
    """The split's tunes in `tokenizer`'s ids: the stored arrays when the vocabularies agree."""
    if tokenizer.kind in dataset.summary["vocab"] and same_tokenizer(dataset.tokenizer(tokenizer.kind), tokenizer):
        return dataset.tokens(tokenizer.kind, split)
    print(f"liveimpro evaluate: the model's vocabulary differs from {dataset.folder}'s; encoding its {split} "
          f"split again", file=sys.stderr)
    return [np.asarray(tokenizer.encode(m), np.int32) for m in dataset.melodies(split)]


def ppm_config(args):
    from ..lstm.ppm import PPMConfig

    order = args.ppm_order
    if order != "unbounded" and not (order.isdigit() and int(order) >= 0):
        raise UserError(f"--ppm-order must be a number >= 0 or 'unbounded', got {order!r}")
    return PPMConfig(None if order == "unbounded" else int(order), args.ppm_escape, args.ppm_exclusion,
                     args.ppm_update_exclusion)


def evaluate_model(model_dir, args, dataset) -> dict:
    from ..data import baselines
    from ..lstm.folder import load_model_folder

    folder = load_model_folder(model_dir)
    tokenizer, vocab = folder.tokenizer, len(folder.tokenizer)
    started = time.perf_counter()
    if args.split:
        corpus = Corpus(dataset_tokens(dataset, tokenizer, args.split), description=f"{args.data} {args.split} split")
    else:
        corpus = read_corpus(args.corpus, tokenizer)
        if not corpus.sequences:
            raise UserError(nothing_read(corpus))
    if args.limit is not None:
        corpus.sequences = corpus.sequences[:args.limit]
    lstm = LSTMPredictor(folder)
    predictors, mixtures, notes = [baselines.Uniform(vocab)], [], []
    if dataset is not None:
        train = dataset_tokens(dataset, tokenizer, "train")
        ppm = baselines.LongTermPPM(train, vocab, ppm_config(args))
        predictors += [baselines.Unigram(train, vocab), ppm]
    else:
        notes.append(f"no dataset at {args.data}: unigram and PPM baselines left out")
    predictors.append(lstm)
    if args.adapt:
        stm = baselines.ShortTermOnly(vocab)
        predictors.append(stm)
        how = f"({args.combination}, bias {args.bias:g})"
        if dataset is not None:
            mixtures.append(baselines.Mixture(f"PPM + STM {how}", [ppm.name, stm.name], args.bias, args.combination))
        mixtures.append(baselines.Mixture(f"LSTM + STM {how}", [lstm.name, stm.name], args.bias, args.combination))
    tallies = score(tokenizer, corpus.sequences, predictors, mixtures)
    first = next(iter(tallies.values()))
    return {"model": str(model_dir), "tokenizer": tokenizer.kind, "vocab_size": vocab,
            "source": corpus.description, "melodies": first.melodies, "notes": first.notes,
            "files": corpus.files, "skipped_files": [{"file": f, "reason": r} for f, r in corpus.skipped_files],
            "skipped_tunes": [{"tune": t, "reason": r} for t, r in corpus.skipped_tunes],
            "notes_about_baselines": notes,
            "mixing": {"combination": args.combination, "bias": args.bias} if args.adapt else None,
            "results": [t.as_dict(name) for name, t in tallies.items()],
            "seconds": round(time.perf_counter() - started, 2)}


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
    from ..data.dataset import Dataset

    if args.split and args.corpus:
        raise UserError("give either CORPUS files/folders or --split, not both")
    if not args.split and not args.corpus:
        raise UserError("nothing to score: give CORPUS files/folders, or --split valid to score --data's split")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    ppm_config(args)  # a bad --ppm-order is reported before anything slow starts
    dataset = Dataset.load(args.data) if args.split or Path(args.data, "dataset.json").is_file() else None
    started = time.perf_counter()
    reports = [evaluate_model(model_dir, args, dataset) for model_dir in args.model or [DEFAULT_MODEL]]
    if args.json:
        print(json.dumps({"reports": reports, "seconds": round(time.perf_counter() - started, 2)}, indent=1))
    else:
        for report in reports:
            print_table(report)
    return 0
