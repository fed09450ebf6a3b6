"""The real-time I/O process: liveimpro's JACK MIDI ports, and nothing else.

    python -m liveimpro.live.io_process --commands FD --events FD [--in PORT] [--out PORT] [--synth PORT]
                                        [--end-cc N] [--rtmidi API]

Started by `liveimpro.live.io_link.IoProcess` (never by hand). It opens one JACK client,
"liveimpro", with the ports "liveimpro in" and "liveimpro out", and runs `IoCycle` as its
process callback: input stamped from JACK's frame time goes to the engine's process through the
events pipe; the engine's timed events come through the commands pipe and are written at their
frame (see `liveimpro.live.io_cycle`). The model, torch and the engine live in the other process,
so no model step, garbage collection or GIL hand-over there can delay a cycle here.

With `--rtmidi API` (ALSA, CoreMIDI, or JACK through RtMidi; not Windows: its pipes are POSIX
ones) the ports are RtMidi's, named and kept connected as duet's in-process ones
(`liveimpro.midi.reconnect`), and `IoCycle` runs in the passes of a loop of its own, a sender that
sleeps until the next event and spins the rest (`liveimpro.live.io_rtmidi`); the rest below holds
for both.

Threads: JACK's process thread (the callback); a thread blocked on the commands pipe, which only
appends whole records to the cycle's inbox; the main thread, which sends the stats every
`STATS_INTERVAL` s, keeps named ports connected and waits for the end. Python's cyclic garbage
collector is off after start-up: the cycle makes no reference cycles, and a collection would stop
the callback for milliseconds.

The end, and every note released first:
- STOP from the engine, or the commands pipe closed (the engine's process ended or crashed):
  every sounding note gets its note-off in the next cycle, then the client closes; exit 0;
- SIGTERM: the same; SIGINT is ignored (Ctrl-C reaches the whole process group, and the engine
  stops us with STOP once its answer is recorded);
- the JACK server stopped: exit `EXIT_SERVER_GONE` (the engine's side starts a new process when
  the server is back: a fresh process, so no state of the dead server is left in libjack);
- no server at start: exit `EXIT_NO_SERVER`, a line on stderr.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import signal
import sys
import threading
import time

from ..midi.jack_names import jack_client_name
from ..midi.ports import stderr_silenced
from ..errors import PortError
from ..machine import SignalEvent, set_on_signals, stacks_on_request
from ..midi.jack_clock import JackClock
from .io_cycle import IoCycle
from .io_ports import PortKeeper
from .io_wire import CLOCK_LEAD, INPUT_LOST, INPUT_UNUSED, READY, RecordReader, Stats, pack_event

CLIENT_NAME = "liveimpro"
PORT_NAMES = ("liveimpro in", "liveimpro out")
EXIT_NO_SERVER, EXIT_SERVER_GONE, EXIT_PORT = 3, 4, 5
STATS_INTERVAL = 0.25  # s
RELEASE_WAIT = 0.02  # s after the release before the client closes: the note-offs' cycles go out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="liveimpro-io")
    parser.add_argument("--commands", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--in", dest="input")
    parser.add_argument("--out", dest="output")
    parser.add_argument("--synth", help="the MIDI input of duet's own synth (exact name), fed like --out")
    parser.add_argument("--no-barge-in", action="store_true")
    parser.add_argument("--end-cc", type=int, default=None, help="the footswitch's controller (the standby note)")
    parser.add_argument("--rtmidi", metavar="API", default=None,
                        help="ports through python-rtmidi's API (alsa, coremidi, winmm, jack), not JACK-Client")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ending = set_on_signals(signal.SIGTERM)  # (set by JACK's shutdown callback too)
    stacks_on_request()  # `kill -USR2 PID`: every thread's stack on stderr (a hang report)
    os.set_blocking(args.events, False)
    return (_serve_rtmidi if args.rtmidi else _serve_jack)(args, ending)


def _serve_jack(args, ending: SignalEvent) -> int:
    try:
        import jack
    except (ImportError, OSError) as exc:
        return _fail(f"JACK-Client cannot load libjack: {exc}", EXIT_NO_SERVER)
    try:
        with stderr_silenced():
            client = jack.Client(jack_client_name(CLIENT_NAME), no_start_server=True)
    except jack.JackError:
        return _fail("no JACK server is running", EXIT_NO_SERVER)
    server_gone = threading.Event()
    client.set_shutdown_callback(lambda *_: (server_gone.set(), ending.set()))
    inport, outport = (client.midi_inports.register(PORT_NAMES[0]), client.midi_outports.register(PORT_NAMES[1]))
    cycle = IoCycle(inport, outport, JackClock(client), client.samplerate, args.events,
                    barge_in=not args.no_barge_in, end_cc=args.end_cc)
    client.set_process_callback(cycle.process)
    keeper = PortKeeper(client, {"input": args.input, "output": args.output, "synth": args.synth}, inport, outport,
                        args.events, cycle, say=_say)
    client.set_client_registration_callback(keeper.on_client)  # before activate(), as JACK requires
    client.activate()
    try:
        keeper.look(first=True)
    except PortError as exc:
        client.deactivate()
        client.close()
        return _fail(str(exc), EXIT_PORT)

    def look() -> None:  # every STATS_INTERVAL, in the main thread
        keeper.look()
        cycle.clock.keep_calibrated()

    _serve(args, cycle, ending, look, float(client.blocksize), client.samplerate, gone=server_gone.is_set)
    if server_gone.is_set():
        return EXIT_SERVER_GONE
    client.deactivate()
    client.close()
    return 0


def _serve_rtmidi(args, ending: SignalEvent) -> int:
    from ..midi.ports import choose_api
    from ..midi.reconnect import Connections
    from .io_rtmidi import RtMidiLoop
    from .sinks import MidiPortSink

    try:
        api = choose_api(args.rtmidi)
        sink = MidiPortSink.open(args.output, api=api)
    except PortError as exc:
        return _fail(str(exc), EXIT_PORT)
    loop = RtMidiLoop(sink, args.events, barge_in=not args.no_barge_in, end_cc=args.end_cc)
    connections = Connections(args.input, args.output, api, loop.on_midi, sink=sink, say=_say,
                              on_input_lost=lambda: _post(args.events, pack_event(INPUT_LOST)))
    try:
        connections.start()
    except PortError as exc:
        sink.close()
        return _fail(str(exc), EXIT_PORT)
    thread = threading.Thread(target=loop.run, name="liveimpro-io-loop", daemon=True)
    thread.start()
    _serve(args, loop.cycle, ending, lambda: None, 0.0, 0, wake=loop.wake.set)
    loop.stopping = True
    loop.wake.set()
    thread.join(1.0)
    connections.stop()
    sink.close()  # All Notes Off and All Sound Off on every channel played
    return 0


def _serve(args, cycle, ending: SignalEvent, look, period: float, rate: int, wake=None, gone=lambda: False) -> None:
    """READY, then the stats every STATS_INTERVAL and `look()` until the end; every note released."""
    threading.Thread(target=_read_commands, args=(args.commands, cycle, wake), name="liveimpro-io-commands",
                     daemon=True).start()
    os.write(args.events, pack_event(READY, period, b"", 0, rate))
    gc.collect()
    gc.freeze()
    gc.disable()
    while not ending.wait(STATS_INTERVAL):
        if (cycle.stop_requested or cycle.parent_gone) and cycle.released:
            break
        _send_stats(cycle, args.events)
        if cycle.error:
            _say(f"error in the real-time cycle ({cycle.errors} so far): {cycle.error}")
            cycle.error = ""
        look()
    if gone():
        return  # the JACK server went with every port: nothing to release, nothing to wait for
    if not cycle.released:  # SIGTERM: release now
        cycle.parent_gone = True
        if wake is not None:
            wake()
        deadline = time.monotonic() + 1.0
        while not cycle.released and time.monotonic() < deadline:
            time.sleep(0.002)
    time.sleep(RELEASE_WAIT)
    _send_stats(cycle, args.events)


def _post(fd: int, record: bytes) -> None:
    try:
        os.write(fd, record)
    except OSError:
        pass


def _read_commands(fd: int, cycle: IoCycle, wake=None) -> None:
    """Whole records from the engine into the cycle's inbox; at the pipe's end, the cycle releases.
    `wake`: called after each (the rtmidi loop sleeps between passes; JACK's cycles come anyway)."""
    reader = RecordReader()
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            cycle.parent_gone = True
        else:
            cycle.inbox.extend(reader.feed(data))
        if wake is not None:
            wake()
        if not data:
            return


def _send_stats(cycle: IoCycle, fd: int) -> None:
    count = min(cycle.sent, len(cycle.lateness_us))
    late = sorted(cycle.lateness_us[:count])
    p99 = late[min(count - 1, int(0.99 * count))] if count else 0.0
    median = late[count // 2] if count else 0.0
    lead, cycle.lead = cycle.lead, float("-inf")  # a cycle's max between the two lines is lost: the next one counts
    clock = pack_event(CLOCK_LEAD, lead) if math.isfinite(lead) else b""
    clock += pack_event(INPUT_UNUSED, float(cycle.unused))
    try:
        os.write(fd, Stats(cycle.sent, median, p99, cycle.max_late_us, cycle.dropped, cycle.late_writes).pack() + clock)
    except OSError:
        pass


def _fail(message: str, code: int) -> int:
    print(f"liveimpro: {message}", file=sys.stderr, flush=True)
    return code


def _say(message: str) -> None:
    print(f"liveimpro duet: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
