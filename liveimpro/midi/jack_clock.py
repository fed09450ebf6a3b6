"""JACK's time on the perf_counter timeline: when the current cycle began, as every JACK client hears it.

    clock = JackClock(client)        # client: a JACK-Client jack.Client
    clock.cycle_start()              # in the process callback: perf_counter s of the cycle's first frame
    clock.keep_calibrated()          # now and then, outside it: NTP slews one clock, not the other

The real-time I/O process (`liveimpro.live.io_cycle`) stamps input and places output by it, so a
call and its answer share one timeline whatever the callbacks' own timing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time

CALIBRATE_INTERVAL = 5.0  # s between JACK clock <-> perf_counter calibrations


class JackClock:
    """JACK's microsecond clock mapped onto time.perf_counter() seconds, and the cycle's start.
    JACK-Client does not expose jack_get_cycle_times nor jack_get_time: they are called through
    ctypes on the libjack JACK-Client loaded, with preallocated out-parameters."""

    def __init__(self, client):
        import jack
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_get_cycle_times.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
                                             ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                                             ctypes.POINTER(ctypes.c_float)]
        self._lib = lib
        self._client = ctypes.c_void_p(int(jack._ffi.cast("uintptr_t", client._ptr)))
        self._frames, self._usecs, self._next, self._period = (ctypes.c_uint32(), ctypes.c_uint64(),
                                                                ctypes.c_uint64(), ctypes.c_float())
        self._out = tuple(ctypes.pointer(v) for v in (self._frames, self._usecs, self._next, self._period))
        self.offset = 0.0
        self.calibrated = 0.0  # time.monotonic() of the last calibration
        self.calibrate()

    def calibrate(self, reads: int = 16) -> None:
        """perf_counter - JACK time, from the read that took least time (the two clocks tick at
        the same rate; their origins differ). Called at start and now and then (NTP slews one)."""
        best = None
        for _ in range(reads):
            before = time.perf_counter()
            usecs = self._lib.jack_get_time()
            after = time.perf_counter()
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) / 2 - usecs * 1e-6)
        self.offset = best[1]
        self.calibrated = time.monotonic()

    def keep_calibrated(self) -> None:
        """Calibrate again if the last was `CALIBRATE_INTERVAL` s ago or more (outside the process
        callback: it reads both clocks 16 times)."""
        if time.monotonic() - self.calibrated >= CALIBRATE_INTERVAL:
            self.calibrate()

    def cycle_start(self) -> float:
        """perf_counter seconds of the current cycle's first frame (from the process callback).
        JACK's time of a cycle is a smoothed (DLL) estimate, on the audio interface's clock. Input
        and output both keep to it, never to when a callback happened to run: with no hardware
        clock (the dummy driver) on a loaded machine it was measured up to 15 ms behind the
        callbacks and 10 ms ahead of them for seconds after a stall, and a call stamped by one
        clock and answered by the other came 12-25 ms off its grid (the input stamps were bounded
        by the callback's run for a while: 1 run in 6 of tests/test_io_process.py's tempo test)."""
        self._lib.jack_get_cycle_times(self._client, *self._out)
        return self._usecs.value * 1e-6 + self.offset


__all__ = ["JackClock", "CALIBRATE_INTERVAL"]
