import numpy as np
import pytest
from script_modules import load_script

from liveimpro.melody import melody_from_tuples
from liveimpro.music.played import quantize
from liveimpro.music.tempo import (
    EXACT_ONSETS,
    MAX_ONSETS,
    PASSES,
    TempoEstimate,
    TempoTracker,
    estimate_tempo,
)

# rhythms in beats (IOIs), the last note's length left out: what a player might play
RHYTHMS = {
    "mixed": [1, .5, .5, 1, .75, .25, 1, .5, .5, 2, 1, 1 / 3, 1 / 3, 1 / 3, 1, .5, .5, 1.5, .5],
    "dotted": [1.5, .5, 1, 1, .75, .25, .5, .5, 1.5, .5, 2, .75, .25],
    "triplets": [1 / 3, 1 / 3, 1 / 3, 1, .5, .5, 1 / 3, 1 / 3, 1 / 3, 1, 1, .5, .5],
    "eighths": [.5, .5, .5, .5, 1, .5, .5, 1, 1, .5, .5, .5, .5],
    "quarters and eighths": [1, 1, .5, .5, 1, 1, 1, 2, .5, .5, .5, .5, 1, 1],
    "short": [1, .5, .5, 1, 1],
}
SIXTEENTHS = [.25, .25, .25, .25, .5, .5, 1, .25, .25, .5, 1, .5, .5]


def played(rhythm, bpm, seed, start=10.0, first_beat=0.0, jitter=0.015):
    """Onset times of `rhythm` at `bpm`, the first onset `first_beat` beats after a beat at `start`,
    each moved by up to +-jitter seconds (uniform)."""
    beats = first_beat + np.concatenate([[0.0], np.cumsum(rhythm)])
    rng = np.random.default_rng(seed)
    return start + beats * 60.0 / bpm + rng.uniform(-jitter, jitter, len(beats))


@pytest.mark.parametrize("name", RHYTHMS)
@pytest.mark.parametrize("bpm", [60, 90, 120, 150])
def test_tempo_within_three_percent_with_human_jitter(bpm, name):
    for seed in range(5):
        estimate = estimate_tempo(played(RHYTHMS[name], bpm, seed))
        assert estimate.bpm == pytest.approx(bpm, rel=0.03), (name, seed, estimate)


@pytest.mark.parametrize("bpm", [60, 90, 120, 150])
def test_phase_falls_on_the_beat(bpm):
    for seed in range(5):
        onsets = played(RHYTHMS["mixed"], bpm, seed, start=3.0)
        estimate = estimate_tempo(onsets)
        period = 60.0 / bpm
        assert estimate.phase == pytest.approx(3.0, abs=0.03 * period + 0.015)


def test_a_pickup_note_is_put_on_the_offbeat():
    rhythm = [.5, 1, 1, .5, .5, 1, 2, .5, .5, 1, 1]  # starts with an eighth before the beat
    onsets = played(rhythm, 100, seed=1, start=5.0, first_beat=0.5)
    estimate = estimate_tempo(onsets)
    assert estimate.bpm == pytest.approx(100, rel=0.03)
    assert estimate.phase == pytest.approx(5.0, abs=0.03)  # the beat before the pickup
    assert estimate.beat_of(onsets[1]) == pytest.approx(1.0, abs=0.05)
    assert estimate.origin_for(onsets[0]) == pytest.approx(5.0, abs=0.03)


def test_sixteenths_read_at_double_tempo_unless_the_previous_tempo_says_otherwise():
    onsets = played(SIXTEENTHS, 60, seed=0)
    assert estimate_tempo(onsets).bpm == pytest.approx(120, rel=0.03)  # documented: ambiguous
    assert estimate_tempo(onsets, previous_bpm=60).bpm == pytest.approx(60, rel=0.03)
    assert estimate_tempo(onsets, previous_bpm=62).bpm == pytest.approx(60, rel=0.03)


@pytest.mark.parametrize("name", ["mixed", "dotted", "eighths"])
def test_a_change_of_tempo_within_the_octave_comes_through_the_prior(name):
    for previous, now in ((100, 80), (100, 125), (120, 90)):
        onsets = played(RHYTHMS[name], now, seed=3)
        assert estimate_tempo(onsets, previous_bpm=previous).bpm == pytest.approx(now, rel=0.03)


