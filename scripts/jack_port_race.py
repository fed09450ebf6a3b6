"""Reproduce JACK 2's race between a client's port (un)registration and its latency notification.

    .venv/bin/python scripts/jack_port_race.py --clients rtmidi --seconds 30
    .venv/bin/python scripts/jack_port_race.py --clients jack-client --seconds 30

Starts a private JACK server (synchronous, as the tests run it; "liveimpro-race"), a busy loop on
each core, and three processes that each open a client, register an input and an output port,
pass a few hundred messages and close it again, over and over. Prints how many open/close rounds
each process made and how it ended, then what jackd logged.

Why: libjack's notification thread walks the client's list of ports (JackClient::HandleLatencyCallback,
on every graph change any client makes) while the client's own thread may be adding or removing a
port in it (jack_port_register / jack_port_unregister): jack2 issues #216 and #340. python-rtmidi's
JACK clients are active from their creation, so every port they open or close races it. Measured
2026-12-03 09:14-09:20 UTC on the 2-core Intel Xeon, nothing else running: `--clients rtmidi
--seconds 60`: 3 of 3 processes segfaulted (in 30 s: none did, ~230 rounds each, but jackd logged
698 errors: "ClientCloseAux wait error", "SuspendRefNum error"); under gdb, 3 of 3 segfaulted within
30-45 s in HandleLatencyCallback, the main thread in jack_port_unregister. `--clients
jack-client` (JACK-Client, ports registered before activate(), deactivate() before close(): what
liveimpro's JACK I/O process does): 0 of 3 in 30 s (~540 rounds each) and in 60 s (~1,020 each), and jackd
logged nothing either time.
It is what a test's peer or duet's one-process path can hit when another
client changes the graph as it opens or closes a port.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from liveimpro.cli import run_reporting_errors
from liveimpro.jackserver import JackServer


def churn_rtmidi(seconds: float, tag: str) -> int:
    import rtmidi
    rounds, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"race-out-{tag}")
        out.open_virtual_port("out")
        midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"race-in-{tag}")
        midi_in.open_virtual_port("in")
        for _ in range(200):
            out.send_message([0x90, 60, 90])
            out.send_message([0x80, 60, 0])
        time.sleep(0.003)
        for midi in (out, midi_in):
            midi.close_port()
            midi.delete()
        rounds += 1
    return rounds


def churn_jack_client(seconds: float, tag: str) -> int:
    import jack
    rounds, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        client = jack.Client(f"race-{tag}", no_start_server=True)
        out, midi_in = client.midi_outports.register("out"), client.midi_inports.register("in")

        def process(frames: int) -> None:
            out.clear_buffer()
            out.write_midi_event(0, b"\x90\x3c\x5a")
            for _ in midi_in.incoming_midi_events():
                pass

        client.set_process_callback(process)
        client.activate()
        client.connect(out, midi_in)  # a graph change the other clients are told of
        time.sleep(0.003)
        client.deactivate()
        client.close()
        rounds += 1
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", choices=("rtmidi", "jack-client"), default="rtmidi")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        churn = churn_rtmidi if args.clients == "rtmidi" else churn_jack_client
        print(f"{args.worker}: {churn(args.seconds, args.worker)} rounds", flush=True)
        return 0
    with JackServer.for_purpose("race") as server:
        hogs = [subprocess.Popen([sys.executable, "-c", f"import time\nend = time.monotonic() + {args.seconds}\n"
                                  "while time.monotonic() < end: pass"]) for _ in range(os.cpu_count() or 2)]
        workers = [subprocess.Popen([sys.executable, "-X", "faulthandler", __file__, "--clients", args.clients,
                                     "--seconds", str(args.seconds), "--worker", tag],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                   for tag in "abc"]
        for tag, worker in zip("abc", workers):
            try:
                out, _ = worker.communicate(timeout=args.seconds + 30)
            except subprocess.TimeoutExpired:
                worker.kill()
                out, _ = worker.communicate()
                print(f"{tag}: hung (killed {args.seconds + 30:.0f} s after its start)")
                continue
            ended = "ended" if worker.returncode == 0 else f"died ({worker.returncode}: "
            ended += "" if worker.returncode == 0 else ("segfault)" if worker.returncode == -11 else "signal)")
            print(out.strip() or f"{tag}: no rounds reported", "-", ended)
        for hog in hogs:
            hog.wait()
        logged = [line for line in server.log_text().splitlines() if "XRun" not in line and "Copyright" not in line]
        print(f"jackd logged {len(logged)} lines besides xruns and its banner; the last: {logged[-3:]}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("jack_port_race", main))
