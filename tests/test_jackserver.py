"""The private JACK server: stable names per purpose, so killed servers never fill JACK 2's table
of 8 servers, and a second server of the same purpose at once takes the next numbered name."""
from __future__ import annotations

import os
import re

from liveimpro.jackserver import REGISTRY, JackServer, is_running


def registered(name: str) -> int:
    """How many entries of JACK 2's server table hold this name."""
    return sum(found.decode() == name for found in re.findall(rb"jack-\d+:([^:\x00]+):", REGISTRY.read_bytes()))


def test_a_killed_server_leaves_no_entry_behind_once_its_purpose_runs_again():
    for _ in range(3):
        server = JackServer.for_purpose("regprobe")
        assert server.name == "liveimpro-regprobe"
        server.kill()  # as a crash would: the entry stays until a server of this name starts
        server.stop()
        assert not is_running(server.name)
    again = JackServer.for_purpose("regprobe")
    try:
        assert registered("liveimpro-regprobe") == 1
    finally:
        again.stop()


def test_two_servers_of_one_purpose_at_once_get_two_names():
    with JackServer.for_purpose("twin") as first, JackServer.for_purpose("twin") as second:
        assert (first.name, second.name) == ("liveimpro-twin", "liveimpro-twin-2")
        assert is_running(first.name) and is_running(second.name)


def test_a_name_stays_its_owners_while_its_server_is_down():
    """A fault test kills its server and starts it again: another process (here another caller)
    asking for a server of the same purpose meanwhile gets the next name, not the one that is down."""
    before = os.environ.get("JACK_DEFAULT_SERVER")
    first = JackServer.for_purpose("hold")
    try:
        first.kill()
        with JackServer.for_purpose("hold") as second:
            assert (first.name, second.name) == ("liveimpro-hold", "liveimpro-hold-2")
            first.start()  # its name is still free for it
            assert is_running(first.name) and is_running(second.name)
    finally:
        first.stop()
    # and the default server is the one before them (first.start() once took "liveimpro-hold-2" for
    # it, and left it to every later test of the worker)
    assert os.environ.get("JACK_DEFAULT_SERVER") == before
