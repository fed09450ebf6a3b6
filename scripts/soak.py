"""Soak: minutes of continuous call-and-response with random calls against `liveimpro duet` on real JACK ports.

    .venv/bin/python scripts/soak.py [--minutes 10] [--seed 0] [--server NAME] [--json PATH] [--mode answer]

The product runs as a musician meets it: `python -m liveimpro duet --api jack --record SESSION` in
its own process (JACK_DEFAULT_SERVER names the server: a private one with the dummy driver, or
`--server NAME`). This process is the player: a JACK output connected to "liveimpro in", a JACK
input connected to "liveimpro out". It sends each message at its time (sleeps until 1 ms before,
then spins) and its receive callback only appends (perf_counter, message).

Random calls: 2..24 notes (--max-notes), 60..180 bpm (--bpm), any key (major or minor), straight or
triplet rhythms with short rests, velocities around a random level, sometimes chords (rolled a
little), sometimes legato (each note overlaps the next), sometimes on several channels. Every
silence inside a call is shorter than 0.3 s, below the engine's shortest phrase-end silence
(0.35 s): a call is never legitimately split in two. Some calls end with the end CC (duet's
footswitch; CC 64 unless --cc maps `end` elsewhere), the others by silence. Then the player waits
for the answer: a call with no answer note-on within --answer-timeout seconds is "unanswered" (the
call, what came back, duet's status lines and stderr are saved for a diagnosis); one answered more
than 4 s after its end is "slow" (the longest legitimate wait is 2 s of silence and a beat). The
answer is over when nothing sounds on "liveimpro out", nothing has come for 1.5 beats (0.6 .. 2 s),
and it has had the time its length takes (as many bars as the call, at the tempo of duet's status
line), or after 4 s of quiet (10 s with a note still sounding); the next call then follows right
away, after a pause, or after a longer wait; or the player barges in with the next call while an
answer note sounds (the engine must release it at once).

At the end duet gets SIGTERM (usually mid-answer) and the figures are printed (and written with
--json): calls answered, barged in on, unanswered, slow; the engine's reaction per phrase (duet's
status lines: one per answered phrase when its stdout is not a terminal); answer starts as the
player hears them; the scheduler's lateness; messages sent, heard, dropped, skipped; duet's
resident memory and CPU; stuck notes (a note-on from "liveimpro out" without its note-off or All
Notes Off: must be none) and hanging ones (released only by the closing All Notes Off); with the
private server, the JACK cycles each client finished late (JACK 2's asynchronous mode loses or
repeats MIDI in them: the cause of lost messages and of slow answers, a lost note-off holding a key
for the engine's 8 s held-key timeout); whether the session file is valid. Exit status 1 on a stuck
note, a crash or hang of duet, or an invalid session file; 2 when no JACK server can be started.
"""
from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPIN = 0.001  # s: the sender sleeps until this long before a message is due, then spins
POLL = 0.005  # s between looks at what has come back while waiting
MAX_GAP = 0.28  # s: the longest silence inside a call (the engine's shortest phrase-end silence is 0.35 s)
QUIET_BEATS, QUIET_RANGE = 1.5, (0.6, 2.0)  # quiet that may end an answer (beats of its tempo, within s)
LONG_QUIET = 4.0  # s of quiet that ends an answer whatever its expected length
HANG_TIMEOUT = 10.0  # s of quiet that end an answer even with a note sounding (its note-off was lost)
OVERRUN = 120.0  # s past --minutes after which the player stops whatever it is waiting for
HANG_SLACK = 0.005  # s: note-ons this close together are one chord (released together)
IN_FLIGHT = 0.010  # s after the player's first note in which an answer note may still be on its way
SLOW_ANSWER = 4.0  # s after the call's end: later than the longest legitimate wait (2 s silence + a beat)
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# how the player goes on once an answer has started: (policy, probability)
POLICIES = (("barge-in", 0.2), ("right-after", 0.2), ("pause", 0.45), ("wait", 0.15))
STATUS = re.compile(r"^(?P<state>\w+)\s*\|\s*(?:(?P<bpm>[\d.]+) bpm|-)\s*\|.*\|\s*reaction "
                    r"(?:(?P<reaction>[\d.]+) ms|-)\s*\|\s*late p99 (?P<late>[\d.]+) ms\s*\|\s*phrases "
                    r"(?P<phrases>\d+)\s*\|\s*dropped (?P<dropped>\d+) skipped (?P<skipped>\d+)")
SUMMARY = re.compile(r"(\d+) phrases answered; (\d+) messages heard, (\d+) dropped, (\d+) skipped")


# --- the calls ----------------------------------------------------------------------------------
@dataclass
class Call:
    events: list  # [(seconds from the call's start, [bytes...])], note-offs first at one instant
    end: float  # seconds from the start: the last note-off, or the end CC's press
    last_off: float  # seconds from the start: the last note-off
    bpm: float
    key: str
    notes: int  # onsets (a chord is one)
    ended_by: str  # "silence" | "cc"
    features: list = field(default_factory=list)  # "chords", "legato", "channels", "triplets", "rests"


