"""Watch the JACK server through a client of our own: its shutdown, and every port and client that
comes or goes, as JACK itself reports them.

    watch = JackWatch.connect()       # None while no server runs (or where JACK-Client is missing)
    watch.wait(0.5)                   # True at once when a port or a client comes or goes, or the
                                      # server stops; False after 0.5 s of nothing
    watch.gone_clients()              # names of the clients that left since the last call
    watch.ports("input")              # MIDI ports by full name, as rtmidi lists them
    watch.ports_quiet_for()           # s since a port last came or went
    watch.clients_quiet_for()         # s since a client last came or went
    watch.wait_clients_quiet()        # until no client came or went for CLIENT_QUIET s (below)
    watch.connections("system:midi_capture_1")  # the ports connected to one, [] when it is gone
    watch.server_stopped.is_set()     # the server died or was stopped
    watch.graph_reorders              # reorders JACK announced (after every client's latency pass)
    watch.close()

python-rtmidi's JACK clients do not notice the server's death (sends go into a ring buffer that
nobody reads, and port listings come from shared memory that still shows the dead server's ports),
nor do they tell when another client's port comes or goes. JACK's own callbacks do, and rtmidi does
not expose them, so this module opens a client of its own through JACK-Client (the `jack` package,
which loads the libjack that rtmidi uses) with a shutdown callback, a client-registration callback
and a port-registration callback. JACK 2 calls them in the client's notification thread (not the
process thread), and sends these notifications without waiting for the answer, so a callback that
waits for the GIL holds up no other client. Ours only set events, note the time and queue the
names of clients that left; they never call into JACK (JACK-Client's own wrapper of the port
callback looks the port up by its id: a read of libjack's shared memory, no request to the server).
The client has no ports and no process callback: activating it adds no work to JACK's cycle.
It also counts the graph's reorders, and while it is open the process's JACK clients are activated
and closed only once the graph has settled (`liveimpro.midi.jack_activation` says why).

Why the names of clients that left: a synth or a DAW that quits and starts again within a moment
has ports of the same names again by the time anyone looks, and only the client's departure tells
that the port now listed is a new one (nothing connects to it). JACK 2 delivers these events within
milliseconds of a client's death.

libjack keeps one connection per process for all its clients, so after a server restart every
client of the old server must be closed before a new one is opened, or the new one sees the
dead server's ports (`liveimpro.midi.reconnect` does that).

Open a client of the process only once no client has come or gone for `CLIENT_QUIET` s
(`wait_clients_quiet`, at most `CLIENT_QUIET_MAX` s of waiting). libjack keeps one table of the
clients' wake-up futexes per process, indexed by the server's client number, and each client of the
process updates it as the server's notifications reach it, in its own thread. A client that opens
just after another program's client closed (a `jack_lsp` run, a patchbay's probe) may get the closed
client's number before the process's other clients have handled its removal: libjack then keeps the
closed client's futex for the new one ("Already connected"), and the server waits on the new client
for ever (jackd logs "liveimpro-out was not finished" every cycle; seen after a server restart, with
the reopened output client stuck in its first cycle and the process still mapping the closed
`jack_lsp`'s futex). The watch hears every client that comes or goes in its own notification
thread, as the process's other clients do.
"""
from __future__ import annotations

import collections
import threading
import time

from ..errors import PortError
from .jack_activation import forget_graph, observe_graph, paced_activation
from .jack_names import jack_client_name
from .ports import stderr_silenced

CLIENT_NAME = "liveimpro-watch"
LIST_TRIES = 5  # listings tried while ports keep going as they are listed
CLIENT_QUIET = 0.1  # s without a client coming or going before a client of the process opens (above)
CLIENT_QUIET_MAX = 1.0  # s `wait_clients_quiet` waits for that at most: then it opens all the same


def _jack_module():
    """JACK-Client's `jack` module, or None where it or libjack is missing (it raises OSError
    "JACK library not found" on import then). Imported on first use: the other MIDI systems never
    load it."""
    try:
        import jack
    except (ImportError, OSError):
        return None
    return jack


