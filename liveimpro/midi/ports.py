"""Open MIDI ports through python-rtmidi on the first MIDI system that works on this machine.

    from liveimpro.midi.ports import open_input, open_output
    from liveimpro.midi.reader import PortReader
    midi_in = open_input(None)          # virtual port "liveimpro in" that a keyboard or DAW plays into
    reader = PortReader(midi_in, engine.on_midi).start()   # ... reader.stop() before midi_in.delete()
    midi_out = open_output("fluid")     # the one output port whose name contains "fluid"

The MIDI API is, in this order: the `api` argument, the environment variable
LIVEIMPRO_MIDI_API, or the first API of this platform whose client can be created
(Linux: ALSA then JACK; macOS: CoreMIDI; Windows: Windows MM), probed once per process.
Every rtmidi error is re-raised as `PortError` with a message a user can act on.

An input port is read by a `liveimpro.midi.reader.PortReader`, not through a callback: its
module says why. `open_input` makes room in RtMidi's own queue for `INPUT_QUEUE` messages.

Names, stable on every backend (a DAW user sees these):

- JACK: rtmidi opens one JACK client per port, so each gets a name of its own:
  "liveimpro-in:liveimpro in" (play into it) and "liveimpro-out:liveimpro out" (listen to it),
  in whichever order they open. A second liveimpro process on the same server gets
  "liveimpro-in-01:liveimpro in" ... (JACK renames a client whose name is taken).
- ALSA: each port's client is named "liveimpro" (ALSA allows equal names): `aconnect -l` shows two
  clients "liveimpro" with ports "liveimpro in" and "liveimpro out"; rtmidi lists them as
  "liveimpro:liveimpro in 128:0" (client:port numbers last).
- CoreMIDI: virtual endpoints "liveimpro in" and "liveimpro out" (listed without a client name).
- Windows MM: no virtual ports; liveimpro only connects to ports of others (e.g. loopMIDI's).
- $LIVEIMPRO_JACK_CLIENT_SUFFIX follows each JACK client name ("liveimpro-in-b"), never the port
  names: instances on different JACK servers at once need one each (`liveimpro.midi.jack_names`).

A port named with `--in`/`--out` is found by `find_port`: an exact name (as listed) wins, else a
case-insensitive part of the name that only one port has; several is an error listing them.
liveimpro's own ports (`is_own_port`) are never matched nor listed: connected to itself it would
answer its own answers.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import sys

import rtmidi

from ..errors import PortError
from .jack_activation import paced_activation, paced_close, paced_graph_change
from .jack_names import client_suffix, jack_client_name

ENV_VAR = "LIVEIMPRO_MIDI_API"
CLIENT_NAME = "liveimpro"
INPUT_QUEUE = 1 << 16  # messages RtMidi holds for a PortReader: 1,024 (its default) fill in 16 ms of a flood

# Our API names -> rtmidi constants; the keys are what --api and LIVEIMPRO_MIDI_API accept.
RTMIDI_APIS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
DISPLAY_NAMES = {"alsa": "ALSA", "jack": "JACK", "coremidi": "CoreMIDI", "winmm": "Windows MM"}
# APIs tried, in order, when none is requested (elsewhere: every API, in the order above).
PLATFORM_APIS = {"linux": ("alsa", "jack"), "darwin": ("coremidi",), "win32": ("winmm",)}


class ApiUnavailable(PortError):
    """A MIDI API whose client cannot be created; `reason` says why without naming the API."""

    def __init__(self, api: str, reason: str):
        super().__init__(f"{DISPLAY_NAMES[api]}: {reason}")
        self.reason = reason


class AmbiguousPort(PortError):
    """A port name that more than one port matches; `matches` are their names, as listed."""

    def __init__(self, kind: str, name: str, matches: list[str]):
        listed = ", ".join(repr(port) for port in matches)
        super().__init__(f"{kind} {name!r} matches {len(matches)} ports: {listed}; give more of the name")
        self.matches = matches


def add_api_argument(parser) -> None:
    """The --api option, shared by every command that opens MIDI ports."""
    parser.add_argument("--api", choices=tuple(RTMIDI_APIS),
                        help=f"MIDI system to use (default: ${ENV_VAR}, else the first that works: "
                             "ALSA then JACK on Linux, CoreMIDI on macOS, Windows MM on Windows)")


def choose_api(requested: str | None = None) -> str:
    """The MIDI API to use: `requested`, else $LIVEIMPRO_MIDI_API, else the first that works here.

    A requested API is only checked to be known and built into python-rtmidi; whether its
    client can be created is reported, with the reason, when a port is opened or listed.
    """
    if requested is not None:
        return _known_api(requested, "unknown MIDI API {!r}")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return _known_api(from_env, ENV_VAR + "={!r} is not a MIDI API")
    return _first_working_api()


def list_ports(api: str | None = None, client_name: str | None = CLIENT_NAME) -> tuple[str, list[str], list[str]]:
    """(api, inputs, outputs): the ports one can listen to and the ports one can play to, without
    the ports of liveimpro's own clients (`is_own_port`; all of them when `client_name` is None)."""
    api = choose_api(api)
    names = []
    for midi_class in (rtmidi.MidiIn, rtmidi.MidiOut):
        # named "liveimpro", not "liveimpro-in": on JACK that name, taken for a moment, would make
        # an input opened at that moment (another process's duet) "liveimpro-in-01"
        midi = _create_client(midi_class, api, client_name or CLIENT_NAME)
        try:
            names.append([port for port in midi.get_ports() if not is_own_port(port, client_name)])
        except rtmidi.RtMidiError as exc:
            raise PortError(f"{DISPLAY_NAMES[api]}: cannot list ports: {exc}") from exc
        finally:
            midi.delete()
    return api, names[0], names[1]