def make_call(rng, end_cc: int | None, max_notes: int, tempo: tuple[float, float] = (60.0, 180.0)) -> Call:
    bpm = float(rng.uniform(*tempo))
    beat = 60.0 / bpm
    tonic, minor = int(rng.integers(12)), bool(rng.random() < 0.4)
    scale = MINOR if minor else MAJOR
    register = int(rng.integers(50, 74))
    count = int(rng.integers(2, max_notes + 1))
    triplets, chords, legato = rng.random() < 0.3, rng.random() < 0.2, rng.random() < 0.3
    channels = (list(rng.choice(16, size=3, replace=False)) if rng.random() < 0.2
                else [int(rng.integers(16)) if rng.random() < 0.2 else 0])
    values = [0.25, 0.5, 0.5, 1, 1, 1.5, 2] + ([1 / 3, 1 / 3, 2 / 3] if triplets else [])
    loudness = int(rng.integers(40, 115))

    def pitch(degree: int) -> int:
        octave, step = divmod(degree, 7)
        return int(np.clip(register + tonic % 12 + 12 * octave + scale[step] - 6, 21, 108))

    notes, t, degree, rests = [], 0.0, 0, 0  # (onset, [pitches], channel, velocity, value)
    for index in range(count):
        degree = int(np.clip(degree + rng.integers(-3, 4), -9, 9))
        pitches = [pitch(degree)]
        if chords and rng.random() < 0.5:
            pitches += [pitch(degree + 2), pitch(degree + 4)][:int(rng.integers(1, 3))]
        value = float(rng.choice(values)) * beat
        velocity = int(np.clip(loudness + rng.normal(0, 10), 1, 127))
        notes.append((t, sorted(set(pitches)), int(rng.choice(channels)), velocity, value))
        t += value
        if index < count - 1 and rng.random() < 0.15:
            t += float(rng.choice([0.25, 1 / 3, 0.5])) * beat  # a rest, cut below to MAX_GAP
            rests += 1
    events, last_off = [], 0.0
    for index, (onset, pitches, channel, velocity, value) in enumerate(notes):
        following = notes[index + 1] if index + 1 < len(notes) else None
        if following is None:
            length = value * float(rng.uniform(0.6, 1.0))
        else:
            step = following[0] - onset
            clash = following[2] == channel and set(following[1]) & set(pitches)
            if legato and not clash:
                length = step + float(rng.uniform(0.01, 0.04))  # key up after the next key down
            else:
                length = step - min(step * float(rng.uniform(0.05, 0.5)), MAX_GAP)
            if following[0] - (onset + length) > MAX_GAP:
                length = following[0] - onset - MAX_GAP
        roll = float(rng.uniform(0, 0.012))  # a chord's notes a few ms apart, as hands play them
        for k, p in enumerate(pitches):
            events.append((onset + k * roll, [0x90 | channel, p, velocity]))
            events.append((onset + length, [0x80 | channel, p, 0]))
        last_off = max(last_off, onset + length)
    end, ended_by = last_off, "silence"
    if end_cc is not None and rng.random() < 0.3:
        end, ended_by = last_off + float(rng.uniform(0.02, 0.1)), "cc"
        events += [(end, [0xB0, end_cc, 127]), (end + 0.05, [0xB0, end_cc, 0])]
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))  # note-offs before note-ons at one instant
    features = [name for name, on in (("chords", chords), ("legato", legato), ("channels", len(channels) > 1),
                                      ("triplets", triplets), ("rests", rests > 0)) if on]
    key = f"{NAMES[tonic]} {'minor' if minor else 'major'}"
    return Call(events, end, last_off, bpm, key, len(notes), ended_by, features)


# --- the player -------------------------------------------------------------------------------
class Player:
    """Two JACK ports of this process: plays into "liveimpro in", listens to "liveimpro out"."""

    def __init__(self, server: str):
        from liveimpro.midi.reader import PortReader
        from liveimpro.midi.ports import open_input, open_output
        self.received: list = []  # (perf_counter, message): appended by the reader, read by the main thread
        self.sent: list = []  # (when it was due, perf_counter after the send, message)
        self._held: set = set()  # (status, pitch) of the player's keys down
        self.midi_in = open_input("liveimpro out", api="jack", client_name="soak-listener")
        self.midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
        # read from a thread of ours, not a callback in JACK's thread (see liveimpro.midi.reader.PortReader)
        self.reader = PortReader(self.midi_in, lambda event, _: self.received.append((time.perf_counter(), event[0])))
        self.reader.start()
        self.out = open_output("liveimpro in", api="jack", client_name="soak-player")
        _wait_for_connections(server, ["liveimpro in", "liveimpro out"])

    def send_at(self, t: float, message: list) -> None:
        while (left := t - time.perf_counter()) > SPIN:
            time.sleep(left - SPIN)
        while time.perf_counter() < t:
            pass
        self.out.send_message(message)
        self.sent.append((t, time.perf_counter(), message))
        if message[0] & 0xF0 == 0x90:
            self._held.add((message[0] & 0x0F, message[1]))
        elif message[0] & 0xF0 == 0x80:
            self._held.discard((message[0] & 0x0F, message[1]))

    def close(self) -> None:
        for channel, pitch in sorted(self._held):  # a call cut short by Ctrl-C: keys up all the same
            self.out.send_message([0x80 | channel, pitch, 0])
        self.reader.stop()
        for port in (self.midi_in, self.out):
            port.close_port()
            port.delete()


