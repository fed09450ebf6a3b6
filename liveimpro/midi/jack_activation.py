"""One JACK client activated at a time, `GAP` s apart, in this process.

    with paced_activation():
        midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK)  # python-rtmidi activates its JACK client here
    with paced_graph_change():
        midi_in.open_virtual_port("liveimpro in")      # ... and registers its port after

JACK 2 (1.9.21) sometimes never serves a client that a process activates right after another
one: the server logs "SuspendRefNum error" (synchronous) or "client ... was not finished, state =
Triggered" (asynchronous) every cycle from then on, and the clients after it in the graph hear
nothing (jackaudio/jack2#156). Measured here: scripts/e2e/floor.py, two rtmidi clients activated
back to back on 2 busy cores, hung 10 times in 30 starts, and 0 in 32 with 0.3 s between them;
tests/peer.py the same. duet itself activates its clients far apart at start (the model loads in
between), but back to back after a JACK server restart — the input's client and the output's in
one look. Every JACK client of liveimpro's (rtmidi's ports, the JACK watch, FluidSynth's JACK
audio) is activated through this. The crash test of tests/test_faults.py still caught the output's
client unserved after this pacing ("liveimpro-out was not finished" x13386): that was another race,
a client opened as another program's client closes (liveimpro.midi.reconnect says how, and how
duet now waits it out). How much of jack2#156 is that same race is not known.

    with paced_close():
        midi_in.close_port(); midi_in.delete()      # what liveimpro.midi.ports.close_client does

Closing is paced too, `CLOSE_GAP` s after this process's last activation or close. libjack's
notification thread walks a client's port list on every graph change (`HandleLatencyCallback`)
while the client's own thread may be unregistering a port from that list (jackaudio/jack2#216,
#340), and rtmidi's clients unregister their ports while active. A close is such a graph change for
every other client of the process: closing a second client right after the first raced the second's
own notification, and a pytest worker segfaulted in `close_port()` so (tests/test_wire.py, three
workers); scripts/jack_port_race.py reproduces the race.

A gap in time narrows that race; it cannot end it on a loaded machine (CI: a worker segfaulted so
with the 0.1 s gap, in tests/test_wire.py). What ends it is knowing that the notifications are over.
JACK 2 follows every graph change with a reorder: in the server's notification thread it sends each
client, in turn, the latency notification that walks the port list, waiting for each client's reply
(`JackEngine::ComputeTotalLatencies`, synchronous), and only then tells the clients that asked
that the graph was reordered. So when a JACK client of this process that listens for reorders (a
`liveimpro.midi.jackwatch.JackWatch`, registered here by `observe_graph`) has heard a reorder after
the process's last change, and none for `SETTLE_QUIET` s, no client of the server is walking its
ports for that change any more: both paced contexts wait for that (`SETTLE_MAX` s at most) before
they let the caller go on. A process without a watch is paced by time alone.
"""
from __future__ import annotations

import contextlib
import threading
import time

GAP = 0.3  # s between two activations in this process
CLOSE_GAP = 0.1  # s from this process's last activation or close to its next close
SETTLE_QUIET = 0.02  # s without a reorder after the last change: the graph has settled
SETTLE_MAX = 0.5  # s a paced context waits for that at most (then it goes on: paced by time alone)

_lock = threading.Lock()
_last = [float("-inf")]  # monotonic time of the last activation
_observers: list = []  # JACK clients hearing reorders (`observe_graph`), the last one registered used
_before_last: list = [None, 0]  # [observer, its reorder count] when the last change began


@contextlib.contextmanager
def paced_activation():
    """Wait until `GAP` s have passed since this process last activated (or closed) a JACK client,
    then let the caller activate one (one caller at a time)."""
    with _paced(GAP):
        yield


@contextlib.contextmanager
def paced_graph_change():
    """Wait until the graph has settled since this process's last paced change (no gap in time),
    then let the caller change it: open a port of an active client (python-rtmidi activates its
    JACK client as it creates it, so its port comes after, while the clients hear the activation),
    or create a client where time has already spaced it from the last."""
    with _paced(0.0):
        yield


@contextlib.contextmanager
def paced_close():
    """Wait until `CLOSE_GAP` s have passed since this process last activated or closed a JACK
    client, then let the caller close one (one caller at a time)."""
    with _paced(CLOSE_GAP):
        yield


def observe_graph(observer) -> None:
    """Let the paced contexts wait for the graph to settle, as `observer` hears it: an object with
    `graph_reorders` (a count of the reorders it heard), `graph_quiet_for()` (s since the last) and
    `server_stopped` (an Event: set, nothing is waited for)."""
    with _lock:
        _observers.append(observer)


def forget_graph(observer) -> None:
    """Stop using `observer` (before its client closes)."""
    with _lock:
        if observer in _observers:
            _observers.remove(observer)
        if _before_last[0] is observer:
            _before_last[0] = None


def _wait_settled() -> None:
    """Until the observer that saw the last change begin has heard a reorder since, and none for
    `SETTLE_QUIET` s (`SETTLE_MAX` s at most)."""
    observer, count = _before_last
    if observer is None or observer.server_stopped.is_set():  # a dead server announces nothing
        return
    deadline = time.monotonic() + SETTLE_MAX
    while time.monotonic() < deadline:
        if observer.graph_reorders > count and observer.graph_quiet_for() >= SETTLE_QUIET:
            return
        time.sleep(0.002)


@contextlib.contextmanager
def _paced(gap: float):
    with _lock:
        wait = _last[0] + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _wait_settled()
        observer = _observers[-1] if _observers else None
        _before_last[:] = [observer, observer.graph_reorders if observer is not None else 0]
        try:
            yield
        finally:
            _last[0] = time.monotonic()


__all__ = ["paced_activation", "paced_graph_change", "paced_close", "observe_graph", "forget_graph", "GAP", "CLOSE_GAP",
           "SETTLE_QUIET", "SETTLE_MAX"]
