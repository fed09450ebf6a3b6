"""Ableton Link as a tempo source (liveimpro/midi/link.py, `liveimpro duet --link`): against a second
Link peer in this process (aalink in a thread of its own), the LinkClock follows the session's tempo
and phase, its bar lines fall on the peer's within a few ms, and alone it is a session of its own;
duet says in one line when aalink is missing; the config file takes `link = true`; and on real JACK
ports `duet --link` answers on the peer's bar lines at the peer's tempo."""
from __future__ import annotations

import asyncio
import fcntl
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from duet_harness import Lines, call_events, notes_of, run_peer, stop

from liveimpro.cli import build_parser, main
from liveimpro.cli.status import status_line
from liveimpro.midi.jack_names import jack_client_name
from liveimpro.midi.link import LinkClock
from liveimpro.midi.messages import CLOCK, START, STOP
from liveimpro.midi.ports import close_client

# A Link session is the whole machine's (its peers find each other over the network, here on the
# loopback): two pytest workers (make test) running Link tests at once joined each other's session
# ("3 peers" where the test expects 1, and one tempo for both). Each test here holds this lock, so
# Link tests never overlap, whichever worker runs them.
LINK_LOCK = Path("/tmp/liveimpro-tests-link.lock")


@pytest.fixture(autouse=True)
def alone_in_link():
    with open(LINK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # released as the file closes

aalink = pytest.importorskip("aalink")
REPO = Path(__file__).resolve().parents[1]
JOIN = 1.0  # s a peer runs before another joins: Link keeps the older session (by more than 0.5 s)


class Peer:
    """Another Link app: aalink's Link on an asyncio loop in a daemon thread. Its timeline is read
    from the test's thread (aalink's properties are thread-safe C++ calls)."""

    def __init__(self, bpm: float, quantum: float):
        self.link, self._stop, made = None, threading.Event(), threading.Event()
        self.quantum = quantum

        async def run():
            self.link = aalink.Link(bpm)
            self.link.quantum = quantum
            self.link.start_stop_sync_enabled = True  # a DAW's transport: `self.link.playing = True/False`
            self.link.enabled = True
            made.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.02)
            self.link.enabled = False

        self._thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        self._thread.start()
        assert made.wait(5.0)

    def beat(self) -> tuple[float, float]:
        """(perf_counter time, the peer's beat then), the narrowest of a few bracketed reads."""
        reads = []
        for _ in range(5):
            before = time.perf_counter()
            beat = self.link.beat
            after = time.perf_counter()
            reads.append((after - before, (before + after) / 2, beat))
        return min(reads)[1:]

    def bar_line_near(self, t: float) -> float:
        """The time of the peer's bar line (a multiple of its quantum) nearest to `t`."""
        now, beat = self.beat()
        at_t = beat + (t - now) * self.link.tempo / 60.0
        return now + (round(at_t / self.quantum) * self.quantum - beat) * 60.0 / self.link.tempo

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


@pytest.fixture
def peer():
    made = []

    def make(bpm: float = 97.0, quantum: float = 4.0) -> Peer:
        made.append(Peer(bpm, quantum))
        time.sleep(JOIN)
        made[-1].link.tempo = bpm  # should it have joined an older session of another Link app here
        return made[-1]

    yield make
    for p in made:
        p.close()


def until(predicate, timeout: float = 5.0, link: LinkClock | None = None) -> float:
    """Seconds until `predicate()` held (polled every ms); fails after `timeout` s."""
    start = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - start < timeout, \
            "timed out" + ("" if link is None else f": {link.peers} peers, {link.bpm} bpm")
        time.sleep(0.001)
    return time.perf_counter() - start


def join(link: LinkClock, peer: Peer, bpm: float) -> None:
    """Until `link` is in a session with `peer` (another Link app on this machine may be in it too)
    at `bpm`. The peer sets that tempo again once they meet: Link keeps the older of two sessions,
    and falls back to comparing random session ids when they began within 0.5 s of each other
    (a loaded machine, a session of another Link app on it), so the peer's tempo may have lost."""
    until(lambda: link.peers >= 1, link=link)
    peer.link.tempo = bpm
    until(lambda: abs(link.bpm - bpm) < 1e-3, link=link)


