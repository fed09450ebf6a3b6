"""Faults around a running `liveimpro duet`, on real JACK ports: its ports vanish and come back,
the JACK server restarts, FluidSynth cannot start, the session file cannot be written, a signal
arrives at any moment. After each: it goes on answering, and no note is left sounding."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from duet_harness import (
    BOTH_PATHS,
    Lines,
    assert_valid_session,
    call_events,
    notes_of,
    ports_listed,
    run_peer,
    start_duet,
    stop,
)

from liveimpro.midi.jack_names import jack_client_name


def device(tmp_path, listen: float, env: dict | None = None, **script):
    """A peer process standing for a keyboard and a synth: virtual ports "keys" (it plays the call
    there) and "synth" (it records what arrives); it waits up to 20 s for duet to connect to both."""
    peer = run_peer(tmp_path, {"source_port": "keys", "sink_port": "synth", "await": ["keys", "synth"],
                               "timeout": 20.0, "listen": listen, "say_open": True, **script}, background=True, env=env)
    assert peer.stderr.readline().strip() == "open", peer.stderr.read()
    return peer


def answered(peer, *duet_said: Lines, required: bool = True) -> list:
    """The notes the device received, all released; fails on a note left sounding, or (`required`)
    on none received, showing what duet said (its `Lines`) and what the peer sent."""
    out, err = peer.communicate(timeout=60)
    assert peer.returncode == 0, err
    result = json.loads(out)
    notes, stuck = notes_of(result["received"])
    said = [line for lines in duet_said for line in lines.rest()]
    assert not stuck, f"left sounding: {stuck}; received: {result['received']}; duet: {said}"
    assert notes or not required, f"no answer: received {result['received']}; sent {len(result['sent'])}; duet: {said}; peer: {err}"
    return notes


@BOTH_PATHS
def test_named_ports_that_vanish_are_reconnected_when_they_come_back(async_jack, duet, tmp_path, path):
    first = device(tmp_path, listen=30.0, leave_after_answer=0.6, events=call_events())  # it leaves mid-answer
    proc, session = duet(*path, "--in", "keys", "--out", "synth", "--length-ratio", "2")
    said = Lines(proc.stderr)
    out, err = first.communicate(timeout=60)
    assert any(m[0] & 0xF0 == 0x90 for _, m in json.loads(out)["received"]), f"no answer before it left: {err}; {said.rest()}; {out}"
    # the device is gone: duet says so about both ports, and names the notes it could not release
    gone = said.wait_for_each(["input port 'keys' is gone", "may be left sounding"])
    assert len(gone) == 2, said.rest()
    lost_line = gone["may be left sounding"]
    assert "output port 'synth' is gone" in lost_line, said.rest()
    lost = {(int(c) - 1, int(p)) for c, p in re.findall(r"ch(\d+):(\d+)", lost_line.split("sounding:")[1])}
    time.sleep(1.0)  # it stays away a while
    logged = len(async_jack.log_text())
    second = device(tmp_path, listen=30.0, quiet_after=3.5, events=call_events())
    assert said.wait_for("input port 'keys' is back; reconnected"), said.rest()
    out, err = second.communicate(timeout=60)
    received = json.loads(out)["received"]
    # the answer to its call (from t 0 on): before it, the first answer's last notes may arrive too,
    # when the device is back before that answer is over
    first_on = next((t for t, m in received if m[0] & 0xF0 == 0x90 and t >= 0), None)
    notes, stuck = notes_of(received)
    jackd = async_jack.log_text()[logged:]
    if stuck and first_on is not None and "was not finished" in jackd:
        # This asynchronous server drops the MIDI of a client late for its cycle (see below), and
        # the device's return is a graph change: CI63 lost one cycle of the first answer's tail there
        # (a note-off and the next note-on; duet's barge-in then released the note it had written),
        # the listener and duet logged late, a 26.7 ms XRun. The answer to the new call stays whole.
        notes, stuck = notes_of([(t, m) for t, m in received if t >= first_on])
    assert notes and not stuck, f"no answer after the ports came back: {received}; {said.rest()}; {err}"
    released = {(m[0] & 15, m[1]) for t, m in received if m[0] & 0xF0 == 0x80 and t < first_on}
    # one by one: All Notes Off would also cut the answer notes written since the device came back
    assert not [m for _, m in received if m[0] & 0xF0 == 0xB0 and m[1] == 123], received
    # the notes lost with the first device got their note-offs on its return; unless the server
    # dropped them: this test's asynchronous server (it kills a device) loses the MIDI of a client
    # late for its cycle (liveimpro.jackserver), and jackd says so (seen once in CI, the note-off
    # lost with "client = liveimpro-out was not finished" logged)
    missing, jackd = lost - released, async_jack.log_text()[logged:]  # (read again: up to the device's end)
    late = f"client = {jack_client_name('liveimpro' if 'jack' in path else 'liveimpro-out')} was not finished"
    assert not missing or late in jackd, (missing, released, jackd[-1500:])
    code, _ = stop(proc)
    assert code == 0, said.rest()
    assert any("output port 'synth' is back; reconnected" in line for line in said.rest())
    assert_valid_session(session, min_phrases=2)


def test_the_keyboard_unplugged_with_keys_down_ends_the_phrase(async_jack, duet, tmp_path):
    held = [e for e in call_events() if e[1][0] == 0x90 or e[0] < 2.0]  # the last notes' keys stay down
    keyboard = run_peer(tmp_path, {"source_port": "keys", "sink_port": "unused", "await": ["keys"], "timeout": 20.0,
                                   "events": held, "listen": 4.5, "say_open": True}, background=True)
    assert keyboard.stderr.readline().strip() == "open", keyboard.stderr.read()
    proc, _ = duet("--in", "keys")
    said, status = Lines(proc.stderr), Lines(proc.stdout)
    keyboard.communicate(timeout=30)  # it leaves with keys down
    assert said.wait_for("input port 'keys' is gone"), said.rest()
    # answered now, not once the keys count as released by the held-key timeout (8 s after the last note)
    assert status.wait_for("answering", timeout=5.0), said.rest()
    assert stop(proc)[0] == 0


def test_a_jack_server_crash_and_restart_reopens_every_port(jack_server, own_jack, tmp_path):
    server, env = own_jack
    # the ports on duet's threads (the I/O process's own crash test: tests/test_io_process.py)
    proc, session = start_duet(tmp_path, "--io-process", "none", "--synth", env=env)  # MIDI out and FluidSynth's JACK audio
    said, status = Lines(proc.stderr), Lines(proc.stdout)
    try:
        assert ports_listed(["liveimpro synth"], env)
        answered(run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "quiet_after": 3.5}, background=True, env=env),
                 said, status)
        server.kill()  # jackd crashes: it has no chance to tell its clients
        assert said.wait_for("the JACK server stopped"), said.rest()
        time.sleep(1.0)
        server.start()
        os.environ["JACK_DEFAULT_SERVER"] = jack_server.name
        assert said.wait_for("the JACK server is back"), said.rest()
        # told, not polled for: a `jack_lsp` every 0.1 s is a client coming and going while duet
        # opens its own, which duet waits out (liveimpro.midi.reconnect) for a second at most
        reopened = ["the virtual input port is open again", "the virtual output port is open again"]
        assert len(said.wait_for_each(reopened, timeout=10)) == 2, said.rest()
        assert ports_listed(["liveimpro in", "liveimpro out", "liveimpro synth"], env)
        answered(run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "quiet_after": 3.5}, background=True, env=env),
                 said, status)
        code, _ = stop(proc)
        assert code == 0, said.rest()
        assert not [line for line in said.rest() if "could not start again" in line]
        assert_valid_session(session, min_phrases=2)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_fluidsynth_that_cannot_start_leaves_midi_playing(duet, tmp_path):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    proc, _ = duet("--synth", "--soundfont", str(broken))
    said = Lines(proc.stderr)
    assert said.wait_for("playing to MIDI only", timeout=5), said.rest()
    assert answered(run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "quiet_after": 3.5}, background=True))
    assert stop(proc)[0] == 0


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte: writing there fails with ENOSPC, like a full disk."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(filler)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_a_full_disk_warns_and_the_performance_goes_on(jack_server, full_disk, tmp_path):
    session = full_disk / "session.mid"
    proc, _ = start_duet(tmp_path, "--record", str(session))  # the later --record wins
    said = Lines(proc.stderr)
    try:
        # the first answer comes in on the bar line after the call (6.3 s) and lasts as long (to 10.3 s)
        events = call_events() + call_events(start=10.8)
        notes = answered(run_peer(tmp_path, {"events": events, "listen": 40.0, "quiet_after": 3.5}, background=True))
        assert [n for n in notes if n[0] < 10.8] and [n for n in notes if n[0] > 14.8]  # both calls answered
        code, _ = stop(proc)
        assert code == 0
        warnings = [line for line in said.rest() if "cannot record the session" in line]
        assert len(warnings) == 1 and "No space left on device" in warnings[0], said.rest()  # once, not per phrase
        assert any("the session was not recorded" in line for line in said.rest())
        assert not session.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


# when, in seconds from the peer's start (the call: 0.3..4.3 s, its answer from about 4.8 s), a signal
# comes, and which: Ctrl-C (SIGINT) or a service manager's stop (SIGTERM)
MOMENTS = {"while the model loads": (None, signal.SIGINT), "listening": (0.1, signal.SIGTERM),
           "keys down": (1.35, signal.SIGINT), "between notes": (2.28, signal.SIGTERM),
           "at the phrase end": (4.7, signal.SIGINT), "in the answer": (5.6, signal.SIGTERM),
           "as the answer ends": (8.1, signal.SIGINT)}


def wait_until_caught(proc, signum: int, timeout: float = 20.0) -> None:
    """Wait until `proc` has a handler for `signum` (its SigCgt mask in /proc), so a signal sent
    then cannot be lost; a test process started with SIGINT ignored passes that on to duet, which
    catches it from the first line of `liveimpro.cli.main` (not during Python's own start-up)."""
    deadline, mask = time.monotonic() + timeout, 1 << (signum - 1)
    while time.monotonic() < deadline and proc.poll() is None:
        with open(f"/proc/{proc.pid}/status") as status:
            caught = next(int(line.split()[1], 16) for line in status if line.startswith("SigCgt:"))
        if caught & mask:
            return
        time.sleep(0.005)
    pytest.fail(f"duet did not catch signal {signum} within {timeout} s (exit status {proc.poll()})")


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_signal_at_any_moment_ends_cleanly(jack_server, tmp_path, moment):
    at, signum = MOMENTS[moment]
    if at is None:
        proc, session = start_duet(tmp_path, wait_for_ports=False)
        started = time.monotonic()
        wait_until_caught(proc, signum)  # this suite may run with SIGINT ignored (a background job)
        time.sleep(max(0.0, started + 0.5 - time.monotonic()))  # python is importing torch or reading the model
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, 130), err
        assert "Traceback" not in err and not ports_listed(["liveimpro in"])
        return
    proc, session = start_duet(tmp_path)
    peer = run_peer(tmp_path, {"events": call_events(), "listen": at + 1.0}, background=True)
    assert peer.stderr.readline().strip() == "ready"
    time.sleep(0.5 + at)  # the peer's time 0 is half a second after "ready"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    notes = answered(peer, required=False)  # every note-on the device got has its note-off
    if notes:
        assert_valid_session(session)