# equal notes `gap` s apart: the documented reading, and the other octave (note = beat or
# note = half a beat) that a previous tempo near it selects; 0.3 s: running eighths at 100 bpm are
# read at 100, not as quarters at 200
@pytest.mark.parametrize("gap, bpm, other", [(0.5, 120, 60), (0.6, 100, 50), (0.8, 75, None), (1.0, 60, None),
                                             (0.4, 75, 150), (0.3, 100, 200), (0.25, 120, None)])
def test_all_quarter_notes_as_documented(gap, bpm, other):
    onsets = 2.0 + np.arange(8) * gap
    estimate = estimate_tempo(onsets)
    assert estimate.bpm == pytest.approx(bpm, rel=0.01)
    assert estimate.phase == pytest.approx(2.0, abs=1e-6)  # the first note on the beat
    assert estimate_tempo(onsets, previous_bpm=bpm).bpm == pytest.approx(bpm, rel=0.01)
    if other:
        assert estimate_tempo(onsets, previous_bpm=other).bpm == pytest.approx(other, rel=0.01)


def test_equal_notes_are_ambiguous_and_say_so():
    assert estimate_tempo(np.arange(8) * 0.5).confidence < 0.6
    # > 0.8 with the prior of 60..140 bpm; the flatter one of 60..180 leaves the octave at 180 more mass
    assert estimate_tempo(played(RHYTHMS["dotted"], 90, seed=0)).confidence > 0.7


def test_too_few_onsets_give_the_prior_with_no_confidence():
    assert estimate_tempo([]) == TempoEstimate(120.0, 0.0, 0.0)
    assert estimate_tempo([1.0, 1.5], previous_bpm=97) == TempoEstimate(97, 1.0, 0.0)
    assert estimate_tempo([1.0, 1.0, 1.0, float("nan")]).confidence == 0.0


def test_a_long_rest_inside_the_phrase_does_not_derail_it():
    rhythm = [1, .5, .5, 1, 1, 7, 1, .5, .5, 1, 1]  # seven beats of rest in the middle
    estimate = estimate_tempo(played(rhythm, 110, seed=2))
    assert estimate.bpm == pytest.approx(110, rel=0.03)


def test_onset_order_and_duplicates_do_not_matter():
    onsets = played(RHYTHMS["mixed"], 90, seed=4)
    assert estimate_tempo(onsets[::-1].tolist() + [onsets[3]]) == estimate_tempo(onsets)


def test_origin_for_takes_the_nearest_beat_when_close_else_the_one_before():
    estimate = TempoEstimate(bpm=120, phase=10.0, confidence=1.0)
    assert estimate.origin_for(10.98) == pytest.approx(11.0)  # 0.04 beat early: meant on the beat
    assert estimate.origin_for(11.2) == pytest.approx(11.0)
    assert estimate.origin_for(11.25) == pytest.approx(11.0)  # an eighth before the beat: a pickup
    assert estimate.origin_for(11.45) == pytest.approx(11.5)  # 0.1 beat early: meant on the beat
    assert estimate.beat_of(12.0) == pytest.approx(4.0)


def test_quantize_snaps_to_sixteenths_and_triplets():
    melody = melody_from_tuples([(60, 0.02, 0.45), (62, 0.52, 0.2), (64, 0.98, 0.33), (65, 1.36, 0.30),
                                 (67, 1.65, 0.04)])
    snapped = quantize(melody)
    assert [n.onset for n in snapped] == pytest.approx([0.0, 0.5, 1.0, 4 / 3, 5 / 3])
    assert [n.duration for n in snapped] == pytest.approx([0.5, 0.25, 1 / 3, 1 / 3, 0.25])
    assert quantize(melody, subdivisions=(2,)).notes[1].onset == 0.5


# --- onset by onset: TempoTracker ---------------------------------------------------------------
# the estimate before the tracker (every IOI and a Viterbi pass over the window at every onset),
# kept verbatim in the benchmark as its baseline
full_phrase_estimate = load_script("bench_hear").full_phrase_estimate


def tracked(onsets, previous_bpm=None):
    """The tracker given the onsets one at a time, as the live engine does: its estimate and its
    work after each."""
    tracker, estimates, work = TempoTracker(previous_bpm), [], []
    for onset in onsets:
        tracker.add(onset)
        estimates.append(tracker.estimate)
        work.append(tracker.work)
    return tracker, estimates, work


def same(a: TempoEstimate, b: TempoEstimate) -> bool:
    return a.bpm == pytest.approx(b.bpm, rel=1e-9) and a.phase == pytest.approx(b.phase, abs=1e-9) \
        and a.confidence == pytest.approx(b.confidence, abs=1e-9)


