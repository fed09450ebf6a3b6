"""duet's status: a live line on a terminal, one line per answered phrase in a log.

    show_status(engine, stop, link, say=print)   # until `stop` is set or the engine stops
    status_line(engine.status())                 # "listening | tempo clock 120 bpm | 2:2 | key C major | ..."
    io_process_summary(engine, io)               # duet --io-process's last line: what was heard, written, missed
    footswitch_of(stderr_text)                   # that line's footswitch part, read back by the benchmarks
"""
from __future__ import annotations

import re
import sys
import time

STATUS_INTERVAL = 0.25  # s between refreshes of the terminal status line

LINK_NEWS = {
    "stopped": "Ableton Link: the session's transport stopped; answers follow the player's tempo until it plays",
    "lost": "warning: Ableton Link: nothing from its thread for 0.5 s; answers follow the player's tempo",
    "running": "Ableton Link: following the session again",
}


def show_status(engine, stop, link=None, say=print) -> None:
    """A live status line on a terminal; elsewhere (a log) one line per answered phrase. With
    Link, a line through `say` when following it stops or starts again (LINK_NEWS)."""
    tty, phrases, link_state = sys.stdout.isatty(), 0, "running"
    while not stop.wait(STATUS_INTERVAL) and engine.running:
        s = engine.status()
        if link is not None:
            s["link_peers"] = link.peers
            state = link.state(time.perf_counter())
            if state != link_state:
                link_state = state
                say(f"warning: the Ableton Link thread ended: {link.error}" if link.error else LINK_NEWS[state])
        if not tty and s["phrases"] == phrases:
            continue
        phrases = s["phrases"]
        line = status_line(s)
        print(("\r" + line + "\x1b[K") if tty else line, end="" if tty else "\n", flush=True)
    if tty:
        print()


def status_line(s: dict) -> str:
    """The status line of `Engine.status()`: the tempo in use is the clock's while answers follow a
    running MIDI clock (with the song position's bar:beat), Link's with --link (its bar:beat, and
    `link_peers`, the other apps in the session, when given), else the player's."""
    tempo = f"tempo {s['tempo_source']} {_fmt(s['tempo_bpm'], '{:.0f} bpm')}"
    if s["bar_beat"] is not None:
        tempo += " | {}:{}".format(*s["bar_beat"])
    if s.get("link_peers") is not None:
        tempo += f" | {s['link_peers']} peer" + ("" if s["link_peers"] == 1 else "s")
    return (f"{s['state']:9} | {tempo} | {s['key'] or 'key ?'} | "
            f"temp {s['temperature']:.2f} | {s['mode']} | reaction {_fmt(s['reaction_ms'], '{:.2f} ms')} | "
            f"late p99 {s['late_p99_ms']:.2f} ms | phrases {s['phrases']} | dropped {s['dropped']} "
            f"skipped {s['skipped']}")


def io_process_summary(engine, io) -> str:
    """duet's last line with the real-time I/O process (liveimpro.live.io_link.IoProcess `io`):
    messages, lateness of the writes, and the footswitch's standby notes, the presses that played
    none by why (liveimpro.live.standby)."""
    from ..live.io_link import POST_WAIT

    standby, stats = engine.standby, io.stats
    missed = "".join(f", {count} missed ({why})" for why, count in sorted(standby.missed.items()))
    return (f"liveimpro duet: {engine.phrases} phrases answered; {engine.received} messages heard, "
            f"{engine.dropped} dropped, {sum(vars(engine.live.skipped).values())} skipped; I/O process: "
            f"{stats.sent} events written (late p99 {stats.p99_us / 1e3:.3f} ms, worst {stats.max_us / 1e3:.3f} "
            f"ms), {stats.late_writes} after their {'frame' if io.sample_rate else 'time'}, {stats.dropped} "
            f"input dropped, {io.unused_input} of no use kept back (aftertouch, pitch bend, program change), "
            f"{io.dropped_commands} records to it dropped (it read none for {POST_WAIT:g} s); "
            f"footswitch: {standby.rehearsals} standby notes rehearsed, {standby.fired} played at the press, "
            f"{standby.fired_late} armed after it and played then, {engine.answer.corrected} replaced by the answer's own first note{missed}")


def footswitch_of(text: str) -> str | None:
    """The footswitch part of the last `io_process_summary` line in `text` (duet's stderr), from
    "footswitch:" on without the word; None when there is none (duet without --io-process)."""
    found = re.findall(r"footswitch: (.*)$", text, re.M)
    return found[-1] if found else None


WRITES = re.compile(r"I/O process: (\d+) events written \(late p99 ([\d.]+) ms, worst ([\d.]+) ms\), (\d+) after "
                    r"their (frame|time)")


def writes_of(text: str) -> dict | None:
    """The answer's writes in the last `io_process_summary` line in `text` (duet's stderr): events
    written, their lateness's p99 and worst (ms), how many came after their frame (or time, on the
    rtmidi loop); None when there is none (duet without the I/O process)."""
    found = WRITES.findall(text)
    if not found:
        return None
    sent, p99, worst, late, unit = found[-1]
    return {"events": int(sent), "late_p99_ms": float(p99), "worst_ms": float(worst), "late": int(late), "after": unit}


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


__all__ = ["show_status", "status_line", "io_process_summary", "footswitch_of", "writes_of", "LINK_NEWS"]