def bar_line_errors(link: LinkClock, peer: Peer, count: int = 40, unit: str = "bar") -> np.ndarray:
    """ms between our next bar line (or beat) and the peer's nearest one, at `count` moments."""
    errors = []
    for _ in range(count):
        ours = link.next_boundary(time.perf_counter(), unit)
        theirs = peer.bar_line_near(ours) if unit == "bar" else _beat_near(peer, ours)
        errors.append((ours - theirs) * 1e3)
        time.sleep(0.007)
    return np.array(errors)


def _beat_near(peer: Peer, t: float) -> float:
    now, beat = peer.beat()
    bps = peer.link.tempo / 60.0
    return now + (round(beat + (t - now) * bps) - beat) / bps


# --- the LinkClock against a second peer ----------------------------------------------------------

def test_alone_it_is_a_session_of_its_own():
    with LinkClock((4, 4)) as link:
        now = time.perf_counter()
        assert link.state(now) == "running" and link.running and link.source == "link"
        if link.peers == 0:  # another Link app on this machine would give its tempo
            assert link.bpm == pytest.approx(120.0)
        first = link.beat_at(now)
        time.sleep(0.2)
        later = time.perf_counter()
        assert link.beat_at(later) - first == pytest.approx((later - now) * link.bpm / 60.0, abs=1e-3)
        bar = link.next_boundary(later)
        assert later <= bar <= later + 4 * 60.0 / link.bpm
        assert link.beat_at(bar) / 4 == pytest.approx(round(link.beat_at(bar) / 4), abs=1e-6)  # a bar line
        assert link.time_of_beat(link.beat_at(bar)) == pytest.approx(bar, abs=1e-9)
    assert link.state(time.perf_counter()) == "stopped" and not link.running
    assert link.beat_at(time.perf_counter()) is None and link.next_boundary(time.perf_counter()) is None


@pytest.mark.parametrize("meter, quantum", [((4, 4), 4.0), ((6, 8), 3.0), ((7, 8), 3.5)])
def test_it_takes_the_sessions_tempo_and_its_bar_lines_fall_on_the_peers(peer, meter, quantum):
    other = peer(97.0, quantum)
    with LinkClock(meter) as link:
        assert link.beats_per_bar == quantum
        join(link, other, 97.0)
        time.sleep(0.05)  # the phase is aligned on joining, a moment after the tempo
        errors = bar_line_errors(link, other)
        print(f"bar lines vs the peer's, {meter}: mean {errors.mean():+.4f} ms, max |{np.abs(errors).max():.4f}| ms")
        assert np.abs(errors).max() < 2.0
        assert np.abs(bar_line_errors(link, other, 10, "beat")).max() < 2.0


def test_a_tempo_change_by_the_peer_is_followed_and_the_bar_lines_with_it(peer):
    other = peer(100.0, 4.0)
    with LinkClock((4, 4)) as link:
        join(link, other, 100.0)
        other.link.tempo = 133.0
        took = until(lambda: abs(link.bpm - 133.0) < 1e-3, timeout=1.0, link=link)
        print(f"tempo change followed after {took * 1e3:.1f} ms")
        assert took < 0.25  # Link itself takes up to ~50 ms between peers; the snapshots add REFRESH (10 ms)
        assert np.abs(bar_line_errors(link, other, 20)).max() < 2.0


