"""Soak: minutes of continuous call-and-response with random calls against `liveimpro duet` on real JACK ports.

    .venv/bin/python scripts/soak.py [--minutes 10] [--seed 0] [--server NAME] [--json PATH] [--mode answer]
                                     [--io-process [jack|rtmidi|none]]

The product runs as a musician meets it: `python -m liveimpro duet --api jack --record SESSION` in
its own process (JACK_DEFAULT_SERVER names the server: a private one with the dummy driver, or
`--server NAME`). This process is the player: a JACK output connected to "liveimpro in", a JACK
input connected to "liveimpro out". It sends each message at its time (sleeps until 1 ms before,
then spins), and the thread reading its input only appends (perf_counter, message).

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

This file is the command line; the parts are in scripts/soaking/: calls.py (the random calls),
player.py (the player's JACK ports), duet.py (duet's process and its status lines), session.py (the
call-and-response loop), figures.py (the figures and their table).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

# scripts/soaking/: Python runs a script with the script's own folder first on its module search path
from soaking.duet import Duet
from soaking.figures import count_xruns, figures, print_table
from soaking.player import Player
from soaking.session import Soak

from liveimpro.cli import run_reporting_errors


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    parser.add_argument("--io-process", nargs="?", const="jack", choices=("jack", "rtmidi", "none"), default=None,
                        help="duet --io-process [jack|rtmidi|none]: its ports in the real-time I/O process "
                             "(liveimpro.live.io_process; rtmidi: python-rtmidi's ports, liveimpro.live.io_rtmidi) "
                             "or, none, on threads of duet's own process; default: duet's default (jack on JACK)")
    args = parser.parse_args()
    if args.max_notes < 2:
        parser.error("--max-notes must be at least 2")
    if not 20 <= args.bpm[0] <= args.bpm[1] <= 300:
        parser.error("--bpm wants LOW <= HIGH, both in 20..300")

    from liveimpro.errors import UserError
    from liveimpro.jackserver import JackServer
    from liveimpro.live.controls import ControlMap, parse_cc_option
    from liveimpro.machine import set_on_signals
    args.end_cc = (parse_cc_option(args.cc) if args.cc else ControlMap()).end_cc
    # the receive callback runs in JACK's process thread and needs the GIL: while the sender spins,
    # hand it over within 0.2 ms (a late JACK client loses MIDI, see count_xruns)
    sys.setswitchinterval(0.0002)

    stop = set_on_signals(signal.SIGINT, signal.SIGTERM)  # (a threading.Event set by a handler can deadlock)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="liveimpro-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args.session = str(workdir / "session.mid")
    server = None
    if args.server:
        os.environ["JACK_DEFAULT_SERVER"] = args.server
    else:
        try:
            server = JackServer.for_purpose("soak")
        except UserError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 2
    name = os.environ["JACK_DEFAULT_SERVER"]
    argv = [sys.executable, "-m", "liveimpro", "duet", "--api", "jack", "--record", args.session, "--seed",
            str(args.seed), "--mode", args.mode, "--silence-beats", str(args.silence_beats), "--length-ratio",
            str(args.length_ratio)] + (["--cc", args.cc] if args.cc else []) + \
        (["--model", args.model] if args.model else []) + (["--io-process", args.io_process] if args.io_process else [])
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
    sys.exit(run_reporting_errors("soak", main))
