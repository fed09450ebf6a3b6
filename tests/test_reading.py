"""Reading a call's tempo and key as the responder does (issue 13): the octave of dance and folk
rhythms at 60..180 bpm, the key of openings that start on the tonic, and the rules of
scripts/eval_reading.py. Offline and fast: no dataset, no model."""
from __future__ import annotations

import numpy as np
import pytest
from script_modules import load_script
from test_keys import melody

from liveimpro.melody import Melody, Note
from liveimpro.music.keys import KeyTracker
from liveimpro.music.tempo import TempoTracker, estimate_tempo

reading = load_script("eval_reading")

# rhythms in beats of their meter (IOIs; the last note's length left out)
REEL = [.5] * 14 + [1] + [.5] * 14 + [1]  # 4/4: bars of running eighths, each pair of bars ending on a quarter
JIG = ([1 / 3] * 6 + [2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3]) * 2 + [1 / 3] * 6  # 6/8 in dotted-quarter beats
SIXTEENTHS_2_4 = [.5, .25, .25, .5, .5, .25, .25, .25, .25, 1, .5, .25, .25, .5, .5, .5, .25, .25, 1]
MARCH = [.5, .5, .5, .5, 1, .5, .5, .75, .25, .5, .5, 1, 1]
WALTZ = [1, .5, .5, 1, 2, 1, 1, .5, .5, 1, 3]
SONG = [1, 1, 1, .5, .5, 2, 1, 1, 1, 1, 2, 2]  # quarters and halves
TEMPI = (60, 80, 100, 120, 150, 180)


def played(rhythm, bpm, seed, jitter=0.010):
    """Onset times (s) of `rhythm` at `bpm` beats a minute, each moved by up to +-jitter (uniform)."""
    beats = np.concatenate([[0.0], np.cumsum(rhythm)])
    rng = np.random.default_rng(seed)
    return 10.0 + beats * 60.0 / bpm + rng.uniform(-jitter, jitter, len(beats))


def tracked(onsets, previous_bpm=None):
    """The reading after the last onset, the tracker fed one onset at a time as the engine feeds it."""
    tracker = TempoTracker(previous_bpm)
    for onset in onsets:
        tracker.add(onset)
    return tracker.estimate.bpm


@pytest.mark.parametrize("bpm", TEMPI)
@pytest.mark.parametrize("name, rhythm", [("reel", REEL), ("march", MARCH), ("waltz", WALTZ)])
def test_folk_and_dance_rhythms_are_read_at_their_beat_not_double_or_half(name, rhythm, bpm):
    for seed in range(3):
        assert tracked(played(rhythm, bpm, seed)) == pytest.approx(bpm, rel=0.03), (name, seed)


def test_running_eighths_at_100_are_read_at_100_not_as_quarters_at_200():
    onsets = 10.0 + np.arange(24) * 0.3  # a reel's eighths at 100 bpm, nothing else
    assert estimate_tempo(onsets).bpm == pytest.approx(100, rel=0.01)
    assert tracked(played(REEL, 100, seed=7, jitter=0.02)) == pytest.approx(100, rel=0.03)


def test_a_call_at_100_with_sixteenths_is_not_read_at_200():
    """The band 60..180: the sixteenths of a 2/4 tune at 100 would be eighths at 200 (the prior of
    60..140 before issue 13 read it so)."""
    for seed in range(3):
        assert tracked(played(SIXTEENTHS_2_4, 100, seed)) == pytest.approx(100, rel=0.03)


@pytest.mark.parametrize("bpm", [60, 80, 100, 120, 150])
def test_a_jig_is_read_at_its_dotted_quarter_or_its_quarter(bpm):
    """6/8 at `bpm` dotted quarters: right is `bpm` (eighths as triplets) or 1.5 x bpm (eighths as
    eighths), the rule of scripts/eval_reading.py. (At 180 the quarter, 270, is past the band and
    the reading 135 is neither: a known miss.)"""
    for seed in range(3):
        read = tracked(played(JIG, bpm, seed, jitter=0.005))
        assert reading.tempo_reading(read, bpm, 1.5 * bpm) == "right", (seed, read)


