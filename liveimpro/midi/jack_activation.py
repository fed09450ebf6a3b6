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
one look — and one CI run of tests/test_faults.py's crash test caught the output's client
unserved so ("liveimpro-out was not finished" x13386). Every JACK client of liveimpro's (rtmidi's
ports, the JACK watch, FluidSynth's JACK audio) is activated through this.
"""
from __future__ import annotations

import contextlib
import threading
import time

GAP = 0.3  # s between two activations in this process

_lock = threading.Lock()
_last = [float("-inf")]  # monotonic time of the last activation


@contextlib.contextmanager
def paced_activation():
    """Wait until `GAP` s have passed since this process last activated a JACK client, then let
    the caller activate one (one caller at a time)."""
    with _lock:
        wait = _last[0] + GAP - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            yield
        finally:
            _last[0] = time.monotonic()


__all__ = ["paced_activation", "GAP"]