def test_reading_is_cheap_and_midi_clock_is_consumed_and_ignored():
    with LinkClock((3, 4)) as link:
        bpm, n = link.bpm, 20000
        start = time.perf_counter()
        for _ in range(n):
            now = time.perf_counter()
            link.beat_at(now)
            link.next_boundary(now)
        cost = (time.perf_counter() - start) / n
        print(f"beat_at + next_boundary: {cost * 1e6:.2f} µs")
        assert cost < 50e-6
        for message in ([START], [CLOCK], [STOP], [0xF2, 0, 0]):
            assert link.feed(message, time.perf_counter())  # consumed, not heard as notes
        assert not link.feed([0x90, 60, 90], time.perf_counter()) and not link.feed([], 0.0)
        assert link.bpm == bpm and link.pickup_beats == 1.0 and link.beats_per_bar == 3.0
        with pytest.raises(ValueError):
            link.next_boundary(time.perf_counter(), "half")


def test_the_engine_status_names_link_as_the_tempo_source():
    import argparse

    from liveimpro.cli.options import add_answer_arguments, build_responder
    from liveimpro.live.engine import Engine
    from liveimpro.live.sinks import MemorySink

    parser = argparse.ArgumentParser()
    add_answer_arguments(parser)
    with LinkClock((4, 4)) as link:
        engine = Engine(build_responder(parser.parse_args(["--seed", "1"])), MemorySink(), clock=link)
        status = engine.status()
        assert status["tempo_source"] == "link" and status["tempo_bpm"] == pytest.approx(link.bpm)
        bar, beat = status["bar_beat"]
        assert 1 <= beat <= 4
        status["link_peers"] = 1
        assert status_line(status).startswith(f"listening | tempo link {link.bpm:.0f} bpm | {bar}:{beat} | 1 peer | ")
    assert engine.status()["tempo_source"] == "player"  # left the session: the player's tempo again


def test_a_peer_stopping_the_transport_stops_the_following_until_it_plays_again(peer):
    """Like a DAW's transport over Link (start/stop sync): a session nobody started is followed as
    its timeline runs; stopped by a peer after it played, the clock says "stopped" and gives no bar
    lines (answers follow the player), until the peer plays again."""
    p = peer(bpm=110.0)
    with LinkClock((4, 4)) as link:
        join(link, p, 110.0)
        now = time.perf_counter()
        assert link.state(now) == "running" and link.next_boundary(now) is not None  # never started: followed
        p.link.playing = True
        time.sleep(0.1)
        assert link.state(time.perf_counter()) == "running"
        p.link.playing = False
        took = until(lambda: link.state(time.perf_counter()) == "stopped", timeout=2.0, link=link)
        now = time.perf_counter()
        assert link.beat_at(now) is None and link.next_boundary(now) is None, took
        p.link.playing = True
        until(lambda: link.state(time.perf_counter()) == "running", timeout=2.0, link=link)
        assert link.next_boundary(time.perf_counter()) is not None
        assert abs(bar_line_errors(link, p, count=10)).max() < 5.0  # on the peer's bar lines again


# --- the command line ---------------------------------------------------------------------------

def test_without_aalink_duet_link_is_one_line_before_the_model_loads(tmp_path):
    probe = ("import sys\nsys.modules['aalink'] = None\nfrom liveimpro.cli import main\n"
             "code = main(['duet', '--link', '--api', 'winmm', '--no-record'])\n"
             "print(code, 'torch' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stderr == ("liveimpro duet: error: --link: Ableton Link needs the aalink package "
                           "(pip install aalink)\n1 False\n")


def test_the_config_file_takes_link_and_the_flag_overrides_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    file = tmp_path / "liveimpro" / "config.toml"
    file.parent.mkdir()
    parse = build_parser().parse_args
    assert parse(["duet"]).link is False and parse(["duet", "--link"]).link is True
    file.write_text("link = true\n")
    assert parse(["duet"]).link is True and parse(["duet", "--no-link"]).link is False
    assert main(["duet", "--print-config"]) == 0
    assert "\nsync = \"bar\"\nlink = true\n" in capsys.readouterr().out
    file.write_text('link = "yes"\n')
    assert main(["duet", "--print-config"]) == 1
    assert capsys.readouterr().err == f'liveimpro duet: error: {file}: link must be true or false, got "yes"\n'


