"""The footswitch's standby notes in the real-time I/O process: which are armed, which one a press plays.

    standbys = ArmedStandbys()
    standbys.heard(message, t)        # every input message, in order: keys down, the last release
    standbys.receive(note_on) ...; standbys.window(after, until); standbys.arm(onset, group, ident)
    entry = standbys.take(t)          # the footswitch pressed at t: (after, until, group, ident, note-ons) or None

Runs in JACK's process thread (liveimpro.live.io_cycle's contract: it never blocks, no I/O, only
small objects). The engine (liveimpro.live.standby) rehearses the answer's first note at a rest
(good for any release) and, while a key is held, once per span of the last note's length
(liveimpro.tokens.grid.duration_span: every release in a span gives the model the same token),
each armed here with the span's release times. The press plays the newest one whose span holds
the call's last release: the time the last key went up, or the press itself with a key still
down (the engine ends held keys at the press). So a footswitch pressed in the very JACK cycle of
the release, before the engine has heard it, still plays at the press's frame.

A standby is armed only if it was rehearsed after the I/O process's last note-on (`onset`, that
note-on's time, which the engine took from the same record): one that crossed the player's next
note on the pipe belongs to a call that has moved on. Any note-on disarms them all.
"""
from __future__ import annotations

import math

from ..midi.messages import CONTROL_CHANGE, NOTE_ON, RELEASING_CONTROLS, is_note_off, message_kind
from .io_wire import STANDBY, STANDBY_AFTER, STANDBY_ARM, STANDBY_CLEAR, STANDBY_UNTIL

ARMED_MAX = 4  # kept armed, newest last: the held note's current span, the next one, a rest's


class ArmedStandbys:
    def __init__(self):
        self.armed: list[tuple] = []  # (after, until, group, ident, note-ons), oldest first
        self._next: list[bytes] = []  # note-ons being received (io_wire's STANDBY)
        self._after, self._until = -math.inf, math.inf  # the span of the one being received
        self.held: set[tuple[int, int]] = set()  # (channel, pitch) of the input's keys down
        self.last_note_on: float | None = None  # when the player last struck a key
        self.last_release = -math.inf  # when the last key down went up

    def heard(self, message: bytes, t: float) -> None:
        """An input message, heard at `t` (in order): a note-on disarms everything."""
        kind = message_kind(message[0])
        if len(message) < 3:
            return
        if kind == NOTE_ON and message[2] > 0:
            self.armed.clear()
            self.held.add((message[0] & 15, message[1]))
            self.last_note_on = t
        elif is_note_off(message) or (kind == CONTROL_CHANGE and message[1] in RELEASING_CONTROLS):
            before = len(self.held)
            if kind == CONTROL_CHANGE:
                self.held = {key for key in self.held if key[0] != message[0] & 15}
            else:
                self.held.discard((message[0] & 15, message[1]))
            if before and not self.held:
                self.last_release = t

    def command(self, kind: int, t: float, message: bytes, group: int) -> bool:
        """One of the engine's standby records (io_wire's STANDBY, STANDBY_AFTER, STANDBY_UNTIL,
        STANDBY_ARM, STANDBY_CLEAR) carried out; False for any other kind."""
        if kind == STANDBY:
            self.receive(message)
        elif kind in (STANDBY_AFTER, STANDBY_UNTIL):
            self.window(*((t, None) if kind == STANDBY_AFTER else (None, t)))
        elif kind == STANDBY_ARM:
            self.arm(t, group, message[0] if message else 0)
        elif kind == STANDBY_CLEAR:
            self.clear()
        else:
            return False
        return True

    def receive(self, note_on: bytes) -> None:
        self._next.append(note_on)

    def window(self, after: float | None = None, until: float | None = None) -> None:
        """The span of last releases the standby being received is good for."""
        if after is not None:
            self._after = after
        if until is not None:
            self._until = until

    def arm(self, onset: float, group: int, ident: int) -> None:
        note_ons, self._next = self._next, []
        after, until, self._after, self._until = self._after, self._until, -math.inf, math.inf
        if onset != self.last_note_on or not note_ons:
            return  # rehearsed before the player's last note-on reached the engine: stale
        self.armed.append((after, until, group, ident, note_ons))
        del self.armed[:-ARMED_MAX]

    def clear(self) -> None:
        self.armed.clear()
        self._next, self._after, self._until = [], -math.inf, math.inf

    def take(self, t: float) -> tuple | None:
        """The footswitch pressed at `t`: the newest standby whose span holds the call's last
        release, or None; every standby is disarmed either way."""
        release = t if self.held else self.last_release
        entry = next((a for a in reversed(self.armed) if a[0] < release <= a[1]), None)
        self.armed.clear()
        return entry

    def take_ident(self, ident: int) -> tuple | None:
        """The standby `ident` (the engine heard the press before it was armed here), disarming all."""
        entry = next((a for a in self.armed if a[3] == ident), None)
        self.armed.clear()
        return entry


__all__ = ["ArmedStandbys", "ARMED_MAX"]
