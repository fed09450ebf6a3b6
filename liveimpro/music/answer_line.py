"""The LSTM's answer, note by note: in the call's register and key, no loops, a cadence at the end.

`answer_line` is the "answer" mode of the `Responder` (liveimpro.music.responder): a generator whose
each next() is one proposal and, for the note before it, one model step, so the phrase-end path
costs one proposal as before. Each note is yielded as soon as it is sampled and committed to the
model only when the next one is asked for. The first note sounds at `start` whatever gap the model
wanted, but is committed with the gap the model wanted: its timeline is relative (intervals and
inter-onset times), and the wait for the next bar line makes gaps of five beats or more after the
call's last onset, which it rarely saw after a phrase; committed as it sounded, such a gap drew more
long gaps (live: an answer of one note, five beats of rest, and the cadence). Beats count from the
first note.

Shape (liveimpro.music.shape): each proposal avoids the pitches that would make a pitch loop longer
than MAX_LOOP notes. An answer measured in beats ends with a cadence: the first note the model puts
in the answer's last bar (or past its end) becomes the last note, moved onto that bar line (in a bar
of 4 beats or more, its half when that is a beat: two bars of 2/4 read as one of 4/4, or the strong half of 4/4), as long
as the model wants but at least CADENCE_BEATS (at most to the end), its pitch drawn again from the tonic triad of the answer's key (the scale lock's, else the
estimated key's; none without a key); an answer of one bar has its cadence at the half bar. An answer
measured in notes draws its last note from the triad and keeps its rhythm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterator

from ..melody import Melody
from .keys import KeyEstimate, scale_pitch_classes
from .shape import cadence_pitch_classes, loop_pitches

MAX_ANSWER_NOTES = 256  # a bound for answers measured in beats (a model of only tiny durations)
REGISTER_MARGIN = 4  # semitones the answer may go beyond the call's lowest and highest notes
CADENCE_BEATS = 2.0  # beats: the last note lasts at least this (or to the answer's end), as long as the model wants


@dataclass(frozen=True, slots=True)
class AnswerNote:
    pitches: tuple[int, ...]  # one pitch, or a chord with the note tokenizer
    time: float  # seconds: when it starts
    duration: float  # seconds
    velocity: int  # 1..127
    beat: float  # beats from the answer's start (for the session file)
    beats: float  # duration in beats


@dataclass(frozen=True, slots=True)
class LinePlan:
    beats: float | None  # the answer's length in beats; None: counted in notes
    notes: int | None  # the answer's length in notes (chord onsets); None: in beats
    bar: float  # beats per bar (the cadence falls on the last bar line)
    pitch_range: tuple[int, int]
    scale: frozenset[int] | None  # allowed pitch classes; None: free
    key: object | None  # a KeyEstimate or scale name whose tonic triad ends the answer; None: no cadence


def register_and_scale(call: Melody, lock: str | None, key: KeyEstimate | None):
    """((lowest, highest) pitch, allowed pitch classes or None) of an answer to `call`: the call's range
    widened by REGISTER_MARGIN (at least an octave); the scale lock's pitch classes, else `key`'s (a
    minor key with its raised 7th too, as folk and classical tunes use it), else free."""
    pitches = [n.pitch for n in call.notes]
    low, high = min(pitches) - REGISTER_MARGIN, max(pitches) + REGISTER_MARGIN
    if high - low < 12:
        low, high = (low + high) // 2 - 6, (low + high) // 2 + 6
    if lock is not None:
        scale = scale_pitch_classes(lock)
    elif key is not None:
        scale = scale_pitch_classes(key) | ({(key.tonic_pc + 11) % 12} if key.mode == "minor" else set())
    else:
        scale = None
    return (max(0, low), min(127, high)), scale


def answer_line(imp, settings, call: Melody, start: float, bpm: float, plan: LinePlan,
                rng=None) -> Iterator[AnswerNote]:
    """The answer from `start` (seconds) at `bpm`, its first note where the model puts it on its
    timeline (`origin`). See the module docstring."""
    velocities = [n.velocity for n in call.notes] or [80]
    seconds_per_beat = 60.0 / bpm
    end = math.inf if plan.beats is None else plan.beats
    half = plan.bar / 2  # a bar of 4 beats may be two of 2/4 (6: of 3/4); 5/4's or 7/8's half is no beat
    last_line = end - (half if plan.bar >= 4 - 1e-6 and abs(half - round(half)) < 1e-6 else plan.bar)
    cadence_at = math.inf if plan.beats is None else (last_line if end >= 2 * plan.bar else end / 2)
    triad = cadence_pitch_classes(plan.key) if plan.key is not None else None
    if triad is not None and plan.scale is not None and not triad & plan.scale:
        triad = None  # a lock that leaves no triad note: no cadence rule
    tops: list[int] = []
    origin = 0.0  # the model's beat of the first note: set when it is proposed
    count = MAX_ANSWER_NOTES if plan.notes is None else plan.notes
    for index in range(count):
        avoid = loop_pitches(tops)
        event = imp.propose(settings.temperature, settings.top_p, plan.pitch_range, plan.scale, rng, avoid=avoid)
        if index == 0:
            origin = event.onset
        beat = event.onset - origin
        final = index == count - 1 or beat >= cadence_at - 1e-9
        if final and triad is not None:  # the last note on a stable tone
            again = imp.propose(settings.temperature, settings.top_p, plan.pitch_range, triad, rng, avoid=avoid)
            event = replace(again, onset=event.onset, duration=event.duration)
        if beat >= cadence_at - 1e-9:  # on the last bar line, held CADENCE_BEATS at least
            beat = cadence_at
            event = replace(event, onset=origin + beat, duration=min(end - beat, max(event.duration, CADENCE_BEATS)))
        if beat >= end - 1e-9:
            return
        beats = min(event.duration, end - beat)
        yield AnswerNote(event.pitches, start + beat * seconds_per_beat, beats * seconds_per_beat,
                         velocities[index % len(velocities)], beat, beats)
        imp.commit(event)
        tops.append(event.top)
        if final:
            return


def cut(note: AnswerNote, until: float) -> AnswerNote:
    """The note ended at `until` (seconds) if it would sound longer: an answer is a line of
    events, each cut where the next begins, never a pile-up of held notes."""
    if note.time + note.duration <= until:
        return note
    seconds = max(0.0, until - note.time)
    return replace(note, duration=seconds, beats=note.beats * seconds / note.duration if note.duration > 0 else 0.0)


__all__ = ["AnswerNote", "LinePlan", "answer_line", "cut", "register_and_scale", "MAX_ANSWER_NOTES", "REGISTER_MARGIN"]
