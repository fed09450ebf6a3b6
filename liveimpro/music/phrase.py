"""Turn-taking: when has the player finished a phrase, and how long should the answer be.

`PhraseDetector` is pure logic with the time injected: the engine reports what it hears
(`on_note_on`, `on_note_off`, `on_cc`) and calls `poll(now)`; a `PhraseEnd` says the
phrase ended, when, and why. Nothing sleeps or reads a clock, so tests are exact.
A phrase starts with its first note-on (after `reset()` or the previous end) and ends by
the first of these rules:

- silence: no key held and no new onset for `silence_beats` beats of the player's tempo
  (`tempo_bpm`, which the engine updates from `liveimpro.music.tempo`), kept within
  `min_silence`..`max_silence` seconds. Default 1.5 beats (0.75 s at 120 bpm, 0.35 s
  floor from 257 bpm up, 2.0 s ceiling from 45 bpm down): longer than the quarter rest
  that breathes inside a phrase, short enough that an answer does not feel late. The
  silence counts from the release of the last key, so a held last note is not cut.
  The end time is the moment the silence became long enough, not the time of the poll;
- control: CC `end_cc` (default 64, the sustain pedal; None disables) pressed: value
  >= 64 after a value < 64. The end time is that of the CC. A press with no phrase
  in progress is ignored;
- bars: with a `clock` (anything with `beat_at(t) -> beats or None`, `time_of_beat`, `bpm` and
  `beats_per_bar`, e.g. `liveimpro.midi.clock.MidiClock`, whose meter sets the bar: 3 clock
  beats in 3/4 and 6/8, 3.5 in 7/8) and `bars` = N set, a phrase is N bars long counted from its
  *downbeat*, and ends on the bar line N bars after it. The downbeat is decided once, from the
  song position f of the phrase's first note (b = beats_per_bar, p = the pickup window):
  * the bar the first note falls in starts at B = b * floor((f + 1/8) / b): a note up to 1/8
    beat before a bar line counts as on it (it was meant on it);
  * when the next bar line, D = B + b, comes at most p + 1/8 beats after the first note
    (D - f <= p + 1/8), the first notes are a pickup (an anacrusis) and the downbeat is D:
    the phrase ends at D + N*b, so a pickup and N bars are one phrase, not two;
  * otherwise the downbeat is B (the phrase starts on a bar line or inside its first bar) and
    it ends at B + N*b.
  p is `pickup` beats; None (the default) takes the clock's `pickup_beats` (one beat of its
  meter and at most half a bar, `liveimpro.midi.meter.pickup_beats`: 1 in 4/4, 3/4, 5/4 and
  7/8, 1.5 in 6/8, 9/8 and 12/8, 2 in 2/2), or 1 beat (at most half a bar) for a clock without
  one; 0: no pickups. In 4/4 with N = 2: a first note on beat 4 of a bar (f = 3) or on its "and"
  (3.5) counts from the bar line at 4 and ends at 12; one on the "and" of beat 3 (2.5), a longer
  pickup, counts from 0 and ends at 8 (a bar early for the tune: the limit of the window); one
  at 3.9 is on the bar line 4 and ends at 12. Later notes never move the end. `lookahead`
  (beats) lets the rule fire that much before the bar line so the answer can be ready on it;
  `PhraseEnd.beat` is the bar line, `PhraseEnd.downbeat` the bar line counted from. A note played
  before the clock could place it (with the DAW's Start, before its first tick) is placed once
  ticks come, from its time and the clock's tempo. While the clock is stopped or lost only the
  other rules apply.

`min_notes` (default 1) note-ons make a phrase: fewer, and nothing ends.

The answer length (`answer_length`): as many bars as the call, or as many notes (chord
onsets) as the call, times a ratio (see `liveimpro.live.controls`), at least one of either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from ..melody import Melody

EARLY_TOLERANCE = 1 / 8  # beats: a note this much before a bar line belongs to that bar
DEFAULT_PICKUP = 1.0  # beats: the pickup window with a clock that names none (at most half a bar)


class BarClock(Protocol):
    beats_per_bar: float  # quarter-note beats per bar; a clock may also have pickup_beats (see above)

    def beat_at(self, now: float) -> float | None: ...

    def time_of_beat(self, beat: float) -> float | None: ...

    @property
    def bpm(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class PhraseEnd:
    time: float  # seconds: when the phrase ended
    reason: str  # "silence" | "control" | "bars"
    beat: float | None = None  # song position of the bar line, for reason "bars"
    downbeat: float | None = None  # song position of the bar line the bars were counted from ("bars")


@dataclass
class PhraseDetector:
    silence_beats: float = 1.5  # beats of silence (at tempo_bpm) that end a phrase
    min_silence: float = 0.35  # seconds: the silence needed is at least this...
    max_silence: float = 2.0  # ...and at most this
    end_cc: int | None = 64  # CC whose press ends the phrase; None: no control ends it
    bars: int | None = None  # with a clock: end after this many bars; None: no bar rule
    lookahead: float = 0.0  # beats before the bar line at which the bar rule fires
    pickup: float | None = None  # beats: the pickup window; None: the clock's (module docstring)
    clock: BarClock | None = None
    min_notes: int = 1  # note-ons needed before a phrase can end
    tempo_bpm: float = 120.0  # the player's tempo, updated by the engine
    _notes: int = 0  # note-ons in the phrase in progress
    _silent_since: float | None = None  # when the last key of the phrase was released
    _end_beat: float | None = None  # bar line that ends the phrase (bar rule)
    _downbeat: float | None = None  # the bar line its bars are counted from (bar rule)
    _first_time: float = 0.0  # when the phrase's first note began
    _cc_down: bool = False  # end_cc's last value was >= 64

    @property
    def in_phrase(self) -> bool:
        return self._notes > 0

    @property
    def can_end(self) -> bool:
        """Whether the end CC pressed now would end the phrase (its press is not held already)."""
        return self._notes >= max(1, self.min_notes) and not self._cc_down

    @property
    def silence_needed(self) -> float:
        """Seconds of silence that end a phrase at the current tempo."""
        return min(self.max_silence, max(self.min_silence, self.silence_beats * 60.0 / self.tempo_bpm))

    def reset(self) -> None:
        """Forget the phrase in progress (e.g. input heard while the answer played)."""
        self._notes, self._silent_since, self._end_beat, self._downbeat, self._first_time = 0, None, None, None, 0.0

    def on_note_on(self, time: float) -> None:
        if self._notes == 0:
            self._first_time = time
        self._notes += 1
        self._silent_since = None
        self._place_on_bars(time)

    def _place_on_bars(self, now: float) -> None:
        """Find the phrase's downbeat and its last bar line (module docstring), as soon as the
        clock can say: a note played with the DAW's Start (before its first tick arrived) is
        placed once ticks come."""
        if self._end_beat is not None or self._notes == 0 or self.clock is None or not self.bars:
            return
        beat, bpm = self.clock.beat_at(now), self.clock.bpm
        if beat is None or bpm is None:
            return
        first = beat - (now - self._first_time) * bpm / 60.0
        self._downbeat = downbeat(first, self.clock.beats_per_bar, self.pickup_window)
        self._end_beat = self._downbeat + self.bars * self.clock.beats_per_bar

    @property
    def pickup_window(self) -> float:
        """Beats before a bar line within which a first note is a pickup to it (module docstring)."""
        if self.pickup is not None:
            return self.pickup
        window = getattr(self.clock, "pickup_beats", None)
        if window is None:
            per_bar = self.clock.beats_per_bar if self.clock is not None else 4.0
            window = min(DEFAULT_PICKUP, per_bar / 2)
        return window

    def on_note_off(self, time: float, keys_held: int) -> None:
        """A key went up; `keys_held` is how many are still down (LiveInput.held_count)."""
        if keys_held == 0 and self._notes > 0:
            self._silent_since = time

    def on_cc(self, time: float, control: int, value: int) -> PhraseEnd | None:
        if control != self.end_cc:
            return None
        pressed = value >= 64 and not self._cc_down
        self._cc_down = value >= 64
        if pressed and self._notes >= self.min_notes:
            return self._end(PhraseEnd(time, "control"))
        return None

    def deadline(self) -> float | None:
        """When the silence rule will fire if nothing happens (for the engine's wait), else None."""
        if self._silent_since is None or self._notes < self.min_notes:
            return None
        return self._silent_since + self.silence_needed

    def bar_deadline(self, now: float) -> float | None:
        """When the bars rule will fire (seconds, from the clock), else None: for the engine's wait."""
        self._place_on_bars(now)
        if self._end_beat is None or self._notes < self.min_notes:
            return None
        return self.clock.time_of_beat(self._end_beat - self.lookahead)

    def poll(self, now: float) -> PhraseEnd | None:
        if self._notes < self.min_notes:
            return None
        deadline = self.deadline()
        if deadline is not None and now >= deadline:
            return self._end(PhraseEnd(deadline, "silence"))
        self._place_on_bars(now)
        if self._end_beat is not None:
            beat = self.clock.beat_at(now)
            if beat is not None and beat >= self._end_beat - self.lookahead:
                return self._end(PhraseEnd(now, "bars", self._end_beat, self._downbeat))
        return None

    def _end(self, end: PhraseEnd) -> PhraseEnd:
        self.reset()
        return end


def downbeat(first: float, beats_per_bar: float, pickup: float) -> float:
    """The bar line a phrase whose first note is at song position `first` counts its bars from:
    the bar line after it when the note is at most `pickup` (+ 1/8) beats before that one (a
    pickup), else the bar line of the bar it falls in (module docstring). Beats throughout."""
    bar = math.floor((first + EARLY_TOLERANCE) / beats_per_bar) * beats_per_bar
    after = bar + beats_per_bar
    return after if after - first <= pickup + EARLY_TOLERANCE + 1e-9 else bar


@dataclass(frozen=True, slots=True)
class AnswerLength:
    beats: float | None  # answer this many beats (whole bars) -- "bars" mode
    notes: int | None  # answer this many notes (chord onsets) -- "notes" mode


def answer_length(call: Melody, mode: str = "bars", ratio: float = 1.0) -> AnswerLength:
    """How long the answer to `call` should be. The call is in beats from its origin (a
    bar line or its first note). Bars: the bars the call spans (its end rounded up to a
    whole bar, ignoring a last note that overhangs a bar line by up to 1/4 beat) times
    `ratio`, rounded half up, at least 1. Notes: its chord onsets times `ratio`, likewise."""
    if mode == "bars":
        bar = call.beats_per_bar
        bars = max(1, math.ceil((call.end - 0.25) / bar)) if call.notes else 1
        return AnswerLength(beats=max(1, math.floor(bars * ratio + 0.5)) * bar, notes=None)
    if mode == "notes":
        return AnswerLength(beats=None, notes=max(1, math.floor(len(call.chords()) * ratio + 0.5)))
    raise ValueError(f"answer length mode must be 'bars' or 'notes', got {mode!r}")


__all__ = ["PhraseDetector", "PhraseEnd", "AnswerLength", "answer_length", "BarClock", "downbeat"]
