"""MIDI ports on a real private JACK server (the `jack_server` fixture), and `liveimpro ports`."""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rtmidi

from liveimpro.midi import ports
from liveimpro.errors import PortError
from liveimpro.midi.ports import choose_api, find_port, list_ports, open_input, open_output

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
        close_client(client)


def close_client(client) -> None:
    """Callback off, port closed, then deleted: deleting an input whose callback JACK's thread may be
    running at that moment crashes python-rtmidi."""
    if isinstance(client, rtmidi.MidiIn):
        client.cancel_callback()
    client.close_port()
    client.delete()


def second_client(midi_class, target: str, opened):
    """A second rtmidi client, not using liveimpro.midi.ports, connected to the port named `target`."""
    client = midi_class(rtmidi.API_UNIX_JACK, name="tester")
    opened(client)
    names = client.get_ports()
    client.open_port(next(i for i, port in enumerate(names) if port.endswith(":" + target)))
    return client


def send_and_receive(send, received: queue.Queue, timeout: float = 2.0) -> list[list[int]]:
    """Sends a note-on and its note-off once, right after connecting (JACK 2 connects synchronously,
    so the first message after connecting must not be lost), and returns what arrived."""
    send(NOTE_ON)
    send(NOTE_OFF)
    try:
        return [received.get(timeout=timeout), received.get(timeout=timeout)]
    except queue.Empty:
        pytest.fail(f"the note-on and note-off sent did not both arrive within {timeout} s")


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

def test_virtual_ports_are_visible_to_another_client(jack_server, opened):
    opened(open_input(None))
    opened(open_output(None))
    other_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="tester")
    other_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="tester")
    opened(other_out)
    opened(other_in)
    assert any(re.fullmatch(r"liveimpro(-\d+)?:liveimpro in", port) for port in other_out.get_ports())
    assert any(re.fullmatch(r"liveimpro(-\d+)?:liveimpro out", port) for port in other_in.get_ports())


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
    target = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="Synth")
    opened(target)
    target.open_virtual_port("Piano Port")
    received = callback_queue(target)
    midi_out = open_output("piano port")
    opened(midi_out)
    assert send_and_receive(midi_out.send_message, received) == [NOTE_ON, NOTE_OFF]


def test_missing_port_lists_the_available_ones(jack_server, opened):
    opened(open_input(None))
    with pytest.raises(PortError) as caught:
        open_output("no such synth")
    message = str(caught.value)
    assert message.startswith("no MIDI output port matches 'no such synth'; available output ports: ")
    assert re.search(r"'liveimpro(-\d+)?:liveimpro in'", message)


def test_list_ports_sees_both_directions(jack_server, opened):
    opened(open_input(None))
    opened(open_output(None))
    api, inputs, outputs = list_ports()
    assert api == "jack"
    assert [p for p in inputs if p.endswith(":liveimpro out")] and [p for p in outputs if p.endswith(":liveimpro in")]
    assert not [p for p in inputs if p.endswith(":liveimpro in")]


def test_find_port_prefers_an_exact_match():
    names = ["Big Synth 2", "synth", "Other synth"]
    assert find_port("SYNTH", names) == 1
    assert find_port("synth 2", names) == 0
    assert find_port("other", names) == 2
    with pytest.raises(PortError, match=r"available output ports: none"):
        find_port("synth", [], "output")


# --- `liveimpro ports` ------------------------------------------------------------------------

def test_ports_command_lists_a_virtual_port_of_another_process(jack_server, opened):
    opened(open_output(None))
    result = run_cli("ports")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "MIDI backend: JACK"
    inputs = lines[lines.index("inputs (ports liveimpro can listen to):") + 1:
                   lines.index("outputs (ports liveimpro can play to):")]
    assert any(re.fullmatch(r"  liveimpro(-\d+)?:liveimpro out", line) for line in inputs)

    listing = json.loads(run_cli("ports", "--json").stdout)
    assert listing["api"] == "jack" and listing["backend"] == "JACK"
    assert any(port.endswith(":liveimpro out") for port in listing["inputs"])


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
