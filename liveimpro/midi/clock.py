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

Tempo: the median, over the last `window` ticks (default 24, one beat), of the tick
period measured across half-window spans. Every span covers 12 ticks, so a
millisecond of jitter per tick is a 0.3 % error per span and the median discards ticks
that arrive in bursts or late; after a tempo change the median follows within one beat
(when more than half the spans are new). Ticks keep coming while the transport is
stopped in most DAWs: they update the tempo but not the position.

Documented limits (robust, not clever):
- the tempo is clamped to 20..400 bpm: a burst of ticks (10 kHz) reads as 400 bpm, a
  trickle as 20 bpm; every tick still moves the position (a DAW that jumps uses SPP);
- the clock is *lost* when no tick came for `lost_after` seconds (default 0.5 s; the
  slowest legal clock, 20 bpm, ticks every 125 ms) while the transport runs: `state`
  says "lost", the position stops at the last tick, `next_boundary` returns None, and
  the tempo window starts afresh with the next tick;
- a timestamp earlier than the previous tick's counts as simultaneous with it;
- between ticks the position is extrapolated at the current tempo, never past the
  next tick, so it is continuous and never runs backwards while running;
- the times of future beats (`time_of_beat`, `next_boundary`) are carried forward from where
  the recent ticks agree the last one fell (a median), so one late tick does not move them.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from statistics import median
from typing import Sequence

from .messages import CLOCK, CONTINUE, MAX_DATA, SONG_POSITION, START, STOP

TICKS_PER_BEAT = 24
TICKS_PER_SIXTEENTH = 6
_TRANSPORT = (CLOCK, START, CONTINUE, STOP, SONG_POSITION)  # what feed() consumes; a tuple: any status compares
MIN_BPM, MAX_BPM = 20.0, 400.0


@dataclass
class MidiClock:
    time_signature: tuple[int, int] = (4, 4)  # sets the bar length for next_boundary(unit="bar")
    window: int = 24  # ticks the tempo is measured over
    lost_after: float = 0.5  # seconds without a tick before a running clock counts as lost
    malformed: int = 0  # damaged song position pointers consumed
    running: bool = False  # transport: True after Start/Continue, False after Stop
    _next_tick: int = 0  # position (ticks) the next tick will have while running
    _tick: int | None = None  # position of the last tick since Start/Continue; None before the first
    _tick_time: float = -math.inf  # when the last tick (running or not) arrived
    _transport_time: float = -math.inf  # when Start/Continue arrived
    _times: deque = field(default_factory=deque, repr=False)  # recent tick times

    def __post_init__(self):
        num, den = self.time_signature
        if num < 1 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"time signature must be N/1..N/32, got {num}/{den}")
        if self.window < 2:
            raise ValueError(f"window must be at least 2 ticks, got {self.window}")

    @property
    def beats_per_bar(self) -> float:
        num, den = self.time_signature
        return num * 4.0 / den

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
        elif status == START:
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

    def _on_tick(self, time: float) -> None:
        time = max(time, self._tick_time)
        if time - self._tick_time > self.lost_after:
            self._times.clear()  # a clock that stopped and came back: old ticks say nothing
        self._times.append(time)
        while len(self._times) > self.window + 1:
            self._times.popleft()
        self._tick_time = time
        if self.running:
            self._tick, self._next_tick = self._next_tick, self._next_tick + 1

    @property
    def bpm(self) -> float | None:
        """Tempo from the recent ticks (20..400), None before three ticks."""
        times = self._times
        if len(times) < 3:
            return None
        span = max(1, min(self.window // 2, len(times) - 1))
        periods = [(times[i + span] - times[i]) / span for i in range(len(times) - span)]
        tick_period = median(periods)
        if tick_period <= 0:  # ticks all at one instant
            return MAX_BPM
        return min(MAX_BPM, max(MIN_BPM, 60.0 / (tick_period * TICKS_PER_BEAT)))

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
        bpm = self.bpm
        ticks_since = 0.0 if bpm is None else (now - self._tick_time) * bpm * TICKS_PER_BEAT / 60.0
        return (self._tick + min(1.0, max(0.0, ticks_since))) / TICKS_PER_BEAT

    def beat_at(self, now: float) -> float | None:
        """Song position in beats while the clock runs and ticks; None when stopped or lost."""
        if self.state(now) != "running" or self._tick is None:
            return None
        return self.position(now)

    def time_of_beat(self, beat: float) -> float | None:
        """When song position `beat` sounds (past or future) at the current tempo; None unless
        running with a tempo and at least one tick since Start/Continue."""
        bpm = self.bpm
        if not self.running or self._tick is None or bpm is None:
            return None
        return self._last_tick_estimate(bpm) + (beat - self._tick / TICKS_PER_BEAT) * 60.0 / bpm

    def _last_tick_estimate(self, bpm: float) -> float:
        """When the last tick should have come, as the recent ticks agree (the median of each
        tick's time carried forward at the tempo): one tick that arrived late does not move
        the bar lines, as extrapolating from the last tick alone would."""
        period = 60.0 / (bpm * TICKS_PER_BEAT)
        last = len(self._times) - 1
        return median(t + (last - k) * period for k, t in enumerate(self._times))

    def next_boundary(self, now: float, unit: str = "bar") -> float | None:
        """Time (s) of the first bar line (or beat) at or after `now`; None unless the clock runs.
        Bar lines are every beats_per_bar beats from song position 0."""
        if unit not in ("bar", "beat"):
            raise ValueError(f"unit must be 'bar' or 'beat', got {unit!r}")
        beat = self.beat_at(now)
        if beat is None or self.bpm is None:
            return None
        step = self.beats_per_bar if unit == "bar" else 1.0
        target = math.ceil(beat / step - 1e-9) * step
        return max(now, self.time_of_beat(target))


__all__ = ["MidiClock", "TICKS_PER_BEAT"]
