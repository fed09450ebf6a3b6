"""liveimpro.machine: what a process is granted and how it is told to end."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# 3,000 times: a SignalEvent set by a SIGALRM 0.1-2 ms after the main thread began waiting on it
# in 20-us slices (so that the signal often comes while a wait is on its way in or out). Measured:
# 3.5 s; with threading.Event in its place it hung before the end in 3 runs of 3 (30 s each): its
# set() in the handler waited for the lock that the interrupted wait() held.
WAITS = """
import random, signal
from liveimpro.machine import SignalEvent
for _ in range(3000):
    event = SignalEvent()
    signal.signal(signal.SIGALRM, lambda *_: event.set())
    signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0001, 0.002))
    while not event.wait(0.00002):
        pass
print("all set")
"""


def test_a_signal_handler_sets_a_signal_event_whatever_the_waiting_thread_is_doing():
    result = subprocess.run([sys.executable, "-c", WAITS], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout == "all set\n", result.stderr


def test_set_on_signals_sets_it_once_a_signal_comes_and_not_before():
    probe = ("import os, signal\n"
             "from liveimpro.machine import set_on_signals\n"
             "stop = set_on_signals(signal.SIGTERM)\n"
             "print(stop.wait(0.05), end=' ')\n"
             "os.kill(os.getpid(), signal.SIGTERM)\n"
             "print(stop.wait(5.0), stop.is_set())\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout == "False True True\n", result.stderr
