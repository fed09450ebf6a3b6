"""Live control by MIDI CC: which controller moves which of the live settings (`liveimpro.music.settings`).

Default mapping (change it with `--cc temperature=21,end=85`; `parse_cc_option`):

    control      CC   controller (GM name)   value 0 .. 127 maps to
    temperature   1   modulation wheel       0.2 .. 2.0, linear (1.0 near value 56)
    top_p        73   attack time            0.5 .. 1.0, linear
    length_ratio 74   brightness / cutoff    answer length 0.5x .. 2x the call, log scale,
                                             value 64 = the same length as the call
    mode         71   resonance / timbre     MODES split into equal zones (0..42 answer,
                                             43..85 vary, 86..127 morph)
    amount       72   release time           vary/morph amount 0.0 .. 1.0, linear
    end          64   sustain pedal          ends the player's phrase on the press edge
                                             (value >= 64 after < 64): handled by
                                             liveimpro.music.phrase.PhraseDetector, not here

Knobs 71..74 are the "sound controllers" most keyboards put on their knobs, and the
mod wheel is under the player's hand. If you play with the sustain pedal, move `end`
to a footswitch (e.g. `--cc end=85`) so pedalling does not end your phrases.
`--cc` also takes the
names of release 0.1, `length` and `morph` (`ALIASES`).

`LiveSettings` is frozen: `ControlMap.apply` returns a new one, so the engine can swap
it in with one assignment and a reader never sees half an update.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import UserError
from ..midi.messages import SUSTAIN_PEDAL
from ..music.settings import MODES, TEMPERATURE_RANGE, TOP_P_RANGE, LiveSettings

CONTROLS = ("temperature", "top_p", "length_ratio", "mode", "amount", "end")
DEFAULT_CCS = {"temperature": 1, "top_p": 73, "length_ratio": 74, "mode": 71, "amount": 72,
               "end": SUSTAIN_PEDAL}
ALIASES = {"length": "length_ratio", "morph": "amount"}  # the names of release 0.1, accepted by --cc


def _linear(value: int, low: float, high: float) -> float:
    return low + (high - low) * value / 127


def control_value(control: str, value: int):
    """The setting a CC value (0..127) stands for; see the table in the module docstring."""
    if control == "temperature":
        return _linear(value, *TEMPERATURE_RANGE)
    if control == "top_p":
        return _linear(value, *TOP_P_RANGE)
    if control == "length_ratio":  # 2 ** ((v - 64) / 64): 0.5 at 0, 1.0 at 64, ~1.98 at 127
        return 2.0 ** ((value - 64) / 64)
    if control == "mode":
        return MODES[min(len(MODES) - 1, value * len(MODES) // 128)]
    if control == "amount":
        return value / 127
    raise ValueError(f"control {control!r} has no value")


_SETTINGS = frozenset({"temperature", "top_p", "length_ratio", "mode", "amount"})  # controls named as the setting they move


@dataclass(frozen=True)
class ControlMap:
    ccs: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CCS))  # control -> CC number

    @property
    def end_cc(self) -> int | None:
        """The CC that ends a phrase (give it to PhraseDetector), None if unmapped."""
        return self.ccs.get("end")

    def apply(self, settings: LiveSettings, control_number: int, value: int) -> LiveSettings:
        """Settings after CC `control_number` moved to `value` (unchanged if it is not mapped
        to a setting, or the value is not a MIDI data byte)."""
        if not 0 <= value <= 127:
            return settings
        for control, number in self.ccs.items():
            if number == control_number and control in _SETTINGS:
                settings = replace(settings, **{control: control_value(control, value)})
        return settings


def parse_cc_option(text: str) -> ControlMap:
    """'temperature=21,length=22,mode=23,end=64' -> a ControlMap: the defaults with those
    controls moved. 'end=none' (or any control = none) unmaps it."""
    ccs = dict(DEFAULT_CCS)
    given: dict[str, int | None] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, number = (s.strip() for s in item.partition("="))
        name = ALIASES.get(name, name)
        if not sep or not name or not number:
            raise UserError(f"expected CONTROL=CC, got '{item}'")
        if name not in CONTROLS:
            raise UserError(f"unknown control '{name}'; known: {', '.join(CONTROLS)}")
        if number.lower() == "none":
            given[name] = None
            continue
        if not number.isdigit() or not 0 <= int(number) <= 127:
            raise UserError(f"CC number must be in range 0..127, got '{number}'")
        given[name] = int(number)
    for name, number in given.items():
        if number is None:
            ccs.pop(name, None)
        else:
            ccs[name] = number
    # a default that collides with a CC the user gave to another control gives way
    ccs = {name: number for name, number in ccs.items() if name in given or number not in given.values()}
    taken: dict[int, str] = {}
    for name, number in ccs.items():
        if number in taken:
            raise UserError(f"CC {number} is given to both {taken[number]} and {name}")
        taken[number] = name
    return ControlMap(ccs)


__all__ = ["ControlMap", "parse_cc_option", "control_value", "CONTROLS", "DEFAULT_CCS", "ALIASES"]
