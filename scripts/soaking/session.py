"""The soak's call-and-response loop: play a call, wait for the answer, decide when it is over, go on.

A call with no answer note-on within --answer-timeout seconds is "unanswered" (the call, what came
back, duet's status lines and stderr are saved for a diagnosis). The answer is over when nothing
sounds on "liveimpro out", nothing has come for QUIET_BEATS beats (within QUIET_RANGE seconds), and it
has had the time its length takes (as many bars as the call, at the tempo of duet's status line), or
after LONG_QUIET seconds of quiet (HANG_TIMEOUT with a note still sounding). The next call then follows
by one of POLICIES: right after, after a pause, after a longer wait, or barging in while an answer
note sounds (the engine must release it at once).
"""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np

from .calls import Call, make_call
from .duet import Duet
from .figures import mb
from .player import Listener, Player

POLL = 0.005  # s between looks at what has come back while waiting
QUIET_BEATS, QUIET_RANGE = 1.5, (0.6, 2.0)  # quiet that may end an answer (beats of its tempo, within s)
LONG_QUIET = 4.0  # s of quiet that ends an answer whatever its expected length
HANG_TIMEOUT = 10.0  # s of quiet that end an answer even with a note sounding (its note-off was lost)
OVERRUN = 120.0  # s past --minutes after which the player stops whatever it is waiting for
# how the player goes on once an answer has started: (policy, probability)
POLICIES = (("barge-in", 0.2), ("right-after", 0.2), ("pause", 0.45), ("wait", 0.15))


class Soak:
    """One soak: calls played by `player` into `duet` until --minutes have passed or `stop` is set;
    the records the figures are made of (calls, unanswered calls, duet's memory and CPU)."""

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
                      f"{len(self.unanswered)} unanswered; duet RSS {mb(self.memory[-1][1])} MB", flush=True)

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
