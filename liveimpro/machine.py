"""What machine a figure was measured on: the header line every benchmark script prints with its
figures (our machines differ: an AMD EPYC and an Intel Xeon gave 2-3x different step times).

    machine_info(f"torch {torch.__version__}")   # 'AMD EPYC 7B13; 2 cores; load average 0.41 0.52 0.60; Python 3.11.7; torch ...'

And what it grants a thread: `make_thread_realtime(priority)` (SCHED_FIFO and exact timers, for the
threads that stamp input and send output; None, or why the system refused).

And how a process is told to end: `stop = set_on_signals(signal.SIGINT, signal.SIGTERM)`, a
`SignalEvent` (an Event that a signal handler may set; `threading.Event` may not, below) that the
main thread waits on; `stacks_on_request()` for a process that does not end.
"""
from __future__ import annotations

import ctypes
import faulthandler
import os
import platform
import select
import signal
import socket
import sys

_PR_SET_TIMERSLACK = 29  # prctl option (linux/prctl.h)


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def machine_info(*versions: str) -> str:
    """CPU, cores, load average and Python version, then `versions` (e.g. "torch 2.13.0")."""
    return "; ".join([cpu_model(), f"{os.cpu_count()} cores", f"load average {load_average()}",
                      f"Python {platform.python_version()}", *versions])


def make_thread_realtime(priority: int) -> str | None:
    """Give the calling thread SCHED_FIFO at `priority` and (Linux) exact timers.
    Returns None on success, else the reason the system gave."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if not hasattr(os, "sched_setscheduler"):
        return f"real-time scheduling is not available on {sys.platform}"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # pid 0: this thread
    except OSError as exc:
        return f"SCHED_FIFO refused: {exc.strerror}"
    return None


def stacks_on_request() -> None:
    """From now on `kill -USR2 PID` prints every thread's Python stack to stderr, and the process
    goes on: what a process that does not end was doing (the tests send it before they kill a duet
    that outlived its SIGTERM). Where there is no SIGUSR2 (Windows), nothing."""
    if not hasattr(signal, "SIGUSR2") or sys.__stderr__ is None:
        return
    try:  # the process's own stderr (fd 2), whatever sys.stderr has been replaced with
        faulthandler.register(signal.SIGUSR2, file=sys.__stderr__, all_threads=True)
    except (ValueError, OSError, RuntimeError):  # no file descriptor behind it
        pass


class SignalEvent:
    """An Event that a signal handler may set: `set()` from a handler or any thread, `is_set()`,
    `wait(timeout)` (True once set). `threading.Event.set` takes the lock that `Event.wait` holds
    on its way in and out; a handler runs in the main thread between two of its bytecodes, so a
    handler that sets the Event the main thread is waiting on may find that lock held by the very
    thread it runs in, and wait for itself for ever (seen: duet ignoring every SIGTERM mid-answer,
    its main thread's stack in `threading.Event.wait`'s `__exit__`, then in the handler's `set`).
    Here `set()` only sets a flag and sends a byte through a socket pair, neither of which waits,
    and `wait()` selects on the other end (a socket: select() takes one on every system)."""

    def __init__(self):
        self._flag = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def set(self) -> None:
        self._flag = True
        try:
            self._writer.send(b"\0")
        except OSError:  # its buffer full of earlier sets, or closed: the flag is set all the same
            pass

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """Until set (True) or `timeout` s pass (False); a signal meanwhile does not end it early
        unless its handler sets this."""
        if not self._flag:
            select.select([self._reader], [], [], timeout)
        return self._flag


def set_on_signals(*signums: int) -> SignalEvent:
    """A SignalEvent that each of `signums` sets from now on (call it in the main thread)."""
    event = SignalEvent()
    for signum in signums:
        signal.signal(signum, lambda *_: event.set())
    return event


__all__ = ["machine_info", "cpu_model", "load_average", "make_thread_realtime", "stacks_on_request", "SignalEvent",
           "set_on_signals"]
