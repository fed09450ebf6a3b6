"""What the real-port tests share: `liveimpro duet` in one process, tests/peer.py in another
playing calls and recording what comes back, with timestamps; and reading their output.

    proc, session = start_duet(tmp_path, "--length-ratio", "2")
    result = run_peer(tmp_path, {"events": call_events(), "listen": 9.0})
    notes, stuck = notes_of(result["received"])
"""
from __future__ import annotations

import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import mido
import pytest
from peer import IN_CLIENT as PEER_IN  # the peer's JACK client names, per pytest worker (tests/peer.py says why)
from peer import OUT_CLIENT as PEER_OUT

from liveimpro.jackserver import run_jack_tool

PEER = Path(__file__).with_name("peer.py")

# Every process the harness starts, so that the `no_process_left` fixture (conftest.py) ends the
# ones a test leaves running (a failed assertion skips the test's own cleanup): a leftover peer or
# duet keeps its JACK client, the next test's duet then gets "liveimpro-in-01", and every test
# after it fails for a reason that is not its own.
SPAWNED: list[subprocess.Popen] = []
BEAT = 0.5  # s: the calls are played at 120 bpm
CALL = [(60, 0, 1), (62, 1, 1), (64, 2, 1), (65, 3, 0.5), (67, 3.5, 0.5), (69, 4, 1), (67, 5, 1), (64, 6, 2)]


def call_events(start: float = 0.3, beat: float = BEAT, notes=CALL, channel: int = 0) -> list:
    events = []
    for pitch, onset, length in notes:
        events.append((start + onset * beat, [0x90 | channel, pitch, 90]))
        events.append((start + (onset + length) * beat - 0.02, [0x80 | channel, pitch, 0]))
    return events


