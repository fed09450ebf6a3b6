"""JACK clients of one process are activated GAP s apart, and closed CLOSE_GAP s after the last
activation or close (liveimpro/midi/jack_activation.py says why)."""
from __future__ import annotations

import threading
import time

from liveimpro.midi import jack_activation
from liveimpro.midi.jack_activation import CLOSE_GAP, GAP, paced_activation, paced_close


def test_activations_back_to_back_are_spread_gap_apart():
    times = []
    for _ in range(3):
        with paced_activation():
            times.append(time.monotonic())
    assert all(b - a >= GAP - 0.005 for a, b in zip(times, times[1:])), times


def test_threads_activate_one_at_a_time_gap_apart():
    times, lock = [], threading.Lock()

    def activate():
        with paced_activation():
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=activate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    assert all(b - a >= GAP - 0.005 for a, b in zip(times, times[1:])), times


def test_an_activation_long_after_the_last_does_not_wait():
    jack_activation._last[0] = time.monotonic() - 10 * GAP
    began = time.monotonic()
    with paced_activation():
        pass
    assert time.monotonic() - began < GAP / 3


def test_a_close_waits_close_gap_after_an_activation_and_an_activation_gap_after_a_close():
    with paced_activation():
        pass
    began = time.monotonic()
    with paced_close():
        closed = time.monotonic()
    with paced_activation():
        activated = time.monotonic()
    assert closed - began >= CLOSE_GAP - 0.005 and closed - began < GAP
    assert activated - closed >= GAP - 0.005
