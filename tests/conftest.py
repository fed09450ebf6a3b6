"""Shared fixtures. One private JACK server (dummy driver) serves every port test of the session
and is stopped at the end, even when tests fail; `duet` starts `liveimpro duet` on it."""
from __future__ import annotations

import os
import signal

import pytest
from duet_harness import start_duet

from liveimpro.jackserver import JackServer


@pytest.fixture(scope="session", autouse=True)
def no_user_config(tmp_path_factory):
    """The tests never read the developer's own ~/.config/liveimpro/config.toml (a duet they start
    would take its ports and settings): the config folder is an empty one of the session's."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="session")
def jack_server():
    server = JackServer.for_purpose("test")
    os.environ["LIVEIMPRO_MIDI_API"] = "jack"
    os.environ["JACK_NO_START_SERVER"] = "1"  # no JACK client of the tests ever starts a server of its own
    try:
        yield server
    finally:
        os.environ.pop("LIVEIMPRO_MIDI_API", None)
        server.stop()


@pytest.fixture
def duet(jack_server, tmp_path):
    """Start `liveimpro duet` with extra arguments; SIGTERM at the end if still running."""
    processes = []

    def start(*args: str, **options):
        proc, session = start_duet(tmp_path, *args, **options)
        processes.append(proc)
        return proc, session

    yield start
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
