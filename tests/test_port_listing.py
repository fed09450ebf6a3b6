"""Ports listed while another client's come and go, on a real JACK server: JACK-Client lists the
names, then looks each up, and a port gone in between raises there. The real-time I/O process's
port keeper (liveimpro.live.io_ports) looks every STATS_INTERVAL s; that race, uncaught, ended it
with a traceback as a keyboard left (CI54's `test_faults.py` red)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import jack
import pytest

from liveimpro.live.io_cycle import IoCycle
from liveimpro.live.io_ports import PortKeeper
from liveimpro.midi.jack_clock import JackClock
from liveimpro.midi.jack_names import jack_client_name

CHURN_CLIENT = jack_client_name("churn")
# a client that registers and unregisters a MIDI output port, "keys", as fast as it can until killed
CHURN = f"""
import jack
client = jack.Client({CHURN_CLIENT!r}, no_start_server=True)
client.activate()
print("ready", flush=True)
while True:
    port = client.midi_outports.register("keys")
    port.unregister()
"""
LOOKS = 3000  # raw listings and keeper looks each, while the port churns


@pytest.fixture
def churn(jack_server):
    proc = subprocess.Popen([sys.executable, "-c", CHURN], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_port_gone_while_it_is_listed_is_listed_again_not_raised(churn):
    client = jack.Client(jack_client_name("lister"), no_start_server=True)
    inport, outport = client.midi_inports.register("in"), client.midi_outports.register("out")
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    said: list[str] = []
    cycle = IoCycle(inport, outport, JackClock(client), client.samplerate, write_end)
    keeper = PortKeeper(client, {"input": f"{CHURN_CLIENT}:keys", "output": None, "synth": None}, inport, outport,
                        write_end, cycle, say=said.append)
    client.activate()
    raced = 0
    try:
        for _ in range(LOOKS):
            try:  # the race itself, provoked: JACK-Client's own listing
                client.get_ports(is_midi=True, is_output=True)
            except jack.JackError:
                raced += 1
            keeper.look()  # never raises: a listing the race spoilt is tried again, or left to the next look
            try:
                os.read(read_end, 65536)  # the INPUT_LOST records of the port's goings
            except BlockingIOError:
                pass
    finally:
        client.deactivate()
        client.close()
        os.close(read_end)
        os.close(write_end)
    assert raced, f"the port's churn never raced JACK-Client's listing in {LOOKS} tries: the test proves nothing"
    assert any("is back; reconnected" in line for line in said), said[-5:]
