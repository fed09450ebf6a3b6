"""The floor subject of scripts/bench_e2e.py: the fastest possible "answer" through JACK.

    python scripts/e2e/floor.py      # ports "floor-in:floor in" and "floor-out:floor out"

A JACK MidiIn and MidiOut (python-rtmidi, no liveimpro code): when CC 64 = 127 arrives, one
note-on goes out at once, its note-off 0.1 s later. What the player measures through it is two
JACK hops and two polls: the least any client of this server could take to answer the pedal.
Read by polling, not by a callback (a Python callback in JACK's thread waits for the GIL, see
liveimpro.midi.reader), at SCHED_FIFO where allowed, as the engine's reader runs. Ends on
SIGTERM or SIGINT with its note released.
"""
import os
import signal
import time

import rtmidi

NOTE = [0x90, 72, 100]
POLL = 0.0002  # s: sleep between polls of an empty port, as tests/peer.py and the engine's reader
# s between activating one JACK client and the next: JACK 2 (1.9.21, --sync) activating two clients
# back to back sometimes never gets a cycle finished again ("SuspendRefNum error" every cycle in
# jackd's log, jackaudio/jack2#156): the floor hears the pedal, its answers never arrive. Measured on
# 2 busy cores: 10 of 30 floors started without this pause hung so, 0 of 32 with it
SETTLE = 0.3


def main() -> None:
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="floor-in", queue_size_limit=1 << 16)  # room for a flood
    midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
    midi_in.open_virtual_port("floor in")
    time.sleep(SETTLE)
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="floor-out")
    out.open_virtual_port("floor out")
    try:  # after the ports: JACK's client threads are its own business
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
    except (AttributeError, OSError):
        pass
    off_at = None  # when the sounding note is released
    heard = answered = 0
    while not stopping:
        while (event := midi_in.get_message()) is not None:
            message = event[0]
            heard += 1
            if len(message) == 3 and message[0] & 0xF0 == 0xB0 and message[1] == 64 and message[2] == 127:
                out.send_message(NOTE)
                off_at = time.perf_counter() + 0.1
                answered += 1
        if off_at is not None and time.perf_counter() >= off_at:
            out.send_message([0x80, NOTE[1], 0])
            off_at = None
        time.sleep(POLL)
    if off_at is not None:
        out.send_message([0x80, NOTE[1], 0])
    for port in (midi_in, out):
        port.close_port()
        port.delete()
    print(f"floor: {heard} messages heard, {answered} pedal presses answered", flush=True)  # for a diagnosis


if __name__ == "__main__":
    main()
