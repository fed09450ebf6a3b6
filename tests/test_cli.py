"""The `liveimpro` command line itself: help, commands, one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from liveimpro.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveimpro", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: liveimpro")
    listed = " ".join(result.stdout.split())  # argparse wraps long help texts
    for name, (_, help_text) in COMMANDS.items():
        assert f" {name} {' '.join(help_text.split())}" in listed, name


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_help_does_not_import_heavy_libraries():
    probe = ("import sys; from liveimpro.cli import build_parser; build_parser(); "
             "print(sorted(m for m in ('torch', 'music21', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_user_error_is_one_line_without_traceback(capsys, monkeypatch):
    monkeypatch.setenv("LIVEIMPRO_MIDI_API", "oss")
    assert main(["ports"]) == 1
    err = capsys.readouterr().err
    assert err == ("liveimpro ports: error: LIVEIMPRO_MIDI_API='oss' is not a MIDI API: "
                   "choose one of alsa, jack, coremidi, winmm\n")


@pytest.mark.parametrize("signame, sigint", [("SIGINT", "default_int_handler"), ("SIGINT", "SIG_IGN"),
                                              ("SIGTERM", "default_int_handler")])
def test_a_signal_while_the_commands_are_imported_ends_quietly(signame, sigint):
    # the signal is sent from inside the import of a command module (an audit hook), the moment
    # a loaded machine once caught: before any command has installed handlers of its own;
    # SIGINT at Python's default, as a terminal starts it, or ignored, as a shell without job
    # control starts a background job (Python then installs no handler: main() must)
    probe = ("import os, signal, sys\n"
             f"signal.signal(signal.SIGINT, signal.{sigint})\n"
             "from liveimpro.cli import main\n"
             "def hook(event, args):\n"
             "    if event == 'import' and args[0] == 'liveimpro.cli.options':  # imported by the first command module\n"
             f"        os.kill(os.getpid(), signal.{signame})\n"
             "sys.addaudithook(hook)\n"
             "sys.exit(main(['duet']))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
