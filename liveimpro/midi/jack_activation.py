"""One JACK client activated at a time, `GAP` s apart, in this process.

    with paced_activation():
        midi_in.open_virtual_port("liveimpro in")     # python-rtmidi activates its JACK client here

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
"""
from __future__ import annotations

import contextlib
import threading
import time

GAP = 0.3  # s between two activations in this process
CLOSE_GAP = 0.1  # s from this process's last activation or close to its next close

_lock = threading.Lock()
_last = [float("-inf")]  # monotonic time of the last activation


@contextlib.contextmanager
def paced_activation():
    """Wait until `GAP` s have passed since this process last activated (or closed) a JACK client,
    then let the caller activate one (one caller at a time)."""
    with _paced(GAP):
        yield


@contextlib.contextmanager
def paced_close():
    """Wait until `CLOSE_GAP` s have passed since this process last activated or closed a JACK
    client, then let the caller close one (one caller at a time)."""
    with _paced(CLOSE_GAP):
        yield


@contextlib.contextmanager
def _paced(gap: float):
    with _lock:
        wait = _last[0] + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            yield
        finally:
            _last[0] = time.monotonic()


__all__ = ["paced_activation", "paced_close", "GAP", "CLOSE_GAP"]
