"""Export a training checkpoint as a model folder (weights.pt, vocab.json, card.json).

    python scripts/export.py runs/curve-lstm/ckpt.pt models/curve-lstm
    python scripts/export.py runs/curve-lstm/ckpt.pt models/curve-lstm --torchscript curve-lstm.ts

Takes the best weights of the run (lowest validation loss), writes the folder (data only:
liveimpro.modelcard), reads it back as a user's load does, and checks that the loaded step
form (liveimpro.lstm.network.CachedStepLSTM) gives the trained network's logits step by step on a
validation-length sequence. --torchscript also writes the step form as one frozen TorchScript
file (init_state, step, forward_sequence) for hosts outside liveimpro, e.g. a C++ plugin through
libtorch; liveimpro itself never loads TorchScript (loading it can run code).
"""
from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys

import torch

from liveimpro.cli import run_reporting_errors
from liveimpro.data.dataset import tokenizer_class
from liveimpro.data.training import DATA_DESCRIPTION
from liveimpro.errors import UserError
from liveimpro.lstm.folder import load_model_folder, save_model_folder
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM, standalone_torchscript
from liveimpro.modelcard import quiet_torchscript
from liveimpro.tokens.base import BOS


def check_step_matches(trained: NextTokenLSTM, scripted, length: int = 200) -> float:
    """Largest difference between the trained network's logits and a step form's, step by step and whole."""
    tokens = torch.randint(3, trained.cfg.vocab_size, (length,), generator=torch.Generator().manual_seed(0))
    tokens[0] = BOS
    with torch.inference_mode():
        expected = trained.eval()(tokens[None])[0]
        state, rows = scripted.init_state(), []
        for token in tokens.tolist():
            logits, state = scripted.step(token, state)
            rows.append(logits)
        whole = scripted.forward_sequence(tokens)
    return max((torch.stack(rows) - expected).abs().max().item(), (whole - expected).abs().max().item())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="ckpt.pt written by scripts/train_lstm.py")
    parser.add_argument("out", help="model folder to write, e.g. models/curve-lstm")
    parser.add_argument("--data-description", default=DATA_DESCRIPTION, help="what the model was trained on")
    parser.add_argument("--torchscript", metavar="FILE", default=None,
                        help="also write the step form as a frozen TorchScript file, for hosts outside liveimpro")
    args = parser.parse_args(argv)

    try:
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise UserError(f"{args.checkpoint}: cannot read the checkpoint ({error})") from None
    trained = NextTokenLSTM(ModelConfig(**ckpt["model_config"]))
    trained.load_state_dict(ckpt["best_model"])
    try:
        tokenizer = tokenizer_class(ckpt["vocab"].get("kind")).from_json(ckpt["vocab"])
    except ValueError as error:
        raise UserError(f"{args.checkpoint}: its vocabulary cannot be read by this liveimpro ({error})") from None
    best, history = ckpt["best_val"], ckpt["history"]
    best_step = history["step"][history["valid"].index(best)]
    card = {
        "name": args.out.rstrip("/").split("/")[-1],
        "architecture": f"embedding {trained.cfg.embed_dim} -> LSTM {trained.cfg.layers} x {trained.cfg.hidden} "
                        f"-> head ({'tied to the embedding' if trained.cfg.tie_weights else 'untied'})",
        "training_data": {"description": args.data_description, "dataset": ckpt["config"]["data"],
                          "summary": ckpt["data_summary"]},
        "validation": {"loss_nats_per_token": best, "bits_per_token": best / math.log(2),
                       "note": "mean over every predicted token of the validation tunes, EOS included"},
        "training": {"wall_seconds": round(ckpt["train_seconds"], 1), "steps": ckpt["step"],
                     "best_step": best_step,
                     "tokens_per_second": round(sum(history["tokens_per_s"]) / max(1, len(history["tokens_per_s"]))),
                     "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}"},
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": ckpt["config"],
    }
    card = save_model_folder(args.out, trained, tokenizer, card)
    difference = check_step_matches(trained, load_model_folder(args.out).module)  # what a user's load gives
    if difference > 1e-3:
        raise UserError(f"{args.out}: the loaded steps differ from the trained network by {difference:.2g}")
    print(f"wrote {args.out}: {card['tokenizer']} tokens ({len(tokenizer)}), {card['parameters']:,} parameters, "
          f"weights.pt {card['files']['weights.pt']['bytes'] / 1e6:.2f} MB, valid "
          f"{card['validation']['bits_per_token']:.4f} bits/token, trained {card['training']['wall_seconds'] / 60:.1f} "
          f"min (max step difference {difference:.1e})")
    if args.torchscript:
        standalone = standalone_torchscript(trained)
        difference = check_step_matches(trained, standalone)
        if difference > 1e-3:
            raise UserError(f"{args.torchscript}: its steps differ from the trained network by {difference:.2g}")
        with quiet_torchscript():
            standalone.save(args.torchscript)
        print(f"wrote {args.torchscript}: TorchScript, init_state/step/forward_sequence (max step difference "
              f"{difference:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("export", main))
