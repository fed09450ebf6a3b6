"""What the trainers in scripts/ share: the parts of a training run that do not depend on the model.

scripts/train_lstm.py and scripts/train_vae.py each keep their own config dataclass, model, batches and
loop (each readable in one sitting, in the spirit of nanoGPT's train.py); this module holds the rest:

- `config_parser`: a command line with one option per field of a config dataclass, plus --resume;
- `read_config`: the config of a new run, or of a resumed one (its checkpoint's, with the options given
  on top, except those that shape the model or its data);
- `show_config`: the config as printed at the start of a run;
- `set_threads`: torch threads per process;
- `learning_rate` (linear warm-up, cosine decay), `make_optimizer` (AdamW, weight decay on matrices
  only) and `optimizer_step` (one step with gradient clipping);
- `save_checkpoint`: ckpt.pt written whole or not at all;
- `plot_curves`: loss.png, one panel per figure;
- `LN2` and `bits` (nats to bits), and `DATA_DESCRIPTION` (what the shipped models were trained on, for their cards).

The batches of the next-token LSTM, shared with scripts/bench_lstm.py, are in liveimpro.data.tune_batches.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, fields

import torch

from ..errors import UserError
from ..files import atomic_write

LN2 = math.log(2)
DATA_DESCRIPTION = ("Essen folk song collection (music21 corpus, essenFolksong/*.abc) minus kinder0.abc, "
                    "which is held out for evaluation; split into train/valid by tune")
_TYPES = {"int": int, "float": float, "str": str}


def config_parser(config_class, description: str, choices: dict | None = None) -> argparse.ArgumentParser:
    """--max-steps for the field max_steps, and so on; --bf16/--no-bf16 for a bool field; --resume.

    An option that is not given is left out of the parsed arguments (argparse.SUPPRESS), so that only
    the options given override a resumed run's saved config (see `read_config`)."""
    parser = argparse.ArgumentParser(description=description, argument_default=argparse.SUPPRESS)
    for f in fields(config_class):
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        flag, help_text = "--" + f.name.replace("_", "-"), f"default: {f.default!r}"
        if kind == "bool":
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=_TYPES[kind], choices=(choices or {}).get(f.name),
                                help=help_text)
    parser.add_argument("--resume", action="store_true", default=False, help="continue the run in --out")
    return parser


def read_config(given: dict, resume: bool, config_class, fixed_on_resume: tuple[str, ...]):
    """(config, checkpoint to resume or None). A new run takes the options given over the class's
    defaults; a resumed one (the checkpoint in `out`) its saved config with the options given on top,
    and refuses another value of a field in `fixed_on_resume` (the checkpoint fits only its own)."""
    if not resume:
        return config_class(**given), None
    ckpt_path = os.path.join(given.get("out", config_class.out), "ckpt.pt")
    if not os.path.isfile(ckpt_path):
        raise UserError(f"{ckpt_path}: no checkpoint to resume")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    changed = sorted(k for k in fixed_on_resume if k in given and given[k] != ckpt["config"][k])
    if changed:
        raise UserError(f"{ckpt_path}: cannot resume with another {', '.join(changed)} (start a new run elsewhere)")
    return config_class(**{**ckpt["config"], **given}), ckpt


def show_config(cfg, resuming: bool) -> str:
    """'training with config:' (or 'resuming ...') and one `name = value` line per field."""
    lines = [f"{'resuming' if resuming else 'training'} with config:"]
    lines += [f"  {key} = {value!r}" for key, value in asdict(cfg).items()]
    return "\n".join(lines)


def set_threads(threads: int, processes: int = 1) -> int:
    """torch threads for this process: `threads`, or with 0 the CPU cores shared out among `processes`."""
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // processes))
    return torch.get_num_threads()


def learning_rate(cfg, step: int) -> float:
    """Linear warm-up from 0 to cfg.lr over cfg.warmup_steps, then cosine decay to cfg.min_lr at cfg.max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg, fused: bool = False) -> torch.optim.AdamW:
    """AdamW (cfg.lr, cfg.beta1, cfg.beta2) with cfg.weight_decay on the matrices and none on biases and
    other vectors; `fused` kernels (CUDA) where asked."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": cfg.weight_decay}, {"params": vectors, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused or None)


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float,
                   grad_clip: float) -> None:
    """Backpropagate `loss` and step at learning rate `lr`, the global gradient norm clipped to
    `grad_clip` (0: no clipping)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def save_checkpoint(state: dict, path: str) -> None:
    """torch.save through a temporary file: a run killed while saving keeps its previous checkpoint.
    `state` holds plain tensors and dicts only, so that torch.load(weights_only=True) reads it back."""
    atomic_write(path, lambda temporary: torch.save(state, temporary))


def bits(nats: list[float]) -> list[float]:
    return [x / LN2 for x in nats]


def plot_curves(path: str, steps: list[int], panels: list[tuple[str, dict]]) -> None:
    """A PNG of training curves against the step: one panel per (y label, {label: values}); a single
    number instead of values draws a dashed horizontal line (a threshold)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 + 3 * len(panels), 4), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels):
        for label, values in series.items():
            if isinstance(values, (int, float)):
                ax.axhline(values, color="0.5", linestyle="--", label=label)
            else:
                ax.plot(steps, values, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
