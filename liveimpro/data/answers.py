"""What an answer to a call is like, against what the human wrote next (scripts/eval_answers.py).

Each metric takes one answer (a Melody in the tune's beats; chords reduced to their top line) and the
CallPair it answers (liveimpro.data.answer_calls: the call, the human continuation, the bar grid, the
tune's key); the script takes means over tunes and seeds. Definitions:

- cell loop: a cell of 2..4 notes (pitches, not all one pitch) played 3+ times in a row;
- longest literal loop: the most notes in a stretch where every note (pitch and inter-onset interval,
  the last note's length for its IOI) equals the note p earlier, for one period p = 1..8, the first
  period counted; 0 when no group of notes is repeated at once;
- stuck pitch: 8 or more notes in a row on one pitch;
- ends on the tonic triad: the last note's pitch class is in the triad on the tune's tonic (TuneKey);
- on a bar line: the first note within ON_GRID beats of a bar line of the tune's grid (extended past
  the tune's end with the same bar); enters at the human's bar position: the first note's position in
  the bar within ON_GRID of that of the human continuation's first note; entry: beats from the bar line
  that ends the call to the first note;
- in key: share of the notes whose pitch class is in the tune's scale (plus the raised 7th in minor);
- range (semitones, highest - lowest), mean |interval| (semitones), length in notes and in beats
  (first onset to last end);
- call relatedness: share of the answer's 3-note interval n-grams (two successive intervals,
  transposition-free) that occur in the call;
- interval / IOI overlap with the human: histogram intersection (sum of the smaller share, 1 = same
  distribution, 0 = disjoint) of intervals (-12..12, larger ones clipped) and of IOIs (1/12-beat bins up
  to 4 beats) between the answer and the human continuation.

Baselines answer with the call's rhythm, moved on by whole bars to the first place at or after the
call's end where it falls in the same bar position as the call: the call repeated; the call moved up a
diatonic fifth (four steps of the tune's scale, an octave lower when it would lie more than a fourth
above the call); a random walk of one or two scale steps from the call's last pitch, in the call's range
widened by 4 semitones (as the engine's register); a Continuator-style Markov answer: a PPM
(liveimpro.lstm.ppm, order 4, escape C, interpolated) over absolute pitches trained on the call alone,
continuing it, sampling only the pitches the call has.
"""
from __future__ import annotations

import math

import numpy as np

from ..melody import Melody
from .answer_calls import CallPair

ON_GRID = 0.125  # beats: how near a bar line (or a bar position) counts as on it
MAX_LOOP_PERIOD = 8  # notes
STUCK_RUN = 8  # notes on one pitch in a row
INTERVAL_CLIP = 12  # semitones
IOI_BIN, IOI_CLIP = 1 / 12, 4.0  # beats


def line(melody: Melody) -> Melody:
    return melody if melody.is_monophonic() else melody.monophonic()


def pitches(melody: Melody) -> list[int]:
    return [n.pitch for n in melody.notes]


def intervals(melody: Melody) -> list[int]:
    p = pitches(melody)
    return [b - a for a, b in zip(p, p[1:])]


def iois(melody: Melody) -> list[float]:
    onsets = [n.onset for n in melody.notes]
    return [b - a for a, b in zip(onsets, onsets[1:])]


def has_cell_loop(melody: Melody, repeats: int = 3) -> bool:
    p = pitches(melody)
    for size in (2, 3, 4):
        for start in range(len(p) - repeats * size + 1):
            cell = p[start:start + size]
            if len(set(cell)) > 1 and all(p[start + k * size:start + (k + 1) * size] == cell for k in range(repeats)):
                return True
    return False


def longest_loop(melody: Melody) -> int:
    notes = melody.notes
    if not notes:
        return 0
    keys = [(n.pitch, round(ioi * 48)) for n, ioi in zip(notes, iois(melody) + [notes[-1].duration])]
    best = 0
    for period in range(1, MAX_LOOP_PERIOD + 1):
        run = 0
        for i in range(period, len(keys)):
            run = run + 1 if keys[i] == keys[i - period] else 0
            if run >= period:
                best = max(best, run + period)
    return best


def longest_same_pitch(melody: Melody) -> int:
    best = run = 0
    previous = None
    for pitch in pitches(melody):
        run = run + 1 if pitch == previous else 1
        best, previous = max(best, run), pitch
    return best


def ends_on_tonic_triad(melody: Melody, key) -> bool | None:
    return melody.notes[-1].pitch % 12 in key.triad if melody.notes else None


def in_key_share(melody: Melody, key) -> float | None:
    if not melody.notes:
        return None
    return sum(n.pitch % 12 in key.allowed for n in melody.notes) / len(melody.notes)


def interval_ngrams(melody: Melody, n: int = 3) -> list[tuple[int, ...]]:
    """Interval n-grams of n notes (n - 1 successive intervals)."""
    steps = intervals(melody)
    return [tuple(steps[i:i + n - 1]) for i in range(len(steps) - n + 2)]


def relatedness(answer: Melody, call: Melody, n: int = 3) -> float | None:
    """Share of the answer's n-note interval n-grams (with repeats) found in the call."""
    grams, known = interval_ngrams(answer, n), set(interval_ngrams(call, n))
    return sum(g in known for g in grams) / len(grams) if grams else None


