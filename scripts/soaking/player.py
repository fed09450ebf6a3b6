"""The soak's player: two JACK ports of the soak's own process, playing into "liveimpro in" and
listening to "liveimpro out".

`Player` sends each message at its time (it sleeps until SPIN before, then spins); its port is read
by a PortReader thread, which only appends (perf_counter, message). `Listener` follows, in the main
thread, what sounds on duet's output from what has come.
"""
from __future__ import annotations

import bisect
import time

from liveimpro.jackserver import run_jack_tool

SPIN = 0.001  # s: the sender sleeps until this long before a message is due, then spins


class Player:
    """Two JACK ports of this process: plays into "liveimpro in", listens to "liveimpro out"."""

    def __init__(self, server: str):
        from liveimpro.midi.ports import open_input, open_output
        from liveimpro.midi.reader import PortReader
        self.received: list = []  # (perf_counter, message): appended by the reader, read by the main thread
        self.sent: list = []  # (when it was due, perf_counter after the send, message)
        self._held: set = set()  # (status, pitch) of the player's keys down
        self.midi_in = open_input("liveimpro out", api="jack", client_name="soak-listener")
        self.midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
        # read from a thread of ours, not a callback in JACK's thread (see liveimpro.midi.reader.PortReader)
        self.reader = PortReader(self.midi_in, lambda event, _: self.received.append((time.perf_counter(), event[0])))
        self.reader.start()
        self.out = open_output("liveimpro in", api="jack", client_name="soak-player")
        _wait_for_connections(server, ["liveimpro in", "liveimpro out"])

    def send_at(self, t: float, message: list) -> None:
        while (left := t - time.perf_counter()) > SPIN:
            time.sleep(left - SPIN)
        while time.perf_counter() < t:
            pass
        self.out.send_message(message)
        self.sent.append((t, time.perf_counter(), message))
        if message[0] & 0xF0 == 0x90:
            self._held.add((message[0] & 0x0F, message[1]))
        elif message[0] & 0xF0 == 0x80:
            self._held.discard((message[0] & 0x0F, message[1]))

    def close(self) -> None:
        from liveimpro.midi.ports import close_client
        for channel, pitch in sorted(self._held):  # a call cut short by Ctrl-C: keys up all the same
            self.out.send_message([0x80 | channel, pitch, 0])
        self.reader.stop()
        for port in (self.midi_in, self.out):
            close_client(port)


def _wait_for_connections(server: str, ports: list[str], timeout: float = 5.0) -> None:
    """Until JACK lists a connection on each port (it connects in its next cycles; a message sent
    before that is lost), then a moment for them to settle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = run_jack_tool(["jack_lsp", "-s", server, "-c"], capture_output=True, text=True).stdout.splitlines()
        connected = {name for i, name in enumerate(listing)
                     if not name.startswith(" ") and i + 1 < len(listing) and listing[i + 1].startswith(" ")}
        if all(any(port in name for name in connected) for port in ports):
            time.sleep(0.2)
            return
        time.sleep(0.05)
    raise SystemExit(f"soak: JACK did not connect {ports} within {timeout:.0f} s")


class Listener:
    """What sounds on "liveimpro out" right now, from the player's received list (main thread)."""

    def __init__(self, received: list):
        self.received = received
        self.read = 0  # messages looked at
        self.sounding: set = set()  # (channel, pitch)
        self.last_time = 0.0  # when the last message came
        self.note_ons: list = []  # times of every note-on received

    def update(self) -> None:
        while self.read < len(self.received):
            t, m = self.received[self.read]
            self.read += 1
            self.last_time = t
            kind = m[0] & 0xF0
            if kind == 0x90 and m[2] > 0:
                self.sounding.add((m[0] & 0x0F, m[1]))
                self.note_ons.append(t)
            elif kind == 0x80 or kind == 0x90:
                self.sounding.discard((m[0] & 0x0F, m[1]))
            elif kind == 0xB0 and m[1] == 123:
                self.sounding = {n for n in self.sounding if n[0] != m[0] & 0x0F}

    def first_on_after(self, t: float) -> float | None:
        index = bisect.bisect_right(self.note_ons, t)  # note_ons is in time order
        return self.note_ons[index] if index < len(self.note_ons) else None
