"""Where MIDI messages go: a small Sink interface, the note bookkeeping every sink shares,
and the sinks for a MIDI port, for several sinks at once and for memory.

    sink = MidiPortSink.open(None)         # virtual port "liveimpro out"
    sink.send(note_on(0, 60, 90))
    sink.close()                           # note-offs for what still sounds, then CC 123 and 120

Every note-on a sink sends gets its note-off: `SoundingNotes` counts note-ons not yet
released, and `panic()` / `close()` release them and send All Notes Off (CC 123) and
All Sound Off (CC 120) on every channel used.

A port that goes away must not stop the performance: when writing raises, the sink marks
itself gone, counts the failure, logs one warning naming the notes that may be left
sounding (nothing can reach a gone port, so no note-off can be sent to it) and drops
what it is given afterwards. Writing to a JACK port never fails, not even after its server's
death, so whoever watches the ports (`liveimpro.midi.reconnect`) takes the port away with
`MidiPortSink.replace_port(None, reason)`, and gives one back with `replace_port(port)`: the
lost notes' note-offs go there.
"""
from __future__ import annotations

import logging
import threading
import time

from ..midi.messages import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    NOTE_OFF,
    NOTE_ON,
    channel_of,
    control_change,
    message_kind,
    note_off,
)

log = logging.getLogger(__name__)

CLOSE_FLUSH = 0.05  # seconds between the last message and closing a port: two JACK periods of 1024 frames


def left_sounding(notes) -> str:
    """What a port gone may still be sounding, as duet says it: "2 note(s) may be left sounding: ch1:60, ch1:64"."""
    return f"{len(notes)} note(s) may be left sounding: " + (", ".join(f"ch{c + 1}:{p}" for c, p in notes) or "none")


class SoundingNotes:
    """Note-ons sent and not yet released, per (channel, pitch), counted; not thread-safe
    (its owner holds a lock). A note-off for a key that is not sounding is ignored."""

    def __init__(self):
        self._counts: dict[tuple[int, int], int] = {}
        self.channels: set[int] = set()  # every channel a note-on went to, for the panic CCs

    def update(self, message: bytes) -> None:
        kind = message_kind(message[0])
        if kind not in (NOTE_ON, NOTE_OFF) or len(message) < 3:
            return
        key = (channel_of(message[0]), message[1])
        if kind == NOTE_ON and message[2] > 0:
            self._counts[key] = self._counts.get(key, 0) + 1
            self.channels.add(key[0])
        elif key in self._counts:
            if self._counts[key] == 1:
                del self._counts[key]
            else:
                self._counts[key] -= 1

    def __len__(self) -> int:
        return sum(self._counts.values())

    def __contains__(self, note: tuple[int, int]) -> bool:
        """Whether (channel, pitch) is sounding."""
        return note in self._counts

    def notes(self) -> list[tuple[int, int]]:
        """(channel, pitch) of every sounding note, sorted."""
        return sorted(self._counts)

    def release(self) -> list[bytes]:
        """One note-off per unreleased note-on; afterwards nothing is sounding."""
        offs = [note_off(channel, pitch) for (channel, pitch), count in sorted(self._counts.items())
                for _ in range(count)]
        self._counts.clear()
        return offs

    def panic_messages(self) -> list[bytes]:
        """All Notes Off and All Sound Off on every channel used."""
        return [control_change(channel, cc, 0) for channel in sorted(self.channels)
                for cc in (ALL_NOTES_OFF, ALL_SOUND_OFF)]


