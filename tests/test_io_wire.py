"""The records between the engine's process and the real-time I/O process (liveimpro.live.io_wire):
fixed 24-byte records that survive any split of the byte stream, and the I/O process's stats."""
from __future__ import annotations

import random

from liveimpro.live.answer import ANSWER
from liveimpro.live.io_cycle import IoCycle
from liveimpro.live.io_scheduler import IoScheduler
from liveimpro.live.io_wire import (ANSWER_TAG, INPUT, RECORD_SIZE, SCHEDULE, STANDBY_FIRE, RecordReader, Stats,
                                    pack_event, unpack_event)


def test_an_event_comes_back_as_it_was_packed():
    for kind, message in ((SCHEDULE, bytes([0x90, 60, 100])), (INPUT, bytes([0xF8])), (STANDBY_FIRE, b"")):
        record = pack_event(kind, 1234.5678901, message, ANSWER_TAG, 70000)
        assert len(record) == RECORD_SIZE
        assert unpack_event(record) == (kind, 1234.5678901, message, ANSWER_TAG, 70000)


def test_records_are_whole_from_any_split_of_the_stream():
    records = [pack_event(SCHEDULE, i * 0.25, bytes([0x90, i % 128, 64]), 0, i) for i in range(200)]
    stream, rng, reader, out = b"".join(records), random.Random(0), RecordReader(), []
    at = 0
    while at < len(stream):
        size = rng.randint(1, 60)
        out += reader.feed(stream[at:at + size])
        at += size
    assert out == records


def test_stats_carry_the_median_and_cap_it():
    stats = Stats(sent=5000, median_us=12.4, p99_us=250.5, max_us=1800.0, dropped=3, late_writes=2)
    back = Stats.unpack(stats.pack())
    assert (back.sent, back.median_us, back.dropped, back.late_writes) == (5000, 12, 3, 2)
    assert abs(back.p99_us - 250.5) < 1e-3 and abs(back.max_us - 1800.0) < 1e-3
    assert Stats.unpack(Stats(median_us=1e9).pack()).median_us == 65535  # a whole second late: capped, not wrapped
    assert len(stats.pack()) == RECORD_SIZE


class Posted:
    """IoScheduler's end of the pipe: the records it posts, kept."""
    end_cc, timeline_lead, on_restarted = None, 0.0, None

    def __init__(self):
        self.records = b""

    def post(self, records: bytes) -> None:
        self.records += records


def test_a_move_retimes_the_answer_groups_events_at_that_time_in_the_io_process():
    """IoScheduler.move's records, carried out by the I/O process's cycle: the answer's pending
    events due at the old time are due at the new one; another time, another group, stay."""
    io = Posted()
    scheduler, cycle = IoScheduler(io), IoCycle(None, None, None, 48000, -1)
    scheduler.begin(ANSWER)
    scheduler.schedule_many([(10.0, bytes([0x80, 60, 0])), (10.0, bytes([0x90, 62, 90])), (10.5, bytes([0x80, 62, 0]))],
                            ANSWER)
    scheduler.begin(ANSWER)  # the next answer: a move is its group's only
    scheduler.schedule_many([(10.5, bytes([0x90, 64, 90]))], ANSWER)
    scheduler.move([(10.5, 10.4), (99.0, 1.0)], ANSWER)
    for record in RecordReader().feed(io.records):
        cycle._command(record)
    assert sorted((e[0], e[3]) for e in cycle._heap) == [
        (10.0, bytes([0x80, 60, 0])), (10.0, bytes([0x90, 62, 90])), (10.4, bytes([0x90, 64, 90])),
        (10.5, bytes([0x80, 62, 0]))]
