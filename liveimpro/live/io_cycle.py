"""What the real-time I/O process does in each JACK cycle: stamp the input, write the answer.

`IoCycle.process(frames)` is JACK-Client's process callback, run in JACK's real-time thread of
the I/O process (`liveimpro.live.io_process`), which runs nothing else that holds the GIL for
long: a thread blocked on the engine's pipe and a main thread that sleeps. Its contract:

- it never blocks and never waits for another thread: commands from the engine arrive in a
  deque (appended by the pipe-reading thread; append/popleft are atomic) and are taken at the
  start of the cycle; input goes out with one non-blocking write to the engine's pipe per message
  (a pipe of 64 KiB: 2,700 records; when it is full the message is dropped and counted: the
  engine is not reading, and a blocked real-time thread would stop every JACK client);
- no logging, no file I/O; its allocations are Python's small objects (tuples, bytes);
- input the engine has no use for (aftertouch, pitch bend, program change: `UNUSED_KINDS`) is
  counted and goes no further, so a flood of it costs the engine's process nothing;
- input is stamped from JACK's frame time: the cycle's first frame (`jack_get_cycle_times`) plus
  the event's frame offset, mapped to perf_counter seconds (`liveimpro.midi.jack_clock.JackClock`): the same timeline as
  the output's frames, so the answer lands on the call's grid as every JACK client hears it;
- each output event is written at the frame offset of its time in the cycle that holds it:
  sample-accurate. An event that arrives after its frame is written at the cycle's first frame
  and counted as late, with how late;
- the footswitch: the engine rehearses the answer's first note while the player rests, and while a
  key is held once per span of its length, and sends each as a standby (`liveimpro.live.io_standby`
  keeps them and picks the one the call's last release fits); the end CC's press writes it at the
  press's frame, in the same cycle, before the engine has even heard the press or the release
  (any note-on from the player disarms them); armed after the press (the engine was still
  rehearsing), it goes out at the first frame of the cycle after the engine's STANDBY_FIRE;
- barge-in: a note-on from the player (velocity > 0) while an answer has notes sounding or
  pending cuts the answer at that note's frame, in the same cycle: pending answer events are
  dropped, sounding answer notes get note-offs at that offset, and the group is marked cut, so
  answer events of that group still on their way from the engine are dropped too. The engine
  hears the note-on and cuts its side (`liveimpro.live.answer.AnswerStream.barge_in`).
"""
from __future__ import annotations

import heapq
import itertools
import os
from array import array
from collections import deque
from time import perf_counter

from ..midi.jack_clock import JackClock
from ..midi.messages import (ACTIVE_SENSING, CHANNEL_AFTERTOUCH, CONTROL_CHANGE, DATA_BYTES, NOTE_ON, PITCH_BEND,
                             POLY_AFTERTOUCH, PROGRAM_CHANGE, SYSEX, is_note_off, message_kind, note_on)
from .io_standby import ArmedStandbys
from .io_wire import (ANSWER_TAG, BARGED, CANCEL, CANCEL_ALL, FIRED, FIRST_SENT, INPUT, MAX_MESSAGE, MOVE, MOVE_FROM,
                      RELEASE_TAG, SCHEDULE, STANDBY_FIRE, STOP, pack_event, unpack_event)
from .sinks import SoundingNotes

LATENESS_HISTORY = 4096  # events whose lateness the stats keep
# Messages the engine has no use for (liveimpro.live.input counts them as `unused`): counted here and
# never sent on. Passed on, a 5,000 a second flood of them (bench_e2e's) is 5,000 records a second
# for duet's process to read and skip, in Python, beside the model: some of the answer's events
# then reached this process after their frames (3 of 172 in a 20-call run; none since).
UNUSED_KINDS = frozenset({POLY_AFTERTOUCH, PROGRAM_CHANGE, CHANNEL_AFTERTOUCH, PITCH_BEND})


