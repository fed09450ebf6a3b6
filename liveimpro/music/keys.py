"""The key of what the player plays, and the pitch classes of named scales.

Key finding is Krumhansl–Schmuckler: correlate the phrase's pitch-class histogram
with a key profile rotated to each of the 24 major and minor keys and take the best.
The histogram is duration weighted, each note counting for its length in beats
clipped to 0.25..2 (a short grace note still counts a little, a held last note does
not drown the phrase). Profiles: "temperley" (the default; Kostka–Payne corpus
frequencies as given by Temperley 2007) and "krumhansl" (Krumhansl & Kessler 1982,
probe-tone ratings). Measured on the opening 16 notes of 1118 Essen tunes (ballad10,
erk10, altdeu10, han1; tunes whose last note is the tonic of the key signature's major
or relative minor, which is taken as the truth): temperley 65.5 % right, krumhansl
50.6 % (32 notes: 70.6 % / 55.1 %). Folk openings often dwell on the dominant, so a
short phrase alone is often a fifth off; the running histogram below helps.

The phrase's first note (`estimate_key(..., first=pitch)`, what `KeyTracker` passes): a folk
tune starts on its tonic or fifth (major) or its third, tonic or sixth, as Essen labels minor
(FIRST_NOTE: how often, on the 7,343 training tunes of the prepared Essen dataset, the first note
lies so far above the tune's tonic; the key as the answer benchmark takes it,
`liveimpro.data.answer_calls.tune_key`: the signature's scale, the tune's final note as tonic;
add-3 smoothing). Each key's score is then CORRELATION_WEIGHT x its correlation + FIRST_WEIGHT x
log P(first note | key) + log P(mode). The weights were chosen on half of the validation tunes
(scripts/eval_reading.py --half tune: a grid of 2..12 and 0..1, the last note as evidence too,
0..1, which added nothing on calls cut at a bar line), and P(minor) = 0.3 rather than Essen's 0.18
(1-2 points fewer there) so that the tracker still follows a modulation into a minor key within
three phrases. Profiles counted on Essen itself instead of Temperley's read 62 % of those calls
right but took Greensleeves for A major and God rest ye for E major, so they are not used. On the other
half's calls of 2 and 4 bars the key is the tune's in 64.2 % (correlation alone: 57.1 %), the same
or the relative key in 79.2 % (74.6 %). A quarter of those tunes end on a final that is neither
the signature's major tonic nor its relative minor (E under no sharps: "E minor"), which the
first bars of a tune cannot tell.

`KeyEstimate.confidence` is the margin between the best and the second-best key's
score over CORRELATION_WEIGHT (without a first note: their correlations): 0 is a tie,
above ~0.1 is a clear choice; `correlation` is the best key's own correlation (-1..1).

`KeyTracker` keeps a running histogram across the session: each phrase's histogram is
added to the previous total times `decay` (default 0.7 per phrase), so the key the
player has been in is the prior for a short or ambiguous phrase, and a modulation
takes over after two or three phrases. On the same Essen tunes cut into 8-note phrases
(estimate after the third to sixth phrase): decay 0 (no memory) 49 %, 0.5 66 %,
0.7 69 %, 0.9 70 %.

Scales for the `--scale` lock (`scale_pitch_classes`), written "TONIC [SCALE]" with a
tonic letter A..G plus an optional # or b, case-insensitive; no scale name = major:

    major, ionian            0 2 4 5 7 9 11
    minor, natural minor, aeolian  0 2 3 5 7 8 10
    harmonic minor           0 2 3 5 7 8 11
    melodic minor            0 2 3 5 7 9 11   (the ascending form)
    dorian                   0 2 3 5 7 9 10
    phrygian                 0 1 3 5 7 8 10
    lydian                   0 2 4 6 7 9 11
    mixolydian               0 2 4 5 7 9 10
    locrian                  0 1 3 5 6 8 10
    major pentatonic, pentatonic  0 2 4 7 9
    minor pentatonic         0 3 5 7 10
    blues                    0 3 5 6 7 10
    chromatic                all twelve
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..errors import UserError
from ..melody import Note

PROFILES = {
    "krumhansl": ((6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
                  (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)),
    "temperley": ((0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
                  (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330)),
}
# P(first note - tonic | mode) in Essen (module docstring), major then minor
FIRST_NOTE = ((0.3344, 0.0005, 0.0206, 0.0114, 0.0778, 0.0280, 0.0005, 0.4916, 0.0008, 0.0240, 0.0076, 0.0028),
              (0.1748, 0.0045, 0.0172, 0.3816, 0.0022, 0.0866, 0.0022, 0.0590, 0.2084, 0.0022, 0.0583, 0.0030))
MINOR_SHARE = 0.3  # P(minor): Essen labels 18 % minor; 0.3 lets a modulation into minor through in 3 phrases
CORRELATION_WEIGHT, FIRST_WEIGHT = 6.0, 0.25
MODES = ("major", "minor")
# the usual spelling of each tonic: flats for the flat major keys, sharps for the sharp minor keys
TONIC_NAMES = {"major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
               "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "ionian": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10), "natural minor": (0, 2, 3, 5, 7, 8, 10), "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11), "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major pentatonic": (0, 2, 4, 7, 9), "pentatonic": (0, 2, 4, 7, 9), "minor pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10), "chromatic": tuple(range(12)),
}
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
MIN_WEIGHT, MAX_WEIGHT = 0.25, 2.0  # beats: the clip on each note's weight in the histogram


@dataclass(frozen=True, slots=True)
class KeyEstimate:
    tonic: str  # "G", "Eb", "F#"
    mode: str  # "major" | "minor"
    confidence: float  # best minus second-best correlation: 0 = tie
    correlation: float  # the best key's correlation with its profile, -1..1
    tonic_pc: int  # pitch class of the tonic, 0 = C

    @property
    def name(self) -> str:
        """"G major": the form Melody.key uses."""
        return f"{self.tonic} {self.mode}"

    def pair(self) -> tuple[str, str]:
        return self.tonic, self.mode


def pitch_class_histogram(notes: Iterable[Note]) -> np.ndarray:
    """[12] duration-weighted pitch-class counts; durations in beats, clipped to 0.25..2."""
    histogram = np.zeros(12)
    for note in notes:
        histogram[note.pitch % 12] += min(MAX_WEIGHT, max(MIN_WEIGHT, note.duration))
    return histogram


@functools.lru_cache(maxsize=None)
def _standardised_keys(profile: str) -> np.ndarray:
    """[24, 12] each key's profile rotated to its tonic and standardised (mean 0, sd 1), so one
    matrix product gives the 24 Pearson correlations (one call costs microseconds: it runs
    on the engine's phrase-end path)."""
    rows = [np.roll(weights, tonic) for weights in PROFILES[profile] for tonic in range(12)]
    keys = np.array(rows, dtype=float)
    keys = (keys - keys.mean(axis=1, keepdims=True)) / keys.std(axis=1, keepdims=True)
    keys.flags.writeable = False
    return keys


@functools.lru_cache(maxsize=None)
def _first_note_scores() -> np.ndarray:
    """[24, 12] FIRST_WEIGHT x log P(first note's pitch class | key) + log P(the key's mode)."""
    mode_share = (1 - MINOR_SHARE, MINOR_SHARE)
    rows = [FIRST_WEIGHT * np.log(np.roll(np.array(p) / sum(p), tonic)) + math.log(mode_share[m] / 12)
            for m, p in enumerate(FIRST_NOTE) for tonic in range(12)]
    scores = np.array(rows)
    scores.flags.writeable = False
    return scores


def estimate_key(histogram: np.ndarray, profile: str = "temperley", first: int | None = None) -> KeyEstimate | None:
    """The best of the 24 keys for a pitch-class histogram, and the phrase's first pitch when given
    (module docstring); None when the histogram is empty or flat (one pitch class alone, or all
    twelve equally, says nothing about a key)."""
    histogram = np.asarray(histogram, dtype=float)
    if histogram.shape != (12,) or not np.all(np.isfinite(histogram)) or np.ptp(histogram) == 0:
        return None
    if np.count_nonzero(histogram) < 2:
        return None
    correlations = _standardised_keys(profile) @ ((histogram - histogram.mean()) / histogram.std()) / 12
    scores = correlations if first is None else \
        correlations + _first_note_scores()[:, first % 12] / CORRELATION_WEIGHT
    order = np.argsort(-scores, kind="stable")  # ties: major before minor, lower tonic first
    margin = float(scores[order[0]] - scores[order[1]])
    mode, tonic = MODES[order[0] // 12], int(order[0] % 12)
    return KeyEstimate(TONIC_NAMES[mode][tonic], mode, margin, float(correlations[order[0]]), tonic)


@dataclass
class KeyTracker:
    decay: float = 0.7  # weight of the past per phrase: 0 forgets at once, 1 never forgets
    profile: str = "temperley"
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(12))

    first_note: bool = True  # the phrase's first note as evidence of the tonic (module docstring)

    def observe(self, notes: Iterable[Note]) -> KeyEstimate | None:
        """Add a phrase (notes in beats, in onset order) and return the key of the session so far."""
        notes = list(notes)
        self.histogram = self.decay * self.histogram + pitch_class_histogram(notes)
        first = notes[0].pitch if notes and self.first_note else None
        return estimate_key(self.histogram, self.profile, first)

    def reset(self) -> None:
        self.histogram = np.zeros(12)


def parse_scale(text: str) -> tuple[int, str]:
    """'A harmonic minor' -> (9, 'harmonic minor'); a tonic alone means major."""
    words = text.strip().lower().split()
    if not words:
        raise UserError("empty scale; expected e.g. 'G major' or 'A minor pentatonic'")
    tonic, name = words[0], " ".join(words[1:]) or "major"
    if not (1 <= len(tonic) <= 2 and tonic[0] in _LETTERS and tonic[1:] in ("", "#", "b")):
        raise UserError(f"unknown tonic '{words[0]}'; expected a letter A..G with an optional # or b")
    if name not in SCALES:
        raise UserError(f"unknown scale '{name}'; known: {', '.join(SCALES)}")
    return (_LETTERS[tonic[0]] + {"": 0, "#": 1, "b": -1}[tonic[1:]]) % 12, name


def scale_pitch_classes(key: str | tuple[str, str] | KeyEstimate) -> frozenset[int]:
    """Pitch classes (0 = C) of a scale: "D dorian", ("G", "major") or a KeyEstimate."""
    if isinstance(key, KeyEstimate):
        key = key.pair()
    if isinstance(key, tuple):
        key = " ".join(key)
    tonic, name = parse_scale(key)
    return frozenset((tonic + step) % 12 for step in SCALES[name])


__all__ = ["KeyEstimate", "KeyTracker", "estimate_key", "pitch_class_histogram", "parse_scale",
           "scale_pitch_classes", "SCALES", "PROFILES"]