def _wait_for_connections(server: str, ports: list[str], timeout: float = 5.0) -> None:
    """Until JACK lists a connection on each port (it connects in its next cycles; a message sent
    before that is lost), then a moment for them to settle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = subprocess.run(["jack_lsp", "-s", server, "-c"], capture_output=True, text=True).stdout.splitlines()
        connected = {name for i, name in enumerate(listing)
                     if not name.startswith(" ") and i + 1 < len(listing) and listing[i + 1].startswith(" ")}
        if all(any(port in name for name in connected) for port in ports):
            time.sleep(0.2)
            return
        time.sleep(0.05)
    raise SystemExit(f"soak: JACK did not connect {ports} within {timeout:.0f} s")


class Listener:
    """What sounds on "liveimpro out" right now, from the player's received list (main thread)."""

    def __init__(self, received: list):
        self.received = received
        self.read = 0  # messages looked at
        self.sounding: set = set()  # (channel, pitch)
        self.last_time = 0.0  # when the last message came
        self.note_ons: list = []  # times of every note-on received

    def update(self) -> None:
        while self.read < len(self.received):
            t, m = self.received[self.read]
            self.read += 1
            self.last_time = t
            kind = m[0] & 0xF0
            if kind == 0x90 and m[2] > 0:
                self.sounding.add((m[0] & 0x0F, m[1]))
                self.note_ons.append(t)
            elif kind == 0x80 or kind == 0x90:
                self.sounding.discard((m[0] & 0x0F, m[1]))
            elif kind == 0xB0 and m[1] == 123:
                self.sounding = {n for n in self.sounding if n[0] != m[0] & 0x0F}

    def first_on_after(self, t: float) -> float | None:
        index = bisect.bisect_right(self.note_ons, t)  # note_ons is in time order
        return self.note_ons[index] if index < len(self.note_ons) else None


# --- duet, in its own process -----------------------------------------------------------------
class Duet:
    def __init__(self, argv: list[str], workdir: Path):
        self.stderr_path = workdir / "duet-stderr.txt"
        self._stderr = open(self.stderr_path, "w")
        self.lines: list = []  # (perf_counter, line) of duet's stdout, appended by the reader thread
        self._rows: list[dict] = []  # the status lines among them, parsed (status())
        self._parsed = 0  # lines looked at
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     start_new_session=True)  # ended by us (SIGTERM), not by the terminal's Ctrl-C
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until duet says it listens (printed once its input callback is set)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("listening on" in line for _, line in self.lines):
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"soak: duet exited at start: {self.stderr_tail()}")
            time.sleep(0.05)
        raise SystemExit(f"soak: duet was not ready within {timeout:.0f} s: {self.stderr_tail()}")

    def stderr_tail(self, chars: int = 2000) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-chars:]

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):
            return None

    def cpu_seconds(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):
            return None

    def terminate(self, timeout: float = 20.0) -> tuple[int | None, bool]:
        """SIGTERM; (exit status, hung): a duet that does not end within `timeout` is killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            hung = False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            hung = True
        self._reader.join(5)
        self._stderr.close()
        return self.proc.returncode, hung

    def status(self) -> list[dict]:
        """duet's per-phrase status lines so far, parsed, with the time each was read."""
        while self._parsed < len(self.lines):
            t, line = self.lines[self._parsed]
            self._parsed += 1
            match = STATUS.match(line)
            if match:
                g = match.groupdict()
                self._rows.append({"time": t, "state": g["state"], "bpm": _float(g["bpm"]),
                                   "reaction_ms": _float(g["reaction"]), "late_p99_ms": float(g["late"]),
                                   "phrases": int(g["phrases"]), "dropped": int(g["dropped"]),
                                   "skipped": int(g["skipped"])})
        return self._rows


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


