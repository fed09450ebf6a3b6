"""The answer benchmark (issue 13): each metric on melodies whose answer is known, the cutting of tunes at
their own bar lines, the baselines, and a tiny end-to-end run of scripts/eval_answers.py (shipped model)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liveimpro.data.answer_baselines import (
    BASELINES,
    markov_answer,
    random_walk,
    repeat_call,
    transposed_call,
)
from liveimpro.data.answer_calls import (
    BarGrid,
    CallPair,
    answer_calls,
    split_tune,
    tune_key,
)
from liveimpro.data.answers import (
    ends_on_tonic_triad,
    has_cell_loop,
    in_key_share,
    interval_histogram,
    interval_ngrams,
    ioi_histogram,
    key_relation,
    longest_loop,
    longest_same_pitch,
    measure,
    overlap,
    relatedness,
    summarize,
    tempo_relation,
)
from liveimpro.melody import Melody, melody_from_tuples
from liveimpro.music.keys import estimate_key

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "essen"


def line(pitches, ioi=0.5, start=0.0, **kw) -> Melody:
    """A melody of equal notes, one every `ioi` beats."""
    return melody_from_tuples([(p, start + i * ioi, ioi) for i, p in enumerate(pitches)], **kw)


C_MAJOR = tune_key(line([60, 64, 67, 60], key="C major"))


def test_a_cell_played_three_times_in_a_row_is_flagged():
    assert has_cell_loop(line([60, 62, 60, 62, 60, 62]))
    assert has_cell_loop(line([55, 60, 62, 64, 60, 62, 64, 60, 62, 64, 67]))  # 3-note cell inside
    assert has_cell_loop(line([60, 62, 64, 65, 60, 62, 64, 65, 60, 62, 64, 65]))
    assert not has_cell_loop(line([60, 62, 60, 62, 64, 65]))  # twice only
    assert not has_cell_loop(line([60] * 8))  # one pitch is not a cell (the stuck-pitch metric's)
    assert not has_cell_loop(line([60, 62, 64, 65, 67, 69, 71, 72]))


def test_longest_literal_loop_counts_the_repeated_stretch():
    assert longest_loop(line([60, 62, 60, 62, 60, 62])) == 6
    assert longest_loop(line([60, 62, 64, 65, 67])) == 0
    assert longest_loop(line([60, 62, 64, 60, 62, 64, 71])) == 6
    # the same pitches in another rhythm are not a literal repeat
    uneven = melody_from_tuples([(60, 0, 1), (62, 1, 1), (60, 2, 0.5), (62, 2.5, 0.5)])
    assert longest_loop(uneven) == 0


def test_stuck_pitch_run():
    assert longest_same_pitch(line([60] * 8 + [62])) == 8
    assert longest_same_pitch(line([60, 62, 60, 62])) == 1
    assert measure(line([60] * 9, start=8), _pair())["stuck_pitch"]


def test_final_note_in_the_tonic_triad():
    assert ends_on_tonic_triad(line([62, 64, 60]), C_MAJOR)
    assert ends_on_tonic_triad(line([62, 65, 67]), C_MAJOR)  # the fifth
    assert not ends_on_tonic_triad(line([60, 64, 62]), C_MAJOR)
    assert not ends_on_tonic_triad(line([60, 64, 65]), C_MAJOR)


def test_tune_key_takes_the_final_as_tonic_within_the_signature():
    e_minor = tune_key(line([64, 67, 71, 66, 64], key="G major"))  # one sharp, ends on E: E minor
    assert (e_minor.tonic_pc, e_minor.mode, e_minor.source) == (4, "minor", "dataset")
    assert e_minor.triad == {4, 7, 11} and 3 in e_minor.allowed  # D# (raised 7th) allowed in minor
    g_major = tune_key(line([67, 71, 74, 67], key="G major"))
    assert (g_major.tonic_pc, g_major.mode) == (7, "major") and 6 in g_major.scale
    off_scale = tune_key(line([60, 64, 61], key="C major"))  # a final off the scale: the signature's tonic
    assert off_scale.tonic_pc == 0
    estimated = tune_key(line([62, 66, 69, 66, 62, 69, 71, 73, 74, 62]))  # no key: from its histogram
    assert estimated.source == "estimated" and estimated.tonic_pc == 2 and estimated.mode == "major"


def test_notes_in_key():
    assert in_key_share(line([60, 62, 64, 65]), C_MAJOR) == 1.0
    assert in_key_share(line([60, 61, 63, 64]), C_MAJOR) == 0.5


def test_ngram_relatedness_of_a_melody_with_itself_is_one():
    melody = line([60, 62, 64, 62, 67, 65, 64])
    assert relatedness(melody, melody) == 1.0
    assert relatedness(melody.transpose(5), melody) == 1.0  # intervals: transposition-free
    assert relatedness(line([60, 61, 63, 70]), melody) == 0.0
    assert interval_ngrams(line([60, 62, 65, 64])) == [(2, 3), (3, -1)]
    assert relatedness(line([60, 62]), melody) is None  # no 3-note n-gram


def test_histogram_overlap_identical_is_one_disjoint_is_zero():
    a, b = line([60, 62, 64, 65, 67]), line([60, 67, 72, 60], ioi=1.5)
    assert overlap(interval_histogram(a), interval_histogram(a)) == pytest.approx(1.0)
    assert overlap(interval_histogram(a), interval_histogram(b)) == 0.0
    assert overlap(ioi_histogram(a), ioi_histogram(a)) == pytest.approx(1.0)
    assert overlap(ioi_histogram(a), ioi_histogram(b)) == 0.0
    assert overlap(ioi_histogram(line([60])), ioi_histogram(a)) is None
    half = overlap(interval_histogram(line([60, 62, 64, 72])), interval_histogram(line([60, 62, 64, 66])))
    assert half == pytest.approx(2 / 3)


def test_tempo_and_key_relations():
    assert [tempo_relation(r) for r in (1.0, 1.04, 2.05, 0.5, 1.5)] == ["equal", "equal", "double", "half", "other"]
    a_minor = estimate_key(np.array([3, 0, 1, 0, 2, 0, 0, 1, 0, 4, 0, 1.0]))
    assert a_minor.name == "A minor"
    assert key_relation(a_minor, C_MAJOR) == (False, True)  # the relative key: same scale
    assert key_relation(a_minor, tune_key(line([69, 72, 76, 69], key="C major"))) == (True, True)
    assert key_relation(None, C_MAJOR) == (False, False)


def _tune(pickup: float = 1.0, bars: int = 9, bar: float = 4.0) -> Melody:
    """A 4/4 tune of quarter notes with a pickup: C major scale up and down."""
    total = int(pickup + bars * bar)
    pitches = [[60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62][i % 14] for i in range(total)]
    return line(pitches, ioi=1.0, key="C major", time_signature=(4, 4), name="t.abc X:1 test")


def _measures(pickup: float = 1.0, bars: int = 9, bar: float = 4.0):
    first = [(0.0, pickup, bar)] if pickup else []
    return first + [(pickup + i * bar, bar, bar) for i in range(bars)]


def _pair() -> CallPair:
    pair = split_tune(_tune(), _measures(), 4)
    assert isinstance(pair, CallPair)
    return pair


def test_a_tune_is_cut_at_its_own_bar_lines_with_the_pickup_in_the_call():
    pair = _pair()
    assert pair.grid == BarGrid(origin=1.0, bar=4.0) and pair.split == 17.0
    assert pair.call.notes[0].onset == 0 and pair.call.notes[-1].onset == 16.0 and len(pair.call) == 17
    assert pair.human.notes[0].onset == 17.0 and pair.human.end == 33.0 and len(pair.human) == 16
    human = measure(pair.human, pair)
    assert human["on_bar_line"] and human["human_position"] and human["entry"] == 0.0
    late = measure(pair.human.shift(1.0), pair)  # a beat late: off the bar line
    assert not late["on_bar_line"] and not late["human_position"] and late["entry"] == 1.0
    assert measure(pair.human.shift(4.0), pair)["on_bar_line"]  # a bar late: on one
    no_pickup = split_tune(_tune(pickup=0), _measures(pickup=0), 2)
    assert no_pickup.grid.origin == 0.0 and no_pickup.split == 8.0


def test_tunes_that_cannot_be_cut_are_skipped_by_reason():
    assert split_tune(_tune(bars=7), _measures(bars=7), 4) == "fewer than 8 bars"
    changing = _measures()
    changing[3] = (changing[3][0], 3.0, 3.0)
    assert split_tune(_tune(), changing, 4) == "meter changes or is free in the bars used"
    assert split_tune(_tune(), "not an Essen tune (no ABC to read its bar lines from)", 4).startswith("not an Essen")
    pairs, skipped = answer_calls([_tune(), _tune(bars=5)], 5, 4, measures=lambda melody: _measures())
    assert len(pairs) == 1 and skipped == {"fewer than 8 bars": 1}
    with pytest.raises(ValueError):
        answer_calls([_tune()], 1, 3, measures=lambda melody: _measures())


def test_baselines_answer_in_the_calls_rhythm_after_the_call():
    pair, rng = _pair(), np.random.default_rng(0)
    repeated = repeat_call(pair)
    assert [n.pitch for n in repeated.notes] == [n.pitch for n in pair.call.notes]
    assert repeated.notes[0].onset == 20.0  # the call's bar position (the pickup), the bar after the split
    dominant = transposed_call(pair)
    assert all(n.pitch % 12 in C_MAJOR.scale for n in dominant.notes)
    assert dominant.notes[0].pitch in (67, 55)  # C up a diatonic fifth (maybe an octave lower)
    walk = random_walk(pair, rng)
    low, high = min(n.pitch for n in pair.call.notes) - 4, max(n.pitch for n in pair.call.notes) + 4
    assert all(n.pitch % 12 in C_MAJOR.scale and low <= n.pitch <= high for n in walk.notes)
    markov = markov_answer(pair, np.random.default_rng(1))
    assert {n.pitch for n in markov.notes} <= {n.pitch for n in pair.call.notes}
    assert markov == markov_answer(pair, np.random.default_rng(1)) and len(markov) == len(pair.call)
    for name, make in BASELINES.items():
        metrics = measure(make(pair, rng), pair)
        assert metrics["notes"] == len(pair.call) and metrics["relatedness"] is not None, name


def test_summary_means_over_answers_leaving_out_what_does_not_apply():
    summary = summarize([{"cell_loop": True, "notes": 4}, {"cell_loop": False, "notes": 8, "relatedness": None}])
    assert summary["cell_loop"] == (0.5, 2) and summary["notes"] == (6.0, 2) and summary["relatedness"] == (None, 0)


@pytest.mark.skipif(not (DATA / "dataset.json").is_file(), reason="data/essen not prepared (scripts/prepare_data.py)")
def test_essen_bar_lines_are_read_again_and_pickups_kept():
    from liveimpro.data.answer_calls import essen_measures
    from liveimpro.data.dataset import Dataset

    melodies = Dataset.load(DATA).melodies("valid")
    pairs, _ = answer_calls(melodies, 6, 4)
    assert len(pairs) == 6 and any(p.grid.origin > 0 for p in pairs)
    for pair in pairs:
        assert "kinder0" not in pair.name and pair.call.end <= pair.split + 1e-9 < pair.human.notes[0].onset + 1e-6
    assert isinstance(essen_measures(melodies[0]), list)
    assert essen_measures(_tune()).startswith("not an Essen tune")


@pytest.mark.skipif(not (DATA / "dataset.json").is_file(), reason="data/essen not prepared (scripts/prepare_data.py)")
def test_the_benchmark_runs_end_to_end_on_three_tunes(tmp_path):
    out_json, out_png = tmp_path / "answers.json", tmp_path / "answers.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_answers.py"), "--tunes", "3", "--seeds", "1",
                           "--json", str(out_json), "--png", str(out_png)],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# scripts/eval_answers.py --tunes 3") and "load average" in lines[1]
    assert lines[3].startswith("| metric | human | liveimpro | call repeated |")
    assert any(text.startswith("| answers | 3 | 3 | 3 |") for text in lines)
    assert any(text.startswith("| call relatedness") for text in lines)
    report = json.loads(out_json.read_text())
    assert len(report["answers"]["liveimpro"]) == 3 and report["table"]["call repeated"]["relatedness"] == 1.0
    assert report["table"]["human"]["interval_overlap"] == pytest.approx(1.0)
    assert 0 < out_png.stat().st_size < 300_000
