"""The melody VAE's representation: a melody as fixed-length windows of 16th-note steps.

Steps (as MusicVAE's melody models): 4 steps per beat (a 16th-note grid); each step is one class
    REST = 0     nothing sounds
    HOLD = 1     the note sounding in the previous step goes on (after REST or at the start: a rest)
    2 + p - MIN_PITCH   a note of pitch p (MIN_PITCH..MAX_PITCH) starts
Only a monophonic line fits (`Melody.monophonic()` reduces the input first) and velocity is not kept.
Triplets are lost: an onset or end goes to the nearest 16th (halfway: the later one), so a triplet-eighth
run 0, 1/3, 2/3 becomes steps 0, 1, 3; of two notes that land on one step the later one is kept.
A note is at least one step long and ends where the next one starts.

Units and meters: the decoder works bar by bar, so a window is a whole number of *units*: 16 steps (four
beats) for duple meters, 12 steps (three beats, or two dotted quarters) for triple ones. A bar of
2/4, 4/4, 2/2, 4/2, 1/4 ... fills or divides 16 steps and is duple; 3/4, 6/8, 3/8, 12/8, 3/2, 6/4 ...
fill or divide 12 steps (a 12/8 bar is two units) and are triple. 4/4 and 3/4 are thus kept apart
by the representation itself: one model, windows of 16- or 12-step units, and the decoder told which.
A meter that fits neither (5/4, 7/8, 9/8 ...) is left out of training; as input it is laid out in
16-step units that ignore its bar lines. Windows hold 2 or 4 units (`SHAPES`).

Pitch: a melody is moved by whole octaves so that its mean pitch is nearest CENTRE_PITCH (the register
the model was trained in); a note still outside MIN_PITCH..MAX_PITCH is folded in by octaves. Decoded
melodies are moved back by the same octaves.

Cut/pad rule (`layout`): onset 0 is a bar line. A melody's length is the whole bars that hold every
onset (and every end but the last 16th, so a note tied over the bar line adds no bar); `bars` given by
the caller overrides it. Those bars are laid into units; from the start, 4 units make a window, and
what is left over goes into one more window of 2 units (1 or 2 left) or 4 units (3 left), padded with
rests. Decoding cuts the result back to the melody's length, so the input's length in bars is kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..melody import Melody, Note

STEPS_PER_BEAT = 4
REST, HOLD = 0, 1
MIN_PITCH, MAX_PITCH = 40, 91  # Essen melodies lie in 48..85; transposition in training widens that
CENTRE_PITCH = 68  # about the mean pitch of the Essen tunes
NUM_CLASSES = 2 + MAX_PITCH - MIN_PITCH + 1
UNIT_STEPS = (16, 12)  # duple, triple
SHAPES = ((16, 2), (16, 4), (12, 2), (12, 4))  # (steps per unit, units per window); a model's shape id = index
MAX_WINDOW_UNITS = max(units for _, units in SHAPES)


def pitch_class(pitch: int) -> int:
    """The step class of a note-on of `pitch` (MIN_PITCH..MAX_PITCH)."""
    return 2 + pitch - MIN_PITCH


def shape_id(unit_steps: int, units: int) -> int:
    return SHAPES.index((unit_steps, units))


def bar_steps(time_signature) -> float:
    num, den = time_signature
    return num * 4 * STEPS_PER_BEAT / den


def meter_unit(time_signature) -> int | None:
    """16 (duple) or 12 (triple) steps per unit for a meter whose bar fills or divides one; else None."""
    steps = bar_steps(time_signature)
    if steps != int(steps):
        return None
    for unit in UNIT_STEPS:
        if int(steps) % unit == 0 or unit % int(steps) == 0:
            return unit
    return None


def _step(beats: float) -> int:
    return math.floor(beats * STEPS_PER_BEAT + 0.5)


def _fold(pitch: int, low: int = MIN_PITCH, high: int = MAX_PITCH) -> int:
    """`pitch` moved by whole octaves into low..high (a range of at least an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def melody_to_steps(melody: Melody, length: int, shift: int = 0) -> np.ndarray:
    """Steps [length] (int64) of `melody` from onset 0, pitches moved by `shift` semitones (then folded)."""
    steps = np.full(length, REST, dtype=np.int64)
    notes = [(_step(n.onset), max(_step(n.end), _step(n.onset) + 1), _fold(n.pitch + shift))
             for n in melody.monophonic().notes]
    kept = []
    for start, end, pitch in notes:
        if start >= length:
            break
        if kept and kept[-1][0] == start:
            kept.pop()  # the later of two notes on one step: a grace note gives way to its main note
        kept.append([start, end, pitch])
    for (start, end, pitch), following in zip(kept, kept[1:] + [None]):
        end = min(end, length, following[0] if following else length)
        steps[start] = pitch_class(pitch)
        steps[start + 1:end] = HOLD
    return steps


def steps_to_notes(steps, offset: float = 0.0, shift: int = 0, velocity: int = 80) -> list[Note]:
    """Notes of a step sequence; onsets from `offset` beats, pitches moved by `shift` semitones."""
    notes, start, pitch = [], None, None

    def close(at: int):
        if start is not None:
            notes.append(Note(pitch, offset + start / STEPS_PER_BEAT, (at - start) / STEPS_PER_BEAT, velocity))

    for i, value in enumerate(int(v) for v in steps):
        if value >= 2:
            close(i)
            start, pitch = i, _fold(value - 2 + MIN_PITCH + shift, 0, 127)
        elif value == REST:
            close(i)
            start = None
    close(len(steps))
    return notes


def length_in_bars(melody: Melody) -> int:
    """The whole bars holding every onset and every end but its last 16th (at least 1); onset 0 is a bar line."""
    bar = bar_steps(melody.time_signature)
    if not melody.notes:
        return 1
    last_onset = max(_step(n.onset) for n in melody.notes)
    last_end = max(_step(n.end) for n in melody.notes)
    return max(1, math.floor(last_onset / bar) + 1, math.ceil((last_end - 1) / bar))


def window_plan(units: int) -> tuple[int, ...]:
    """Units per window for a melody of `units` units (the cut/pad rule in the module docstring)."""
    full, left = divmod(max(1, units), MAX_WINDOW_UNITS)
    return (MAX_WINDOW_UNITS,) * full + (() if left == 0 else (2,) if left <= 2 else (4,))


def octave_shift(melody: Melody) -> int:
    """Semitones (a multiple of 12) that move the melody's mean pitch nearest CENTRE_PITCH."""
    if not melody.notes:
        return 0
    mean = sum(n.pitch for n in melody.notes) / len(melody.notes)
    return 12 * round((CENTRE_PITCH - mean) / 12)


@dataclass(frozen=True)
class Layout:
    """How one melody lies in windows: what `to_windows` cut and `from_windows` puts back together."""
    unit_steps: int  # 16 or 12
    windows: tuple[int, ...]  # units per window
    length: float  # beats kept when decoding: the melody's length in whole bars
    bars: int  # that length in the melody's bars
    shift: int  # semitones the melody was moved by (whole octaves)
    meter_fits: bool  # False: bar lines ignored (a meter that is neither duple nor triple)

    @property
    def shapes(self) -> list[int]:
        return [shape_id(self.unit_steps, units) for units in self.windows]

    @property
    def steps(self) -> int:
        return sum(self.windows) * self.unit_steps

    def describe(self) -> str | None:
        """A sentence on padding/splitting, or None when the melody fills its windows exactly."""
        notes = []
        if not self.meter_fits:
            notes.append(f"its meter is neither duple nor triple, so it is read in {self.unit_steps // 4}-beat "
                         f"units across its bar lines")
        padded = self.steps / STEPS_PER_BEAT - self.length
        if padded > 1e-9:
            notes.append(f"padded with {padded:g} beats of rest to fill {self._windows_text()}; "
                         f"the result is cut back to {self.bars} bar{'s' * (self.bars != 1)}")
        elif len(self.windows) > 1:
            notes.append(f"split into {self._windows_text()}")
        return "; ".join(notes) or None

    def _windows_text(self) -> str:
        beats = self.unit_steps // STEPS_PER_BEAT
        sizes = " + ".join(f"{units * beats}" for units in self.windows)
        return f"window{'s' * (len(self.windows) > 1)} of {sizes} beats"


def layout(melody: Melody, bars: int | None = None, units: int | None = None) -> Layout:
    """The layout of `melody`: its length in bars, or `bars` bars, or `units` units (to lay a melody out
    beside another)."""
    unit = meter_unit(melody.time_signature)
    unit_steps, bar = unit or UNIT_STEPS[0], bar_steps(melody.time_signature)
    if units is None:
        bars = length_in_bars(melody) if bars is None else bars
        if bars < 1:
            raise ValueError(f"bars must be >= 1, got {bars!r}")
        length_steps = bars * bar
        units = math.ceil(length_steps / unit_steps - 1e-9)
    else:
        if units < 1:
            raise ValueError(f"units must be >= 1, got {units!r}")
        length_steps = units * unit_steps
        bars = math.ceil(length_steps / bar - 1e-9)
    return Layout(unit_steps, window_plan(units), length_steps / STEPS_PER_BEAT, bars, octave_shift(melody),
                  unit is not None)


def to_windows(melody: Melody, lay: Layout) -> list[np.ndarray]:
    """One step array per window of the layout (notes after its length are cut, the rest padded)."""
    length = round(lay.length * STEPS_PER_BEAT)
    steps = np.full(lay.steps, REST, dtype=np.int64)
    steps[:length] = melody_to_steps(melody, length, lay.shift)
    bounds = np.cumsum([0, *lay.windows]) * lay.unit_steps
    return [steps[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def from_windows(windows, lay: Layout, template: Melody, velocity: int = 80) -> Melody:
    """The melody of decoded windows, cut back to the layout's length; tempo, meter and key of `template`."""
    steps = np.concatenate([np.asarray(w, dtype=np.int64) for w in windows])[:round(lay.length * STEPS_PER_BEAT)]
    return template.with_notes(steps_to_notes(steps, shift=-lay.shift, velocity=velocity))


def bar_phase(melody: Melody) -> float:
    """Where the bar lines fall (beats after 0, within one bar), for tunes that start with a pickup: the
    phase at which the notes starting there last longest. On 150 Essen tunes (118 with a pickup) this
    found music21's bar lines for 136; the phase of the tune's end found 48."""
    steps = bar_steps(melody.time_signature)
    if steps != int(steps) or not melody.notes:
        return 0.0
    weight = np.zeros(int(steps))
    for note in melody.notes:
        weight[_step(note.onset) % int(steps)] += note.duration
    return float(np.argmax(weight)) / STEPS_PER_BEAT


def training_windows(melody: Melody, units: int, min_sounding: float = 0.5) -> np.ndarray:
    """Every window of `units` units starting on a unit boundary (bar lines found by `bar_phase`), as
    int64 [N, units * unit_steps]; windows with less than `min_sounding` of their steps sounding are left
    out, and so are tunes whose meter fits no unit (empty array)."""
    unit = meter_unit(melody.time_signature)
    if unit is None or not melody.notes:
        return np.zeros((0, units * (unit or 16)), dtype=np.int64)
    bar = bar_steps(melody.time_signature) / STEPS_PER_BEAT
    lead = (bar - bar_phase(melody)) % bar  # rest put before a pickup so that bar lines fall on units
    total = _step(melody.end + lead)
    n_units = math.ceil(total / unit)
    steps = melody_to_steps(melody.shift(lead), n_units * unit)
    size = units * unit
    if n_units < units:
        return np.zeros((0, size), dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(steps, size)[::unit]
    keep = (windows != REST).mean(axis=1) >= min_sounding
    return np.ascontiguousarray(windows[keep])


def shape_windows(melodies) -> list[np.ndarray]:
    """For each shape of SHAPES, the distinct `training_windows` of the melodies, int64 [N, steps]."""
    found = {shape: [] for shape in SHAPES}
    for melody in melodies:
        unit = meter_unit(melody.time_signature)
        for units in sorted({units for _, units in SHAPES}):
            if (unit, units) in found:
                found[unit, units].append(training_windows(melody, units))
    return [np.unique(np.concatenate(found[s]), axis=0) if found[s] else np.zeros((0, s[0] * s[1]), np.int64)
            for s in SHAPES]


__all__ = ["STEPS_PER_BEAT", "REST", "HOLD", "MIN_PITCH", "MAX_PITCH", "NUM_CLASSES", "SHAPES", "Layout",
           "layout", "to_windows", "from_windows", "melody_to_steps", "steps_to_notes", "training_windows",
           "shape_windows", "meter_unit", "window_plan", "length_in_bars", "shape_id", "pitch_class", "bar_phase"]
