"""The records the engine's process and the real-time I/O process exchange through two pipes.

    from liveimpro.live.io_wire import RECORD, SCHEDULE, pack_event, unpack_event
    os.write(fd, pack_event(SCHEDULE, t, note_on(0, 60, 90), tag=ANSWER_TAG, group=3))

Every record is `RECORD_SIZE` (24) bytes, so a reader reassembles them from any split of the
stream and a writer's record is never torn: a pipe write of at most PIPE_BUF bytes is atomic.
Nothing is pickled: the fields are fixed binary, and a record of an unknown kind is skipped.

Engine -> I/O process:
- SCHEDULE (time, message, tag, group): send `message` (1 to 3 bytes) at `time`;
- CANCEL (tag, group): drop the pending events of `tag` up to `group` and release their notes;
- CANCEL_ALL: every pending event dropped, every note released;
- STOP: release everything and exit;
- STANDBY (message, group), then STANDBY_ARM (time, group, id): the answer's first note, rehearsed
  by the engine (`liveimpro.live.standby`) after the player's note-on at `time` (the I/O process
  arms it only if that is still its last note-on), with an id (`message`, one byte): written by
  the I/O process at the frame of the footswitch (the end CC) as the first note of answer `group`,
  if the footswitch comes before the player plays again. STANDBY_AFTER (time) and STANDBY_UNTIL
  (time) before the STANDBY_ARM: it is only good for a call whose last key went up in
  (after, until] (rehearsed while a key was held, for one span of the last note's length; the
  footswitch pressed with a key down counts as that key's release); without them, for any.
  Several are kept armed (ARMED_MAX); the newest that fits plays. STANDBY_CLEAR drops them all.
  STANDBY_FIRE (id): write that one now, at the next cycle's first frame (the footswitch came
  before it was armed; the engine knows the press, the I/O process saw nothing to play then),
  with no FIRED record;
- MOVE_FROM (time), then MOVE (time, tag, group): the group's pending events due at the first time
  (exactly the time they were scheduled at) are due at the second instead: an answer that follows
  a MIDI clock moves the notes it sent ahead when the clock's tempo changes (`liveimpro.live.
  answer`); the two records go in one write;

I/O process -> engine:
- READY (the sample rate in `group`, the period in frames in `time`): the ports are open;
- INPUT (time, message): a message heard on the input port, stamped from JACK's frame time;
- FIRST_SENT (time, tag, group): the first note-on of a group was written, at that time;
- BARGED (time, tag, group): the player's note-on cut the group there (the engine cuts it too);
- FIRED (time, group, id): the footswitch pressed at `time` played standby `id` there; sent just
  before the footswitch's own INPUT record, so the engine knows it when it ends the phrase;
- INPUT_LOST: the named input port went away (its held keys count as released);
- STATS: events sent, lateness median, p99 and max (µs), input dropped, late writes (see `Stats`);
- CLOCK_LEAD (time): how far the I/O process's timeline ran ahead of perf_counter since the last
  one (the most a cycle's start, in JACK's time of it, was ahead of perf_counter read in its
  callback; negative: behind). JACK's time of a cycle is a smoothed estimate that wanders off the
  machine's clock for seconds after a server stall; the engine compares its own clock with the
  player's stamps through it (`liveimpro.live.standby`). Sent with STATS.
- INPUT_UNUSED (time): as a float, how many well-formed messages of no use to the engine the
  I/O process has heard since it started (aftertouch, pitch bend, program change: they go no
  further; `liveimpro.live.io_cycle.UNUSED_KINDS`). Sent with STATS.

Times are `time.perf_counter()` seconds in both processes (CLOCK_MONOTONIC, shared by the
processes of one machine); the I/O process maps JACK's clock onto it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

RECORD = struct.Struct("<BBBxId3s5x")  # kind, size, tag, group, time, message (padded to 3 bytes)
STATS_RECORD = struct.Struct("<BxHIffII")  # kind, median µs (capped), sent, p99 µs, max µs, input dropped, late writes
RECORD_SIZE = RECORD.size
assert STATS_RECORD.size == RECORD_SIZE

SCHEDULE, CANCEL, CANCEL_ALL, STOP, STANDBY, STANDBY_ARM, STANDBY_CLEAR, STANDBY_FIRE = 1, 2, 3, 4, 5, 6, 7, 8
STANDBY_AFTER, STANDBY_UNTIL, MOVE_FROM, MOVE = 9, 10, 11, 12
READY, INPUT, FIRST_SENT, BARGED, INPUT_LOST, STATS, FIRED, CLOCK_LEAD, INPUT_UNUSED = 16, 17, 18, 19, 20, 21, 22, 23, 24
ANSWER_TAG = 1  # the wire's tag of the answer's events (liveimpro.live.answer.ANSWER); any other tag: 0
RELEASE_TAG = 2  # what a port connected again is sent (`all_notes_off`, io_ports' note-offs): a tag never cancelled
MAX_MESSAGE = 3  # bytes: channel and system messages; sysex stays in the I/O process (counted, dropped)


def pack_event(kind: int, t: float = 0.0, message: bytes = b"", tag: int = 0, group: int = 0) -> bytes:
    return RECORD.pack(kind, len(message), tag, group, t, bytes(message))


RECONNECT_SETTLE = 0.05  # s after a synth is connected (again) before All Notes Off is sent to it: JACK
# makes a connection in its next cycles, and what is written before then is not heard


def all_notes_off(channels, at: float) -> list[bytes]:
    """SCHEDULE records of All Notes Off (CC 123) on each of `channels`, at perf_counter time `at`:
    what a synth connected again may still sound from before (a killed I/O process, a synth gone
    and back) is released."""
    return [pack_event(SCHEDULE, at, bytes((0xB0 | channel, 123, 0)), RELEASE_TAG) for channel in sorted(channels)]


def unpack_event(record: bytes) -> tuple[int, float, bytes, int, int]:
    """(kind, time, message, tag, group) of one RECORD_SIZE record."""
    kind, size, tag, group, t, data = RECORD.unpack(record)
    return kind, t, data[:size], tag, group


@dataclass
class Stats:
    """What the I/O process last reported: answer events written, their lateness at the port
    (frame written against frame intended: 0 when the event arrived in time), input messages
    dropped (the engine's pipe was full, or sysex), and events that arrived after their frame."""
    sent: int = 0
    median_us: int = 0  # whole µs, at most 65,535
    p99_us: float = 0.0
    max_us: float = 0.0
    dropped: int = 0
    late_writes: int = 0

    def pack(self) -> bytes:
        return STATS_RECORD.pack(STATS, min(65535, max(0, round(self.median_us))), self.sent, self.p99_us, self.max_us,
                                 self.dropped, self.late_writes)

    @classmethod
    def unpack(cls, record: bytes) -> "Stats":
        _, median, sent, p99, worst, dropped, late = STATS_RECORD.unpack(record)
        return cls(sent, median, p99, worst, dropped, late)


class RecordReader:
    """Whole records out of a byte stream read in pieces."""

    def __init__(self):
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        data = self._rest + data
        whole = len(data) - len(data) % RECORD_SIZE
        self._rest = data[whole:]
        return [data[i:i + RECORD_SIZE] for i in range(0, whole, RECORD_SIZE)]


__all__ = ["RECONNECT_SETTLE", "all_notes_off", "ANSWER_TAG", "RELEASE_TAG", "RECORD", "RECORD_SIZE", "STATS_RECORD", "Stats", "RecordReader", "pack_event", "unpack_event",
           "SCHEDULE", "CANCEL", "CANCEL_ALL", "STOP", "STANDBY", "STANDBY_ARM", "STANDBY_CLEAR", "STANDBY_FIRE", "STANDBY_AFTER", "STANDBY_UNTIL", "MOVE_FROM", "MOVE", "FIRED", "READY", "INPUT", "FIRST_SENT", "BARGED", "INPUT_LOST",
           "STATS", "CLOCK_LEAD", "INPUT_UNUSED", "MAX_MESSAGE"]
