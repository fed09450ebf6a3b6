"""End-to-end reaction of the live engine on real JACK ports, against the floor a trivial client sets.

    .venv/bin/python scripts/bench_e2e.py [--calls 50] [--conditions quiet flood hog]
                                        [--flood-rate 5000] [--hog-cores N]
                                        [--subjects floor liveimpro liveimpro-io liveimpro-rtmidi]
                                        [--server NAME] [--json PATH] [--workdir DIR]

A measuring script, not a test: it prints figures and gates nothing on time. It starts a private
JACK server (dummy driver, `JackServer.for_purpose("bench")`) unless --server names a running one.
This process is the player (scripts/e2e/player.py): in one poll loop at SCHED_FIFO it plays N calls
of eight eighth notes at 120 bpm into a subject's input, presses CC 64 = 127 right after each
call's last note-off, listens until the answer has started and ended (or --answer-timeout passes:
the call is counted unanswered), then lifts the pedal. Reaction = first answer note-on taken off
its input - the pedal press handed to JACK, both perf_counter in this process.

Subjects, each in its own process:
- floor: scripts/e2e/floor.py, a python-rtmidi JACK client that sends a note-on as soon as it reads
  the pedal: two JACK hops and two polls, the least any answer can take on this server;
- liveimpro: `python -m liveimpro duet --api jack --cc end=64 --seed 1 --io-process none`, its ports
  on threads of duet's own process (its session file and output in a temporary folder; an empty
  config folder, so a developer's config.toml changes nothing);
- liveimpro-io: the same with `--io-process jack` (duet's default on JACK): its JACK ports in the
  real-time I/O process;
- liveimpro-rtmidi: the same with `--io-process rtmidi`: the I/O process on python-rtmidi's JACK
  ports, its events sent by a loop that sleeps and spins (the path for ALSA, CoreMIDI, Windows MM).
Conditions, each run for every subject: quiet; flood (a second output of the player sends
--flood-rate messages/s, 5,000 by default, of polyphonic aftertouch and pitch bend into the same
input throughout); hog (`python -c "while True: pass"` at normal priority on --hog-cores cores,
every core by default, for the condition's duration: a DAW and a browser beside a live tool).
Figures before 2026-12-04 were taken with a 2,000 msg/s flood and one hogged core.

Printed: the machine, the command, the date; per condition and subject the calls answered, the
reaction's median, p99 and max (ms), and each duet's ratio to the floor of median and p99 with its
p99 less the floor's (duet's own reaction, decision -> note handed to its port, from its status
lines, in the JSON). Under an I/O process's row: its footswitch counts, and the answer's timing at
the port from its last line (each event's frame written against the frame meant on JACK, its send
against its time on the rtmidi loop: p99, worst, and how many came after); on a private server,
under every row, the dummy driver's late cycles meanwhile (jackd's XRun lines: how many, how many
over 2 ms, the worst), which delay every client's cycle, the floor's too. --json PATH
writes every raw figure. Every process started is ended, and the private server stopped, on any
exit (Ctrl-C or SIGTERM included). Exit status 1 when a subject failed, 2 with no JACK server,
130 when interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
# scripts/e2e/: Python runs a script with the script's own folder first on its module search path
from e2e.player import Player, realtime
from e2e.subjects import Subject, end, end_all, start_hog, subject_env

from liveimpro.cli import run_reporting_errors
from liveimpro.machine import machine_info

SUBJECTS = ("floor", "liveimpro", "liveimpro-io", "liveimpro-rtmidi")
DEFAULT_SUBJECTS = ("floor", "liveimpro", "liveimpro-io")
CONDITIONS = ("quiet", "flood", "hog")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_subject(name: str, condition: str, args, env: dict, workdir: Path) -> dict:
    """Start the subject, play it --calls calls, end it: the raw figures of one table row."""
    subject = Subject(name, env, workdir, args.seed, condition)
    player = None
    try:
        subject.wait_ready()
        player = Player(subject.ports, args.flood_rate if condition == "flood" else 0, args.pedal_delay / 1e3)
        calls = []
        with realtime() as granted:  # the subprocesses are all started: none inherits it
            for _ in range(args.calls):
                if subject.proc.poll() is not None:
                    raise RuntimeError(f"{name} exited during the run ({subject.proc.returncode}): "
                                       f"{subject.stderr_tail()}")
                calls.append(player.call(args.answer_timeout, args.quiet))
    finally:
        if player is not None:
            player.close()
        status = subject.end()
    reactions = [c["reaction_ms"] for c in calls if c["reaction_ms"] is not None]
    return {"played": len(calls), "answered": len(reactions), "unanswered": len(calls) - len(reactions),
            "reaction_ms": reactions, "calls": calls, "flood_sent": player.flood_sent, "heard": player.heard,
            "player_sched_fifo": granted, "engine_reaction_ms": subject.engine_reactions_ms(),
            "exit_status": status, "footswitch": subject.footswitch_summary(), "writes": subject.writes(),
            **stats(reactions)}


def stats(x: list[float]) -> dict:
    if not x:
        return {"median_ms": None, "p99_ms": None, "max_ms": None}
    return {"median_ms": float(np.median(x)), "p99_ms": float(np.percentile(x, 99)), "max_ms": float(max(x))}


def row(condition: str, name: str, r: dict) -> str:
    figures = "".join(f"{'-' if r[k] is None else format(r[k], '.2f'):>9}" for k in ("median_ms", "p99_ms", "max_ms"))
    return f"{condition:10}{name:14}{str(r['answered']) + '/' + str(r['played']):>9}{figures}"


def ratio_row(condition: str, name: str, floor: dict, product: dict) -> tuple[str, dict]:
    """`name`'s median and p99 against the floor's, and its p99 less the floor's (the goal: <= 1 ms)."""
    ratios = {k: (product[k] / floor[k] if product[k] and floor[k] else None) for k in ("median_ms", "p99_ms")}
    above = product["p99_ms"] - floor["p99_ms"] if product["p99_ms"] and floor["p99_ms"] else None
    text = "  ".join(f"{k[:-3]} {'-' if v is None else format(v, '.1f') + 'x'}" for k, v in ratios.items())
    text += f"  p99 - floor p99 {'-' if above is None else format(above, '+.2f') + ' ms'}"
    return f"{condition:10}{'ratio ' + name + '/floor:':26}{text}", {**ratios, "p99_above_floor_ms": above}


