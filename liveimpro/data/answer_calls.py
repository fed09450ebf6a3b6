"""Calls and what the human wrote next: Essen validation tunes cut at a bar line (scripts/eval_answers.py).

A tune of at least MIN_BARS full bars is cut after `bars` bars (2 or 4) into the call (a pickup, if the
tune has one, plus those bars) and the human continuation (the next `bars` bars).

Bar lines. The prepared dataset loses them: a Melody starts at beat 0 whatever the bar position of its
first note (music21 puts a pickup measure at offset 0) and keeps the first time signature only (Essen
tunes change meter, and some have no meter). So the bar lines are read again from the tune's own ABC
text in music21's Essen corpus (the file and X: number are the start of the Melody's name): the music21
measures give each bar's offset and length, the pickup is a first measure shorter than its bar, and the
re-read notes must equal the dataset's exactly (else the tune is skipped, counted). Kept: tunes whose
bars after the pickup are, for the call and the continuation, all of one length, equal to the dataset's
time signature (free-meter tunes and tunes that change meter there are skipped, counted by reason).
Outside the Essen corpus (no ABC to re-read) a tune is skipped. kinder0.abc is never read.

The key (`TuneKey`): the dataset's key is the ABC key signature read as a major key ("G major" also for
a tune in E minor or A dorian). The tonic is taken as the tune's final note when it is in the
signature's scale (the finalis: E for an E minor tune written with one sharp), else the signature's
tonic; the mode is that of the diatonic triad on the tonic (major or minor third). A tune without a key
gets one from its whole pitch-class histogram (`liveimpro.music.keys.estimate_key`, no music21).
Tunes are taken in a fixed pseudo-random order (SHA-256 of the name) so that any count spreads over
the files.
"""
from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, replace

from ..melody import Melody
from ..music.keys import SCALES, estimate_key, parse_scale, pitch_class_histogram

MIN_BARS = 8  # full bars a tune must have
EXACT = 1e-6  # beats


@dataclass(frozen=True)
class TuneKey:
    tonic_pc: int  # 0 = C
    mode: str  # "major" | "minor" | "other": the third of the triad on the tonic
    scale: frozenset  # the signature's seven pitch classes
    source: str  # "dataset" | "estimated"

    @property
    def triad(self) -> frozenset:
        degrees = sorted(self.scale, key=lambda pc: (pc - self.tonic_pc) % 12)
        return frozenset(degrees[i] for i in (0, 2, 4))

    @property
    def allowed(self) -> frozenset:
        """The scale, with the raised 7th in a minor key (as the engine allows it)."""
        return self.scale | ({(self.tonic_pc + 11) % 12} if self.mode == "minor" else set())


@dataclass(frozen=True)
class BarGrid:
    origin: float  # beats: the first full bar line (the pickup's length; 0 without one)
    bar: float  # beats in a bar

    def position(self, beat: float) -> float:
        """Where `beat` falls in its bar, 0 <= position < bar (a hair before a bar line counts as on it)."""
        position = (beat - self.origin) % self.bar
        return 0.0 if self.bar - position < EXACT else position


@dataclass(frozen=True)
class CallPair:
    name: str
    index: int  # position of the tune in the validation split
    call: Melody  # beats of the tune, from its first note; notes cut at the split
    human: Melody  # what the tune does next, `bars` bars, in the same beats
    split: float  # beats: the bar line between them
    grid: BarGrid
    key: TuneKey


def tune_key(melody: Melody) -> TuneKey:
    """The tune's key as the module docstring says (from the dataset's signature, else estimated)."""
    if melody.key is not None:
        signature_pc, mode = parse_scale(melody.key)
        source = "dataset"
    else:
        estimate = estimate_key(pitch_class_histogram(melody.notes))
        signature_pc, mode = (estimate.tonic_pc, estimate.mode) if estimate is not None else (0, "major")
        source = "estimated"
    scale = frozenset((signature_pc + step) % 12 for step in SCALES[mode])
    final = melody.notes[-1].pitch % 12 if melody.notes else signature_pc
    tonic = final if final in scale else signature_pc
    third = sorted((pc - tonic) % 12 for pc in scale)[2]
    return TuneKey(tonic, {4: "major", 3: "minor"}.get(third, "other"), scale, source)


@functools.lru_cache(maxsize=64)
def _abc_file_tunes(file_name: str):
    from .corpus import essen_files, is_reserved
    from .scores import abc_tunes, read_text

    paths = [p for p in essen_files() if p.name == file_name and not is_reserved(p)]
    return abc_tunes(read_text(paths[0]), file_name) if paths else []