def long_phrase(bpm, seed, onsets, **kw):
    rhythm = np.resize(np.concatenate([RHYTHMS[name] for name in sorted(RHYTHMS)]), onsets - 1)
    return played(rhythm, bpm, seed, **kw)


@pytest.mark.parametrize("name", [*RHYTHMS, "sixteenths"])
def test_the_tempo_decisions_are_those_of_the_full_phrase_estimate(name):
    """estimate_tempo and the tracker, onset by onset, decide what the estimate before them did
    at every onset of the test phrases (bpm, phase and confidence to 1e-9)."""
    rhythm = SIXTEENTHS if name == "sixteenths" else RHYTHMS[name]
    assert len(rhythm) + 1 <= EXACT_ONSETS
    for bpm in (60, 90, 120, 150):
        for seed in range(3):
            onsets = played(rhythm, bpm, seed)
            for previous in (None, 60, 120):
                _, estimates, _ = tracked(onsets, previous)
                for n in range(1, len(onsets) + 1):
                    old = full_phrase_estimate(onsets[:n], previous)
                    assert same(estimate_tempo(onsets[:n], previous), old), (bpm, seed, previous, n)
                    assert same(estimates[n - 1], old), (bpm, seed, previous, n)


def test_estimate_tempo_of_a_long_phrase_is_the_old_one():
    """Past the window too: all onsets at once are the window's last MAX_ONSETS, as before."""
    for bpm, seed in ((70, 0), (100, 1), (135, 2)):
        onsets = long_phrase(bpm, seed, 150)
        for n in (30, 64, 65, 100, 150):
            assert same(estimate_tempo(onsets[:n]), full_phrase_estimate(onsets[:n])), (bpm, n)


def test_the_tracker_does_bounded_work_per_onset():
    """Structurally, not by the clock: each onset scores one IOI and takes one Viterbi step per
    pass kept, a window's worth when a pass starts; never more, however long the phrase."""
    tracker, estimates, work = tracked(long_phrase(104, 5, 2000))
    assert tracker.count == 2000 and tracker.onsets == MAX_ONSETS
    assert max(work) <= 1 + PASSES * MAX_ONSETS
    assert max(work[200:]) == 1 + PASSES  # a settled phrase
    assert sum(work) <= (2 + PASSES) * len(work)
    assert all(e.bpm == pytest.approx(104, rel=0.01) for e in estimates[20:])


@pytest.mark.parametrize("bpm", [72, 100, 132])
def test_a_long_phrases_beats_stay_put_when_old_onsets_leave_the_window(bpm):
    """The reading of a phrase that starts with a pickup holds to its last onset: the grid stays on
    the played beats where the answer will go (no half-beat jump), the first note stays a pickup
    while it is in the window, and tempo and phase agree with the whole window at once."""
    bars = [1, .5, .5, 1, 1, .5, .5, .5, .5, 1, 1, 2, 1, 1 / 3, 1 / 3, 1 / 3, 1, .75, .25, 1, 1.5, .5]  # 16 beats
    onsets = played([.5, *np.resize(bars, 398)], bpm, seed=4, start=5.0, first_beat=0.5)  # an eighth's pickup
    period = 60.0 / bpm
    _, estimates, _ = tracked(onsets)
    for n, estimate in enumerate(estimates[12:], 13):
        beat = estimate.beat_of(5.0 + (onsets[n - 1] - 5.0) // period * period)  # the played beat before it
        assert abs(beat - round(beat)) < 0.1, n
        if n <= MAX_ONSETS:
            assert estimate.origin_for(onsets[0]) == pytest.approx(5.0, abs=0.1 * period), n
        else:
            whole = estimate_tempo(onsets[:n])
            assert estimate.bpm == pytest.approx(whole.bpm, rel=0.01)
            assert abs(estimate.beat_of(whole.phase) - round(estimate.beat_of(whole.phase))) < 0.1


def test_the_tracker_follows_what_is_left_of_a_phrase_that_drops_its_oldest_notes():
    """forget_before: the onsets the phrase no longer has leave the estimate (the engine's phrase
    keeps its last notes), so a change of tempo comes through."""
    onsets = np.concatenate([100.0 + np.arange(12) * 0.5, 106.0 + np.arange(12) * 0.75])  # 120, then 80 bpm
    tracker = TempoTracker()
    for index, onset in enumerate(onsets):
        tracker.forget_before(onsets[max(0, index - 7)])
        tracker.add(onset)
        assert tracker.onsets <= 8
    assert tracker.estimate.bpm == pytest.approx(80, rel=0.02)
