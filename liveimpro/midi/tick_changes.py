"""The part of `liveimpro.midi.clock.MidiClock` that tells a change of tempo or phase, and ticks
lost on the way, from jitter: the ticks that fall off the fitted line. The rules, their
thresholds and what they were measured to do are in `liveimpro.midi.tick_line`'s docstring.
"""
from __future__ import annotations

from .tick_line import (
    MIN_TICK_PERIOD,
    TickLine,
)

EARLY_RUN = 6  # ticks in a row earlier than the line: a new tempo or phase
LATE_RUN = 12  # ticks in a row later than the line (and spaced like a clock): a new tempo or phase
DROP_MIN_TICKS = 12  # a fit over fewer ticks does not count dropped ticks
DROP_CONFIRM = 2  # ticks after a gap that must fit the line it implies
MAX_DROPPED = 3  # the most ticks one gap can stand for
DROP_WIDTH = 1 / 3  # of a period: how near a whole number of periods a gap must be
DROP_CHECK_TICKS = 9  # the newest ticks of a late run that must show the gap


class TickChanges:
    """Methods of MidiClock (a mixin: they read and write its tick window and counters)."""

    def _changed_by_run(self, line: TickLine) -> bool:
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

    def _late_by_periods(self, line: TickLine) -> bool:
        """Whether the newest ticks of the late run (2 in 3 of the last 9) came the same whole
        number of periods after the line, with no trend (the tempo unchanged): ticks were
        dropped where a stall hid the gap. If so, the run's ticks are renumbered."""
        period, newest = line.period, min(DROP_CHECK_TICKS, len(self._times))
        misses = [(self._counts[-i], self._times[-i] - line.at(self._counts[-i])) for i in range(1, newest + 1)]
        missed = round(sorted(m for _, m in misses)[newest // 2] / period) if period >= MIN_TICK_PERIOD else 0
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

    def _classify(self, line: TickLine, gap: float, miss: float, tolerance: float, rephase: bool) -> None:
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

    def _confirm_drop(self, line: TickLine, gap: float, miss: float) -> float:
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
