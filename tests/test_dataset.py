"""The dataset: build, split, augmentation, save/load, format version, and scripts/prepare_data.py."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liveimpro.data.corpus import FileResult
from liveimpro.data.dataset import FORMAT_VERSION, Dataset, split_of, transposed_copies
from liveimpro.errors import UserError
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import write_midi
from liveimpro.tokens.base import BOS, EOS

REPO = Path(__file__).resolve().parents[1]


def tune(seed: int, low=55, high=79, chord=False):
    rng = random.Random(seed)
    rows, onset = [], 0.0
    for _ in range(rng.randint(6, 16)):
        duration = rng.choice([0.5, 1.0, 1.0, 1.5, 2.0, 1 / 3])
        rows.append((rng.randint(low, high), onset, duration))
        if chord:
            rows.append((rows[-1][0] - 4, onset, duration))
        onset += duration
    return melody_from_tuples(rows, key="C major", name=f"tune {seed}")


def corpus(files=4, tunes_per_file=10):
    return [FileResult(Path(f"/somewhere/file{f}.abc"), [(i, tune(f * 100 + i, chord=(i == 3)))
                                                         for i in range(tunes_per_file)],
                       skipped=[(f"file{f}.abc X:99", "no notes")])
            for f in range(files)] + [FileResult(Path("/somewhere/bad.mid"), error="truncated MIDI file")]


def test_split_is_by_tune_deterministic_and_about_the_share():
    sides = [split_of(f"f{f}.abc", i, 0.1) for f in range(20) for i in range(100)]
    assert sides == [split_of(f"f{f}.abc", i, 0.1) for f in range(20) for i in range(100)]
    assert 0.07 < sides.count("valid") / len(sides) < 0.13
    assert split_of("a.abc", 5, 0.0) == "train"


def test_build_save_load_round_trip(tmp_path):
    results = corpus()
    built = Dataset.build(results, valid_share=0.3)
    summary = built.summary
    assert summary["tunes"]["train"] + summary["tunes"]["valid"] == 40
    assert summary["tunes"]["valid"] > 0 and summary["tunes"]["train"] > 0
    assert summary["skipped_files"] == {"truncated MIDI file": {"count": 1, "names": ["bad.mid"]}}
    assert summary["skipped_tunes"]["no notes"]["count"] == 4
    assert summary["polyphonic_tunes"] == 4
    for kind in ("curve", "note"):
        assert summary["vocab"][kind] == len(built.tokenizer(kind)) > 3
        assert 0 <= summary["nearest_valid"][kind]["share"] <= 1
    # the split follows the hash of file name and position, whatever else is in the corpus
    alone = Dataset.build(results[1:2], valid_share=0.3, kinds=())
    assert {m.name for m in alone.melodies("valid")} <= {m.name for m in built.melodies("valid")}

    built.save(tmp_path / "ds")
    loaded = Dataset.load(tmp_path / "ds")
    assert loaded.summary == json.loads(json.dumps(summary))
    for split in ("train", "valid"):
        assert loaded.melodies(split) == built.melodies(split)
        for kind in ("curve", "note"):
            got, expected = loaded.tokens(kind, split), built.tokens(kind, split)
            assert len(got) == len(expected) == len(built.melodies(split))
            assert all(a.dtype == np.int32 and np.array_equal(a, b) for a, b in zip(got, expected))
            assert all(a[0] == BOS and a[-1] == EOS for a in got)
            assert [int(t) for t in got[0]] == loaded.tokenizer(kind).encode(loaded.melodies(split)[0])
    assert len(loaded.tokenizer("note")) == len(built.tokenizer("note"))


def test_exact_duplicates_are_left_out_and_reported():
    results = corpus(2)
    copy = tune(1).shift(2.0).transpose(-5)  # same tune, later and lower: still a copy
    variant = tune(1).with_notes(tune(1).notes[:-1])  # one note less: a variant, kept
    results.append(FileResult(Path("/elsewhere/copies.abc"), [(0, copy), (1, variant)]))
    built = Dataset.build(results, valid_share=0.3, kinds=())
    assert built.summary["skipped_tunes"]["repeats an earlier tune (same notes, maybe transposed)"] == {
        "count": 1, "names": ["tune 1 (= tune 1)"]}
    assert sum(built.summary["tunes"].values()) == 21
    kept = Dataset.build(results, valid_share=0.3, kinds=(), dedupe=False)
    assert sum(kept.summary["tunes"].values()) == 22


def test_transposition_augments_only_the_training_split():
    high = melody_from_tuples([(120, 0, 1), (125, 1, 1)], name="high")
    assert [max(n.pitch for n in m.notes) for m in transposed_copies(high, 3)] == [122, 123, 124, 126, 127]
    plain = Dataset.build(corpus(), valid_share=0.3, kinds=())
    augmented = Dataset.build(corpus(), valid_share=0.3, transpose=2, kinds=())
    assert augmented.melodies("valid") == plain.melodies("valid")
    originals = plain.melodies("train")
    assert len(augmented.melodies("train")) == 5 * len(originals)
    assert augmented.summary["train_transposed_copies"] == 4 * len(originals)
    shifted = {(m.name, tuple(n.pitch for n in m.notes)) for m in augmented.melodies("train")}
    for melody in originals:
        for k in (-2, -1, 1, 2):
            assert (f"{melody.name} {k:+d}", tuple(n.pitch + k for n in melody.notes)) in shifted


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="dataset.json missing"):
        Dataset.load(tmp_path / "nothing")
    Dataset.build(corpus(2), valid_share=0.3, kinds=("curve",)).save(tmp_path / "ds")
    meta_file = tmp_path / "ds" / "dataset.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "version": FORMAT_VERSION + 1}))
    with pytest.raises(UserError, match=f"format version {FORMAT_VERSION + 1}.*rebuild"):
        Dataset.load(tmp_path / "ds")
    meta_file.write_text(json.dumps(meta))
    loaded = Dataset.load(tmp_path / "ds")
    with pytest.raises(UserError, match="no 'note' tokens"):
        loaded.tokens("note", "train")
    (tmp_path / "ds" / "curve-tokens.npz").write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(UserError, match="curve-tokens.npz: damaged"):
        loaded.tokens("curve", "train")
    meta_file.write_text("{ not json")
    with pytest.raises(UserError, match="damaged"):
        Dataset.load(tmp_path / "ds")


def test_prepare_data_script_skips_a_corrupt_file(tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "tunes.abc").write_text("".join(
        f"X:{i}\nT:Tune {i}\nM:3/4\nL:1/8\nK:D\nD2 F2 A2 | d4 {'cdefgab'[i % 7]}{'BAGF'[i % 4]} | A6 |]\n\n"
        for i in range(1, 13)) + "X:13\nT:broken\nK:C\nC D | [[[ ((( |\n")
    write_midi(songs / "played.mid", tune(7))
    (songs / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00\x90")
    (songs / "kinder0.abc").write_text("X:1\nK:C\nCDE|\n")  # the reserved Essen file's name
    out = tmp_path / "ds"
    env = {**os.environ, "LIVEIMPRO_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), str(songs), "--out", str(out),
                           "--jobs", "2", "--valid-share", "0.25", "--quiet"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "corrupt.mid" in done.stdout and "kinder0.abc" in done.stdout and "tunes.abc X:13" in done.stdout
    summary = Dataset.load(out).summary
    assert summary["tunes"]["train"] + summary["tunes"]["valid"] == 13
    assert summary["skipped_files"]["reserved for evaluation"]["names"] == ["kinder0.abc"]
    assert any("corrupt.mid" in entry["names"] for entry in summary["skipped_files"].values())
    assert sum(entry["count"] for entry in summary["skipped_tunes"].values()) == 1
    assert set(summary["vocab"]) == {"curve", "note"}
