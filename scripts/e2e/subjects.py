"""The processes bench_e2e.py starts: the subjects it measures (the floor forwarder, `liveimpro
duet`) and the CPU hog. Each runs in a session of its own, so that Ctrl-C on the terminal reaches
only the benchmark, which then ends them in order (`end_all`, from its `finally`)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from liveimpro.cli.status import footswitch_of, writes_of
from liveimpro.jackserver import run_jack_tool

FLOOR = Path(__file__).with_name("floor.py")
STARTED: list[subprocess.Popen] = []  # every process started here, for end_all()
# ports (part of the name) the player plays into / listens to, per subject
PORTS = {"floor": ("floor in", "floor out"), "liveimpro": ("liveimpro in", "liveimpro out"),
         "liveimpro-io": ("liveimpro in", "liveimpro out"), "liveimpro-rtmidi": ("liveimpro in", "liveimpro out")}


def _spawn(argv: list[str], env: dict, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    STARTED.append(proc)
    return proc


class Subject:
    """A subject's process, started and waited for until its two ports exist."""

    def __init__(self, name: str, env: dict, workdir: Path, seed: int, tag: str):
        self.name = name
        self.ports = PORTS[name]
        self.stdout_path = workdir / f"{name}-{tag}-stdout.txt"
        self.stderr_path = workdir / f"{name}-{tag}-stderr.txt"
        if name == "floor":
            argv = [sys.executable, str(FLOOR)]
        else:  # the product as a musician starts it; the session file goes to the work folder, not here
            argv = [sys.executable, "-m", "liveimpro", "duet", "--api", "jack", "--cc", "end=64", "--seed", str(seed),
                    "--record", str(workdir / f"session-{name}-{tag}.mid")]
            # each subject names its path: duet's default on JACK is the I/O process
            argv += ["--io-process", {"liveimpro": "none",  # its ports on threads of duet's own process
                                      "liveimpro-io": "jack",  # the real-time I/O process (liveimpro.live.io_process)
                                      "liveimpro-rtmidi": "rtmidi"}[name]]  # on python-rtmidi's ports (io_rtmidi)
        self.argv = argv
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = _spawn(argv, env, out, err)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until JACK lists both ports (duet: and it says it listens, once its input is read)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start ({self.proc.returncode}): {self.stderr_tail()}")
            listing = run_jack_tool(["jack_lsp"], capture_output=True, text=True).stdout
            if all(port in listing for port in self.ports) and (
                    self.name == "floor" or "listening on" in self.stdout_path.read_text(errors="replace")):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}'s ports did not appear within {timeout:.0f} s: {self.stderr_tail()}")

    def stderr_tail(self, chars: int = 1500) -> str:
        return self.stderr_path.read_text(errors="replace")[-chars:].strip()

    def engine_reactions_ms(self) -> list[float | None]:
        """duet's own reaction per answered phrase (its status lines, one per phrase when stdout is a
        file): phrase-end decision -> first answer note handed to its output port; None where it
        timed none ("reaction -")."""
        text = self.stdout_path.read_text(errors="replace") if self.name != "floor" else ""
        return [float(x) if x else None for x in re.findall(r"\| reaction (?:([\d.]+) ms|-)", text)]

    def footswitch_summary(self) -> str | None:
        """What duet --io-process said of the footswitch at its end (its last line, from
        "footswitch:" on: standby notes rehearsed, played at the press, missed and why)."""
        return None if self.name == "floor" else footswitch_of(self.stderr_path.read_text(errors="replace"))

    def writes(self) -> dict | None:
        """What duet's last line said of the answer's writes at its port (status.writes_of): their
        lateness against the frame (JACK) or time (the rtmidi loop) each was meant for."""
        return None if self.name == "floor" else writes_of(self.stderr_path.read_text(errors="replace"))

    def end(self) -> int | None:
        return end(self.proc, grace=20.0)


def start_hog(env: dict) -> subprocess.Popen:
    """One core spinning at normal priority: a build or a browser tab on the musician's machine."""
    return _spawn([sys.executable, "-c", "while True: pass"], env)


def end(proc: subprocess.Popen, grace: float = 5.0) -> int | None:
    """SIGTERM, SIGKILL after `grace` s; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def end_all() -> None:
    """Every process started here that still runs (the `finally` of a run cut short)."""
    while STARTED:
        end(STARTED.pop())


def subject_env(server: str, workdir: Path) -> dict:
    # XDG_CONFIG_HOME: an empty config folder, so the developer's own config.toml (another end CC,
    # other ports) does not change what is measured; JACK_NO_START_SERVER: no client ever starts a
    # server of its own if ours went away
    return {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1",
            "XDG_CONFIG_HOME": str(workdir / "config")}
