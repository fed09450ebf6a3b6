"""Keep duet's MIDI ports open by name: a port that goes away is connected again when it comes
back, and after a JACK server restart every port is opened again.

    connections = Connections(input_name, output_name, api, on_midi=engine.on_midi, sink=port_sink,
                              audio=[synth_sink], on_input_lost=engine.release_all_keys, say=print)
    connections.start()      # opens the input; the sink's port was opened by its owner
    ...
    connections.stop()       # stops watching; the input's reader stops and the port is deleted

A watch thread looks every `interval` seconds:

- a named port (`--in`, `--out`): the port connected to (by its full name, as listed) missing from
  the port list is gone: the user is told once, our side of the connection is closed — an input's
  held keys count as released (the phrase ends and is answered), an output's sounding notes are
  remembered. When the name designates a port again, by the rule that chose the first one
  (`liveimpro.midi.ports.find_port`: never one of liveimpro's own ports; an exact name, else the
  one port whose name contains it), a new connection is opened, the user is told, and the
  remembered notes get note-offs. While several ports match, the user is told once and nothing
  is connected;
- on JACK, a server that stops (`liveimpro.midi.jackwatch`) takes every port of ours with it, and
  FluidSynth's JACK audio: they are closed, and opened again — virtual ports too — when a server
  runs again. Whoever connected the virtual ports (a session manager, the user) connects them again.

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
from .ports import AmbiguousPort, find_port, list_ports, open_input, open_output
from .reader import PortReader

log = logging.getLogger(__name__)
INTERVAL = 0.5  # s between looks at the port list
CONNECT_SETTLE = 0.05  # s after connecting before sending: two JACK periods of 1024 frames (sinks.CLOSE_FLUSH)


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
        if self._thread is not None:
            self._thread.join()
        self._close_input()
        if self._watch is not None:
            self._watch.close()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                if self._watch is not None and self._watch.server_stopped.is_set():
                    self._server_stopped()
                else:
                    self._look()
            except PortError as exc:  # the MIDI system refused a listing or an open: look again later
                log.warning("%s", exc)

    def _look(self) -> None:
        for kind in ("input", "output") if self.sink is not None else ("input",):
            name = self.names[kind]
            if name is None:
                if not self._connected[kind]:  # our virtual port, gone with a JACK server
                    self._open(kind)
                continue
            listing = self._listing(kind)
            if self._connected[kind]:
                if self._ports[kind] not in listing:
                    message = f"{kind} port {name!r} is gone; waiting for it to come back"
                    self.say(message)
                    self._lose(kind, message)
                continue
            port = self._designated(kind, listing)
            if port is not None:
                self._open(kind, port)
                self.reconnections += 1
                self.say(f"{kind} port {name!r} is back; reconnected")

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
                for synth in self.audio:
                    if not synth.start_audio():
                        self.say(f"{synth.name} could not start again; MIDI output goes on")
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
        if kind == "input":
            midi_in = open_input(port, api=self.api)
            # sysex is of no use to the engine; the MIDI clock (timing) is
            midi_in.ignore_types(sysex=True, timing=False, active_sense=True)
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

    def _close_input(self) -> None:
        if self._midi_in is not None:
            self._reader.stop()  # first: it reads the port
            self._midi_in.close_port()
            self._midi_in.delete()
            self._midi_in = None


__all__ = ["Connections", "INTERVAL"]