# --- the session ------------------------------------------------------------------------------
class Soak:
    def __init__(self, args, duet: Duet, player: Player, workdir: Path, stop: threading.Event):
        self.args, self.duet, self.player, self.workdir, self.stop = args, duet, player, workdir, stop
        self.rng = np.random.default_rng(args.seed)
        self.listen = Listener(player.received)
        self.calls: list[dict] = []  # one record per call played
        self.unanswered: list[dict] = []
        self.memory: list = []  # (seconds since the start, RSS MB)
        self.cpu: list = []  # (seconds since the start, CPU s)
        self.t0 = 0.0
        self.xruns: dict | None = None  # xruns the private JACK server logged (None: a server not ours)

    def sample(self, now: bool = False) -> None:
        """duet's RSS and CPU time once a minute (`now`: at start and end): two small file reads."""
        elapsed = time.perf_counter() - self.t0
        if now or elapsed >= 60.0 * len(self.memory):
            self.memory.append((round(elapsed, 1), self.duet.rss_mb()))
            self.cpu.append((round(elapsed, 1), self.duet.cpu_seconds()))
            if not now:
                answered = sum(c.get("answer") is not None for c in self.calls)
                print(f"minute {elapsed / 60:.0f}: {len(self.calls)} calls, {answered} answered, "
                      f"{len(self.unanswered)} unanswered; duet RSS {_mb(self.memory[-1][1])} MB", flush=True)

    def wait(self, until: float) -> None:
        if time.perf_counter() > self.t0 + 60.0 * self.args.minutes + OVERRUN and not self.stop.is_set():
            print(f"soak: still waiting {OVERRUN:.0f} s after the end: stopping", flush=True)
            self.stop.set()
        while not self.stop.is_set() and time.perf_counter() < until:
            self.listen.update()
            self.sample()
            time.sleep(min(POLL, max(0.0, until - time.perf_counter())))
        self.listen.update()

    def run(self) -> None:
        args = self.args
        self.t0 = time.perf_counter()
        self.sample(now=True)
        deadline = self.t0 + 60.0 * args.minutes
        start = self.t0 + 0.3
        while not self.stop.is_set():
            call = make_call(self.rng, args.end_cc, args.max_notes, args.bpm)
            record = self.play(call, start)
            first = self.await_answer(record)
            if first is None:
                start = time.perf_counter() + 1.0
                if time.perf_counter() >= deadline:
                    break
                continue
            if time.perf_counter() >= deadline:
                self.wait(time.perf_counter() + float(self.rng.uniform(0.1, 0.6)))  # SIGTERM comes mid-answer
                break
            start = self.next_start(record, first)

    def play(self, call: Call, start: float) -> dict:
        start = max(start, time.perf_counter() + 0.002)
        record = {"index": len(self.calls), "start": start, "end": start + call.end,
                  "last_off": start + call.last_off, "bpm": round(call.bpm, 1),
                  "key": call.key, "notes": call.notes, "ended_by": call.ended_by, "features": call.features,
                  "sent_from": len(self.player.sent), "policy": None, "barged_in": False}
        self.calls.append(record)
        for offset, message in call.events:
            if self.stop.is_set():
                break
            self.player.send_at(start + offset, message)
        record["sent_to"] = len(self.player.sent)
        self.listen.update()
        return record

    def await_answer(self, record: dict) -> float | None:
        """The time of the answer's first note-on, or None after --answer-timeout (unanswered)."""
        limit = record["end"] + self.args.answer_timeout
        while not self.stop.is_set() and time.perf_counter() < limit:
            self.wait(time.perf_counter() + POLL)
            first = self.listen.first_on_after(record["end"])
            if first is not None:
                record["answer"] = first
                return first
        if not self.stop.is_set():
            self.note_unanswered(record)
        return None

    def engine_bpm(self, record: dict) -> float | None:
        """The tempo duet answers this call in: its status line for the phrase (None until it comes)."""
        if record.get("engine_bpm") is None:
            line = next((r for r in self.duet.status() if r["time"] > record["end"]), None)
            record["engine_bpm"] = line and line["bpm"]
        return record["engine_bpm"]

    def answer_over(self, record: dict) -> bool:
        """Nothing sounds, nothing has come for 1.5 beats, and the answer has had the time its length
        takes (bars: as many as the call's, at duet's tempo, one beat short for a closing rest);
        or nothing has come for LONG_QUIET (HANG_TIMEOUT with a note still sounding)."""
        self.listen.update()
        now = time.perf_counter()
        quiet, bpm = now - self.listen.last_time, self.engine_bpm(record) or record["bpm"]
        if self.listen.sounding:  # unless its note-off was lost on the way (counted as hanging at the end)
            return quiet >= HANG_TIMEOUT
        if quiet >= LONG_QUIET:
            return True
        beat = 60.0 / bpm
        if quiet < float(np.clip(QUIET_BEATS * beat, *QUIET_RANGE)):
            return False
        call_beats = (record["last_off"] - record["start"]) / beat
        bars = max(1, math.ceil((call_beats - 0.25) / 4))
        length = max(1, math.floor(bars * self.args.length_ratio + 0.5)) * 4 * beat
        return now >= record["answer"] + length - beat

    def next_start(self, record: dict, first: float) -> float:
        names, weights = zip(*POLICIES)
        policy = str(self.rng.choice(names, p=weights))
        record["policy"] = policy
        if policy == "barge-in":
            target = first + float(self.rng.uniform(0.05, 1.2))
            while not self.stop.is_set():
                self.wait(time.perf_counter() + POLL)
                if time.perf_counter() >= target and self.listen.sounding:
                    record["barged_in"] = True
                    return time.perf_counter()  # the next call's first note goes now, over a sounding answer note
                if self.answer_over(record):
                    break  # the answer ended before the player came in: go on right after it
            record["policy"] = policy = "right-after"
        gap = {"right-after": (0.0, 0.05), "pause": (0.2, 1.5), "wait": (3.0, 6.0)}[policy]
        while not self.stop.is_set():
            while not self.stop.is_set() and not self.answer_over(record):
                self.wait(time.perf_counter() + POLL)
            start = time.perf_counter() + float(self.rng.uniform(*gap))
            heard = self.listen.read
            self.wait(start)
            if self.listen.read == heard:  # nothing came during the gap: the answer really is over
                return start
        return time.perf_counter()

    def note_unanswered(self, record: dict) -> None:
        """Save what a diagnosis needs: the call as sent, what came back, duet's status and stderr."""
        sent = self.player.sent[record["sent_from"]:record["sent_to"]]
        since = self.calls[record["index"] - 1]["start"] if record["index"] else self.t0
        received = [(round(t - record["start"], 6), m) for t, m in self.player.received if t >= since]
        phrases = [s["phrases"] for s in self.duet.status()]
        entry = {"call": record["index"], "minute": round((record["start"] - self.t0) / 60, 2),
                 "call_info": {k: record[k] for k in ("bpm", "key", "notes", "ended_by", "features")},
                 "sent": [(round(t - record["start"], 6), m) for _, t, m in sent],
                 "received_since_previous_call": received,
                 "phrases_before": phrases[-1] if phrases else 0,
                 "duet_stdout_tail": [line for _, line in self.duet.lines[-8:]],
                 "duet_stderr_tail": self.duet.stderr_tail(),
                 "duet_running": self.duet.proc.poll() is None}
        self.unanswered.append(entry)
        path = self.workdir / f"unanswered-{record['index']}.json"
        path.write_text(json.dumps(entry, indent=1))
        print(f"soak: call {record['index']} at minute {entry['minute']} unanswered after "
              f"{self.args.answer_timeout:.0f} s (saved {path})", flush=True)


