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


class Heard:
    """A stand-in for a JackWatch's reorder count (the real one is tested below)."""

    def __init__(self):
        self.graph_reorders, self.last = 0, time.monotonic()
        self.server_stopped = threading.Event()

    def graph_quiet_for(self) -> float:
        return time.monotonic() - self.last


def test_with_an_observer_a_close_waits_for_a_reorder_after_the_last_change_then_quiet():
    heard = Heard()
    jack_activation.observe_graph(heard)
    try:
        with paced_activation():
            pass

        def reorder_later():
            time.sleep(0.15)
            heard.last, heard.graph_reorders = time.monotonic(), 1

        threading.Thread(target=reorder_later).start()
        began = time.monotonic()
        with paced_close():
            closed = time.monotonic()
        assert closed - began >= 0.15 + jack_activation.SETTLE_QUIET - 0.005, closed - began
        # nothing heard after that close: the next change waits SETTLE_MAX at most, then goes on
        began = time.monotonic()
        with paced_close():
            closed = time.monotonic()
        assert jack_activation.SETTLE_MAX - 0.005 <= closed - began < jack_activation.SETTLE_MAX + 0.2
        heard.server_stopped.set()  # a dead server announces nothing: nothing is waited for
        began = time.monotonic()
        with paced_close():
            closed = time.monotonic()
        assert closed - began < CLOSE_GAP + 0.05
    finally:
        jack_activation.forget_graph(heard)


def test_a_watch_hears_the_reorders_that_an_rtmidi_clients_activation_port_and_close_cause(jack_server):
    import rtmidi

    from liveimpro.midi.jackwatch import JackWatch
    from liveimpro.midi.ports import close_client

    watch = JackWatch.connect("activation-watch")
    try:
        time.sleep(0.2)  # the watch's own activation's reorders are over
        counts = [watch.graph_reorders]
        with paced_activation():
            midi = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="activation-probe")
        with jack_activation.paced_graph_change():  # waits for the activation's reorders
            counts.append(watch.graph_reorders)
            quiet = watch.graph_quiet_for()
            midi.open_virtual_port("probe")
        close_client(midi)  # waits for the port's reorder
        counts.append(watch.graph_reorders)
        assert counts[0] < counts[1] < counts[2], counts
        assert quiet >= jack_activation.SETTLE_QUIET
    finally:
        watch.close()
