"""The engine's scheduler on the I/O process's path: `Scheduler`'s calls, carried out by the
real-time I/O process (`liveimpro.live.io_link.IoProcess`, whose `scheduler()` makes one).

    scheduler = io.scheduler(timer)          # an IoScheduler
    scheduler.begin(ANSWER); scheduler.schedule_many(events, ANSWER)   # packed into one pipe write
    scheduler.cancel(ANSWER)                 # cuts the tag's current group in the I/O process

`schedule_many` packs the events into one pipe write (`liveimpro.live.io_wire` records);
`cancel(tag)` cuts the tag's current group; `begin(tag)` starts a new group. The I/O process
writes each event at its frame, and cuts the answer itself when the player barges in. The
footswitch's standby note is armed, fired and taken here too (`liveimpro.live.standby`).
`IoLog` shapes the I/O process's lateness as `liveimpro.live.scheduler.SendLog`'s summary.
"""
from __future__ import annotations

import time

from ..midi.messages import NOTE_ON, as_message
from .answer import ANSWER
from .io_wire import (ANSWER_TAG, CANCEL, CANCEL_ALL, MOVE, MOVE_FROM, RECONNECT_SETTLE, SCHEDULE, STANDBY,
                      STANDBY_AFTER, STANDBY_ARM, STANDBY_CLEAR, STANDBY_FIRE, STANDBY_UNTIL, all_notes_off, pack_event)

TAGS = {ANSWER: ANSWER_TAG}  # scheduler tags on the wire (anything else: 0)
# s before the note before it starts that the answer hands each note to the I/O process (a beat at
# 120 bpm: two to four notes ahead), which writes it at its frame whatever duet's process does
# meanwhile: that process may be held off the CPU this long plus a note. Sampled one note ahead (as
# the previous note began), an answer's notes came up to 0.7 s after their frames with duet's
# process starved (bench_e2e's flood on a host stealing 13-41 %: README, "End to end"). When a
# followed clock's tempo changes, the notes handed over already are moved (`move`: liveimpro.live.answer).
STREAM_HORIZON = 0.5


class IoLog:
    """The I/O process's lateness, shaped as `liveimpro.live.scheduler.SendLog`'s summary."""

    def __init__(self, io):  # a liveimpro.live.io_link.IoProcess
        self.io = io

    @property
    def count(self) -> int:
        return self.io.stats.sent

    def summary(self) -> dict:
        s = self.io.stats
        return {"count": s.sent, "median_ms": s.median_us / 1e3, "p99_ms": s.p99_us / 1e3, "max_ms": s.max_us / 1e3,
                "late_writes": s.late_writes}


class IoScheduler:
    """`Scheduler`'s calls, carried out by the I/O process (see the module docstring)."""

    realtime = True  # JACK's process thread
    realtime_problem = None
    horizon = STREAM_HORIZON  # (liveimpro.live.answer)

    def __init__(self, io):  # a liveimpro.live.io_link.IoProcess
        self.io = io
        self.log = IoLog(io)
        self.overdue = 0
        self.errors = 0
        self._groups: dict[int, int] = {}
        self._channels: set[int] = set()  # channels it sent note-ons on (All Notes Off after a restart)
        io.on_restarted = self._release_after_restart

    def start(self) -> "IoScheduler":
        return self

    @property
    def timeline_lead(self) -> float:
        """s the I/O process's timeline, which stamps the player's notes, runs ahead of perf_counter."""
        return self.io.timeline_lead

    def _tag(self, tag) -> tuple[int, int]:
        wire = TAGS.get(tag, 0)
        return wire, self._groups.get(wire, 0)

    def begin(self, tag) -> None:
        wire = TAGS.get(tag, 0)
        self._groups[wire] = self._groups.get(wire, 0) + 1

    def schedule(self, t: float, message, tag=None) -> None:
        self.schedule_many([(t, message)], tag)

    def schedule_many(self, events, tag=None) -> None:
        wire, group = self._tag(tag)
        now = time.perf_counter()
        records = []
        for t, message in events:
            self.overdue += t < now
            message = as_message(message)
            if message[0] & 0xF0 == NOTE_ON:
                self._channels.add(message[0] & 0x0F)
            records.append(pack_event(SCHEDULE, float(t), message, wire, group))
        self.io.post(b"".join(records))

    def move(self, moves, tag=None) -> None:
        """(old, new) times: the tag's current group's pending events scheduled at `old` go at
        `new` (the I/O process moves them; any gone already stay gone)."""
        wire, group = self._tag(tag)
        self.io.post(b"".join(pack_event(MOVE_FROM, float(old)) + pack_event(MOVE, float(new), b"", wire, group)
                              for old, new in moves))

    def _release_after_restart(self) -> None:
        """What a killed I/O process left sounding, at a synth the new one is connected to again
        (--out): All Notes Off on each channel we played on, once JACK made the connections."""
        self.io.post(b"".join(all_notes_off(self._channels, time.perf_counter() + RECONNECT_SETTLE)))

    def cancel(self, tag) -> int:
        wire, group = self._tag(tag)
        self.io.post(pack_event(CANCEL, 0.0, b"", wire, group))
        self.begin(tag)
        return 0

    def cancel_all(self) -> int:
        self.io.post(pack_event(CANCEL_ALL))
        for wire in self._groups:
            self._groups[wire] += 1
        return 0

    def stop(self, drain: bool = False, timeout: float | None = None) -> None:
        self.cancel_all()

    # --- the footswitch's standby note (liveimpro.live.io_cycle) ------------------------------------
    @property
    def standby_ready(self) -> bool:
        """Whether the I/O process plays a standby note on the footswitch (it knows the end CC)."""
        return self.io.end_cc is not None

    def standby(self, messages, tag, onset: float, ident: int, span: tuple[float, float] | None = None) -> None:
        """Arm `messages` (the rehearsed first note's note-ons) as the start of `tag`'s next group, as
        standby `ident` (0-255), rehearsed after the player's note-on at `onset`; `span`: (after, until],
        the call's last releases it is good for (None: any)."""
        wire, group = self._tag(tag)
        window = [] if span is None else [pack_event(STANDBY_AFTER, span[0]), pack_event(STANDBY_UNTIL, span[1])]
        self.io.post(b"".join([pack_event(STANDBY, 0.0, as_message(m), wire, group + 1) for m in messages] + window
                              + [pack_event(STANDBY_ARM, onset, bytes((ident,)), wire, group + 1)]))

    def clear_standby(self) -> None:
        self.io.post(pack_event(STANDBY_CLEAR))

    def fire_standby(self, ident: int) -> None:
        """Play standby `ident` now (the footswitch came before it was armed)."""
        self.io.post(pack_event(STANDBY_FIRE, 0.0, bytes((ident,))))

    def take_fired(self, tag) -> tuple[float, int] | None:
        """(when, id) if the footswitch played a standby note as the start of `tag`'s next group
        (that group begins with the next `begin`), else None; taken once."""
        fired, self.io.fired = self.io.fired, None
        if fired is None:
            return None
        wire, group = self._tag(tag)
        if fired[1] != group + 1:  # armed before the groups moved on: it starts nothing, released now
            self.io.post(pack_event(CANCEL, 0.0, b"", wire, fired[1]))
            return None
        return fired[0], fired[2]


__all__ = ["IoScheduler", "IoLog", "TAGS"]