def interval_histogram(melody: Melody) -> np.ndarray:
    counts = np.zeros(2 * INTERVAL_CLIP + 1)
    for step in intervals(melody):
        counts[max(-INTERVAL_CLIP, min(INTERVAL_CLIP, step)) + INTERVAL_CLIP] += 1
    return counts


def ioi_histogram(melody: Melody) -> np.ndarray:
    top = round(IOI_CLIP / IOI_BIN)
    counts = np.zeros(top + 1)
    for ioi in iois(melody):
        counts[max(1, min(top, round(ioi / IOI_BIN)))] += 1
    return counts


def overlap(a: np.ndarray, b: np.ndarray) -> float | None:
    """Histogram intersection of two count histograms (each normalised to 1); None if one is empty."""
    if a.sum() == 0 or b.sum() == 0:
        return None
    return float(np.minimum(a / a.sum(), b / b.sum()).sum())


def tempo_relation(ratio: float) -> str:
    """"equal", "double", "half" (within 7 %) or "other": the answer's tempo over the call's."""
    octaves = math.log2(ratio)
    for name, target in (("equal", 0), ("double", 1), ("half", -1)):
        if abs(octaves - target) < 0.1:
            return name
    return "other"


def key_relation(estimate, key) -> tuple[bool, bool]:
    """(same tonic and mode, same scale: the same or the relative key) of a KeyEstimate and a TuneKey."""
    if estimate is None:
        return False, False
    from ..music.keys import scale_pitch_classes

    return (estimate.tonic_pc == key.tonic_pc and estimate.mode == key.mode,
            scale_pitch_classes(estimate) == key.scale)


def measure(answer: Melody, pair: CallPair) -> dict:
    """Every metric of the module docstring for one answer (None where it does not apply)."""
    answer, human = line(answer), line(pair.human)
    if not answer.notes:
        return {"notes": 0, "beats": 0.0}
    first, grid = answer.notes[0].onset, pair.grid
    position = grid.position(first)
    difference = abs(position - grid.position(human.notes[0].onset))
    return {
        "cell_loop": has_cell_loop(answer),
        "longest_loop": longest_loop(answer),
        "stuck_pitch": longest_same_pitch(answer) >= STUCK_RUN,
        "tonic_end": ends_on_tonic_triad(answer, pair.key),
        "on_bar_line": min(position, grid.bar - position) <= ON_GRID,
        "human_position": min(difference, grid.bar - difference) <= ON_GRID,
        "entry": first - pair.split,
        "in_key": in_key_share(answer, pair.key),
        "range": max(pitches(answer)) - min(pitches(answer)),
        "mean_interval": float(np.mean(np.abs(intervals(answer)))) if len(answer.notes) > 1 else None,
        "notes": len(answer.notes),
        "beats": answer.end - first,
        "relatedness": relatedness(answer, line(pair.call)),
        "interval_overlap": overlap(interval_histogram(answer), interval_histogram(human)),
        "ioi_overlap": overlap(ioi_histogram(answer), ioi_histogram(human)),
    }


# (key, label, kind): kind "share" is a percentage of answers (or of notes), "mean" a mean value
ROWS = (
    ("cell_loop", "2-4-note cell 3+ times in a row (% answers)", "share"),
    ("longest_loop", "longest literal loop (notes)", "mean"),
    ("stuck_pitch", "8+ notes in a row on one pitch (% answers)", "share"),
    ("tonic_end", "last note in the tonic triad (% answers)", "share"),
    ("on_bar_line", "first note on a bar line (% answers)", "share"),
    ("human_position", "enters at the human's bar position (% answers)", "share"),
    ("entry", "entry after the call's last bar line (beats)", "mean"),
    ("in_key", "notes in the tune's key (%)", "share"),
    ("range", "pitch range (semitones)", "mean"),
    ("mean_interval", "mean |interval| (semitones)", "mean"),
    ("notes", "length (notes)", "mean"),
    ("beats", "length (beats)", "mean"),
    ("relatedness", "call relatedness: 3-note interval n-grams in the call (%)", "share"),
    ("interval_overlap", "interval histogram overlap with the human", "mean"),
    ("ioi_overlap", "IOI histogram overlap with the human", "mean"),
    ("tempo_equal", "answer tempo = call tempo (% answers)", "share"),
    ("tempo_double", "answer tempo = 2x call tempo (% answers)", "share"),
    ("tempo_half", "answer tempo = 1/2 call tempo (% answers)", "share"),
    ("tempo_other", "answer tempo, other ratio (% answers)", "share"),
    ("key_same", "responder's key = tune's key (% answers)", "share"),
    ("key_scale", "responder's key: same or relative (% answers)", "share"),
)


def summarize(results: list[dict]) -> dict:
    """{metric: (mean, number of answers it applies to)}; shares as fractions, None when none apply."""
    summary = {}
    for key, _, _ in ROWS:
        values = [float(r[key]) for r in results if r.get(key) is not None]
        summary[key] = (float(np.mean(values)) if values else None, len(values))
    return summary


def format_value(value, kind: str) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.1f}" if kind == "share" else f"{value:.2f}"


__all__ = ["measure", "summarize", "format_value", "ROWS", "has_cell_loop",
           "longest_loop", "longest_same_pitch", "ends_on_tonic_triad", "in_key_share", "interval_ngrams",
           "relatedness", "interval_histogram", "ioi_histogram", "overlap", "tempo_relation", "key_relation", "ON_GRID"]