def start_duet(tmp_path, *args: str, env: dict | None = None, wait_for_ports: bool = True):
    """Start `liveimpro duet --api jack --record tmp_path/session.mid --seed 1 ARGS` and wait until it
    says it is listening (its ports exist and its input reaches the engine; the line is kept as
    `proc.listening`), on the server `env` names, else the session's. Without --io-process in ARGS
    it takes duet's default path: on JACK, the real-time I/O process."""
    session = tmp_path / "session.mid"
    proc = subprocess.Popen([sys.executable, "-m", "liveimpro", "duet", "--api", "jack", "--record", str(session),
                             "--seed", "1", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=None if env is None else {**os.environ, **env})
    SPAWNED.append(proc)
    if not wait_for_ports:
        return proc, session
    deadline, said = time.monotonic() + 60.0, []
    while (left := deadline - time.monotonic()) > 0 and (line := read_raw_line(proc.stdout, timeout=left)):
        if line.startswith("liveimpro duet: listening"):
            proc.listening = line  # which path it took, among other things
            return proc, session
        said.append(line)  # a library's chatter before it: not ours to fail on, shown if it never comes
    proc.kill()
    pytest.fail(f"duet did not start listening: {''.join(said)!r}; {proc.stderr.read()[-800:]}")


def read_raw_line(stream, timeout: float) -> str:
    """One line of a process's text stream, read byte by byte from its file descriptor, so nothing
    is left in the stream's buffer for a later select() not to see; '' at its end or after
    `timeout` s."""
    line, deadline = b"", time.monotonic() + timeout
    while not line.endswith(b"\n") and (left := deadline - time.monotonic()) > 0:
        if not select.select([stream], [], [], left)[0]:
            break
        byte = os.read(stream.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode(errors="replace")


def ports_listed(names, env: dict | None = None) -> bool:
    """Whether every name is part of a port's name on the JACK server (`env` may name another)."""
    listing = run_jack_tool(["jack_lsp"], capture_output=True, text=True,
                             env=None if env is None else {**os.environ, **env}).stdout
    return all(name in listing for name in names)


def run_peer(tmp_path, script: dict, background: bool = False, env: dict | None = None):
    path = tmp_path / f"peer-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(script))
    proc = subprocess.Popen([sys.executable, str(PEER), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=None if env is None else {**os.environ, **env})
    SPAWNED.append(proc)
    if background:
        return proc
    out, err = proc.communicate(timeout=script.get("listen", 5) + 30)
    assert proc.returncode == 0, err
    return json.loads(out)


def notes_of(received) -> tuple[list[tuple[float, float, int]], list]:
    """(on, off, pitch) of every note-on received, and (on, channel, pitch) of the note-ons left
    without a note-off (All Notes Off, CC 123, releases everything of its channel)."""
    held, notes = {}, []
    for t, m in received:
        kind = m[0] & 0xF0
        if kind == 0x90 and m[2] > 0:
            held.setdefault((m[0] & 15, m[1]), []).append(t)
        elif kind == 0x80 or (kind == 0x90 and m[2] == 0):
            starts = held.get((m[0] & 15, m[1]))
            if starts:
                notes.append((starts.pop(0), t, m[1]))
        elif kind == 0xB0 and m[1] == 123:
            for (channel, pitch), starts in held.items():
                if channel == m[0] & 15:
                    notes += [(s, t, pitch) for s in starts]
                    starts.clear()
    return sorted(notes), sorted((t, channel, pitch) for (channel, pitch), starts in held.items() for t in starts)


def wait_until_answering(proc, peer, timeout: float = 20.0) -> None:
    """Read duet's status lines (one per answered phrase when not on a terminal) until it answers;
    fail, never hang, when it does not. The line of an answered phrase may say "listening": on the
    I/O process's paths the engine hands the answer on ahead of time, and a line printed once it has
    (a loaded machine printed it late) shows the engine's state, not the I/O process's (seen in a
    fresh-clone run: the peer heard the answer, the test waited for "answering" in vain)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([proc.stdout], [], [], left)[0]:
            break
        line = proc.stdout.readline()
        if line.startswith("answering") or re.search(r"\| phrases [1-9]", line):
            return
        if not line:
            break
    peer.kill()
    proc.kill()
    pytest.fail(f"duet did not answer; duet: {proc.stderr.read()[-800:]!r}; peer: {peer.stderr.read()[-800:]!r}")


def end_spawned(grace: float = 5.0) -> list[str]:
    """End every process the harness started that still runs (SIGTERM, SIGKILL after `grace` s);
    the command lines of those that were left running."""
    left = [proc for proc in SPAWNED if proc.poll() is None]
    for proc in left:
        proc.send_signal(signal.SIGTERM)
    for proc in left:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    SPAWNED.clear()
    return [" ".join(map(str, proc.args[1:4])) for proc in left]


def jack_clients(env: dict | None = None) -> list[str]:
    """The ports on the JACK server other than the driver's own ("system:...")."""
    listing = run_jack_tool(["jack_lsp"], capture_output=True, text=True,
                             env=None if env is None else {**os.environ, **env}).stdout.splitlines()
    return [name for name in listing if name and not name.startswith("system:")]


def jackd_said(log: str) -> str:
    """jackd's log, each line once (with how many times), in order: a server that gave up on a
    client repeats one error every cycle."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        counts[line] = counts.get(line, 0) + 1
    return "\n".join(line if n == 1 else f"{line}  (x{n})" for line, n in counts.items())


# duet's two paths: its ports on threads beside the engine (liveimpro.midi.reconnect), or in the
# real-time I/O process (liveimpro.live.io_ports), each with a JACK client of its own name
BOTH_PATHS = pytest.mark.parametrize("path", [("--io-process", "none"), ("--io-process", "jack")], ids=["threads", "io"])


def longest_stall(log: str) -> float:
    """The longest the server fell behind in `log`, in seconds: the dummy driver's "XRun = N usec"
    lines, each a cycle that began N µs late. Every message in flight then arrives that late, whoever
    sent it; a VM's vCPU held up by its host stalls even jackd's SCHED_FIFO thread (CI23 logged
    17 ms, with one answer note 18 ms late and the rest within 2 ms)."""
    return max((int(us) for us in re.findall(r"XRun = (\d+) usec", log)), default=0) / 1e6


def wait_for_empty_graph(timeout: float = 5.0) -> list[str]:
    """Until no port but the driver's is left on the server (a client's ports go a moment after its
    process ends); the ports still there after `timeout` s."""
    deadline = time.monotonic() + timeout
    while (left := jack_clients()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def stop(proc) -> tuple[int, str]:
    """SIGTERM, then the exit code and stderr once it ended. A stream a `Lines` reads is left to it
    (two readers would race for the last lines, a warning printed at exit among them): its thread
    is joined at the stream's end, so its `rest()` holds every line, and stderr comes back ''."""
    proc.send_signal(signal.SIGTERM)
    readers = [None if stream is None else READERS.get(stream) for stream in (proc.stdout, proc.stderr)]
    try:
        if not any(readers):  # (read while waiting: a full pipe would hold it up)
            _, err = proc.communicate(timeout=15)
            return proc.returncode, err
        proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(proc.args[1:4])} did not end within 15 s of SIGTERM: {hung_stacks(proc)}")
    for reader in readers:
        if reader is not None:
            reader.join(5.0)
    err = "" if readers[1] is not None else proc.stderr.read()
    return proc.returncode, err


def hung_stacks(proc, wait: float = 1.0) -> str:
    """What a process that did not end (and its children: the I/O process) was doing: SIGUSR2 makes
    liveimpro print every thread's stack (liveimpro.machine.stacks_on_request); then SIGKILL. The
    tail of its stderr. Streams no `Lines` reads are read from now on: a pipe nobody reads fills,
    and a process writing to it waits for ever (that may be the hang)."""
    readers = [None if stream is None else READERS.get(stream) or Lines(stream) for stream in (proc.stdout, proc.stderr)]
    try:
        pids = [proc.pid] + [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    except OSError:
        pids = [proc.pid]
    for sig in (signal.SIGUSR2, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(wait if sig == signal.SIGUSR2 else 0.0)
    proc.wait()
    if readers[1] is None:
        return ""
    readers[1].join(5.0)
    return "\n".join(readers[1].rest())[-6000:]


def assert_cut_at_the_barge_in(result: dict, within: float = 0.003) -> None:
    """At the peer (`result`: run_peer's, with "barge_in_after"; its own clock, polled every 0.2 ms):
    every answer note sounding at the barge-in note (pitch 72) released within `within` s of it,
    and no answer note begun in the 0.35 s after it (the answer to the barge-in may come later)."""
    notes, stuck = notes_of(result["received"])
    sent = next(t for t, m in result["sent"] if m[:2] == [0x90, 72])
    before = [n for n in notes if n[0] < sent]
    assert before, result
    late = [(round((off - sent) * 1e3, 2), pitch) for _, off, pitch in before if off > sent + within]
    assert not late, f"released later than {within * 1e3:g} ms after the barge-in (ms, pitch): {late}"
    assert not [n for n in notes if sent < n[0] < sent + 0.35]
    assert not [s for s in stuck if s[0] < sent + 0.35]


def assert_valid_session(session: Path, min_phrases: int = 1):
    midi = mido.MidiFile(session)
    names = [next((m.name for m in track if m.type == "track_name"), None) for track in midi.tracks]
    assert "call" in names and "answer" in names
    assert any(m.type == "set_tempo" for m in midi.tracks[0])
    call_track = midi.tracks[names.index("call")]
    assert sum(m.type == "note_on" and m.velocity > 0 for m in call_track) >= min_phrases


READERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stream -> the Lines reading it, for stop()


class Lines:
    """Every line of a process's stream, read by a thread, so that a test can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()
        READERS[stream] = self

    def join(self, timeout: float) -> None:
        """Until the stream has ended (its process exited) and every line is queued."""
        self._thread.join(timeout)

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20.0) -> str | None:
        """The first line (from now on) that contains `text`; None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.lines.append(line)
            if text in line:
                return line
        return None

    def wait_for_each(self, texts: list[str], timeout: float = 20.0) -> dict[str, str]:
        """For each text, the first line (read before or after this call) that contains it, in
        whatever order the lines come (duet reports the input and the output from two threads);
        the texts that no line contained within `timeout` s are missing from the result."""
        found = {}
        deadline = time.monotonic() + timeout
        while True:
            for text in texts:
                if text not in found:
                    found[text] = next((line for line in self.lines if text in line), None)
                    if found[text] is None:
                        del found[text]
            if len(found) == len(texts) or (left := deadline - time.monotonic()) <= 0:
                return found
            try:
                self.lines.append(self._queue.get(timeout=left))
            except queue.Empty:
                return found

    def rest(self) -> list[str]:
        """Every line read so far (the stream's end is awaited only as far as it has come)."""
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return self.lines


class JackTimeWatch:
    """How far JACK's time of a cycle, the I/O process's timeline (liveimpro.midi.jack_clock), moved
    against the machine's clock while a test ran. A thread polls, every POLL s, how many frames
    JACK's estimate says passed since the current cycle began (`frame_time - last_frame_time`): 0
    to a period while the estimate keeps to the clock it is read by, and off that by as much as the
    estimate has moved. A client opened, never activated: no process callback, no port, no change
    to the graph. On the dummy driver, XRuns swing the estimate ±300 ms off for seconds on a loaded
    VM (README, "Tests"): a call stamped by it is read off its beats, and nothing played against
    the wall clock can judge the answer's timing then."""

    POLL = 0.002  # s

    def __init__(self, server_name: str):
        import jack

        from liveimpro.midi.jack_names import jack_client_name
        self.client = jack.Client(jack_client_name("time-watch"), servername=server_name, no_start_server=True)
        self.period_ms = 1e3 * self.client.blocksize / self.client.samplerate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.low = self.high = 0.0  # ms since the cycle began, by JACK's estimate: extremes since `start`

    def start(self) -> None:
        self.low, self.high = float("inf"), float("-inf")
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="jack-time-watch", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        client, rate = self.client, self.client.samplerate
        while not self._stop.wait(self.POLL):
            try:
                last = client.last_frame_time  # first: a cycle begun between the reads adds, never takes
                frames = (client.frame_time - last + (1 << 31)) % (1 << 32) - (1 << 31)  # signed: the counts wrap at 2**32
            except Exception:  # noqa: BLE001 - the server went away (a test that stops it): nothing to watch
                return
            since = 1e3 * frames / rate
            self.low, self.high = min(self.low, since), max(self.high, since)

    def wander(self) -> float:
        """ms JACK's time moved against the machine's since `start`: the spread of the polled
        readings beyond one period (a cycle begun between a poll's two reads adds one more)."""
        if self.high < self.low:
            return 0.0
        return max(0.0, self.high - self.low - 2 * self.period_ms)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def close(self) -> None:
        self.stop()
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - a server already gone
            pass
