"""Shared fixtures. One private JACK server (dummy driver) serves every port test of the session
and is stopped at the end, even when tests fail; `duet` starts `liveimpro duet` on it."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess

import pytest

from liveimpro.jackserver import JackServer
from liveimpro.midi.jack_names import SUFFIX_VARIABLE

# Each pytest worker's JACK clients are named apart ("liveimpro-out-gw0"; this process's and those
# it starts: duet, the peer): JACK 2 names a client's notification socket by the client's name
# alone, whatever the server, and two workers opening "liveimpro-out" on their own servers at the
# same moment took each other's socket (liveimpro.midi.jack_names). A test that names a JACK
# client itself opens it through jack_client_name, and expects the names it lists so.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ[SUFFIX_VARIABLE] = "-" + os.environ["PYTEST_XDIST_WORKER"]

# (before duet_harness, whose peer names are made when it is imported)
from duet_harness import (  # noqa: E402
    JackTimeWatch,
    end_spawned,
    hung_stacks,
    jackd_said,
    longest_stall,
    start_duet,
    wait_for_empty_graph,
)


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


# The asynchronous server's period: 256 frames (5.3 ms at 48 kHz, a period studios run), not the
# synchronous one's 64. In asynchronous JACK 2 a client late for a cycle loses (or repeats) that
# cycle's MIDI (`JackServer`'s `sync`): a fresh CI run once lost the last note-off the restarted
# FluidSynth of tests/test_studio.py should have heard, its jackd logging "fluidsynth-midi was not
# finished" and "liveimpro-out was not finished" around the restart. A longer period leaves a client
# four times as long to be served before it counts as late.
ASYNC_PERIOD = 256


@pytest.fixture
def async_jack(jack_server):
    """A JACK server of the test's own in JACK's default, asynchronous mode, for the tests in which
    a program on the server dies (killed, or ending without closing its client): a synchronous
    JACK 2 may wait for the dead client every cycle from then on (`JackServer`'s `sync`). It is
    the default server (JACK_DEFAULT_SERVER) for the test; at its end the harness's processes
    are ended and no port may be left on it."""
    server = JackServer.for_purpose("async", sync=False, period=ASYNC_PERIOD)
    try:
        yield server
        left = end_spawned()
        ports = wait_for_empty_graph()
        print(f"jackd ({server.name}) during the test:\n{jackd_said(server.log_text())}")
        assert not ports, f"ports left on the JACK server after the test: {ports}"
        assert not left, f"processes left running by the test (ended now): {left}"
    finally:
        end_spawned()
        server.stop()


@pytest.fixture
def own_jack(jack_server):
    """A JACK server of the test's own, to kill and restart, with the environment that names it for
    the processes the test starts; this process and the session's server are untouched.
    Asynchronous: its clients die with it (see async_jack), and with async_jack's period for the
    same reason (a fresh CI run lost the note-off of an answer just after the restart, every client
    of the restarted server late for some 40 cycles of 64 frames: "liveimpro-gw2 was not finished")."""
    server = JackServer.for_purpose("restart", sync=False, period=ASYNC_PERIOD)
    name = server.name
    os.environ["JACK_DEFAULT_SERVER"] = jack_server.name  # this process keeps to the session's server
    yield server, {"JACK_DEFAULT_SERVER": name}
    print(f"jackd ({name}):\n{jackd_said(server.log_text())}")  # shown when the test fails
    server.stop()


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """A command run in this process (`liveimpro.cli.main`, duet's run) installs SIGTERM and SIGINT
    handlers for its own life; after each test the test process's are put back, so no later test
    (nor a worker it forks: liveimpro.data.corpus) inherits a handler of a command long finished.
    A test that leaves either signal blocked, or ignored by the OS, when it was not before (C code
    can do both behind Python's back) fails here by name: every process the later tests start
    would inherit that. (The test process itself may start with SIGINT ignored: a shell without
    job control starts its background jobs so, and `make test &` from a script is one.)"""
    signals = (signal.SIGTERM, signal.SIGINT)
    saved = {signum: signal.getsignal(signum) for signum in signals}
    before = _signal_state(signals)
    yield
    after = _signal_state(signals)
    for signum, handler in saved.items():
        if handler is not None:
            signal.signal(signum, handler)  # (sets the OS's disposition again too)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [s for s in signals if s not in before["blocked"]])
    changed = [f"{s.name} {state}" for state in ("blocked", "ignored") for s in after[state] - before[state]]
    if changed:
        pytest.fail(f"the test left {', '.join(changed)} in the test process")


def _signal_state(signals) -> dict[str, set]:
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return {"blocked": {s for s in signals if s in blocked}, "ignored": {s for s in signals if _ignored_by_the_os(s)}}


def _ignored_by_the_os(signum: int) -> bool:
    """Whether the OS's disposition of `signum` is SIG_IGN (sigaction's first field: the handler)."""
    action = ctypes.create_string_buffer(256)  # larger than any struct sigaction
    ctypes.CDLL(None).sigaction(int(signum), None, action)
    return ctypes.c_void_p.from_buffer(action).value == 1  # SIG_IGN


@pytest.fixture(autouse=True)
def no_process_left(request):
    """After each test: every process the harness started has ended, and (for the tests on the
    JACK server) no port is left on the server. A test that leaves one fails here, by name, instead
    of the next test failing on a duplicate client name. What jackd logged during the test is
    printed (pytest shows it when the test fails): the server's errors name a client it gave up on."""
    server = request.getfixturevalue("jack_server") if "jack_server" in request.fixturenames else None
    logged = len(server.log_text()) if server is not None else 0
    yield
    if server is not None:
        print(f"jackd ({server.name}) during the test:\n{jackd_said(server.log_text()[logged:])}")
    left = end_spawned()
    if "jack_server" in request.fixturenames:
        ports = wait_for_empty_graph()
        assert not ports, f"ports left on the JACK server after the test: {ports}"
    assert not left, f"processes left running by the test (ended now): {left}"


# A timing test (one that asks for `server_stall`) whose run the machine's host disturbed this much
# cannot judge the timing it measures: a failure then is reported as a skip saying so (below).
SEVERE_XRUN = 0.01  # s: a JACK cycle begun this late (quiet runs here: XRuns up to 8 ms; CI50 failed at 16.9)
SEVERE_STEAL = 0.05  # of the CPU time while the test ran, taken by the VM's host (/proc/stat's steal)
# ms JACK's time of a cycle moved against the machine's clock (duet_harness.JackTimeWatch; quiet
# runs here: under 1 ms; CI53's red, XRuns up to 7.8 ms: a call stamped up to 40 ms off its beats)
SEVERE_WANDER = 5.0


def _cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot (/proc/stat's first line)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return values[7] if len(values) > 7 else 0, sum(values[:8])


@pytest.fixture(scope="session")
def jack_time_watch(jack_server):
    """One JackTimeWatch on the session's server for every timing test (opened once: a client opened
    and closed per test would be a change to the server's clients each time)."""
    watch = JackTimeWatch(jack_server.name)
    yield watch
    watch.close()


@pytest.fixture
def server_stall(jack_server, jack_time_watch, request):
    """How far the shared server's stalls may have moved a time a test measures, in seconds: twice
    the longest since the test began (duet_harness.longest_stall). A message in flight arrives that
    much late, and the I/O process (duet's default on JACK) stamps and places by JACK's own time of
    a cycle, a smoothed estimate that lags a stall and then overshoots it (a call's pickup read 37
    ms off in a test with an 18.9 ms XRun): a timing test allows this on top of its bound. 0 while
    jackd kept its cycles, and the bound is as strict.

    Asking for it also marks the test as a timing test: when it fails after the server stalled
    `SEVERE_XRUN` or more, with the host stealing `SEVERE_STEAL` of the CPU meanwhile, or with JACK's
    time of a cycle moved `SEVERE_WANDER` ms against the machine's clock (the clock the peer plays
    and listens by; the I/O process stamps and places by JACK's), the failure
    is reported as a skip that says so and what failed (pytest -ra lists it). Such runs came in CI on
    a VM whose host took up to 41 % of the CPU: XRuns up to 33 ms, JACK's time of a cycle 37 ms off
    the machine's, a call read at 69 bpm; no bound a musician would accept holds there, and none
    would tell the code's faults from the host's."""
    logged, cpu = len(jack_server.log_text()), _cpu_times()
    jack_time_watch.start()

    def disturbed() -> str | None:
        xrun = longest_stall(jack_server.log_text()[logged:])
        steal, total = (now - before for now, before in zip(_cpu_times(), cpu))
        stolen, wander = steal / total if total else 0.0, jack_time_watch.wander()
        if xrun >= SEVERE_XRUN or stolen >= SEVERE_STEAL or wander >= SEVERE_WANDER:
            return (f"the JACK server stalled up to {xrun * 1e3:.1f} ms, its time of a cycle moved {wander:.1f} ms "
                    f"against the machine's clock, and the host took {100 * stolen:.0f} % of the CPU")
        return None

    request.node.host_disturbed = disturbed
    yield lambda: 2 * longest_stall(jack_server.log_text()[logged:])
    jack_time_watch.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A timing test's failure on a disturbed run becomes a skip naming the disturbance (above)."""
    outcome = yield
    report = outcome.get_result()
    disturbed = getattr(item, "host_disturbed", None)
    if report.when == "call" and report.failed and disturbed is not None and call.excinfo is not None:
        if call.excinfo.errisinstance(AssertionError) and (why := disturbed()):
            failure = call.excinfo.exconly().splitlines()[0][:240]
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1,
                               f"Skipped: timing not judged: {why} during the test; it failed: {failure}")


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
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"duet did not end within 10 s of SIGTERM: {hung_stacks(proc)}")
