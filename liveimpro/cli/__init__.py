"""The `liveimpro` command line: one sub-command per module, imported only when used.

Each command module defines `add_arguments(parser)` and `run(args) -> int`.
Errors that a user can act on are raised as `liveimpro.errors.UserError` and
printed as one line, never as a traceback (`run_reporting_errors`, which the
scripts in scripts/ use too).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from typing import Callable

from ..errors import UserError
from ..machine import stacks_on_request

# name -> (module, one-line help). The module is imported only when its command runs,
# so `liveimpro --help` and `liveimpro ports` start fast (no torch import).
COMMANDS: dict[str, tuple[str, str]] = {
    "duet": ("liveimpro.cli.duet", "play a phrase, hear an answer: the live engine on MIDI ports"),
    "demo": ("liveimpro.cli.demo", "two calls through the engine, no hardware needed; MIDI, WAV, PNG"),
    "evaluate": ("liveimpro.cli.evaluate", "score models and baselines in bits per note"),
    "ports": ("liveimpro.cli.ports", "list MIDI input and output ports and the MIDI backend in use"),
    "respond": ("liveimpro.cli.respond", "answer a call in a MIDI file, offline, as the engine would"),
    "sample": ("liveimpro.cli.sample", "melodies decoded from random points of the melody VAE"),
    "morph": ("liveimpro.cli.morph", "morph one melody into another through the melody VAE, step by step"),
    "vary": ("liveimpro.cli.vary", "variations of a phrase from the melody VAE"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveimpro", description="A real-time MIDI improviser.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    _interrupt_on_signals()
    stacks_on_request()  # `kill -USR2 PID`: every thread's stack on stderr (a hang report)
    try:  # a signal while Python still compiles and imports the commands ends it quietly too
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        return 130
    if args.command is None:
        parser.print_help()
        return 2
    # warnings of the modules (a port gone, a session file not written) as one line each
    logging.basicConfig(level=logging.WARNING, format=f"liveimpro {args.command}: warning: %(message)s")
    return run_reporting_errors(f"liveimpro {args.command}", lambda: importlib.import_module(args._module).run(args))


def _interrupt_on_signals() -> None:
    """SIGTERM and SIGINT end a command as Ctrl-C does (KeyboardInterrupt: `finally` blocks run,
    status 130, no traceback) from the first instant, until a command installs handlers of its own
    (duet does). SIGINT too, because a process started with it ignored (a background job of a shell
    without job control) gets no handler from Python, and duet handles it anyway once its modules
    are imported: a Ctrl-C meant for it must not be lost in the seconds torch takes to import."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, interrupt)


def run_reporting_errors(name: str, function: Callable[..., int | None], *args) -> int:
    """`function(*args)`'s exit status (None: 0), for `liveimpro` and the scripts in scripts/ alike.

    A UserError is one line on stderr, `NAME: error: message`, and status 1, never a traceback;
    Ctrl-C (KeyboardInterrupt) is status 130, quietly, as a shell reports a program ended by SIGINT.
    Anything else is a bug, and its traceback shows."""
    try:
        return function(*args) or 0
    except UserError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
