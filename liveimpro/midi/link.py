"""Follow an Ableton Link session: its tempo, its beat timeline and its bar lines (the `aalink` package).

    link = LinkClock(time_signature=(3, 4)).start()   # joins (or starts) a session; quantum = 3 beats
    link.bpm, link.beat_at(time.perf_counter()), link.next_boundary(now, "bar"), link.peers
    link.close()

`LinkClock` reads like `liveimpro.midi.clock.MidiClock` (`state`, `beat_at`, `time_of_beat`,
`next_boundary`, `bpm`, `beats_per_bar`, `pickup_beats`, `time_signature`, `running`, `feed`),
so the engine and the phrase detector take either as their tempo source (`source` names it).

Why a thread and snapshots: aalink's `Link` needs an asyncio loop (it is built inside one and
hands its callbacks to it), and the engine runs in plain threads that must never wait on one.
So a daemon thread runs a loop of its own, owns the `Link`, and every `REFRESH` s publishes a
snapshot `(t, beat, beats per second, peers)` by one attribute assignment (atomic under the GIL).
A reader takes the snapshot and extrapolates: no lock, no call into Link, a few float operations.

Why bracket the beat with perf_counter: Link's clock is its own (on Linux CLOCK_MONOTONIC_RAW, in
µs, `link.time`), the engine's is `time.perf_counter()` (CLOCK_MONOTONIC, which NTP may slew
against the raw clock), and aalink has no beat-at-a-given-time call: `link.beat` is the beat *now*.
Reading `perf_counter()` just before and after `link.beat` puts that beat at the midpoint, within
half the bracket (a few µs; brackets wider than `MAX_BRACKET`, where the thread lost the CPU or
the GIL in between, are read again). Every snapshot is measured afresh, so the two clocks' offset
and drift never need modelling.

Bar lines: Link keeps peers' *phase* in step modulo the quantum, not their beat numbers, so the
quantum is the bar (`beats_per_bar`: 4/4 is 4 beats, 6/8 is 3, 7/8 is 3.5) and a bar line is
where the beat is a multiple of it. Peers that use another quantum share beats and tempo, not bars.

Start/stop: we join with Link's start/stop sync on. Link's timeline always runs, and a session
whose transport nobody ever started is followed as it runs; once a peer (a DAW) has started its
transport, a stop makes the state "stopped" (`beat_at` and `next_boundary` say None, as a stopped
MIDI clock does: answers follow the player's tempo and grid) until a peer starts it again.

Limits: a peer's tempo change or start/stop reaches the readers within `REFRESH` s (between
snapshots the old tempo is extrapolated: 10 ms at a 10 % jump is 1 ms of beat time); the state is
"lost" when the thread has published nothing for `LOST_AFTER` s (then `beat_at` and
`next_boundary` say None, as a lost MIDI clock does). MIDI clock messages are consumed by `feed`
and ignored: with Link, Link is the tempo.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time

from ..errors import UserError
from .meter import bar_beats, pickup_beats
from .messages import CLOCK, CONTINUE, SONG_POSITION, START, STOP

REFRESH = 0.01  # s between snapshots: how late a peer's tempo change reaches the readers
MAX_BRACKET = 100e-6  # s: a beat read taking longer than this is read again (the thread was interrupted)
LOST_AFTER = 0.5  # s without a snapshot (the Link thread stalled or died): the tempo source is lost
START_TIMEOUT = 5.0  # s for aalink to start and publish its first snapshot
DEFAULT_BPM = 120.0  # the session's tempo when no peer is there to give one
_TRANSPORT = (CLOCK, START, CONTINUE, STOP, SONG_POSITION)
MISSING = "Ableton Link needs the aalink package (pip install aalink)"


def require_aalink() -> None:
    """A UserError of one line (`MISSING`) where the aalink package is not installed."""
    try:
        import aalink  # noqa: F401 - here, so that the error is ours and one line
    except ImportError:
        raise UserError(MISSING) from None


class LinkClock:
    source = "link"  # what the status line calls this tempo source

    def __init__(self, time_signature: tuple[int, int] = (4, 4), bpm: float = DEFAULT_BPM,
                 refresh: float = REFRESH):
        num, den = time_signature
        if num < 1 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"time signature must be N/1..N/32, got {num}/{den}")
        self.time_signature = time_signature
        self.start_bpm, self.refresh = bpm, refresh
        self.error: BaseException | None = None  # what stopped the Link thread, if anything
        self._snapshot: tuple[float, float, float, int] | None = None  # (perf time, beat, beats/s, peers)
        self._transport: str | None = None  # None until a peer started the transport; then "playing" or "stopped"
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # --- owner side ------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> "LinkClock":
        """Join the Link session (a new one if no peer is there). UserError of one line when aalink
        is missing or Link does not start."""
        require_aalink()
        self._thread = threading.Thread(target=self._run, name="liveimpro-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._snapshot is None:
            self.close()
            reason = f": {type(self.error).__name__}: {self.error}" if self.error else f" within {timeout:g} s"
            raise UserError(f"Ableton Link did not start{reason}")
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Leave the session (the other peers carry on without us)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> "LinkClock":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the Link thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._follow())
        except BaseException as exc:  # noqa: BLE001 - kept for start() and the owner; readers see "stopped"
            self.error = exc
        finally:
            self._ready.set()

    async def _follow(self) -> None:
        from aalink import Link

        link = Link(self.start_bpm)  # takes the running loop: this thread's
        try:
            link.quantum = self.beats_per_bar  # before joining: the phase is aligned to it
            link.start_stop_sync_enabled = True
            link.enabled = True
            while not self._stopping.is_set():
                if link.playing:
                    self._transport = "playing"
                elif self._transport is not None:
                    self._transport = "stopped"
                self._snapshot = _sample(link)
                self._ready.set()
                await asyncio.sleep(self.refresh)
        finally:
            self._snapshot = None
            link.enabled = False

    # --- the reading side (any thread; never blocks) ----------------------------------------------
    @property
    def running(self) -> bool:
        """Link's timeline always runs; True while the session is followed."""
        return self._snapshot is not None

    @property
    def peers(self) -> int | None:
        """Other apps in the session (0: our own session), None when not following it."""
        snap = self._snapshot
        return None if snap is None else snap[3]

    @property
    def bpm(self) -> float | None:
        snap = self._snapshot
        return None if snap is None else snap[2] * 60.0

    @property
    def beats_per_bar(self) -> float:
        return bar_beats(self.time_signature)

    @property
    def pickup_beats(self) -> float:
        return pickup_beats(self.time_signature)

    def state(self, now: float) -> str:
        """"running" while snapshots come, "lost" when they stopped coming, "stopped" after close
        (or the thread's end: `error`) and while a peer has the session's transport stopped.
        Unlike a MIDI clock's, the timeline is known ahead: `now` may lie in the future."""
        snap = self._snapshot
        if snap is None or self._transport == "stopped":
            return "stopped"
        return "lost" if _stale(snap) else "running"

    def position(self, now: float) -> float | None:
        """Link's beat at `now` (perf_counter seconds), None when not following."""
        snap = self._snapshot
        return None if snap is None else snap[1] + (now - snap[0]) * snap[2]

    def beat_at(self, now: float) -> float | None:
        """Link's beat at `now`; None unless "running". Bar lines are its multiples of beats_per_bar."""
        snap = self._snapshot
        if snap is None or _stale(snap) or self._transport == "stopped":
            return None
        return snap[1] + (now - snap[0]) * snap[2]

    def time_of_beat(self, beat: float) -> float | None:
        """When (perf_counter seconds) Link's timeline reaches `beat` at the current tempo."""
        snap = self._snapshot
        return None if snap is None else snap[0] + (beat - snap[1]) / snap[2]

    def next_boundary(self, now: float, unit: str = "bar") -> float | None:
        """Time of the first bar line (or beat) at or after `now`; None unless "running"."""
        if unit not in ("bar", "beat"):
            raise ValueError(f"unit must be 'bar' or 'beat', got {unit!r}")
        snap = self._snapshot  # one snapshot for both reads: a new one between them could disagree
        if snap is None or _stale(snap) or self._transport == "stopped":
            return None
        step = self.beats_per_bar if unit == "bar" else 1.0
        beat = snap[1] + (now - snap[0]) * snap[2]
        target = math.ceil(beat / step - 1e-9) * step
        return max(now, snap[0] + (target - snap[1]) / snap[2])

    def feed(self, message, time: float) -> bool:
        """MIDI clock, transport and song position are consumed and ignored (Link is the tempo)."""
        try:
            return message[0] in _TRANSPORT
        except (TypeError, IndexError, KeyError):
            return False


def _stale(snap) -> bool:
    """The Link thread has published nothing for LOST_AFTER s (measured now, whatever time is asked about)."""
    return time.perf_counter() - snap[0] > LOST_AFTER


def _sample(link) -> tuple[float, float, float, int]:
    """(perf_counter time, Link's beat then, beats per second, peers): the beat read between two
    perf_counter reads, taken at their midpoint; read again (up to 5 times) when the bracket is
    wider than MAX_BRACKET or the tempo changed meanwhile, else the narrowest read is kept."""
    best = None
    for _ in range(5):
        tempo = link.tempo
        before = time.perf_counter()
        beat = link.beat
        after = time.perf_counter()
        if link.tempo != tempo:
            continue
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2, beat, tempo / 60.0)
        if after - before <= MAX_BRACKET:
            break
    if best is None:  # the tempo moved on every read: keep the last, at the newer tempo
        best = (0.0, (before + after) / 2, beat, link.tempo / 60.0)
    return best[1], best[2], best[3], link.num_peers


__all__ = ["LinkClock", "MISSING", "REFRESH", "require_aalink"]