# --- figures ------------------------------------------------------------------------------------
def stuck_notes(received: list) -> tuple[int, list, list]:
    """(note-ons received, those left without a note-off or All Notes Off on their channel, those
    "hanging": released only by an All Notes Off after a later note-on on their channel came — an
    answer is a line, each note released before the next, so a note-off was lost on the way)."""
    held: dict = {}  # (channel, pitch) -> onsets not yet released
    last_on: dict = {}  # channel -> time of its latest note-on
    count, hanging = 0, []
    for t, m in received:
        kind, channel = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            held.setdefault((channel, m[1]), []).append(t)
            last_on[channel] = t
            count += 1
        elif (kind == 0x80 or kind == 0x90) and held.get((channel, m[1])):
            held[channel, m[1]].pop(0)
        elif kind == 0xB0 and m[1] == 123:
            for (ch, pitch), starts in held.items():
                if ch == channel:
                    hanging += [(on, ch, pitch) for on in starts if last_on[ch] > on + HANG_SLACK]
                    starts.clear()
    stuck = sorted((t, channel, pitch) for (channel, pitch), starts in held.items() for t in starts)
    return count, stuck, sorted(hanging)


def check_session(path: Path) -> dict:
    import mido
    try:
        midi = mido.MidiFile(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
        return {"valid": False, "problem": f"{type(exc).__name__}: {exc}"}
    names = [next((m.name for m in track if m.type == "track_name"), None) for track in midi.tracks]
    notes = {name: sum(m.type == "note_on" and m.velocity > 0 for m in track)
             for name, track in zip(names, midi.tracks) if name in ("call", "answer")}
    valid = notes.get("call", 0) > 0 and notes.get("answer", 0) > 0
    return {"valid": valid, "call_notes": notes.get("call", 0), "answer_notes": notes.get("answer", 0),
            "tracks": names, **({} if valid else {"problem": "no call or no answer track with notes"})}


def stats(values) -> dict:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": int(x.size), "p50": round(float(np.median(x)), 3), "p99": round(float(np.percentile(x, 99)), 3),
            "max": round(float(x.max()), 3)}


