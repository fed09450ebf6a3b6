"""Keep duet's MIDI ports open by name: a port that goes away is connected again when it comes
back, and after a JACK server restart every port is opened again.

    connections = Connections(input_name, output_name, api, on_midi=engine.on_midi, sink=port_sink,
                              audio=[synth_sink], on_input_lost=engine.release_all_keys, say=print)
    connections.start()      # opens the input; the sink's port was opened by its owner
    ...
    connections.stop()       # stops watching; the input's reader stops and the port is deleted

A watch thread looks at the ports. On JACK it looks as soon as the server reports that a port or a
client came or went (`liveimpro.midi.jackwatch`: JACK's own registration callbacks, milliseconds
after a program quits or dies), and every `interval` seconds besides; elsewhere it looks every
`interval` seconds at a fresh port list (`liveimpro.midi.ports.list_ports`).

- a named port (`--in`, `--out`): the port connected to (by its full name, as listed) is gone when
  it is missing from the port list, or, on JACK, when its client left since the last look — a synth
  or a DAW started again at once has a port of the same name again before anyone looks, and nothing
  connects to that new port. The user is told once, our side of the connection is closed — an
  input's held keys count as released (the phrase ends and is answered), an output's sounding notes
  are named in one warning and remembered. When the name designates a port again, by the rule that
  chose the first one (`liveimpro.midi.ports.find_port`: never one of liveimpro's own ports; an
  exact name, else the one port whose name contains it), a new connection is opened — on JACK once
  no port has come or gone for `SETTLE` s, as a program registers its ports one by one — the user
  is told, and the remembered notes get note-offs. While several ports match, the user is told once and nothing
  is connected. A port listed before its program is ready for connections (JACK refuses them until
  the program activates its client) is tried again at the next look, quietly for `RETRY_QUIET` s;
- on JACK, a server that stops (`liveimpro.midi.jackwatch`) takes every port of ours with it, and
  FluidSynth's JACK audio: they are closed, and opened again — virtual ports too — when a server
  runs again. Whoever connected the virtual ports (a session manager, the user) connects them again.

On JACK, a client of ours is opened only once no client has come or gone for a moment
(`JackWatch.wait_clients_quiet`; liveimpro.midi.jackwatch says why: a client opened just as another
program's closes may never be served).

Reconnection follows a port's return, never a connection removed by hand: what the user
disconnects stays disconnected. Port lists come from the watch's own JACK client on JACK (no
client is created per look) and from `liveimpro.midi.ports.list_ports` elsewhere.
"""
from __future__ import annotations

import logging
import threading
import time

from ..errors import PortError
from .jackwatch import JackWatch
from .ports import AmbiguousPort, close_client, find_port, list_ports, open_input, open_output
from .reader import PortReader

log = logging.getLogger(__name__)
INTERVAL = 0.5  # s between looks at the port list (on JACK: besides the looks JACK's events start)
RETRY_QUIET = 1.0  # s a port that is listed but refuses the connection is retried before the user is told
# A program registers its ports one after another: a port that came back is connected once no port
# has come or gone for SETTLE s (so a name that two of its ports match is seen to match both), and
# at the latest MAX_SETTLE s after it was first listed (ports that never stop coming and going).
SETTLE = 0.1
MAX_SETTLE = 0.5
CONNECT_SETTLE = 0.05  # s after connecting before sending: two JACK periods of 1024 frames (sinks.CLOSE_FLUSH)


def still_there(port: str, listing, departed_clients) -> bool:
    """Whether a port we connected to is still the one we connected to: listed, and its client has
    not left the server since the last look (a program killed and started again between two looks
    lists its port again under the same name, unconnected). The I/O process keeps to this too."""
    return port in listing and port.partition(":")[0] not in departed_clients


