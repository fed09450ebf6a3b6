"""Start and stop a private JACK server with the dummy driver: real MIDI and audio ports, no sound card.

Used by the test suite, the benchmarks and `liveimpro demo`, each under a server
name of its own so that it never touches a musician's running JACK server:

    with JackServer.for_purpose("test") as jack:  # "liveimpro-test"; sets JACK_DEFAULT_SERVER here
        ...                                       # rtmidi's JACK API now sees this server

Names are stable, one per purpose ("liveimpro-test", "liveimpro-demo", ...), never one per
process: JACK 2 keeps its servers in a table of 8 entries (`REGISTRY`) and frees the entry of a
killed server only when a server of the same name starts again. With a name per process, eight
killed runs would fill the table and no jackd would start on the machine again; with stable
names the next run of the same purpose reclaims what a killed one left. When the name is taken by
a server still running (two runs at once), `for_purpose` takes the next of a few numbered ones.
A name `for_purpose` gave out stays its process's until `stop()` (a lock file per name, `claim`),
even while the server is down: a fault test kills its server and starts it again, and another
process probing the name in between found it free, started a server under it, and the restart
failed ("server already active").
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no JACK command-line tools to keep apart
    fcntl = None

from .errors import UserError


_UNSET = object()  # JackServer._previous_env while it keeps none


class JackServer:
    def __init__(self, name: str, sample_rate: int = 48000, period: int = 64, realtime: bool = True,
                 sync: bool = True):
        self.name = name  # JACK server name; clients find it through JACK_DEFAULT_SERVER
        # real-time scheduling for the server and its clients' process threads, where the system
        # allows it: without it, a busy machine makes the dummy driver miss cycles and drop MIDI.
        self.realtime = realtime
        # Synchronous (--sync) by default: asynchronous JACK 2 lets a client that is late for a
        # cycle lose or repeat that cycle's MIDI (measured: 4 of 4 runs of 20,000 messages between
        # two processes on this 2-core machine lost or repeated some; with --sync, 0 of 3). But a
        # synchronous JACK 2 (1.9.21) whose client is killed mid-session may never finish a cycle
        # again: jackd logs "SuspendRefNum error" every cycle, and clients after the dead one in
        # the graph hear nothing (measured: 2 of 22 runs of a test that kills a keyboard's process;
        # asynchronous, 0 of 16). Tests in which a program dies use an asynchronous server.
        self.sync = sync
        self.sample_rate = sample_rate
        self.period = period  # frames per period: 64 at 48 kHz is 1.33 ms
        self._process: subprocess.Popen | None = None
        # JACK_DEFAULT_SERVER before the first start(), put back by stop(); _UNSET while none is kept.
        # Kept from the first start only: a server started again after kill() (a fault test) would
        # otherwise keep its own name, or a later server's, and stop() leave that in the environment.
        self._previous_env: str | None | object = _UNSET
        self._log = None  # jackd's output
        self._claim = None  # for_purpose's lock on the name, kept until stop()

    @classmethod
    def for_purpose(cls, purpose: str, slots: int = 4, **options) -> "JackServer":
        """A started server named "liveimpro-PURPOSE", or "liveimpro-PURPOSE-2" .. "-SLOTS" when the
        names before are taken by running servers; UserError naming them when all are."""
        failures = []
        for slot in range(1, slots + 1):
            name = f"liveimpro-{purpose}" + (f"-{slot}" if slot > 1 else "")
            claimed = claim(name)
            if claimed is None:
                failures.append(f"{name}: another process of ours has it")
                continue
            if is_running(name):
                claimed.close()
                failures.append(f"{name}: running")
                continue
            server = cls(name, **options)
            server._claim = claimed  # released by stop()
            try:
                return server.start()
            except UserError as error:  # started by another program in the meantime, or jackd failed
                server.stop()
                failures.append(f"{name}: {error}")
        raise UserError(f"no JACK server could be started for {purpose!r} ({'; '.join(failures)})")

    @property
    def period_ms(self) -> float:
        return 1000.0 * self.period / self.sample_rate

    def start(self, timeout: float = 10.0) -> "JackServer":
        jackd = shutil.which("jackd")
        if jackd is None:
            raise UserError("jackd not found: install JACK 2 (Debian: apt-get install jackd2)")
        # jackd logs every client that comes and goes: its output goes to a file, never to a pipe
        # nobody reads (a full pipe would block the server, and every client with it)
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [jackd, "--realtime" if self.realtime else "--no-realtime", *(["--sync"] if self.sync else []), "-n", self.name, "-d", "dummy",
             "-r", str(self.sample_rate), "-p", str(self.period)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        if self._previous_env is _UNSET:
            self._previous_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self.log_text().strip().splitlines()
                self._restore_env()
                # jackd's banner comes last at times: the reason is the line that says what failed
                reason = next((line for line in err if re.search(r"error|cannot|failed|too many|unable", line, re.I)),
                              err[-1] if err else "no message")
                raise UserError(f"jackd exited at start: {reason}{_full_registry_hint()}")
            if is_running(self.name):
                return self
            time.sleep(0.05)
        self.stop()
        raise UserError(f"JACK server {self.name!r} did not start within {timeout:.0f} s")

    def log_text(self) -> str:
        """What jackd has printed so far ("" once stopped): clients that missed cycles, late timers."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """Kill jackd at once, as a crash would: its clients get no warning. For fault tests;
        stop() still cleans up after it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._claim is not None:
            self._claim.close()
            self._claim = None
        self._restore_env()

    def _restore_env(self) -> None:
        previous, self._previous_env = self._previous_env, _UNSET
        if previous is _UNSET:
            return  # never started, or put back already
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous

    def __enter__(self) -> "JackServer":
        return self if self._process is not None else self.start()  # for_purpose() has started it

    def __exit__(self, *exc) -> None:
        self.stop()


