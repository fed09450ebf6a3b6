"""Bits per note: how well next-note models predict melodies, beside baselines on the same tokens.

    from liveimpro.data.evaluation import EvaluationOptions, evaluate_models, load_training_data
    reports = evaluate_models(["models/curve-lstm"], corpus=["songs/"], dataset=load_training_data("data/essen"),
                              options=EvaluationOptions(adapt=True), jobs=0)  # a dict per model; 0: all cores

Every note of every melody is scored, the first one included (the model's first token after BOS):
- joint bits: -log2 p(the note's token), the token being the model's own (pitch part + ioi +
  duration), so this depends on the vocabulary;
- pitch bits: -log2 of the probability of the note's (top) pitch: the sum over every token that
  would sound that pitch after the previous note (`tokenizer.next_pitches`), divided by the total
  probability of the tokens that sound a note at all (so the end-of-melody token takes no share),
  which is what melodic-expectation studies (IDyOM/PPM) report.
The end-of-melody token (EOS) is left out of both per-note figures; its mean bits are in the report.

Baselines (liveimpro.data.baselines) score the same notes: uniform, and, trained on the training split
of a prepared dataset over the model's own token alphabet, unigram and PPM (left out, with a note,
when there is no dataset). With `adapt`, also live adaptation: the short-term model (PPM on the
melody so far) alone, mixed with the PPM (IDyOM's "both"), and mixed with the LSTM
(liveimpro.lstm.adapt). Files that cannot be read are skipped and counted. The defaults (BEST_PPM,
BIAS, COMBINATION) were chosen on the Essen validation split: PPM* with escape X, exclusion and
update exclusion was best for both tokenizers. Scoring itself is in liveimpro.data.scoring.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..lstm.adapt import BIAS, COMBINATION
from ..lstm.ppm import PPMConfig
from .scoring import LSTMPredictor, Tally, note_pitches, score

log = logging.getLogger(__name__)

BEST_PPM = PPMConfig(order=None, escape="x", exclusion=True, update_exclusion=True)
COMBINATIONS = ("geometric", "arithmetic")


@dataclass(frozen=True)
class EvaluationOptions:
    """What is scored beside the model, and how much of the corpus."""
    ppm: PPMConfig = BEST_PPM  # the long-term PPM baseline
    adapt: bool = False  # also live adaptation: STM alone, PPM + STM, LSTM + STM
    bias: float = BIAS  # entropy-weighting exponent of the mixing
    combination: str = COMBINATION  # how the mixing combines distributions: one of COMBINATIONS
    limit: int | None = None  # score only the first `limit` melodies

    def __post_init__(self):
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {self.limit}")
        if self.combination not in COMBINATIONS:
            raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got {self.combination!r}")


@dataclass
class Corpus:
    """Melodies to score, as token sequences of one tokenizer, and what could not be read."""
    sequences: list = field(default_factory=list)
    files: int = 0  # files read (or tried)
    skipped_files: list = field(default_factory=list)  # (file, reason)
    skipped_tunes: list = field(default_factory=list)  # (tune label, reason)
    description: str = ""


@dataclass
class ParsedFiles:
    """Melody files read once (a liveimpro.data.corpus.FileResult each), to be encoded for each model."""
    results: list
    description: str = ""

    def encode(self, tokenizer) -> Corpus:
        corpus = Corpus(description=self.description)
        for result in self.results:
            corpus.files += 1
            if result.error is not None:
                corpus.skipped_files.append((str(result.path), result.error))
            corpus.skipped_tunes += result.skipped
            corpus.sequences += [tokenizer.encode(melody) for _, melody in result.tunes]
        return corpus


def cores(jobs: int) -> int:
    """The number of processes `jobs` asks for: itself, or every core for 0."""
    if jobs < 0:
        raise ValueError(f"jobs must be >= 0 (0: all cores), got {jobs}")
    return jobs or os.cpu_count() or 1


def read_files(paths, jobs: int = 1) -> ParsedFiles:
    """Every file in the files or folders `paths`, parsed in `jobs` processes (0: all cores); never raises
    for a bad file or tune: it is skipped with a reason."""
    from .corpus import find_files, read_many

    return ParsedFiles(read_many(find_files(paths), jobs=cores(jobs)), " ".join(map(str, paths)))


def read_corpus(paths, tokenizer, jobs: int = 1) -> Corpus:
    """Every melody in the files or folders `paths`, encoded; unreadable files skipped with a reason."""
    return read_files(paths, jobs).encode(tokenizer)


def nothing_read(corpus: Corpus) -> str:
    """The one-line error when no melody of the files could be read: a single file's own reason, else counts."""
    from .corpus import skip_summary

    if corpus.files == 1 and corpus.skipped_files:
        return "{}: {}".format(*corpus.skipped_files[0])
    summary = skip_summary((r for _, r in corpus.skipped_files), (r for _, r in corpus.skipped_tunes))
    return f"nothing to score: no melody with notes in {corpus.files} files ({summary})"


def same_tokenizer(a, b) -> bool:
    return a.to_json() == b.to_json()


