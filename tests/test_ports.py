"""MIDI ports on a real private JACK server (the `jack_server` fixture), and `liveimpro ports`."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rtmidi

from liveimpro.errors import PortError
from liveimpro.jackserver import run_jack_tool
from liveimpro.midi import ports
from liveimpro.midi.jack_names import SUFFIX_VARIABLE, jack_client_name
from liveimpro.midi.ports import (
    AmbiguousPort,
    choose_api,
    find_port,
    is_own_port,
    list_ports,
    open_input,
    open_output,
)
from liveimpro.midi.reconnect import Connections

REPO = Path(__file__).resolve().parents[1]
HAS_ALSA_SEQUENCER = os.path.exists("/dev/snd/seq")
needs_no_alsa = pytest.mark.skipif(HAS_ALSA_SEQUENCER, reason="this machine has an ALSA sequencer")
NOTE_ON, NOTE_OFF = [0x90, 60, 100], [0x80, 60, 0]


@pytest.fixture
def opened():
    """Collects rtmidi clients and deletes them after the test, so no port outlives it."""
    clients = []
    yield clients.append
    for client in clients:
        unplug(client)


_closed: list = []  # the clients unplug has deleted, kept so that no new client reuses an id() here


def unplug(client) -> None:
    """Callback off, port closed, then deleted: deleting an input whose callback JACK's thread may be
    running at that moment crashes python-rtmidi. Once per client: a test unplugs a client itself,
    and `opened` closes it after the test only if the test failed before it could."""
    if any(client is closed for closed in _closed):
        return
    _closed.append(client)
    if isinstance(client, rtmidi.MidiIn):
        client.cancel_callback()
    ports.close_client(client)


def second_client(midi_class, target: str, opened):
    """A second rtmidi client, not using liveimpro.midi.ports, connected to the port named `target`."""
    client = midi_class(rtmidi.API_UNIX_JACK, name=jack_client_name("tester"))
    opened(client)
    names = client.get_ports()
    client.open_port(next(i for i, port in enumerate(names) if port.endswith(":" + target)))
    return client


def send_and_receive(send, received: queue.Queue, timeout: float = 2.0) -> list[list[int]]:
    """Sends a note-on and its note-off once, as soon as the test's one connection is in JACK's
    graph, and returns what arrived. Not before: `jack_connect` returns once the server has taken
    the connection, but the graph that carries it is switched in at the start of a later cycle, and
    a message a client writes in the cycle before is lost (CI28: sent at once, neither arrived, in a
    test during which the server ran 5.8 ms late). JACK 2 lists connections from the graph in use."""
    wait_for(lambda: any(line.startswith(" ") for line in jack_connections()), timeout, "the connection")
    send(NOTE_ON)
    send(NOTE_OFF)
    try:
        return [received.get(timeout=timeout), received.get(timeout=timeout)]
    except queue.Empty:
        pytest.fail(f"the note-on and note-off sent did not both arrive within {timeout} s")


def jack_name(port: str) -> str:
    """The full name of the JACK port "client:port" that this process's client `client` opens: its
    client name carries $LIVEIMPRO_JACK_CLIENT_SUFFIX, per pytest worker (conftest.py says why)."""
    client, port = port.split(":")
    return f"{jack_client_name(client)}:{port}"


def virtual_port(midi_class, client: str, port: str, opened):
    """A virtual port `port` of a client `client` that is not liveimpro (a synth, a keyboard)."""
    midi = midi_class(rtmidi.API_UNIX_JACK, name=jack_client_name(client))
    opened(midi)
    midi.open_virtual_port(port)
    return midi


def jack_ports() -> list[str]:
    """Every port on the session's JACK server, as `jack_lsp` (what QjackCtl and a DAW show) lists it."""
    return run_jack_tool(["jack_lsp"], capture_output=True, text=True, check=True).stdout.splitlines()


