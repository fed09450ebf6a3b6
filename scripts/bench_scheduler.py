"""How late does liveimpro's Scheduler send MIDI events, against a naive sleep-then-send loop?

    .venv/bin/python scripts/bench_scheduler.py [--events 2000] [--seconds 3] [--parts process,jack]

Two workloads: `random` (N events at uniform random times over S seconds) and `stream`
(a steady 16th-note stream at 120 bpm, note-on + note-off, for S seconds). Each runs in
this process, from a thread, with these methods:
- `naive`: `time.sleep(t - now)` then send, as mido's playback and many improvisers do;
- `sched-norm`: the Scheduler (sleep on a condition variable, then spin the last 2 ms) with
  its thread at normal priority;
- `sched-rt`: the same at real-time priority (its default, where the system allows it);
with the GIL switch interval at CPython's default 5 ms (the Scheduler's default too) and, for
sched-rt, at 1 ms; idle, and beside a busy thread: `torch` (LSTM-cell steps with a softmax,
like the engine's model; torch releases the GIL inside its operators) or `python` (pure
Python, holding the GIL between bytecodes: the worst case). Lateness = perf_counter just
before sink.send minus the scheduled time; the ratio compares p99 with naive's.

Then, on a private JACK server (dummy driver), the same through a real MIDI port: a receiver
subprocess with an rtmidi MidiIn on our port takes time.perf_counter() in its callback
(CLOCK_MONOTONIC, shared by processes on Linux) and the table gives delivered - scheduled;
this includes up to one JACK period, since JACK moves MIDI once per period, and "send p99"
is the lateness at sink.send of the same run. Messages are lost when jackd (started without
real-time priority by liveimpro.jackserver) misses its cycles: the xruns column counts those.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from liveimpro.cli import run_reporting_errors
from liveimpro.live.scheduler import Scheduler, SendLog
from liveimpro.live.sinks import MemorySink, MidiPortSink
from liveimpro.machine import machine_info
from liveimpro.midi.messages import control_change

END_MARKER = control_change(15, 127, 127)  # tells the receiver the run is over
LEAD_IN = 0.3  # seconds between scheduling and the first event


def workload(kind: str, events: int, seconds: float, rng: random.Random) -> list[float]:
    """Offsets in seconds from the start, sorted (`events` is used by the random workload only)."""
    if kind == "random":
        return sorted(rng.uniform(0, seconds) for _ in range(events))
    sixteenth = 60.0 / 120 / 4
    onsets = np.arange(0, seconds, sixteenth)
    return sorted(list(onsets) + list(onsets + 0.1))  # note-on and, 0.1 s later, its note-off


def messages(count: int) -> list[bytes]:
    """Distinct messages (the receiver matches by content): CC number/value carry the index."""
    return [control_change(0, i >> 7, i & 127) for i in range(count)]


class BusyThread:
    """Work beside the sender, as the engine's model does: torch LSTM steps or pure Python."""

    def __init__(self, kind: str):
        self._stop, self._ready = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=getattr(self, "_" + kind), daemon=True)

    def __enter__(self):
        self._thread.start()
        self._ready.wait()  # importing torch holds the GIL for a second: not part of the measurement
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _torch(self):
        import torch
        torch.set_num_threads(1)  # one core for the model, as the engine runs it
        cell, head = torch.nn.LSTMCell(64, 256), torch.nn.Linear(256, 300)
        x, h, c = torch.zeros(1, 64), torch.zeros(1, 256), torch.zeros(1, 256)
        self._ready.set()
        with torch.no_grad():
            while not self._stop.is_set():
                h, c = cell(x, (h, c))
                torch.softmax(head(h), dim=-1)

    def _python(self):
        self._ready.set()
        while not self._stop.is_set():
            sum(i * i for i in range(200))


METHODS = (("naive", 5.0), ("sched-norm", 5.0), ("sched-rt", 5.0), ("sched-rt", 1.0))


def run_scheduler(sink, times: list[float], msgs: list[bytes], realtime: bool) -> SendLog:
    scheduler = Scheduler(sink, switch_interval=None, realtime=realtime, history=len(times) + 1).start()
    if realtime and not scheduler.realtime:
        print(f"  (sched-rt runs at normal priority: {scheduler.realtime_problem})")
    scheduler.schedule_many(zip(times, msgs))
    while scheduler.pending:
        time.sleep(0.05)
    scheduler.stop()
    return scheduler.log


def run_naive(sink, times: list[float], msgs: list[bytes]) -> SendLog:
    log = SendLog(len(times) + 1)

    def play():  # in a thread of its own, as the Scheduler's sender is
        for t, message in zip(times, msgs):
            delay = t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            sink.send(message)
            log.add(t, sent)

    player = threading.Thread(target=play)
    player.start()
    player.join()
    return log


def one_run(method, sink, offsets, switch_ms, busy):
    sys.setswitchinterval(switch_ms / 1000.0)
    msgs = messages(len(offsets))
    with BusyThread(busy) if busy != "idle" else contextlib.nullcontext():
        time.sleep(0.1)  # let the busy thread get going
        start = time.perf_counter() + LEAD_IN
        times = [start + o for o in offsets]
        if method == "naive":
            log = run_naive(sink, times, msgs)
        else:
            log = run_scheduler(sink, times, msgs, realtime=method == "sched-rt")
    return times, msgs, log


def stats(ms: np.ndarray) -> str:
    return f"{np.median(ms):8.3f} {np.percentile(ms, 99):8.3f} {ms.max():8.3f}"