def writes_line(w: dict) -> str:
    """The answer's timing at the port, as duet's I/O process measured it (written against meant)."""
    return (f"answer events at the port: {w['events']} written, late p99 {w['late_p99_ms']:.3f} ms, worst "
            f"{w['worst_ms']:.3f} ms, {w['late']} after their {w['after']}")


def xruns(log: str) -> dict:
    """The dummy driver's late cycles in a stretch of jackd's log ("JackTimedDriver::Process XRun =
    N usec": its timer woke that late, and every client's cycle with it): a reaction slower than
    the floor's in a row with a late cycle of that size was very likely JACK's, not the subject's."""
    late = [int(m) / 1e3 for m in re.findall(r"XRun = (\d+) usec", log)]
    return {"count": len(late), "worst_ms": max(late, default=0.0), "over_2ms": sum(x > 2.0 for x in late)}


def xruns_line(x: dict) -> str:
    return (f"JACK meanwhile: {x['count']} late cycles (XRuns), {x['over_2ms']} over 2 ms, worst "
            f"{x['worst_ms']:.2f} ms")


def interrupt(*_) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="calls per condition and subject (default 50; "
                        "fewer make the p99 little more than the maximum)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
                        help="which conditions to run (default: all three)")
    parser.add_argument("--subjects", nargs="+", choices=SUBJECTS, default=list(DEFAULT_SUBJECTS),
                        help="which subjects to measure (default: the floor, duet, duet --io-process; "
                             "the ratios need the floor)")
    parser.add_argument("--server", default=None, help="a running JACK server to use; default: a private one")
    parser.add_argument("--json", type=Path, default=None, help="also write every raw figure to this JSON file")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where duet's output, its session files and jackd's log go (kept); default: a "
                             "temporary folder, removed unless a call went unanswered or a subject failed")
    parser.add_argument("--flood-rate", type=int, default=5000, help="flood messages per second (default 5000)")
    parser.add_argument("--hog-cores", type=int, default=os.cpu_count() or 1,
                        help="cores the hog condition spins (default: every core, here %(default)s)")
    parser.add_argument("--answer-timeout", type=float, default=5.0,
                        help="seconds after the pedal with no answer note-on: unanswered (default 5)")
    parser.add_argument("--quiet", type=float, default=1.0,
                        help="seconds with no note sounding and nothing heard that end an answer (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="duet --seed (default 1)")
    parser.add_argument("--pedal-delay", type=float, default=0.0, metavar="MS",
                        help="ms between the call's last note-off and the pedal press (default 0: at once)")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if args.hog_cores < 1:
        parser.error("--hog-cores must be at least 1")

    from liveimpro.errors import UserError
    from liveimpro.jackserver import JackServer, is_running
    # A signal while jackd starts is held (raised there, it would leave a server nobody stops), then
    # SIGINT, SIGTERM and SIGHUP end the run as Ctrl-C does, through the finally below (SIGINT set
    # here too: a shell's background job starts with it ignored, and `kill -INT` should still work)
    held = []
    for signum in SIGNALS:
        signal.signal(signum, lambda *_: held.append(True))
    os.environ["JACK_NO_START_SERVER"] = "1"  # no client of ours starts a server if the one we use is gone
    command = " ".join([os.path.relpath(sys.executable)] + sys.argv)
    server = None
    if args.server:
        if not is_running(args.server):
            print(f"bench_e2e: no JACK server {args.server!r} is running", file=sys.stderr)
            return 2
        os.environ["JACK_DEFAULT_SERVER"] = args.server
    else:
        try:
            server = JackServer.for_purpose("bench")
        except UserError as exc:
            print(f"bench_e2e: {exc}", file=sys.stderr)
            return 2
    server_name = os.environ["JACK_DEFAULT_SERVER"]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="liveimpro-bench-e2e-"))
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    env = subject_env(server_name, workdir)
    print(f"machine: {machine_info()}")
    print(f"command: {command}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}; JACK server {server_name!r}" +
          (f" (private, dummy driver, period {server.period_ms:.2f} ms)" if server else ""))
    print(f"conditions: {' '.join(args.conditions)} (flood {args.flood_rate} messages/s, hog on "
          f"{args.hog_cores} core{'s' * (args.hog_cores > 1)} at normal priority)")
    if args.calls < 50:
        print(f"note: {args.calls} calls: the p99 of fewer than 50 is little more than the maximum")
    print(f"\nreaction: CC 64 press sent -> first answer note-on received, in the player's process (ms)\n"
          f"{'condition':10}{'subject':12}{'answered':>9}{'median':>9}{'p99':>9}{'max':>9}", flush=True)
    results, ratios, failed, interrupted = {}, {}, None, False
    try:
        for signum in SIGNALS:
            signal.signal(signum, interrupt)
        if held:
            raise KeyboardInterrupt
        for condition in args.conditions:
            hogs = [start_hog(env) for _ in range(args.hog_cores if condition == "hog" else 0)]
            results[condition] = {}
            for name in args.subjects:
                mark = len(server.log_text()) if server is not None else None
                results[condition][name] = r = run_subject(name, condition, args, env, workdir)
                print(row(condition, name, r), flush=True)
                if mark is not None:
                    r["jack_xruns"] = xruns(server.log_text()[mark:])
                    print(f"{'':22}{xruns_line(r['jack_xruns'])}", flush=True)
                if r["footswitch"]:
                    print(f"{'':22}footswitch: {r['footswitch']}", flush=True)
                if r["writes"]:
                    print(f"{'':22}{writes_line(r['writes'])}", flush=True)
            for hog in hogs:
                end(hog)
            for name in args.subjects:
                if name != "floor" and "floor" in args.subjects:
                    text, ratios.setdefault(condition, {})[name] = ratio_row(
                        condition, name, results[condition]["floor"], results[condition][name])
                    print(text, flush=True)
    except (RuntimeError, UserError) as exc:  # a subject that did not start, died, or whose ports were not found
        failed = str(exc)
        print(f"bench_e2e: {failed}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("bench_e2e: interrupted", file=sys.stderr)
    finally:
        end_all()
        if server is not None:
            (workdir / "jackd.txt").write_text(server.log_text())  # clients late for a cycle, if any
            server.stop()
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine_info(), "command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "server": server_name, "private_server": server is not None,
            "calls": args.calls, "flood_rate": args.flood_rate, "hog_cores": args.hog_cores, "answer_timeout_s": args.answer_timeout,
            "quiet_s": args.quiet, "seed": args.seed, "pedal_delay_ms": args.pedal_delay, "results": results, "ratio_to_floor": ratios,
            "failed": failed, "interrupted": interrupted}, indent=1))
    unanswered = sum(r["unanswered"] for by_subject in results.values() for r in by_subject.values())
    if failed or unanswered or args.workdir:  # kept for a diagnosis
        print(f"kept: {workdir} (duet's and the floor's output, the session files)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("bench_e2e", main))
