import numpy as np
import pytest

from liveimpro.errors import UserError
from liveimpro.melody import Note
from liveimpro.music.keys import (
    SCALES,
    KeyEstimate,
    KeyTracker,
    estimate_key,
    parse_scale,
    pitch_class_histogram,
    scale_pitch_classes,
)


def melody(rows):
    """(pitch, beats) rows played one after the other."""
    notes, onset = [], 0.0
    for pitch, beats in rows:
        notes.append(Note(pitch, onset, beats))
        onset += beats
    return notes


# opening phrases of well-known tunes, written by hand: name -> (key, (pitch, beats) rows)
TUNES = {
    "twinkle twinkle": (("D", "major"), [(62, 1), (62, 1), (69, 1), (69, 1), (71, 1), (71, 1), (69, 2),
                                         (67, 1), (67, 1), (66, 1), (66, 1), (64, 1), (64, 1), (62, 2)]),
    "ode to joy": (("G", "major"), [(71, 1), (71, 1), (72, 1), (74, 1), (74, 1), (72, 1), (71, 1), (69, 1),
                                    (67, 1), (67, 1), (69, 1), (71, 1), (71, 1.5), (69, .5), (69, 2)]),
    "greensleeves": (("A", "minor"), [(69, 1), (72, 2), (74, 1), (76, 1.5), (77, .5), (76, 1), (74, 2), (71, 1),
                                      (67, 1.5), (69, .5), (71, 1), (72, 2), (69, 1), (69, 1.5), (68, .5), (69, 1),
                                      (71, 2), (68, 1), (64, 2)]),
    "frere jacques": (("F", "major"), [(65, 1), (67, 1), (69, 1), (65, 1)] * 2 + [(69, 1), (70, 1), (72, 2)] * 2),
    "god rest ye": (("E", "minor"), [(64, 1), (64, 1), (71, 1), (71, 1), (69, 1), (67, 1), (66, 1), (64, 1),
                                     (62, 1), (64, 1), (66, 1), (67, 1), (69, 1), (71, 2)]),
    "amazing grace": (("G", "major"), [(62, 1), (67, 2), (71, .5), (67, .5), (71, 2), (69, 1), (67, 2), (64, 1),
                                       (62, 2)]),
    "happy birthday": (("Bb", "major"), [(65, .75), (65, .25), (67, 1), (65, 1), (70, 1), (69, 2),
                                         (65, .75), (65, .25), (67, 1), (65, 1), (72, 1), (70, 2),
                                         (65, .75), (65, .25), (77, 1), (74, 1), (70, 1), (69, 1), (67, 2),
                                         (75, .75), (75, .25), (74, 1), (70, 1), (72, 1), (70, 2)]),
}


@pytest.mark.parametrize("name", list(TUNES))
def test_opening_phrases_of_known_tunes(name):
    key, rows = TUNES[name]
    estimate = estimate_key(pitch_class_histogram(melody(rows)))
    assert estimate.pair() == key
    assert estimate.confidence > 0.05


def test_c_major_scale():
    estimate = estimate_key(pitch_class_histogram(melody([(p, 1) for p in (60, 62, 64, 65, 67, 69, 71, 72)])))
    assert estimate.name == "C major" and estimate.tonic_pc == 0


@pytest.mark.parametrize("pitches", [(69, 71, 72, 74, 76, 77, 80, 81), (81, 80, 77, 76, 74, 72, 71, 69)])
def test_a_harmonic_minor(pitches):
    estimate = estimate_key(pitch_class_histogram(melody([(p, 1) for p in pitches])))
    assert estimate.pair() == ("A", "minor")


@pytest.mark.parametrize("shift", range(12))
def test_every_transposition_of_a_tune_is_found(shift):
    rows = [(p + shift, d) for p, d in TUNES["twinkle twinkle"][1]]
    estimate = estimate_key(pitch_class_histogram(melody(rows)))
    assert estimate.tonic_pc == (2 + shift) % 12 and estimate.mode == "major"


def test_both_profiles_are_usable():
    histogram = pitch_class_histogram(melody(TUNES["god rest ye"][1]))
    assert estimate_key(histogram, profile="krumhansl").name == "E minor"
    assert estimate_key(histogram, profile="temperley").name == "E minor"