def figures(soak: Soak, exit_code, hung: bool, args) -> dict:
    calls, received, sent = soak.calls, soak.player.received, soak.player.sent
    listen = soak.listen
    status = soak.duet.status()
    starts = [c["start"] for c in calls] + [float("inf")]
    # per call: answer notes that came while the player played a call (must be none), answer timing
    during, silence_ms, over_window_ms, cc_ms, barge_ms, slow = [], [], [], [], [], []
    for c, next_start in zip(calls, starts[1:]):
        ons = [t for t in listen.note_ons if c["start"] + IN_FLIGHT < t < c["end"]]
        during += [(c["index"], round(t - c["start"], 4)) for t in ons]
        first = c.get("answer")
        if first is None or first >= next_start:
            continue
        wait = first - c["end"]
        if wait > SLOW_ANSWER:
            slow.append({"call": c["index"], "answer_after_s": round(wait, 3)})
        if c["ended_by"] == "cc":
            cc_ms.append(wait * 1e3)
        else:
            silence_ms.append(wait * 1e3)
            bpm = soak.engine_bpm(c)  # from this phrase's status line
            if bpm:
                window = min(2.0, max(0.35, args.silence_beats * 60.0 / bpm))
                over_window_ms.append((wait - window) * 1e3)
        if c["barged_in"]:
            offs = [t for t, m in received if t > next_start and (m[0] & 0xF0 == 0x80 or
                                                                     (m[0] & 0xF0 == 0xB0 and m[1] == 123))]
            if offs:
                barge_ms.append((offs[0] - next_start) * 1e3)
    for u in soak.unanswered:  # did an answer come after all, and did duet count a phrase for the call?
        c = calls[u["call"]]
        late = next((t for t in listen.note_ons if c["end"] < t < starts[c["index"] + 1]), None)
        u["late_answer_after_s"] = None if late is None else round(late - c["end"], 3)
        u["phrases_after"] = next((s["phrases"] for s in status if s["time"] > c["end"]), None)
    count, stuck, hanging = stuck_notes(received)
    summary_match = SUMMARY.search(soak.duet.stderr_path.read_text(errors="replace"))
    summary = dict(zip(("phrases", "heard", "dropped", "skipped"), map(int, summary_match.groups()))) \
        if summary_match else None
    rss = [mb for _, mb in soak.memory if mb is not None]
    after_minute = next((mb for t, mb in soak.memory if t >= 60.0 and mb is not None), None)
    cpu = [(t, s) for t, s in soak.cpu if s is not None]
    minutes = (soak.memory[-1][0] if soak.memory else 0.0) / 60.0
    session = check_session(Path(args.session))
    answered = [c for c in calls if c.get("answer") is not None]
    return {
        "minutes": round(minutes, 2),
        "calls": len(calls), "answered": len(answered), "barged_in": sum(c["barged_in"] for c in calls),
        "ended_by_cc": sum(c["ended_by"] == "cc" for c in calls), "unanswered": len(soak.unanswered),
        "unanswered_calls": [{k: u[k] for k in ("call", "minute", "call_info", "phrases_before", "phrases_after",
                                                "late_answer_after_s", "duet_running")} for u in soak.unanswered],
        "slow_answers": slow, "answer_notes_during_calls": during,
        "reaction_ms": stats(s["reaction_ms"] for s in status),
        "status_lines": len(status),
        "answer_after_end_cc_ms": stats(cc_ms),
        "answer_after_last_note_off_ms": stats(silence_ms),
        "answer_after_silence_window_ms": {**stats(over_window_ms),
                                           "min": round(min(over_window_ms), 3) if over_window_ms else None},
        "barge_in_release_ms": stats(barge_ms),
        "late_p99_ms": {"last": status[-1]["late_p99_ms"] if status else None,
                        "worst": max((s["late_p99_ms"] for s in status), default=None)},
        "messages": {"player_sent": len(sent), "duet_heard": summary and summary["heard"],
                     "dropped": summary and summary["dropped"], "skipped": summary and summary["skipped"],
                     "player_received": len(received), "answer_note_ons": count},
        "phrases": summary and summary["phrases"],
        "rss_mb": {"start": rss[0] if rss else None, "after_1_min": after_minute, "end": rss[-1] if rss else None,
                   "growth_from_1_min": round(rss[-1] - after_minute, 1) if rss and after_minute else None,
                   "growth_from_start": round(rss[-1] - rss[0], 1) if rss else None,
                   "samples": soak.memory},
        "duet_cpu_percent": round(100 * (cpu[-1][1] - cpu[0][1]) / max(cpu[-1][0] - cpu[0][0], 1e-9), 1)
        if len(cpu) > 1 else None,
        "hanging_notes": [{"time": round(t - soak.t0, 3), "channel": ch + 1, "pitch": p} for t, ch, p in hanging],
        "jack_xruns": soak.xruns,
        "stuck_notes": len(stuck), "stuck": [{"time": round(t - soak.t0, 3), "channel": ch + 1, "pitch": p}
                                             for t, ch, p in stuck],
        "session": session,
        "duet_exit": {"status": exit_code, "hung": hung, "summary": summary_match.group(0) if summary_match else None},
    }


