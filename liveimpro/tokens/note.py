"""Note tokens: each event as (absolute pitch or chord, ioi, duration), so polyphonic input can be answered.

Notes whose onsets round to the same grid point form one event. A single note
has the pitch part "60". Notes of two or more pitch classes are one chord
token "52:0,4,7": the bass (lowest) pitch, then the chord's pitch classes in
normal order. Decoding stacks the pitch classes upward from the bass within an
octave (each at the lowest pitch above the bass that has it): that is the true
voicing when the chord spans less than an octave without doubled pitch
classes; otherwise the voicing, and with it possibly the top note, is lost.
Notes of a single pitch class (octaves) are one note, the bass. A chord lasts
as long as its longest note. Overlapping notes that start at different onsets
stay separate events with their own durations, so overlaps survive.

Normal order (Rahn): of the rotations of the sorted pitch classes, the one
with the smallest interval from first to last; ties are broken by the
smallest interval from the first to the second-to-last, then to the
third-to-last, and so on (Forte instead compares first to second, first to
third, ...: the two differ for 5-20, 6-Z29, 6-31, 7-20 and 8-26). Sets that
still tie (symmetric ones like the augmented triad) start on the lowest pitch
class.

Nearest-mapping pitch features: (top pitch, bass pitch, number of notes), in
semitones and notes, so a chord is mapped to the nearest chord (or note) of
the vocabulary.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..melody import MAX_PITCH
from .base import Tokenizer
from .event import Event
from .vocab import N_SPECIALS


def normal_order(pitch_classes: Iterable[int]) -> tuple[int, ...]:
    """The pitch classes (of any pitches) in normal order, Rahn's tie-break (module docstring)."""
    ordered = sorted({p % 12 for p in pitch_classes})
    rotations = [ordered[i:] + ordered[:i] for i in range(len(ordered))]

    def packing(rotation):  # first to last, first to second-to-last, ..., then the first pitch class
        return tuple((rotation[k] - rotation[0]) % 12 for k in range(len(rotation) - 1, 0, -1)), rotation[0]

    return tuple(min(rotations, key=packing)) if rotations else ()


def stack(bass: int, pitch_classes: Iterable[int]) -> tuple[int, ...]:
    """Each pitch class at the lowest pitch at or above `bass`: the close voicing over the bass."""
    return tuple(sorted({bass + (pc - bass) % 12 for pc in pitch_classes}))


class NoteTokenizer(Tokenizer):
    kind = "note"
    PITCH_FEATURES = ("top pitch semitones", "bass pitch semitones", "number of notes")

    def _reduce(self, melody):
        return melody.notes

    def _merge(self, group):
        return group

    def _pitch_part(self, prev: Event | None, event: Event) -> str:
        bass = event.pitches[0]
        classes = normal_order(event.pitches)
        return str(bass) if len(classes) == 1 else f"{bass}:{','.join(map(str, classes))}"

    def _parse(self, part: str) -> tuple[int, ...]:
        """The pitches the part sounds (they do not depend on the previous event)."""
        bass_text, chord, classes_text = part.partition(":")
        try:
            bass = int(bass_text)
            classes = tuple(int(c) for c in classes_text.split(",")) if chord else (bass % 12,)
        except ValueError:
            bass, classes = -1, ()
        canonical = f"{bass}:{','.join(map(str, classes))}" if chord else str(bass)
        if part != canonical or not 0 <= bass <= MAX_PITCH or bass % 12 not in classes or (
                chord and (len(classes) < 2 or classes != normal_order(classes))):
            raise ValueError(f"a note pitch part is a pitch 0..127, or a bass pitch and the chord's pitch "
                             f"classes in normal order such as '52:0,4,7', got {part!r}")
        pitches = stack(bass, classes)
        if pitches[-1] > MAX_PITCH:
            raise ValueError(f"chord {part!r} would sound pitch {pitches[-1]}, outside 0..127")
        return pitches

    def _pitches(self, prev: Event | None, parsed: tuple[int, ...]) -> tuple[int, ...]:
        return parsed

    def _pitch_features(self, parsed: tuple[int, ...]) -> tuple[float, ...]:
        return float(parsed[-1]), float(parsed[0]), float(len(parsed))

    def _index(self) -> None:
        self._top = np.array([-1] * N_SPECIALS + [p[-1] for p in self._parsed[N_SPECIALS:]], dtype=np.int64)

    def _pitch_context(self, prev: Event | None):
        return None  # absolute pitches: the same after any event

    def _tops(self, context) -> np.ndarray:
        return self._top.copy()


__all__ = ["NoteTokenizer", "normal_order", "stack"]
