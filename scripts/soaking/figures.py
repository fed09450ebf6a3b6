"""The figures of a soak, from what the player sent and heard, duet's output and the session file;
printed as a table (and written as JSON by scripts/soak.py).

Calls answered, barged in on, unanswered, slow; the engine's reaction per phrase (duet's status
lines); answer starts as the player hears them; the scheduler's lateness; messages sent, heard,
dropped, skipped; duet's resident memory and CPU; stuck notes (a note-on from "liveimpro out" without
its note-off or All Notes Off: must be none) and hanging ones (released only by the closing All Notes
Off); with the private server, the JACK cycles each client finished late; whether the session file
is valid.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liveimpro.cli.status import footswitch_of

from .duet import SUMMARY

if TYPE_CHECKING:
    from .session import Soak

HANG_SLACK = 0.005  # s: note-ons this close together are one chord (released together)
IN_FLIGHT = 0.010  # s after the player's first note in which an answer note may still be on its way
SLOW_ANSWER = 4.0  # s after the call's end: later than the longest legitimate wait (2 s silence + a beat)


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
    """Whether duet's --record file reads as MIDI and has a call and an answer track with notes."""
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
    """n, median, p99 and max of the values that are not None."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": int(x.size), "p50": round(float(np.median(x)), 3), "p99": round(float(np.percentile(x, 99)), 3),
            "max": round(float(x.max()), 3)}


def figures(soak: Soak, exit_code, hung: bool, args) -> dict:
    """Every figure of the soak, as written to --json; `exit_code` and `hung`: how duet ended."""
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
        # duet --io-process's count of the footswitch's standby notes (liveimpro.cli.status.io_process_summary)
        "footswitch": footswitch_of(soak.duet.stderr_path.read_text(errors="replace")),
    }


def print_table(f: dict, args) -> None:
    """The figures as a table of labelled rows, problems spelled out below it."""
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
        f"{mb(r['start'])} / {mb(r['after_1_min'])} / {mb(r['end'])}")
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
    if f["footswitch"]:
        row("footswitch (duet's last line)", f["footswitch"])
    for u in f["unanswered_calls"]:
        print(f"  UNANSWERED: {u}")
    for s in f["slow_answers"]:
        print(f"  SLOW: {s}")
    if f["answer_notes_during_calls"]:
        print(f"  ANSWER NOTES DURING CALLS (call, s after its start): {f['answer_notes_during_calls'][:20]}")


def mb(value) -> str:
    """Megabytes with one decimal, or "-" where the figure is missing."""
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
