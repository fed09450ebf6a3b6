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
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..music.settings import LENGTH_MODES, MODES, LiveSettings

MAX_BYTES = 1 << 20  # a config file is a few lines; a bigger one is not read


def _expected(key: str, what: str, value) -> UserError:
    return UserError(f"{key} must be {what}, got {_got(value)}")


def _got(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (bool, int, float, str)):
        return _toml(value)
    return str(value)  # a TOML date or time


def _text(key, value, base):
    if not isinstance(value, str) or not value.strip():
        raise _expected(key, "a string", value)
    return value


def _path(key, value, base):
    """A path: `~` expanded, relative to the file's folder."""
    return base / Path(_text(key, value, base)).expanduser()


def _number(low: float = float("-inf"), what: str = "a number"):
    def check(key, value, base):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
            raise _expected(key, what, value)
        return float(value)
    return check


def _whole(low: int, high: int | None = None):
    def check(key, value, base):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise _expected(key, f"a whole number {low}..{high}" if high is not None else f"a whole number >= {low}",
                            value)
        return value
    return check


def _choice(*choices: str):
    def check(key, value, base):
        if value not in choices or not isinstance(value, str):
            raise _expected(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
        return value
    return check


def _api(key, value, base):
    from ..midi.ports import RTMIDI_APIS  # rtmidi: only when a file names an API
    return _choice(*RTMIDI_APIS)(key, value, base)


def _boolean(key, value, base):
    if not isinstance(value, bool):
        raise _expected(key, "true or false", value)
    return value


def _record(key, value, base):
    """false: no recording; true: the default file here; a path: a .mid file, or a folder for dated files."""
    if value is True:
        return None
    if value is False:
        return False
    if not isinstance(value, str) or not value.strip():
        raise _expected(key, 'true, false or a path (a .mid file or a folder)', value)
    return _path(key, value, base)


def _meter(key, value, base) -> str:
    """A meter "N/D" (liveimpro.midi.clock.parse_meter), kept as its text: "6/8"."""
    from ..midi.clock import meter_problem, parse_meter

    problem = meter_problem(value)
    if problem is not None:
        raise _expected(key, '"' + problem.replace("N/D", "N/D\"", 1), value)
    return "{}/{}".format(*parse_meter(value))


def _cc(key, value, base) -> str:
    """The [cc] table as a --cc SPEC (the command line's --cc replaces it whole)."""
    from ..live.controls import ALIASES, CONTROLS, parse_cc_option

    if not isinstance(value, dict):
        raise _expected(key, "a table of CONTROL = CC number", value)
    parts = []
    for name, number in value.items():
        if ALIASES.get(name, name) not in CONTROLS:
            raise UserError(f"{key}.{name} is not a control; the controls are {', '.join(CONTROLS)}")
        if not (number == "none" or (type(number) is int and 0 <= number <= 127)):
            raise _expected(f"{key}.{name}", 'a CC number 0..127 or "none"', number)
        parts.append(f"{name}={number}")
    spec = ",".join(parts)
    try:
        parse_cc_option(spec)
    except UserError as exc:
        raise UserError(f"{key}: {exc}") from None
    return spec


# key -> (the option's dest, its check); in the order --print-config prints them
KEYS = {
    "in": ("input", _text), "out": ("output", _text), "api": ("api", _api),
    "lstm": ("lstm", _path), "vae": ("vae", _path),
    "soundfont": ("soundfont", _path), "program": ("program", _whole(0, 127)), "channel": ("channel", _whole(1, 16)),
    "temperature": ("temperature", _number()), "top_p": ("top_p", _number()),
    "length_mode": ("length_mode", _choice(*LENGTH_MODES)), "length_ratio": ("length_ratio", _number()),
    "mode": ("mode", _choice(*MODES)), "amount": ("amount", _number()), "scale": ("scale", _text),
    "silence_beats": ("silence_beats", _number(0.0, "a number > 0")), "meter": ("meter", _meter),
    "bars": ("bars", _whole(1)),
    "sync": ("sync", _choice("bar", "beat")), "record": ("record", _record), "adapt": ("adapt", _boolean),
    "cc": ("cc", _cc),
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
            lines.append(f"{key} = {_toml(os.path.abspath(value) if isinstance(value, Path) else value)}")
    if "cc" in keys:
        ccs = (parse_cc_option(args.cc) if args.cc else ControlMap()).ccs
        lines += ["", "[cc]"] + [f"{name} = {_toml(ccs.get(name, 'none'))}" for name in CONTROLS]
    return "\n".join(lines) + "\n"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return repr(value)  # int, float (inf and nan are spelled as in TOML)


__all__ = ["KEYS", "ANSWER_KEYS", "DUET_KEYS", "RESPOND_KEYS", "Loaded", "default_path", "load", "install",
           "raise_config_error", "settings_toml"]
