"""What the melody VAE commands share (`liveimpro sample`, `liveimpro morph`, `liveimpro vary`): their
common options, reading a phrase, saying how it was fitted to the model, writing MIDI files and a piano roll.

Heavy imports (torch, matplotlib) happen inside the functions, when a command runs.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UserError
from ..melody import Melody
from .options import DEFAULT_VAE

MAX_PHRASE_BARS = 64  # vary and morph work on phrases: a longer file is refused (it would be cut into windows
# and printed window by window)


def add_common_arguments(parser) -> None:
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for the MIDI files and piano roll")
    parser.add_argument("--vae", "--model", dest="vae", type=Path, default=DEFAULT_VAE, metavar="DIR",
                        help="melody VAE model folder (default: the shipped one; --model: old spelling)")
    parser.add_argument("--seed", type=int, help="random seed: the same seed gives the same melodies")


def count(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def share(text: str) -> float:
    """argparse type: a number in 0..1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in range 0..1, got {value:g}")
    return value


def load_model(args):
    from ..vae.melody_vae import MelodyVAE

    return MelodyVAE.load(args.vae)


def rng_of(args):
    import numpy as np

    return np.random.default_rng(args.seed)


def read_phrase(path) -> Melody:
    """The notes of a MIDI file (MidiFileError, one line, if it cannot be read, has none or is longer than
    MAX_PHRASE_BARS bars)."""
    from ..files import midi_file_error
    from ..midi.files import read_midi

    melody = read_midi(path, need_notes=True, follow_tempo=False)  # the written beats: the VAE works on them
    bars = math.ceil(melody.end / melody.beats_per_bar - 1e-9)
    if bars > MAX_PHRASE_BARS:
        raise midi_file_error(path, f"{bars} bars long, more than the {MAX_PHRASE_BARS} a phrase may have")
    return melody


def tell_fit(path, melody: Melody, lay) -> None:
    """Print how the phrase was fitted to the model's windows (nothing when it fits as it is)."""
    notes = [] if melody.is_monophonic() else ["chords and overlaps reduced to the top line"]
    if lay.describe():
        notes.append(lay.describe())
    if notes:
        print(f"{path}: {lay.bars} bar{'s' * (lay.bars != 1)} of {melody.time_signature[0]}/"
              f"{melody.time_signature[1]}; {'; '.join(notes)}")


def write_outputs(out, melodies: dict[str, Melody], png_name: str, title: str) -> None:
    """Each melody as OUT/<name>.mid, and all of them one after another in the piano roll OUT/<png_name>."""
    from ..midi.files import write_midi
    from ..pianoroll import plot_pianoroll

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{out}: cannot create the output folder ({error.strerror or error})") from None
    for name, melody in melodies.items():
        write_midi(out / f"{name}.mid", {name: melody})
    plot_pianoroll(one_after_another(melodies), out / png_name, title=title)
    print(f"wrote {len(melodies)} MIDI files and {png_name} to {out}")


def one_after_another(melodies: dict[str, Melody]) -> dict[str, Melody]:
    """The melodies moved in time so that each starts where the one before ends (whole bars)."""
    placed, start = {}, 0.0
    for name, melody in melodies.items():
        placed[name] = melody.shift(start)
        bar = melody.beats_per_bar
        start += max(bar, -(-max(melody.end, bar) // bar) * bar)
    return placed
