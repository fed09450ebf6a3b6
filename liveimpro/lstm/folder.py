"""A next-note LSTM's model folder: weights.pt, vocab.json (the tokenizer) and card.json.

    folder = load_model_folder("models/curve-lstm")   # checked: ModelError (one line) if anything is wrong
    folder.module.step(token, state)                   # the scripted CachedStepLSTM
    save_model_folder(out, trained, tokenizer, card)   # what scripts/export.py writes

The card, its checks and the weights file are `liveimpro.modelcard`'s, shared with the melody VAE.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..modelcard import CARD, WEIGHTS, read_card, read_config, read_weights, save_folder
from ..tokens.base import Tokenizer
from ..tokens.registry import load_tokenizer

LSTM_KIND = "next-note-lstm"


LSTM_FILES = (WEIGHTS, "vocab.json")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    module: "torch.jit.ScriptModule"  # noqa: F821  liveimpro.lstm.network.CachedStepLSTM, scripted
    tokenizer: Tokenizer
    card: dict


def save_model_folder(folder, trained, tokenizer: Tokenizer, card: dict) -> dict:
    """A next-note LSTM folder: weights.pt of `trained` (liveimpro.lstm.network.NextTokenLSTM), vocab.json, card.json."""
    return save_folder(folder, LSTM_KIND, trained, {"vocab.json": tokenizer.save}, {**card, "tokenizer": tokenizer.kind})


def load_model_folder(folder) -> ModelFolder:
    """Read and check a next-note LSTM folder; ModelError (one line, naming the file) if anything is wrong."""
    from .network import CONFIG_LIMITS, ModelConfig, NextTokenLSTM, script_for_inference

    folder = Path(folder)
    card = read_card(folder, LSTM_KIND, LSTM_FILES)
    config = read_config(folder / CARD, card, ModelConfig, CONFIG_LIMITS)
    tokenizer = load_tokenizer(folder / "vocab.json")
    if tokenizer.kind != card.get("tokenizer"):
        raise ModelError(f"{folder / 'vocab.json'}: a {tokenizer.kind} tokenizer, but card.json says "
                         f"{card.get('tokenizer')}")
    if len(tokenizer) != config.vocab_size:
        raise ModelError(f"{folder / 'vocab.json'}: {len(tokenizer)} tokens, but card.json's model_config has "
                         f"vocab_size {config.vocab_size}")
    trained = NextTokenLSTM(config)
    read_weights(folder / WEIGHTS, trained)
    return ModelFolder(folder, script_for_inference(trained), tokenizer, card)


__all__ = ["LSTM_KIND", "LSTM_FILES", "ModelFolder", "save_model_folder", "load_model_folder"]