class IoCycle:
    def __init__(self, inport, outport, clock: JackClock, rate: int, event_fd: int, barge_in: bool = True,
                 end_cc: int | None = None, late_after_us: float | None = None):
        self.inport, self.outport, self.clock, self.rate = inport, outport, clock, rate
        self.event_fd = event_fd  # non-blocking: the engine's end
        self.barge_in = barge_in
        self.end_cc = end_cc  # the footswitch's controller: its press plays a standby note, if one is armed
        self.standbys = ArmedStandbys()
        self._pedal_down = False  # the end CC's last value was >= 64 (any channel, as the engine counts it)
        self.inbox: deque[bytes] = deque()  # engine records, appended by the pipe reader
        self.sent = 0  # scheduled events written (a standby the footswitch played is not: no time of its own)
        self.late_writes = 0  # events written after their frame
        self.dropped = 0  # input messages not passed on (the engine's pipe full; sysex; active sensing)
        self.unused = 0  # well-formed input of no use to the engine (UNUSED_KINDS), not passed on
        self.lateness_us = array("f", bytes(4 * LATENESS_HISTORY))
        self.max_late_us = 0.0
        # an event written later than this after its time counts as late (default: a frame)
        self.late_after_us = 1e6 / rate if late_after_us is None else late_after_us
        self.errors = 0  # cycles that raised (each is told once by the main thread)
        self.error = ""  # the first of them
        self.parent_gone = False  # the engine's pipe is closed: release everything and stop
        self.stop_requested = False  # the engine sent STOP
        self.released = False  # everything was released after STOP, CANCEL_ALL or the engine's end
        self._heap: list = []  # (time, 0 note-off / 1 other, sequence, message, tag, group)
        self._sequence = itertools.count()
        self._sounding: dict[int, SoundingNotes] = {}  # per tag
        self._cut: dict[int, int] = {}  # per tag: the highest group cut (its events are dropped)
        self._latest: dict[int, int] = {}  # per tag: the highest group scheduled
        self._first_sent: set[tuple[int, int]] = set()  # (tag, group) whose first note-on went out
        self._release_now = False
        self._move_from = 0.0  # the time of the events the next MOVE record moves (MOVE_FROM's)
        self._t0 = 0.0  # the current cycle's start
        self.played = [False] * 16  # the channels a note-on went out on (read by the port keeper)
        self.lead = float("-inf")  # the most a cycle's start ran ahead of perf_counter (reset by the stats)

    # --- JACK's real-time thread ------------------------------------------------------------------
    def process(self, frames: int) -> None:
        try:
            self._cycle(frames)
        except Exception as exc:  # noqa: BLE001 - JACK would drop the client: counted, told by the main thread
            self.errors += 1
            self.error = self.error or f"{type(exc).__name__}: {exc}"

    def _cycle(self, frames: int) -> None:
        t0 = self._t0 = self.clock.cycle_start()
        lead = t0 - perf_counter()  # JACK's time of the cycle against the machine's (io_wire's CLOCK_LEAD)
        if lead > self.lead:
            self.lead = lead
        inbox = self.inbox
        while inbox:
            self._command(inbox.popleft())
        self.outport.clear_buffer()
        rate, writes = self.rate, []
        end = t0 + frames / rate
        heap = self._heap
        while heap and heap[0][0] < end:
            entry = heapq.heappop(heap)
            offset = min(frames - 1, max(0, int((entry[0] - t0) * rate + 0.5)))
            writes.append((offset, entry[1], entry[2], entry[3], entry[4], entry[5], entry[0]))
        for offset, data in self.inport.incoming_midi_events():
            self._heard(bytes(data), t0 + offset / rate, offset, writes)
        if self._release_now or self.parent_gone:
            self._release_all(writes)
            self._release_now, self.released = False, True
        writes.sort()
        for offset, _order, _seq, message, tag, group, due in writes:
            self._write(offset, message, tag, group, due, t0)

    def _heard(self, message: bytes, t: float, offset: int, writes: list) -> None:
        if len(message) > MAX_MESSAGE or message[0] in (SYSEX, ACTIVE_SENSING):
            self.dropped += 1
            return
        kind = message_kind(message[0])
        if kind in UNUSED_KINDS and len(message) == 1 + DATA_BYTES[kind] and max(message[1:]) < 0x80:
            self.unused += 1  # (a malformed one goes on: the engine counts it so)
            return
        played = kind == NOTE_ON and len(message) == 3 and message[2] > 0
        self.standbys.heard(message, t)  # a note-on disarms them: the engine rehearses again after it
        if kind == CONTROL_CHANGE and len(message) == 3 and message[1] == self.end_cc:
            pressed = message[2] >= 64 and not self._pedal_down
            self._pedal_down = message[2] >= 64
            if pressed and self.standbys.armed:
                self._fire(t, offset, writes)  # FIRED goes up before the CC's INPUT record
        try:
            os.write(self.event_fd, pack_event(INPUT, t, message))
        except BlockingIOError:
            self.dropped += 1
        except (BrokenPipeError, OSError):
            self.parent_gone = True
        if played and self.barge_in and self._answer_live(writes, offset):
            self._barge(t, offset, writes)

    def _fire(self, t: float, offset: int, writes: list) -> None:
        """The footswitch: the standby note that fits the call's end starts its answer group at the
        press's frame."""
        entry = self.standbys.take(t)
        if entry is None or entry[2] <= self._cut.get(ANSWER_TAG, -1):
            return
        _, _, group, ident, note_ons = entry
        self._latest[ANSWER_TAG] = max(self._latest.get(ANSWER_TAG, 0), group)
        writes.extend((offset, 1, next(self._sequence), m, ANSWER_TAG, group, None) for m in note_ons)
        self._emit(pack_event(FIRED, t, bytes((ident,)), ANSWER_TAG, group))

    def _fire_now(self, ident: int) -> None:
        """The engine heard the footswitch before standby `ident` was armed here: it goes out at this
        cycle's first frame, as its answer group's first note (FIRST_SENT tells the engine when)."""
        entry = self.standbys.take_ident(ident)
        if entry is None or entry[2] <= self._cut.get(ANSWER_TAG, -1):
            return
        _, _, group, _, note_ons = entry
        self._latest[ANSWER_TAG] = max(self._latest.get(ANSWER_TAG, 0), group)
        for message in note_ons:
            heapq.heappush(self._heap, (self._t0, 1, next(self._sequence), message, ANSWER_TAG, group))

    def sounding_notes(self) -> list[tuple[int, int]]:
        """(channel, pitch) of every note sounding at the output, for the port keeper's thread: a
        snapshot of the cycle's sets, taken again if the cycle changed one meanwhile."""
        while True:
            try:
                return sorted({note for sounding in list(self._sounding.values()) for note in sounding.notes()})
            except RuntimeError:  # a set changed size while it was read
                continue

    def _answer_live(self, writes: list, offset: int) -> bool:
        sounding = self._sounding.get(ANSWER_TAG)
        return bool((sounding is not None and len(sounding)) or any(e[4] == ANSWER_TAG for e in self._heap)
                    or any(w[4] == ANSWER_TAG for w in writes))

    def _barge(self, t: float, offset: int, writes: list) -> None:
        """The player's note-on at `offset` cuts the answer there (see the module docstring)."""
        kept = [w for w in writes if w[4] != ANSWER_TAG or w[0] < offset]
        notes, sounding = SoundingNotes(), self._sounding.get(ANSWER_TAG)
        for channel, pitch in sounding.notes() if sounding is not None else ():
            notes.update(note_on(channel, pitch, 1))
        for w in sorted(kept):
            if w[4] == ANSWER_TAG:
                notes.update(w[3])
        writes[:] = kept + [(offset, 0, next(self._sequence), m, ANSWER_TAG, -1, t) for m in notes.release()]
        self._heap[:] = [e for e in self._heap if e[4] != ANSWER_TAG]
        heapq.heapify(self._heap)
        group = self._latest.get(ANSWER_TAG, 0)
        self._cut[ANSWER_TAG] = max(self._cut.get(ANSWER_TAG, -1), group)
        self._emit(pack_event(BARGED, t, b"", ANSWER_TAG, group))

    def _write(self, offset: int, message: bytes, tag: int, group: int, due: float, t0: float) -> None:
        if tag == RELEASE_TAG and self._struck_again(message):
            return
        try:
            self.outport.write_midi_event(offset, message)
        except Exception:  # noqa: BLE001 - a full buffer (JACK-Client raises JackError): counted as dropped
            self.dropped += 1
            return
        sounding = self._sounding.get(tag)
        if sounding is None:
            sounding = self._sounding[tag] = SoundingNotes()
        sounding.update(message)
        if message_kind(message[0]) == NOTE_ON:
            self.played[message[0] & 15] = True
        if group < 0:  # a release: not a scheduled event
            return
        written = self._written(offset, t0)
        if due is not None:  # None: a standby note the footswitch played, whose delay is the reaction's
            late_us = max(0.0, (written - due) * 1e6)
            self.lateness_us[self.sent % LATENESS_HISTORY] = late_us
            self.sent += 1
            if late_us > self.late_after_us:  # on JACK more than a frame: it came after its frame
                self.late_writes += 1
            self.max_late_us = max(self.max_late_us, late_us)
        if (message_kind(message[0]) == NOTE_ON and message[2] > 0 and (tag, group) not in self._first_sent):
            self._first_sent.add((tag, group))
            self._emit(pack_event(FIRST_SENT, written, b"", tag, group))

    def _struck_again(self, message: bytes) -> bool:
        """A port keeper's note-off for a note an output held when it went (liveimpro.live.io_ports),
        queued to go once the port is back, whose pitch another tag (an answer, a standby) has struck
        again since: written, it would cut that new note. Left out, the new note's own note-off ends
        both (a synth releases every voice of a key at its note-off)."""
        if not is_note_off(message):
            return False
        note = (message[0] & 15, message[1])
        return any(note in sounding for tag, sounding in self._sounding.items() if tag != RELEASE_TAG)

    def _written(self, offset: int, t0: float) -> float:
        return t0 + offset / self.rate  # its frame (liveimpro.live.io_rtmidi: when it was sent)

    def next_due(self) -> float | None:
        """The time of the next pending event, if any (liveimpro.live.io_rtmidi sleeps until then)."""
        return self._heap[0][0] if self._heap else None

    def _release_all(self, writes: list) -> None:
        """Every pending event dropped (this cycle's too); every sounding note released at the
        cycle's first frame. A note released twice (a barge-in's note-off in this cycle) is only a
        second note-off."""
        self._heap.clear()
        writes[:] = [w for w in writes if w[5] < 0]  # releases only
        for tag, sounding in self._sounding.items():
            writes.extend((0, 0, next(self._sequence), m, tag, -1, 0.0) for m in sounding.release())

    def _command(self, record: bytes) -> None:
        kind, t, message, tag, group = unpack_event(record)
        if kind == SCHEDULE:
            if group <= self._cut.get(tag, -1):
                return  # cut by a barge-in before the engine knew
            self._latest[tag] = max(self._latest.get(tag, 0), group)
            heapq.heappush(self._heap, (t, 0 if is_note_off(message) else 1, next(self._sequence), message, tag, group))
        elif kind == CANCEL:
            self._cut[tag] = max(self._cut.get(tag, -1), group)
            self._heap[:] = [e for e in self._heap if not (e[4] == tag and e[5] <= group)]
            heapq.heapify(self._heap)
            sounding = self._sounding.get(tag)
            if sounding is not None:
                for message in sounding.release():
                    heapq.heappush(self._heap, (0.0, 0, next(self._sequence), message, tag, -1))
        elif kind == MOVE_FROM:
            self._move_from = t
        elif kind == MOVE:
            self._move(tag, group, self._move_from, t)
        elif self.standbys.command(kind, t, message, group):
            pass
        elif kind == STANDBY_FIRE:
            self._fire_now(message[0] if message else 0)
        elif kind in (CANCEL_ALL, STOP):
            self._release_now, self.released = True, False
            self.stop_requested = self.stop_requested or kind == STOP

    def _move(self, tag: int, group: int, old: float, new: float) -> None:
        """The engine's events of `tag`'s `group` due at `old` are due at `new` instead (the
        followed clock changed tempo after they were sent); gone already, nothing moves."""
        heap = self._heap
        heap[:] = [(new,) + e[1:] if e[0] == old and e[4] == tag and e[5] == group else e for e in heap]
        heapq.heapify(heap)

    def _emit(self, record: bytes) -> None:
        try:
            os.write(self.event_fd, record)
        except BlockingIOError:
            pass
        except OSError:
            self.parent_gone = True


__all__ = ["IoCycle", "ANSWER_TAG"]
