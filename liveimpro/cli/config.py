"""The config file: the defaults of the answering commands' options, so a musician does not retype flags.

    # ~/.config/liveimpro/config.toml  ($XDG_CONFIG_HOME/liveimpro/config.toml; or --config FILE)
    in = "Keystation"
    temperature = 1.1
    record = "~/liveimpro-sessions"

    [cc]
    end = 85

The file fills the options' defaults; flags override it. `install(parser, keys)` adds `--config FILE`
and wraps the parser's `parse_known_args`: a small pre-parser finds `--config`, the file is read, and
its values go into the namespace before argparse fills it (a flag still replaces them; a default does
not). The settings are then built from the arguments as always (`options.build_responder`).

Every key is checked as the file is read: an unknown key, a wrong type or range, a TOML syntax error
are one-line UserErrors naming the file and the key (or line). The parse never fails on the file: the
error is kept and the command raises it first (`raise_config_error`), so it prints as every error
does. `settings_toml` writes the settings in effect as such a file (`liveimpro duet --print-config`).
Each value is read and checked by its reader in `config_values.py`.
"""
from __future__ import annotations

import argparse
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..music.settings import LENGTH_MODES, MODES, LiveSettings
from . import config_values as read

MAX_BYTES = 1 << 20  # a config file is a few lines; a bigger one is not read


KEYS = {
    "in": ("input", read.text), "out": ("output", read.text), "api": ("api", read.api),
    "lstm": ("lstm", read.path), "vae": ("vae", read.path),
    "soundfont": ("soundfont", read.path), "program": ("program", read.whole(0, 127)), "channel": ("channel", read.whole(1, 16)),
    "temperature": ("temperature", read.number()), "top_p": ("top_p", read.number()),
    "length_mode": ("length_mode", read.choice(*LENGTH_MODES)), "length_ratio": ("length_ratio", read.number()),
    "mode": ("mode", read.choice(*MODES)), "amount": ("amount", read.number()), "scale": ("scale", read.text),
    "silence_beats": ("silence_beats", read.number(0.0, "a number > 0")), "meter": ("meter", read.meter),
    "bars": ("bars", read.whole(1)),
    "sync": ("sync", read.choice("bar", "beat")), "link": ("link", read.boolean),
    "io_process": ("io_process", read.choice("auto", "jack", "rtmidi", "none")),
    "record": ("record", read.record), "adapt": ("adapt", read.boolean),
    "cc": ("cc", read.cc),
}
ANSWER_KEYS = ("lstm", "vae", "channel", "temperature", "top_p", "length_mode", "length_ratio", "mode", "amount",
               "scale", "adapt")  # every command that answers a call (options.add_answer_arguments)
DUET_KEYS = tuple(KEYS)
RESPOND_KEYS = ANSWER_KEYS + ("silence_beats",)
# what an unset key means, and an example value, for --print-config's comment lines
UNSET = {
    "in": ('"Keystation"', 'a virtual port "liveimpro in"'),
    "out": ('"Synth"', 'a virtual port "liveimpro out"'),
    "api": ('"alsa"', "$LIVEIMPRO_MIDI_API, else the first that works"),
    "soundfont": ('"/usr/share/sounds/sf2/FluidR3_GM.sf2"', "the first General MIDI soundfont found"),
    "scale": ('"D dorian"', 'the key estimated from the calls; "free": no key'),
    "bars": ("4", "a phrase ends on silence or the end CC"),
    "io_process": ('"none"', "the real-time I/O process (on JACK when a server runs and api is jack or unset, else "
                             "on python-rtmidi's ports); none with synth off JACK, and on Windows"),
    "record": ('"~/liveimpro-sessions"', "liveimpro-session-DATE-TIME.mid in the current folder; false: none"),
}


@dataclass
class Loaded:
    """The config file a parse read: where, how messages name it, and its values by option dest."""
    path: Path | None  # None: no file (the default one is missing, or reading failed)
    shown: str
    values: dict = field(default_factory=dict)
    error: UserError | None = None  # what was wrong with it; raised by the command (raise_config_error)


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".config") / "liveimpro" / "config.toml"


