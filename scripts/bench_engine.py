"""The live engine's reaction time, against regenerating at the phrase end, and an input flood.

    .venv/bin/python scripts/bench_engine.py [--model DIR] [--rounds 30] [--flood-seconds 10]

Everything runs on real ports of a private JACK server (dummy driver). A player subprocess
plays calls into the engine's input port: N notes (16 or 64) of 60 ms each, then a
footswitch press (CC 85) that ends the phrase; the next call, 0.4 s later, barges in on the
answer. Reaction = from the engine's phrase-end decision to the first answer note-on handed
to the output port (taken in the sender thread, after the send returned).

- `primed` is liveimpro: the model heard every call note while it was played, so the
  phrase end costs one proposal;
- `regenerate` is the same engine re-reading the whole call at the phrase end (reset, one
  model step per call note, then the answer), as Magenta's MIDI interface regenerates.

Then the flood: a second subprocess sends 5,000 messages/s (aftertouch, pitch bend, CC 1,
bursts of clock ticks and stray bytes) for 10 s into the same input while the player plays;
the table gives reaction times during the flood, messages dropped by the bounded queue or
skipped by the parser, and the engine process's resident memory before and after.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from liveimpro.cli import run_reporting_errors

ENGINE_PORT = "bench-engine in"
END_CC = 85


def play(rounds: int, notes: int) -> None:
    """Player subprocess: `rounds` calls of `notes` notes, each ended by the footswitch."""
    from liveimpro.midi.ports import open_output
    port = open_output(ENGINE_PORT, api="jack", client_name="bench-player")
    rng = np.random.default_rng(0)
    time.sleep(0.3)
    for _ in range(rounds):
        pitches = 60 + np.cumsum(rng.choice([-2, -1, 1, 2, 3, -3], size=notes)) % 24
        for pitch in pitches:
            port.send_message([0x90, int(pitch), 80])
            time.sleep(0.055)
            port.send_message([0x80, int(pitch), 0])
            time.sleep(0.005)
        port.send_message([0xB0, END_CC, 127])
        port.send_message([0xB0, END_CC, 0])
        time.sleep(0.4)
    port.delete()


def flood(rate: int, seconds: float) -> None:
    """Flood subprocess: `rate` messages a second, in batches every millisecond."""
    from liveimpro.midi.ports import open_output
    port = open_output(ENGINE_PORT, api="jack", client_name="bench-flood")
    kinds = [[0xD0, 64], [0xE0, 0, 64], [0xB0, 1, 64], [0xF8], [0xA0, 60, 10], [0x42, 0x42]]
    sent, start = 0, time.perf_counter()
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * rate)
        while sent < due:
            port.send_message(kinds[sent % len(kinds)])
            sent += 1
        time.sleep(0.001)
    port.delete()
    print(sent, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def run_engine(model: Path, prime: bool, rounds: int, notes: int, flood_args=None) -> dict:
    from liveimpro.live.controls import parse_cc_option
    from liveimpro.live.engine import Engine, EngineConfig
    from liveimpro.live.sinks import MidiPortSink
    from liveimpro.lstm.improviser import Improviser
    from liveimpro.midi.ports import open_input
    from liveimpro.midi.reader import PortReader
    from liveimpro.music.responder import Responder

    responder = Responder(Improviser.load(model, np.random.default_rng(0)), prime=prime)
    sink = MidiPortSink.open(None, api="jack", client_name="bench-engine")
    engine = Engine(responder, sink, EngineConfig(controls=parse_cc_option(f"end={END_CC}"))).start()
    midi_in = open_input(None, api="jack", client_name="bench-engine")
    midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
    reader = PortReader(midi_in, engine.on_midi).start()
    before = rss_mb()
    script = Path(__file__).resolve()
    flooder = None
    if flood_args:
        flooder = subprocess.Popen([sys.executable, str(script), "--flood-child", *map(str, flood_args)],
                                   stdout=subprocess.PIPE, text=True)
    subprocess.run([sys.executable, str(script), "--play-child", str(rounds), str(notes)], check=True)
    flooded = int(flooder.communicate(timeout=120)[0]) if flooder else 0
    time.sleep(0.5)
    after = rss_mb()
    reader.stop()
    midi_in.delete()
    engine.stop()
    sink.close()
    return {"reactions": np.array(engine.timer.reactions) * 1e3, "phrases": engine.phrases,
            "dropped": engine.dropped, "skipped": sum(vars(engine.live.skipped).values()),
            "flooded": flooded, "rss": (before, after), "late": engine.scheduler.log.summary()}


def row(name: str, r: dict) -> str:
    x = r["reactions"]
    if x.size == 0:
        return f"{name:26} no answers"
    return (f"{name:26} {x.size:6d} {np.median(x):9.3f} {np.percentile(x, 99):9.3f} {x.max():9.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped default)")
    parser.add_argument("--rounds", type=int, default=30, help="calls per measurement (default 30)")
    parser.add_argument("--flood-rate", type=int, default=5000, help="flood messages per second (default 5000)")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="flood duration (default 10)")
    parser.add_argument("--play-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flood-child", nargs=2, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.play_child:
        play(*args.play_child)
        return 0
    if args.flood_child:
        flood(int(args.flood_child[0]), args.flood_child[1])
        return 0

    from liveimpro.cli.options import DEFAULT_MODEL
    from liveimpro.jackserver import JackServer
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the private JACK server is stopped
    model = args.model or DEFAULT_MODEL
    print("command:", " ".join([os.path.relpath(sys.executable)] + sys.argv))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"model {model}")
    with JackServer.for_purpose("bench-engine") as jack:
        print(f"JACK dummy driver, period {jack.period_ms:.2f} ms")
        print(f"\nreaction: phrase-end decision -> first answer note sent (ms)\n"
              f"{'engine':26} {'calls':>6} {'median':>9} {'p99':>9} {'max':>9}")
        results = {}
        for notes in (16, 64):
            rounds = args.rounds if notes == 16 else max(5, args.rounds // 3)
            for prime, name in ((True, "primed"), (False, "regenerate")):
                results[name, notes] = r = run_engine(model, prime, rounds, notes)
                print(row(f"{name}, {notes}-note calls", r), flush=True)
            ratio = np.percentile(results["regenerate", notes]["reactions"], 99) / \
                np.percentile(results["primed", notes]["reactions"], 99)
            print(f"{'':26} p99 ratio regenerate/primed: {ratio:.1f}x")
        r = results["primed", 16]
        print(f"\nanswer notes sent vs scheduled (primed, 16-note calls): median {r['late']['median_ms']:.3f} ms, "
              f"p99 {r['late']['p99_ms']:.3f} ms, max {r['late']['max_ms']:.3f} ms over {r['late']['count']} events")

        print(f"\nflood: {args.flood_rate} messages/s for {args.flood_seconds:.0f} s while calls are played")
        quiet = run_engine(model, True, 10, 16)
        loud = run_engine(model, True, 10, 16, (args.flood_rate, args.flood_seconds))
        print(f"{'engine':26} {'calls':>6} {'median':>9} {'p99':>9} {'max':>9}")
        print(row("no flood", quiet))
        print(row("during the flood", loud))
        print(f"flood messages sent {loud['flooded']}, dropped by the input queue {loud['dropped']}, "
              f"skipped by the parser {loud['skipped']}; answers {loud['phrases']} of 10 calls; "
              f"resident memory {loud['rss'][0]:.1f} -> {loud['rss'][1]:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_engine", main))
