"""Shared fixtures. One private JACK server (dummy driver) serves every port test of the session
and is stopped at the end, even when tests fail."""
from __future__ import annotations

import os

import pytest

from liveimpro.jack import JackServer


@pytest.fixture(scope="session")
def jack_server():
    server = JackServer(f"liveimpro-test-{os.getpid()}")
    server.start()
    os.environ["LIVEIMPRO_MIDI_API"] = "jack"
    try:
        yield server
    finally:
        os.environ.pop("LIVEIMPRO_MIDI_API", None)
        server.stop()
