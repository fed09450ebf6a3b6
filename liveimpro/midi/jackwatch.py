"""Know when the JACK server goes away: a client of our own that JACK tells about its shutdown.

    watch = JackWatch.connect()      # None while no server runs
    ...
    if watch.server_stopped.is_set(): ...   # the server died or was stopped
    watch.close()

python-rtmidi's JACK clients do not notice the server's death: sends go into a ring buffer that
nobody reads, and port listings come from shared memory that still shows the dead server's
ports. JACK's `jack_on_shutdown` callback is the one reliable signal, and rtmidi does not expose
it, so this module opens a client of its own through libjack (ctypes; the same library rtmidi
uses). The client has no ports and no process callback: activating it adds no work to JACK's
cycle.

libjack keeps one connection per process for all its clients, so after a server restart every
client of the old server must be closed before a new one is opened, or the new one sees the
dead server's ports (`liveimpro.midi.reconnect` does that).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

from .ports import stderr_silenced

CLIENT_NAME = "liveimpro-watch"
JACK_NO_START_SERVER = 0x01  # jack_options_t: fail at once instead of starting a server
JACK_PORT_IS_INPUT, JACK_PORT_IS_OUTPUT = 0x1, 0x2  # JackPortFlags
MIDI_TYPE = b"midi"  # matches JACK's MIDI port type, "8 bit raw midi"
_SHUTDOWN_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.lru_cache(maxsize=None)
def _libjack():
    """libjack through ctypes, or None where it is not installed."""
    path = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_on_shutdown.argtypes = [ctypes.c_void_p, _SHUTDOWN_CALLBACK, ctypes.c_void_p]
    lib.jack_activate.argtypes = [ctypes.c_void_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    lib.jack_get_ports.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.jack_get_ports.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
    lib.jack_free.argtypes = [ctypes.c_void_p]
    return lib


class JackWatch:
    """A portless JACK client whose `server_stopped` event is set when the server goes away."""

    def __init__(self, lib, client: int):
        self.server_stopped = threading.Event()
        self._lib = lib
        self._client = client
        # kept referenced: ctypes frees a callback object that Python no longer holds. The callback
        # runs in a JACK thread and only sets the event.
        self._callback = _SHUTDOWN_CALLBACK(lambda _arg: self.server_stopped.set())
        lib.jack_on_shutdown(client, self._callback, None)
        lib.jack_activate(client)

    @classmethod
    def connect(cls, client_name: str = CLIENT_NAME) -> "JackWatch | None":
        """A watch on the server JACK_DEFAULT_SERVER names (else the default one); None when
        none is running or libjack is missing. Never starts a server."""
        lib = _libjack()
        if lib is None:
            return None
        status = ctypes.c_int(0)
        with stderr_silenced():  # libjack prints "jack server is not running" when none is
            client = lib.jack_client_open(client_name.encode(), JACK_NO_START_SERVER, ctypes.byref(status))
        return cls(lib, client) if client else None

    def ports(self, kind: str) -> list[str]:
        """MIDI ports by full name, as python-rtmidi lists them: "input" the ones one can listen
        to (JACK output ports), "output" the ones one can play to."""
        flags = JACK_PORT_IS_OUTPUT if kind == "input" else JACK_PORT_IS_INPUT
        names = self._lib.jack_get_ports(self._client, None, MIDI_TYPE, flags)
        if not names:
            return []
        try:
            found = []
            while names[len(found)] is not None:
                found.append(names[len(found)].decode(errors="replace"))
            return found
        finally:
            self._lib.jack_free(names)

    def close(self) -> None:
        """Close the client; after the server's death this takes about a second (libjack's timeout)."""
        if self._client:
            with stderr_silenced():
                self._lib.jack_client_close(self._client)
            self._client = None


__all__ = ["JackWatch"]