def test_quarters_and_halves_fast_are_eighths_and_quarters_slow_unless_the_last_phrase_says():
    """The octave the onsets cannot tell (tempo.py's docstring): a song of quarters and halves at
    150 is the same onsets as eighths and quarters at 75, the commoner values; the tempo of the
    phrase before (the engine passes it) settles it."""
    onsets = played(SONG, 150, seed=0)
    assert tracked(onsets) == pytest.approx(75, rel=0.03)
    assert tracked(onsets, previous_bpm=150) == pytest.approx(150, rel=0.03)


# a folk opening in G major that starts on its tonic and then dwells on the dominant's chord (D F# A)
ON_THE_DOMINANT = [(67, 1), (71, .5), (74, .5), (74, 1), (78, .5), (76, .5), (74, 1), (69, 1), (71, .5), (69, .5),
                   (66, .5), (69, .5), (74, 2)]


@pytest.mark.parametrize("shift", [0, -2, 3])
def test_an_opening_on_the_dominant_is_read_in_the_key_of_its_first_note(shift):
    notes = melody([(p + shift, d) for p, d in ON_THE_DOMINANT])
    key = KeyTracker().observe(notes)
    assert (key.tonic_pc, key.mode) == ((7 + shift) % 12, "major")
    # the correlation alone hears the fifth above: what the first note adds
    assert KeyTracker(first_note=False).observe(notes).tonic_pc == (2 + shift) % 12


@pytest.mark.parametrize("rows, name", [
    ([(64, 1), (67, .5), (71, .5), (71, 1), (69, .5), (67, .5), (66, 1), (62, 1), (64, 2)], "E minor"),
    ([(69, 1), (72, 2), (74, 1), (76, 1.5), (77, .5), (76, 1), (74, 2), (71, 1), (67, 1.5), (69, .5), (71, 1),
      (72, 2), (69, 1), (69, 1.5), (68, .5), (69, 1), (71, 2), (68, 1), (64, 2)], "A minor"),  # Greensleeves
    ([(62, 1), (65, .5), (69, .5), (69, 1), (67, .5), (65, .5), (64, 1), (60, 1), (62, 2)], "D minor"),
])
def test_minor_calls_are_read_in_their_minor_key(rows, name):
    assert KeyTracker().observe(melody(rows)).name == name


def test_the_readings_rules():
    """Right: the beat's tempo or the notated quarter's (6/8 at 100: 100 or 150); double / half of
    either; other otherwise. Beats: the denominator's note, dotted in compound meters."""
    rule = reading.tempo_reading
    assert rule(100, 100, 100) == rule(150, 100, 150) == rule(103, 100, 150) == "right"
    assert rule(200, 100, 100) == rule(300, 100, 150) == "double"
    assert rule(50, 100, 100) == rule(75, 100, 150) == "half"
    assert rule(133, 100, 100) == rule(120, 100, 150) == "other"
    assert [reading.beat_quarters(m) for m in ((2, 4), (3, 4), (6, 8), (3, 8), (4, 2), (6, 4), (12, 8))] == \
        [1, 1, 1.5, 0.5, 2, 3, 1.5]
    assert reading.family((6, 8)).startswith("compound") and reading.family((2, 4)).startswith("duple")


def test_a_call_is_read_through_the_responder_onset_by_onset():
    """eval_reading's path: a fresh Responder hears every onset (timed), the key at the phrase end."""
    rows = [(67, .5), (71, .25), (74, .25), (74, .5), (78, .5), (76, .25), (74, .25), (72, .25), (71, .25),
            (69, 1), (71, .5), (72, .25), (74, .25), (76, .5), (74, .5), (71, .5), (67, .5)]
    notes, onset = [], 0.0
    for pitch, beats in rows:
        notes.append(Note(pitch, onset, beats))
        onset += beats
    call = Melody(tuple(notes), 100.0, (2, 4), "G major")
    tempo, key, costs, key_cost = reading.read_call(call, 100.0)
    assert tempo.bpm == pytest.approx(100, rel=0.02)
    assert key.name == "G major"
    assert len(costs) == len(rows) and all(c > 0 for c in costs) and key_cost > 0
    assert reading.running(call) is False
    assert reading.running(Melody(tuple(Note(60, i * .5, .5) for i in range(9)), 100.0, (2, 4))) is True