class Sink:
    """Takes MIDI messages now. Subclasses implement `_write` (may raise: the sink is then gone)
    and `_close`; this class does the bookkeeping and the locking, so any thread may call it.

    Contract of send(): never raises, never blocks longer than the backend's write; after the
    sink is gone or closed, messages are dropped and counted in `dropped`.
    """

    name = "sink"

    def __init__(self):
        self.sounding = SoundingNotes()
        self.gone = False  # writing failed: the port or device is no longer there
        self.failures = 0  # writes that raised
        self.dropped = 0  # messages not written because the sink was gone or closed
        self.lost_notes: list[tuple[int, int]] = []  # (channel, pitch) sounding when the sink went away
        self._closed = False
        self._lock = threading.Lock()

    def send(self, message: bytes) -> None:
        with self._lock:
            self._send_locked(message)

    def panic(self) -> None:
        """Note-offs for every sounding note, then All Notes Off + All Sound Off on the channels used."""
        with self._lock:
            for message in self.sounding.release() + self.sounding.panic_messages():
                self._send_locked(message)

    def close(self) -> None:
        """panic(), then free the backend; idempotent."""
        with self._lock:
            if self._closed:
                return
            for message in self.sounding.release() + self.sounding.panic_messages():
                self._send_locked(message)
            self._closed = True
            try:
                self._close()
            except Exception as exc:  # a backend that cannot close cleanly is closed all the same
                log.warning("%s: error while closing: %s", self.name, exc)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send_locked(self, message: bytes) -> None:
        if self.gone or self._closed:
            self.dropped += 1
            return
        try:
            self._write(message)
        except Exception as exc:
            self.failures += 1
            self._mark_gone(str(exc))
            return
        self.sounding.update(message)

    def _mark_gone(self, reason: str) -> None:
        """Nothing reaches the backend any more: remember what was sounding (no note-off can reach
        it now) and start dropping."""
        self.gone = True
        self.lost_notes = self.sounding.notes()
        self.sounding.release()
        log.warning("%s is gone (%s); %s", self.name, reason, left_sounding(self.lost_notes))

    def _write(self, message: bytes) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class MidiPortSink(Sink):
    """An rtmidi MidiOut port. The sink owns the port: close() closes and deletes it."""

    def __init__(self, midi_out, name: str = "MIDI output"):
        super().__init__()
        self._out = midi_out
        self.name = name

    @classmethod
    def open(cls, port: str | None = None, api: str | None = None,
             client_name: str = "liveimpro") -> "MidiPortSink":
        """The virtual port "<client_name> out" when `port` is None, else the first output matching it."""
        from ..midi.ports import open_output
        return cls(open_output(port, api=api, client_name=client_name),
                   name=f"MIDI output {port or client_name + ' out'!r}")

    def replace_port(self, midi_out, reason: str = "port closed") -> None:
        """Play to `midi_out` from now on (a reconnection) and delete the old port; `None` leaves
        the sink without a port, gone for `reason`. Notes lost with the old port get their note-offs on the
        new one, in case they still sound there (a device unplugged and plugged back in)."""
        with self._lock:
            old, self._out = self._out, midi_out
            if midi_out is None:
                if not self.gone:
                    self._mark_gone(reason)
            else:
                self.gone, lost, self.lost_notes = False, self.lost_notes, []
                for channel, pitch in lost:
                    self._send_locked(note_off(channel, pitch))
        if old is not None:  # outside the lock: closing a client of a dead JACK server takes a second
            self._delete_port(old, flush=False)

    def _write(self, message: bytes) -> None:
        if self._out is None:
            raise ConnectionError("no port")
        self._out.send_message(message)

    def _close(self) -> None:
        if self._out is not None:
            self._delete_port(self._out, flush=True)
            self._out = None

    @staticmethod
    def _delete_port(midi_out, flush: bool) -> None:
        # rtmidi's JACK backend hands messages to the next JACK cycles through a ring buffer, and
        # closing the port in the cycle that carries the last ones garbles them (the receiver gets
        # copies of the first message): give the last note-offs a few cycles to leave.
        if flush:
            time.sleep(CLOSE_FLUSH)
        # no send reaches it: it is deleted under the sink's lock, or after it was swapped out
        from ..midi.ports import close_client

        close_client(midi_out)


class FanoutSink:
    """Several sinks at once (a MIDI port and FluidSynth), with the Sink interface; one member going
    away leaves the others playing. The bookkeeping is the members' own."""

    def __init__(self, sinks):
        self.sinks = list(sinks)
        self.name = " + ".join(sink.name for sink in self.sinks)

    @property
    def gone(self) -> bool:
        return all(sink.gone for sink in self.sinks)

    def send(self, message: bytes) -> None:
        for sink in self.sinks:
            sink.send(message)

    def panic(self) -> None:
        for sink in self.sinks:
            sink.panic()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MemorySink(Sink):
    """Keeps (time, message) for every message, time from `clock`: for offline rendering of what
    the scheduler sent and for checking it. Unbounded: meant for one performance, not a server."""

    name = "memory"

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.clock = clock
        self.messages: list[tuple[float, bytes]] = []

    def _write(self, message: bytes) -> None:
        self.messages.append((self.clock(), message))


__all__ = ["Sink", "MidiPortSink", "FanoutSink", "MemorySink", "SoundingNotes", "left_sounding"]
