"""The I/O process's named ports kept connected (`duet --io-process --in PORT --out PORT`).

    keeper = PortKeeper(client, {"input": "keys", "output": "synth", "synth": None}, inport, outport,
                        event_fd, cycle, say=print)
    client.set_client_registration_callback(keeper.on_client)   # before client.activate()
    keeper.look(first=True)     # connect now: a PortError when a name matches no port, or several
    keeper.look()               # then every STATS_INTERVAL s, in the I/O process's main thread

The JACK-Client counterpart of duet's in-process `liveimpro.midi.reconnect.Connections`, and its
rules: a port is gone when it leaves the listing or its client leaves the server (a program killed
and started again between two looks lists its port again, unconnected, under the same name); it
is connected again when a port of its name is back.
"""
from __future__ import annotations

import collections
import os
import time

from ..errors import PortError
from ..midi.jackwatch import midi_port_names
from ..midi.messages import note_off
from ..midi.ports import CLIENT_NAME as OUR_CLIENTS, AmbiguousPort, find_port
from ..midi.reconnect import still_there
from .io_cycle import IoCycle
from .io_wire import INPUT_LOST, RECONNECT_SETTLE, RELEASE_TAG, SCHEDULE, pack_event
from .sinks import left_sounding


class PortKeeper:
    """Keeps our ports connected to the ports named by --in / --out: connected at start (a
    `PortError` when none or several match), connected again when the port comes back (the user
    is told both ways); an input that goes tells the engine (INPUT_LOST: its held keys count as
    released); an output that comes back gets a note-off for each note it was left sounding when it
    went (a synth that was only unplugged still holds those notes). A
    connection the user removes by hand stays removed while the port stays. "synth" is our output's
    second destination, duet's own synth (`liveimpro.live.jack_synth`), named by its full name."""

    def __init__(self, client, names: dict, inport, outport, event_fd: int, cycle: IoCycle, say):
        self.client, self.names, self.event_fd, self.cycle, self.say = client, names, event_fd, cycle, say
        self.ours = {"input": inport, "output": outport, "synth": outport}
        self.connected: dict[str, str | None] = dict.fromkeys(names)
        self._said: dict[str, str] = dict.fromkeys(names, "")
        self._departed: collections.deque[str] = collections.deque()  # clients that left, from JACK's thread
        self._lost: dict[str, list[tuple[int, int]]] = {}  # (channel, pitch) an output held when it went

    def on_client(self, name: str, registered: bool) -> None:
        """JACK's client-registration callback (its notification thread): a client that left is
        queued, nothing else. A keyboard's program killed and started again between two looks lists
        its port under the same name, unconnected: only its client's leaving tells the keeper."""
        if not registered:
            self._departed.append(name)  # deque.append is atomic: no lock shared with JACK's thread

    def look(self, first: bool = False) -> None:
        departed = set()
        while self._departed:
            departed.add(self._departed.popleft())
        for kind, name in self.names.items():
            if name is None:
                continue
            try:
                listing = midi_port_names(self.client, "input" if kind == "input" else "output")
            except PortError:  # ports coming and going faster than they can be listed: the next look
                if first:
                    raise
                continue
            port = self.connected[kind]
            if port is not None:
                if still_there(port, listing, departed):
                    continue
                self.connected[kind] = None
                if kind != "input":
                    self._lost[kind] = self.cycle.sounding_notes()
                self.say(f"{kind} port {name!r} is gone; waiting for it to come back" + self._left_sounding(kind))
                if kind == "input":
                    os.write(self.event_fd, pack_event(INPUT_LOST))
            try:
                # our synth's port is one of ours, which find_port leaves out unless told no client is ours
                found = listing[find_port(name, listing, kind, None if kind == "synth" else OUR_CLIENTS)]
            except AmbiguousPort as exc:
                if first:
                    raise
                if str(exc) != self._said[kind]:
                    self._said[kind] = str(exc)
                    self.say(str(exc))
                continue
            except PortError:
                if first:
                    raise
                continue
            ours = self.ours[kind]
            try:
                if kind == "input":
                    self.client.connect(found, ours)
                else:
                    self.client.connect(ours, found)
            except Exception as exc:  # noqa: BLE001 - jack.JackError: not yet accepting connections
                if first:
                    raise PortError(f"cannot connect to {found!r}: {exc}") from None
                continue
            self.connected[kind] = found
            if not first:
                self.say(f"{kind} port {name!r} is back; reconnected")
            if not first and kind != "input":  # whole records, appended at once: the cycle reads them whole
                self.cycle.inbox.extend(self._release_lost(kind))

    def _release_lost(self, kind: str) -> list[bytes]:
        """SCHEDULE records of a note-off for each note the output was left holding when it went,
        once the connection is in JACK's graph (RECONNECT_SETTLE), one by one as duet's in-process
        sink does: All Notes Off would also cut the answer notes written since it came back. A note
        the cycle holds again now is left to it: its own note-off comes at its end; one it strikes
        again before the note-off's time keeps it too (IoCycle leaves the note-off out then)."""
        holding = set(self.cycle.sounding_notes())
        return [pack_event(SCHEDULE, time.perf_counter() + RECONNECT_SETTLE, note_off(channel, pitch), RELEASE_TAG)
                for channel, pitch in self._lost.pop(kind, ()) if (channel, pitch) not in holding]

    def _left_sounding(self, kind: str) -> str:
        """For an output gone, what it held, as duet's in-process sink says it (liveimpro.live.sinks):
        no note-off reaches it now; they follow when it comes back."""
        if kind == "input":
            return ""
        return "; " + left_sounding(self.cycle.sounding_notes())


__all__ = ["PortKeeper"]
