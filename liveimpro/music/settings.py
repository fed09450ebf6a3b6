"""The live settings: how the answer is made, one frozen value with its checks.

`LiveSettings` is built once per session, from the command line (`liveimpro.cli.options`), and
owned by the `Responder`; a CC moving (`liveimpro.live.controls.ControlMap.apply`) swaps in a new
one with one assignment, so a reader never sees half an update.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from .keys import parse_scale

# answer: the LSTM continues the call; vary: the melody VAE's variation of the call; morph: the VAE's
# melody `morph` of the way from the previous call to this one
MODES = ("answer", "vary", "morph")


LENGTH_MODES = ("bars", "notes")  # answer as many bars / as many notes as the call (times length_ratio)


TEMPERATURE_RANGE, TOP_P_RANGE, LENGTH_RATIO_RANGE = (0.2, 2.0), (0.5, 1.0), (0.5, 2.0)


@dataclass(frozen=True)
class LiveSettings:
    temperature: float = 0.9  # sampling temperature, > 0 (the one default; the CLI's is this)
    top_p: float = 0.95  # nucleus sampling mass, 0 < top_p <= 1
    length_mode: str = "bars"  # one of LENGTH_MODES: what "as long as the call" counts
    length_ratio: float = 1.0  # answer length / call length, > 0
    mode: str = "answer"  # one of MODES
    amount: float = 0.5  # 0..1: vary: how far the answer moves from the call; morph: where between the calls it lies
    scale: str | None = None  # scale lock, e.g. "D dorian" (see liveimpro.music.keys), None = free
    channel: int = 0  # MIDI channel 0..15 the answer is played on

    def __post_init__(self):
        if not self.temperature > 0:
            raise UserError(f"temperature must be > 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in range (0, 1], got {self.top_p!r}")
        if self.length_mode not in LENGTH_MODES:
            raise UserError(f"length mode must be one of {', '.join(LENGTH_MODES)}, got {self.length_mode!r}")
        if not self.length_ratio > 0:
            raise UserError(f"length ratio must be > 0, got {self.length_ratio!r}")
        if self.mode not in MODES:
            raise UserError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0 <= self.amount <= 1:
            raise UserError(f"amount must be in range 0..1, got {self.amount!r}")
        if self.scale is not None:
            parse_scale(self.scale)
        if not isinstance(self.channel, int) or not 0 <= self.channel <= 15:
            raise UserError(f"channel must be in range 0..15, got {self.channel!r}")


__all__ = ["MODES", "LENGTH_MODES", "TEMPERATURE_RANGE", "TOP_P_RANGE", "LENGTH_RATIO_RANGE", "LiveSettings"]