def open_input(name: str | None, api: str | None = None, client_name: str = CLIENT_NAME) -> rtmidi.MidiIn:
    """A virtual input port "<client_name> in" when `name` is None, else our port "<client_name> in"
    connected to the input port `name` designates (`find_port`). The caller closes it with `.delete()`."""
    return _open(rtmidi.MidiIn, "input", name, api, client_name, f"{client_name} in")


def open_output(name: str | None, api: str | None = None, client_name: str = CLIENT_NAME) -> rtmidi.MidiOut:
    """A virtual output port "<client_name> out" when `name` is None, else our port "<client_name> out"
    connected to the output port `name` designates (`find_port`)."""
    return _open(rtmidi.MidiOut, "output", name, api, client_name, f"{client_name} out")


def close_client(midi) -> None:
    """Close an rtmidi client's port and the client, now (not whenever the garbage collector runs).
    On JACK, apart from this process's last activation or close (`jack_activation.paced_close`):
    libjack may be walking the client's ports in another thread as the port goes."""
    paced = paced_close() if midi.get_current_api() == rtmidi.API_UNIX_JACK else contextlib.nullcontext()
    with paced:
        midi.close_port()
        midi.delete()


def client_name_for(kind: str, api: str, client_name: str = CLIENT_NAME) -> str:
    """The MIDI client name of our `kind` ("input"/"output") port: "<client_name>-in"/"-out" on JACK,
    where each port has a client of its own and JACK would rename the second "<client_name>-01";
    `client_name` elsewhere."""
    return f"{client_name}-{'in' if kind == 'input' else 'out'}" if api == "jack" else client_name


def is_own_port(port: str, client_name: str | None = CLIENT_NAME) -> bool:
    """Whether a listed port belongs to a client of liveimpro's (of any process), named by
    `client_name`: JACK "liveimpro-in:...", "liveimpro-out-01:..." (and "liveimpro:", "liveimpro-01:"
    as JACK renames a second client; "liveimpro synth:midi_00", the synth of `duet --io-process
    --synth`); ALSA "liveimpro:... 128:0"; CoreMIDI, which lists no client,
    the port names "liveimpro in" and "liveimpro out" themselves. Never, when `client_name` is None."""
    if client_name is None:
        return False
    client, colon, _ = port.partition(":")
    if not colon:
        return port in (f"{client_name} in", f"{client_name} out")
    # on JACK, $LIVEIMPRO_JACK_CLIENT_SUFFIX follows the name (jack_names), then the server's "-01"
    return re.fullmatch(re.escape(client_name) + r"(-in|-out| synth)?(" + re.escape(client_suffix()) + r")?(-\d+)?",
                        client) is not None


def matching_ports(name: str, ports: list[str], client_name: str | None = CLIENT_NAME) -> list[int]:
    """Indexes (into `ports`) of the ports `name` designates, leaving out our own (`is_own_port`):
    the port named exactly `name` (the first, should a system list two of one name); else those
    named `name` ignoring case; else those whose name contains it, ignoring case. One index: found;
    none or several: see `find_port`."""
    candidates = [(i, port) for i, port in enumerate(ports) if not is_own_port(port, client_name)]
    exact = [i for i, port in candidates if port == name]
    if exact:
        return exact[:1]
    wanted = name.casefold()
    for matches in ([i for i, port in candidates if port.casefold() == wanted],
                    [i for i, port in candidates if wanted in port.casefold()]):
        if matches:
            return matches
    return []


