"""`liveimpro duet --io-process rtmidi`: the real-time I/O process on python-rtmidi's ports, its
events sent by a loop that sleeps until each one and spins the rest (liveimpro/live/io_rtmidi.py),
duet's default on ALSA and CoreMIDI. Tested here on RtMidi's JACK API (no ALSA sequencer on these
machines), with tests/peer.py in a third process: the peer's clock and RtMidi's input timestamps
are the measure, no JACK frames (the loop knows none). The footswitch's standby note on this path:
tests/test_standby.py. Which path duet takes by default, with a JACK server, without, and on
Windows: the last tests here.
"""
from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
from duet_harness import (BEAT, assert_cut_at_the_barge_in, assert_valid_session, call_events, notes_of, ports_listed, run_peer, stop,
                          wait_until_answering)

from liveimpro.midi.jack_names import jack_client_name

ANSWER_START = 0.3 + 12 * BEAT  # the peer's time of the answer's first note: the bar after the call
UNTIL_QUIET = {"listen": 60.0, "quiet_after": 3.5}
RTMIDI = ("--io-process", "rtmidi")


def written(err: str) -> tuple[int, int]:
    """(events written, written late) from duet's last line."""
    found = re.search(r"I/O process: (\d+) events written \(late p99 [\d.]+ ms, worst [\d.]+ ms\), (\d+) after their "
                      r"time", err)
    assert found, err
    return int(found[1]), int(found[2])


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie has ended: its parent, killed, never reaped it)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def test_the_answer_comes_on_the_bar_with_every_note_released(duet, tmp_path, server_stall):
    proc, session = duet(*RTMIDI)
    # RtMidi's JACK ports, a client each (JACK-Client's I/O process has one client, "liveimpro")
    assert ports_listed([f"{jack_client_name('liveimpro-in')}:liveimpro in", f"{jack_client_name('liveimpro-out')}:liveimpro out"])
    result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})
    notes, stuck = notes_of(result["received"])
    assert not stuck and len(notes) >= 2, result["received"]
    # the peer stamps what it polls (every 0.2 ms) on its own clock: the answer is on the call's bar
    # line within a few ms (the in-process path's own test allows as much), and what a server's stall
    # moved the call's notes and the answer by (conftest's server_stall: 0 while jackd kept its cycles)
    assert abs(notes[0][0] - ANSWER_START) < 0.01 + server_stall(), notes[0]
    code, err = stop(proc)
    assert code == 0, err
    sent, _late = written(err)  # how late they went is a benchmark's figure (scripts/soak.py), not a gate
    assert sent >= 2 * len(notes), err
    assert_valid_session(session)


def test_barging_in_cuts_the_answer_at_once(duet, tmp_path, server_stall):
    proc, session = duet(*RTMIDI, "--length-ratio", "2")
    result = run_peer(tmp_path, {"events": call_events(), "barge_in_after": 0.2, "listen": 25.0, "quiet_after": 2.0})
    # by the I/O process itself (the in-process path allows 15 ms), within 3 ms and what a stall of
    # the server may hold the barge-in and the release in JACK (CI45: 3.04 ms, XRuns up to 5 ms)
    assert_cut_at_the_barge_in(result, within=0.003 + server_stall())
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


