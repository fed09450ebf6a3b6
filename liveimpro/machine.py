"""What machine a figure was measured on: the header line every benchmark script prints with its
figures (our machines differ: an AMD EPYC and an Intel Xeon gave 2-3x different step times).

    machine_info(f"torch {torch.__version__}")   # 'AMD EPYC 7B13; 2 cores; load average 0.41 0.52 0.60; Python 3.11.7; torch ...'

And what it grants a thread: `make_thread_realtime(priority)` (SCHED_FIFO and exact timers, for the
threads that stamp input and send output; None, or why the system refused).
"""
from __future__ import annotations

import ctypes
import faulthandler
import os
import platform
import signal
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


__all__ = ["machine_info", "cpu_model", "load_average", "make_thread_realtime", "stacks_on_request"]
