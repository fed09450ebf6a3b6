"""`liveimpro duet` among real third-party JACK programs, on the session's JACK server:
Debian's `jack_midi_clock` as the DAW's clock, the `fluidsynth` command line as the synth (killed
and started again at once), and a keyboard (tests/peer.py's virtual port "keys") unplugged and
plugged back in at once.

Every program a test starts is ended by the `programs` fixture, whatever happens; the peers are
ended by the harness (`no_process_left`). Waits are on events (lines printed, ports listed,
messages received) with generous timeouts; the one time figure asserted, the port loss told within
0.5 s, is a bound more than four times the slowest measured (see LOSS_TOLD_WITHIN).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from duet_harness import BOTH_PATHS, PEER_IN, Lines, call_events, notes_of, run_peer

from liveimpro.jackserver import run_jack_tool
from liveimpro.midi.jack_names import jack_client_name

jack = pytest.importorskip("jack")  # JACK-Client, a dependency of liveimpro

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
# The README's promise. Measured on the 2-core test machine, loaded by other test runs (load 3-5):
# 33-111 ms in these tests from the SIGKILL of the program to the line read here (the kernel ending
# the process, jackd removing its client, JACK's notification, duet's watch thread and stderr, the
# reader thread here), against 0.5 s. What it guards against is not a slow machine but a watch that
# looks at a port list now and then: the previous one told 0.49-0.50 s late, or never.
LOSS_TOLD_WITHIN = 0.5
ON_BAR_LINE = 0.03  # s: the answer's first note-on from the clock's bar line as the peer heard both
# (JACK carries both within the same 1.3 ms cycle; the scheduler's lateness and the peer's polling
# add a few ms; a beat off would be 500-667 ms)
TICKS_PER_BEAT = 24  # MIDI clock
TICKS_PER_BAR = 96  # MIDI clock: 24 a beat, 4 beats a bar (liveimpro's meter)
CLOCK = 0xF8
START = 0xFA


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def jack_ports(*options: str) -> list[str]:
    return run_jack_tool(["jack_lsp", *options], capture_output=True, text=True).stdout.splitlines()


def connections_of(port: str) -> list[str]:
    """The ports `port` is connected to, as `jack_lsp -c` lists them (indented under it)."""
    listing = jack_ports("-c")
    if port not in listing:
        return []
    found = []
    for line in listing[listing.index(port) + 1:]:
        if not line.startswith(" "):
            break
        found.append(line.strip())
    return found


def port_ending(suffix: str) -> str:
    return next(port for port in jack_ports() if port.endswith(suffix))


@pytest.fixture
def programs(jack_server):
    """Start a third-party program on the session's JACK server; every one is ended at the end of
    the test (SIGTERM, SIGKILL after 5 s), and waited for, whatever happened."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], **options) -> subprocess.Popen:
        if shutil.which(args[0]) is None:
            pytest.skip(f"{args[0]} is not installed (scripts/setup.sh installs it)")
        proc = subprocess.Popen(args, **options)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


# --- 1. jack_midi_clock: answers on its bar lines, at its tempo ---------------------------------

SHORT_CALL = [(60, 0, 0.5), (62, 0.5, 0.5), (64, 1, 0.5), (67, 1.5, 0.5)]  # two beats


