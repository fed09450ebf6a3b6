"""The names liveimpro's JACK clients open under: `jack_client_name("liveimpro-in")`.

    LIVEIMPRO_JACK_CLIENT_SUFFIX=-b liveimpro duet ...   # clients "liveimpro-in-b", "liveimpro-out-b"

JACK 2 names a client's notification socket by the client's name and user alone
(/dev/shm/jack_<name>_<uid>_0; libjack's JackSocket.cpp), whatever server the client opens on.
Opening, a client unlinks that path, binds it and has the server connect back to it; so two
processes opening same-named clients on two different servers at the same moment take each
other's socket. One server then "Cannot connect to client name = liveimpro-out"; the other talks
to the wrong process and can refuse every new client from then on ("NotifyAddClient new_client
fails"). Seen under strace with pytest workers, each on a JACK server of its own; a studio with a
JACK server per sound card and a liveimpro on each is the same case.

Instances on different servers at once set a different suffix each: it follows every JACK client
name of liveimpro's (its MIDI ports' clients, the I/O process's, FluidSynth's, the JACK watch's);
the port names ("liveimpro in", "liveimpro out") stay as they are, so a DAW's connections by port
name hold. Instances on the same server need none: the server renames a taken name "...-01".
"""
from __future__ import annotations

import os

SUFFIX_VARIABLE = "LIVEIMPRO_JACK_CLIENT_SUFFIX"


def client_suffix() -> str:
    """What follows every JACK client name of liveimpro's in this process: $LIVEIMPRO_JACK_CLIENT_SUFFIX."""
    return os.environ.get(SUFFIX_VARIABLE, "")


def jack_client_name(name: str) -> str:
    """The JACK client name `name` opens under: `name` and `client_suffix()`."""
    return name + client_suffix()


__all__ = ["SUFFIX_VARIABLE", "client_suffix", "jack_client_name"]