def jack_connections() -> list[str]:
    """`jack_lsp -c`: each port, then (indented) the ports connected to it."""
    return run_jack_tool(["jack_lsp", "-c"], capture_output=True, text=True, check=True).stdout.splitlines()


def wait_for(condition, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    what = what or f"the condition on line {condition.__code__.co_firstlineno}"
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


def callback_queue(midi_in) -> queue.Queue:
    received: queue.Queue = queue.Queue()
    midi_in.set_callback(lambda event, data: received.put_nowait(event[0]))
    return received


def run_cli(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run([sys.executable, "-m", "liveimpro", *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=60)


# --- choosing the API -------------------------------------------------------------------------

@needs_no_alsa
def test_first_working_api_here_is_jack(jack_server, monkeypatch):
    monkeypatch.delenv("LIVEIMPRO_MIDI_API", raising=False)
    ports._first_working_api.cache_clear()
    assert choose_api() == "jack"
    assert choose_api() == "jack"
    assert ports._first_working_api.cache_info().hits == 1  # probed once, then cached


def test_argument_beats_environment_beats_probing(monkeypatch):
    monkeypatch.setenv("LIVEIMPRO_MIDI_API", "jack")
    assert choose_api() == "jack"
    assert choose_api("ALSA") == "alsa"
    monkeypatch.setenv("LIVEIMPRO_MIDI_API", "alsa")
    assert choose_api() == "alsa"


def test_unknown_api_names_the_choices(monkeypatch):
    with pytest.raises(PortError, match=r"unknown MIDI API 'oss': choose one of alsa, jack, coremidi, winmm"):
        choose_api("oss")
    monkeypatch.setenv("LIVEIMPRO_MIDI_API", "oss")
    with pytest.raises(PortError, match=r"LIVEIMPRO_MIDI_API='oss' is not a MIDI API"):
        choose_api()


@pytest.mark.skipif(rtmidi.API_WINDOWS_MM in rtmidi.get_compiled_api(), reason="Windows MM is built in")
def test_api_missing_from_the_build_is_reported():
    with pytest.raises(PortError, match=r"Windows MM is not available in this build of python-rtmidi"):
        choose_api("winmm")


@needs_no_alsa
def test_unusable_api_raises_port_error_with_reason():
    with pytest.raises(PortError, match=r"^ALSA: no sequencer: /dev/snd/seq missing$"):
        open_input(None, api="alsa")


# --- ports on a real JACK server --------------------------------------------------------------

@pytest.mark.parametrize("first", ["input", "output"])
def test_jack_names_are_the_documented_ones_whichever_opens_first(jack_server, opened, first):
    # the names the README gives a DAW user: one JACK client per port, named after it
    for kind in (first, "output" if first == "input" else "input"):
        opened(open_input(None) if kind == "input" else open_output(None))
    ours = [port for port in jack_ports() if port.startswith("liveimpro")]
    assert sorted(ours) == [jack_name("liveimpro-in:liveimpro in"), jack_name("liveimpro-out:liveimpro out")]
    other_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=jack_client_name("tester"))
    other_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=jack_client_name("tester"))
    opened(other_out)
    opened(other_in)
    assert jack_name("liveimpro-in:liveimpro in") in other_out.get_ports()  # what rtmidi lists is the same
    assert jack_name("liveimpro-out:liveimpro out") in other_in.get_ports()


def test_connecting_ports_have_the_same_names(jack_server, opened):
    # --in/--out: our end of the connection carries the same names as the virtual ports
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    virtual_port(rtmidi.MidiIn, "synth", "midi_00", opened)
    opened(open_output("synth"))
    opened(open_input("keys"))
    ours = [port for port in jack_ports() if port.startswith("liveimpro")]
    assert sorted(ours) == [jack_name("liveimpro-in:liveimpro in"), jack_name("liveimpro-out:liveimpro out")]


def test_message_sent_into_virtual_input_arrives(jack_server, opened):
    midi_in = open_input(None)
    opened(midi_in)
    received = callback_queue(midi_in)
    sender = second_client(rtmidi.MidiOut, "liveimpro in", opened)
    assert send_and_receive(sender.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_message_sent_from_virtual_output_arrives(jack_server, opened):
    midi_out = open_output(None)
    opened(midi_out)
    receiver = second_client(rtmidi.MidiIn, "liveimpro out", opened)
    received = callback_queue(receiver)
    assert send_and_receive(midi_out.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_open_by_part_of_the_name_ignoring_case(jack_server, opened):
    target = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=jack_client_name("Synth"))
    opened(target)
    target.open_virtual_port("Piano Port")
    received = callback_queue(target)
    midi_out = open_output("piano port")
    opened(midi_out)
    assert send_and_receive(midi_out.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_missing_port_lists_the_available_ones_but_not_ours(jack_server, opened):
    opened(open_input(None))
    virtual_port(rtmidi.MidiIn, "synth", "midi_00", opened)
    with pytest.raises(PortError) as caught:
        open_output("no such synth")
    assert str(caught.value) == f"no MIDI output port matches 'no such synth'; available output ports: '{jack_name('synth:midi_00')}'"


def test_own_ports_are_never_matched(jack_server, opened):
    # `duet --in liveimpro` once listened to its own output and answered its own answers
    opened(open_output(None))
    opened(open_input(None))
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    for name in ("liveimpro", "liveimpro out", "liveimpro-out:liveimpro out", "LIVEIMPRO"):
        with pytest.raises(PortError) as caught:
            open_input(name)
        message = str(caught.value)
        assert message == f"no MIDI input port matches {name!r}; available input ports: '{jack_name('keyboard:keys')}'"
        assert "\n" not in message
    with pytest.raises(PortError, match=r"^no MIDI output port matches 'liveimpro'; available output ports: none$"):
        open_output("liveimpro")
    # another program may carry the word in its name: only liveimpro's own clients are left out
    received = callback_queue(virtual_port(rtmidi.MidiIn, "liveimpro-recorder", "take", opened))
    midi_out = open_output("liveimpro")
    opened(midi_out)
    assert send_and_receive(midi_out.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_exact_name_beats_a_longer_name_containing_it(jack_server, opened):
    virtual_port(rtmidi.MidiIn, "bigsynth", "in", opened)  # "bigsynth:in" contains "synth:in"
    received = callback_queue(virtual_port(rtmidi.MidiIn, "synth", "in", opened))
    midi_out = open_output(jack_name("synth:in"))
    opened(midi_out)
    assert send_and_receive(midi_out.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_a_name_two_ports_contain_is_one_line_listing_both(jack_server, opened):
    # two FluidSynths: the first used to be taken without a word about the second
    virtual_port(rtmidi.MidiIn, "fluidsynth-midi", "midi_00", opened)
    virtual_port(rtmidi.MidiIn, "fluidsynth-2", "midi_00", opened)
    with pytest.raises(AmbiguousPort) as caught:
        open_output("fluidsynth")
    assert str(caught.value) == (f"output 'fluidsynth' matches 2 ports: '{jack_name('fluidsynth-midi:midi_00')}', "
                                 f"'{jack_name('fluidsynth-2:midi_00')}'; give more of the name")
    assert isinstance(caught.value, PortError)  # the CLI prints it as one line, no traceback
    opened(open_output("fluidsynth-2"))  # more of the name


def test_list_ports_sees_both_directions_without_our_own(jack_server, opened):
    opened(open_input(None))
    opened(open_output(None))
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    virtual_port(rtmidi.MidiIn, "synth", "midi_00", opened)
    api, inputs, outputs = list_ports()
    assert api == "jack"
    assert (inputs, outputs) == ([jack_name("keyboard:keys")], [jack_name("synth:midi_00")])
    _, all_inputs, all_outputs = list_ports(client_name=None)
    assert jack_name("liveimpro-out:liveimpro out") in all_inputs and jack_name("liveimpro-in:liveimpro in") in all_outputs


def test_find_port_prefers_an_exact_match():
    names = ["Big Synth 2", "synth", "Other synth"]
    assert find_port("SYNTH", names) == 1
    assert find_port("synth 2", names) == 0
    assert find_port("other", names) == 2
    assert find_port("Other synth", names + ["other synth"]) == 2  # as listed beats ignoring case
    with pytest.raises(AmbiguousPort, match=r"^port 'big' matches 2 ports: 'Big Synth 2', 'Big Synth 3'; "
                                            r"give more of the name$"):
        find_port("big", ["Big Synth 2", "Big Synth 3"])
    with pytest.raises(AmbiguousPort, match=r"^input 'synth' matches 2 ports: 'Synth', 'SYNTH'"):
        find_port("synth", ["Synth", "SYNTH"], "input")
    with pytest.raises(PortError, match=r"available output ports: none"):
        find_port("synth", [], "output")


def test_own_ports_are_recognised_on_every_backend():
    assert is_own_port("liveimpro-in:liveimpro in") and is_own_port("liveimpro-out-01:liveimpro out")  # JACK
    assert is_own_port("liveimpro:liveimpro out") and is_own_port("liveimpro-01:liveimpro out")  # older names
    assert is_own_port("liveimpro:liveimpro out 129:0")  # ALSA
    assert is_own_port("liveimpro in") and is_own_port("liveimpro out")  # CoreMIDI lists no client
    # duet --io-process --synth's FluidSynth: `--out synth` must not pick our own synth beside another
    assert is_own_port("liveimpro synth:midi_00") and is_own_port("liveimpro synth-01:midi_00")
    assert find_port("synth", ["liveimpro synth:midi_00", "fluidsynth-midi:midi_00"]) == 1
    for other in ("liveimpro-recorder:take", "liveimpro-watch:x", "synth:liveimpro in", "liveimpro in 1",
                  "FLUID Synth (1234):Synth input port (1234:0) 130:0"):
        assert not is_own_port(other), other
    assert is_own_port("demo-player-out:demo-player out", "demo-player")
    assert not is_own_port("liveimpro-in:liveimpro in", "demo-player")  # the demo plays into duet's port
    assert not is_own_port("liveimpro-in:liveimpro in", None)
    names = ["liveimpro:liveimpro out 129:0", "keyboard:keys 130:0"]
    assert find_port("liveimpro", names + ["liveimpro-recorder:take 131:0"]) == 2
    with pytest.raises(PortError, match=r"^no MIDI input port matches 'out'; available input ports: "
                                        r"'keyboard:keys 130:0'$"):
        find_port("out", names, "input")


def test_a_client_suffix_names_every_jack_client_but_no_port(monkeypatch):
    # instances on two JACK servers at once: JACK 2's client sockets are named by client name alone
    monkeypatch.setenv(SUFFIX_VARIABLE, "-b")
    assert jack_client_name("liveimpro-out") == "liveimpro-out-b"
    for port in ("liveimpro-in-b:liveimpro in", "liveimpro-out-b-01:liveimpro out", "liveimpro-b:liveimpro out",
                 "liveimpro synth-b:midi_00", "liveimpro-out:liveimpro out"):  # an instance without one
        assert is_own_port(port), port
    for port in ("liveimpro-recorder-b:take", "liveimpro-in-c:liveimpro in", "liveimpro-bb:liveimpro out"):
        assert not is_own_port(port), port
    monkeypatch.delenv(SUFFIX_VARIABLE)
    assert jack_client_name("liveimpro-out") == "liveimpro-out"


def test_the_client_suffix_reaches_the_jack_clients_opened(jack_server, opened, monkeypatch):
    monkeypatch.setenv(SUFFIX_VARIABLE, "-suffixed")
    opened(open_input(None))
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    assert "liveimpro-in-suffixed:liveimpro in" in jack_ports()
    assert "keyboard-suffixed:keys" in jack_ports()
    assert list_ports()[1] == ["keyboard-suffixed:keys"]  # ours, suffixed, still left out


# --- `liveimpro ports` ------------------------------------------------------------------------

def test_ports_command_lists_a_virtual_port_of_another_process_but_not_ours(jack_server, opened):
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    opened(open_output(None))  # a liveimpro of another process: not a choice
    result = run_cli("ports")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "MIDI backend: JACK"
    inputs = lines[lines.index("inputs (ports liveimpro can listen to):") + 1:
                   lines.index("outputs (ports liveimpro can play to):")]
    assert inputs == ["  " + jack_name("keyboard:keys")]

    listing = json.loads(run_cli("ports", "--json").stdout)
    assert listing["api"] == "jack" and listing["backend"] == "JACK"
    assert listing["inputs"] == [jack_name("keyboard:keys")] and listing["outputs"] == []


# --- duet's Connections: a named port that comes back is found by the same rule -----------------

def test_reconnection_matches_names_as_opening_does(jack_server, opened):
    said, heard = [], []
    keyboard = virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)  # unplugged by the test itself
    connections = Connections("keys", None, "jack", on_midi=lambda event, _: heard.append(event[0]),
                              say=said.append, interval=0.05).start()
    try:
        unplug(keyboard)  # unplugged
        wait_for(lambda: "input port 'keys' is gone; waiting for it to come back" in said)
        # two keyboards come back: duet says so once and connects to neither
        back = virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
        second = virtual_port(rtmidi.MidiOut, "keyboard-2", "keys", opened)
        wait_for(lambda: any("matches 2 ports" in line for line in said))
        time.sleep(0.3)
        assert [line for line in said if "matches" in line] == [
            f"input port 'keys' matches 2 ports: '{jack_name('keyboard:keys')}', '{jack_name('keyboard-2:keys')}'; "
            "not connecting until only one does"]
        assert connections.reconnections == 0
        unplug(second)  # one left: connected to it
        wait_for(lambda: "input port 'keys' is back; reconnected" in said)
        assert connections.reconnections == 1
        back.send_message(NOTE_ON)
        back.send_message(NOTE_OFF)
        wait_for(lambda: heard == [NOTE_ON, NOTE_OFF])
        # our own ports never count: the virtual output of a liveimpro does not stand for "keys"
        assert all("liveimpro" not in line for line in said)
    finally:
        connections.stop()


def test_a_port_back_is_connected_only_once_clients_stop_coming_and_going(jack_server, opened):
    """A client of ours opened just as another program's closes may never be served by JACK 2
    (liveimpro.midi.reconnect says why): while `jack_lsp` runs again and again, the keyboard that
    came back is not connected; once it stops, it is, `CLIENT_QUIET` s later."""
    from liveimpro.midi.jackwatch import CLIENT_QUIET, CLIENT_QUIET_MAX
    said = []
    keyboard = virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    connections = Connections("keys", None, "jack", on_midi=lambda event, _: None, say=said.append,
                              interval=0.05).start()
    try:
        unplug(keyboard)
        wait_for(lambda: "input port 'keys' is gone; waiting for it to come back" in said)
        virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
        churn_until = time.monotonic() + CLIENT_QUIET_MAX / 2
        while time.monotonic() < churn_until:  # a client "lsp" comes and goes, with no pause
            run_jack_tool(["jack_lsp"], capture_output=True)
            assert "input port 'keys' is back; reconnected" not in said, "connected while clients came and went"
        quiet_from = time.monotonic()
        wait_for(lambda: "input port 'keys' is back; reconnected" in said)
        assert time.monotonic() - quiet_from >= CLIENT_QUIET
    finally:
        connections.stop()


def test_reconnected_output_plays_to_the_port_that_came_back(jack_server, opened):
    from liveimpro.live.sinks import MidiPortSink  # the sink duet hands to Connections
    said = []
    synth = virtual_port(rtmidi.MidiIn, "synth", "midi_00", opened)
    sink = MidiPortSink.open("synth", api="jack")
    connections = Connections(None, "synth", "jack", on_midi=lambda event, _: None, sink=sink,
                              say=said.append, interval=0.05).start()
    try:
        virtual_port(rtmidi.MidiIn, "other", "midi_00", opened)  # never "synth"
        unplug(synth)
        wait_for(lambda: "output port 'synth' is gone; waiting for it to come back" in said)
        received = callback_queue(virtual_port(rtmidi.MidiIn, "synth", "midi_00", opened))
        wait_for(lambda: "output port 'synth' is back; reconnected" in said)
        assert send_and_receive(lambda message: sink.send(bytes(message)), received) == [NOTE_ON, NOTE_OFF]
    finally:
        connections.stop()
        sink.close()


def test_duet_input_naming_only_its_own_port_is_refused(jack_server, opened):
    opened(open_output(None))  # duet's output, opened before its input
    virtual_port(rtmidi.MidiOut, "keyboard", "keys", opened)
    connections = Connections("liveimpro", None, "jack", on_midi=lambda event, _: None, say=lambda line: None)
    try:
        with pytest.raises(PortError) as caught:
            connections.start()
        assert str(caught.value) == ("no MIDI input port matches 'liveimpro'; available input ports: "
                                     f"'{jack_name('keyboard:keys')}'")
    finally:
        connections.stop()


@needs_no_alsa
def test_ports_command_without_any_midi_system_says_what_to_do():
    server = f"liveimpro-absent-{os.getpid()}"
    result = run_cli("ports", JACK_DEFAULT_SERVER=server, LIVEIMPRO_MIDI_API=None)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "liveimpro ports: error: no MIDI system available: tried ALSA (no sequencer: /dev/snd/seq missing), "
        f"JACK (JACK_DEFAULT_SERVER names server '{server}', which is not running: "
        f"start it with `jackd -n {server} -d dummy` or unset JACK_DEFAULT_SERVER)"]


def test_ports_command_without_jack_server_when_jack_is_asked_for():
    server = f"liveimpro-absent-{os.getpid()}"
    result = run_cli("ports", "--api", "jack", JACK_DEFAULT_SERVER=server)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"liveimpro ports: error: JACK: JACK_DEFAULT_SERVER names server '{server}', which is not running: "
        f"start it with `jackd -n {server} -d dummy` or unset JACK_DEFAULT_SERVER"]


@needs_no_alsa
def test_ports_command_auto_detects_jack(jack_server):
    result = run_cli("ports", LIVEIMPRO_MIDI_API=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MIDI backend: JACK\n")


@needs_no_alsa
def test_ports_command_honours_environment_and_option(jack_server):
    from_env = run_cli("ports", LIVEIMPRO_MIDI_API="alsa")
    assert from_env.returncode == 1
    assert from_env.stderr == "liveimpro ports: error: ALSA: no sequencer: /dev/snd/seq missing\n"
    from_option = run_cli("ports", "--api", "jack", LIVEIMPRO_MIDI_API="alsa")
    assert from_option.returncode == 0, from_option.stderr
    assert from_option.stdout.startswith("MIDI backend: JACK\n")


def test_ports_command_rejects_bad_api_names():
    bad_option = run_cli("ports", "--api", "oss")
    assert bad_option.returncode == 2
    assert "argument --api: invalid choice: 'oss' (choose from 'alsa', 'jack', 'coremidi', 'winmm')" \
        in bad_option.stderr
    bad_env = run_cli("ports", LIVEIMPRO_MIDI_API="oss")
    assert bad_env.returncode == 1
    assert bad_env.stderr == ("liveimpro ports: error: LIVEIMPRO_MIDI_API='oss' is not a MIDI API: "
                              "choose one of alsa, jack, coremidi, winmm\n")
