"""The footswitch's standby notes: an answer's first note, ready before the footswitch is pressed.

    standby = Standby(responder, scheduler)      # the engine's; does nothing without an I/O process
    standby.note_on(t); standby.rested()         # the engine heard a key go down; every key go up
    if standby.wants(now, keys_held):            # idle moments: rehearse and arm a first note
        standby.rehearse(notes, keys_held, now, allowed)
    fired = standby.take_fired(notes, timer, t)  # at the footswitch's phrase end: (time, pitches) if it played
    standby.drop(fired)                          # a standby that starts no answer: released at once

A footswitch ends the phrase at an instant nobody knows ahead, so an engine that starts the answer
when it hears the press adds its whole start-up (ending the call, the key, the first sample: 1-5
ms) and every hop between threads and processes to the reaction. With the real-time I/O process
(`liveimpro.live.io_cycle`) the engine instead rehearses the first note the answer would start
with (`Responder.rehearse_first`, which leaves the model, the key, the tempo memory and the random
generator as they were) and arms it there; the I/O process writes it at the footswitch's own
frame, in the cycle the press arrives in, and tells the engine, which then starts the very same
answer from that note on (`AnswerStream.start(played=...)`).

When it rehearses:
- while a key is held: the answer's first note depends on the last note's length (a token carries
  it, rounded to the grid), so it is rehearsed for one span of lengths at a time
  (`liveimpro.tokens.grid.duration_span`: every release in the span feeds the model the same
  token), released at the span's middle, and armed with the span's release times; the next span's
  is rehearsed HELD_LEAD before that span opens. The I/O process plays the one whose span holds
  the call's last release (`liveimpro.live.io_standby`): a footswitch pressed in the very JACK
  cycle of the release, or with the key still down, plays at its own frame too. The rest of the
  answer is then made from the real release; what else depends on it (the key's weights, the bar
  grid) rarely changes the first note, and when it does the answer plays its own at once
  (`AnswerStream.corrected` counts it);
- at a rest (every key up, the phrase open): from the real release, good for any press until the
  player plays again. A footswitch pressed while that rehearsal runs (1-3 ms after the release)
  finds it not yet armed: the engine then asks the I/O process to play it at once
  (STANDBY_FIRE) instead of sampling the same note a second time.

A key played disarms them all (in the I/O process at once, which also refuses one rehearsed
before that note-on reached the engine); a setting moved by a CC disarms them and rehearses again.
A standby played for a phrase the engine ended otherwise is released at once, never left sounding.

A footswitch press that played no standby is counted in `missed`, by why: nothing was rehearsed
since the last note-on ("none rehearsed"), none armed held the call's last release ("no span held
the release"), the one that held it was armed after the press ("armed after the press"), or it was
armed before the press and still not played ("armed in time, not played": the I/O process refused
it or never had it). duet's last line shows them; scripts/bench_e2e.py prints that line.
"""
from __future__ import annotations

import math
import time

from ..midi.messages import note_on
from ..tokens.grid import duration_span
from .answer import ANSWER

HELD_LEAD = 0.010  # s: a held key's next span is rehearsed this long before it opens (a rehearsal: 1-3 ms)
SPAN_EDGE = 1e-6  # s: a span's ends are left out (the grid's ties are decided within 1e-6 tick)
REMEMBERED = 16  # standbys whose pitches are kept by id (the I/O process keeps 4 armed)
ARMED_LOG = 64  # spans armed since the last note-on that a missed press is checked against


def why_missed(armed, release: float, pressed: float) -> str:
    """Why a footswitch pressed at `pressed`, the call's last release at `release`, played no
    standby, given the (after, until, when armed) of those armed since the last note-on."""
    holding = [when for after, until, when in armed if after < release <= until]
    if not armed:
        return "none rehearsed"
    if not holding:
        return "no span held the release"
    return "armed after the press" if min(holding) > pressed else "armed in time, not played"


