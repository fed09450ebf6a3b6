"""The melody VAE's model folder: weights.pt, representation.json (the step encoding it was
trained on, checked against `liveimpro.vae.steps`) and card.json (`liveimpro.modelcard`).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..files import read_json, write_json
from ..modelcard import WEIGHTS, save_folder
from . import steps

KIND = "melody-vae"


FILES = (WEIGHTS, "representation.json")


def representation() -> dict:
    """What a model folder's representation.json must say (the constants of liveimpro.vae.steps)."""
    return {"kind": "melody-steps", "steps_per_beat": steps.STEPS_PER_BEAT, "rest": steps.REST,
            "hold": steps.HOLD, "min_pitch": steps.MIN_PITCH, "max_pitch": steps.MAX_PITCH,
            "classes": steps.NUM_CLASSES, "shapes": [list(shape) for shape in steps.SHAPES]}


def save_vae_folder(folder, model, card: dict) -> dict:
    """Write weights.pt of `model` (liveimpro.vae.network), representation.json and card.json; returns the card as written."""
    return save_folder(folder, KIND, model, {"representation.json": lambda path: write_json(path, representation())},
                       card)


def read_representation(path: Path, classes: int) -> None:
    found = read_json(path)
    expected = representation()
    if not isinstance(found, dict):
        raise ModelError(f"{path}: not a step representation")
    differing = [key for key in expected if found.get(key) != expected[key]]
    if differing:
        raise ModelError(f"{path}: made for another step representation ({', '.join(differing)} differ from this "
                         f"liveimpro's)")
    if classes != expected["classes"]:
        raise ModelError(f"{path}: {expected['classes']} step classes, but card.json's model_config has classes "
                         f"{classes}")


__all__ = ["KIND", "FILES", "representation", "save_vae_folder", "read_representation"]
