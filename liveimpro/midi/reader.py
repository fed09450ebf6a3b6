"""Messages taken off a MIDI input port by a thread of our own, not by an rtmidi callback.

    reader = PortReader(midi_in, engine.on_midi).start()   # midi_in: from liveimpro.midi.ports.open_input
    ...
    reader.stop()                                           # before midi_in.delete()

A `PortReader` hands each message on (to `Engine.on_midi`) from a thread of its own. Why not
a callback: on JACK a Python callback runs in JACK's process thread and must wait there for
the GIL; when another thread holds it past the end of the cycle (the engine thread between
bytecodes, the sender's spin, a busy machine), RtMidi goes on reading that cycle's events
from a buffer JACK has already reused: the callback is handed copies of an earlier message,
or messages of the next cycle, in place of the rest (measured: bursts of 38 messages into an
engine answering calls came out wrong 6 times in 60; read by a PortReader, never), and a
cycle missed altogether is lost. Nothing above RtMidi can tell: a lost or copied note-off
leaves a key held, and the phrase waits for the held-key timeout. Such a callback also
deadlocks the deletion of any other JACK client of the process (python-rtmidi holds the GIL
in delete(); JACK waits for every client's cycle to end). Without a callback RtMidi queues
each event in its own buffer without Python (`open_input` makes room for `INPUT_QUEUE`
messages; more are dropped), and the reader drains it every `interval` seconds: a message
is timestamped up to `interval` late. The reader thread asks for real-time priority
(SCHED_FIFO `priority`, above the sender's): on a busy machine a thread of normal priority
waits milliseconds for a CPU, and every message it reads is stamped that much late; where the
system refuses, it runs at normal priority and `realtime_problem` says why.
"""
from __future__ import annotations

import threading
from time import sleep
from typing import Callable

from ..machine import make_thread_realtime


class PortReader:
    """Drains a python-rtmidi MidiIn (with no callback set) from a thread, giving each message
    to `deliver((message, delta), None)`, the callback signature (`Engine.on_midi`), in order.
    Stop it before deleting the port; `deliver` must be quick (it is the engine's enqueue)."""

    def __init__(self, midi_in, deliver: Callable, interval: float = 0.0005, priority: int | None = 6):
        self.midi_in = midi_in
        self.deliver = deliver
        self.interval = interval  # s between polls of an empty port: the most a message waits
        self.priority = priority  # SCHED_FIFO priority of the reader thread; None: normal
        self.realtime_problem: str | None = None  # why it runs at normal priority, if it does
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
        while not stopping():
            event = get()
            if event is None:
                sleep(interval)
            else:
                deliver(event, None)


__all__ = ["PortReader"]