class JackWatch:
    """A portless JACK client: `server_stopped` is set when the server goes away, `changed` whenever
    a port or a client comes or goes (and at the server's shutdown)."""

    def __init__(self, client):
        self.server_stopped = threading.Event()
        self.changed = threading.Event()
        self._gone = collections.deque()  # names of clients that left, appended in JACK's thread
        self._port_event = time.monotonic()  # when a port last came or went
        self._client_event = time.monotonic()  # when a client last came or went
        self.graph_reorders = 0  # reorders heard (an int's += in JACK's thread: the GIL keeps it whole)
        self._graph_event = time.monotonic()  # when the last was heard
        self._client = client
        # JACK-Client keeps the callback objects referenced for as long as the client lives. With
        # only_available=False it passes None for a port already gone instead of skipping the call:
        # every unregistration wakes the watcher.
        client.set_shutdown_callback(self._on_shutdown)
        client.set_client_registration_callback(self._on_client)
        client.set_port_registration_callback(self._on_port, only_available=False)
        client.set_graph_order_callback(self._on_graph_order)
        with paced_activation():  # apart from the last client activated (jack_activation)
            client.activate()
        observe_graph(self)

    @classmethod
    def connect(cls, client_name: str = CLIENT_NAME) -> "JackWatch | None":
        """A watch on the server JACK_DEFAULT_SERVER names (else the default one); None when
        none is running, or JACK-Client or libjack is missing. Never starts a server."""
        jack = _jack_module()
        if jack is None:
            return None
        try:
            with stderr_silenced():  # libjack prints "jack server is not running" when none is
                client = jack.Client(jack_client_name(client_name), no_start_server=True)
        except jack.JackError:
            return None
        try:
            return cls(client)
        except jack.JackError:  # the server went away between the open and the activation
            client.close()
            return None

    # --- called by JACK in its notification thread: set events, queue names, nothing else ---------

    def _on_shutdown(self, _status, _reason) -> None:
        self.server_stopped.set()
        self.changed.set()

    def _on_client(self, name: str, registered: bool) -> None:
        self._client_event = time.monotonic()
        if not registered:
            self._gone.append(name)  # deque.append is atomic: no lock shared with JACK's thread
        self.changed.set()

    def _on_port(self, _port, _registered: bool) -> None:
        self._port_event = time.monotonic()
        self.changed.set()

    def _on_graph_order(self) -> None:
        self._graph_event = time.monotonic()
        self.graph_reorders += 1

    # --- the watcher's side ------------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        """Until a port or a client comes or goes, or the server stops (True), or `timeout` s
        pass (False). What happened before the call and was not waited for returns at once."""
        happened = self.changed.wait(timeout)
        # cleared before the caller looks: what happens from now on sets it again
        self.changed.clear()
        return happened

    def wake(self) -> None:
        """End a `wait` now (someone stops the watcher)."""
        self.changed.set()

    def ports_quiet_for(self) -> float:
        """Seconds since a port last came or went (since the watch opened, when none did)."""
        return time.monotonic() - self._port_event

    def graph_quiet_for(self) -> float:
        """Seconds since JACK last announced a reorder (since the watch opened, when it did not)."""
        return time.monotonic() - self._graph_event

    def clients_quiet_for(self) -> float:
        """Seconds since a client last came or went (since the watch opened, when none did)."""
        return time.monotonic() - self._client_event

    def wait_clients_quiet(self, stop: threading.Event | None = None) -> None:
        """Until no client has come or gone for `CLIENT_QUIET` s (`CLIENT_QUIET_MAX` s at most), or
        `stop` is set: call it before opening another JACK client in this process (module docstring)."""
        deadline = time.monotonic() + CLIENT_QUIET_MAX
        while (wait := min(CLIENT_QUIET - self.clients_quiet_for(), deadline - time.monotonic())) > 0:
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return

    def gone_clients(self) -> set[str]:
        """Names of the clients that left since the last call (JACK renames none: a client started
        again under the same name is a new one)."""
        gone = set()
        while self._gone:
            gone.add(self._gone.popleft())
        return gone

    def ports(self, kind: str) -> list[str]:
        """MIDI ports by full name, as python-rtmidi lists them (`midi_port_names`)."""
        return midi_port_names(self._client, kind)

    def connections(self, port: str) -> list[str]:
        """Full names of the ports connected to `port` ([] when it is gone or has none)."""
        try:
            return [other.name for other in self._client.get_all_connections(port)]
        except _jack_module().JackError:  # gone since it was named
            return []

    def close(self) -> None:
        """Close the client; after the server's death this takes about a second (libjack's timeout)."""
        forget_graph(self)
        if self._client is not None:
            with stderr_silenced():
                self._client.close()
            self._client = None


def midi_port_names(client, kind: str) -> list[str]:
    """The MIDI ports of `client`'s server by full name, as python-rtmidi lists them: "input" the
    ones one can listen to (JACK output ports), "output" the ones one can play to. JACK-Client
    lists the names, then looks each up: a port gone in between raises there, so the listing is
    tried again (LIST_TRIES times, then PortError). The real-time I/O process's port keeper
    (liveimpro.live.io_ports) lists so too: uncaught, that race ended it with a traceback as a
    keyboard left (CI54)."""
    listening = kind == "input"
    jack = _jack_module()
    for _ in range(LIST_TRIES):
        try:
            return [port.name for port in client.get_ports(is_midi=True, is_output=listening, is_input=not listening)]
        except jack.JackError as exc:  # a port went between JACK-Client's listing and its look-up
            problem = exc
    raise PortError(f"JACK: cannot list ports: {problem}")


__all__ = ["JackWatch", "midi_port_names", "CLIENT_QUIET", "CLIENT_QUIET_MAX"]