def test_answers_follow_jack_midi_clock_on_bar_lines_and_through_a_tempo_change(duet, tmp_path, programs, server_stall):
    proc, _ = duet("--bars", "1", "--sync", "bar", "--silence-beats", "8")  # the bars rule ends the phrase
    status = Lines(proc.stdout)
    ours = port_ending(":liveimpro in")
    transport = jack.Client(jack_client_name("studio-transport"), no_start_server=True)
    try:
        for bpm in (120, 90):
            beat = 60.0 / bpm
            transport.transport_stop()
            transport.transport_frame = 0  # the next start is a MIDI Start: bar 1 from its first tick
            # -B: the tempo is -b's (no timecode master here); the port named is connected at its start
            clock = programs(["jack_midi_clock", "-b", str(bpm), "-B", ours],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: ours in connections_of("jack_midi_clock:mclk_out"), 20, "jack_midi_clock connected")
            # the call fills beats 1..3 of the clock's first bar: the phrase ends at bar 2's line
            lead_in = 0.5  # s from the peer's time 0 to the transport's start
            peer = run_peer(tmp_path, {"events": call_events(lead_in + beat, beat, SHORT_CALL),
                                       "listen": lead_in + 12 * beat + 1.0}, background=True)
            assert peer.stderr.readline().strip() == "ready"
            t0 = time.perf_counter() + 0.5  # the peer's time 0
            listener = next(p for p in jack_ports() if p.startswith(f"{PEER_IN}:"))
            transport.connect("jack_midi_clock:mclk_out", listener)  # the peer hears the clock too
            time.sleep(max(0.0, t0 + lead_in - time.perf_counter()))
            transport.transport_start()
            out, err = peer.communicate(timeout=60)
            assert peer.returncode == 0, err
            received = json.loads(out)["received"]
            start = max(i for i, (_, m) in enumerate(received) if m == [START])
            ticks = [t for t, m in received[start:] if m == [CLOCK]]
            bars = ticks[::TICKS_PER_BAR]  # bar lines: every 96th tick from the first after Start
            assert len(bars) >= 3, f"{len(ticks)} ticks heard"
            # The dummy driver's timeline falls behind the wall clock by each of its late cycles
            # (jackd's "XRun" lines: 12-27 ms each on a loaded machine), and jack_midi_clock's ticks
            # with it: a tempo read from them is the tempo heard, and a bar line comes late by what
            # the clock lost in the bar. The last of that loss, in the half beat before the line,
            # no follower can foresee: the answer may fall on the line the clock kept until then.
            heard = [4 * 60.0 / (ticks[i + TICKS_PER_BAR] - ticks[i])
                     for i in range(0, len(ticks) - TICKS_PER_BAR, TICKS_PER_BEAT // 2)]
            line = status.wait_for("tempo clock", timeout=10)
            assert line is not None, status.rest()
            read = int(re.search(r"tempo clock (\d+) bpm", line).group(1))
            assert min(bpm, *heard) - 1 <= read <= max(bpm, *heard) + 1, (line, min(heard), max(heard))

            answer, stuck = notes_of([(t, m) for t, m in received if m[0] & 0xF0 in (0x80, 0x90, 0xB0)])
            assert answer and not stuck, received
            call_end = lead_in + beat + 2 * beat
            first = answer[0][0]
            kept = ticks[TICKS_PER_BAR - TICKS_PER_BEAT // 2] + beat / 2  # the line as the clock kept it
            # on the first bar line after the call (bar 2), heard a tick apart at most ...
            assert min(abs(first - bars[1]), abs(first - kept)) < ON_BAR_LINE, (bpm, first, bars[:3], kept, call_end)
            # ... and one bar long at the clock's tempo: over by bar 3's line (measured: -6..+28 ms, the
            # last note's end on the answer's own grid; a quarter beat is 125-167 ms, and a bar at the
            # other tempo 0.67 s longer or shorter)
            last_off = max(off for _, off, _ in answer)
            assert last_off < bars[2] + beat / 4, (bpm, answer, bars[:3])
            print(f"{bpm} bpm (heard {min(heard):.1f}-{max(heard):.1f}, read {read}): the answer's first note "
                  f"{1000 * (first - bars[1]):+.1f} ms from bar 2's line ({1000 * (first - kept):+.1f} from the line "
                  f"kept), its last note-off {1000 * (last_off - bars[2]):+.1f} ms from bar 3's")
            clock.terminate()
            clock.wait(5)
            wait_until(lambda: not [p for p in jack_ports() if p.startswith("jack_midi_clock:")], 10,
                       "jack_midi_clock's port to go")
    finally:
        transport.transport_stop()
        transport.close()


# --- 2. the fluidsynth command line as the synth -------------------------------------------------

class FluidSynth:
    """`fluidsynth` on JACK (audio and MIDI), dumping every MIDI event it receives (-d), line-buffered
    so that nothing is lost when it is killed. Its MIDI port is "fluidsynth-midi:midi_00"."""

    EVENT = re.compile(r"event_(pre|post)_(noteon|noteoff) (\d+) (\d+) (\d+)")

    def __init__(self, programs):
        if not SOUNDFONT.exists():
            pytest.skip(f"no {SOUNDFONT} (scripts/setup.sh installs timgm6mb-soundfont)")
        # its shell reads the pipe kept open (with -i and no server it would exit at once); -g 0: silent
        self.proc = programs(["stdbuf", "-oL", "fluidsynth", "-a", "jack", "-m", "jack", "-d", "-g", "0",
                              "-r", "48000", "-C", "0", "-R", "0", str(SOUNDFONT)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = Lines(self.proc.stdout)

    def wait_for_port(self, timeout: float = 20.0) -> None:
        wait_until(lambda: "fluidsynth-midi:midi_00" in jack_ports(), timeout, "fluidsynth's MIDI port")

    def events(self, stage: str = "post") -> list[tuple[str, int, int]]:
        """(noteon|noteoff, channel from 0, pitch) of what it received, in order; "post": after its
        router, where a note-on of velocity 0 is a note-off."""
        found = []
        for line in self.lines.rest():
            match = self.EVENT.search(line)
            if match and match.group(1) == stage:
                kind, channel, pitch, velocity = match.group(2), *map(int, match.group(3, 4, 5))
                found.append(("noteoff" if kind == "noteon" and velocity == 0 else kind, channel, pitch))
        return found

    def note_ons(self) -> list[int]:
        return [pitch for kind, _, pitch in self.events() if kind == "noteon"]

    def wait_until_quiet(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Until every note it received is released and nothing more came for `quiet` s."""
        seen, since = -1, time.monotonic()
        deadline = since + timeout
        while True:
            count = len(self.events())
            if count != seen:
                seen, since = count, time.monotonic()
            elif self.balanced() and time.monotonic() - since >= quiet:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"fluidsynth still playing after {timeout} s: {self.events()}")
            time.sleep(0.05)

    def balanced(self) -> bool:
        """Every note-on it received has had its note-off."""
        counts: Counter = Counter()
        for kind, channel, pitch in self.events():
            if kind == "noteon":
                counts[(channel, pitch)] += 1
            elif counts[(channel, pitch)]:
                counts[(channel, pitch)] -= 1
        return not +counts


def peer_notes(peer) -> tuple[list, list, list]:
    """The peer's (notes, stuck, received) once it has ended."""
    out, err = peer.communicate(timeout=60)
    assert peer.returncode == 0, err
    received = json.loads(out)["received"]
    notes, stuck = notes_of(received)
    return notes, stuck, received


def sounding_at(received, t: float) -> set[tuple[int, int]]:
    held: Counter = Counter()
    for when, m in received:
        if when > t:
            break
        kind = m[0] & 0xF0
        if kind == 0x90 and m[2] > 0:
            held[(m[0] & 15, m[1])] += 1
        elif kind in (0x80, 0x90) and held[(m[0] & 15, m[1])]:
            held[(m[0] & 15, m[1])] -= 1
    return set(+held)


def test_fluidsynth_gets_every_note_and_is_reconnected_when_restarted_at_once(async_jack, duet, tmp_path, programs):
    synth = FluidSynth(programs)
    synth.wait_for_port()
    proc, _ = duet("--out", "fluidsynth-midi")
    said = Lines(proc.stderr)

    # call 1: fluidsynth receives each note-on of the answer, and its note-off
    notes, stuck, _ = peer_notes(run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "quiet_after": 3.5},
                                          background=True))
    assert notes and not stuck
    wait_until(lambda: sorted(synth.note_ons()) == sorted(p for _, _, p in notes) and synth.balanced(), 10,
               f"fluidsynth to receive the answer {notes}: it has {synth.events()}")

    # call 2: fluidsynth is killed as its answer's second note starts, and started again at once
    synth.wait_until_quiet(quiet=3.0)  # the answer to call 1 is over: the new peer hears only its own answer
    answered_before = len(synth.note_ons())
    peer = run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "leave_after_answer": 3.0}, background=True)
    assert peer.stderr.readline().strip() == "ready"
    t0 = time.perf_counter() + 0.5  # the peer's time 0, on this process's clock (CLOCK_MONOTONIC)
    wait_until(lambda: len(synth.note_ons()) >= answered_before + 2, 20, "the second answer")
    killed = time.perf_counter()
    synth.proc.kill()
    synth.proc.wait()
    again = FluidSynth(programs)
    lost_line = said.wait_for("may be left sounding", timeout=10)
    told = time.perf_counter()
    assert lost_line is not None and "output port 'fluidsynth-midi' is gone" in lost_line, said.rest()
    again.wait_for_port()
    restarted = time.perf_counter() - killed
    assert said.wait_for("output port 'fluidsynth-midi' is back; reconnected", timeout=20), said.rest()
    _, _, received = peer_notes(peer)
    # the notes named are the ones sounding when duet learned of the loss: between the kill and the
    # line read here (the peer heard what fluidsynth heard, in the same JACK cycles)
    named = {(int(c) - 1, int(p)) for c, p in re.findall(r"ch(\d+):(\d+)", lost_line.split("sounding:")[1])}
    window = [killed - t0 - 0.01] + [t for t, _ in received if killed - t0 - 0.01 < t < told - t0] + [told - t0]
    assert named in [sounding_at(received, t) for t in window], (named, lost_line, received)
    assert told - killed < LOSS_TOLD_WITHIN, told - killed
    # the new fluidsynth gets the lost notes' note-offs first, then the rest of the answer, all released
    # on failure, what the peer heard of the answer's end (the same JACK output) and what duet said tell a
    # note-off duet never sent from one the server lost in a late cycle (jackd's log follows the test)
    wait_until(lambda: again.events() and again.balanced(), 20,
               f"the rest of the answer: {again.events()}; the peer heard last {received[-4:]}; duet said "
               f"{said.rest()}")
    first_on = next((i for i, (kind, _, _) in enumerate(again.events("pre")) if kind == "noteon"), None)
    released = {(c, p) for kind, c, p in again.events("pre")[:first_on] if kind == "noteoff"}
    assert named <= released, (named, again.events("pre"))

    # call 3: its answer reaches the new fluidsynth, every note-on and its note-off
    again.wait_until_quiet(quiet=3.0)  # the answer to call 2 is over: the new call is no barge-in
    before = Counter(again.note_ons())
    notes, stuck, _ = peer_notes(run_peer(tmp_path, {"events": call_events(), "listen": 30.0, "quiet_after": 3.5},
                                          background=True))
    assert notes and not stuck
    wait_until(lambda: sorted((Counter(again.note_ons()) - before).elements()) == sorted(p for _, _, p in notes)
               and again.balanced(), 10, f"the new fluidsynth to receive {notes}: it has {again.events()}")
    print(f"fluidsynth killed and listed again after {restarted:.2f} s; loss told after {told - killed:.3f} s, "
          f"naming {sorted(named)}")


# --- 3. a keyboard unplugged and plugged back in at once -----------------------------------------

@BOTH_PATHS
def test_a_keyboard_back_at_once_is_reconnected_and_its_loss_told_within_half_a_second(async_jack, duet, tmp_path, path):
    keyboard = run_peer(tmp_path, {"source_port": "keys", "sink_port": "unused", "await": [], "listen": 120.0},
                        background=True)
    assert keyboard.stderr.readline().strip() == "ready"
    proc, _ = duet(*path, "--in", "keys")  # listening: connected to the peer's "keys"
    said, status = Lines(proc.stderr), Lines(proc.stdout)
    killed = time.perf_counter()
    keyboard.kill()
    keyboard.wait()
    # back at once, with a call; it waits until duet is connected to its "keys" before playing
    again = run_peer(tmp_path, {"source_port": "keys", "await": ["keys", "liveimpro out"], "timeout": 20.0,
                                "events": call_events(), "listen": 30.0, "quiet_after": 3.5}, background=True)
    gone = said.wait_for("input port 'keys' is gone; waiting for it to come back", timeout=10)
    told = time.perf_counter() - killed
    assert gone, said.rest()
    assert told < LOSS_TOLD_WITHIN, told
    assert said.wait_for("input port 'keys' is back; reconnected", timeout=20), said.rest()
    notes, stuck, received = peer_notes(again)
    assert notes and not stuck, (said.rest(), status.rest(), received)
    print(f"keyboard loss told after {told:.3f} s")
