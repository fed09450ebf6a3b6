"""A second process on the engine's real ports: plays a scripted call into "liveimpro in" and
records what comes out of "liveimpro out" (or of its own virtual input), with timestamps.

    python tests/peer.py SCRIPT.json  ->  prints {"received": [[t, [bytes...]], ...], "sent": [...]}

Script fields (times in seconds from the peer's start, t0):
    events:  [[t, [bytes...]], ...]   messages to send at t (notes, CCs, clock...)
    clock:   {"bpm": 100, "from": 0.5, "until": 9.0}  MIDI clock: Start, ticks from `from` (beat 0), Stop at `until`
             (with "change_at": t, "to_bpm": b: from the first tick at or after t on, at b bpm)
    barge_in_after: s   after the first received note-on, wait s and play one note (0.1 s long)
    listen: s           the most time it runs
    quiet_after: s      leave once an answer began, every event is sent, no note sounds, and nothing
                        was sent or received for s seconds (a loaded machine answers later)
    leave_after_answer: s  leave s after the first note-on received (a device unplugged mid-answer)
    sink_port: name     instead of connecting to "liveimpro out", open a virtual input of this name
    source_port: name   instead of connecting to "liveimpro in", play from a virtual output of this name
    await: [names]      wait until JACK lists a connection on each of these ports (default: the ports the
                        peer connected to itself), for `timeout` s (default 3)
    say_open: true      print "open" on stderr once its ports exist (before "ready", which follows the
                        connections): a device that duet connects to is waited for so, not by polling
                        `jack_lsp` (whose clients coming and going race the clients duet opens:
                        liveimpro.midi.reconnect says how)
All times are time.perf_counter() (CLOCK_MONOTONIC, shared with the engine's process on Linux).
"""
import faulthandler
import json
import os
import sys
import time

import rtmidi

from liveimpro.midi.jack_activation import paced_graph_change
from liveimpro.midi.jack_names import jack_client_name
from liveimpro.midi.jackwatch import JackWatch
from liveimpro.midi.ports import close_client


def find(ports, name):
    for index, port in enumerate(ports):
        if name in port:
            return index
    raise SystemExit(f"peer: no port containing {name!r} in {ports}")