TOOLS_LOCK = Path(tempfile.gettempdir()) / "liveimpro-jack-tools.lock"


def run_jack_tool(args: list[str], **options) -> subprocess.CompletedProcess:
    """`subprocess.run(args, **options)` for one of JACK's command-line tools (jack_lsp,
    jack_connect), one at a time on this machine (a lock file, `TOOLS_LOCK`). Each opens a client
    of a fixed name ("lsp"), and JACK 2 names a client's notification socket by the client's name
    alone, whatever the server (liveimpro.midi.jack_names): two jack_lsp on two servers at once
    take each other's socket; one fails, and the other's server may refuse every client after it.
    Seen in a three-worker test run: `JackServer.for_purpose` took the name of a server running
    for free, its jack_lsp probe failed so."""
    if fcntl is None:
        return subprocess.run(args, **options)
    with open(TOOLS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes, whatever happens
        return subprocess.run(args, **options)


def claim(name: str):
    """The open lock file that keeps server name `name` this process's (closing it gives the name
    back; so does the process's end, however it ends); None when another process holds it."""
    lock = open(Path(tempfile.gettempdir()) / f"liveimpro-jack-{name}.lock", "a")
    if fcntl is None:  # Windows: no lock, as before
        return lock
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def is_running(name: str) -> bool:
    """Whether a JACK server of this name answers a client now."""
    # JACK_NO_START_SERVER: a client that finds no server starts one of its own by default, which
    # would take the name (from a jackd being started, or from nobody)
    try:
        probe = run_jack_tool(["jack_lsp", "-s", name], capture_output=True, timeout=10,
                              env={**os.environ, "JACK_NO_START_SERVER": "1"})
    except subprocess.TimeoutExpired:  # a server that does not answer is not one to use
        return False
    return probe.returncode == 0


REGISTRY = Path("/dev/shm/jack-shm-registry")  # JACK 2's table of servers, shared by all of them
MAX_SERVERS = 8  # its size: JACK 2 frees a killed server's entry only when one of the same name starts


def _full_registry_hint() -> str:
    """Why jackd may have exited without a word: its registry full of servers that were killed."""
    try:
        names = re.findall(rb"jack-\d+:([^:\x00]+):", REGISTRY.read_bytes())
    except OSError:
        return ""
    if len(names) < MAX_SERVERS:
        return ""
    return (f" (JACK's table of servers {REGISTRY} is full, probably of killed servers: "
            f"{', '.join(n.decode(errors='replace') for n in names)}; start and stop one of each name, or "
            f"stop every jackd and delete that file)")