def dataset_tokens(dataset, tokenizer, split: str) -> list:
    """The split's tunes in `tokenizer`'s ids: the stored arrays when the vocabularies agree (a logged
    warning when they differ and the split is encoded again)."""
    if tokenizer.kind in dataset.summary["vocab"] and same_tokenizer(dataset.tokenizer(tokenizer.kind), tokenizer):
        return dataset.tokens(tokenizer.kind, split)
    log.warning("the model's vocabulary differs from %s's; encoding its %s split again", dataset.folder, split)
    return [np.asarray(tokenizer.encode(m), np.int32) for m in dataset.melodies(split)]


def load_training_data(data, required: bool = False):
    """The prepared dataset (liveimpro.data.dataset.Dataset) in folder `data`, or None when it has no
    dataset.json and it is not `required`; UserError when it is damaged, or required and missing."""
    from .dataset import Dataset

    return Dataset.load(data) if required or Path(data, "dataset.json").is_file() else None


def evaluate_model(model, *, files: ParsedFiles | None = None, split: str | None = None, dataset=None,
                   options: EvaluationOptions = EvaluationOptions()) -> dict:
    """The report (a JSON-ready dict) of one model folder (a path, or a loaded liveimpro.lstm.folder.ModelFolder)
    on the melodies of `files`, or on the `split` ("train"/"valid") of `dataset`, beside the baselines;
    `dataset` (None: no unigram, no PPM) trains them. UserError when no melody of `files` could be read."""
    from ..lstm.folder import ModelFolder, load_model_folder
    from . import baselines

    if (files is None) == (split is None):
        raise ValueError("give either files or split")
    if split is not None and dataset is None:
        raise ValueError("scoring a split needs its dataset")
    folder = model if isinstance(model, ModelFolder) else load_model_folder(model)
    tokenizer, vocab = folder.tokenizer, len(folder.tokenizer)
    started = time.perf_counter()
    if split is not None:
        corpus = Corpus(dataset_tokens(dataset, tokenizer, split), description=f"{dataset.folder} {split} split")
    else:
        corpus = files.encode(tokenizer)
        if not corpus.sequences:
            raise UserError(nothing_read(corpus))
    if options.limit is not None:
        corpus.sequences = corpus.sequences[:options.limit]
    lstm = LSTMPredictor(folder)
    predictors, mixtures, notes = [baselines.Uniform(vocab)], [], []
    if dataset is not None:
        train = dataset_tokens(dataset, tokenizer, "train")
        ppm = baselines.LongTermPPM(train, vocab, options.ppm)
        predictors += [baselines.Unigram(train, vocab), ppm]
    else:
        notes.append("no training data: unigram and PPM baselines left out")
    predictors.append(lstm)
    if options.adapt:
        stm = baselines.ShortTermOnly(vocab)
        predictors.append(stm)
        how, mix = f"({options.combination}, bias {options.bias:g})", (options.bias, options.combination)
        if dataset is not None:
            mixtures.append(baselines.Mixture(f"PPM + STM {how}", [ppm.name, stm.name], *mix))
        mixtures.append(baselines.Mixture(f"LSTM + STM {how}", [lstm.name, stm.name], *mix))
    tallies = score(tokenizer, corpus.sequences, predictors, mixtures)
    first = next(iter(tallies.values()))
    return {"model": str(folder.path), "tokenizer": tokenizer.kind, "vocab_size": vocab,
            "source": corpus.description, "melodies": first.melodies, "notes": first.notes,
            "files": corpus.files, "skipped_files": [{"file": f, "reason": r} for f, r in corpus.skipped_files],
            "skipped_tunes": [{"tune": t, "reason": r} for t, r in corpus.skipped_tunes],
            "notes_about_baselines": notes,
            "mixing": {"combination": options.combination, "bias": options.bias} if options.adapt else None,
            "results": [t.as_dict(name) for name, t in tallies.items()],
            "seconds": round(time.perf_counter() - started, 2)}


def evaluate_models(models, *, corpus=(), split: str | None = None, dataset=None,
                    options: EvaluationOptions = EvaluationOptions(), jobs: int = 1) -> list[dict]:
    """evaluate_model for each model folder in `models`, on the files or folders `corpus` (read once, in
    `jobs` processes, 0: all cores, after the first model has loaded) or on `split` of `dataset`."""
    from ..lstm.folder import load_model_folder

    if bool(corpus) == (split is not None):
        raise ValueError("give either corpus or split")
    files, reports = None, []
    for model in models:
        folder = load_model_folder(model)
        if corpus and files is None:
            files = read_files(corpus, jobs)
        reports.append(evaluate_model(folder, files=files, split=split, dataset=dataset, options=options))
    return reports


__all__ = ["BEST_PPM", "COMBINATIONS", "EvaluationOptions", "Corpus", "ParsedFiles", "Tally", "LSTMPredictor",
           "cores", "read_files", "read_corpus", "nothing_read", "dataset_tokens", "load_training_data",
           "note_pitches", "score", "evaluate_model", "evaluate_models"]
