"""Command-line options shared by the commands that answer a call (duet, respond, demo), the
default model folders, and the one place the live settings, the random generator and the
models are built from the arguments (`build_responder`).

The defaults come from `LiveSettings` itself, so a setting has one default whichever way it is
made. Option names say what they set: `--lstm` and `--vae` name the two model folders
(`--model` is kept, for one release, as another spelling of `--lstm`); `--length-mode` and
`--length-ratio` the two halves of the answer's length; `--amount` the vary/morph amount.
A config file (`config.py`) can replace these defaults before the arguments are parsed.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..music.settings import LENGTH_MODES, MODES, LiveSettings

MODELS = Path(__file__).resolve().parents[2] / "models"  # the repository's models/, whatever the current folder
# the shipped next-note LSTM (melody-curve tokens), unless LIVEIMPRO_MODEL names another model folder
DEFAULT_LSTM = Path(os.environ.get("LIVEIMPRO_MODEL") or MODELS / "curve-lstm")
DEFAULT_MODEL = DEFAULT_LSTM  # the name of release 0.1
DEFAULT_VAE = MODELS / "melody-vae"  # the shipped melody VAE: the vary and morph modes, sample/morph/vary
_DEFAULTS = LiveSettings()


def add_answer_arguments(parser) -> None:
    parser.add_argument("--lstm", "--model", dest="lstm", metavar="DIR", type=Path, default=DEFAULT_LSTM,
                        help="next-note LSTM folder (default: the shipped curve-token LSTM; --model: old spelling)")
    parser.add_argument("--vae", metavar="DIR", type=Path, default=DEFAULT_VAE,
                        help="melody VAE folder for the vary and morph modes (default: the shipped one)")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature,
                        help=f"sampling temperature (default {_DEFAULTS.temperature:g})")
    parser.add_argument("--top-p", type=float, default=_DEFAULTS.top_p,
                        help=f"nucleus sampling mass (default {_DEFAULTS.top_p:g})")
    parser.add_argument("--length-mode", "--length", dest="length_mode", choices=LENGTH_MODES,
                        default=_DEFAULTS.length_mode,
                        help=f"the answer is as long as the call in bars or in notes (default {_DEFAULTS.length_mode}; "
                             "--length: old spelling)")
    parser.add_argument("--length-ratio", type=float, default=_DEFAULTS.length_ratio,
                        help=f"answer length / call length (default {_DEFAULTS.length_ratio:g})")
    parser.add_argument("--scale", default=None,
                        help="lock the answer to a scale ('D dorian', 'A minor pentatonic'), or 'free' for no "
                             "key at all; default: the key estimated from the calls")
    parser.add_argument("--channel", type=int, default=_DEFAULTS.channel + 1,
                        help="MIDI channel 1..16 of the answer (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed: the same call gets the same answer")
    parser.add_argument("--mode", choices=MODES, default=_DEFAULTS.mode,
                        help="answer: the LSTM continues the call; vary: a variation of the call; morph: a melody "
                             "between the previous call and this one (vary and morph use the melody VAE)")
    parser.add_argument("--amount", type=float, default=_DEFAULTS.amount,
                        help="vary: how far from the call (0..1); morph: how far from the previous call "
                             f"(default {_DEFAULTS.amount:g})")
    parser.add_argument("--no-adapt", dest="adapt", action="store_false", default=True,
                        help="do not learn the player's motifs during the session (live adaptation is on by default)")
    parser.add_argument("--adapt", dest="adapt", action="store_true", default=True,
                        help="learn them (the default; overrides a config file's adapt = false)")


def settings_from_args(args) -> LiveSettings:
    """The live settings the arguments ask for (UserError naming a bad value)."""
    scale = None if args.scale in (None, "free") else args.scale
    return LiveSettings(temperature=args.temperature, top_p=args.top_p, length_mode=args.length_mode,
                        length_ratio=args.length_ratio, scale=scale, channel=args.channel - 1,
                        mode=args.mode, amount=args.amount)


def build_responder(args):
    """The one place a session's settings, random generator and models are made: a Responder
    that owns them (the engine reads and updates `responder.settings`). ModelError when a
    model folder is wrong, UserError when a setting is."""
    import numpy as np

    from ..lstm.improviser import Improviser
    from ..music.responder import Responder

    settings = settings_from_args(args)  # first: a bad option is reported before a model loads
    rng = np.random.default_rng(args.seed)
    return Responder(Improviser.load(args.lstm, rng, adapt=args.adapt), settings, rng,
                     follow_key=args.scale != "free", vae=_load_vae(args))


def _load_vae(args):
    """The VAE when the mode needs it (an error if it cannot be loaded), or when it is there for a
    mode CC to switch to (a warning if it cannot be loaded); None otherwise."""
    import logging

    from ..errors import ModelError
    from ..vae.melody_vae import MelodyVAE

    if args.mode == "answer" and not args.vae.exists():
        return None
    try:
        return MelodyVAE.load(args.vae)
    except ModelError as exc:
        if args.mode != "answer":
            raise
        logging.getLogger(__name__).warning("%s; the vary and morph modes are off", exc)
        return None


def meter_of(text: str) -> tuple[int, int]:
    """--meter's (numerator, denominator); a UserError of one line when it is not N/D."""
    from ..errors import UserError
    from ..midi.meter import parse_meter

    try:
        return parse_meter(text)
    except ValueError as exc:
        raise UserError(f"--meter: {exc}") from None
