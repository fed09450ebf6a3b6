"""The player of bench_e2e.py: JACK ports of the benchmark's own process, driven by one poll loop
with no thread and no callback (as tests/peer.py): play a call, press the pedal, listen.

Reaction = perf_counter when the first answer note-on came off the listening port - perf_counter
when the CC 64 press was handed to JACK; both in this process, so the clocks agree. The loop runs at
SCHED_FIFO where allowed (`realtime()`), so a busy machine does not delay the stamps by a scheduler
quantum; the subprocesses are all started outside it, so none inherits the priority.
"""
from __future__ import annotations

import contextlib
import os
import time

import rtmidi
from e2e.floor import SETTLE

from liveimpro.jackserver import run_jack_tool

EIGHTH = 0.25  # s: the calls are eight eighth notes at 120 bpm (2 s, one bar)
CALL = [60, 62, 64, 65, 67, 65, 64, 62]
POLL = 0.0002  # s: sleep between polls (a message is stamped at most this late, plus the wake-up)
FLOOD = ([0xA0, 60, 0], [0xE0, 0, 0])  # polyphonic aftertouch and pitch bend, values varied below


@contextlib.contextmanager
def realtime(priority: int = 20):
    """SCHED_FIFO for this thread within the block, where allowed (else it runs as it is)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        granted = True
    except (AttributeError, OSError):
        granted = False
    try:
        yield granted
    finally:
        if granted:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


class Player:
    """Plays into `ports[0]` (and floods it from a second output, at `flood_rate` messages/s),
    listens to `ports[1]`."""

    def __init__(self, ports: tuple[str, str], flood_rate: int = 0, pedal_delay: float = 0.0):
        self.pedal_delay = pedal_delay  # s between the last note-off and the pedal press
        # python-rtmidi itself, not liveimpro.midi.ports: the measuring instrument shares no code with
        # the product it measures; one client at a time, SETTLE apart (see floor.py: JACK 2 can hang
        # on two clients activated back to back)
        self.out = _open(rtmidi.MidiOut, "bench-player", ports[0])
        time.sleep(SETTLE)
        self.listen = _open(rtmidi.MidiIn, "bench-listener", ports[1])
        self.listen.ignore_types(sysex=True, timing=True, active_sense=True)
        time.sleep(SETTLE)
        self.flood = _open(rtmidi.MidiOut, "bench-flood", ports[0]) if flood_rate else None
        self.flood_rate, self.flood_sent, self.flood_t0 = flood_rate, 0, None
        self.sounding: set = set()  # (channel, pitch) of the subject's notes on now
        self.last_heard = 0.0
        self.note_ons = 0  # note-ons heard from the subject, in all
        self.pedal_down = False
        self.keys: set = set()  # the player's keys down now
        self.heard = 0  # messages heard from the subject, in all
        _wait_for_connections({"bench-player out": ports[0], "bench-listener in": ports[1],
                               **({"bench-flood out": ports[0]} if self.flood else {})})

    def call(self, answer_timeout: float, quiet: float, max_answer: float = 30.0) -> dict:
        """One call, the pedal, the answer: {"reaction_ms": ms or None (no answer within answer_timeout),
        "answer_notes", "answer_s"}. The answer is over when no note sounds and nothing has come for
        `quiet` s (a rest inside an answer is shorter), or after max_answer s."""
        start = time.perf_counter() + 0.02
        events = sorted([(start + i * EIGHTH, [0x90, p, 90]) for i, p in enumerate(CALL)] +
                        [(start + (i + 0.9) * EIGHTH, [0x80, p, 0]) for i, p in enumerate(CALL)])
        for t, message in events:
            self._until(t)
            self.out.send_message(message)
            self.keys ^= {message[1]}  # down, then up
        # the pedal right after the last note-off, as a footswitch pressed on the last note's release,
        # or pedal_delay s later (a player who lifts the key, then steps on the switch)
        if self.pedal_delay:
            self._until(time.perf_counter() + self.pedal_delay)
        self.out.send_message([0xB0, 64, 127])
        pressed = time.perf_counter()
        self.pedal_down, heard_before = True, self.note_ons
        first = self._until(pressed + answer_timeout, stop_on_note_on=pressed)
        if first is not None:
            deadline = first + max_answer
            while time.perf_counter() < deadline:
                self._poll()
                now = time.perf_counter()
                if not self.sounding and now - self.last_heard >= quiet:
                    break
                time.sleep(POLL)
        self.out.send_message([0xB0, 64, 0])
        self.pedal_down = False
        self._until(time.perf_counter() + 0.2)  # a breath before the next call
        return {"reaction_ms": None if first is None else (first - pressed) * 1e3,
                "answer_notes": self.note_ons - heard_before,
                "answer_s": None if first is None else self.last_heard - first}

    def _until(self, t: float, stop_on_note_on: float | None = None) -> float | None:
        """Poll (and flood) until t; with `stop_on_note_on`, return at the first note-on that came
        after that time, with its time (None at t)."""
        while True:
            for when in self._poll():
                if stop_on_note_on is not None and when >= stop_on_note_on:
                    return when
            now = time.perf_counter()
            if now >= t:
                return None
            time.sleep(min(POLL, t - now))

    def _poll(self) -> list[float]:
        """Take what has come (stamped as it is taken) and send the flood messages now due; the
        times of the note-ons among what came."""
        ons = []
        while (event := self.listen.get_message()) is not None:
            now, m = time.perf_counter(), event[0]
            self.last_heard, self.heard = now, self.heard + 1
            kind = m[0] & 0xF0
            if kind == 0x90 and m[2] > 0:
                self.sounding.add((m[0] & 15, m[1]))
                ons.append(now)
            elif kind in (0x80, 0x90):
                self.sounding.discard((m[0] & 15, m[1]))
            elif kind == 0xB0 and m[1] in (120, 123):  # all sound / all notes off
                self.sounding = {n for n in self.sounding if n[0] != m[0] & 15}
        if self.flood is not None:
            now = time.perf_counter()
            self.flood_t0 = self.flood_t0 or now
            while self.flood_sent < (now - self.flood_t0) * self.flood_rate:
                kind = FLOOD[self.flood_sent % 2]
                value = self.flood_sent % 128
                self.flood.send_message([kind[0], kind[1] or value, value])
                self.flood_sent += 1
        self.note_ons += len(ons)
        return ons

    def close(self) -> None:
        if self.pedal_down:  # a run cut short: the pedal up, the keys up
            self.out.send_message([0xB0, 64, 0])
        for pitch in self.keys:
            self.out.send_message([0x80, pitch, 0])
        for port in (self.listen, self.out, self.flood):
            if port is not None:
                port.close_port()
                port.delete()


def _open(midi_class, client: str, target: str):
    """A JACK client `client` whose port "`client` in/out" is connected to the one port whose name
    contains `target`."""
    options = {"queue_size_limit": 1 << 16} if midi_class is rtmidi.MidiIn else {}  # room for what a flood brings
    midi = midi_class(rtmidi.API_UNIX_JACK, name=client, **options)
    matches = [i for i, port in enumerate(midi.get_ports()) if target in port]
    if len(matches) != 1:
        midi.delete()
        raise RuntimeError(f"{len(matches)} JACK ports match {target!r}")
    midi.open_port(matches[0], f"{client} {'in' if midi_class is rtmidi.MidiIn else 'out'}")
    return midi


def _wait_for_connections(wanted: dict[str, str], timeout: float = 5.0) -> None:
    """Until JACK lists each of our ports connected to its subject's port (JACK connects in its next
    cycles: a message sent before is lost), then a moment for the connections to settle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connections, port = {}, None
        for line in run_jack_tool(["jack_lsp", "-c"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith((" ", "\t")) and port is not None:
                connections[port].append(line.strip())
            else:
                port = line.strip()
                connections[port] = []
        if all(any(ours in port and any(theirs in c for c in connected) for port, connected in connections.items())
               for ours, theirs in wanted.items()):
            time.sleep(0.2)
            return
        time.sleep(0.05)
    raise RuntimeError(f"JACK did not connect {wanted} within {timeout:.0f} s")
