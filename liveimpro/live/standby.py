"""The footswitch's standby note: an answer's first note, ready before the footswitch is pressed.

    standby = Standby(responder, scheduler)      # the engine's; does nothing without an I/O process
    standby.rehearse(notes, now)                 # the player rests: rehearse and arm the first note
    fired = standby.take_fired(notes, timer, t)  # at the footswitch's phrase end: (time, pitches) if it played
    standby.drop(fired)                          # a standby that starts no answer: released at once

A footswitch ends the phrase at an instant nobody knows ahead, so an engine that starts the answer
when it hears the press adds its whole start-up (ending the call, the key, the first sample: 1-5
ms) and every hop between threads and processes to the reaction. With the real-time I/O process
(`liveimpro.live.io_cycle`) the engine instead rehearses, whenever the player rests with the
phrase open (every key up), the first note the answer would start with
(`Responder.rehearse_first`, which leaves the model, the key, the tempo memory and the random
generator as they were) and arms it there; the I/O process writes it at the footswitch's own frame,
in the cycle the press arrives in, and tells the engine, which then starts the very same answer
from that note on (`AnswerStream.start(played=...)`). A key played disarms it (in the I/O process
at once; the engine rehearses again after the release); a setting moved by a CC rehearses again.

The rehearsal needs the last note's length (a token carries it), so it starts at the last release:
a footswitch pressed within the rehearsal's time of the release (1-3 ms) finds nothing armed. When
the engine then ends the phrase on that press with the note rehearsed for these very notes, it
asks the I/O process to play it at once (`take_fired(notes)`: STANDBY_FIRE) and starts the answer
from it, instead of sampling the same note a second time before anything sounds. A footswitch
pressed before the rehearsal began starts the answer the usual way. A standby played for a phrase
the engine ended otherwise, or rehearsed with settings since changed, is released or replaced at
once, never left sounding.
"""
from __future__ import annotations

import time

from ..midi.messages import note_on
from .answer import ANSWER


class Standby:
    def __init__(self, responder, scheduler):
        self.responder = responder
        self.scheduler = scheduler  # liveimpro.live.io_scheduler.IoScheduler, or a scheduler with no standby
        self.ready = bool(getattr(scheduler, "standby_ready", False))
        self.due = False  # the engine should rehearse at its next idle moment
        self.pitches: tuple[int, ...] | None = None  # the note armed
        self._notes: tuple = ()  # the phrase's notes it was rehearsed from
        self.rehearsals = 0
        self.fired = 0  # played at the footswitch's own frame
        self.fired_late = 0  # armed after the footswitch, played at the engine's word

    def rehearse(self, notes, now: float) -> None:
        """Rehearse the answer's first note from the phrase's `notes` and arm it."""
        if not self.ready:
            return
        note = self.responder.rehearse_first(notes, now)
        if note is None:
            return
        channel = self.responder.settings.channel
        self.scheduler.standby([note_on(channel, p, note.velocity) for p in note.pitches], ANSWER)
        self.pitches, self._notes = note.pitches, tuple(notes)
        self.rehearsals += 1

    def take_fired(self, notes=None, timer=None, decision: float = 0.0) -> tuple[float, tuple[int, ...]] | None:
        """(when, pitches) if the footswitch played the armed note; the standby is spent either way.
        `notes`: the phrase the footswitch just ended (decided at `decision`), whose reaction
        `timer` (live.answer.ReactionTimer) times: 0 when the note went out at the footswitch's
        frame; a note armed for exactly these notes that the footswitch found not yet armed is
        played now, and timed from `decision` to the frame the I/O process reports."""
        if not self.ready:
            return None
        when = self.scheduler.take_fired(ANSWER)
        pitches, self.pitches = self.pitches, None
        if when is not None and notes is not None:
            timer.reactions.append(0.0)  # written at the footswitch's own frame
            self.fired += 1
        elif pitches is not None and notes is not None and tuple(notes) == self._notes:
            timer.arm(decision)  # before the I/O process can report the note written (FIRST_SENT)
            self.scheduler.fire_standby()
            when = time.perf_counter()
            self.fired_late += 1
        self.scheduler.clear_standby()
        return None if when is None else (when, pitches)

    def drop_stray(self) -> None:
        """The end CC moved and ended nothing: a standby it played is released (it stays armed else)."""
        when = self.scheduler.take_fired(ANSWER) if self.ready else None
        if when is not None:
            self.pitches = None
            self.drop((when, ()))

    def drop(self, fired) -> None:
        """`fired` (take_fired's) starts no answer: its note is released now."""
        if fired is not None:
            self.scheduler.begin(ANSWER)  # its group
            self.scheduler.cancel(ANSWER)  # cut: the I/O process releases it


__all__ = ["Standby"]