def test_durations_weigh_the_histogram_within_limits():
    histogram = pitch_class_histogram([Note(60, 0, 0.05), Note(62, 1, 1.0), Note(64, 2, 16.0), Note(72, 3, 1.0)])
    assert histogram[0] == pytest.approx(1.25) and histogram[2] == 1.0 and histogram[4] == 2.0


def test_nothing_to_go_on_gives_no_key():
    assert estimate_key(np.zeros(12)) is None
    assert estimate_key(pitch_class_histogram(melody([(60, 1), (72, 2)]))) is None  # one pitch class
    assert estimate_key(np.ones(12)) is None


def test_the_tracker_remembers_the_key_across_phrases():
    happy = TUNES["happy birthday"][1]
    tracker = KeyTracker()
    assert tracker.observe(melody(happy[:12])).name == "F major"  # the first half dwells on the dominant
    assert tracker.observe(melody(happy[12:])).name == "Bb major"
    ambiguous = melody([(65, 1), (67, 1), (69, 1), (72, 1), (70, 1)])  # F G A C Bb: F major or Bb major
    assert tracker.observe(ambiguous).name == "Bb major"


def test_the_tracker_follows_a_modulation_and_forgets():
    tracker = KeyTracker(decay=0.7)
    for _ in range(4):
        assert tracker.observe(melody(TUNES["twinkle twinkle"][1])).name == "D major"
    names = [tracker.observe(melody(TUNES["god rest ye"][1])).name for _ in range(4)]
    assert names[-1] == "E minor" and names.index("E minor") <= 2
    forgetful = KeyTracker(decay=0.0)
    forgetful.observe(melody(TUNES["twinkle twinkle"][1]))
    assert forgetful.observe(melody(TUNES["greensleeves"][1])).name == "A minor"
    tracker.reset()
    assert tracker.observe([]) is None


@pytest.mark.parametrize("text, expected", [
    ("C major", {0, 2, 4, 5, 7, 9, 11}),
    ("a minor", {9, 11, 0, 2, 4, 5, 7}),
    ("A harmonic minor", {9, 11, 0, 2, 4, 5, 8}),
    ("A melodic minor", {9, 11, 0, 2, 4, 6, 8}),
    ("D dorian", {2, 4, 5, 7, 9, 11, 0}),
    ("E phrygian", {4, 5, 7, 9, 11, 0, 2}),
    ("F lydian", {5, 7, 9, 11, 0, 2, 4}),
    ("G mixolydian", {7, 9, 11, 0, 2, 4, 5}),
    ("B locrian", {11, 0, 2, 4, 5, 7, 9}),
    ("Bb", {10, 0, 2, 3, 5, 7, 9}),
    ("F# major pentatonic", {6, 8, 10, 1, 3}),
    ("Eb minor pentatonic", {3, 6, 8, 10, 1}),
    ("C blues", {0, 3, 5, 6, 7, 10}),
    ("Cb major", {11, 1, 3, 4, 6, 8, 10}),
    ("g chromatic", set(range(12))),
])
def test_scale_pitch_classes(text, expected):
    assert scale_pitch_classes(text) == frozenset(expected)


def test_scale_pitch_classes_takes_pairs_and_estimates():
    assert scale_pitch_classes(("G", "major")) == scale_pitch_classes("G major")
    estimate = KeyEstimate("E", "minor", 0.2, 0.8, 4)
    assert scale_pitch_classes(estimate) == scale_pitch_classes("E natural minor") == scale_pitch_classes("E aeolian")


def test_every_documented_scale_parses():
    for name in SCALES:
        assert parse_scale(f"C {name}") == (0, name)


@pytest.mark.parametrize("text, message", [
    ("H major", "unknown tonic 'h'; expected a letter A..G with an optional # or b"),
    ("C# bebop", "unknown scale 'bebop'; known: major, ionian, minor,"),
    ("", "empty scale; expected e.g. 'G major' or 'A minor pentatonic'"),
    ("Cx major", "unknown tonic 'cx'"),
])
def test_bad_scale_names_say_what_is_known(text, message):
    with pytest.raises(UserError) as caught:
        scale_pitch_classes(text)
    assert str(caught.value).startswith(message)
