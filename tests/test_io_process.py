"""`liveimpro duet --io-process`: the JACK MIDI ports in a real-time process of their own
(liveimpro/live/io_process.py), on real ports with tests/peer.py in a third process.

What the I/O process promises (liveimpro/live/io_cycle.py) is checked where it is kept, in JACK's
cycles: a test client of our own (`Monitor`) records every MIDI event it hears with the cycle it
came in, its frame offset in that cycle, and JACK's time of that cycle's first frame. So the
barge-in is checked to the frame (the note-offs in the very cycle and at the very offset of the
player's note-on), and the answer's placement to the frame of JACK's clock. The peer's own
timestamps (wall clock, polled) are checked too, with the slack a loaded machine needs.

Why not the frame counter of `jack_midi_dump -a`: it counts the frames the server processed, and
the dummy driver of the test servers (liveimpro.jackserver) loses frames at each xrun (it starts
counting its cycles again from the late one), and JACK's time of a frame wanders after a stall.
Measured on 2 cores, 64-frame periods, answers through the I/O process: 2 to 19 xruns per answer,
onsets off the grid of that count by up to 128 frames, while the same onsets in JACK's time of
their frames were within half a frame of it (the in-process path, whose sender thread writes each
event at the start of a cycle: 19 to 60 frames off). A frame count without xruns is not something
a test on a shared machine can ask for.

The tests in which a program on the server is killed (the engine, the I/O process, jackd itself)
run on an asynchronous server of their own (conftest's async_jack and own_jack).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from duet_harness import (
    PEER_IN,
    PEER_OUT,
    BEAT,
    CALL,
    SPAWNED,
    Lines,
    assert_cut_at_the_barge_in,
    assert_valid_session,
    call_events,
    jack_clients,
    notes_of,
    ports_listed,
    run_peer,
    start_duet,
    stop,
    wait_until_answering,
)

from liveimpro.jackserver import run_jack_tool
from liveimpro.live.io_wire import ANSWER_TAG, RELEASE_TAG
from liveimpro.midi.jack_names import jack_client_name
from liveimpro.midi.messages import note_off, note_on

UNTIL_QUIET = {"listen": 60.0, "quiet_after": 3.5}
# Where a note left sounding is the failure looked for, the peer must not wait for quiet until 60 s:
# every answer here is over (or cut) by 15 s of the peer's time.
UNTIL_QUIET_SHORT = {"listen": 25.0, "quiet_after": 2.0}
RATE = 48000  # the test servers' sample rate (JackServer's default)
GRID = RATE * BEAT / 12  # frames from one answer onset position to the next: 1/12 beat at 120 bpm, 2000
ANSWER_START = 0.3 + 12 * BEAT  # the peer's time of the answer's first note (the bar after the call)
LONG_ANSWER = ("--length-ratio", "2")  # the answer lasts 4 bars: 6.3 s to 14.3 s of the peer's time
ONE_BAR = [(60, 0, 1), (62, 1, 1), (64, 2, 1), (65, 3, 1)]  # a call of one bar, answered by 6.3 s: for the
# tests that only ask whether an answer comes (call_events() is two bars, answered by 10.3 s)
IO_CLIENT = jack_client_name("liveimpro")  # the I/O process's JACK client, per pytest worker (conftest.py)
IO_IN, IO_OUT = f"{IO_CLIENT}:liveimpro in", f"{IO_CLIENT}:liveimpro out"
SYNTH_CLIENT = jack_client_name("liveimpro synth")
EARS = jack_client_name("io-ears")  # the test's own JACK client that records the synth's audio
IO_CHILD = "liveimpro.live.io_process"


# --- a JACK client that records what it hears, cycle by cycle -------------------------------------

# Both monitors' clients read JACK's time of the cycle in their process callbacks: jack_get_cycle_times
# (JACK-Client does not expose it) through ctypes, with preallocated out-parameters
CYCLE_TIMES = r"""
lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
lib.jack_get_cycle_times.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(t) for t in (
    ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_float)]
handle = ctypes.c_void_p(int(jack._ffi.cast("uintptr_t", client._ptr)))
frames, usecs, following, period = ctypes.c_uint32(), ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_float()
out = [ctypes.byref(v) for v in (frames, usecs, following, period)]
"""
MONITOR = r"""
# python -c MONITOR CLIENT INPUT...: a JACK client with one MIDI input per name. It prints its
# sample rate once active, then each event as it comes, a JSON line [input, cycle frame, cycle usecs,
# offset, [bytes]]: `cycle frame` and `cycle usecs` are jack_get_cycle_times' first frame of the cycle the
# event came in and JACK's time of it (the I/O process places its events on the same clock). At
# SIGTERM it prints what is left and "end", then closes its client and exits.
import ctypes, ctypes.util, json, signal, sys, time
import jack

client = jack.Client(sys.argv[1], no_start_server=True)
inputs = [client.midi_inports.register(name) for name in sys.argv[2:]]
""" + CYCLE_TIMES + r"""heard = []  # appended by JACK's thread, printed by the main one: no output in the callback
cycles = [0]  # how many cycles JACK has served us: printed as "cycles N" each second

def process(n):
    cycles[0] += 1
    events = [(i, offset, list(bytes(data))) for i, port in enumerate(inputs)
              for offset, data in port.incoming_midi_events()]
    if events:
        lib.jack_get_cycle_times(handle, *out)
        heard.extend((i, frames.value, usecs.value, offset, message) for i, offset, message in events)

