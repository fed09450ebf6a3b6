"""Messages taken off a MIDI input port by a thread of our own, not by an rtmidi callback, each
with the time it arrived by the MIDI system's own clock.

    reader = PortReader(midi_in, engine.on_midi).start()   # midi_in: from liveimpro.midi.ports.open_input
    ...
    reader.stop()                                           # before midi_in.delete()

A `PortReader` hands each message on, as `deliver((message, delta), at)` (`Engine.on_midi`), from
a thread of its own. Why not a callback: on JACK a Python callback runs in JACK's process thread
and must wait there for the GIL; when another thread holds it past the end of the cycle (the
engine thread between bytecodes, the sender's spin, a busy machine), RtMidi goes on reading that
cycle's events from a buffer JACK has already reused: the callback is handed copies of an earlier
message, or messages of the next cycle, in place of the rest (measured: bursts of 38 messages into
an engine answering calls came out wrong 6 times in 60; read by a PortReader, never), and a cycle
missed altogether is lost. Such a callback also deadlocks the deletion of any other JACK client of
the process (python-rtmidi holds the GIL in delete(); JACK waits for every client's cycle to end).
Without a callback RtMidi queues each event in its own buffer without Python (`open_input` makes
room for `INPUT_QUEUE` messages; more are dropped), and the reader drains it every `interval`
seconds, at real-time priority (SCHED_FIFO `priority`, above the sender's) where the system
allows it (else `realtime_problem` says why).

`at`, the arrival time (time.perf_counter() seconds), comes from RtMidi's delta times, which
RtMidi takes when the MIDI system hands it the message (on JACK, in JACK's process thread: the
cycle's time), not from when the reader got to it: a reader waiting for the GIL or a CPU no longer
moves a message's time (the ticks of a MIDI clock, a player's onsets). `ArrivalTimes` anchors the
deltas to perf_counter. RtMidi's clock moves on for the messages it ignores too, so nothing is
ignored in RtMidi (callers set ignore_types all False): the reader drops `drop`'s status bytes
itself (by default `DROPPED`: system exclusive, active sensing) after counting their time.
"""
from __future__ import annotations

import math
import threading
from time import perf_counter, sleep
from typing import Callable

from ..machine import make_thread_realtime

DROPPED = frozenset({0xF0, 0xFE})  # system exclusive, active sensing: of no use to the engine
RESYNC = 0.002  # s: arrival times this much earlier than every read of a `WINDOW` are re-anchored
WINDOW = 1.0  # s of reads


class ArrivalTimes:
    """perf_counter times of messages from their delta times: the first message's time plus the
    sum of the deltas since. The first message's time is the least of (read time - sum) over the
    messages read: a message is read after it arrived, never before, so the least is the read
    that waited least. A message RtMidi lost (its queue full) takes its delta with it, and every
    later time would come early by it: when a whole `WINDOW` of reads has them `RESYNC` early or
    more, the anchor moves to that window's least. Times never run backwards, nor past the read."""

    def __init__(self):
        self.elapsed = 0.0  # the MIDI system's seconds since the first message
        self.anchor = math.inf  # perf_counter time of the first message, as best known
        self._window_least, self._window_end = math.inf, -math.inf

    def at(self, delta: float, read: float) -> float:
        self.elapsed += delta
        candidate = read - self.elapsed
        if candidate < self.anchor:
            self.anchor = candidate
        if candidate < self._window_least:
            self._window_least = candidate
        if read >= self._window_end:
            if self._window_least - self.anchor > RESYNC:
                self.anchor = self._window_least
            self._window_least, self._window_end = math.inf, read + WINDOW
        return self.anchor + self.elapsed


class PortReader:
    """Drains a python-rtmidi MidiIn (with no callback set, ignoring nothing) from a thread, giving
    each message to `deliver((message, delta), at)`, in order. Stop it before deleting the port;
    `deliver` must be quick (it is the engine's enqueue)."""

    def __init__(self, midi_in, deliver: Callable, interval: float = 0.0005, priority: int | None = 6,
                 drop: frozenset[int] = DROPPED):
        self.midi_in = midi_in
        self.deliver = deliver
        self.drop = drop  # status bytes not handed on (their time is still counted)
        self.interval = interval  # s between polls of an empty port: the most a message waits
        self.priority = priority  # SCHED_FIFO priority of the reader thread; None: normal
        self.realtime_problem: str | None = None  # why it runs at normal priority, if it does
        self.times = ArrivalTimes()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PortReader":
        self._thread = threading.Thread(target=self._run, name="liveimpro-input", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        if self.priority is not None:
            self.realtime_problem = make_thread_realtime(self.priority)
        get, deliver, interval, stopping = self.midi_in.get_message, self.deliver, self.interval, self._stop.is_set
        arrived, drop = self.times.at, self.drop
        while not stopping():
            event = get()
            if event is None:
                sleep(interval)
                continue
            at = arrived(event[1], perf_counter())
            message = event[0]
            if message and message[0] not in drop:
                deliver(event, at)


__all__ = ["PortReader", "ArrivalTimes", "DROPPED"]
