"""Send MIDI messages at precise times from a sender thread.

    scheduler = Scheduler(sink).start()
    t0 = time.perf_counter() + 0.05
    scheduler.schedule(t0, note_on(0, 60, 90), tag="answer")
    scheduler.schedule(t0 + 0.5, note_off(0, 60), tag="answer")
    scheduler.cancel("answer")      # barge-in: pending events dropped, sounding notes released now
    scheduler.stop()                # nothing left sounding

Times are absolute `time.perf_counter()` seconds (CLOCK_MONOTONIC on Linux). The thread
sleeps on a condition variable until `spin` seconds before the first event (so an earlier
event or a cancellation wakes it), then busy-waits for the rest and sends: never early,
late only by what the OS and the GIL add. Two things add most (scripts/bench_scheduler.py
measures them):
- other processes: a thread of normal priority that wakes or spins waits for a CPU when the
  machine is busy, milliseconds on two loaded cores. The sender thread asks for real-time
  priority (SCHED_FIFO, low priority `priority`, below audio threads); where the system
  refuses (no CAP_SYS_NICE / rtprio limit, macOS, Windows) it runs at normal priority and
  `realtime_problem` says why. On Linux it also sets its timer slack to 1 ns.
- the GIL: the woken sender needs it, and waits while another thread runs Python code, up to
  sys.getswitchinterval() (5 ms by default). The spin margin (2 ms) absorbs that wait when the
  other thread's Python runs in short bursts between operators that release the GIL, as the
  engine's model steps do. A shorter switch interval (`switch_interval`, set process-wide at
  start) serves a thread busy in pure Python for long stretches, but then that thread takes
  the GIL back during the spin, and if the OS has descheduled it meanwhile the sender waits:
  with torch work beside it, 5 ms measured better than 0.5-2.5 ms. So by default it is left.
At one instant note-offs go before other messages, so a repeated key is released before it
strikes again; otherwise events of one instant keep the order they were scheduled in.
The heap is unbounded: the engine schedules one phrase at a time.
"""
from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from array import array

from ..machine import make_thread_realtime
from ..midi.messages import as_message, is_note_off, note_off, note_on
from .sinks import SoundingNotes

_STOP = object()  # the sentinel the sender thread stops on


def melody_events(melody, start: float = 0.0, channel: int = 0) -> list[tuple[float, bytes]]:
    """(seconds, message) for every note of a Melody, its beat 0 at `start` seconds, at its tempo:
    for Scheduler.schedule_many (start = a perf_counter time) and synth.render (start = 0)."""
    per_beat = melody.seconds_per_beat()
    events = []
    for note in melody.notes:
        events.append((start + note.onset * per_beat, note_on(channel, note.pitch, note.velocity)))
        events.append((start + note.end * per_beat, note_off(channel, note.pitch)))
    return sorted(events, key=lambda e: (e[0], not is_note_off(e[1])))


