"""The Scheduler sends every event, in order, never early; cancel/stop leave nothing sounding.
No test here gates on how late an event is (scripts/bench_scheduler.py measures that)."""
from __future__ import annotations

import random
import threading
import time

import pytest

from liveimpro.live.scheduler import Scheduler, SendLog, melody_events
from liveimpro.live.sinks import MemorySink, Sink
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.messages import control_change, is_note_off, note_off, note_on


def wait_for(condition, timeout=5.0):
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def sink():
    return MemorySink()


@pytest.fixture
def scheduler(sink):
    scheduler = Scheduler(sink).start()
    yield scheduler
    scheduler.stop()


def test_sends_everything_in_time_order_and_never_early(scheduler, sink):
    rng = random.Random(1)
    t0 = time.perf_counter() + 0.05
    events = [(t0 + rng.uniform(0, 0.3), control_change(0, i % 100, i // 100)) for i in range(300)]
    for t, message in rng.sample(events, len(events)):  # scheduled in random order
        scheduler.schedule(t, message)
    wait_for(lambda: len(sink.messages) == len(events))
    expected = [m for _, m in sorted(events)]
    assert [m for _, m in sink.messages] == expected
    scheduled = dict((m, t) for t, m in events)
    assert all(sent >= scheduled[m] for sent, m in sink.messages)
    assert scheduler.log.count == len(events)
    assert scheduler.log.lateness_ms().min() >= 0


def test_note_off_goes_before_note_on_at_the_same_instant(scheduler, sink):
    t = time.perf_counter() + 0.05
    scheduler.schedule(t, note_on(0, 60, 90))  # a repeated key: the new strike...
    scheduler.schedule(t, note_off(0, 60))  # ...and the end of the previous one, scheduled after it
    wait_for(lambda: len(sink.messages) == 2)
    assert [m for _, m in sink.messages] == [note_off(0, 60), note_on(0, 60, 90)]


def test_an_earlier_event_wakes_the_sender(scheduler, sink):
    now = time.perf_counter()
    scheduler.schedule(now + 1.5, control_change(0, 1, 1))
    time.sleep(0.02)  # the sender now sleeps until shortly before now + 1.5
    scheduler.schedule(now + 0.05, control_change(0, 2, 2))
    wait_for(lambda: len(sink.messages) == 1)
    sent, message = sink.messages[0]
    assert message == control_change(0, 2, 2)
    assert sent < now + 1.5


def test_move_retimes_the_tags_pending_events_at_that_time_only(scheduler, sink):
    """An answer following a clock moves the notes it sent ahead (liveimpro.live.answer): the
    events of that tag due at the old time go at the new one, in their order; others stay. (The
    other tag's events mark the times: the order tells, not how late anything was.)"""
    t = time.perf_counter() + 0.2
    scheduler.schedule_many([(t, note_off(0, 60)), (t, note_on(0, 62, 90)), (t + 0.1, note_off(0, 62))], "answer")
    scheduler.schedule_many([(t - 0.05, control_change(0, 7, 100)), (t + 0.075, control_change(0, 8, 1))], "other")
    scheduler.move([(t, t - 0.1), (t + 0.1, t + 0.05), (t + 5.0, t)], "answer")  # the last: nothing is at it
    wait_for(lambda: len(sink.messages) == 5)
    assert [m for _, m in sink.messages] == [note_off(0, 60), note_on(0, 62, 90), control_change(0, 7, 100),
                                             note_off(0, 62), control_change(0, 8, 1)]
    sent = {m: at for at, m in sink.messages}
    assert sent[note_on(0, 62, 90)] >= t - 0.1 and sent[note_off(0, 62)] >= t + 0.05  # never early


def test_cancel_drops_pending_events_and_releases_sounding_notes_of_that_tag(scheduler, sink):
    now = time.perf_counter()
    scheduler.schedule_many([(now + 0.02, note_on(1, 64, 90)), (now + 30, note_off(1, 64)),
                             (now + 30, note_on(1, 67, 90)), (now + 31, note_off(1, 67))], tag="answer")
    scheduler.schedule_many([(now + 0.02, note_on(0, 48, 90)), (now + 0.2, note_off(0, 48))], tag="other")
    wait_for(lambda: len(sink.messages) == 2)
    assert scheduler.sounding("answer") == [(1, 64)]
    assert scheduler.cancel("answer") == 3
    assert sink.messages[-1][1] == note_off(1, 64)  # released at once, not at now + 30
    assert scheduler.sounding("answer") == []
    wait_for(lambda: len(sink.messages) == 4)  # the other tag plays on
    assert sink.messages[-1][1] == note_off(0, 48)
    assert scheduler.pending == 0
    assert len(sink.sounding) == 0


def test_cancel_all_drops_everything_and_releases_every_sounding_note(scheduler, sink):
    now = time.perf_counter()
    scheduler.schedule_many([(now + 0.02, note_on(0, 60, 90)), (now + 30, note_off(0, 60))], tag="a")
    scheduler.schedule_many([(now + 0.02, note_on(1, 72, 90)), (now + 30, note_off(1, 72)),
                             (now + 40, note_on(1, 74, 90))], tag="b")
    wait_for(lambda: len(sink.messages) == 2)
    assert scheduler.cancel_all() == 3
    assert sorted(m for _, m in sink.messages[2:]) == sorted([note_off(0, 60), note_off(1, 72)])
    assert len(sink.sounding) == 0 and scheduler.pending == 0


def test_stop_leaves_nothing_sounding(sink):
    scheduler = Scheduler(sink).start()
    now = time.perf_counter()
    scheduler.schedule_many(melody_events(
        melody_from_tuples([(60, 0, 8), (64, 0, 8), (67, 0.01, 8), (72, 10, 1)], tempo=60), start=now + 0.02))
    wait_for(lambda: len(sink.messages) == 3)
    scheduler.stop()
    assert len(sink.sounding) == 0
    ons = sorted(m[1] for _, m in sink.messages if not is_note_off(m))
    offs = sorted(m[1] for _, m in sink.messages if is_note_off(m))
    assert ons == offs == [60, 64, 67]
    with pytest.raises(RuntimeError, match="scheduler is stopped"):
        scheduler.schedule(now, note_on(0, 60, 90))
    scheduler.stop()  # a second stop is harmless


def test_stop_with_drain_plays_what_is_pending_first(sink):
    scheduler = Scheduler(sink).start()
    scheduler.schedule_many(melody_events(melody_from_tuples([(60, 0, 0.1), (62, 0.1, 0.1)], tempo=120),
                                          start=time.perf_counter() + 0.02))
    scheduler.stop(drain=True)
    assert [m[1] for _, m in sink.messages] == [60, 60, 62, 62]
    assert len(sink.sounding) == 0


def test_a_sink_that_raises_does_not_stop_the_sender():
    class Broken:
        def __init__(self):
            self.calls = 0

        def send(self, message):
            self.calls += 1
            raise RuntimeError("broken sink")

    broken = Broken()
    scheduler = Scheduler(broken).start()
    now = time.perf_counter()
    scheduler.schedule_many([(now + 0.01 * i, control_change(0, 7, i)) for i in range(5)])
    wait_for(lambda: broken.calls == 5)
    scheduler.stop()
    assert scheduler.errors == 5


def test_works_beside_a_busy_python_thread(scheduler, sink):
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sum(i * i for i in range(500))

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        now = time.perf_counter()
        events = [(now + 0.01 + 0.003 * i, control_change(0, 1, i % 128)) for i in range(100)]
        scheduler.schedule_many(events)
        wait_for(lambda: len(sink.messages) == 100)
    finally:
        stop.set()
        worker.join()
    assert [m for _, m in sink.messages] == [m for _, m in events]


def test_malformed_messages_are_refused(scheduler):
    with pytest.raises(ValueError, match="must not be empty"):
        scheduler.schedule(0.0, b"")
    with pytest.raises(ValueError, match="must start with a status byte"):
        scheduler.schedule(0.0, [60, 100])
    with pytest.raises(ValueError, match="data bytes must be in range 0..127"):
        scheduler.schedule(0.0, [0x90, 200, 100])


def test_next_due_is_the_earliest_pending_time(scheduler):
    assert scheduler.next_due() is None
    now = time.perf_counter()
    scheduler.schedule(now + 20, note_on(0, 60, 90))
    scheduler.schedule(now + 10, note_on(0, 62, 90))
    assert scheduler.next_due() == now + 10
    scheduler.cancel_all()
    assert scheduler.next_due() is None


def test_overdue_events_are_sent_at_once_and_counted(scheduler, sink):
    scheduler.schedule(time.perf_counter() - 1.0, note_on(0, 60, 90))
    wait_for(lambda: len(sink.messages) == 1)
    assert scheduler.overdue == 1


def test_melody_events_follow_the_tempo_and_release_before_striking():
    melody = melody_from_tuples([(60, 0, 1), (60, 1, 1, 100)], tempo=120)
    events = melody_events(melody, start=10.0, channel=2)
    assert events == [(10.0, note_on(2, 60, 80)), (10.5, note_off(2, 60)), (10.5, note_on(2, 60, 100)),
                      (11.0, note_off(2, 60))]


def test_send_log_keeps_the_last_events_in_order():
    log = SendLog(size=4)
    for i in range(6):
        log.add(float(i), i + 0.001 * i)
    assert log.count == 6
    assert list(log.lateness_ms().round(6)) == [2.0, 3.0, 4.0, 5.0]
    summary = log.summary()
    assert summary["count"] == 6 and summary["max_ms"] == pytest.approx(5.0)


def test_sink_subclass_contract_marks_itself_gone_and_counts():
    class Unplugged(Sink):
        name = "unplugged"

        def _write(self, message):
            if message[1] == 62:
                raise OSError("device unplugged")

    sink = Unplugged()
    scheduler = Scheduler(sink).start()
    now = time.perf_counter()
    scheduler.schedule_many([(now + 0.01, note_on(0, 60, 90)), (now + 0.02, note_on(0, 62, 90)),
                             (now + 0.03, note_on(0, 64, 90))])
    scheduler.stop(drain=True)
    assert sink.gone and sink.failures == 1
    assert sink.lost_notes == [(0, 60)]
    assert sink.dropped >= 2  # the note-on after it and the stop's note-off