class Standby:
    def __init__(self, responder, scheduler):
        self.responder = responder
        self.scheduler = scheduler  # liveimpro.live.io_scheduler.IoScheduler, or a scheduler with no standby
        self.ready = bool(getattr(scheduler, "standby_ready", False))
        self.due = False  # rehearse at the next idle moment: the player rests with the phrase open
        self.held_due: float | None = None  # when to rehearse the next span of a held key's length
        self._onset: float | None = None  # the player's last note-on: the I/O process arms only for it
        self._rest: tuple | None = None  # (id, notes) of the standby rehearsed at the rest
        self._pitches: dict[int, tuple[int, ...]] = {}  # each recent standby's pitches, by id
        self._armed: list[tuple[float, float, float]] = []  # (after, until, when) armed since the last note-on
        self._ident = 0
        self.rehearsals = 0
        self.fired = 0  # played at the footswitch's own frame
        self.fired_late = 0  # armed after the footswitch, played at the engine's word
        self.missed: dict[str, int] = {}  # footswitch presses that played none, by why (module docstring)

    # --- what the engine heard -----------------------------------------------------------------
    def note_on(self, t: float) -> None:
        """The player's note-on at `t`: the I/O process disarmed every standby; rehearse while held."""
        self._onset, self.due, self.held_due, self._rest = t, False, t, None
        self._armed.clear()

    def rested(self) -> None:
        """Every key is up with the phrase open."""
        self.due, self.held_due = True, None

    def settings_changed(self, keys_held: int) -> None:
        """A setting moved: the standbys armed were rehearsed with the old one."""
        if self.ready:
            self.scheduler.clear_standby()
        self._rest = None
        self._armed.clear()
        if keys_held:
            self.held_due = 0.0
        else:
            self.due = True

    def lead(self) -> float:
        """s the I/O process's timeline runs ahead of this process's perf_counter. The player's
        notes are stamped on it (JACK's smoothed time of a cycle, which wanders off the machine's
        clock for seconds after a server stall); the spans of a held key are placed on it, so the
        engine's own times are moved onto it first (else a 10 ms wander outran HELD_LEAD and the
        span that held the release was rehearsed after it: "no span held the release")."""
        return self.scheduler.timeline_lead if self.ready else 0.0

    def wake_time(self, keys_held: int) -> float | None:
        """perf_counter s of the next held span's rehearsal, if one is due."""
        return self.held_due - self.lead() if keys_held and self.ready and self.held_due is not None else None

    def wants(self, now: float, keys_held: int) -> bool:
        if not self.ready:
            return False
        return self.held_due is not None and now + self.lead() >= self.held_due if keys_held else self.due

    # --- rehearsing ------------------------------------------------------------------------------
    def rehearse(self, notes, keys_held: int, now: float, allowed: bool = True) -> None:
        """Rehearse and arm the first note for the phrase's `notes` (see the module docstring);
        `allowed`: the footswitch would end the phrase now and start an answer (else nothing).
        `now`: perf_counter s, moved onto the notes' timeline here (`lead`)."""
        now += self.lead()
        if keys_held:
            self.held_due = None
            if allowed:
                self._rehearse_held(notes, now)
            return
        self.due = False
        if allowed:
            note = self.responder.rehearse_first(notes, now)
            if note is not None:
                self._rest = (self._arm(note, None), tuple(notes))

    def _rehearse_held(self, notes, now: float) -> None:
        tempo = self.responder.tempo
        if tempo is None or not notes or notes[-1].release is not None:
            return  # an earlier key held past the last one: its rest is rehearsed
        onset, period = notes[-1].onset, tempo.period
        low, high = duration_span((now + HELD_LEAD - onset) / period)
        after, until = onset + low * period, onset + high * period
        release = now + HELD_LEAD if math.isinf(until) else min(until, max((after + until) / 2, now + HELD_LEAD))
        self.held_due = None if math.isinf(until) else until - HELD_LEAD
        note = self.responder.rehearse_first(notes, release, release=release)
        if note is not None:
            self._arm(note, (after + SPAN_EDGE, until - SPAN_EDGE))

    def _arm(self, note, span) -> int:
        self._ident = ident = (self._ident + 1) % 256
        channel = self.responder.settings.channel
        self.scheduler.standby([note_on(channel, p, note.velocity) for p in note.pitches], ANSWER, self._onset,
                               ident, span)
        self._pitches[ident] = note.pitches
        if len(self._pitches) > REMEMBERED:
            del self._pitches[next(iter(self._pitches))]
        self.rehearsals += 1
        self._armed.append((*(span or (-math.inf, math.inf)), time.perf_counter() + self.lead()))  # as the press
        del self._armed[:-ARMED_LOG]
        return ident

    # --- the phrase end --------------------------------------------------------------------------
    def take_fired(self, notes=None, timer=None, decision: float = 0.0,
                   pressed: float | None = None) -> tuple[float, tuple[int, ...]] | None:
        """(when, pitches) if the footswitch played a standby note; the standbys are spent either way.
        `notes`: the phrase the footswitch just ended (decided at `decision`), whose reaction
        `timer` (live.answer.ReactionTimer) times: 0 when the note went out at the footswitch's
        frame; the rest's note, rehearsed for exactly these notes, that the footswitch found not
        yet armed is played now, and timed from `decision` to the frame the I/O process reports;
        a press (at `pressed`, else `decision`) that played none is counted in `missed`."""
        if not self.ready:
            return None
        fired, rest, self._rest = self.scheduler.take_fired(ANSWER), self._rest, None
        result = None
        if fired is not None:
            result = (fired[0], self._pitches.get(fired[1], ()))
            if notes is not None:
                timer.reactions.append(0.0)  # written at the footswitch's own frame
                self.fired += 1
        elif rest is not None and notes is not None and tuple(notes) == rest[1]:
            timer.arm(decision)  # before the I/O process can report the note written (FIRST_SENT)
            self.scheduler.fire_standby(rest[0])
            result = (time.perf_counter(), self._pitches.get(rest[0], ()))
            self.fired_late += 1
        elif notes:
            self._count_miss(notes, decision if pressed is None else pressed)
        self.scheduler.clear_standby()
        self._armed.clear()
        return result

    def _count_miss(self, notes, pressed: float) -> None:
        releases = [note.release for note in notes if note.release is not None]
        why = why_missed(self._armed, max(releases, default=pressed), pressed)  # keys still down end at the press
        self.missed[why] = self.missed.get(why, 0) + 1

    def drop_stray(self) -> None:
        """The end CC moved and ended nothing: a standby it played is released (they stay armed else)."""
        fired = self.scheduler.take_fired(ANSWER) if self.ready else None
        if fired is not None:
            self._rest = None
            self.drop((fired[0], ()))

    def drop(self, fired) -> None:
        """`fired` (take_fired's) starts no answer: its note is released now."""
        if fired is not None:
            self.scheduler.begin(ANSWER)  # its group
            self.scheduler.cancel(ANSWER)  # cut: the I/O process releases it


__all__ = ["Standby", "HELD_LEAD", "why_missed"]