class SendLog:
    """Ring buffer of (scheduled, sent) times of the last `size` events, preallocated so the
    sender thread only stores two floats per event."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.scheduled = array("d", bytes(8 * size))
        self.sent = array("d", bytes(8 * size))
        self.count = 0  # events sent since start (the buffer keeps the last `size`)
        self.max_late = 0.0  # seconds, over every event sent

    def add(self, scheduled: float, sent: float) -> None:
        i = self.count % self.size
        self.scheduled[i] = scheduled
        self.sent[i] = sent
        self.count += 1
        if sent - scheduled > self.max_late:
            self.max_late = sent - scheduled

    def lateness_ms(self):
        """numpy array: sent - scheduled in ms for the events in the buffer, oldest first."""
        import numpy as np
        if self.count <= self.size:
            order = np.arange(self.count)
        else:
            order = np.roll(np.arange(self.size), -(self.count % self.size))
        return (np.frombuffer(self.sent, dtype=np.float64)[order]
                - np.frombuffer(self.scheduled, dtype=np.float64)[order]) * 1000.0

    def summary(self) -> dict:
        """count, median_ms, p99_ms, max_ms (max over the whole run; the percentiles over the buffer)."""
        import numpy as np
        late = self.lateness_ms()
        if late.size == 0:
            return {"count": 0, "median_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        return {"count": self.count, "median_ms": float(np.median(late)),
                "p99_ms": float(np.percentile(late, 99)), "max_ms": self.max_late * 1000.0}


class Scheduler:
    # How far ahead of its time the answer hands a note over (liveimpro.live.answer): none here. The
    # sender shares this interpreter with the model, so the next note is sampled just after the one
    # before it is sent (GENERATE_AFTER), not while a send is near.
    horizon = 0.0
    # How far the timeline that stamps the player's notes runs ahead of perf_counter: none, the
    # input here is stamped on perf_counter (RtMidi's deltas anchored to it: liveimpro.midi.reader);
    # IoScheduler's is the I/O process's JACK time.
    timeline_lead = 0.0

    def __init__(self, sink, spin: float = 0.002, switch_interval: float | None = None,
                 realtime: bool = True, priority: int = 5, history: int = 4096):
        self.sink = sink
        self.spin = spin  # seconds before an event when sleeping gives way to busy-waiting
        self.switch_interval = switch_interval  # GIL switch interval set at start if lower; None: leave it
        self.priority = priority if realtime else None  # SCHED_FIFO priority of the sender; None: normal
        self.realtime_problem: str | None = None  # why the sender runs at normal priority, if it does
        self.log = SendLog(history)
        self.overdue = 0  # events whose time had passed when they were scheduled (sent at once)
        self.errors = 0  # sink.send calls that raised (a sink should not; the thread carries on)
        self._heap: list = []  # (time, 0 for note-off else 1, sequence, message, tag)
        self._sequence = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self._sounding: dict[object, SoundingNotes] = {}  # per tag: notes this scheduler started
        self._thread: threading.Thread | None = None
        self._stopped = False

    # --- caller side -------------------------------------------------------------------------
    def start(self) -> "Scheduler":
        if self.switch_interval is not None and sys.getswitchinterval() > self.switch_interval:
            sys.setswitchinterval(self.switch_interval)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="liveimpro-sender", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    @property
    def realtime(self) -> bool:
        """Whether the sender thread runs at real-time priority (known once start() returned)."""
        return self.priority is not None and self.realtime_problem is None

    def begin(self, tag) -> None:
        """A new group of `tag`'s events begins (an answer). Nothing to do here: this scheduler
        cancels by tag; the real-time I/O process's (liveimpro.live.io_link) cuts one group."""

    def schedule(self, t: float, message, tag=None) -> None:
        """Send `message` (bytes or a sequence of ints) at perf_counter time `t`; tag groups
        events for cancel(). ValueError for a malformed message, RuntimeError after stop()."""
        self.schedule_many([(t, message)], tag)

    def schedule_many(self, events, tag=None) -> None:
        """Several (time, message) at once: one lock, one wake-up."""
        entries = [(float(t), 0 if is_note_off(m) else 1, next(self._sequence), m, tag)
                   for t, m in ((t, as_message(m)) for t, m in events)]
        now = time.perf_counter()
        with self._cond:
            if self._stopped:
                raise RuntimeError("scheduler is stopped")
            first = self._heap[0] if self._heap else None
            for entry in entries:
                heapq.heappush(self._heap, entry)
                self.overdue += entry[0] < now
            if self._heap[0] is not first:
                self._cond.notify()

    def move(self, moves, tag=None) -> None:
        """(old, new) times: `tag`'s pending events scheduled at `old` go at `new` instead (an
        answer following a clock whose tempo changed: liveimpro.live.answer); sent ones stay sent."""
        moved = {float(old): float(new) for old, new in moves}
        with self._cond:
            self._heap[:] = [(moved[e[0]],) + e[1:] if e[4] == tag and e[0] in moved else e for e in self._heap]
            heapq.heapify(self._heap)
            self._cond.notify()

    def cancel(self, tag) -> int:
        """Drop the pending events of `tag` and release the notes it has sounding, at once.
        Returns how many pending events were dropped."""
        with self._cond:
            kept = [e for e in self._heap if e[4] != tag]
            dropped = len(self._heap) - len(kept)
            self._heap[:] = kept
            heapq.heapify(self._heap)
            if tag in self._sounding:
                self._release_locked(self._sounding[tag])
            self._cond.notify()
            return dropped

    def cancel_all(self) -> int:
        """Drop every pending event and release every note this scheduler has sounding."""
        with self._cond:
            dropped = len(self._heap)
            self._heap.clear()
            for notes in self._sounding.values():
                self._release_locked(notes)
            self._cond.notify()
            return dropped

    def stop(self, drain: bool = False, timeout: float | None = None) -> None:
        """Stop the sender thread, then release every sounding note. Pending events are dropped,
        or with drain=True sent first (for at most `timeout` seconds, then dropped).
        The sink stays open: its owner closes it."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._push_stop_locked(drain)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # drain ran past the timeout
                with self._cond:
                    self._push_stop_locked(drain=False)
                self._thread.join()
        with self._cond:  # the thread released everything; this covers a thread never started
            for notes in self._sounding.values():
                self._release_locked(notes)

    def _push_stop_locked(self, drain: bool) -> None:
        if not drain:
            self._heap.clear()
        last = max((e[0] for e in self._heap), default=float("-inf"))
        heapq.heappush(self._heap, (last, 2, next(self._sequence), _STOP, None))  # after events at `last`
        self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def next_due(self) -> float | None:
        """perf_counter time of the next pending event, None if there is none: a thread that
        holds the GIL in long stretches can keep clear of the sender's spin before it."""
        with self._cond:
            return self._heap[0][0] if self._heap else None

    def sounding(self, tag=None) -> list[tuple[int, int]]:
        """(channel, pitch) of the notes this scheduler started and has not released (tag None: all)."""
        with self._cond:
            groups = self._sounding.values() if tag is None else [self._sounding.get(tag, SoundingNotes())]
            return sorted(note for notes in groups for note in notes.notes())

    # --- sender thread -----------------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        if self.priority is not None:
            self.realtime_problem = make_thread_realtime(self.priority)
        ready.set()
        cond, heap, clock, spin = self._cond, self._heap, time.perf_counter, self.spin
        with cond:
            while True:
                if not heap:
                    cond.wait()
                    continue
                entry = heap[0]
                remaining = entry[0] - clock()
                if remaining > spin:
                    cond.wait(remaining - spin)
                    continue
                if remaining > 0:
                    cond.release()
                    try:
                        while clock() < entry[0]:
                            pass
                    finally:
                        cond.acquire()
                    continue  # the head may have been cancelled or preceded meanwhile
                heapq.heappop(heap)
                if entry[3] is _STOP:
                    for notes in self._sounding.values():
                        self._release_locked(notes)
                    return
                sent = clock()
                self._send_locked(entry[3], entry[4])
                self.log.add(entry[0], sent)

    def _send_locked(self, message: bytes, tag) -> None:
        try:
            self.sink.send(message)
        except Exception:
            self.errors += 1
        notes = self._sounding.get(tag)
        if notes is None:
            notes = self._sounding[tag] = SoundingNotes()
        notes.update(message)

    def _release_locked(self, notes: SoundingNotes) -> None:
        for message in notes.release():
            try:
                self.sink.send(message)
            except Exception:
                self.errors += 1


__all__ = ["Scheduler", "SendLog", "melody_events", "make_thread_realtime"]
