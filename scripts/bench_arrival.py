"""How steady are input times, read from the MIDI system's clock against when the reader got to them?

    .venv/bin/python scripts/bench_arrival.py [--bpm 90 120] [--seconds 12] [--hog python|none]

Debian's `jack_midi_clock` ticks a MIDI clock (24 a beat, sample-accurate) into an input port of
this process on a private JACK server (dummy driver, --sync, 1.33 ms period). liveimpro's
`PortReader` drains the port while a busy pure-Python thread in the same process holds the GIL
between bytecodes (`--hog python`, the worst case of the engine's own work) and, in another process,
a busy loop competes for the CPUs. Each tick gets two times: `at`, the reader's arrival time from
RtMidi's delta times (liveimpro.midi.reader.ArrivalTimes, what the engine uses now), and `read`,
time.perf_counter() when the reader got to it (what it used before). For each: the ticks' distance
from the least-squares line through them (jitter, ms), and the tempo a `MidiClock` fed with them
reads on every tick from the second beat on (error in % of the clock's tempo), median / p99 /
worst, and p99's ratio read / at.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from liveimpro.cli import run_reporting_errors
from liveimpro.errors import UserError
from liveimpro.jackserver import JackServer, run_jack_tool
from liveimpro.midi.clock import MidiClock
from liveimpro.midi.messages import CLOCK, START
from liveimpro.midi.ports import close_client, open_input
from liveimpro.midi.reader import PortReader


def python_hog(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))  # bytecodes: the GIL is let go only at the switch interval


def cpu_hog() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(bpm: float, seconds: float, hog: str) -> dict:
    import jack  # JACK-Client, a dependency of liveimpro (the transport)

    ticks: list[tuple[float, float]] = []
    midi_in = open_input(None, api="jack", client_name="bench-arrival")
    midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
    port = next(p for p in run_jack_tool(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
                if p.endswith("bench-arrival in"))
    reader = PortReader(midi_in, lambda event, at: ticks.append((at, time.perf_counter()))
                        if event[0] == [CLOCK] else None).start()
    transport = jack.Client("bench-transport", no_start_server=True)
    transport.transport_stop()
    transport.transport_frame = 0
    clock = subprocess.Popen(["jack_midi_clock", "-b", str(bpm), "-B", port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop, hogs, procs = threading.Event(), [], []
    try:
        time.sleep(1.0)  # jack_midi_clock connects at its start
        if hog == "python":
            hogs = [threading.Thread(target=python_hog, args=(stop,), daemon=True)]
            procs = [cpu_hog()]
            for thread in hogs:
                thread.start()
        transport.transport_start()
        time.sleep(seconds)
    finally:
        stop.set()
        for proc in procs + [clock]:
            proc.terminate()
            proc.wait()
        transport.transport_stop()
        transport.close()
        reader.stop()
        close_client(midi_in)
    return {kind: measure([t[i] for t in ticks], bpm) for i, kind in enumerate(("at", "read"))}


def measure(times: list[float], bpm: float) -> dict:
    times = np.array(times[24:])  # from the second beat
    n = np.arange(len(times))
    slope, intercept = np.polyfit(n, times, 1)
    jitter = np.abs(times - (slope * n + intercept)) * 1000
    clock, errors = MidiClock(), []
    clock.feed([START], times[0] - 0.001)
    for i, t in enumerate(times):
        clock.feed([CLOCK], float(t))
        if i >= 24 and clock.bpm is not None:
            errors.append(abs(clock.bpm - bpm) / bpm * 100)
    return {"ticks": len(times), "jitter": jitter, "tempo": np.array(errors)}


def row(values: np.ndarray) -> str:
    return f"{np.median(values):.3f} / {np.percentile(values, 99):.3f} / {values.max():.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bpm", type=float, nargs="+", default=[90.0, 120.0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--hog", choices=("python", "none"), default="python")
    args = parser.parse_args()
    if shutil.which("jack_midi_clock") is None:
        raise UserError("jack_midi_clock is not installed (scripts/setup.sh installs it)")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {cpu} ({os.cpu_count()} cores), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}, hog: {args.hog}")
    print("| clock | times | ticks | jitter ms: median / p99 / worst | tempo error %: median / p99 / worst |")
    print("|---|---|---|---|---|")
    with JackServer.for_purpose("bench"):
        for bpm in args.bpm:
            result = run(bpm, args.seconds, args.hog)
            for kind in ("at", "read"):
                r = result[kind]
                print(f"| {bpm:g} bpm | {kind} | {r['ticks']} | {row(r['jitter'])} | {row(r['tempo'])} |")
            ratio = np.percentile(result["read"]["jitter"], 99) / max(np.percentile(result["at"]["jitter"], 99), 1e-9)
            print(f"| {bpm:g} bpm | p99 jitter ratio read / at | | {ratio:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_arrival", main))