def in_process(args, rng) -> None:
    print("\nIn process: lateness at sink.send (ms)")
    print(f"{'workload':8} {'method':10} {'switch':>6} {'load':7} {'events':>6} {'median':>8} {'p99':>8} "
          f"{'max':>8} {'naive p99 / p99':>16}")
    for kind in ("random", "stream"):
        offsets = workload(kind, args.events, args.seconds if kind == "random" else args.stream_seconds, rng)
        for busy in ("idle", "torch", "python"):
            baseline = None
            for method, switch_ms in METHODS:
                late = one_run(method, MemorySink(), offsets, switch_ms, busy)[2].lateness_ms()
                p99 = np.percentile(late, 99)
                baseline = p99 if baseline is None else baseline
                print(f"{kind:8} {method:10} {switch_ms:5.1f}ms {busy:7} {len(late):6d} {stats(late)} "
                      f"{baseline / max(p99, 1e-6):15.1f}x", flush=True)


def receive(port_name: str) -> None:
    """Receiver subprocess: record the arrival time of every message on our port until END_MARKER
    (or until nothing has come for 5 s: a lost marker must not hang the benchmark)."""
    import rtmidi
    arrivals: list[tuple[float, list[int]]] = []
    done = threading.Event()

    def on_message(event, _data):
        now = time.perf_counter()  # first thing: the timestamp
        arrivals.append((now, event[0]))
        if bytes(event[0]) == END_MARKER:
            done.set()

    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "bench-receiver")
    midi_in.ignore_types(sysex=False, timing=True, active_sense=True)
    ports = midi_in.get_ports()
    midi_in.open_port(next(i for i, p in enumerate(ports) if port_name in p))
    midi_in.set_callback(on_message)
    print("ready", flush=True)
    seen = -1
    while not done.wait(5.0) and len(arrivals) != seen:
        seen = len(arrivals)
    midi_in.cancel_callback()  # before deleting: JACK's thread may be in the callback
    midi_in.delete()
    json.dump([(t, m) for t, m in arrivals], sys.stdout)


def count_xruns(jack) -> int | None:
    """How many xruns (cycles in which a client was late: MIDI written then can be lost) jackd has
    reported so far, read from the log file liveimpro.jackserver gives it; None if there is none."""
    log = getattr(jack, "_log", None)
    if log is None:
        return None
    fd = log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).count(b"XRun")  # pread: jackd's file offset stays


def over_jack(args, rng) -> None:
    from liveimpro.jackserver import JackServer
    from liveimpro.midi.ports import open_output
    with JackServer.for_purpose("bench") as jack:
        sink = MidiPortSink(open_output(None, api="jack", client_name="liveimpro-bench"), name="bench out")
        print(f"\nThrough JACK (dummy driver, {'real-time' if jack.realtime else 'not real-time'}, period {jack.period} frames = {jack.period_ms:.2f} ms): "
              "delivered - scheduled, as taken by a receiver process (ms)")
        print(f"{'workload':8} {'method':10} {'switch':>6} {'load':7} {'events':>6} {'median':>8} {'p99':>8} "
              f"{'max':>8} {'send p99':>8} {'lost':>5} {'xruns':>5}")
        try:
            for kind in ("random", "stream"):
                offsets = workload(kind, args.events, args.seconds if kind == "random" else args.stream_seconds, rng)
                for busy in ("idle", "torch"):
                    for method, switch_ms in METHODS[:3]:
                        receiver = subprocess.Popen(
                            [sys.executable, __file__, "--receive", "liveimpro-bench out"],
                            stdout=subprocess.PIPE, text=True)
                        if receiver.stdout.readline().strip() != "ready":
                            raise SystemExit("the receiver process could not connect to our JACK port")
                        time.sleep(0.2)  # the connection is made in the receiver's next JACK cycles
                        xruns_before = count_xruns(jack)
                        times, msgs, log = one_run(method, sink, offsets, switch_ms, busy)
                        sink.send(END_MARKER)
                        arrivals = json.loads(receiver.communicate(timeout=60)[0])
                        arrived = {bytes(m): t for t, m in arrivals}
                        delivered = np.array([arrived[m] - t for t, m in zip(times, msgs) if m in arrived]) * 1e3
                        print(f"{kind:8} {method:10} {switch_ms:5.1f}ms {busy:7} {len(delivered):6d} "
                              f"{stats(delivered)} {np.percentile(log.lateness_ms(), 99):8.3f} "
                              f"{len(msgs) - len(delivered):5d} {xrun_text(xruns_before, count_xruns(jack)):>5}",
                              flush=True)
        finally:
            sink.close()


def xrun_text(before: int | None, after: int | None) -> str:
    return "n/a" if before is None or after is None else str(after - before)




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events of the random workload (<= 16000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the random workload in seconds")
    parser.add_argument("--stream-seconds", type=float, default=8.0, help="length of the 16th-note stream")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="process,jack",
                        help="what to measure, comma-separated: process (in this process), jack (through JACK)")
    parser.add_argument("--receive", metavar="PORT", help=argparse.SUPPRESS)  # receiver subprocess mode
    args = parser.parse_args()
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the private jackd is stopped, not left running
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.receive:
        receive(args.receive)
        return 0
    print("command:", " ".join([os.path.relpath(sys.executable)] + sys.argv))
    print("machine:", machine_info(f"{platform.system()} {platform.release()}"))
    rng = random.Random(args.seed)
    parts = args.parts.split(",")
    if "process" in parts:
        in_process(args, rng)
    if "jack" in parts:
        over_jack(args, rng)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_scheduler", main))
