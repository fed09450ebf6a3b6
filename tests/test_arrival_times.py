"""liveimpro.midi.reader.ArrivalTimes: message times from the MIDI system's deltas, anchored to
perf_counter by the reads, unmoved by how late the reader got to each message."""
import random

from liveimpro.midi.reader import RESYNC, WINDOW, ArrivalTimes


def read_late(true_times, lateness, lost=()):
    """(delta, read) pairs as the reader sees them: the deltas between the messages RtMidi kept
    (a lost message's time is gone from them), each read `lateness(i)` after it arrived."""
    pairs, previous = [], None
    for i, t in enumerate(true_times):
        if i in lost:
            continue
        pairs.append((0.0 if previous is None else t - previous, t + lateness(i)))
        previous = t
    return pairs


def test_times_are_the_arrivals_whatever_the_reader_waited():
    rng = random.Random(1)
    truth = [100.0 + i * 0.0208 for i in range(500)]  # a 120 bpm MIDI clock
    # a reader late by 0.1..0.6 ms, and stalled 5-30 ms one read in ten (the GIL, a busy CPU)
    pairs = read_late(truth, lambda i: rng.uniform(0.0001, 0.0006) + (rng.uniform(0.005, 0.03) if i % 10 == 3 else 0))
    times = ArrivalTimes()
    got = [times.at(delta, read) for delta, read in pairs]
    errors = [g - t for g, t in zip(got, truth)]
    assert max(abs(e) for e in errors[20:]) < 0.0002  # within the least lateness seen, stalls or not
    assert all(g <= read for g, (_, read) in zip(got, pairs))  # never after the read
    assert all(b >= a for a, b in zip(got, got[1:]))


def test_a_lost_message_is_caught_up_within_a_window():
    truth = [i * 0.01 for i in range(600)]  # 6 s of messages 10 ms apart
    lost = {200}  # RtMidi's queue was full: the time from 199 to 200 is missing from the deltas
    pairs = read_late(truth, lambda i: 0.0003, lost=lost)
    kept = [t for i, t in enumerate(truth) if i not in lost]
    times = ArrivalTimes()
    got = [times.at(delta, read) for delta, read in pairs]
    late = [abs(g - t) for g, t in zip(got, kept)]
    assert max(late[:199]) < 0.001
    assert max(late[199 + int(2 * WINDOW / 0.01):]) < 0.001  # caught up after at most two windows
    assert max(late) <= 0.01 + 0.001 and RESYNC < 0.01


def test_the_first_message_is_timed_at_its_read():
    times = ArrivalTimes()
    assert times.at(0.0, 5.0) == 5.0
    assert abs(times.at(0.5, 5.5004) - 5.5) < 1e-9
