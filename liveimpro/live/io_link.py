"""The engine's side of the real-time I/O process: start it, hear its input, send it the answer.

    io = IoProcess(on_midi=engine.on_midi, on_input_lost=engine.release_all_keys, say=print).start()
    engine = Engine(responder, io, config)   # the sink is the process: Engine takes io.scheduler()
    ...
    engine.stop(); io.close()      # STOP: every note released by the I/O process, which then exits

`IoProcess` runs `python -m liveimpro.live.io_process` (`liveimpro.live.io_cycle` says what it
does each JACK cycle) with two pipes: records (`liveimpro.live.io_wire`) go down with the
engine's events and come up with the input, stamped from JACK's frame time. A thread of ours
reads the input pipe and hands each message to `on_midi` with its time: the input's bounded queue
is the engine's (`Engine.on_midi`), the pipe between is the I/O process's (dropped and counted when
full, never blocking its cycle).

`IoScheduler` is the engine's scheduler for this path (the same calls as
`liveimpro.live.scheduler.Scheduler`): `schedule_many` packs the events into one pipe write;
`cancel(tag)` cuts the tag's current group; `begin(tag)` starts a new group. The I/O process writes
each event at its frame, and cuts the answer itself when the player barges in.

If the I/O process ends by itself (the JACK server stopped, or it was killed), `IoProcess` says so
and starts a new one every `RESTART_INTERVAL` s until one starts (a server back gets our ports, and
our synth first); a killed one released nothing: the next sends All Notes Off where we played. If
the engine's process dies, the I/O process sees its pipe close and releases every note.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from ..errors import PortError
from ..midi.messages import NOTE_ON, as_message
from .answer import ANSWER
from .io_wire import (ANSWER_TAG, BARGED, CANCEL, CANCEL_ALL, FIRED, FIRST_SENT, INPUT, INPUT_LOST, READY, RECONNECT_SETTLE,
                      RECORD_SIZE, SCHEDULE, STANDBY, STANDBY_ARM, STANDBY_CLEAR, STANDBY_FIRE, STATS, STOP, RecordReader,
                      Stats, all_notes_off, pack_event, unpack_event)

START_TIMEOUT = 10.0  # s for the I/O process to open its ports
RESTART_INTERVAL = 0.5  # s between tries to start it again after it ended
EXIT_NO_SERVER, EXIT_SERVER_GONE = 3, 4  # liveimpro.live.io_process's exit codes
TAGS = {ANSWER: ANSWER_TAG}  # scheduler tags on the wire (anything else: 0)


class IoProcess:
    name = "liveimpro out"  # what duet's banner names as the sink

    def __init__(self, on_midi, on_input_lost=None, say=print, input_name: str | None = None, output_name: str | None = None,
                 barge_in: bool = True, end_cc: int | None = None, synth=None):  # synth: jack_synth.JackMidiSynth
        self.on_midi, self.on_input_lost, self.say = on_midi, on_input_lost, say
        self.named = {"--in": input_name, "--out": output_name, "--end-cc": None if end_cc is None else str(end_cc),
                      "--no-barge-in": None if barge_in else ""}  # "": a flag without a value
        self.end_cc, self.synth = end_cc, synth  # our synth, fed by our output; a new port after a restart
        self.fired: tuple[float, int] | None = None  # (time, group) of the standby the footswitch played
        self.stats = Stats()
        self.sample_rate = self.period = 0
        self.restarts = 0  # I/O processes started after the first ended
        self.on_first_sent = None  # called with (perf_counter time) when an answer's first note-on was written
        self.on_restarted = None  # called when a new I/O process runs after one that died (not with the server)
        self._proc: subprocess.Popen | None = None
        self._commands: int | None = None  # our end of the commands pipe
        self._lock = threading.Lock()  # one writer at a time on the commands pipe
        self._closing, self._ready = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._restarting, self._relayed = False, None  # tries to start it again are under way; the last line relayed

    def start(self) -> "IoProcess":
        """Start the I/O process and wait for its ports; PortError with its one line if it cannot."""
        problem = self._spawn()
        if problem is not None:
            raise PortError(problem)
        return self

    def _spawn(self) -> str | None:
        commands_read, commands_write = os.pipe()
        events_read, events_write = os.pipe()
        args = [word for flag, value in {**self.named, "--synth": self.synth and self.synth.port}.items()
                if value is not None for word in (flag, value) if word]
        proc = subprocess.Popen([sys.executable, "-m", "liveimpro.live.io_process", "--commands", str(commands_read),
                                 "--events", str(events_write), *args], pass_fds=(commands_read, events_write),
                                stderr=subprocess.PIPE, text=True)
        os.close(commands_read), os.close(events_write)
        self._ready.clear()
        with self._lock:
            self._proc, self._commands = proc, commands_write
        self._thread = threading.Thread(target=self._read_events, args=(proc, events_read), name="liveimpro-io-input",
                                        daemon=True)
        self._thread.start()
        threading.Thread(target=self._relay_stderr, args=(proc,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.01):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill() if proc.poll() is None else None
                proc.wait()
                return getattr(proc, "last_line", "") or f"the real-time I/O process could not start (exit {proc.returncode})"
        return None

    def _relay_stderr(self, proc) -> None:
        for line in proc.stderr:  # its lines are whole "liveimpro ...: ..." lines: passed on as they are
            proc.last_line = line.strip().removeprefix("liveimpro: ")
            if self._restarting and line == self._relayed:
                continue  # a try every RESTART_INTERVAL failing as the last one did: said once
            self._relayed = line
            print(line, end="", file=sys.stderr, flush=True)

    def _read_events(self, proc, fd: int) -> None:
        reader, on_midi = RecordReader(), self.on_midi
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while True:
                data = pipe.read(RECORD_SIZE * 64)
                if not data:
                    break
                for record in reader.feed(data):
                    kind = record[0]
                    if kind == INPUT:
                        _, t, message, _, _ = unpack_event(record)
                        on_midi((list(message), 0.0), t)
                    elif kind == STATS:
                        self.stats = Stats.unpack(record)
                    elif kind == FIRED:  # before the footswitch's INPUT record: set before the engine hears it
                        _, t, _, _, group = unpack_event(record)
                        self.fired = (t, group)
                    elif kind == FIRST_SENT and self.on_first_sent is not None:
                        self.on_first_sent(unpack_event(record)[1])
                    elif kind == INPUT_LOST and self.on_input_lost is not None:
                        self.on_input_lost()
                    elif kind == READY:
                        _, period, _, _, rate = unpack_event(record)
                        self.sample_rate, self.period = rate, int(period)
                        self._ready.set()
                    elif kind == BARGED:
                        pass  # the engine hears the same note-on and cuts its side
        code = proc.wait()
        if not self._closing.is_set() and self._ready.is_set():
            threading.Thread(target=self._restart, args=(code,), daemon=True).start()

    def _restart(self, code: int) -> None:
        self.say("the JACK server stopped; waiting for it to come back" if code == EXIT_SERVER_GONE
                 else f"the real-time I/O process ended (exit {code}); starting it again")
        self._restarting = True
        if (synth := self.synth if code == EXIT_SERVER_GONE else None) is not None:
            synth.lost()  # its client went with the server
        while not self._closing.wait(RESTART_INTERVAL):
            if synth is not None and not synth.started_again(self.say):
                continue  # no server yet: the synth first, as the I/O process connects to it
            if self._spawn() is None:
                self._restarting, self._relayed = False, None
                self.restarts += 1
                if code != EXIT_SERVER_GONE and self.on_restarted is not None:
                    self.on_restarted()  # what the dead one left sounding, on a port connected again
                self.say("the JACK server is back; reopening the ports" if code == EXIT_SERVER_GONE
                         else "the real-time I/O process runs again")
                return

    def post(self, records: bytes) -> None:
        """Records down to the I/O process; nothing (the events are lost) while none runs."""
        with self._lock:
            if self._commands is None:
                return
            try:
                os.write(self._commands, records)
            except OSError:  # it ended; the reader thread starts a new one
                pass

    def scheduler(self, timer=None) -> "IoScheduler":
        """The engine's scheduler; `timer` (liveimpro.live.answer.ReactionTimer) hears when an
        answer's first note-on was written."""
        if timer is not None:
            self.on_first_sent = timer.first_sent
        return IoScheduler(self)

    def close(self) -> None:
        """STOP: the I/O process releases every note and exits (killed after 2 s if it does not)."""
        self._closing.set()
        self.post(pack_event(STOP))
        with self._lock:
            proc, commands, self._commands = self._proc, self._commands, None
        if commands is not None:
            os.close(commands)
        if proc is not None:
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(2.0)


