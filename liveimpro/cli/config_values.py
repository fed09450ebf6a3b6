"""How each value of the config file is read and checked (liveimpro.cli.config's KEYS): a reader
takes (key, value, the file's folder) and returns the option's value, or raises a one-line
UserError naming the key, what it must be and what it got.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def expected(key: str, what: str, value) -> UserError:
    return UserError(f"{key} must be {what}, got {got(value)}")


def got(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (bool, int, float, str)):
        return toml_value(value)
    return str(value)  # a TOML date or time


def text(key, value, base):
    if not isinstance(value, str) or not value.strip():
        raise expected(key, "a string", value)
    return value


def path(key, value, base):
    """A path: `~` expanded, relative to the file's folder."""
    return base / Path(text(key, value, base)).expanduser()


def number(low: float = float("-inf"), what: str = "a number"):
    def check(key, value, base):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
            raise expected(key, what, value)
        return float(value)
    return check


def whole(low: int, high: int | None = None):
    def check(key, value, base):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise expected(key, f"a whole number {low}..{high}" if high is not None else f"a whole number >= {low}",
                            value)
        return value
    return check


def choice(*choices: str):
    def check(key, value, base):
        if value not in choices or not isinstance(value, str):
            raise expected(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
        return value
    return check


def api(key, value, base):
    from ..midi.ports import RTMIDI_APIS  # rtmidi: only when a file names an API
    return choice(*RTMIDI_APIS)(key, value, base)


def boolean(key, value, base):
    if not isinstance(value, bool):
        raise expected(key, "true or false", value)
    return value


def record(key, value, base):
    """false: no recording; true: the default file here; a path: a .mid file, or a folder for dated files."""
    if value is True:
        return None
    if value is False:
        return False
    if not isinstance(value, str) or not value.strip():
        raise expected(key, 'true, false or a path (a .mid file or a folder)', value)
    return path(key, value, base)


def meter(key, value, base) -> str:
    """A meter "N/D" (liveimpro.midi.meter.parse_meter), kept as its text: "6/8"."""
    from ..midi.meter import meter_problem, parse_meter

    problem = meter_problem(value)
    if problem is not None:
        raise expected(key, '"' + problem.replace("N/D", "N/D\"", 1), value)
    return "{}/{}".format(*parse_meter(value))


def cc(key, value, base) -> str:
    """The [cc] table as a --cc SPEC (the command line's --cc replaces it whole)."""
    from ..live.controls import ALIASES, CONTROLS, parse_cc_option

    if not isinstance(value, dict):
        raise expected(key, "a table of CONTROL = CC number", value)
    parts = []
    for name, number in value.items():
        if ALIASES.get(name, name) not in CONTROLS:
            raise UserError(f"{key}.{name} is not a control; the controls are {', '.join(CONTROLS)}")
        if not (number == "none" or (type(number) is int and 0 <= number <= 127)):
            raise expected(f"{key}.{name}", 'a CC number 0..127 or "none"', number)
        parts.append(f"{name}={number}")
    spec = ",".join(parts)
    try:
        parse_cc_option(spec)
    except UserError as exc:
        raise UserError(f"{key}: {exc}") from None
    return spec


# key -> (the option's dest, its check); in the order --print-config prints them


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return repr(value)  # int, float (inf and nan are spelled as in TOML)


__all__ = ["api", "boolean", "cc", "choice", "expected", "got", "meter", "number", "path", "record", "text",
           "toml_value", "whole"]