def print_table(f: dict, args) -> None:
    def row(name, value):
        print(f"  {name:56} {value}")

    def ms(name, s):
        text = "-" if not s["n"] else f"p50 {s['p50']:.2f}  p99 {s['p99']:.2f}  max {s['max']:.2f}  (n {s['n']})"
        if s.get("min") is not None:
            text += f"  min {s['min']:.2f}"
        row(name + " (ms)", text)

    m, r = f["messages"], f["rss_mb"]
    print(f"\nsoak figures ({f['minutes']:.2f} minutes)")
    row("calls played", f["calls"])
    row("answered", f["answered"])
    row("barged in on (next call over a sounding answer note)", f["barged_in"])
    row(f"ended by the end CC ({args.end_cc})", f["ended_by_cc"])
    row(f"unanswered (no answer note within {args.answer_timeout:.0f} s)", f["unanswered"])
    row(f"slow answers (first note > {SLOW_ANSWER:.0f} s after the call)", len(f["slow_answers"]))
    row("answer notes received while the player played", len(f["answer_notes_during_calls"]))
    ms("reaction, engine: phrase-end decision -> first note-on sent", f["reaction_ms"])
    ms("answer heard after the end CC was sent", f["answer_after_end_cc_ms"])
    ms("answer heard after the call's last note-off", f["answer_after_last_note_off_ms"])
    ms("  of which beyond the silence window (0 .. one beat)", f["answer_after_silence_window_ms"])
    ms("barge-in -> first note-off heard", f["barge_in_release_ms"])
    late = f["late_p99_ms"]
    row("scheduler lateness p99 (ms): last status line / worst", f"{late['last']} / {late['worst']}")
    row("messages: player sent / duet heard", f"{m['player_sent']} / {m['duet_heard']}")
    row("messages: duet dropped / skipped", f"{m['dropped']} / {m['skipped']}")
    row("messages received from duet (answer note-ons)", f"{m['player_received']} ({m['answer_note_ons']})")
    row("phrases answered (duet) / status lines", f"{f['phrases']} / {f['status_lines']}")
    row("duet RSS (MB): start / after 1 min / end",
        f"{_mb(r['start'])} / {_mb(r['after_1_min'])} / {_mb(r['end'])}")
    row("duet RSS growth (MB): from 1 min / from start", f"{r['growth_from_1_min']} / {r['growth_from_start']}")
    row("duet CPU (% of one core)", f["duet_cpu_percent"])
    row("answer notes released only by the closing All Notes Off", len(f["hanging_notes"]) if not f["hanging_notes"]
        else f"{len(f['hanging_notes'])}: {f['hanging_notes'][:10]}")
    x = f["jack_xruns"]
    row("JACK cycles a client finished late (per client)", "-" if x is None else x["late_clients"] or 0)
    row("JACK dummy-driver timer wake-ups late", "-" if x is None else x["timer"])
    row("stuck notes", f["stuck_notes"] if not f["stuck"] else f"{f['stuck_notes']}: {f['stuck']}")
    s = f["session"]
    row("session file", (f"valid: {s['call_notes']} call notes, {s['answer_notes']} answer notes" if s["valid"]
                         else f"INVALID: {s['problem']}"))
    e = f["duet_exit"]
    row("duet exit", f"status {e['status']}{', HUNG (killed)' if e['hung'] else ''}; {e['summary']}")
    for u in f["unanswered_calls"]:
        print(f"  UNANSWERED: {u}")
    for s in f["slow_answers"]:
        print(f"  SLOW: {s}")
    if f["answer_notes_during_calls"]:
        print(f"  ANSWER NOTES DURING CALLS (call, s after its start): {f['answer_notes_during_calls'][:20]}")