class IoLog:
    """The I/O process's lateness, shaped as `liveimpro.live.scheduler.SendLog`'s summary."""

    def __init__(self, io: IoProcess):
        self.io = io

    @property
    def count(self) -> int:
        return self.io.stats.sent

    def summary(self) -> dict:
        s = self.io.stats
        return {"count": s.sent, "median_ms": s.median_us / 1e3, "p99_ms": s.p99_us / 1e3, "max_ms": s.max_us / 1e3,
                "late_writes": s.late_writes}


class IoScheduler:
    """`Scheduler`'s calls, carried out by the I/O process (see the module docstring)."""

    realtime = True  # JACK's process thread
    realtime_problem = None

    def __init__(self, io: IoProcess):
        self.io = io
        self.log = IoLog(io)
        self.overdue = 0
        self.errors = 0
        self._groups: dict[int, int] = {}
        self._channels: set[int] = set()  # channels it sent note-ons on (All Notes Off after a restart)
        io.on_restarted = self._release_after_restart

    def start(self) -> "IoScheduler":
        return self

    def _tag(self, tag) -> tuple[int, int]:
        wire = TAGS.get(tag, 0)
        return wire, self._groups.get(wire, 0)

    def begin(self, tag) -> None:
        wire = TAGS.get(tag, 0)
        self._groups[wire] = self._groups.get(wire, 0) + 1

    def schedule(self, t: float, message, tag=None) -> None:
        self.schedule_many([(t, message)], tag)

    def schedule_many(self, events, tag=None) -> None:
        wire, group = self._tag(tag)
        now = time.perf_counter()
        records = []
        for t, message in events:
            self.overdue += t < now
            message = as_message(message)
            if message[0] & 0xF0 == NOTE_ON:
                self._channels.add(message[0] & 0x0F)
            records.append(pack_event(SCHEDULE, float(t), message, wire, group))
        self.io.post(b"".join(records))

    def _release_after_restart(self) -> None:
        """What a killed I/O process left sounding, at a synth the new one is connected to again
        (--out): All Notes Off on each channel we played on, once JACK made the connections."""
        self.io.post(b"".join(all_notes_off(self._channels, time.perf_counter() + RECONNECT_SETTLE)))

    def cancel(self, tag) -> int:
        wire, group = self._tag(tag)
        self.io.post(pack_event(CANCEL, 0.0, b"", wire, group))
        self.begin(tag)
        return 0

    def cancel_all(self) -> int:
        self.io.post(pack_event(CANCEL_ALL))
        for wire in self._groups:
            self._groups[wire] += 1
        return 0

    def stop(self, drain: bool = False, timeout: float | None = None) -> None:
        self.cancel_all()

    # --- the footswitch's standby note (liveimpro.live.io_cycle) ------------------------------------
    @property
    def standby_ready(self) -> bool:
        """Whether the I/O process plays a standby note on the footswitch (it knows the end CC)."""
        return self.io.end_cc is not None

    def standby(self, messages, tag) -> None:
        """Arm `messages` (the rehearsed first note's note-ons) as the start of `tag`'s next group."""
        wire, group = self._tag(tag)
        self.io.post(b"".join([pack_event(STANDBY, 0.0, as_message(m), wire, group + 1) for m in messages]
                              + [pack_event(STANDBY_ARM, 0.0, b"", wire, group + 1)]))

    def clear_standby(self) -> None:
        self.io.post(pack_event(STANDBY_CLEAR))

    def fire_standby(self) -> None:
        """Play the armed standby note now (the footswitch came before it was armed)."""
        self.io.post(pack_event(STANDBY_FIRE))

    def take_fired(self, tag) -> float | None:
        """When the footswitch played the standby note as the start of `tag`'s next group (that
        group begins with the next `begin`), else None; taken once."""
        fired, self.io.fired = self.io.fired, None
        if fired is None:
            return None
        wire, group = self._tag(tag)
        if fired[1] != group + 1:  # armed before the groups moved on: it starts nothing, released now
            self.io.post(pack_event(CANCEL, 0.0, b"", wire, fired[1]))
            return None
        return fired[0]


__all__ = ["IoProcess", "IoScheduler", "IoLog"]