class Connections:
    def __init__(self, input_name: str | None, output_name: str | None, api: str, on_midi, sink=None,
                 audio=(), on_input_lost=None, say=log.warning, interval: float = INTERVAL):
        self.names = {"input": input_name, "output": output_name}  # None: our virtual port
        self.api = api
        self.on_midi = on_midi  # takes each input message (liveimpro.live.engine.Engine.on_midi), via a PortReader
        self.sink = sink  # the liveimpro.live.sinks.MidiPortSink to keep connected, or None
        # liveimpro.live.synth.FluidSynthSinks playing through JACK: restarted with the server
        self.audio = [a for a in audio if getattr(a, "driver", None) == "jack"]
        self.on_input_lost = on_input_lost  # called when the input goes away
        self.say = say  # tells the user, one line
        self.interval = interval
        self.reconnections = 0  # ports opened again after they went away
        self._midi_in = None
        self._reader: PortReader | None = None
        self._connected = {"input": False, "output": sink is not None}
        self._ports = {"input": None, "output": None}  # full name of the port a named one is connected to
        self._said = {"input": "", "output": ""}  # the last "matches several ports" told, not to repeat it
        # (since when, told) a listed port has refused the connection, None while none does
        self._refused: dict[str, tuple[float, bool] | None] = {"input": None, "output": None}
        self._listed_since = {"input": None, "output": None}  # when the port that came back was first seen
        self._look_at: float | None = None  # monotonic time of a look due before the next `interval`
        self._watch: JackWatch | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Connections":
        if self.api == "jack":
            self._watch = JackWatch.connect()
        if self.sink is not None and self.names["output"] is not None:
            # the sink's port was opened by its owner a moment ago, by the same rule
            self._ports["output"] = self._designated("output", self._listing("output"))
        name = self.names["input"]
        if name is None:
            self._open("input")
        else:  # PortError, one line, when no port or several match
            listing = self._listing("input")
            self._open("input", listing[find_port(name, listing, "input")])
        self._thread = threading.Thread(target=self._run, name="liveimpro-connections", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.wake()
        if self._thread is not None:
            self._thread.join()
        self._close_input()
        if self._watch is not None:
            self._watch.close()

    def _wait(self) -> bool:
        """Until the next look: JACK's next event or `interval` s, whichever comes first; False
        once stopping."""
        timeout = self.interval
        if self._look_at is not None:
            timeout = min(timeout, max(0.0, self._look_at - time.monotonic()))
            self._look_at = None
        watch = self._watch
        if watch is None:
            return not self._stopping.wait(timeout)
        watch.wait(timeout)
        return not self._stopping.is_set()

    def _run(self) -> None:
        while self._wait():
            try:
                if self._watch is not None and self._watch.server_stopped.is_set():
                    self._server_stopped()
                else:
                    self._look()
            except PortError as exc:  # the MIDI system refused a listing or an open: look again later
                log.warning("%s", exc)

    def _look(self) -> None:
        gone_clients = self._watch.gone_clients() if self._watch is not None else set()
        for kind in ("input", "output") if self.sink is not None else ("input",):
            name = self.names[kind]
            if name is None:
                if not self._connected[kind]:  # our virtual port, gone with a JACK server
                    self._open(kind)
                    self.say(f"the virtual {kind} port is open again")
                continue
            listing = self._listing(kind)
            if self._connected[kind]:
                port = self._ports[kind]
                if still_there(port, listing, gone_clients):
                    continue
                message = f"{kind} port {name!r} is gone; waiting for it to come back"
                self.say(message)
                self._lose(kind, message)
            port = self._designated(kind, listing)  # a program started again at once is back already
            if port is None:
                self._listed_since[kind] = None
            elif self._settled(kind) and self._reopen(kind, port):
                self._listed_since[kind] = None
                self.reconnections += 1
                self.say(f"{kind} port {name!r} is back; reconnected")

    def _settled(self, kind: str) -> bool:
        """Whether the ports have stopped coming (`SETTLE`), or the port of `kind` that came back
        has been listed for `MAX_SETTLE` s; else a look is due when they may have."""
        if self._watch is None:  # looks `interval` s apart: settled by then
            return True
        now = time.monotonic()
        since = self._listed_since[kind] = self._listed_since[kind] or now
        wait = min(SETTLE - self._watch.ports_quiet_for(), since + MAX_SETTLE - now)
        if wait <= 0:
            return True
        self._look_at = min(self._look_at or now + wait, now + wait)
        return False

    def _reopen(self, kind: str, port: str) -> bool:
        """Connect to `port` again; False when it refuses (its program has not activated its JACK
        client yet): tried again at the next look, and told once it refused for `RETRY_QUIET` s."""
        try:
            self._open(kind, port)
        except PortError as exc:
            now = time.monotonic()
            since, told = self._refused[kind] or (now, False)
            if not told and now - since >= RETRY_QUIET:
                told = True
                self.say(f"{kind} port {self.names[kind]!r} is listed but refuses the connection: {exc}; "
                         f"trying again")
            self._refused[kind] = (since, told)
            log.debug("%s", exc)
            return False
        self._refused[kind] = None
        return True

    def _listing(self, kind: str) -> list[str]:
        """The ports of `kind` ("input": the ones to listen to) by full name, ours included on JACK."""
        if self._watch is not None:
            return self._watch.ports(kind)
        return list_ports(self.api)[1 if kind == "input" else 2]

    def _designated(self, kind: str, listing: list[str]) -> str | None:
        """The port in `listing` that the name given for `kind` designates, by `find_port`'s rule;
        None while none does, or several do (told once)."""
        try:
            port = listing[find_port(self.names[kind], listing, kind)]
        except AmbiguousPort as exc:
            message = (f"{kind} port {self.names[kind]!r} matches {len(exc.matches)} ports: "
                       f"{', '.join(repr(m) for m in exc.matches)}; not connecting until only one does")
            if message != self._said[kind]:
                self._said[kind] = message
                self.say(message)
            return None
        except PortError:
            return None
        self._said[kind] = ""
        return port

    def _server_stopped(self) -> None:
        self.say("the JACK server stopped; waiting for it to come back")
        for kind in self._connected:
            if self._connected[kind]:
                self._lose(kind, "the JACK server stopped")
        for synth in self.audio:
            synth.stop_audio()
        self._watch.close()  # libjack keeps the dead server's state until its last client is closed
        self._watch = None
        while not self._stopping.wait(self.interval):
            self._watch = JackWatch.connect()
            if self._watch is not None:
                self.say("the JACK server is back; reopening the ports")
                self._wait_for_quiet_clients()  # FluidSynth opens a JACK client too
                for synth in self.audio:
                    if not synth.start_audio():
                        self.say(f"{synth.name} could not start again; MIDI output goes on")
                # the ports are reopened `interval` s later, as before JACK's events woke the watch:
                # an rtmidi output opened at once on a server just started was seen to deliver
                # nothing (1 run of 4, tests/test_faults.py's crash test); the cause was JACK 2
                # leaving a client unserved that is activated right after another one, which every
                # activation now avoids (liveimpro.midi.jack_activation)
                self._stopping.wait(self.interval)
                return

    def _lose(self, kind: str, reason: str) -> None:
        self._connected[kind] = False
        self._ports[kind] = None
        if kind == "input":
            self._close_input()
            if self.on_input_lost is not None:
                self.on_input_lost()
        else:
            self.sink.replace_port(None, reason)

    def _open(self, kind: str, port: str | None = None) -> None:
        """Our port of `kind`: virtual when `port` is None, else connected to `port` (a full name,
        which `find_port` matches exactly)."""
        self._wait_for_quiet_clients()
        if kind == "input":
            midi_in = open_input(port, api=self.api)
            # nothing ignored by RtMidi: the reader drops what the engine has no use for, after
            # counting its time (liveimpro.midi.reader)
            midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
            self._midi_in, self._reader = midi_in, PortReader(midi_in, self.on_midi).start()
        else:
            midi_out = open_output(port, api=self.api)
            if port is not None:
                # the connection takes effect in the server's next cycles, and what is sent before is
                # lost: the lost notes' note-offs (replace_port sends them) would never arrive
                time.sleep(CONNECT_SETTLE)
            self.sink.replace_port(midi_out)
        self._connected[kind] = True
        self._ports[kind] = port

    def _wait_for_quiet_clients(self) -> None:
        if self._watch is not None:
            self._watch.wait_clients_quiet(self._stopping)

    def _close_input(self) -> None:
        if self._midi_in is not None:
            self._reader.stop()  # first: it reads the port
            close_client(self._midi_in)
            self._midi_in = None


__all__ = ["Connections", "INTERVAL", "still_there"]
