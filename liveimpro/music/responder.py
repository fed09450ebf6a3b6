"""The musician in the engine: hears a call note by note, then answers it one note at a time.

`Responder` is the musical core shared by the live engine (`liveimpro.live.engine`) and the
offline path (`liveimpro respond`, `liveimpro demo`); it knows nothing of ports or threads.
Times in, times out are seconds on one clock (perf_counter live, the file's own timeline
offline), so both paths make the same decisions.

    responder.hear(played_notes, now)         # after every onset: primes the model incrementally
    answer = responder.answer(notes, now, start)  # at the phrase end: an iterator of AnswerNote
    for note in answer: ...                   # each next() is one model step (propose + commit)

Priming: the model is reset at the start of each call (the call is a new tune to it) and hears
every call note as soon as the next onset fixes its inter-onset interval, at the running tempo
estimate; so when the phrase ends only the last note is left to feed. The tempo is estimated
from the call's onsets (with the previous phrase's tempo as prior) by a `TempoTracker` that takes
each onset once (`liveimpro.music.tempo`), the key from a running pitch-class histogram over the
session (`liveimpro.music.keys.KeyTracker`).

Bounded work per note: `hear()` costs the same at the 5th note as at the 2,000th. Only what came
after the last event the model heard is tokenized, with that event in front (for its pitch and
where its notes end) placed at its grid point, so each new onset is rounded from the previous
rounded one as `Tokenizer.events` rounds a whole melody; the model's timeline goes on from there
at the tempo of the moment. The notes are found by time, not by count, so a phrase that drops its
oldest notes (`LiveInput.max_notes`) goes on feeding the model to its last note.

Modes (settings.mode): "answer" continues the call with the LSTM, note by note, as below;
"vary" answers with the melody VAE's variation of the call (settings.amount = how far it moves),
"morph" with the melody settings.amount of the way from the previous call to this one; both
decode the whole phrase at the phrase end (the VAE's latency is on that path, see the README).

Where the answer starts: `next_beat(t)`, the engine's (and the offline path's) one rule, gives the
first beat of the player's grid at or after t, or, when the call filled its bars, the first bar line
of the player's bars at or after t: the bar grid is read from the call (liveimpro.music.bars: its
last release taken as a bar line, the bar length from the phrase length and the pickup), so an
answer comes in on the bar as a musician's would; or given (`given_bars`: a clock's or Link's bars
in --meter's length, a MIDI file's). A footswitch or the DAW's bar line start it elsewhere; the engine decides.

The answer: starts at `start` (seconds; on the player's grid or the DAW's bar line, the
engine decides), keeps the call's tempo, as long as the call in bars (of its bar grid; 4/4 bars
from its first beat when it has none) or notes (settings), in
the call's register (its pitch range widened by `REGISTER_MARGIN`, at least an octave), with the
call's velocities cycled, and in the call's key: pitches are masked to the estimated key's scale
(or the settings' scale lock; `follow_key=False` and no lock leave them free). Each note is
yielded as soon as it is sampled; the caller cuts it where the next one begins (`cut`). No loops,
and a cadence on the tonic triad at the last bar line: liveimpro.music.answer_line.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import replace
from itertools import takewhile
from operator import attrgetter
from typing import Iterator, Sequence

from ..melody import Melody
from .answer_line import REGISTER_MARGIN, AnswerNote, LinePlan, answer_line, cut, register_and_scale
from .bars import BarGrid, answer_beats, bars_given, beat_phase, infer_bars
from .encoded import EncodedCall
from .keys import KeyEstimate, KeyTracker
from .phrase import answer_length
from .played import PlayedNote, phrase_melody
from .settings import LiveSettings
from .shape import in_scale
from .tempo import TempoEstimate, TempoTracker, estimate_tempo

MIN_TEMPO_ONSETS = 3  # below this many onsets the tempo is the previous one (or DEFAULT_BPM)
DEFAULT_BPM = 100.0
MIN_KEY_CONFIDENCE = 0.02  # a weaker key estimate leaves the pitches unmasked
GRID_SLACK = 1 / 12  # beats: half the token grid's widest gap (1/6): the most a note moves to its grid point
_ONSET = attrgetter("onset")  # the bisect key of played notes
MAX_FEED_NOTES = 64  # notes after the last event heard that one hear() reads (more: notes under a held higher one)


class Responder:
    def __init__(self, improviser, settings: LiveSettings | None = None, rng=None, follow_key: bool = True,
                 prime: bool = True, vae=None):
        self.improviser = improviser  # a liveimpro.lstm.improviser.Improviser
        self.vae = vae  # a liveimpro.vae.melody_vae.MelodyVAE for the vary and morph modes; None: answer only
        self.ahead = EncodedCall()  # the VAE's codes of the call, made at its last release (vary, morph)
        # feed the model while the player plays; False re-reads the whole call at the phrase end
        # instead (Magenta's MIDI interface does that): the baseline of scripts/bench_engine.py
        self.prime = prime
        self.follow_key = follow_key  # without a scale lock, keep to the estimated key
        self.settings = settings or LiveSettings()  # its one owner; the engine swaps in a new one when a CC moves
        self.rng = rng  # numpy Generator for sampling; None: the improviser's own
        self.keys = KeyTracker()
        self.tempo: TempoEstimate | None = None  # of the current (or last) call
        self.key: KeyEstimate | None = None  # of the session so far, updated at each phrase end
        self._previous_bpm: float | None = None
        self.tracker: TempoTracker | None = None  # the current call's tempo, onset by onset (None: no note yet)
        self._fed = 0  # events of the current call the model has heard
        # the last of them: (its grid point in seconds, its onset on the model's timeline in beats,
        # the time after which the notes not yet tokenized begin); None: nothing heard yet
        self._fed_at: tuple[float, float, float] | None = None
        self.tokenized = 0  # notes the last hear() tokenized: a few, however long the phrase
        self.origin = 0.0  # seconds: the beat line the current call is counted from (its beat 0)
        self._heard = None  # (first note, last note, notes, final) at the last hear(): skip repeats
        self._previous_call: Melody | None = None  # the call before this one (morph mode)
        self._notes: Sequence[PlayedNote] = ()  # the call as last heard (for its bar grid)
        self._grid: tuple | None = None  # (what it was read from, the BarGrid or None)
        # bars given from outside, in seconds: (a bar line's time, a bar's length); None: read from
        # the call. The engine sets them from a running clock or Link and --meter, `respond` from the file
        self.given_bars: tuple[float, float] | None = None

    # --- listening -----------------------------------------------------------------------------
    def start_call(self) -> None:
        self.improviser.reset()
        self._fed, self._fed_at = 0, None
        self.tempo, self.tracker, self._heard, self._notes, self.given_bars = None, None, None, (), None

    def call_melody(self, notes: Sequence[PlayedNote], now: float) -> Melody:
        """The call so far in beats of the running tempo, beat 0 on the beat line it started on."""
        tempo = self.tempo or self._estimate(notes)
        self.origin = tempo.origin_for(notes[0].onset)
        return phrase_melody(notes, tempo.bpm, self.origin, now)

    def hear(self, notes: Sequence[PlayedNote], now: float, final: bool = False) -> None:
        """Called after each onset (and with final=True at the phrase end), with the phrase so far
        in onset order: give the tempo tracker the new onsets and feed the model every event whose
        length is known (all of them when final)."""
        if not notes:
            return
        # the first note too: an over-long phrase drops its oldest notes and keeps its length
        heard = (notes[0], notes[-1], len(notes), final)
        if heard == self._heard:  # nothing new since the last call: the phrase-end path is free
            return
        self._heard, self._notes = heard, notes
        if self.tracker is None:
            self.tracker = TempoTracker(self._previous_bpm)
        tracker = self.tracker
        tracker.forget_before(notes[0].onset)
        for note in notes[0 if tracker.last is None else bisect_right(notes, tracker.last, key=_ONSET):]:
            tracker.add(note.onset)  # the notes of a chord share one onset: added once
        self.tempo = tracker.estimate if tracker.onsets >= MIN_TEMPO_ONSETS else \
            TempoEstimate(self._previous_bpm or DEFAULT_BPM, notes[0].onset, 0.0)
        if self.prime:
            self._feed(notes, now, final)
        if final and self.vae is not None:  # the call is whole: encode it now, a beat before the phrase end
            self.ahead.prepare(self.vae, self.settings.mode, self.call_melody(notes, now), self._previous_call)

    def _feed(self, notes: Sequence[PlayedNote], now: float, final: bool) -> None:
        """Tokenize the notes after the last event the model heard, that event in front at its grid
        point, and feed the model the new events but the last (whose length is still open).
        Velocities are not tokenized: each note carries its index in the window as its velocity,
        so an event says which note is its top one."""
        period, fed_at = self.tempo.period, self._fed_at
        window = notes if fed_at is None else notes[bisect_right(notes, fed_at[2], key=_ONSET):]
        if not window:
            return
        first = window[0].onset
        if len(window) > MAX_FEED_NOTES:  # the notes in between were dropped by the skyline anyway
            window = [*takewhile(lambda n: n.onset == first, window), *window[-MAX_FEED_NOTES:]]
        origin, beat = (first, 0.0) if fed_at is None else fed_at[:2]
        placed = [replace(n, onset=origin if n.onset == first else n.onset, velocity=min(index, 126) + 1)
                  for index, n in enumerate(window)]
        self.tokenized = len(placed)
        events = self.improviser.tokenizer.events(phrase_melody(placed, self.tempo.bpm, origin, now))
        skip = 0 if fed_at is None else 1  # the event heard last is only there to go on from
        upto = len(events) if final else len(events) - 1
        for event in events[skip:upto]:
            velocity = window[event.velocity - 1].velocity
            self.improviser.observe(replace(event, onset=beat + event.onset, velocity=velocity))
        if upto <= skip:
            return
        self._fed += upto - skip
        last = events[upto - 1]
        at, slack = origin + last.onset * period, GRID_SLACK * period
        start = window[last.velocity - 1].onset  # a long way after its grid point when the gap before it
        if start > at + slack * (1 + 1e-9):  # was longer than the grid's cap: rounding starts again there
            at = start
        self._fed_at = (at, beat + last.onset, at - slack)

    def _estimate(self, notes: Sequence[PlayedNote]) -> TempoEstimate:
        onsets = sorted({n.onset for n in notes})
        if len(onsets) < MIN_TEMPO_ONSETS:
            bpm = self._previous_bpm or DEFAULT_BPM
            return TempoEstimate(bpm, onsets[0], 0.0)
        return estimate_tempo(onsets, self._previous_bpm)

    def next_beat(self, t: float) -> float:
        """Where an answer decided at t starts: the first bar line of the call's bar grid at or after
        t when it has one, else the first beat of the player's grid (t itself before any tempo)."""
        if self.tempo is None:
            return t
        phase, period = self.tempo.phase, self.tempo.period
        grid = self.bar_grid()
        if grid is not None:
            origin = self.tempo.origin_for(self._notes[0].onset)
            return origin + grid.line_at_or_after((t - origin) / period) * period
        return phase + math.ceil((t - phase) / period - 1e-6) * period

    def bar_grid(self) -> BarGrid | None:
        """The current call's bars (liveimpro.music.bars), in beats from its first beat line; None
        while a key is held or when the call is under a bar. Read once per tempo and last release,
        from its last MAX_FEED_NOTES notes at most, so the work does not grow with the phrase."""
        notes = self._notes[-MAX_FEED_NOTES:]
        if not notes or self.tempo is None or any(n.release is None for n in notes[-8:]):
            return None
        last = max(n.release for n in notes[-8:])  # a phrase's later notes end last (a chord: its top)
        key = (self.tempo, self._notes[0].onset, last, self.given_bars)
        if self._grid is None or self._grid[0] != key:
            origin, period = self.tempo.origin_for(self._notes[0].onset), self.tempo.period
            if self.given_bars is not None:
                line, length = self.given_bars
                self._grid = (key, bars_given((last - origin) / period, (line - origin) / period, length / period))
                return self._grid[1]
            onsets = [(n.onset - origin) / period for n in notes]
            weights = [b - a for a, b in zip(onsets, onsets[1:])] + [notes[-1].duration / period]
            phase = beat_phase(onsets, weights)
            self._grid = (key, infer_bars((last - origin) / period, phase))
        return self._grid[1]

    # --- answering -----------------------------------------------------------------------------
    def rehearse_first(self, notes: Sequence[PlayedNote], now: float, release: float | None = None) -> AnswerNote | None:
        """The first note of the answer that ending the phrase at `now` would start with, leaving
        everything as it was: the key tracker, the tempo memory, the random generator, the model and
        what was heard. An answer started next from the same notes begins with this very note (the
        real-time I/O process plays it on the footswitch: liveimpro.live.io_cycle). `release`: keys
        are still held; the note if they were let go at `release` and the phrase ended then (any
        release in the same span of the last note's duration token feeds the model the same token).
        None unless every onset was heard (and, without `release`, the call to its end) and the
        mode is the model's answer."""
        heard = self._heard
        if not notes or not self.prime or heard is None or (self.vae is not None and self.settings.mode != "answer"):
            return None
        if release is None and heard != (notes[0], notes[-1], len(notes), True):
            return None
        if release is not None:
            if heard[0] != notes[0] or heard[3] or heard[1].onset != notes[-1].onset:
                return None
            notes, now = tuple(replace(n, release=max(release, n.onset)) if n.release is None else n for n in notes), release
        saved = (self.keys.histogram.copy(), self.key, self.origin, self._previous_bpm, self._previous_call,
                 self.rng.bit_generator.state, self.improviser.snapshot(), heard, self._notes, self._fed,
                 self._fed_at, self.tokenized, self._grid, self.tempo)
        try:
            return next(self.answer(notes, now, now), None)
        finally:
            (self.keys.histogram, self.key, self.origin, self._previous_bpm, self._previous_call, state, model,
             self._heard, self._notes, self._fed, self._fed_at, self.tokenized, self._grid, self.tempo) = saved
            self.rng.bit_generator.state = state
            self.improviser.restore(model)

    def answer(self, notes: Sequence[PlayedNote], now: float, start: float,
               bpm: float | None = None) -> Iterator[AnswerNote]:
        """End the call (feeding what is left) and return the answer as a lazy iterator.
        `start`: seconds at which the answer begins; `bpm`: a tempo to use instead of the
        call's (the DAW's clock)."""
        self.hear(notes, now, final=True)
        if not self.prime:
            self.improviser.reset()
            self._fed, self._fed_at = 0, None
            self._feed(notes, now, final=True)
        call = self.call_melody(notes, now)
        self.key = self.keys.observe(call.notes)
        self._previous_bpm = self.tempo.bpm
        previous, self._previous_call = self._previous_call, call
        mode = self.settings.mode if self.vae is not None else "answer"
        if mode == "answer":
            return self._answer_notes(call, start, bpm or self.tempo.bpm)
        codes = self.ahead.take(mode, call, previous)  # made at the last release: only the decoding is left
        if mode == "morph" and previous is not None:
            melody = self.vae.morph(previous, call, self.settings.amount, codes=codes)
        else:  # vary (and morph on the first call, which has nothing to morph from)
            melody = self.vae.vary(call, self.settings.amount, self.rng, code=codes and codes[0])
        return self._melody_notes(melody, call, start, bpm or self.tempo.bpm)

    def _melody_notes(self, melody: Melody, call: Melody, start: float, bpm: float) -> Iterator[AnswerNote]:
        """A VAE's answer melody as AnswerNotes: the call's velocities, pitches in the scale lock or key."""
        velocities = [n.velocity for n in call.notes] or [80]
        seconds_per_beat = 60.0 / bpm
        scale, pitch = self._mask(call)[1], None
        for index, note in enumerate(melody.notes):
            pitch = in_scale(note.pitch, scale, pitch)
            yield AnswerNote((pitch,), start + note.onset * seconds_per_beat, note.duration * seconds_per_beat,
                             velocities[index % len(velocities)], note.onset, note.duration)

    def _mask(self, call: Melody):
        key = self.key if self.follow_key and self.key is not None and \
            self.key.confidence >= MIN_KEY_CONFIDENCE else None
        return register_and_scale(call, self.settings.scale, key)

    def _answer_notes(self, call: Melody, start: float, bpm: float) -> Iterator[AnswerNote]:
        imp, settings = self.improviser, self.settings
        grid = self.bar_grid()
        if grid is not None and settings.length_mode == "bars":
            # given bars are in seconds: in beats of the answer's tempo (a clock's may not be the player's)
            scale = self.tempo.period * bpm / 60.0 if self.given_bars is not None else 1.0
            length, bar = answer_beats(grid, settings.length_ratio) * scale, grid.bar * scale
        else:
            counted = answer_length(call, settings.length_mode, settings.length_ratio)
            length, bar = counted.beats, call.beats_per_bar
        pitch_range, scale = self._mask(call)
        key = settings.scale if settings.scale is not None else (self.key if scale is not None else None)
        notes = None if length is not None else answer_length(call, "notes", settings.length_ratio).notes
        plan = LinePlan(length, notes, bar, pitch_range, scale, key)
        return answer_line(imp, settings, call, start, bpm, plan, self.rng)


__all__ = ["Responder", "AnswerNote", "cut", "REGISTER_MARGIN"]