def shown_path(path: Path) -> str:
    """`path` with the home folder as ~."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def load(explicit: Path | None = None) -> Loaded:
    """The values of `explicit` (an error if it is missing) or of the default file (none if missing)."""
    path = explicit if explicit is not None else default_path()
    shown = str(explicit) if explicit is not None else shown_path(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        if explicit is None:
            return Loaded(None, shown)
        raise UserError(f"{shown}: no such config file") from None
    except OSError as exc:
        raise UserError(f"{shown}: cannot read the config file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"{shown}: more than {MAX_BYTES:,} bytes; not a config file")
    import tomllib

    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{shown}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{shown}: not valid TOML: {exc}") from None
    values = {}
    try:
        for key, value in table.items():
            if key not in KEYS:
                close = difflib.get_close_matches(key, KEYS, n=1)
                raise UserError(f'unknown key "{key}"' + (f" (did you mean {close[0]}?)" if close
                                                          else f"; the keys are {', '.join(KEYS)}"))
            dest, check = KEYS[key]
            values[dest] = check(key, value, path.parent)
        settings = {name: values[name] for name in ("temperature", "top_p", "length_mode", "length_ratio", "mode",
                                                    "amount") if name in values}
        LiveSettings(**settings, scale=None if values.get("scale") in (None, "free") else values["scale"])
    except UserError as exc:
        raise UserError(f"{shown}: {exc}") from None
    return Loaded(path, shown, values)


class _NoOption(Exception):
    pass


class _PreParser(argparse.ArgumentParser):
    def error(self, message):  # the real parse reports it
        raise _NoOption


_PRE = _PreParser(add_help=False)
_PRE.add_argument("--config", type=Path)


def install(parser: argparse.ArgumentParser, keys: tuple[str, ...]) -> None:
    """Add --config FILE to `parser`; the file's values for `keys` become its defaults (see the module)."""
    parser.add_argument("--config", metavar="FILE", type=Path, default=None,
                        help=f"TOML file of this command's defaults (default: {shown_path(default_path())}, "
                             "if it exists); flags override it")
    parse = parser.parse_known_args
    dests = {KEYS[key][0] for key in keys}

    def parse_known_args(args=None, namespace=None):
        namespace = argparse.Namespace() if namespace is None else namespace
        try:
            explicit = _PRE.parse_known_args(args)[0].config
        except _NoOption:
            explicit = None
        try:
            loaded = load(explicit)
        except UserError as exc:
            loaded = Loaded(None, "", error=exc)
        for dest, value in loaded.values.items():
            if dest in dests and not hasattr(namespace, dest):
                setattr(namespace, dest, value)
        namespace._config = loaded
        return parse(args, namespace)

    parser.parse_known_args = parse_known_args


def raise_config_error(args) -> None:
    """The config file's problem, if it had one: a command calls this first."""
    loaded = getattr(args, "_config", None)
    if loaded is not None and loaded.error is not None:
        raise loaded.error


def settings_toml(args, keys: tuple[str, ...], command: str) -> str:
    """The settings `args` hold, as a config file (one that gives the same settings back)."""
    from ..live.controls import CONTROLS, ControlMap, parse_cc_option

    loaded = getattr(args, "_config", None)
    if loaded is not None and loaded.path is not None:
        lines = [f"# settings of liveimpro {command}: the defaults, then {loaded.shown}, then the command line"]
    else:
        lines = [f"# settings of liveimpro {command}: the defaults, then the command line "
                 f"(no config file at {shown_path(default_path())})"]
    for key in keys:
        value = getattr(args, KEYS[key][0])
        if key == "cc":
            continue
        if value is None:
            example, meaning = UNSET[key]
            lines.append(f"# {key} = {example}  # not set: {meaning}")
        else:
            lines.append(f"{key} = {read.toml_value(os.path.abspath(value) if isinstance(value, Path) else value)}")
    if "cc" in keys:
        ccs = (parse_cc_option(args.cc) if args.cc else ControlMap()).ccs
        lines += ["", "[cc]"] + [f"{name} = {read.toml_value(ccs.get(name, 'none'))}" for name in CONTROLS]
    return "\n".join(lines) + "\n"




__all__ = ["KEYS", "ANSWER_KEYS", "DUET_KEYS", "RESPOND_KEYS", "Loaded", "default_path", "load", "install",
           "raise_config_error", "settings_toml"]