def find_port(name: str, ports: list[str], kind: str = "port", client_name: str | None = CLIENT_NAME) -> int:
    """Index of the one port `name` designates (`matching_ports`); a one-line `PortError` when none
    does (listing the others, ours left out), `AmbiguousPort` when several do (listing those)."""
    matches = matching_ports(name, ports, client_name)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousPort(kind, name, [ports[i] for i in matches])
    available = ", ".join(repr(port) for port in ports if not is_own_port(port, client_name)) or "none"
    raise PortError(f"no MIDI {kind} port matches {name!r}; available {kind} ports: {available}")


def _open(midi_class, kind: str, name: str | None, api: str | None, client_name: str, port_name: str):
    api = choose_api(api)
    # rtmidi activates its JACK client as it creates it: apart from the last (jack_activation)
    with paced_activation() if api == "jack" else contextlib.nullcontext():
        midi = _create_client(midi_class, api, client_name_for(kind, api, client_name))
    try:
        _connect(midi, kind, name, api, port_name, client_name)
    except BaseException:
        midi.delete()  # closes the client now, not whenever the garbage collector runs
        raise
    return midi


def _connect(midi, kind: str, name: str | None, api: str, port_name: str, client_name: str = CLIENT_NAME) -> None:
    # the port once the graph has settled after the client's activation (jack_activation)
    paced = paced_graph_change() if api == "jack" else contextlib.nullcontext()
    try:
        with paced:
            if name is None:
                midi.open_virtual_port(port_name)
            else:
                midi.open_port(find_port(name, midi.get_ports(), kind, client_name), port_name)
    except rtmidi.UnsupportedOperationError as exc:
        raise PortError(f"{DISPLAY_NAMES[api]} cannot create virtual ports: install a loopback driver "
                        f"(loopMIDI), create a port there and give its name") from exc
    except rtmidi.RtMidiError as exc:
        target = port_name if name is None else name
        raise PortError(f"{DISPLAY_NAMES[api]}: cannot open MIDI {kind} port {target!r}: {exc}") from exc


def _known_api(name: str, unknown_message: str) -> str:
    api = name.strip().lower()
    if api not in RTMIDI_APIS:
        raise PortError(unknown_message.format(name) + ": choose one of " + ", ".join(RTMIDI_APIS))
    if RTMIDI_APIS[api] not in rtmidi.get_compiled_api():
        built = ", ".join(DISPLAY_NAMES[a] for a, value in RTMIDI_APIS.items()
                          if value in rtmidi.get_compiled_api())
        raise PortError(f"{DISPLAY_NAMES[api]} is not available in this build of python-rtmidi "
                        f"(available: {built})")
    return api


@functools.lru_cache(maxsize=None)
def _first_working_api() -> str:
    # lru_cache keeps the answer for the process; a failure raises, is not cached, and is probed again.
    tried = []
    for api in PLATFORM_APIS.get(sys.platform, tuple(RTMIDI_APIS)):
        try:
            _create_client(rtmidi.MidiIn, api, CLIENT_NAME).delete()
            return api
        except ApiUnavailable as exc:
            tried.append(f"{DISPLAY_NAMES[api]} ({exc.reason})")
    raise PortError("no MIDI system available: tried " + ", ".join(tried))


def _create_client(midi_class, api: str, client_name: str):
    if RTMIDI_APIS[api] not in rtmidi.get_compiled_api():
        raise ApiUnavailable(api, "not built into python-rtmidi")
    queue = {"queue_size_limit": INPUT_QUEUE} if midi_class is rtmidi.MidiIn else {}
    try:
        with stderr_silenced():
            return midi_class(RTMIDI_APIS[api], name=jack_client_name(client_name) if api == "jack" else client_name,
                              **queue)
    except rtmidi.RtMidiError as exc:
        raise ApiUnavailable(api, _why_not(api, exc)) from exc


def _why_not(api: str, exc: Exception) -> str:
    if api == "alsa" and not os.path.exists("/dev/snd/seq"):
        return "no sequencer: /dev/snd/seq missing"
    if api == "jack":
        server = os.environ.get("JACK_DEFAULT_SERVER")
        if server:
            return (f"JACK_DEFAULT_SERVER names server {server!r}, which is not running: "
                    f"start it with `jackd -n {server} -d dummy` or unset JACK_DEFAULT_SERVER")
        return "no server running: start one with `jackd -d dummy` or QjackCtl"
    return str(exc)


@contextlib.contextmanager
def stderr_silenced():
    """Send file descriptor 2 to the null device while a MIDI client is created.

    libasound and libjack print to fd 2 directly ("ALSA lib seq_hw.c: ... open /dev/snd/seq failed",
    "Cannot connect to server socket", "jack server is not running") when their system is missing;
    the user should see only our one-line reason. Anything other threads write to stderr during
    these few milliseconds is lost too, which is why this wraps client creation only.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to protect (e.g. a GUI process without a console)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