@pytest.mark.parametrize("how", ["SIGTERM", "engine killed"])
def test_the_end_mid_answer_leaves_no_note_sounding(duet, tmp_path, how):
    proc, _ = duet(*RTMIDI, "--length-ratio", "2")
    peer = run_peer(tmp_path, {"events": call_events(), "listen": 25.0, "quiet_after": 2.0}, background=True)
    wait_until_answering(proc, peer)
    time.sleep(1.0)  # into the answer
    children = [int(pid) for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert children, "duet started no I/O process"
    # SIGKILL: the engine's process gone at once; the I/O process sees its pipe end and releases
    proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
    proc.wait(15)
    out, err = peer.communicate(timeout=40)
    assert peer.returncode == 0, err
    notes, stuck = notes_of(json.loads(out)["received"])
    assert notes and not stuck, (notes, stuck)
    deadline = time.monotonic() + 5.0
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert time.monotonic() < deadline, "the I/O process outlived the engine's"


@pytest.mark.parametrize("args, said", [
    (("--io-process", "rtmidi", "--synth"), "liveimpro duet: error: --synth with --io-process rtmidi: not yet (FluidSynth "
     "on this path is a JACK client); use --io-process jack, or drop --io-process"),
    (("--io-process", "jack", "--api", "alsa"), "liveimpro duet: error: --io-process jack with --api alsa: drop one "
     "(--io-process rtmidi uses --api)"),
], ids=["synth", "jack with alsa"])
def test_what_the_rtmidi_path_cannot_do_is_one_line(duet, args, said):
    proc, _ = duet(*args, wait_for_ports=False)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and err.strip().splitlines() == [said], err


@pytest.mark.parametrize("argv, backend", [
    ((), "rtmidi"),  # ALSA or CoreMIDI: python-rtmidi's ports in the I/O process
    (("--synth",), "none"),  # FluidSynth is a JACK client on the I/O process's path: threads
    (("--api", "alsa"), "rtmidi"),
    (("--io-process", "none"), "none"),
    (("--io-process",), "rtmidi"),  # bare: rtmidi off JACK
], ids=["plain", "synth", "alsa", "none", "bare"])
def test_with_no_jack_server_duets_ports_are_in_the_rtmidi_io_process(monkeypatch, argv, backend):
    """Where duet puts its ports when no JACK server runs (what these machines can check of it: they
    have no ALSA sequencer to open the ports on)."""
    from liveimpro.cli import build_parser
    from liveimpro.cli.duet import _io_backend

    monkeypatch.setenv("JACK_DEFAULT_SERVER", "liveimpro-no-such-server")
    monkeypatch.delenv("LIVEIMPRO_MIDI_API", raising=False)
    assert _io_backend(build_parser().parse_args(["duet", *argv])) == backend


@pytest.mark.parametrize("argv, env_api, backend", [
    ((), None, "jack"), ((), "jack", "jack"), (("--synth",), None, "jack"),  # FluidSynth fed by the I/O process
    (("--api", "alsa"), None, "rtmidi"), ((), "alsa", "rtmidi"),  # another MIDI system asked for, on a JACK machine
    (("--io-process", "none"), None, "none"),
], ids=["plain", "env jack", "synth", "alsa", "env alsa", "none"])
def test_with_a_jack_server_duets_ports_are_in_the_jack_io_process(jack_server, monkeypatch, argv, env_api, backend):
    from liveimpro.cli import build_parser
    from liveimpro.cli.duet import _io_backend

    if env_api is None:
        monkeypatch.delenv("LIVEIMPRO_MIDI_API", raising=False)
    else:
        monkeypatch.setenv("LIVEIMPRO_MIDI_API", env_api)
    assert _io_backend(build_parser().parse_args(["duet", *argv])) == backend


def test_on_windows_the_io_process_is_off_and_asking_for_it_is_one_line(monkeypatch):
    """No POSIX pipes there (pass_fds, non-blocking pipe ends): duet's ports stay on its threads."""
    import os

    import jack  # noqa: F401 - imported while os.name is still the machine's

    from liveimpro.cli import build_parser
    from liveimpro.cli.duet import _io_backend
    from liveimpro.errors import UserError

    monkeypatch.setenv("JACK_DEFAULT_SERVER", "liveimpro-no-such-server")
    monkeypatch.delenv("LIVEIMPRO_MIDI_API", raising=False)
    plain, asked = (build_parser().parse_args(["duet", *argv]) for argv in ((), ("--io-process", "rtmidi")))
    monkeypatch.setattr(os, "name", "nt")
    assert _io_backend(plain) == "none"
    with pytest.raises(UserError) as raised:
        _io_backend(asked)
    assert str(raised.value) == ("--io-process rtmidi: not on Windows yet (the I/O process talks through POSIX pipes); "
                                 "use --io-process none")