def wait_for_connections(watch: JackWatch, watched, timeout: float = 3.0) -> None:
    """Until JACK lists a connection on each watched port (it makes them in its next cycles, and a
    message sent before that is lost). Looked up through the watch's client, not a `jack_lsp` per
    look: each would be a client coming and going on the server while duet (or the peer itself)
    opens its own, and a client opened just as another closes may never be served
    (liveimpro.midi.jackwatch says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connected = [port for port in watch.ports("input") + watch.ports("output") if watch.connections(port)]
        if all(any(w in name for name in connected) for w in watched):
            return
        time.sleep(0.05)
    raise SystemExit(f"peer: JACK did not connect {watched} within {timeout} s")


PRIORITY = 4  # SCHED_FIFO of the peer's loop: below JACK's threads and duet's (main() says why)
# "peer-gw0", "peer-listen-gw0" per pytest worker (conftest.py sets the suffix; jack_names says why).
OUT_CLIENT, IN_CLIENT = jack_client_name("peer"), jack_client_name("peer-listen")


def main():
    script = json.load(open(sys.argv[1]))
    # A peer that outlives its own script by 5 s is stuck (in JACK, most likely): it prints where
    # each thread is and exits, so the test fails with that instead of waiting out its timeout.
    faulthandler.enable()
    faulthandler.dump_traceback_later(script.get("timeout", 3.0) + script.get("listen", 5.0) + 5.0, exit=True)
    api = rtmidi.API_UNIX_JACK
    # the peer's eyes on the server: it hears clients come and go (before the peer opens its second
    # client), lists connections, and hears the graph settle before each client of the peer closes
    watch = JackWatch.connect("peer-look")
    if watch is None:
        raise SystemExit("peer: no JACK server runs")
    # each client and each port once the graph has settled after the last (jack_activation)
    with paced_graph_change():
        out = rtmidi.MidiOut(api, name=OUT_CLIENT)
    with paced_graph_change():
        if script.get("source_port"):
            out.open_virtual_port(script["source_port"])
        elif script.get("events") or script.get("clock"):
            out.open_port(find(out.get_ports(), "liveimpro in"))
    # JACK 2 may never serve a client that a process opens just as another program's client
    # closes (liveimpro.midi.reconnect): the peer then hears and plays nothing. scripts/bench_e2e.py
    # measured it (10 of 30 starts without a pause between the two clients, 0 of 32 with 0.3 s).
    time.sleep(0.3)
    watch.wait_clients_quiet()
    with paced_graph_change():
        midi_in = rtmidi.MidiIn(api, name=IN_CLIENT)
    midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
    with paced_graph_change():
        if script.get("sink_port"):
            midi_in.open_virtual_port(script["sink_port"])
        else:
            midi_in.open_port(find(midi_in.get_ports(), "liveimpro out"))
    if script.get("say_open"):
        print("open", flush=True, file=sys.stderr)
    connected = (["liveimpro in"] if out.is_port_open() and not script.get("source_port") else []) + (
        [] if script.get("sink_port") else ["liveimpro out"])
    # read by polling in the loop below, not by a callback: a Python callback in JACK's thread that
    # waits for the GIL gets garbled messages (see liveimpro.midi.reader.PortReader). What arrives while
    # the connections are made (note-offs of notes lost before) is kept too.
    received = []
    try:
        wait_for_connections(watch, script.get("await", connected), script.get("timeout", 3.0))
    except BaseException:
        watch.close()
        raise
    print("ready", flush=True, file=sys.stderr)
    # The peer is the test's measuring instrument: at real-time priority, a busy machine does not
    # delay its reading, and so its timestamps, by a scheduler quantum. Below every JACK thread
    # (jackd's 10, its clients' process threads' 5) and duet's (5-7): peers above them (they ran at
    # 20) busy on both CPUs at once (their JSON, a flood's messages; three test workers share two
    # CPUs) can hold up jackd's cycle, and the dummy driver's timeline then falls behind the wall
    # clock (a full run logged XRuns of 27 ms, and a MIDI clock's bar line came 58 ms late). (This
    # thread only, set once the look at the server is over; where refused, it runs as before.)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(PRIORITY))
    except (AttributeError, OSError):
        pass

    t0 = time.perf_counter() + 0.5  # JACK makes the connections in its next cycles: let them settle
    events = [(t, m) for t, m in script.get("events", [])]
    clock = script.get("clock")
    if clock:
        events.append((clock["from"] - 0.002, [0xFA]))  # Start, then the first tick (beat 0) at `from`
        tick = clock["from"]
        while tick < clock["until"]:
            events.append((tick, [0xF8]))
            bpm = clock["to_bpm"] if "change_at" in clock and tick >= clock["change_at"] else clock["bpm"]
            tick += 60.0 / bpm / 24
        events.append((clock["until"], [0xFC]))
    events.sort(key=lambda e: e[0])
    sent, barged = [], False
    end = t0 + script.get("listen", 5.0)  # the most it listens
    # Listening ends on what arrives, not on a guess of when duet answers (a loaded machine answers
    # later): `leave_after_answer` s after the first answer note-on (a device unplugged mid-answer);
    # `quiet_after` s after the last message received or sent, once an answer began, every event is
    # sent and every note is released.
    leave_after, quiet_after = script.get("leave_after_answer"), script.get("quiet_after")
    first_on, last_heard, sounding = None, None, set()
    pending = list(events)
    while time.perf_counter() < end:
        now = time.perf_counter()
        while (event := midi_in.get_message()) is not None:
            message = event[0]
            received.append((now, message))
            last_heard = now
            kind = message[0] & 0xF0
            if kind == 0x90 and len(message) > 2 and message[2] > 0:
                first_on = now if first_on is None else first_on
                sounding.add((message[0] & 15, message[1]))
            elif kind in (0x80, 0x90) and len(message) > 1:
                sounding.discard((message[0] & 15, message[1]))
            elif kind == 0xB0 and len(message) > 2 and message[1] == 123:  # All Notes Off, as notes_of counts it
                sounding = {note for note in sounding if note[0] != message[0] & 15}
        if leave_after is not None and first_on is not None and now >= first_on + leave_after:
            break
        if (quiet_after is not None and first_on is not None and not pending and not sounding
                and now >= last_heard + quiet_after):
            break
        while pending and t0 + pending[0][0] <= now:
            _, message = pending.pop(0)
            out.send_message(message)
            sent.append((time.perf_counter() - t0, message))
            last_heard = time.perf_counter() if first_on is not None else last_heard  # quiet: nothing sent either
        if script.get("barge_in_after") is not None and not barged:
            ons = [t for t, m in received if m[0] & 0xF0 == 0x90 and m[2] > 0]
            if ons and now >= ons[0] + script["barge_in_after"]:
                barged = True
                at = now - t0
                pending += [(at, [0x90, 72, 100]), (at + 0.1, [0x80, 72, 0])]
                pending.sort(key=lambda e: e[0])
        time.sleep(0.0002)
    json.dump({"received": [(t - t0, m) for t, m in received], "sent": sent}, sys.stdout)
    sys.stdout.flush()
    # closed here, not by the interpreter's teardown, so that a close JACK never answers shows in the dump
    print("peer: closing its JACK clients", file=sys.stderr, flush=True)
    close_client(midi_in)  # each once the graph has settled, as the watch hears it (jack_activation)
    close_client(out)
    watch.close()
    print("peer: closed", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