client.set_process_callback(process)
from liveimpro.machine import set_on_signals
done = set_on_signals(signal.SIGTERM)  # not a threading.Event: its set() in a handler can deadlock the wait
printed = 0
# JACK 2 may never serve a client activated right after another one (jack2 issue #156; the I/O
# process's was, in CI: "io-monitor was not finished" every cycle): 0.3 s apart, as ours are
# (liveimpro.midi.jack_activation)
time.sleep(0.3)
with client:
    print(json.dumps(client.samplerate), flush=True)
    beat = time.monotonic()
    while not done.wait(0.002):
        if time.monotonic() - beat >= 1.0:
            beat = time.monotonic()
            print(f"cycles {cycles[0]}", flush=True)
        while printed < len(heard):
            print(json.dumps(heard[printed]), flush=True)
            printed += 1
    for event in heard[printed:]:
        print(json.dumps(event))
    print("end", flush=True)  # before the client is closed: a close can wait on the server
"""


class Monitor:
    """`MONITOR` in a process of its own (its Python callback never holds up the test's), ended
    by `stop()` or, when a test fails first, by the `monitor` fixture. Its events, each
    {"input", "frame" (the cycle's first frame plus the offset), "cycle" (the cycle's first frame),
    "offset", "time" (JACK's time of its frame, in s), "message"}, come in as it hears them."""

    name = jack_client_name("io-monitor")

    def __init__(self, *inputs: str, env: dict | None = None):
        self.inputs, self.env = inputs, env
        self.proc = subprocess.Popen([sys.executable, "-c", MONITOR, self.name, *inputs], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env})
        SPAWNED.append(self.proc)
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), line + self.proc.stderr.read()
        self.rate = int(line)
        self.lines = Lines(self.proc.stdout)
        self.cycles = 0  # cycles JACK had served the client at its last "cycles N" line

    def connect(self, source: str, input_name: str, timeout: float = 5.0) -> None:
        """Connect `source` to one of our inputs and wait until JACK lists the connection (it is
        made in the server's next cycles; what is sent before then is not heard)."""
        sink = f"{self.name}:{input_name}"
        run_jack_tool(["jack_connect", source, sink], check=True, capture_output=True,
                       env=None if self.env is None else {**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while not connected(source, sink, self.env):
            assert time.monotonic() < deadline, f"JACK did not connect {source} to {sink}"
            time.sleep(0.05)

    def wait_for_note_on(self, timeout: float = 10.0) -> dict:
        """The next note-on heard (from now on: what was heard before is passed over)."""
        self.lines.rest()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self.lines.wait_for("", timeout=left)
            if line is None or line == "end":
                break
            if line.startswith("cycles "):
                self.cycles = int(line.split()[1])
                continue
            event = self._event(json.loads(line))
            if is_note_on(event["message"]):
                return event
        pytest.fail(f"the monitor heard no note-on within {timeout} s (JACK served its client {self.cycles} cycles)")

    def stop(self) -> list[dict]:
        """Every event heard: all of them once it says "end". Its exit is waited for, but not
        asked of it: closing a JACK client waits on the synchronous server, which was seen stuck
        for over 10 s after a client of the peer's closed mid-cycle ("ClientCloseAux wait error"
        in jackd's log); the measurement is whole by then."""
        self.proc.send_signal(signal.SIGTERM)
        ended = self.lines.wait_for("end", timeout=10.0)
        lines = self.lines.rest()
        assert ended is not None, f"the monitor did not end: {self.proc.stderr.read() if self.proc.poll() else ''}"
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return [self._event(json.loads(line)) for line in lines if line != "end" and not line.startswith("cycles ")]

    def _event(self, fields) -> dict:
        i, cycle, usecs, offset, message = fields
        return {"input": self.inputs[i], "frame": cycle + offset, "cycle": cycle, "offset": offset,
                "time": usecs * 1e-6 + offset / self.rate, "message": message}


AUDIO_MONITOR = r"""
# python -c AUDIO_MONITOR CLIENT: a JACK client with the audio inputs "left" and "right". It prints its
# sample rate once active; at SIGTERM, a JSON list of [usecs, peak] for each cycle in which either input
# peaked above 1e-4 (usecs: JACK's time of the cycle's first frame, as MONITOR's), then "end".
import ctypes, ctypes.util, json, signal, sys, time
import jack, numpy as np

client = jack.Client(sys.argv[1], no_start_server=True)
inputs = [client.inports.register(name) for name in ("left", "right")]
""" + CYCLE_TIMES + r"""loud = []

def process(n):
    peak = max(float(np.abs(port.get_array()).max()) for port in inputs)
    if peak > 1e-4:
        lib.jack_get_cycle_times(handle, *out)
        loud.append((usecs.value, peak))

client.set_process_callback(process)
from liveimpro.machine import set_on_signals
done = set_on_signals(signal.SIGTERM)  # not a threading.Event: its set() in a handler can deadlock the wait
time.sleep(0.3)  # apart from the last activation (MONITOR says why)
with client:
    print(json.dumps(client.samplerate), flush=True)
    done.wait()
    print(json.dumps(loud), flush=True)
    print("end", flush=True)
"""
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # scripts/setup.sh installs it (timgm6mb-soundfont)


@pytest.fixture
def monitor():
    """Start a `Monitor` on some inputs; one left running (a test failed before stopping it) is
    ended here, before the harness would report it as left running."""
    started = []

    def start(*inputs: str, env: dict | None = None) -> Monitor:
        started.append(Monitor(*inputs, env=env))
        return started[-1]

    yield start
    for one in started:
        if one.proc.poll() is None:  # ended as it ends by itself: a killed client may stall a synchronous JACK 2
            one.proc.terminate()
            try:
                one.proc.wait(5)
            except subprocess.TimeoutExpired:
                one.proc.kill()
                one.proc.wait()


def connected(source: str, sink: str, env: dict | None = None) -> bool:
    listing = run_jack_tool(["jack_lsp", "-c"], capture_output=True, text=True,
                             env=None if env is None else {**os.environ, **env}).stdout.splitlines()
    port = None
    for line in listing:
        if not line.startswith(" "):
            port = line.strip()
        elif port == source and line.strip() == sink:
            return True
    return False


def is_note_on(message) -> bool:
    return message[0] & 0xF0 == 0x90 and message[2] > 0


def is_note_off(message) -> bool:
    return message[0] & 0xF0 == 0x80 or (message[0] & 0xF0 == 0x90 and message[2] == 0)


def on_grid(onsets: np.ndarray) -> tuple[float, np.ndarray]:
    """The grid step (frames) that best fits onsets (frames) lying on a grid, and each onset's
    distance from it. The step is the engine's twelfth of the beat it read in the call, near but
    not exactly GRID: first from the shortest interval, then by least squares over all."""
    intervals = np.diff(onsets)
    shortest = intervals[intervals > GRID / 2].min()
    rough = shortest / round(shortest / GRID)
    positions = np.concatenate([[0], np.cumsum(np.round(intervals / rough))])
    (start, step), *_ = np.linalg.lstsq(np.vstack([np.ones_like(positions), positions]).T, onsets - onsets[0],
                                        rcond=None)
    return float(step), onsets - onsets[0] - start - step * positions


# --- processes ----------------------------------------------------------------------------------

def peer_started(tmp_path, script: dict, env: dict | None = None):
    """The peer in the background, once it is connected; and the perf_counter time of its time 0
    (half a second after it says "ready": tests/peer.py)."""
    peer = run_peer(tmp_path, script, background=True, env=env)
    line = peer.stderr.readline().strip()
    assert line == "ready", line + peer.stderr.read()
    return peer, time.perf_counter() + 0.5


def io_child(proc) -> int:
    """The pid of duet's real-time I/O process."""
    found = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", IO_CHILD], capture_output=True,
                           text=True).stdout.split()
    assert len(found) == 1, f"duet's I/O processes: {found}"
    return int(found[0])


def has_exited(pid: int) -> bool:
    """Whether the process is gone (or a zombie: it has exited and nobody reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def answered(peer, said: Lines | None = None) -> list:
    """The notes the peer received, every one released; fails on none, or on one left sounding."""
    out, err = peer.communicate(timeout=60)
    assert peer.returncode == 0, err
    received = json.loads(out)["received"]
    notes, stuck = notes_of(received)
    context = f"received: {received}; duet: {said.rest() if said else ''}"
    assert notes, f"no answer; {context}"
    assert not stuck, f"left sounding: {stuck}; {context}"
    return notes


# --- the tests ----------------------------------------------------------------------------------

FRAMES_LOST = 0.01  # of the call's time: JACK's frames ran this much off the wall clock as it came


def test_answer_arrives_in_tempo_with_every_note_released(duet, monitor, tmp_path, server_stall):  # a timing test (conftest)
    """The answer on the call's grid, both as a JACK client hears them: in JACK's time of their
    frames (as a DAW recording both would place them). The peer's own clock is not the measure:
    it sends when a Python loop wakes, and JACK's time of a cycle wanders from the wall clock on a
    loaded machine with the dummy driver (liveimpro.midi.jack_clock.JackClock)."""
    proc, session = duet("--io-process")
    watch = monitor("player", "answer")
    # the call starts 1.5 s after the peer is ready (0.8 s otherwise): time to connect the monitor
    peer, _ = peer_started(tmp_path, {"events": call_events(start=1.0), **UNTIL_QUIET})
    watch.connect(f"{PEER_OUT}:RtMidi output", "player")
    watch.connect(IO_OUT, "answer")
    notes = answered(peer)
    heard = watch.stop()
    calls = [e["time"] for e in heard if e["input"] == "player" and is_note_on(e["message"])]
    ons = [e["time"] for e in heard if e["input"] == "answer" and is_note_on(e["message"])]
    assert len(calls) == len(CALL), f"the monitor heard the call's note-ons at {calls}"
    assert len(ons) == len(notes) >= 2, f"the monitor heard {heard}; the peer received {notes}"
    # the call's grid: a least-squares fit of its onsets (each at the start of the cycle after the
    # peer sent it: rtmidi writes at frame 0) to their beats
    beats = np.array([onset for _, onset, _ in CALL])
    (start, beat), *_ = np.linalg.lstsq(np.vstack([np.ones(len(beats)), beats]).T, np.array(calls), rcond=None)
    positions = (np.array(ons) - start) / beat  # the answer's onsets in the call's beats
    off_ms = (positions - np.round(positions * 12) / 12) * beat * 1e3
    report = f"the call at {60 / beat:.2f} bpm; the answer's onsets in its beats: {positions.round(4)}, " \
             f"off its grid of 1/12 beat (ms): {off_ms.round(2)}"
    # The peer sent the call at 120 bpm by the wall clock; JACK's frames, the monitor's time, read it
    # at 119.6-120.2 in quiet runs. A server stalled again and again while the call came loses frames
    # (CI45: a hundred XRuns, up to 8.7 ms; the call at 117.92 bpm), and JACK's smoothed time of a
    # cycle, the I/O process's stamps, wanders by tens of ms then: the engine read CI45's call at 69
    # bpm (its session file) and answered on that triplet grid, 2.4 beats late. Then what still holds
    # is an answer after the call with every note released; otherwise the answer is on the call's grid.
    frames_lost = abs(60 / beat / 120 - 1)
    if frames_lost <= FRAMES_LOST:
        assert round(positions[0] * 12) == 12 * 12, report  # on the bar after the call
        # measured: within 0.01 ms (16 runs), the engine's fit of the call's stamps being this one's.
        # The peer's clock saw the same answers up to 25 ms off (see the docstring)
        assert np.all(np.abs(off_ms) < 1), report
    else:
        assert positions[0] > beats[-1], report
        print(f"JACK's frames ran {100 * frames_lost:.1f} % off the call's: its grid not checked; {report}")
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


def test_barging_in_cuts_the_answer_in_the_same_cycle(duet, monitor, tmp_path, server_stall):  # a timing test (conftest)
    proc, session = duet("--io-process", *LONG_ANSWER)
    watch = monitor("player", "answer")
    peer, _ = peer_started(tmp_path, {"events": call_events(), "barge_in_after": 0.2, **UNTIL_QUIET_SHORT})
    # the barge-in comes 0.2 s into the answer (6.5 s of the peer's time): long after these connections
    watch.connect(f"{PEER_OUT}:RtMidi output", "player")
    watch.connect(IO_OUT, "answer")
    out, err = peer.communicate(timeout=60)
    assert peer.returncode == 0, err
    heard = watch.stop()
    result = json.loads(out)

    # in JACK's cycles: the player's note-on and the note-off of every answer note sounding then
    # are in the same cycle, at the same frame (the I/O process cuts the answer itself)
    barge = next((e for e in heard if e["input"] == "player" and e["message"][:2] == [0x90, 72]), None)
    assert barge is not None, f"the barge-in note was not heard: {result}"
    answer = [e for e in heard if e["input"] == "answer"]
    sounding = set()
    for e in answer:
        if e["frame"] >= barge["frame"]:
            break
        key = (e["message"][0] & 15, e["message"][1])
        if is_note_on(e["message"]):
            sounding.add(key)
        elif is_note_off(e["message"]):
            sounding.discard(key)
    assert sounding, f"no answer note sounded at the barge-in: {answer}"
    released = {(e["message"][0] & 15, e["message"][1]) for e in answer
                if e["frame"] == barge["frame"] and is_note_off(e["message"])}
    assert sounding <= released, (f"sounding at the barge-in (frame {barge['frame']}): {sounding}; released at "
                                  f"that frame: {released}; the answer: {answer}")
    # nothing new until the barge-in phrase ends (its note, 0.1 s, then at least 0.35 s of silence)
    after = [e for e in answer if is_note_on(e["message"]) and 0 <= e["frame"] - barge["frame"] < 0.35 * RATE]
    assert not after, f"answer notes started after the barge-in: {after}"

    # at the peer (its own clock, polled every 0.2 ms): released within 3 ms of the barge-in note
    # (a JACK period is 1.3 ms), where the in-process path allows 15 ms (test_engine)
    assert_cut_at_the_barge_in(result)
    code, err = stop(proc)
    assert code == 0, err
    assert_valid_session(session)


def test_the_answer_is_written_to_the_frame(duet, monitor, tmp_path, server_stall):  # a timing test (conftest)
    # a long answer: enough onsets to fit the grid to, whatever the model plays (a two-bar answer of
    # three whole-beat notes came once, on a machine losing 30 ms cycles)
    proc, _ = duet("--io-process", *LONG_ANSWER)
    watch = monitor("answer")
    watch.connect(IO_OUT, "answer")  # before the call is played
    result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})
    heard = watch.stop()
    code, err = stop(proc)
    assert code == 0, err
    ons = [e for e in heard if is_note_on(e["message"])]
    assert len(ons) >= 4, f"heard {heard}; the peer received {result['received']}"
    assert len(ons) == sum(is_note_on(m) for _, m in result["received"])  # the monitor heard the answer whole
    # each note-on's time is the one JACK's clock gives its frame: the cycle's first frame's time
    # plus the offset. The answer's onsets lie on the call's grid of 1/12 beat (GRID frames, as the
    # engine read the tempo), so to the frame: each onset within one frame of it
    onsets = np.array([e["time"] for e in ons]) * RATE
    step, off_grid = on_grid(onsets)
    frames = np.array([e["frame"] for e in ons], dtype=float)
    counted = on_grid(frames)[1]  # the server's frame count: the xruns' lost frames in it (module docstring)
    report = (f"grid step {step:.2f} frames; off the grid (frames) {np.round(off_grid, 2).tolist()}; by the "
              f"server's frame count {np.round(counted, 1).tolist()}; duet: {err.splitlines()[-1:]}")
    assert abs(step / GRID - 1) < 0.02, report  # the call's tempo read as 120 bpm (to 2 %)
    assert np.all(np.abs(off_grid) <= 1.0), report


def test_input_of_no_use_to_the_engine_stays_in_the_io_process(duet, tmp_path):
    """Aftertouch, pitch bend and program changes, well-formed, are counted by the I/O process and go
    no further (liveimpro.live.io_cycle.UNUSED_KINDS: a flood of them kept duet's process busy
    reading and skipping them); a malformed one goes on, and the engine counts it so. duet's last
    line says how many were kept back."""
    proc, _ = duet("--io-process")
    kinds = ([0xE0, 0, 64], [0xD0, 0], [0xA0, 60, 0], [0xC0, 0])
    noise = [(0.3 + i * 0.005, [kinds[i % 4][0] | i % 16] + [i % 128] * (len(kinds[i % 4]) - 1)) for i in range(600)]
    call = call_events()
    result = run_peer(tmp_path, {"events": call + noise + [(0.5, [0xE0, 1])], **UNTIL_QUIET})  # a byte short
    notes, stuck = notes_of(result["received"])
    assert notes and not stuck, result["received"]
    code, err = stop(proc)
    assert code == 0, err
    kept = re.findall(r"(\d+) of no use kept back", err)
    heard = re.findall(r"(\d+) messages heard", err)
    assert kept and heard, err
    # (JACK may lose a message now and then on a loaded machine: tests/test_wire.py)
    assert 0.99 * len(noise) <= int(kept[-1]) <= len(noise), err
    assert 0.99 * (len(call) + 1) <= int(heard[-1]) <= len(call) + 1, err  # the call and the malformed one


def test_the_engine_dying_mid_answer_leaves_no_note_sounding(async_jack, duet, monitor, tmp_path):
    proc, _ = duet("--io-process", *LONG_ANSWER)
    child = io_child(proc)
    watch = monitor("answer")
    watch.connect(IO_OUT, "answer")
    peer, t0 = peer_started(tmp_path, {"events": call_events(), **UNTIL_QUIET_SHORT})
    wait_until_answering(proc, peer)
    time.sleep(max(0.0, t0 + ANSWER_START + 1.0 - time.perf_counter()))  # a second into the answer...
    watch.wait_for_note_on()  # ...as a note begins: one sounds when the engine dies
    proc.kill()  # SIGKILL: the engine's process releases nothing; its end closes the I/O process's pipe
    killed = time.perf_counter() - t0  # in the peer's time
    proc.wait()
    try:
        out, err = peer.communicate(timeout=60)
        assert peer.returncode == 0, err
        received = json.loads(out)["received"]
        notes, stuck = notes_of(received)
        assert not stuck, f"left sounding: {stuck}; received {received}"
        # the note the monitor heard begin before the kill; the peer stamps it when its loop polls it
        # (every 0.2 ms, at a lower priority than JACK's), which can come after the test's own stamp
        # of the kill (CI44: 0.1-0.4 ms after it)
        sounding = [n for n in notes if n[0] < killed + 0.005 and killed < n[1]]
        assert sounding, f"no note sounded at the kill ({killed:.4f} s): {notes}"
        # released at once by the I/O process, and nothing new played (a few ms into a note, the engine
        # has sent the I/O process that note's note-off and the next note-on: dropped, not played)
        assert all(off < killed + 0.1 for _, off, _ in notes), (killed, notes)
        assert not [n for n in notes if n[0] > killed + 0.05], (killed, notes)
        # the I/O process has ended, and its JACK client with it
        wait_for(lambda: has_exited(child), 5.0, "the I/O process still runs after the engine's process died")
        wait_for(lambda: not any(p.startswith(IO_CLIENT + ":") for p in jack_clients()), 5.0,
                 f"the I/O process's ports are still there: {jack_clients()}")
        watch.stop()
    finally:
        if not has_exited(child):
            os.kill(child, signal.SIGKILL)


HELD_OFF = 0.45  # s duet's process is stopped mid-answer, HOLDS times: less than the horizon it streams ahead by
HOLDS = 4  # 0.1 s apart, from a second into the answer (4 bars of 2 s: the holds end 3.2 s into it)


def test_the_answer_keeps_to_its_frames_while_duets_process_is_held_off(duet, tmp_path, server_stall):  # a timing test (conftest)
    """duet hands the I/O process each answer note STREAM_HORIZON before the note before it starts
    (liveimpro.live.answer): with duet's process stopped (SIGSTOP) for HELD_OFF s, HOLDS times
    mid-answer, as a host or a busier process may hold it off the CPU, every note is written at its
    frame all the same, and the answer goes on after. Sampled one note ahead, as the note before it
    began, a note came late whenever a hold covered that moment and lasted past the note's end: 3 of
    4 runs of this test failed so (2 of them not judged), against none of 4 judged with the horizon."""
    from liveimpro.live.io_scheduler import STREAM_HORIZON

    assert HELD_OFF < STREAM_HORIZON
    proc, _ = duet("--io-process", *LONG_ANSWER)
    peer, t0 = peer_started(tmp_path, {"events": call_events(), **UNTIL_QUIET_SHORT})
    wait_until_answering(proc, peer)
    holds = []
    for hold in range(HOLDS):
        time.sleep(max(0.0, t0 + ANSWER_START + 1.0 + hold * (HELD_OFF + 0.1) - time.perf_counter()))
        os.kill(proc.pid, signal.SIGSTOP)
        holds.append(time.perf_counter() - t0)  # in the peer's time
        time.sleep(HELD_OFF)
        os.kill(proc.pid, signal.SIGCONT)
    notes = answered(peer)
    code, err = stop(proc)
    assert code == 0, err
    assert notes[-1][0] > holds[-1] + HELD_OFF, f"the answer did not go on after duet's process did: {notes}"
    late = re.findall(r"(\d+) events written \(late p99 [\d.]+ ms, worst [\d.]+ ms\), (\d+) after their frame", err)
    assert late and int(late[-1][0]) >= 2 * len(notes) and late[-1][1] == "0", err.splitlines()[-1:]


def test_the_io_process_killed_is_started_again(async_jack, duet, tmp_path):
    proc, session = duet("--io-process")
    said = Lines(proc.stderr)
    answered(run_peer(tmp_path, {"events": call_events(notes=ONE_BAR), **UNTIL_QUIET_SHORT}, background=True), said)
    child = io_child(proc)
    os.kill(child, signal.SIGKILL)
    assert said.wait_for(f"the real-time I/O process ended (exit {-signal.SIGKILL}); starting it again",
                         timeout=10), said.rest()
    assert said.wait_for("the real-time I/O process runs again", timeout=10), said.rest()
    assert io_child(proc) != child
    wait_for(lambda: ports_listed([IO_IN, IO_OUT]), 5.0, f"no ports again: {jack_clients()}")
    answered(run_peer(tmp_path, {"events": call_events(notes=ONE_BAR), **UNTIL_QUIET_SHORT}, background=True), said)
    code, _ = stop(proc)
    assert code == 0, said.rest()
    assert not [line for line in said.rest() if "Traceback" in line], said.rest()
    assert_valid_session(session, min_phrases=2)


@pytest.mark.parametrize("synth", [False, True], ids=["MIDI", "and the synth"])
def test_a_jack_server_crash_and_restart_reopens_the_ports(jack_server, own_jack, tmp_path, synth):
    """jackd killed and started again: the I/O process's ports come back and answer; with --synth,
    the synth (a JACK client of duet's) comes back first and the new I/O process feeds it."""
    server, env = own_jack
    if synth and not os.path.exists(SOUNDFONT):
        pytest.skip(f"no {SOUNDFONT} (scripts/setup.sh installs timgm6mb-soundfont)")
    proc, session = start_duet(tmp_path, "--io-process", *(["--synth", "--soundfont", SOUNDFONT] if synth else []),
                               env=env)
    said = Lines(proc.stderr)
    fed = [f"{SYNTH_CLIENT}:midi_00"] if synth else []
    try:
        assert ports_listed([IO_IN, IO_OUT, *fed], env)
        assert all(connected(IO_OUT, port, env) for port in fed)
        server.kill()  # jackd crashes: it has no chance to tell its clients
        assert said.wait_for("the JACK server stopped; waiting for it to come back"), said.rest()
        time.sleep(1.0)
        server.start()
        os.environ["JACK_DEFAULT_SERVER"] = jack_server.name
        assert said.wait_for("the JACK server is back; reopening the ports"), said.rest()
        wait_for(lambda: ports_listed([IO_IN, IO_OUT, *fed], env), 10.0, said.rest())
        wait_for(lambda: all(connected(IO_OUT, port, env) for port in fed), 10.0, said.rest())
        answered(run_peer(tmp_path, {"events": call_events(notes=ONE_BAR), **UNTIL_QUIET_SHORT}, background=True,
                          env=env), said)
        code, _ = stop(proc)
        assert code == 0, said.rest()
        assert not [line for line in said.rest() if "Traceback" in line], said.rest()
        assert_valid_session(session)
    finally:
        if proc.poll() is None:
            proc.kill()


PEER_LAG = 0.005  # s: how much later than the wire the peer may stamp a message it polls, under load


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_an_answer_leaves_no_note_sounding(duet, monitor, tmp_path, signum):
    proc, session = duet("--io-process", *LONG_ANSWER)
    watch = monitor("answer")
    watch.connect(IO_OUT, "answer")
    peer, t0 = peer_started(tmp_path, {"events": call_events(), **UNTIL_QUIET_SHORT})
    wait_until_answering(proc, peer)
    time.sleep(max(0.0, t0 + ANSWER_START + 1.0 - time.perf_counter()))  # a second into the answer...
    watch.wait_for_note_on()  # ...as a note begins: one sounds when the signal comes
    proc.send_signal(signum)
    signalled = time.perf_counter() - t0
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    out, _ = peer.communicate(timeout=30)
    watch.stop()
    notes, stuck = notes_of(json.loads(out)["received"])
    assert not stuck, (signalled, notes, stuck)
    # the signal follows the monitor's note-on (JACK's frame time); the peer stamps what it polls, a
    # little later on a loaded machine (a fresh-clone run: the note-on 0.3 ms after the signal)
    assert [n for n in notes if n[0] < signalled + PEER_LAG < n[1] + PEER_LAG], \
        f"no note sounded at the signal ({signalled:.4f} s): {notes}"
    assert not [n for n in notes if n[0] > signalled + 0.05], (signalled, notes)  # the answer stopped there
    assert_valid_session(session)


def test_named_ports_are_connected_by_the_io_process(duet, tmp_path):
    # a keyboard and a synth in one device: its virtual ports wait (20 s) for duet to connect to both
    device = run_peer(tmp_path, {"source_port": "keys", "sink_port": "synth", "await": ["keys", "synth"],
                                 "timeout": 20.0, "events": call_events(notes=ONE_BAR), "say_open": True,
                                 **UNTIL_QUIET_SHORT}, background=True)
    assert device.stderr.readline().strip() == "open", device.stderr.read()
    proc, session = duet("--io-process", "--in", "keys", "--out", "synth")
    said = Lines(proc.stderr)
    assert connected(f"{PEER_OUT}:keys", IO_IN) and connected(IO_OUT, f"{PEER_IN}:synth")
    answered(device, said)
    code, _ = stop(proc)
    assert code == 0, said.rest()
    assert_valid_session(session)


def test_notes_left_by_a_killed_io_process_are_released_on_a_named_output(async_jack, duet, monitor, tmp_path):
    """A SIGKILLed I/O process releases nothing, and the synth it played keeps the answer's note
    sounding; the new one, connected to the synth again by --out, sends All Notes Off on the
    answer's channel. The synth is the monitor (a JACK client that records every event), there
    before duet as a synth would be; the player, a peer, plays the call into "liveimpro in"."""
    watch = monitor("synth")
    proc, session = duet("--io-process", "--out", f"{Monitor.name}:synth", *LONG_ANSWER)
    said = Lines(proc.stderr)
    peer, _ = peer_started(tmp_path, {"events": call_events(), "sink_port": "ears", "listen": 8.0})
    first = watch.wait_for_note_on(timeout=20)  # the answer's first note, sounding: killed now
    os.kill(io_child(proc), signal.SIGKILL)
    assert said.wait_for("the real-time I/O process runs again", timeout=10), said.rest()
    # the engine plays the rest of the answer (4 bars, 8 s) through the new I/O process
    time.sleep(8.0 + 2.0)
    heard = [(event["time"], event["message"]) for event in watch.stop()]
    notes, stuck = notes_of(heard)
    assert not stuck, f"left sounding after the I/O process was killed: {stuck}; heard {heard}"
    released = [(t, m) for t, m in heard if m[0] & 0xF0 == 0xB0 and m[1] == 123 and m[0] & 15 == first["message"][0] & 15]
    assert released, f"no All Notes Off after the restart; heard {heard}"
    # the note the kill left sounding was released by it
    assert [n for n in notes if n[0] == first["time"] and n[1] == released[0][0]], (first, notes, released)
    out, err = peer.communicate(timeout=30)
    assert peer.returncode == 0, err
    code, _ = stop(proc)
    assert code == 0, said.rest()
    assert_valid_session(session)


def test_a_synth_gone_and_back_gets_the_lost_notes_released_by_the_io_process(async_jack, duet, monitor, tmp_path):
    """The synth named by --out (the monitor) is killed while the answer sounds and started again:
    the I/O process tells both (naming the notes it may be left sounding), connects the new one,
    and sends it a note-off for each of those notes (a synth only unplugged would still hold
    them), one by one: All Notes Off would also cut the answer notes written since it came back."""
    watch = monitor("synth")
    proc, session = duet("--io-process", "--out", f"{Monitor.name}:synth", *LONG_ANSWER)
    said = Lines(proc.stderr)
    peer, _ = peer_started(tmp_path, {"events": call_events(), "sink_port": "ears", "listen": 16.0})
    watch.wait_for_note_on(timeout=20)
    watch.proc.kill()  # the synth crashes with the answer's note sounding...
    watch.proc.wait()
    gone = said.wait_for(f"output port '{Monitor.name}:synth' is gone", timeout=5)
    assert gone and "may be left sounding" in gone, said.rest()
    lost = {(int(c) - 1, int(p)) for c, p in re.findall(r"ch(\d+):(\d+)", gone.split("sounding:")[1])}
    again = monitor("synth")  # ...and is started again at once
    assert said.wait_for(f"output port '{Monitor.name}:synth' is back; reconnected", timeout=10), said.rest()
    out, err = peer.communicate(timeout=30)  # the answer (4 bars, 8 s) is over
    assert peer.returncode == 0, err
    heard = [event["message"] for event in again.stop()]
    assert not [m for m in heard if m[0] & 0xF0 == 0xB0 and m[1] == 123], heard  # no All Notes Off
    # each lost note's first word to the new synth is a note-off: ours, sent once the connection was
    # in JACK's graph, or, for a note the answer still held then, its own at its end
    first = {}
    for m in heard:
        if m[0] & 0xE0 == 0x80:  # a note-on or note-off
            first.setdefault((m[0] & 15, m[1]), m)
    assert all(note in first and is_note_off(first[note]) for note in lost), (lost, heard)
    code, _ = stop(proc)
    assert code == 0, said.rest()
    assert_valid_session(session)


CYCLE_ALONE = r"""
# python -c CYCLE_ALONE CLIENT DESTINATION: the I/O process's IoCycle as the process callback of a JACK
# client of its own, its output connected to DESTINATION; the records of the test's script are put in
# its inbox as the port keeper and the engine put them (times from now, in seconds), and it runs 0.6 s
import json, os, sys, time
import jack
from liveimpro.live.io_cycle import IoCycle
from liveimpro.live.io_wire import SCHEDULE, pack_event
from liveimpro.midi.jack_clock import JackClock
client = jack.Client(sys.argv[1], no_start_server=True)
inport, outport = client.midi_inports.register("in"), client.midi_outports.register("out")
read_end, write_end = os.pipe()
os.set_blocking(write_end, False)
cycle = IoCycle(inport, outport, JackClock(client), client.samplerate, write_end)
client.set_process_callback(cycle.process)
time.sleep(0.3)  # apart from the monitor's activation (liveimpro.midi.jack_activation says why)
with client:
    client.connect(outport, sys.argv[2])
    time.sleep(0.3)  # the connection in JACK's graph
    now = time.perf_counter()
    cycle.inbox.extend(pack_event(SCHEDULE, now + t, bytes(m), tag, group) for t, m, tag, group in json.loads(sys.argv[3]))
    time.sleep(0.6)
print(json.dumps([cycle.errors, cycle.error]), flush=True)
"""


def test_a_lost_notes_note_off_spares_the_pitch_struck_again(jack_server, monitor):
    """The port keeper's note-off for a note an output held when it went is written RECONNECT_SETTLE
    after the port is back (liveimpro.live.io_ports). An answer that strikes that pitch again in
    between keeps its note: the keeper's note-off is left out and the answer's own ends it; a lost
    note not struck again gets its note-off."""
    watch = monitor("synth")
    records = [(0.10, note_on(0, 60, 100), ANSWER_TAG, 1),  # the answer strikes 60 again...
               (0.15, note_off(0, 60), RELEASE_TAG, 0),  # ...before the keeper's note-offs for 60 and 62
               (0.15, note_off(0, 62), RELEASE_TAG, 0),
               (0.40, note_off(0, 60), ANSWER_TAG, 1)]  # the answer's own
    alone = subprocess.run([sys.executable, "-c", CYCLE_ALONE, jack_client_name("cycle-alone"), f"{Monitor.name}:synth",
                            json.dumps([(t, list(m), tag, group) for t, m, tag, group in records])],
                           capture_output=True, text=True, timeout=30)
    assert alone.returncode == 0 and json.loads(alone.stdout) == [0, ""], alone.stdout + alone.stderr
    heard = [(event["time"], event["message"]) for event in watch.stop()]
    assert [m for _, m in heard] == [list(note_on(0, 60, 100)), list(note_off(0, 62)), list(note_off(0, 60))], heard
    assert heard[2][0] - heard[0][0] == pytest.approx(0.3, abs=0.02), heard  # the answer's note-off, not the keeper's


def test_the_synth_plays_the_answer_fed_by_the_io_process(duet, monitor, tmp_path):
    """--io-process --synth: FluidSynth, a JACK client of duet's own ("liveimpro synth"), gets the
    answer from the I/O process's port in JACK's cycles. Its audio, recorded by a JACK client of
    the test's, is silent through the call, sounds from the cycle of the answer's first note-on
    (FluidSynth renders a cycle's events from the start of its block), and falls silent after the
    last note-off; the MIDI output goes on beside it."""
    if not os.path.exists(SOUNDFONT):
        pytest.skip(f"no {SOUNDFONT} (scripts/setup.sh installs timgm6mb-soundfont)")
    proc, _ = duet("--io-process", "--synth", "--soundfont", SOUNDFONT)
    ears = subprocess.Popen([sys.executable, "-c", AUDIO_MONITOR, EARS], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    SPAWNED.append(ears)
    assert ears.stdout.readline().strip().isdigit(), ears.stderr.read()
    for side in ("left", "right"):
        run_jack_tool(["jack_connect", f"{SYNTH_CLIENT}:{side}", f"{EARS}:{side}"], check=True)
    watch = monitor("answer")
    watch.connect(IO_OUT, "answer")
    result = run_peer(tmp_path, {"events": call_events(), **UNTIL_QUIET})  # over: quiet for 3.5 s
    heard = watch.stop()
    ears.send_signal(signal.SIGTERM)
    loud, end = ears.stdout.readline(), ears.stdout.readline()
    assert end.strip() == "end", loud + end + ears.stderr.read()
    ears.wait(10)
    code, err = stop(proc)
    assert code == 0, err
    loud = [(usecs * 1e-6, peak) for usecs, peak in json.loads(loud)]
    ons = [e for e in heard if is_note_on(e["message"])]
    offs = [e for e in heard if is_note_off(e["message"])]
    assert ons and len(ons) == sum(is_note_on(m) for _, m in result["received"]), (heard, result["received"])
    assert loud, f"the synth made no sound; the monitor heard {heard}"
    period = 64 / RATE  # the test server's period (liveimpro.jackserver's default)
    first_cycle = ons[0]["time"] - ons[0]["offset"] / RATE  # JACK's time of the first note-on's cycle
    report = (f"first sound {1000 * (loud[0][0] - first_cycle):+.2f} ms from the cycle of the first note-on; "
              f"last sound {loud[-1][0] - offs[-1]['time']:.2f} s after the last note-off")
    print(report)
    assert -1e-4 <= loud[0][0] - first_cycle <= 2 * period + 1e-4, report  # nothing during the call, then at once
    assert loud[-1][0] < offs[-1]["time"] + 3.0, report  # the piano's release tail, then silence


@pytest.mark.parametrize("path, io", [((), True), (("--io-process", "none"), False)], ids=["default", "none"])
def test_on_jack_duet_runs_the_io_process_unless_told_not_to(duet, path, io):
    """duet's default on a running JACK server is the real-time I/O process; `--io-process none`
    keeps the ports on duet's threads. Its listening line says which, and jack_lsp agrees."""
    proc, _ = duet(*path)
    assert ("(real-time I/O process, 64 frames at" in proc.listening) == io, proc.listening
    assert (IO_IN in jack_clients()) == io  # the I/O process's client "liveimpro", not duet's own two
    assert stop(proc)[0] == 0


def test_no_midi_out_without_a_synth_on_the_io_process_is_one_line(duet):
    proc, _ = duet("--io-process", "--no-midi-out", wait_for_ports=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and err.strip().splitlines() == [
        "liveimpro duet: error: nothing to play to: drop --no-midi-out or add --synth"], err



def test_a_stuck_io_process_holds_up_neither_the_engine_nor_the_end(async_jack):
    """The commands pipe is bounded both ways (liveimpro.live.io_link): with the I/O process stuck
    (SIGSTOP: it reads nothing), a post of twice what the pipe holds returns within POST_WAIT,
    counting the records it dropped, and close() still ends it (killed after 2 s). A post that
    waited for room for ever held the pipe's lock, so close() and duet's end waited too."""
    import threading

    from liveimpro.live.io_link import POST_WAIT, IoProcess
    from liveimpro.live.io_wire import RECORD_SIZE, SCHEDULE, pack_event

    io = IoProcess(on_midi=lambda *_: None, say=lambda _: None).start()
    proc = io._proc
    closer = threading.Thread(target=io.close, daemon=True)
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        # every thread stopped (each stops on its own way back from the kernel), its pipe reader
        # too, before the first post: it reads nothing more
        deadline = time.monotonic() + 5.0
        while any(stat.read_text().rsplit(")", 1)[1].split()[0] != "T"
                  for stat in Path(f"/proc/{proc.pid}/task").glob("*/stat")):
            assert time.monotonic() < deadline, "the I/O process did not stop"
            time.sleep(0.001)
        pipe_holds = 65536 // RECORD_SIZE  # Linux's pipe: 64 KiB
        record = pack_event(SCHEDULE, time.perf_counter() + 60.0, bytes((0x90, 60, 1)), 1, 1)
        poster = threading.Thread(target=io.post, args=(record * 2 * pipe_holds,), daemon=True)
        poster.start()
        poster.join(POST_WAIT + 5.0)
        assert not poster.is_alive(), "post() waited for ever on a stuck I/O process"
        # the pipe took its fill (one 4 KiB chunk more where its reader was mid-read when stopped)
        assert pipe_holds // 2 <= io.dropped_commands < 2 * pipe_holds, io.dropped_commands
    finally:
        # close() first thing stops the restarts (else a new I/O process would come up on the
        # worker's server after this test, every 0.5 s, under the name every later one uses)
        closer.start()
        closer.join(POST_WAIT + 2.0 + 5.0)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not closer.is_alive(), "close() waited for ever on a stuck I/O process"


def test_the_io_process_reports_how_far_its_timeline_runs_ahead(jack_server, server_stall):
    """With its stats (every STATS_INTERVAL), the I/O process tells how far JACK's time of a cycle,
    which stamps the player's notes, ran ahead of the machine's clock (io_wire's CLOCK_LEAD): the
    engine's footswitch standby places a held key's spans by it. On a server that keeps its cycles
    it is the callback's wake-up, well under a period; a stall moves it by about twice the stall."""
    from liveimpro.live.io_link import IoProcess
    from liveimpro.live.io_process import STATS_INTERVAL

    io = IoProcess(on_midi=lambda *_: None, say=lambda _: None).start()
    try:
        deadline = time.monotonic() + 10 * STATS_INTERVAL
        while io.timeline_lead == 0.0:
            assert time.monotonic() < deadline, "no CLOCK_LEAD from the I/O process"
            time.sleep(0.05)
        lead = io.timeline_lead
        assert abs(lead) < 0.002 + server_stall(), lead
        assert io.scheduler().timeline_lead == io.timeline_lead
    finally:
        io.close()
