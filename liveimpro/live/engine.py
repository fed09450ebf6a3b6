"""The live engine: MIDI in, phrase detection, a primed model, streamed answers, MIDI/audio out.

Three threads, each with one job (python-rtmidi's midifilter/sequencer pattern):

- the input (`on_midi`, called by a `liveimpro.midi.reader.PortReader` thread, or by any rtmidi-style
  caller) only timestamps each message and puts it in a bounded queue (`queue_size`); when the
  queue is full the message is dropped and counted, it never blocks;
- the engine thread (`_run`) turns messages into notes, feeds each call note to the model as
  it arrives (`Responder.hear`), decides when the phrase has ended, and streams the answer
  (`liveimpro.live.answer.AnswerStream`): the first note is sampled at once, each next one
  while the previous one sounds;
- the sender thread (`liveimpro.live.scheduler.Scheduler`) sends every event at its time; or, with
  the real-time I/O process as the sink (`liveimpro.live.io_link`), that process writes them at their
  frames, and plays the footswitch's standby note (`liveimpro.live.standby`).

Turn-taking: a phrase ends after a silence of `silence_beats` of the player's tempo (at least
`min_silence` s), rounded up to the next beat of the player's grid so that the answer starts on
the beat (known ahead: decided `DECIDE_AHEAD`, the first note handed to the sender, which plays it
on the beat); or when the end CC is pressed; or, with a running MIDI clock and `bars` set, after
that many bars — then the answer starts on the next bar line (`sync="bar"`) or beat. When the
player plays while an answer sounds, the answer stops at once: the player always wins.

`stop()` (normal exit, Ctrl-C, SIGTERM) and an exception in the engine thread both end with
no note sounding: the scheduler releases what it started, the sink sends All Notes Off, and
the session file holds every finished phrase.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..midi.clock import MidiClock
from ..midi.messages import ALL_NOTES_OFF, RELEASING_CONTROLS, control_change
from ..music.phrase import PhraseDetector, PhraseEnd
from ..music.responder import Responder
from .answer import AnswerStream, ReactionTimer
from .controls import ControlMap
from .input import ControlChange, LiveInput, NoteOff, NoteOn
from .scheduler import Scheduler
from .standby import Standby

log = logging.getLogger(__name__)
_STOP = object()  # the sentinel the engine thread stops on
BAR_LOOKAHEAD = 0.25  # beats before the bar line at which a "bars" phrase end is decided, so that
# the answer is ready to start on that bar line (a note in the call's last quarter beat is not heard)
HELD_KEY_TIMEOUT = 8.0  # s: keys "held" this long, nothing else played, count as released (a lost note-off)
DECIDE_AHEAD = (0.010, 0.040, 0.080)  # s: the least, the first and the most time before a silence's
# end (on the beat) that the phrase end is decided and the first answer note sampled and scheduled
# for that beat: 1.5x the longest of the last 32 answer starts (2-5 ms quiet, 20-30 ms on 2 busy
# cores), so a busy machine decides earlier. A key struck in that window barges in, as ever.
MAX_WAIT = 0.1  # s: the engine thread wakes at least this often (stop flag, status)


@dataclass
class EngineConfig:
    silence_beats: float = 1.0  # beats of silence (player's tempo) that end a phrase
    min_silence: float = 0.35  # seconds: the silence is at least this long
    bars: int | None = None  # with a running MIDI clock: the phrase ends after this many bars
    sync: str = "bar"  # with a running clock the answer starts on the next "bar" or "beat"
    meter: tuple[int, int] = (4, 4)  # the MIDI clock's bars (clock carries no meter): `bars`, `sync="bar"`
    queue_size: int = 4096  # input messages waiting for the engine thread; more are dropped
    controls: ControlMap = field(default_factory=ControlMap)  # CC -> live setting (the settings are the responder's)


class Engine:
    def __init__(self, responder: Responder, sink, config: EngineConfig | None = None, recorder=None, clock=None):
        self.config = config or EngineConfig()
        self.responder = responder  # owns the live settings and the random generator
        self.sink = sink  # closed by the engine's owner, after stop()
        self.timer = ReactionTimer(sink)
        # a sink that writes the events at their times itself (the real-time I/O process,
        # liveimpro.live.io_link) gives its own scheduler; else a sender thread here sends them
        own = getattr(sink, "scheduler", None)
        self.scheduler = own(self.timer) if callable(own) else Scheduler(self.timer)
        self.answer = AnswerStream(responder, self.scheduler, self.timer, recorder)  # recorder: a SessionRecorder
        self.standby = Standby(responder, self.scheduler)  # the footswitch's first note, with the I/O process
        # the tempo source: a MidiClock fed from the input, or one read as it is (liveimpro.midi.link.LinkClock)
        self.clock = MidiClock(time_signature=self.config.meter) if clock is None else clock
        self.live = LiveInput()
        self.detector = PhraseDetector(self.config.silence_beats, self.config.min_silence,
                                       end_cc=self.config.controls.end_cc, bars=self.config.bars,
                                       lookahead=BAR_LOOKAHEAD, clock=self.clock if self.config.bars else None)
        self.received = 0  # input messages on_midi was given
        self.dropped = 0  # input messages dropped because the queue was full
        self.phrases = 0  # answers started
        self.released_by_timeout = 0  # phrases whose held keys were let go by HELD_KEY_TIMEOUT
        self._start_costs: deque[float] = deque(maxlen=32)  # s each answer start took (DECIDE_AHEAD)
        self._last_note_time = 0.0  # the last note-on or note-off heard
        self.error: BaseException | None = None  # what stopped the engine thread, if anything
        self._queue: queue.Queue = queue.Queue(self.config.queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- owner side ------------------------------------------------------------------------------
    def start(self) -> "Engine":
        self.scheduler.start()
        self._thread = threading.Thread(target=self._run, name="liveimpro-engine", daemon=True)
        self._thread.start()
        return self

    def on_midi(self, event, at: float | None = None) -> None:
        """The input: `event` is (message, delta) as python-rtmidi gives it, `at` when it arrived
        (perf_counter seconds, from the MIDI system's clock: liveimpro.midi.reader), else now.
        Timestamp, enqueue, return: never blocks; dropped (and counted) when the queue is full."""
        self.received += 1
        try:
            self._queue.put_nowait((time.perf_counter() if at is None else at, event[0]))
        except queue.Full:
            self.dropped += 1

    feed = on_midi  # for callers that hold messages, not rtmidi events: feed((note_on(0, 60, 90), 0))

    def release_all_keys(self) -> None:
        """The input went away with keys down: they count as released now (All Notes Off on every
        channel), so the phrase ends and is answered. Not counted as received."""
        now = time.perf_counter()
        for channel in range(16):
            try:
                self._queue.put_nowait((now, control_change(channel, ALL_NOTES_OFF, 0)))
            except queue.Full:
                self.dropped += 1

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the engine thread and the sender; every note started is released."""
        self._stopping.set()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the thread sees the flag within MAX_WAIT
        if self._thread is not None:
            self._thread.join(timeout)
        self.scheduler.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        """"answering" while an answer is streamed, else "listening"."""
        return "answering" if self.answer.active else "listening"

    def status(self) -> dict:
        """What the status line shows. `tempo_source` is "clock" while answers follow a running,
        ticking MIDI clock (the tempo `_phrase_end` gives them; "link" for an Ableton Link session
        given as `clock`), with `tempo_bpm` the clock's and
        `bar_beat` the song position (bar, beat), both from 1, the beat counted in the meter's note
        (6/8: eighths, 1..6); else "player", the player's tempo."""
        r, now = self.responder, time.perf_counter()
        try:  # the engine thread moves the clock on meanwhile: a torn read is shown as the player's tempo
            beat, clock_bpm = self.clock.beat_at(now), self.clock.bpm
        except (AttributeError, TypeError, ZeroDivisionError):
            beat = clock_bpm = None
        follows = beat is not None and clock_bpm is not None
        per_bar, unit = self.clock.beats_per_bar, self.clock.time_signature[1] / 4  # beats of the meter's note
        return {"state": self.state, "bpm": r.tempo.bpm if r.tempo else None,
                "tempo_source": getattr(self.clock, "source", "clock") if follows else "player",
                "tempo_bpm": clock_bpm if follows else (r.tempo.bpm if r.tempo else None),
                "bar_beat": (int(beat // per_bar) + 1, int(beat % per_bar * unit) + 1) if follows else None,
                "clock_bpm": self.clock.bpm if self.clock.running else None,
                "key": r.key.name if r.key else None, "temperature": r.settings.temperature,
                "mode": r.settings.mode, "reaction_ms": self.timer.reactions[-1] * 1e3 if self.timer.reactions else None,
                "phrases": self.phrases, "dropped": self.dropped, "skipped": sum(vars(self.live.skipped).values()),
                "late_p99_ms": self.scheduler.log.summary()["p99_ms"]}

    # --- engine thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                wake = self._next_wake()
                timeout = MAX_WAIT if wake is None else min(MAX_WAIT, max(0.0, wake - time.perf_counter()))
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                if item is not None:
                    self._handle(item[1], item[0])
                self._tick(now := time.perf_counter())
                if self._queue.empty() and self.standby.wants(now, self.live.held_count):
                    self._rehearse(now)
        except BaseException as exc:  # noqa: BLE001 - reported by the owner; the notes are released below
            self.error = exc
            log.error("engine stopped: %s: %s", type(exc).__name__, exc)
        finally:
            self.scheduler.cancel_all()
            self.answer.finish(time.perf_counter())

    def _next_wake(self) -> float | None:
        if self.answer.active:
            return self.answer.wake_time()
        decision, rehearsal = self._decision_time(time.perf_counter()), self.standby.wake_time(self.live.held_count)
        return min((t for t in (rehearsal, None if decision is None else decision - self.decide_ahead()) if t is not None),
                   default=None)

    def decide_ahead(self) -> float:
        """How long before a silence's end the phrase end is decided (see DECIDE_AHEAD)."""
        least, first, most = DECIDE_AHEAD
        if not self._start_costs:
            return first
        return min(most, max(least, 1.5 * max(self._start_costs)))

    def _decision_time(self, now: float) -> float | None:
        """When the phrase will end if nothing else happens: the silence deadline moved onto the
        player's beat grid, or the clock's bar line (less the lookahead), whichever is first."""
        deadline = self.detector.deadline()
        held_timeout = self._last_note_time + HELD_KEY_TIMEOUT if self.live.held_count else None
        times = [t for t in (None if deadline is None else self._on_grid(deadline), self.detector.bar_deadline(now),
                             held_timeout) if t is not None]
        return min(times, default=None)

    def _on_grid(self, t: float) -> float:
        """The first beat of the player's grid at or after t; t itself with a running (ticking)
        clock, whose answers wait for its bar line anyway."""
        return t if self.clock.state(t) == "running" else self.responder.next_beat(t)

    def _handle(self, message, t: float) -> None:
        if self.clock.feed(message, t):
            return
        event = self.live.feed(message, t)
        if isinstance(event, (NoteOn, NoteOff)):
            self._last_note_time = t
        if isinstance(event, NoteOn):
            self.standby.note_on(t)  # the I/O process dropped the standby notes at this note-on
            if self.answer.active:
                self.answer.barge_in(t)
            if not self.detector.in_phrase:
                self.responder.start_call()
            self.detector.on_note_on(t)
            if event.chord_start:
                self.responder.hear(self.live.notes, t)
                self.detector.tempo_bpm = self.responder.tempo.bpm
        elif isinstance(event, NoteOff):
            self.detector.on_note_off(t, self.live.held_count)
            if self.live.held_count == 0 and self.detector.in_phrase:
                self.responder.hear(self.live.notes, t, final=True)  # the last note's length is known
                self.standby.rested()
        elif isinstance(event, ControlChange):
            before = self.responder.settings
            self.responder.settings = self.config.controls.apply(before, event.control, event.value)
            if self.responder.settings is not before:
                self.standby.settings_changed(self.live.held_count)  # rehearsed with the old settings
            if event.control in RELEASING_CONTROLS:  # all notes / sound off released the channel's keys
                self.detector.on_note_off(t, self.live.held_count)
            end = self.detector.on_cc(t, event.control, event.value)
            if end is not None:
                self._phrase_end(end, time.perf_counter())
            elif event.control == self.config.controls.end_cc:
                self.standby.drop_stray()

    def _tick(self, now: float) -> None:
        if self.answer.active:
            self.answer.tick(now)
            return
        decision = self._decision_time(now)
        if decision is not None and now >= decision - self.decide_ahead():
            at = max(now, decision)  # the phrase ends then; the answer's first note is due then
            if self.live.held_count and at >= self._last_note_time + HELD_KEY_TIMEOUT:
                self.live.release_held(now)  # forgotten, not only cut: kept, every later phrase would wait here too
                self.detector.on_note_off(now, 0)  # the silence starts now
                self._last_note_time, self.released_by_timeout = now, self.released_by_timeout + 1
                return
            end = self.detector.poll(at)
            if end is not None:
                self._phrase_end(end, at)

    def _rehearse(self, now: float) -> None:  # the footswitch's standby notes (live.standby)
        allowed = not (self.answer.active or not self.detector.can_end or self.clock.state(now) == "running")
        self.standby.rehearse(self.live.notes, self.live.held_count, now, allowed)

    def _phrase_end(self, end: PhraseEnd, decision: float) -> None:
        notes = self.live.take_phrase(end.time)
        start = self.clock.next_boundary(decision, self.config.sync)  # None unless the clock runs and ticks
        if start is not None:  # the answer's bars are the clock's, in --meter's length
            self.responder.given_bars = (self.clock.next_boundary(decision), self.clock.beats_per_bar * 60 / self.clock.bpm)
        footswitch = bool(notes) and start is None and end.reason == "control"
        fired = self.standby.take_fired(notes if footswitch else None, self.timer, decision, end.time)
        if not notes:
            self.standby.drop(fired)
            return
        self.phrases += 1
        if footswitch and fired is not None:  # the I/O process played the standby: the answer began there
            self.answer.start(notes, end.time, fired[0], None, played=fired[1])
        elif start is None:  # the answer starts at the decision: its reaction is timed
            self.standby.drop(fired)
            began = time.perf_counter()
            self.answer.start(notes, end.time, decision, None, decision=decision)
            self._start_costs.append(time.perf_counter() - began)
        else:
            self.standby.drop(fired)
            self.answer.start(notes, end.time, start, self.clock.bpm, clock=self.clock)


__all__ = ["Engine", "EngineConfig"]
