"""Follow a DAW's MIDI clock: tempo, transport, song position, the next bar line.

Messages handled by `MidiClock.feed(message, time)` (time in seconds, injected; the status
bytes are liveimpro.midi.messages'):

    CLOCK                   timing clock, 24 per quarter note (beat)
    START                   position 0; the first tick after it is the downbeat at beat 0
    CONTINUE                resume at the current position (where Stop left it, or SPP)
    STOP                    the position stays where it stopped
    SONG_POSITION LSB MSB   song position pointer, in sixteenth notes (6 ticks); the first
                            tick after Continue sounds at that position

`feed` returns True when it consumed the message (those five), so the caller passes the
rest on to `liveimpro.live.input.LiveInput`. It never raises; a truncated or damaged
song position pointer is consumed and counted in `malformed`.

Tempo and phase: a straight line through the recent ticks (`liveimpro.midi.tick_line`, whose
docstring gives the method, its measured accuracy and why), refitted on every tick over the
last `window` ticks (default 96, four beats). The times of future beats (`time_of_beat`,
`next_boundary`, `position`) follow the fitted line, so one late tick moves no bar line.

Ticks keep coming while the transport is stopped in most DAWs: they update the tempo but
not the position.

The meter: MIDI clock carries none, so it is a setting (`time_signature`; `liveimpro duet
--meter N/D`, read by `parse_meter`). Clock beats are quarter notes whatever the meter, so a
bar lasts `beats_per_bar` = N * 4 / D of them (4/4: 4, 3/4: 3, 6/8: 3, 7/8: 3.5, 5/4: 5, 2/2: 4),
and bar lines fall every `beats_per_bar` beats from song position 0 (the DAW's bar 1, beat 1).
`pickup_beats` is how close before a bar line a phrase's first note must be to count as a
pickup into it (`liveimpro.music.phrase`): one beat of the meter, at most half a bar.

Documented limits (robust, not clever):
- the tempo is clamped to 20..400 bpm: a burst of ticks (10 kHz) reads as 400 bpm, a
  trickle as 20 bpm; every tick still moves the position (a DAW that jumps uses SPP);
- the tempo read is the window's, so it lags a ramp by about a beat; after a change it
  comes from the few ticks since (noisier for a beat);
- a stall whose ticks then come a period apart but stay late for half a beat is taken
  for a phase change (and back when they come on time); a drop is counted at once only
  when the tolerance is under a third of a period (else after half a beat of late
  ticks), and not while the fit has under 12 ticks;
- the clock is *lost* when no tick came for `lost_after` seconds (default 0.5 s; the
  slowest legal clock, 20 bpm, ticks every 125 ms) while the transport runs: `state`
  says "lost", the position stops a tick after the last one, `next_boundary` returns
  None, and the fit starts afresh (no tempo until three ticks) with the next tick;
- a timestamp earlier than the previous tick's counts as simultaneous with it;
- between ticks the position is carried on from the fitted time of the last tick at the
  current tempo, never past the next tick, so it is continuous and never runs backwards
  while running.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

from .meter import METER_DENOMINATORS, bar_beats, meter_problem, parse_meter, pickup_beats
from .messages import CLOCK, CONTINUE, MAX_DATA, SONG_POSITION, START, STOP
from .tick_changes import TickChanges
from .tick_line import (
    JITTER_FLOOR,
    MAX_BPM,
    MIN_BPM,
    RAMP_SIGMAS,
    RECENT_TICKS,
    SLOPE_TICKS,
    TICKS_PER_BEAT,
    TickLine,
    fit_line,
)

TICKS_PER_SIXTEENTH = 6
_TRANSPORT = (CLOCK, START, CONTINUE, STOP, SONG_POSITION)  # what feed() consumes; a tuple: any status compares


@dataclass
class MidiClock(TickChanges):
    time_signature: tuple[int, int] = (4, 4)  # sets the bar length for next_boundary(unit="bar")
    window: int = 96  # the most ticks the tempo and phase are fitted over (four beats)
    lost_after: float = 0.5  # seconds without a tick before a running clock counts as lost
    malformed: int = 0  # damaged song position pointers consumed
    dropped_ticks: int = 0  # ticks inferred lost on the way (a gap of whole periods)
    running: bool = False  # transport: True after Start/Continue, False after Stop
    _next_tick: int = 0  # position (ticks) the next tick will have while running
    _tick: int | None = None  # position of the last tick since Start/Continue; None before the first
    _tick_time: float = -math.inf  # when the last tick (running or not) arrived
    _transport_time: float = -math.inf  # when Start/Continue arrived
    _count: int = 0  # ticks counted (running or not, dropped ones included): the fit's x axis
    _counts: deque = field(default_factory=deque, repr=False)  # the fitted ticks' counts...
    _times: deque = field(default_factory=deque, repr=False)  # ...and times
    _line: TickLine | None = field(default=None, repr=False)
    _prior: float | None = field(default=None, repr=False)  # the period kept across a phase jump
    _jitter: float = 0.0  # s: the jitter as last measured over SLOPE_TICKS ticks or more
    _changed: float = -math.inf  # the tick count when the tempo or phase last changed
    _early: int = 0  # ticks in a row earlier than the line by more than the tolerance
    _below: int = 0  # ticks in a row earlier than the line at all
    _late_line: TickLine | None = field(default=None, repr=False)  # the line when the late run began
    _late: int = 0  # ticks in a row later than it
    _rephase: bool = False  # the next tick may start a new phase (after a transport message)
    _drop: list | None = field(default=None, repr=False)  # [ticks missed, ticks since the gap] while unconfirmed

    def __post_init__(self):
        num, den = self.time_signature
        if num < 1 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"time signature must be N/1..N/32, got {num}/{den}")
        if self.window < 3:
            raise ValueError(f"window must be at least 3 ticks, got {self.window}")

    @property
    def beats_per_bar(self) -> float:
        return bar_beats(self.time_signature)

    @property
    def pickup_beats(self) -> float:
        """How far (in clock beats) before a bar line a phrase's first note is a pickup to it:
        `pickup_beats(time_signature)`."""
        return pickup_beats(self.time_signature)

    def feed(self, message: Sequence[int], time: float) -> bool:
        """Take one message; True if it was clock, transport or song position."""
        try:
            status = message[0]
        except (TypeError, IndexError, KeyError):
            return False
        if status not in _TRANSPORT:
            return False
        if not isinstance(time, (int, float)) or not math.isfinite(time):
            self.malformed += 1
            return True
        if status == CLOCK:
            self._on_tick(time)
            return True
        self._rephase, self._drop = True, None
        self._early = self._below = self._late = 0  # runs do not span a transport message
        if status == START:
            self.running, self._next_tick, self._tick, self._transport_time = True, 0, None, time
        elif status == CONTINUE:
            self.running, self._tick, self._transport_time = True, None, time
        elif status == STOP:
            self.running = False
        elif len(message) == 3 and all(isinstance(b, int) and 0 <= b <= MAX_DATA for b in message[1:]):
            self._next_tick = (message[1] | message[2] << 7) * TICKS_PER_SIXTEENTH
            self._tick = None  # the next tick sounds at the new position
        else:
            self.malformed += 1
        return True

    def _restart(self, prior: float | None = None) -> None:
        """Fit afresh from the next tick (keeping the period `prior`, if given)."""
        self._counts.clear()
        self._times.clear()
        self._line, self._prior, self._drop = None, prior, None
        self._early = self._below = self._late = 0
        if prior is None:
            self._jitter = 0.0

    def _on_tick(self, time: float) -> None:
        time = max(time, self._tick_time)
        if time - self._tick_time > self.lost_after:
            self._restart()  # a clock that stopped and came back: old ticks say nothing
        previous, self._tick_time = self._tick_time, time
        rephase, self._rephase = self._rephase, False
        line = self._line
        if line is not None:
            miss = time - line.at(self._count + 1)
            tolerance = line.tolerance(self._count + 1, self._jitter)
            if rephase and abs(miss) > tolerance:
                self._restart(line.period)  # a new phase at the old tempo
                line = None
            else:
                if self._drop is not None:
                    miss = self._confirm_drop(line, time - previous, miss)
                self._classify(line, time - previous, miss, tolerance, rephase)
        self._count += 1
        self._counts.append(self._count)
        self._times.append(time)
        if self.running:
            self._tick, self._next_tick = self._next_tick, self._next_tick + 1
        if line is not None and self._changed_by_run(line):
            line = None  # fitted to the old tempo: no guide to the new one
        # after a change (a ramp may go on) the fit stays short for a while
        self._keep(self.window if self._count - self._changed > self.window else self.window // 2)
        self._line = line = fit_line(self._counts, self._times, self._prior, line)
        if line is not None and line.recent_period is not None:
            spread = math.sqrt(max(1.0 / line.recent_sxx - 1.0 / line.sxx, 0.0))
            if abs(line.recent_period - line.period) > RAMP_SIGMAS * max(self._jitter, line.noise, JITTER_FLOOR) * spread:
                self._keep(RECENT_TICKS)  # the newest beat's tempo is not the window's (a ramp)
                self._changed = self._count
                self._line = line = fit_line(self._counts, self._times, self._prior, None)
        if line is not None and line.count >= SLOPE_TICKS:
            self._jitter = line.noise

    def _keep(self, ticks: int) -> None:
        """Fit no more than the newest `ticks` ticks."""
        while len(self._times) > ticks:
            self._counts.popleft()
            self._times.popleft()


    @property
    def bpm(self) -> float | None:
        """Tempo from the recent ticks (20..400), None before three ticks."""
        line = self._line
        if line is None:
            return None
        if line.period <= 0:  # ticks all at one instant
            return MAX_BPM
        return min(MAX_BPM, max(MIN_BPM, 60.0 / (line.period * TICKS_PER_BEAT)))

    def _period(self) -> float | None:
        """Seconds per tick at the (clamped) tempo; None without one."""
        bpm = self.bpm
        return None if bpm is None else 60.0 / (bpm * TICKS_PER_BEAT)

    def state(self, now: float) -> str:
        """"stopped", "running" (ticks arriving), or "lost" (running but no tick for lost_after s)."""
        if not self.running:
            return "stopped"
        return "running" if now - max(self._tick_time, self._transport_time) <= self.lost_after else "lost"

    def position(self, now: float) -> float:
        """Song position in beats at `now`: where the transport is (running), or will resume
        (stopped; also after Start/Continue before the first tick)."""
        if not self.running or self._tick is None:
            return self._next_tick / TICKS_PER_BEAT
        period = self._period()
        ticks_since = 0.0 if period is None else (now - self._line.last) / period
        return (self._tick + min(1.0, max(0.0, ticks_since))) / TICKS_PER_BEAT

    def beat_at(self, now: float) -> float | None:
        """Song position in beats while the clock runs and ticks; None when stopped or lost."""
        if self.state(now) != "running" or self._tick is None:
            return None
        return self.position(now)

    def time_of_beat(self, beat: float) -> float | None:
        """When song position `beat` sounds (past or future) on the fitted line at the current
        tempo; None unless running with a tempo and at least one tick since Start/Continue."""
        period = self._period()
        if not self.running or self._tick is None or period is None:
            return None
        return self._line.last + (beat * TICKS_PER_BEAT - self._tick) * period

    def next_boundary(self, now: float, unit: str = "bar") -> float | None:
        """Time (s) of the first bar line (or beat) at or after `now`; None unless the clock runs.
        Bar lines are every beats_per_bar beats from song position 0."""
        if unit not in ("bar", "beat"):
            raise ValueError(f"unit must be 'bar' or 'beat', got {unit!r}")
        beat = self.beat_at(now)
        period = self._period()
        if beat is None or period is None:
            return None
        step = self.beats_per_bar if unit == "bar" else 1.0
        target = math.ceil(beat / step - 1e-9) * step
        # the line's time, or (when its last tick lies ahead of now) no more than the beats to go
        return max(now, min(self.time_of_beat(target), now + (target - beat) * TICKS_PER_BEAT * period))


__all__ = ["MidiClock", "TICKS_PER_BEAT", "METER_DENOMINATORS", "meter_problem", "parse_meter", "pickup_beats"]