# --- end to end, on real JACK ports -------------------------------------------------------------

class Listener:
    """'liveimpro out' heard in this process, each message stamped with this process's perf_counter
    (the clock the peer's Link timeline is read in): a JACK client polled by a thread."""

    def __init__(self):
        import rtmidi

        self.port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=jack_client_name("link-test"))
        names = self.port.get_ports()
        self.port.open_port(next(i for i, name in enumerate(names) if "liveimpro out" in name))
        self.received, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            event = self.port.get_message()
            if event is None:
                time.sleep(0.0002)
            else:
                self.received.append((time.perf_counter(), event[0]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        close_client(self.port)


@pytest.mark.parametrize("io_process", [(), ("--io-process",)], ids=["one process", "--io-process"])
def test_duet_link_answers_on_the_peers_bar_lines_at_its_tempo(duet, tmp_path, peer, io_process, server_stall):  # a timing test (conftest)
    """With --io-process, Link is read in the engine's process and the answer is written at the
    frame of its time: heard here, polled on the wall clock, within 20 ms of the peer's bar line."""
    other = peer(90.0, 4.0)  # the session duet joins; the call is played at 120 bpm
    proc, session = duet("--link", "--bars", "2", "--silence-beats", "8", *io_process)
    out = Lines(proc.stdout)
    listener = Listener()
    try:
        time.sleep(0.3)  # JACK connects the listener in its next cycles
        result = run_peer(tmp_path, {"events": call_events(), "quiet_after": 3.5, "listen": 25.0})
        time.sleep(0.2)
    finally:
        listener.close()
    answer, stuck = notes_of(listener.received)
    assert not stuck and answer and notes_of(result["received"])[0]
    first = answer[0][0]
    miss = first - other.bar_line_near(first)
    print(f"first answer note vs the peer's bar line: {miss * 1e3:+.2f} ms")
    assert abs(miss) < 0.02
    tick = 60.0 / 90.0 / 24  # the answer's grid is Link's tempo, in 1/24 beats
    ticks = (np.array([on for on, _, _ in answer]) - first) / tick
    assert np.all(np.abs(ticks - np.round(ticks)) < 0.5)
    # duet prints one status line per phrase when not on a terminal, at its next status tick after
    # the phrase count went up: "answering" if the answer is still playing then, else "listening"
    # (a fresh-clone CI run printed "listening | tempo link 90 bpm | 2:4 | 1 peer | ... | phrases 1")
    line = out.wait_for("| phrases 1 |", timeout=10.0)
    print(line)
    assert line is not None and "| tempo link 90 bpm | " in line and "| 1 peer |" in line, (line, out.lines, proc.poll())
    code, err = stop(proc)
    assert code == 0, err
    tempi = [round(mido.tempo2bpm(m.tempo), 1) for track in mido.MidiFile(session).tracks for m in track
             if m.type == "set_tempo"]
    assert 90.0 in tempi, tempi  # the answer is written at Link's tempo


def test_duet_says_when_a_peer_stops_and_starts_the_link_transport(duet, tmp_path, peer):
    other = peer(90.0, 4.0)
    proc, session = duet("--link")
    said, out = Lines(proc.stderr), Lines(proc.stdout)
    time.sleep(1.5)  # Link's discovery: duet and the peer meet in the session
    other.link.playing = True  # a DAW starts its transport...
    time.sleep(0.5)
    other.link.playing = False  # ...and stops it
    assert said.wait_for("the session's transport stopped", timeout=5.0), said.rest()
    result = run_peer(tmp_path, {"events": call_events(), "quiet_after": 3.5, "listen": 25.0})
    assert notes_of(result["received"])[0], result  # answered, in the player's tempo
    line = out.wait_for("| tempo player ", timeout=10.0)
    assert line is not None, out.rest()
    other.link.playing = True
    assert said.wait_for("following the session again", timeout=5.0), said.rest()
    code, err = stop(proc)
    assert code == 0, err
