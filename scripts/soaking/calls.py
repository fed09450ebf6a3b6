"""The calls the soak's player plays: random, quick, and never split in two by a silence.

2..max_notes notes, a tempo in the given range, any key (major or minor), straight or triplet rhythms
with short rests, velocities around a random level, sometimes chords (rolled a little), sometimes
legato (each note overlaps the next), sometimes on several channels. Every silence inside a call is
shorter than MAX_GAP, below the engine's shortest phrase-end silence (0.35 s): a call is never
legitimately split in two. About a third of the calls end with the end CC (duet's footswitch), the
others by silence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_GAP = 0.28  # s: the longest silence inside a call (the engine's shortest phrase-end silence is 0.35 s)
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass
class Call:
    events: list  # [(seconds from the call's start, [bytes...])], note-offs first at one instant
    end: float  # seconds from the start: the last note-off, or the end CC's press
    last_off: float  # seconds from the start: the last note-off
    bpm: float
    key: str
    notes: int  # onsets (a chord is one)
    ended_by: str  # "silence" | "cc"
    features: list = field(default_factory=list)  # "chords", "legato", "channels", "triplets", "rests"


def make_call(rng, end_cc: int | None, max_notes: int, tempo: tuple[float, float] = (60.0, 180.0)) -> Call:
    """A random call from `rng` (numpy Generator); `end_cc`: the CC that may end it (None: silence only)."""
    bpm = float(rng.uniform(*tempo))
    beat = 60.0 / bpm
    tonic, minor = int(rng.integers(12)), bool(rng.random() < 0.4)
    scale = MINOR if minor else MAJOR
    register = int(rng.integers(50, 74))
    count = int(rng.integers(2, max_notes + 1))
    triplets, chords, legato = rng.random() < 0.3, rng.random() < 0.2, rng.random() < 0.3
    channels = (list(rng.choice(16, size=3, replace=False)) if rng.random() < 0.2
                else [int(rng.integers(16)) if rng.random() < 0.2 else 0])
    values = [0.25, 0.5, 0.5, 1, 1, 1.5, 2] + ([1 / 3, 1 / 3, 2 / 3] if triplets else [])
    loudness = int(rng.integers(40, 115))

    def pitch(degree: int) -> int:
        octave, step = divmod(degree, 7)
        return int(np.clip(register + tonic % 12 + 12 * octave + scale[step] - 6, 21, 108))

    notes, t, degree, rests = [], 0.0, 0, 0  # (onset, [pitches], channel, velocity, value)
    for index in range(count):
        degree = int(np.clip(degree + rng.integers(-3, 4), -9, 9))
        pitches = [pitch(degree)]
        if chords and rng.random() < 0.5:
            pitches += [pitch(degree + 2), pitch(degree + 4)][:int(rng.integers(1, 3))]
        value = float(rng.choice(values)) * beat
        velocity = int(np.clip(loudness + rng.normal(0, 10), 1, 127))
        notes.append((t, sorted(set(pitches)), int(rng.choice(channels)), velocity, value))
        t += value
        if index < count - 1 and rng.random() < 0.15:
            t += float(rng.choice([0.25, 1 / 3, 0.5])) * beat  # a rest, cut below to MAX_GAP
            rests += 1
    events, last_off = [], 0.0
    for index, (onset, pitches, channel, velocity, value) in enumerate(notes):
        following = notes[index + 1] if index + 1 < len(notes) else None
        if following is None:
            length = value * float(rng.uniform(0.6, 1.0))
        else:
            step = following[0] - onset
            clash = following[2] == channel and set(following[1]) & set(pitches)
            if legato and not clash:
                length = step + float(rng.uniform(0.01, 0.04))  # key up after the next key down
            else:
                length = step - min(step * float(rng.uniform(0.05, 0.5)), MAX_GAP)
            if following[0] - (onset + length) > MAX_GAP:
                length = following[0] - onset - MAX_GAP
        roll = float(rng.uniform(0, 0.012))  # a chord's notes a few ms apart, as hands play them
        for k, p in enumerate(pitches):
            events.append((onset + k * roll, [0x90 | channel, p, velocity]))
            events.append((onset + length, [0x80 | channel, p, 0]))
        last_off = max(last_off, onset + length)
    end, ended_by = last_off, "silence"
    if end_cc is not None and rng.random() < 0.3:
        end, ended_by = last_off + float(rng.uniform(0.02, 0.1)), "cc"
        events += [(end, [0xB0, end_cc, 127]), (end + 0.05, [0xB0, end_cc, 0])]
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))  # note-offs before note-ons at one instant
    features = [name for name, on in (("chords", chords), ("legato", legato), ("channels", len(channels) > 1),
                                      ("triplets", triplets), ("rests", rests > 0)) if on]
    key = f"{NAMES[tonic]} {'minor' if minor else 'major'}"
    return Call(events, end, last_off, bpm, key, len(notes), ended_by, features)
