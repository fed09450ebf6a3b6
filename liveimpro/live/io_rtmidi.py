"""The real-time I/O process on python-rtmidi (ALSA, CoreMIDI; JACK through RtMidi too):
a sender that sleeps until the next event and spins the last fraction of a millisecond.

    loop = RtMidiLoop(port_sink, event_fd, barge_in=True, end_cc=64)
    Connections(name_in, name_out, api, on_midi=loop.on_midi, sink=port_sink, ...).start()
    threading.Thread(target=loop.run).start()    # SCHED_FIFO where allowed; loop.stopping = True ends it

On JACK the I/O process runs `IoCycle` in JACK's own cycles (`liveimpro.live.io_process`). Other
MIDI systems have no cycles, so `RtMidiLoop` makes them: each pass of its thread is a cycle that
starts now and lasts `SPIN` s, on a microsecond timeline (the frames `IoCycle` counts are µs here):
- the engine's commands are taken (the pipe's reader wakes the loop);
- the input heard since the last pass is handled at the times it arrived (RtMidi's delta times,
  liveimpro.midi.reader's `PortReader`, which wakes the loop): before the pass, so what it starts
  (the footswitch's standby note, a barge-in's note-offs) is sent at once, first;
- the events due within the pass are sent at their times: the loop spins for each, never more than
  `SPIN` s; one that came after its time goes at once and is counted late, by how late it was sent.
Between passes the thread sleeps until `SPIN` s before the next event's time, or until input or a
command comes (at most `IDLE` s: the stop flag). In this process nothing else runs that holds the
GIL for long (the input's reader, the commands' reader, the port watch every 0.5 s), and no model.

`IoCycle`'s contract holds here too, with one difference: the port is written from this thread,
not from a callback, so what the MIDI system's send costs (microseconds on ALSA) is this thread's.
"""
from __future__ import annotations

import threading
from collections import deque
from time import perf_counter

from ..machine import make_thread_realtime
from .io_cycle import IoCycle

RATE = 1_000_000  # IoCycle's frames per second here: microseconds
SPIN = 0.001  # s: a pass sends the events due this soon, spinning for each; the loop wakes this early
IDLE = 0.05  # s: the longest sleep
PRIORITY = 7  # SCHED_FIFO: above the input's reader (6)
LATE_US = 100.0  # an event sent more than this after its time counts as late (the 0.1 ms)


class PassClock:
    """IoCycle's clock: the start of the current pass, on perf_counter's timeline already."""

    offset = 0.0

    def __init__(self):
        self.t0 = 0.0

    def cycle_start(self) -> float:
        return self.t0

    def calibrate(self) -> None:
        pass


class HeardInput:
    """IoCycle's input port: the messages the reader delivered, at the times they arrived (µs
    offsets from the pass's start: negative, they came before it)."""

    def __init__(self, clock: PassClock):
        self.clock = clock
        self.queue: deque = deque()  # (at, message): appended by the reader's thread

    def incoming_midi_events(self):
        t0, queue = self.clock.t0, self.queue
        while queue:
            at, message = queue.popleft()
            yield (at - t0) * RATE, message


class TimedOutput:
    """IoCycle's output port: each event is sent at its time, the thread spinning until then."""

    def __init__(self, sink, clock: PassClock):
        self.sink, self.clock = sink, clock  # sink: a liveimpro.live.sinks.MidiPortSink
        self.sent_at = 0.0  # when the last event went to the port

    def clear_buffer(self) -> None:
        pass

    def write_midi_event(self, offset: float, message) -> None:
        due = self.clock.t0 + offset / RATE
        while perf_counter() < due:
            pass
        self.sink.send(bytes(message))
        self.sent_at = perf_counter()


class LoopCycle(IoCycle):
    def _written(self, offset: float, t0: float) -> float:
        return self.outport.sent_at  # when it really went: the lateness is the send's, not the plan's


class RtMidiLoop:
    def __init__(self, sink, event_fd: int, barge_in: bool = True, end_cc: int | None = None):
        self.clock = PassClock()
        self.input = HeardInput(self.clock)
        self.cycle = LoopCycle(self.input, TimedOutput(sink, self.clock), self.clock, RATE, event_fd,
                               barge_in=barge_in, end_cc=end_cc, late_after_us=LATE_US)
        self.wake = threading.Event()
        self.stopping = False  # set after the release (the cycle releases on STOP, on the pipe's end)
        self.realtime_problem: str | None = None

    def on_midi(self, event, at: float) -> None:
        """The input's reader: (message, delta), arrival time. Queued; the loop wakes."""
        self.input.queue.append((at, event[0]))
        self.wake.set()

    def run(self) -> None:
        """The loop (see the module docstring), until `stopping` is set."""
        self.realtime_problem = make_thread_realtime(PRIORITY)
        cycle, clock, wake, queue = self.cycle, self.clock, self.wake, self.input.queue
        frames = int(SPIN * RATE)
        while not self.stopping:
            wake.clear()
            clock.t0 = perf_counter()
            cycle.process(frames)
            due = cycle.next_due()
            wait = IDLE if due is None else min(IDLE, due - SPIN - perf_counter())
            if wait > 0 and not cycle.inbox and not queue:
                wake.wait(wait)


__all__ = ["RtMidiLoop", "RATE", "SPIN"]