def essen_measures(melody: Melody) -> list[tuple[float, float, float]] | str:
    """[(offset, length, bar length)] of the tune's music21 measures, in beats, or why not."""
    from music21 import converter, stream

    from .scores import abc_too_large, score_to_melody, time_limit

    file_name = melody.name.split(" ", 1)[0]
    tunes = [t for t in _abc_file_tunes(file_name) if f"{melody.name} ".startswith(f"{t.label} ")]
    if not tunes:
        return "not an Essen tune (no ABC to read its bar lines from)"
    wanted = [(n.pitch, round(n.onset, 6), round(n.duration, 6)) for n in melody.notes]
    for tune in tunes:
        if abc_too_large(tune.text):
            continue
        try:
            with time_limit(30.0):
                parsed = converter.parse(tune.text, format="abc")
        except Exception:  # music21 raises many kinds; the dataset read this tune, so this is rare
            continue
        score = parsed.scores[0] if isinstance(parsed, stream.Opus) else parsed
        again = score_to_melody(score, melody.name)
        if [(n.pitch, round(n.onset, 6), round(n.duration, 6)) for n in again.notes] != wanted:
            continue
        part = score.parts[0] if score.parts else score
        return [(float(m.offset), float(m.duration.quarterLength), float(m.barDuration.quarterLength))
                for m in part.getElementsByClass(stream.Measure)]
    return "the ABC read again differs from the dataset's notes"


def _clip(melody: Melody, start: float, end: float) -> Melody:
    """The notes that start in [start, end), each cut at `end`."""
    return melody.with_notes(replace(n, duration=min(n.duration, end - n.onset)) for n in melody.notes
                             if start - EXACT <= n.onset < end - EXACT)


def split_tune(melody: Melody, measures, bars: int, index: int = 0) -> CallPair | str:
    """The tune cut into call and continuation at its own bar lines, or why it is skipped."""
    if isinstance(measures, str):
        return measures
    if not measures:
        return "no measures"
    first_offset, first_length, first_bar = measures[0]
    pickup = first_length < first_bar - EXACT
    full = measures[1:] if pickup else measures
    if len(full) < MIN_BARS:
        return f"fewer than {MIN_BARS} bars"
    bar = melody.beats_per_bar
    for offset, length, bar_length in full[:2 * bars]:
        if abs(length - bar) > EXACT or abs(bar_length - bar) > EXACT:
            return "meter changes or is free in the bars used"
    for (offset, length, _), (next_offset, _, _) in zip(full[:2 * bars], full[1:2 * bars + 1]):
        if abs(offset + length - next_offset) > EXACT:
            return "measures not contiguous"
    origin = full[0][0]
    split, end = origin + bars * bar, origin + 2 * bars * bar
    call, human = _clip(melody, 0.0, split), _clip(melody, split, end)
    if len({n.onset for n in call.notes}) < 3 or len(human.notes) < 2:
        return "call under 3 notes or continuation under 2"
    return CallPair(melody.name, index, replace(call, name=f"{melody.name} (call)"),
                    replace(human, name=f"{melody.name} (human)"), split, BarGrid(origin, bar), tune_key(melody))


def _order(melody: Melody) -> bytes:
    return hashlib.sha256(melody.name.encode()).digest()


def answer_calls(melodies, count: int, bars: int = 4, measures=essen_measures) -> tuple[list[CallPair], Counter]:
    """Up to `count` CallPairs from `melodies` (the validation split), in the fixed order of the module
    docstring, and the skipped tunes counted by reason (only those looked at before `count` were found)."""
    if bars not in (2, 4):
        raise ValueError(f"bars must be 2 or 4, got {bars!r}")
    if any(m.name.split(" ", 1)[0] == "kinder0.abc" for m in melodies):
        raise ValueError("kinder0.abc is reserved for external evaluation")
    pairs, skipped = [], Counter()
    for index, melody in sorted(enumerate(melodies), key=lambda item: _order(item[1])):
        if len(pairs) >= count:
            break
        if melody.end < MIN_BARS * melody.beats_per_bar - EXACT:
            skipped[f"fewer than {MIN_BARS} bars"] += 1
            continue
        pair = split_tune(melody, measures(melody), bars, index)
        if isinstance(pair, str):
            skipped[pair] += 1
        else:
            pairs.append(pair)
    return pairs, skipped


__all__ = ["CallPair", "BarGrid", "TuneKey", "tune_key", "essen_measures", "split_tune", "answer_calls", "MIN_BARS"]