def _mb(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def count_xruns(server) -> dict | None:
    """What jackd logged: `late_clients`, per JACK client, the cycles in which it had not finished
    its process callback in time (JACK 2's default asynchronous mode then drops or repeats MIDI on
    its ports), and `timer`, dummy-driver cycles that woke late (microseconds, harmless on their
    own). None for a server that is not ours (--server)."""
    if server is None:
        return None
    late: dict[str, int] = {}
    timer = 0
    for line in server.log_text().splitlines():
        match = re.search(r"client = (.+?) was not finished", line)
        if match:
            late[match.group(1)] = late.get(match.group(1), 0) + 1
        timer += "JackTimedDriver::Process XRun" in line
    return {"late_clients": dict(sorted(late.items(), key=lambda kv: -kv[1])), "timer": timer}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- main ---------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to play (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calls and of duet's answers (default 0)")
    parser.add_argument("--server", default=None,
                        help="a running JACK server to use; default: start a private one (dummy driver)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the session file, duet's output and the message log go (kept); default: a "
                             "temporary folder, removed unless something went wrong")
    parser.add_argument("--answer-timeout", type=float, default=12.0,
                        help="seconds after a call's end with no answer note: unanswered (default 12)")
    parser.add_argument("--max-notes", type=int, default=24, help="longest call in notes (default 24; at least 2)")
    parser.add_argument("--bpm", type=float, nargs=2, default=(60.0, 180.0), metavar=("LOW", "HIGH"),
                        help="the calls' tempo range (default 60 180)")
    parser.add_argument("--mode", choices=("answer", "vary", "morph"), default="answer", help="duet --mode")
    parser.add_argument("--cc", default=None, help="duet --cc (the player's end CC follows its 'end' mapping)")
    parser.add_argument("--silence-beats", type=float, default=1.0, help="duet --silence-beats (default 1)")
    parser.add_argument("--length-ratio", type=float, default=1.0, help="duet --length-ratio (default 1)")
    parser.add_argument("--model", default=None, help="duet --model")
    args = parser.parse_args()
    if args.max_notes < 2:
        parser.error("--max-notes must be at least 2")
    if not 20 <= args.bpm[0] <= args.bpm[1] <= 300:
        parser.error("--bpm wants LOW <= HIGH, both in 20..300")

    from liveimpro.live.controls import ControlMap, parse_cc_option
    from liveimpro.errors import UserError
    from liveimpro.jackserver import JackServer
    args.end_cc = (parse_cc_option(args.cc) if args.cc else ControlMap()).end_cc
    # the receive callback runs in JACK's process thread and needs the GIL: while the sender spins,
    # hand it over within 0.2 ms (a late JACK client loses MIDI, see count_xruns)
    sys.setswitchinterval(0.0002)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="liveimpro-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args.session = str(workdir / "session.mid")
    server = None
    if args.server:
        os.environ["JACK_DEFAULT_SERVER"] = args.server
    else:
        try:
            server = JackServer(f"liveimpro-soak-{os.getpid()}").start()
        except UserError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 2
    name = os.environ["JACK_DEFAULT_SERVER"]
    argv = [sys.executable, "-m", "liveimpro", "duet", "--api", "jack", "--record", args.session, "--seed",
            str(args.seed), "--mode", args.mode, "--silence-beats", str(args.silence_beats), "--length-ratio",
            str(args.length_ratio)] + (["--cc", args.cc] if args.cc else []) + \
        (["--model", args.model] if args.model else [])
    print("command:", " ".join([os.path.relpath(sys.executable)] + sys.argv))
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {load_average()}, {os.cpu_count()} cores; "
          f"JACK server {name!r}" + (f" (private, dummy driver, period {server.period_ms:.2f} ms)" if server else ""))
    print("duet:", " ".join(argv[1:]), flush=True)
    duet = player = soak = None
    exit_code, hung = None, False
    try:
        duet = Duet(argv, workdir)
        duet.wait_ready()
        player = Player(name)
        soak = Soak(args, duet, player, workdir, stop)
        soak.run()
        soak.sample(now=True)
        crashed_during = duet.proc.poll()
        exit_code, hung = duet.terminate()
        time.sleep(0.2)  # the last messages duet sent on its way out
        if crashed_during is not None:
            print(f"soak: duet had exited during the soak with status {crashed_during}", flush=True)
    finally:
        if duet is not None and duet.proc.poll() is None:
            exit_code, hung = duet.terminate()
        if player is not None:
            player.close()
        if server is not None:
            if soak is not None:
                soak.xruns = count_xruns(server)
            server.stop()
    f = figures(soak, exit_code, hung, args)
    f["load_average_end"] = load_average()
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {f['load_average_end']}")
    print_table(f, args)
    (workdir / "messages.json").write_text(json.dumps(
        {"t0": soak.t0, "calls": soak.calls, "sent": player.sent, "received": player.received,
         "duet_stdout": duet.lines}))
    for u in soak.unanswered:  # now with what came after them
        (workdir / f"unanswered-{u['call']}.json").write_text(json.dumps(u, indent=1))
    if args.json:
        args.json.write_text(json.dumps(f, indent=1))
    crashed = exit_code != 0 or hung or f["duet_exit"]["summary"] is None
    failed = bool(f["stuck"]) or crashed or not f["session"]["valid"]
    lost = f["messages"]["duet_heard"] is not None and f["messages"]["duet_heard"] != f["messages"]["player_sent"]
    problems = (failed or lost or f["unanswered"] or f["slow_answers"] or f["answer_notes_during_calls"]
                or f["hanging_notes"])
    if problems or args.workdir:
        print(f"kept: {workdir} (session.mid, duet-stderr.txt, messages.json" +
              (", unanswered-*.json" if f["unanswered"] else "") + ")")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("result:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
