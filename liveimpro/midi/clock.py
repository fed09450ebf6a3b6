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

Tempo and phase: a straight line through the recent ticks, tick time against tick count,
refitted on every tick over the last `window` ticks (default 96, four beats): its slope is
the tick period (the tempo), its height where the bar lines fall (the phase). Why: the
times are when a Python thread took the ticks off the port, so they come late (never
early) and in bursts after the thread stalled. Measured on a loaded machine, the median of
one beat's tick periods, the estimate before this one, read a 90 bpm clock as 69.5 bpm, and
the answer played at that tempo, 232 ms late. The fit, per tick:

1. a line under the ticks: the last tick's line (the window moved on by one tick), or
   after a change the lower convex hull's edge under the middle tick, which late ticks
   cannot pull down;
2. ticks further above it than the lower quartile plus 3 times the quartile's distance
   from the lowest (at least 0.5 ms) are late (a stall; up to 3 ticks in 4 may be) and
   left out; least squares through the rest (all of them under symmetric jitter) gives
   the slope, as steady as the jitter allows (over 96 ticks, the period's error is the
   jitter's / 270);
3. the line is lowered to the lower 15 % of the kept ticks' residuals: it leans on the
   earliest consistent ticks, not their mean (under late jitter 0..5 ms it lies 0.75 ms
   late, under symmetric jitter 1 standard deviation early). It carries the last tick's
   time, so `time_of_beat`, `next_boundary` and `position` follow the line: one late
   tick moves no bar line.

Cost: O(window) a tick (three sorts and a few passes over 96 numbers, in C; about 55 µs in
CPython, 30 µs at window=48). Measured on synthetic clocks (tests/test_clock.py): the
tempo within 0.5 % from two beats on, at 60..174 bpm, under 1 ms of symmetric jitter, late
jitter up to 5 ms with bursts, or a stalling poller; the next bar line within 2 ms in 96 %
of asks or more under the first two (never 5 ms off), always under the poller (1 ms).

Changes of tempo or phase are told from jitter by the ticks off the line (the tolerance:
3 times the jitter, at least 2 ms, widened by the line's own uncertainty; the jitter is
measured from neighbouring ticks, so a drifting tempo does not widen it):
- 6 ticks in a row early (late jitter cannot make a tick early), or 12 in a row late and
  spaced like a clock (not a burst), are a new tempo or phase: the fit starts from them
  (and the ticks drifting early before them); a jump (120 -> 90, 120 -> 174, halving) is
  followed within 2 beats, usually 1;
- the newest beat's own slope differing from the window's by 6 standard errors is a
  ramp: the fit is cut to that beat; after either, the window stays two beats long for
  four beats. A ramp of 5 bpm a beat is read about a beat behind (within 6 %).
- the first tick after Start, Continue, Stop or a song position pointer off the line is a
  DAW that restarted its clock: the fit starts from it, keeping the tempo.

Dropped ticks: a tick 1..3 periods after the line, whose gap from the last was that many
periods and one, and whose next 2 ticks come a period apart on the line it implies, came
after that many ticks were lost on the way; so do 12 late ticks (2 in 3 of the last 9) all
whole periods late with no drift (a stall hid the gap). They are counted in
`dropped_ticks` and in the position, so the bar lines stay right. A tempo that halves
(every gap two periods) is not taken for drops: the next ticks do not fit.

Ticks keep coming while the transport is stopped in most DAWs: they update the tempo but
not the position.

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
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import le, mul, sub
from typing import Sequence

from .messages import CLOCK, CONTINUE, MAX_DATA, SONG_POSITION, START, STOP

TICKS_PER_BEAT = 24
TICKS_PER_SIXTEENTH = 6
_TRANSPORT = (CLOCK, START, CONTINUE, STOP, SONG_POSITION)  # what feed() consumes; a tuple: any status compares
MIN_BPM, MAX_BPM = 20.0, 400.0
_MIN_PERIOD = 60.0 / (MAX_BPM * TICKS_PER_BEAT)  # s per tick

TRIM = 3.0  # how far (in lower-quartile distances) above the lower quartile a tick is late
TRIM_FLOOR = 0.0005  # s: never leave out ticks closer than this
PHASE_QUANTILE = 0.15  # where, among the fitted ticks' residuals, the line is put
TOLERANCE = 3.0  # a tick fits the line within this many times the jitter...
TOLERANCE_FLOOR = 0.002  # ...or this many seconds, whichever is more
EARLY_RUN = 6  # ticks in a row earlier than the line: a new tempo or phase
LATE_RUN = 12  # ticks in a row later than the line (and spaced like a clock): a new tempo or phase
SLOPE_TICKS = 12  # after a phase jump the old tempo stands until this many ticks give a slope
RECENT_TICKS = 24  # the newest beat, whose slope alone is compared with the whole window's...
RAMP_SIGMAS = 6.0  # ...and when they differ by this many standard errors, the window is cut to it
JITTER_FLOOR = 0.0002  # s: the least jitter assumed there
DROP_MIN_TICKS = 12  # a fit over fewer ticks does not count dropped ticks
DROP_CONFIRM = 2  # ticks after a gap that must fit the line it implies
MAX_DROPPED = 3  # the most ticks one gap can stand for
DROP_WIDTH = 1 / 3  # of a period: how near a whole number of periods a gap must be
DROP_CHECK_TICKS = 9  # the newest ticks of a late run that must show the gap


@dataclass(frozen=True)
class _Line:
    """Tick time against tick count: `last` is the fitted time of tick count `n`."""
    period: float  # s per tick, as fitted (not clamped)
    last: float
    n: int
    noise: float = 0.0  # s: the ticks' jitter (a standard deviation), from the gaps between them
    count: int = 1  # ticks fitted
    mean_x: float = 0.0  # their mean count, relative to n
    sxx: float = 0.0  # the sum of their squared count deviations (0: the slope was given)
    recent_period: float | None = None  # the slope over the newest RECENT_TICKS of them...
    recent_sxx: float = 0.0  # ...and their sum of squared count deviations

    def at(self, n: int) -> float:
        return self.last + self.period * (n - self.n)

    def tolerance(self, n: int, jitter: float = 0.0) -> float:
        """How far tick count n may fall from the line and still fit it (`jitter`: the jitter as
        measured before, when this line was fitted over too few ticks to tell)."""
        x = n - self.n
        spread = 1.0 + 1.0 / self.count + ((x - self.mean_x) ** 2 / self.sxx if self.sxx > 0 else 1.0)
        return max(TOLERANCE_FLOOR, TOLERANCE * max(self.noise, jitter)) * math.sqrt(spread)


def _quantile(ordered: list, q: float) -> float:
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _lower_hull_slope(xs: list, ys: list) -> float:
    """The slope of the lower convex hull's edge under the middle tick: of the line under
    every tick that hugs them closest (late ticks cannot pull it down)."""
    middle = (xs[0] + xs[-1]) / 2
    hx: list = []
    hy: list = []
    for x, y in zip(xs, ys):  # counts increase: one pass (Andrew's monotone chain)
        while len(hx) >= 2 and (hx[-1] - hx[-2]) * (y - hy[-2]) <= (hy[-1] - hy[-2]) * (x - hx[-2]):
            hx.pop()
            hy.pop()
        hx.append(x)
        hy.append(y)
    i = 0
    while i < len(hx) - 2 and hx[i + 1] < middle:
        i += 1
    return (hy[i + 1] - hy[i]) / (hx[i + 1] - hx[i])


def _off(xs: list, ys: list, slope: float) -> list:
    """ys less slope times xs."""
    return list(map(sub, ys, map(mul, xs, repeat(slope))))


def _least_squares(xs: list, ys: list) -> tuple[float, float, float, float]:
    """(slope, mean x, mean y, sum of squared x deviations) of the least-squares line."""
    k = len(xs)
    mx, my = sum(xs) / k, sum(ys) / k
    sxx = sum(map(mul, xs, xs)) - k * mx * mx
    return (sum(map(mul, xs, ys)) - k * mx * my) / sxx, mx, my, sxx


def _fit(counts: deque, times: deque, prior: float | None, guide: _Line | None) -> _Line | None:
    """The line through the ticks (see the module docstring); None under three ticks. With a
    known period (`prior`, kept across a phase jump) and under SLOPE_TICKS ticks, only the
    phase is fitted. `guide`: the line fitted one tick before over the same ticks, whose
    distances tell the late ticks (one step of iteratively trimmed least squares per tick);
    without one, the lower hull's."""
    m = len(times)
    fixed = prior is not None and m < SLOPE_TICKS
    if m == 0 or (m < 3 and not fixed):
        return None
    n0, t0 = counts[-1], times[-1]
    xs = [n - n0 for n in counts]  # counts back from the newest tick (0), and seconds
    ys = [t - t0 for t in times]
    # 1. the slope of a line under the ticks: the period known, the last line's, or the lower hull's
    if fixed:
        slope = prior
    elif guide is not None and m > SLOPE_TICKS:
        slope = guide.period
    else:  # (over a few ticks a wrong guide would keep itself: the ticks off it are left out)
        slope = _lower_hull_slope(xs, ys)
    above = _off(xs, ys, slope)
    ordered = sorted(above)
    lowest = ordered[0]
    # 2. leave out the late ticks (further above the lower quartile than TRIM times its
    # distance from the lowest: up to 3 ticks in 4 may be late), least squares through the rest
    quartile = ordered[m // 4]
    limit = max(quartile + TRIM * (quartile - lowest), lowest + TRIM_FLOOR)
    keep = list(map(le, above, repeat(limit)))
    kxs, kys = list(compress(xs, keep)), list(compress(ys, keep))
    k = len(kxs)
    recent_period = None
    recent_sxx = 0.0
    if fixed:
        mx, my = sum(kxs) / k, sum(kys) / k
        sxx = 0.0
    else:
        slope, mx, my, sxx = _least_squares(kxs, kys)
        newest = k - bisect_right(kxs, -RECENT_TICKS)  # the kept ticks of the newest beat
        if xs[0] <= -2 * RECENT_TICKS and newest >= SLOPE_TICKS:
            recent_period, _, _, recent_sxx = _least_squares(kxs[-newest:], kys[-newest:])
    # 3. the phase: a low quantile of the kept ticks' distances from the least-squares line
    residuals = _off(kxs, kys, slope)
    floor = _quantile(sorted(residuals), PHASE_QUANTILE)
    # the jitter, from the differences of neighbouring kept ticks' residuals (so a tempo that
    # drifts off the line does not count as jitter, which would widen the tolerances that
    # tell it): their interquartile range over a normal spread's (1.349) times sqrt 2 (each
    # difference holds two ticks' jitter)
    steps = sorted(map(sub, residuals[1:], residuals))
    noise = (_quantile(steps, 0.75) - _quantile(steps, 0.25)) / 1.908 if steps else 0.0
    return _Line(slope, t0 + floor, n0, noise, k, mx, sxx, recent_period, recent_sxx)


@dataclass
class MidiClock:
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
    _line: _Line | None = field(default=None, repr=False)
    _prior: float | None = field(default=None, repr=False)  # the period kept across a phase jump
    _jitter: float = 0.0  # s: the jitter as last measured over SLOPE_TICKS ticks or more
    _changed: float = -math.inf  # the tick count when the tempo or phase last changed
    _early: int = 0  # ticks in a row earlier than the line by more than the tolerance
    _below: int = 0  # ticks in a row earlier than the line at all
    _late_line: _Line | None = field(default=None, repr=False)  # the line when the late run began
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
        self._line = line = _fit(self._counts, self._times, self._prior, line)
        if line is not None and line.recent_period is not None:
            spread = math.sqrt(max(1.0 / line.recent_sxx - 1.0 / line.sxx, 0.0))
            if abs(line.recent_period - line.period) > RAMP_SIGMAS * max(self._jitter, line.noise, JITTER_FLOOR) * spread:
                self._keep(RECENT_TICKS)  # the newest beat's tempo is not the window's (a ramp)
                self._changed = self._count
                self._line = line = _fit(self._counts, self._times, self._prior, None)
        if line is not None and line.count >= SLOPE_TICKS:
            self._jitter = line.noise

    def _keep(self, ticks: int) -> None:
        """Fit no more than the newest `ticks` ticks."""
        while len(self._times) > ticks:
            self._counts.popleft()
            self._times.popleft()

    def _changed_by_run(self, line: _Line) -> bool:
        """After a run of ticks off the line: dropped ticks (renumbered, False), or a new tempo
        or phase, fitted from the ticks that show it (and those drifting early before the
        run: a ramp) (True)."""
        late = self._late >= LATE_RUN and self._clock_like(line.period)
        if late and self._late_by_periods(self._late_line):
            return False
        if not late and self._early < EARLY_RUN:
            return False
        self._keep(self._below if self._early else self._late)
        self._early = self._below = self._late = 0
        self._drop = self._prior = None
        self._changed = self._count
        return True

    def _clock_like(self, period: float) -> bool:
        """Whether the last LATE_RUN ticks came a clock's way (at least 3 gaps in 4 over half
        the period), not in bursts after stalls."""
        times = self._times
        span = min(LATE_RUN, len(times)) - 1
        gaps = sum(times[-i] - times[-i - 1] >= 0.5 * period for i in range(1, span + 1))
        return gaps >= 0.75 * span

    def _late_by_periods(self, line: _Line) -> bool:
        """Whether the newest ticks of the late run (2 in 3 of the last 9) came the same whole
        number of periods after the line, with no trend (the tempo unchanged): ticks were
        dropped where a stall hid the gap. If so, the run's ticks are renumbered."""
        period, newest = line.period, min(DROP_CHECK_TICKS, len(self._times))
        misses = [(self._counts[-i], self._times[-i] - line.at(self._counts[-i])) for i in range(1, newest + 1)]
        missed = round(sorted(m for _, m in misses)[newest // 2] / period) if period >= _MIN_PERIOD else 0
        if not 1 <= missed <= MAX_DROPPED or line.count < DROP_MIN_TICKS:
            return False
        fits = [(n, m) for n, m in misses if abs(m - missed * period) <= DROP_WIDTH * period]
        if len(fits) < 2 * newest / 3:
            return False
        mean_n = sum(n for n, _ in fits) / len(fits)
        trend = sum((n - mean_n) * m for n, m in fits) / sum((n - mean_n) ** 2 for n, _ in fits)
        if trend * (fits[0][0] - fits[-1][0]) > DROP_WIDTH * period / 2:
            return False  # drifting later and later: a slower tempo
        since = 0  # the ticks since the gap: the run back to the first that came too early for it
        while since < min(self._late, len(self._times)):
            if self._times[-since - 1] - line.at(self._counts[-since - 1]) < (missed - DROP_WIDTH) * period:
                break
            since += 1
        self._renumber(since, missed)
        return True

    def _renumber(self, ticks: int, missed: int) -> None:
        """The last `ticks` ticks came after `missed` dropped ones: count them in."""
        for i in range(1, ticks + 1):
            self._counts[-i] += missed
        self._count += missed
        if self.running and self._tick is not None:
            self._tick += missed
            self._next_tick += missed
        self.dropped_ticks += missed
        self._drop = None
        self._early = self._below = self._late = 0

    def _classify(self, line: _Line, gap: float, miss: float, tolerance: float, rephase: bool) -> None:
        """Count the tick into the runs of early and late ticks. A tick after a gap of whole
        periods, on the line with the missed ticks counted, may follow dropped ticks (confirmed
        by the next ones, `_confirm_drop`)."""
        self._below = self._below + 1 if miss < 0 else 0
        if miss < -tolerance:
            self._early, self._late = self._early + 1, 0
            return
        if miss <= tolerance:
            self._early = self._late = 0
            return
        self._early, self._late = 0, self._late + 1
        if self._late == 1:
            self._late_line = line  # the line before the run (the late ticks pull the later ones)
        period = line.period
        if self._drop is not None or rephase or line.count < DROP_MIN_TICKS or tolerance > DROP_WIDTH * period:
            return  # no drops told from jitter or from a line that is not settled
        missed = round(miss / period)
        if (1 <= missed <= MAX_DROPPED and abs(miss - missed * period) <= DROP_WIDTH * period
                and abs(gap - (missed + 1) * period) <= DROP_WIDTH * period):
            self._drop = [missed, 0]

    def _confirm_drop(self, line: _Line, gap: float, miss: float) -> float:
        """A tick after a suspected gap: it confirms it if it came a period after the last one
        (not in a burst, nor at a new tempo) and fits the line with the missed ticks counted;
        after DROP_CONFIRM such ticks, the ticks since the gap are renumbered and the position
        moves on. Returns the tick's miss as it is to be counted."""
        missed, since = self._drop
        width = DROP_WIDTH * line.period
        if abs(gap - line.period) > width or abs(miss - missed * line.period) > width:
            self._drop = None  # a stall, or a new tempo: nothing was dropped
            return miss
        since += 1
        if since < DROP_CONFIRM:
            self._drop = [missed, since]
            return miss
        self._renumber(since, missed)  # the ticks from the gap on (this one is not in yet)
        return miss - missed * line.period

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


__all__ = ["MidiClock", "TICKS_PER_BEAT"]
