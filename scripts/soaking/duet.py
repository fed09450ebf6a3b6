"""`liveimpro duet` in its own process, as a musician runs it: its stdout read by a thread, its
per-phrase status lines parsed, its memory and CPU read from /proc, ended with SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

# a per-phrase status line (printed when duet's stdout is not a terminal), and the summary at its exit
STATUS = re.compile(r"^(?P<state>\w+)\s*\|\s*tempo (?P<source>\w+) (?:(?P<bpm>[\d.]+) bpm|-)\s*\|.*\|\s*reaction "
                    r"(?:(?P<reaction>[\d.]+) ms|-)\s*\|\s*late p99 (?P<late>[\d.]+) ms\s*\|\s*phrases "
                    r"(?P<phrases>\d+)\s*\|\s*dropped (?P<dropped>\d+) skipped (?P<skipped>\d+)")
SUMMARY = re.compile(r"(\d+) phrases answered; (\d+) messages heard, (\d+) dropped, (\d+) skipped")


class Duet:
    """duet running `argv` in a new session (Ctrl-C on the terminal does not reach it), its stderr in
    `workdir`/duet-stderr.txt, its stdout lines collected with the time each was read."""

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
