"""The live engine: MIDI in, phrase detection, a primed model, streamed answers, MIDI/audio out.

Three threads, each with one job (python-rtmidi's midifilter/sequencer pattern):

- the input (`on_midi`, called by a `liveimpro.midi.reader.PortReader` thread, or by any rtmidi-style
  caller) only timestamps each message and puts it in a bounded queue (`queue_size`); when the
  queue is full the message is dropped and counted, it never blocks;
- the engine thread (`_run`) turns messages into notes, feeds each call note to the model as
  it arrives (`Responder.hear`), decides when the phrase has ended, and streams the answer:
  the first note is sampled at once, each next one while the previous one sounds;
- the sender thread (`liveimpro.live.scheduler.Scheduler`) sends every event at its time.

Turn-taking: a phrase ends after a silence of `silence_beats` of the player's tempo (at least
`min_silence` s), rounded up to the next beat of the player's grid so that the answer starts on
the beat; or when the end CC is pressed; or, with a running MIDI clock and `bars` set, after
that many bars — then the answer starts on the next bar line (`sync="bar"`) or beat. When the
player plays while an answer sounds, the answer stops at once: pending notes dropped,
note-offs sent — the player always wins.

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
from .controls import ControlMap
from ..music.settings import LiveSettings
from ..midi.messages import RELEASING_CONTROLS
from .input import ControlChange, LiveInput, NoteOff, NoteOn
from ..music.phrase import PhraseDetector, PhraseEnd
from ..melody import Melody, Note
from ..music.responder import AnswerNote, Responder, cut
from .scheduler import Scheduler
from ..midi.messages import note_off, note_on

log = logging.getLogger(__name__)
_STOP = object()  # the sentinel the engine thread stops on
ANSWER = "answer"  # scheduler tag of the answer's events
GENERATE_AFTER = 0.004  # s after a note starts before the next is sampled: away from the send
BAR_LOOKAHEAD = 0.25  # beats before the bar line at which a "bars" phrase end is decided, so that
# the answer is ready to start on that bar line (a note in the call's last quarter beat is not heard)
HELD_KEY_TIMEOUT = 8.0  # s: keys "held" this long with nothing else played count as released (a lost
# note-off must not keep the engine from ever answering)
MAX_WAIT = 0.1  # s: the engine thread wakes at least this often (stop flag, status)


@dataclass
class EngineConfig:
    silence_beats: float = 1.0  # beats of silence (player's tempo) that end a phrase
    min_silence: float = 0.35  # seconds: the silence is at least this long
    bars: int | None = None  # with a running MIDI clock: the phrase ends after this many bars
    sync: str = "bar"  # with a running clock the answer starts on the next "bar" or "beat"
    queue_size: int = 4096  # input messages waiting for the engine thread; more are dropped
    controls: ControlMap = field(default_factory=ControlMap)  # CC -> live setting
    settings: LiveSettings = field(default_factory=LiveSettings)  # the live settings at start


class ReactionTimer:
    """Wraps the output sink and times the first answer note-on after `arm()`: the reaction
    from the phrase-end decision to the note leaving for the port. Called in the sender thread."""

    def __init__(self, sink, history: int = 1000):
        self.sink = sink
        self.reactions: deque[float] = deque(maxlen=history)  # seconds
        self._armed_at: float | None = None

    def arm(self, decision_time: float) -> None:
        self._armed_at = decision_time

    def send(self, message: bytes) -> None:
        self.sink.send(message)
        if self._armed_at is not None and message[0] & 0xF0 == 0x90 and message[2] > 0:
            self.reactions.append(time.perf_counter() - self._armed_at)
            self._armed_at = None


class Engine:
    def __init__(self, responder: Responder, sink, config: EngineConfig | None = None, recorder=None):
        self.config = config or EngineConfig()
        self.responder = responder
        self.responder.settings = self.config.settings
        self.sink = sink  # closed by the engine's owner, after stop()
        self.timer = ReactionTimer(sink)
        self.scheduler = Scheduler(self.timer)
        self.recorder = recorder  # liveimpro.live.recorder.SessionRecorder or None
        self.clock = MidiClock()
        self.live = LiveInput()
        self.detector = PhraseDetector(self.config.silence_beats, self.config.min_silence,
                                       end_cc=self.config.controls.end_cc, bars=self.config.bars,
                                       lookahead=BAR_LOOKAHEAD, clock=self.clock if self.config.bars else None)
        self.state = "listening"  # or "answering"
        self.received = 0  # input messages on_midi was given
        self.dropped = 0  # input messages dropped because the queue was full
        self.phrases = 0  # answers started
        self.released_by_timeout = 0  # phrases whose held keys were let go by HELD_KEY_TIMEOUT
        self._last_note_time = 0.0  # the last note-on or note-off heard
        self.error: BaseException | None = None  # what stopped the engine thread, if anything
        self._queue: queue.Queue = queue.Queue(self.config.queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._answer = None  # iterator of AnswerNote while answering
        self._next_generate: float | None = None  # when to sample the next answer note
        self._answer_end = 0.0  # when the last scheduled answer note ends
        self._call: tuple = ()  # the notes of the call being answered
        self._sent: list[AnswerNote] = []  # answer notes whose note-off is scheduled
        self._pending: AnswerNote | None = None  # the answer note whose note-off waits for the next

    # --- owner side ------------------------------------------------------------------------------
    def start(self) -> "Engine":
        self.scheduler.start()
        self._thread = threading.Thread(target=self._run, name="liveimpro-engine", daemon=True)
        self._thread.start()
        return self

    def on_midi(self, event, data=None) -> None:
        """The input, with python-rtmidi's callback signature. Contract: timestamp, enqueue, return; never blocks,
        allocates only the queued tuple, drops (and counts) when the queue is full."""
        self.received += 1
        try:
            self._queue.put_nowait((time.perf_counter(), event[0]))
        except queue.Full:
            self.dropped += 1

    feed = on_midi  # for callers that hold messages, not rtmidi events: feed(([0x90, 60, 90], 0))

    def release_all_keys(self) -> None:
        """The input went away with keys down: they count as released now (All Notes Off on every
        channel), so the phrase ends and is answered. Not counted as received."""
        now = time.perf_counter()
        for channel in range(16):
            try:
                self._queue.put_nowait((now, [0xB0 | channel, 123, 0]))
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

    def status(self) -> dict:
        r = self.responder
        return {"state": self.state, "bpm": r.tempo.bpm if r.tempo else None,
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
                self._tick(time.perf_counter())
        except BaseException as exc:  # noqa: BLE001 - reported by the owner; the notes are released below
            self.error = exc
            log.error("engine stopped: %s: %s", type(exc).__name__, exc)
        finally:
            self.scheduler.cancel_all()
            self._finish_answer(time.perf_counter())

    def _next_wake(self) -> float | None:
        if self.state == "answering":
            return self._next_generate if self._next_generate is not None else self._answer_end
        return self._decision_time(time.perf_counter())

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
            if self.state == "answering":
                self._barge_in(t)
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
        elif isinstance(event, ControlChange):
            self.responder.settings = self.config.controls.apply(self.responder.settings, event.control, event.value)
            if event.control in RELEASING_CONTROLS:  # all notes / sound off released the channel's keys
                self.detector.on_note_off(t, self.live.held_count)
            end = self.detector.on_cc(t, event.control, event.value)
            if end is not None:
                self._phrase_end(end, time.perf_counter())

    def _tick(self, now: float) -> None:
        if self.state == "answering":
            if self._next_generate is not None and now >= self._next_generate:
                self._generate()
            elif self._next_generate is None and now >= self._answer_end:
                self._finish_answer(now)
            return
        decision = self._decision_time(now)
        if decision is not None and now >= decision:
            if self.live.held_count and now >= self._last_note_time + HELD_KEY_TIMEOUT:
                self.live.release_held(now)  # forgotten, not only cut: kept, every later phrase would wait here too
                self.detector.on_note_off(now, 0)  # the silence starts now
                self._last_note_time, self.released_by_timeout = now, self.released_by_timeout + 1
                return
            end = self.detector.poll(now)
            if end is not None:
                self._phrase_end(end, now)

    def _phrase_end(self, end: PhraseEnd, decision: float) -> None:
        notes = self.live.take_phrase(end.time)
        if not notes:
            return
        start = self.clock.next_boundary(decision, self.config.sync)  # None unless the clock runs and ticks
        synced = start is not None
        if not synced:
            start = decision
        self._answer = self.responder.answer(notes, end.time, start, self.clock.bpm if synced else None)
        self._call, self._sent = notes, []
        self.state, self.phrases = "answering", self.phrases + 1
        if not synced:
            self.timer.arm(decision)
        self._generate()

    def _generate(self) -> None:
        """Sample the next answer note: schedule its note-on, and the previous note's note-off
        (cut where this one begins)."""
        note = next(self._answer, None)
        channel, previous = self.responder.settings.channel, self._pending
        events = []
        if previous is not None:
            previous = cut(previous, note.time if note is not None else previous.time + previous.duration)
            events += [(previous.time + previous.duration, note_off(channel, p)) for p in previous.pitches]
            self._sent.append(previous)
            self._answer_end = previous.time + previous.duration
        if note is not None:
            # the first note is due at the decision itself: it goes now (the reaction time says how
            # long after); the lateness log then measures the scheduler alone
            on_time = max(note.time, time.perf_counter())
            events += [(on_time, note_on(channel, p, note.velocity)) for p in note.pitches]
            self._next_generate = note.time + GENERATE_AFTER
        else:
            self._next_generate = None
        self._pending = note
        self.scheduler.schedule_many(events, ANSWER)

    def _barge_in(self, now: float) -> None:
        self.scheduler.cancel(ANSWER)
        if self._pending is not None and self._pending.time < now:
            self._sent.append(cut(self._pending, now))
        self._sent = [n for n in self._sent if n.time < now]
        self._finish_answer(now)

    def _finish_answer(self, now: float) -> None:
        if self._answer is None:
            return
        if self.recorder is not None and self._call:
            self._record(now)
        self._answer, self._pending, self._next_generate, self.state = None, None, None, "listening"

    def _record(self, now: float) -> None:
        """Call and answer into the session file, written at once (between phrases: a crash
        loses at most the phrase in progress)."""
        responder = self.responder
        self.recorder.add("call", responder.call_melody(self._call, now), responder.origin)
        if self._sent:
            start = self._sent[0].time  # the answer in seconds: a melody at 60 bpm, one beat a second
            notes = [Note(p, n.time - start, n.duration, n.velocity) for n in self._sent for p in n.pitches
                     if n.duration > 0]
            self.recorder.add("answer", Melody(tuple(notes), tempo=60.0), start)
        self.recorder.write()


__all__ = ["Engine", "EngineConfig", "ReactionTimer"]
