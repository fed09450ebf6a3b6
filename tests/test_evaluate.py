"""`liveimpro evaluate` on a tiny dataset with a tiny LSTM trained and exported here, in seconds."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from liveimpro.cli import build_parser, main
from liveimpro.cli.options import DEFAULT_MODEL
from liveimpro.data.baselines import Mixture, ShortTermOnly, Uniform
from liveimpro.data.corpus import FileResult
from liveimpro.data.dataset import Dataset
from liveimpro.data.evaluation import (
    EvaluationOptions,
    LSTMPredictor,
    evaluate_models,
    load_training_data,
    note_pitches,
    score,
)
from liveimpro.lstm.folder import load_model_folder, save_model_folder
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import write_midi
from liveimpro.tokens.vocab import PAD

REPO = Path(__file__).resolve().parents[1]
SCALE = [0, 2, 4, 5, 7, 9, 11, 12]


MOTIFS = [[0, 2, 4, 2, 0, 4], [4, 5, 7, 5, 4, 2], [7, 5, 4, 2, 4, 0], [0, 4, 7, 4, 2, 0]]
RHYTHMS = [[1.0, 0.5, 0.5, 1.0, 0.5, 0.5], [0.5, 0.5, 1.0, 0.5, 0.5, 1.0]]


def folk_tune(rng, tonic: int):
    """A one-bar motif (one of four, two notes changed at random) on a major scale, played four
    times with a cadence on the tonic: quarters and eighths."""
    steps = list(MOTIFS[rng.integers(len(MOTIFS))])
    for _ in range(2):
        steps[rng.integers(6)] = rng.integers(8)
    rhythm = RHYTHMS[rng.integers(len(RHYTHMS))]
    rows, onset = [], 0.0
    for bar in range(4):
        for i, (step, duration) in enumerate(zip(steps, rhythm)):
            if bar == 3 and i >= 4:
                step = 0
            rows.append((tonic + SCALE[step], onset, duration))
            onset += duration
    return melody_from_tuples(rows, name=f"tune in {tonic}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(dataset folder, model folder): 400 tunes, and an LSTM trained on them for a few seconds."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    tunes = [(i, folk_tune(rng, int(rng.integers(55, 70)))) for i in range(400)]
    dataset = Dataset.build([FileResult(Path("tiny.abc"), tunes=tunes)], valid_share=0.25, kinds=("curve",))
    dataset.save(root / "data")
    tokenizer = dataset.tokenizer("curve")
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: threads only add contention on a shared machine
    net = NextTokenLSTM(ModelConfig(len(tokenizer), embed_dim=16, hidden=32, layers=1, dropout=0.0))
    train = dataset.tokens("curve", "train")
    batch = torch.full((len(train), max(map(len, train))), PAD, dtype=torch.int64)
    for row, tune in zip(batch, train):
        row[:len(tune)] = torch.from_numpy(tune.astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(40):
        logits = net(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(tokenizer)), batch[:, 1:].reshape(-1),
                                                 ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    save_model_folder(root / "model", net, tokenizer, {"name": "tiny"})
    return root / "data", root / "model"


def evaluate_json(capsys, *args) -> dict:
    assert main(["evaluate", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_split_scores_are_finite_and_uniform_is_log2_vocab(tiny, capsys):
    data, model = tiny
    out = evaluate_json(capsys, "--model", model, "--data", data, "--split", "valid", "--adapt")
    (report,) = out["reports"]
    valid = Dataset.load(data).tokens("curve", "valid")
    assert report["melodies"] == len(valid) > 0
    assert report["notes"] == sum(len(t) - 2 for t in valid)  # BOS and EOS are not notes
    results = {r["name"].split(" (")[0]: r for r in report["results"]}
    assert set(results) == {"uniform", "unigram", "PPM", "LSTM", "STM alone", "PPM + STM", "LSTM + STM"}
    for r in report["results"]:
        assert math.isfinite(r["joint_bits_per_note"]) and math.isfinite(r["pitch_bits_per_note"]), r
        assert r["notes"] == report["notes"]
    assert results["uniform"]["joint_bits_per_note"] == pytest.approx(math.log2(report["vocab_size"]), abs=1e-12)
    assert results["unigram"]["joint_bits_per_note"] < results["uniform"]["joint_bits_per_note"]
    for name in ("PPM", "LSTM", "PPM + STM", "LSTM + STM"):
        assert results[name]["joint_bits_per_note"] < results["unigram"]["joint_bits_per_note"] - 0.5, name
        assert results[name]["pitch_bits_per_note"] < results[name]["joint_bits_per_note"], name


def test_pitch_targets_are_the_melody_pitches(tiny):
    data, _ = tiny
    dataset = Dataset.load(data)
    tokenizer = dataset.tokenizer("curve")
    exact = [(melody, seq) for melody, seq in zip(dataset.melodies("valid"), dataset.tokens("curve", "valid"))
             if tokenizer.count_nearest(melody)[0] == 0]  # a nearest-mapped token may change the pitch
    assert len(exact) > 10
    for melody, seq in exact:
        tops, pitches = note_pitches(tokenizer, seq)
        assert list(pitches) == [n.pitch for n in melody.notes]
        assert tops.shape == (len(melody.notes), len(tokenizer))


def test_short_term_adaptation_lowers_bits_on_a_repeated_motif(tiny):
    _, model = tiny
    folder = load_model_folder(model)
    tokenizer = folder.tokenizer
    motif = [(60, 0, 0.5), (64, 0.5, 0.5), (62, 1, 1), (67, 2, 0.5), (65, 2.5, 0.5), (60, 3, 1)]
    melody = melody_from_tuples([(p, o + 4 * k, d) for k in range(6) for p, o, d in motif])
    seq = tokenizer.encode(melody)
    lstm, stm = LSTMPredictor(folder), ShortTermOnly(len(tokenizer))
    adapted = Mixture("adapted", [lstm.name, stm.name])
    tallies = score(tokenizer, [seq], [lstm, stm], [adapted])
    assert tallies["adapted"].joint < tallies[lstm.name].joint - 0.5 * tallies[lstm.name].notes
    assert tallies["adapted"].pitch < tallies[lstm.name].pitch


def test_uniform_pitch_only_counts_the_reachable_pitches(tiny):
    _, model = tiny
    tokenizer = load_model_folder(model).tokenizer
    seq = tokenizer.encode(melody_from_tuples([(60, 0, 1), (62, 1, 1)]))
    tally = score(tokenizer, [seq], [Uniform(len(tokenizer))])["uniform"]
    reachable = [len(set(tokenizer.next_pitches(prev)) - {-1})
                 for prev in (None, tokenizer.token_event(None, seq[1]))]
    assert tally.pitch == pytest.approx(sum(math.log2(n) for n in reachable))


def test_cli_skips_and_counts_a_corrupt_file(tiny, tmp_path):
    data, model = tiny
    folder = tmp_path / "songs"
    folder.mkdir()
    rng = np.random.default_rng(5)
    write_midi(folder / "good.mid", folk_tune(rng, 62))
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 this is not a MIDI file")
    env = {**os.environ, "LIVEIMPRO_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "liveimpro", "evaluate", "--model", str(model), "--data", str(data),
                             "--json", str(folder)], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["melodies"] == 1 and report["notes"] == 24
    (skipped,) = report["skipped_files"]
    assert skipped["file"].endswith("broken.mid") and skipped["reason"]


def test_cli_without_anything_to_score_is_a_one_line_error(capsys):
    assert main(["evaluate"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to score" in err


def test_the_library_takes_plain_parameters(tiny):
    data, model = tiny
    (report,) = evaluate_models([model], split="valid", dataset=load_training_data(data),
                                options=EvaluationOptions(limit=5, adapt=True))
    assert report["melodies"] == 5 and report["mixing"] == {"combination": "arithmetic", "bias": 3.0}
    assert load_training_data(data.parent / "none") is None


def test_defaults_come_from_the_package_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["evaluate", "song.mid"])
    assert args.data == REPO / "data" / "essen" and args.model is None and args.jobs == 1
    import liveimpro.cli.evaluate as command
    assert command.DEFAULT_MODEL is DEFAULT_MODEL and DEFAULT_MODEL.is_absolute()


def song_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(count):
        write_midi(folder / f"song{i}.mid", folk_tune(rng, int(rng.integers(55, 70))))
    return folder


def test_jobs_2_gives_the_same_numbers_as_jobs_1(tiny, tmp_path, capsys, monkeypatch):
    data, model = tiny
    folder = song_folder(tmp_path / "songs", 6)
    reports = {}
    for jobs in (1, 2):
        monkeypatch.setenv("LIVEIMPRO_CACHE", str(tmp_path / f"cache{jobs}"))  # an empty cache: every file parsed
        (report,) = evaluate_json(capsys, "--model", model, "--data", data, "--adapt", "--jobs", jobs, folder)["reports"]
        del report["seconds"]
        reports[jobs] = report
        assert len(list((tmp_path / f"cache{jobs}").rglob("*.json.gz"))) == 6
    assert reports[1]["melodies"] == 6 and reports[1]["notes"] == 6 * 24
    assert reports[2] == reports[1]


def test_missing_training_data_is_one_line_on_stderr_and_the_model_rows_stay(tiny, tmp_path, capsys, monkeypatch):
    data, model = tiny
    monkeypatch.setenv("LIVEIMPRO_CACHE", str(tmp_path / "cache"))
    folder = song_folder(tmp_path / "songs", 2)
    assert main(["evaluate", "--model", str(model), "--data", str(tmp_path / "none"), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith(f"liveimpro evaluate: no training data at {tmp_path / 'none'}")
    assert "scripts/prepare_data.py --out " + str((tmp_path / "none").resolve()) in err
    assert [line.split()[0] for line in out.splitlines() if line.startswith("  ")] == [
        "note:", "predictor", "uniform", "LSTM"]
    assert main(["evaluate", "--model", str(model), "--data", str(data), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and [line.split()[0] for line in out.splitlines() if line.startswith("  ")] == [
        "predictor", "uniform", "unigram", "PPM", "LSTM"]
