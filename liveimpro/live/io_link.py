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
full, never blocking its cycle). The commands pipe is bounded the other way: a post waits at most
`POST_WAIT` s for room (the I/O process reads it at once unless it is stuck), then its records are
dropped and counted in `dropped_commands`, so a stuck I/O process never stops the engine, nor a
SIGTERM ending duet (close() kills it after 2 s).

`io.scheduler()` is the engine's scheduler for this path (`liveimpro.live.io_scheduler`: the same
calls as `liveimpro.live.scheduler.Scheduler`, carried out by the I/O process).

If the I/O process ends by itself (the JACK server stopped, or it was killed), `IoProcess` says
so and starts a new one every `RESTART_INTERVAL` s until one starts (a server that comes back gets
our ports again, and duet's synth, `liveimpro.live.jack_synth`, a client of its own again first); a
killed one released nothing: the next sends All Notes Off where we played. If the engine's process
dies, the I/O process sees its pipe close and releases every note.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time

from ..errors import PortError
from .io_scheduler import IoScheduler
from .io_wire import (BARGED, CLOCK_LEAD, FIRED, FIRST_SENT, INPUT, INPUT_LOST, INPUT_UNUSED, READY, RECORD_SIZE,
                      STATS, STOP, RecordReader, Stats, pack_event, unpack_event)

START_TIMEOUT = 10.0  # s for the I/O process to open its ports
RESTART_INTERVAL = 0.5  # s between tries to start it again after it ended
EXIT_NO_SERVER, EXIT_SERVER_GONE = 3, 4  # liveimpro.live.io_process's exit codes
MAX_LEAD = 1.0  # s: a lead beyond this is no smoothing's (a clock read wrong): taken as 0
POST_WAIT = 0.5  # s a post waits for room in the commands pipe before its records are dropped
POST_CHUNK = select.PIPE_BUF // RECORD_SIZE * RECORD_SIZE  # whole records, written all or nothing


class IoProcess:
    name = "liveimpro out"  # what duet's banner names as the sink

    def __init__(self, on_midi, on_input_lost=None, say=print, input_name: str | None = None,
                 output_name: str | None = None, barge_in: bool = True, end_cc: int | None = None,
                 synth=None, rtmidi: str | None = None):
        # synth: liveimpro.live.jack_synth.JackMidiSynth, fed by our output, or None; rtmidi: the
        # python-rtmidi API its ports use (liveimpro.live.io_rtmidi), None: JACK-Client's
        self.on_midi, self.on_input_lost, self.say = on_midi, on_input_lost, say
        self.args = (["--in", input_name] if input_name else []) + (["--out", output_name] if output_name else []) \
            + ([] if barge_in else ["--no-barge-in"]) + ([] if end_cc is None else ["--end-cc", str(end_cc)]) \
            + ([] if rtmidi is None else ["--rtmidi", rtmidi])
        self.end_cc = end_cc
        self.synth = synth  # its port is read at each start: a new client after a server restart
        self.fired: tuple[float, int, int] | None = None  # (time, group, id) of the standby the footswitch played
        self.stats = Stats()
        self.timeline_lead = 0.0  # s the I/O process's timeline runs ahead of perf_counter (io_wire's CLOCK_LEAD)
        self.unused_input = 0  # messages of no use here that the I/O process heard and kept (INPUT_UNUSED)
        self.sample_rate = self.period = 0
        self.restarts = 0  # I/O processes started after the first ended
        self.on_first_sent = None  # called with (perf_counter time) when an answer's first note-on was written
        self.on_restarted = None  # called when a new I/O process runs after one that died (not with the server)
        self._proc: subprocess.Popen | None = None
        self._commands: int | None = None  # our end of the commands pipe
        self._lock = threading.Lock()  # one writer at a time on the commands pipe
        self._closing = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._restarting = False  # tries to start it again are under way
        self._relayed: str | None = None  # the last line of its stderr passed on
        self.dropped_commands = 0  # records not posted: the I/O process read none for POST_WAIT s

    def start(self) -> "IoProcess":
        """Start the I/O process and wait for its ports; PortError with its one line if it cannot."""
        problem = self._spawn()
        if problem is not None:
            raise PortError(problem)
        return self

    def _spawn(self) -> str | None:
        commands_read, commands_write = os.pipe()
        events_read, events_write = os.pipe()
        synth = ["--synth", self.synth.port] if self.synth is not None and self.synth.port else []
        proc = subprocess.Popen([sys.executable, "-m", "liveimpro.live.io_process", "--commands", str(commands_read),
                                 "--events", str(events_write), *self.args, *synth],
                                pass_fds=(commands_read, events_write), stderr=subprocess.PIPE, text=True)
        os.close(commands_read)
        os.close(events_write)
        os.set_blocking(commands_write, False)  # post() waits for room itself, POST_WAIT s at most
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
                    elif kind == CLOCK_LEAD:
                        lead = unpack_event(record)[1]
                        self.timeline_lead = lead if abs(lead) < MAX_LEAD else 0.0
                    elif kind == INPUT_UNUSED:  # a count since the I/O process started
                        self.unused_input = int(unpack_event(record)[1])
                    elif kind == FIRED:  # before the footswitch's INPUT record: set before the engine hears it
                        _, t, ident, _, group = unpack_event(record)
                        self.fired = (t, group, ident[0] if ident else 0)
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
        synth = self.synth if code == EXIT_SERVER_GONE else None  # its client went with the server
        if synth is not None:
            synth.lost()
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
        """Records down to the I/O process; nothing (the events are lost) while none runs, and what
        finds no room within POST_WAIT s is dropped and counted (the module docstring says why).
        Written in whole records of at most PIPE_BUF bytes, which a pipe takes all or nothing, so a
        drop never leaves part of a record in the pipe."""
        with self._lock:
            if self._commands is None:
                return
            view, deadline = memoryview(records), time.monotonic() + POST_WAIT
            while view:
                try:
                    view = view[os.write(self._commands, view[:POST_CHUNK]):]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([], [self._commands], [], left)[1]:
                        self.dropped_commands += len(view) // RECORD_SIZE
                        return
                except OSError:  # it ended; the reader thread starts a new one
                    return

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


__all__ = ["IoProcess"]
