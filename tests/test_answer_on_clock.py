"""An answer that follows a MIDI clock keeps to the clock's beats through a tempo change, the notes
it sent ahead of their time included (liveimpro.live.answer's `move`).

The clock is the real MidiClock fed ticks at exact times (no jitter: its line then lies on them), the
answer the real AnswerStream and Responder; the scheduler records what the stream asks of it, with
the I/O process's horizon (the notes handed over half a second ahead), and carries out `move` as
the real ones do (tests/test_scheduler.py runs Scheduler.move; tests/test_io_wire.py IoScheduler.move
through the I/O process's IoCycle)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.live.answer import AnswerStream, ReactionTimer
from liveimpro.live.io_scheduler import STREAM_HORIZON
from liveimpro.live.input import LiveInput
from liveimpro.live.sinks import MemorySink
from liveimpro.lstm.improviser import Improviser
from liveimpro.midi.clock import MidiClock
from liveimpro.midi.messages import CLOCK, START, is_note_off
from liveimpro.music.responder import Responder
from liveimpro.music.settings import LiveSettings

BEFORE = 150.0  # bpm: the DAW's tempo before it jumps, during the answer
CALL = [(60, 0.0), (62, 0.2), (64, 0.4), (65, 0.6), (67, 0.8), (65, 1.0), (64, 1.2), (62, 1.4)]  # s: eighths at 150


class RecordingScheduler:
    """What AnswerStream asks of a scheduler, kept as [time, message] (moves applied)."""
    horizon = STREAM_HORIZON
    timeline_lead = 0.0

    def __init__(self):
        self.events: list[list] = []
        self.moves = 0

    def begin(self, tag) -> None:
        pass

    def schedule_many(self, events, tag=None) -> None:
        self.events += [[float(t), bytes(m)] for t, m in events]

    def move(self, moves, tag=None) -> None:
        moved = dict(moves)
        self.moves += len(moved)
        for event in self.events:
            event[0] = moved.get(event[0], event[0])

    def cancel(self, tag) -> int:
        return 0


def tick_times(first: float, change: float, after: float, until: float) -> list[float]:
    """Clock ticks from `first`: BEFORE's tempo up to `change`, `after` bpm from there."""
    times, t = [], first
    while t < until:
        times.append(t)
        t += 60.0 / ((BEFORE if t < change else after) * 24)
    return times


@pytest.fixture(scope="module")
def folder():
    return Improviser.load(DEFAULT_LSTM).folder


# faster (the notes sent ahead come sooner), slower, and a jump that leaves beats sent ahead in the past
@pytest.mark.parametrize("after, seed", [(200.0, 0), (200.0, 1), (200.0, 2), (110.0, 0), (300.0, 0)])
def test_notes_sent_ahead_move_with_a_tempo_change(folder, after, seed):
    rng = np.random.default_rng(seed)
    responder = Responder(Improviser(folder, rng, adapt=True), LiveSettings(length_ratio=3.0), rng)  # three bars
    live, clock = LiveInput(), MidiClock()
    now = time.perf_counter()
    base = now - 1.7  # the call and the clock began this long ago
    bar = 4 * 60.0 / BEFORE
    responder.start_call()
    for pitch, onset in CALL:
        live.feed([0x90, pitch, 90], base + onset)
        responder.hear(live.notes, base + onset)
        live.feed([0x80, pitch, 0], base + onset + 0.18)
    responder.hear(live.notes, base + CALL[-1][1] + 0.18, final=True)
    clock.feed([START], base - 0.001)
    ticks = tick_times(base, change=base + 2.5 * bar, after=after, until=base + 12.0)  # the change: half a bar into the answer
    fed = 0
    while ticks[fed] <= now:
        clock.feed([CLOCK], ticks[fed])
        fed += 1
    start = clock.next_boundary(now)
    assert start is not None and abs(start - (base + 2 * bar)) < 1e-6  # bar 3's line
    responder.given_bars = (start, bar)
    scheduler = RecordingScheduler()
    stream = AnswerStream(responder, scheduler, ReactionTimer(MemorySink()))
    stream.start(live.take_phrase(now), base + CALL[-1][1] + 0.18, start, clock.bpm, clock=clock)
    while stream.active:  # the engine's loop: ticks as they come, the stream's tick after each
        now = time.perf_counter()
        while ticks[fed] <= now:
            clock.feed([CLOCK], ticks[fed])
            fed += 1
        stream.tick(now)
        time.sleep(0.002)
    change = base + 2.5 * bar
    settled = change + 2 * 60.0 / after  # the clock reads a tempo jump within two beats of ticks
    onsets = sorted(t for t, m in scheduler.events if not is_note_off(m) and t >= settled)
    assert len(onsets) >= 4, scheduler.events
    new_ticks = np.array([t for t in ticks if t >= change])
    off_ms = [round(1e3 * float(np.abs(new_ticks - t).min()), 3) for t in onsets]
    # every note after that lies on a tick of the new tempo (to float rounding): placed at the old
    # tempo, one sent ahead lies off them by up to half a tick (6.25 ms at 200 bpm)
    assert max(off_ms) < 0.01, (off_ms, scheduler.moves)
    # and the line stays a line: in time order (a note-off first at one instant, as the schedulers send
    # them) each note-off ends a sounding note and no key is struck twice; none is left sounding
    sounding = set()
    for t, m in sorted(scheduler.events, key=lambda e: (e[0], not is_note_off(e[1]))):
        if is_note_off(m):
            assert m[1] in sounding, (t, m)
            sounding.discard(m[1])
        else:
            assert m[1] not in sounding, (t, m)
            sounding.add(m[1])
    assert not sounding
