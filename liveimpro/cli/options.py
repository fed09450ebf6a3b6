"""Command-line options shared by the commands that answer a call (duet, respond, demo)."""
from __future__ import annotations

import os
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"  # the repository's models/, whatever the current folder
# the shipped default (melody-curve tokens), unless LIVEIMPRO_MODEL names another model folder
DEFAULT_MODEL = Path(os.environ.get("LIVEIMPRO_MODEL") or MODELS / "curve-lstm")
DEFAULT_VAE = MODELS / "melody-vae"  # the shipped melody VAE, for the vary and morph modes


def add_answer_arguments(parser) -> None:
    from ..music.settings import LENGTH_MODES, MODES

    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="model folder (default: the shipped curve-token LSTM)")
    parser.add_argument("--temperature", type=float, default=0.9, help="sampling temperature (default 0.9)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--length", choices=LENGTH_MODES, default="bars",
                        help="the answer is as long as the call in bars or in notes (default bars)")
    parser.add_argument("--length-ratio", type=float, default=1.0, help="answer length / call length (default 1)")
    parser.add_argument("--scale", default=None,
                        help="lock the answer to a scale ('D dorian', 'A minor pentatonic'), or 'free' for no "
                             "key at all; default: the key estimated from the calls")
    parser.add_argument("--channel", type=int, default=1, help="MIDI channel 1..16 of the answer (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed: the same call gets the same answer")
    parser.add_argument("--mode", choices=MODES, default="answer",
                        help="answer: the LSTM continues the call; vary: a variation of the call; morph: a melody "
                             "between the previous call and this one (vary and morph use the melody VAE)")
    parser.add_argument("--amount", type=float, default=0.5,
                        help="vary: how far from the call (0..1); morph: how far from the previous call (default 0.5)")
    parser.add_argument("--vae", type=Path, default=DEFAULT_VAE, help="melody VAE folder for vary and morph")
    parser.add_argument("--no-adapt", dest="adapt", action="store_false",
                        help="do not learn the player's motifs during the session (live adaptation is on by default)")


def settings_from_args(args):
    from ..music.settings import LiveSettings

    scale = None if args.scale in (None, "free") else args.scale
    settings = LiveSettings(temperature=args.temperature, top_p=args.top_p, length_mode=args.length,
                            length_ratio=args.length_ratio, scale=scale, channel=args.channel - 1,
                            mode=args.mode, morph=args.amount)
    return settings


def load_responder(args):
    """The model (ModelError when the folder is wrong) and a Responder with the arguments' settings."""
    import numpy as np

    from ..music.responder import Responder
    from ..lstm.improviser import Improviser

    rng = np.random.default_rng(args.seed)
    return Responder(Improviser.load(args.model, rng, adapt=args.adapt), settings_from_args(args), rng, follow_key=args.scale != "free",
                     vae=_load_vae(args))


def _load_vae(args):
    """The VAE when the mode needs it (an error if it cannot be loaded), or when it is there for a
    mode CC to switch to (a warning if it cannot be loaded); None otherwise."""
    import sys

    from ..errors import ModelError
    from ..vae.melody_vae import MelodyVAE

    if args.mode == "answer" and not args.vae.exists():
        return None
    try:
        return MelodyVAE.load(args.vae)
    except ModelError as exc:
        if args.mode != "answer":
            raise
        print(f"liveimpro: warning: {exc}; the vary and morph modes are off", file=sys.stderr)
        return None
