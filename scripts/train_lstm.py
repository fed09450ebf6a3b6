"""Train the next-token LSTM on a prepared dataset (in the spirit of nanoGPT's train.py).

One CPU process by default:
    python scripts/train_lstm.py --tokenizer curve --data data/essen --out runs/curve-lstm
unchanged under torchrun (DistributedDataParallel; gloo on CPU, nccl on GPU; rank 0 logs and saves):
    torchrun --standalone --nproc_per_node 2 scripts/train_lstm.py --tokenizer curve ...
continue a run from its last checkpoint (the saved config; options given override it, e.g. to train longer,
except those that shape the model or its data):
    python scripts/train_lstm.py --out runs/curve-lstm --resume [--max-steps 8000]

Batches are whole tunes ([BOS ... EOS], the way the runtime starts a phrase), padded with PAD,
whose targets are masked out of the loss; a tune longer than `max_len` tokens gives a window
at a random offset. Tunes of similar length are batched together to cut padding. The batch
order and every dropout mask are functions of (seed, step, rank), so a fixed seed gives the
same run, and a resumed run continues exactly as if it had not stopped.

Writes to --out: ckpt.pt (latest and best weights, optimizer, config, history; plain tensors and
dicts, read back with torch.load(weights_only=True)) and loss.png (train/valid bits per token).
scripts/export.py turns ckpt.pt into a model folder.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from liveimpro.data.dataset import Dataset
from liveimpro.errors import UserError
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM
from liveimpro.tokens.vocab import PAD

LN2 = math.log(2)


@dataclass
class TrainConfig:
    tokenizer: str = "curve"  # token kind: "curve" (intervals, the default model) or "note" (absolute pitch, chords)
    data: str = "data/essen"  # dataset folder written by scripts/prepare_data.py
    out: str = "runs/curve-lstm"  # where ckpt.pt and loss.png go
    embed_dim: int = 256  # token embedding width
    hidden: int = 256  # LSTM width
    layers: int = 2  # stacked LSTM layers
    dropout: float = 0.3  # dropout on embedding, between layers, before the head
    tie_weights: bool = True  # output head shares the embedding matrix
    batch_size: int = 32  # tunes per batch, per process
    max_len: int = 256  # longest training window, in predicted tokens
    lr: float = 3e-3  # peak learning rate (AdamW)
    min_lr: float = 1e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 200  # linear warm-up from 0 to lr
    max_steps: int = 5000  # optimizer steps at most; the cosine decay ends here
    weight_decay: float = 0.05  # AdamW decoupled weight decay on matrices (not biases)
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.99  # AdamW second-moment decay
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    bf16: bool = False  # bfloat16 autocast for the training forward pass (~1.4x faster on CPUs with AVX512-BF16)
    eval_interval: int = 200  # steps between validation passes (and checkpoints)
    patience: int = 6  # stop after this many validation passes without improvement (0: never stop early)
    seed: int = 1337  # seeds batch order and dropout: same seed, same run
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    threads: int = 0  # torch threads per process; 0: CPU cores / processes


FIXED_ON_RESUME = ("tokenizer", "data", "embed_dim", "hidden", "layers", "tie_weights")  # the checkpoint fits only these
CHOICES = {"tokenizer": ("curve", "note"), "device": ("auto", "cpu", "cuda")}


def parse_args(argv=None) -> tuple[dict, bool]:
    """(options given on the command line, --resume); only given ones, so that they can override a resumed run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], argument_default=argparse.SUPPRESS)
    for f in fields(TrainConfig):
        flag, help_text = "--" + f.name.replace("_", "-"), f"default: {f.default!r}"
        if f.type == "bool":
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type={"int": int, "float": float, "str": str}[f.type],
                                choices=CHOICES.get(f.name), help=help_text)
    parser.add_argument("--resume", action="store_true", default=False, help="continue the run in --out")
    args = vars(parser.parse_args(argv))
    return args, args.pop("resume")


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Tune indices per batch for one epoch: shuffled, grouped by length within pools of 50 batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(tunes: list[np.ndarray], max_len: int, rng: np.random.Generator | None) -> torch.Tensor:
    """Padded [B, T+1] int64 batch; tunes over max_len+1 tokens give a window (random offset if rng)."""
    windows = []
    for tune in tunes:
        if len(tune) > max_len + 1:
            start = int(rng.integers(0, len(tune) - max_len)) if rng is not None else 0
            tune = tune[start:start + max_len + 1]
        windows.append(tune)
    batch = np.full((len(windows), max(len(w) for w in windows)), PAD, dtype=np.int64)
    for row, tune in zip(batch, windows):
        row[:len(tune)] = tune
    return torch.from_numpy(batch)


def batch_loss(model, batch: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                           ignore_index=PAD, reduction=reduction)


@torch.no_grad()
def evaluate(model, tunes: list[np.ndarray], batch_size: int, device, rank: int, world: int) -> float:
    """Mean loss (nats per predicted token) over whole validation tunes, shared out across processes."""
    model.eval()
    order = np.argsort([len(t) for t in tunes], kind="stable")
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    for i, start in enumerate(range(0, len(order), batch_size)):
        if i % world == rank:
            batch = collate([tunes[j] for j in order[start:start + batch_size]], 1 << 30, None).to(device)
            totals[0] += batch_loss(model, batch, reduction="sum").double()
            totals[1] += (batch[:, 1:] != PAD).sum()
    if world > 1:
        dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1]).item()


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to min_lr at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model, cfg: TrainConfig, fused_ok: bool) -> torch.optim.AdamW:
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": cfg.weight_decay}, {"params": vectors, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused_ok or None)


def plot_losses(history: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["step"], [x / LN2 for x in history["train"]], label="train")
    ax.plot(history["step"], [x / LN2 for x in history["valid"]], label="valid")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per token")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class BatchSchedule:
    """The batch a process trains on at each step: a function of (seed, step, rank) only, so a resumed
    run sees what an uninterrupted one would. Under torchrun, rank r takes every world-th batch."""

    def __init__(self, tunes: list[np.ndarray], cfg: TrainConfig, rank: int, world: int):
        self.tunes, self.cfg, self.rank, self.world = tunes, cfg, rank, world
        self.lengths = np.array([len(t) for t in tunes])
        self.per_epoch = len(epoch_batches(self.lengths, cfg.batch_size, cfg.seed, 0)) // world
        if self.per_epoch == 0:
            raise UserError(f"{cfg.data}: {len(tunes)} training tunes are too few for batches of "
                            f"{cfg.batch_size} on {world} process(es)")
        self._epoch, self._batches = -1, []

    def batch(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.lengths, self.cfg.batch_size, self.cfg.seed, epoch)
        index = position * self.world + self.rank
        window_rng = np.random.default_rng([self.cfg.seed, epoch, index])
        return collate([self.tunes[j] for j in self._batches[index]], self.cfg.max_len, window_rng)


def train_step(model, optimizer, batch: torch.Tensor, lr: float, cfg: TrainConfig) -> float:
    """One optimizer step; weights and gradients stay float32 (bf16 only inside the forward pass)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        loss = batch_loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.item()


def setup_process(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the process group when started by torchrun."""
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if "RANK" in os.environ:
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // world))
    return rank, world, torch.device(f"cuda:{torch.cuda.current_device()}" if use_cuda else "cpu")


def read_config(given: dict, resume: bool, config_class=TrainConfig, fixed_on_resume=None):
    """(config, checkpoint to resume or None); the VAE trainer passes its own config class and fixed fields."""
    fixed_on_resume = FIXED_ON_RESUME if fixed_on_resume is None else fixed_on_resume
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


def main(argv=None) -> int:
    cfg, ckpt = read_config(*parse_args(argv))
    rank, world, device = setup_process(cfg)
    log = print if rank == 0 else (lambda *args, **kwargs: None)
    log(f"{'resuming' if ckpt else 'training'} with config:")
    for key, value in asdict(cfg).items():
        log(f"  {key} = {value!r}")

    dataset = Dataset.load(cfg.data)
    tokenizer = dataset.tokenizer(cfg.tokenizer)
    train_tunes, valid_tunes = dataset.tokens(cfg.tokenizer, "train"), dataset.tokens(cfg.tokenizer, "valid")
    ckpt_path = os.path.join(cfg.out, "ckpt.pt")
    if ckpt is not None and ckpt["vocab"] != tokenizer.to_json():
        raise UserError(f"{cfg.data}: its {cfg.tokenizer} vocabulary changed since {ckpt_path} was written")
    model_cfg = ModelConfig(vocab_size=len(tokenizer), embed_dim=cfg.embed_dim, hidden=cfg.hidden,
                            layers=cfg.layers, dropout=cfg.dropout, tie_weights=cfg.tie_weights)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw_model = NextTokenLSTM(model_cfg).to(device)
    optimizer = make_optimizer(raw_model, cfg, fused_ok=device.type == "cuda")
    step, best_val, bad_evals, prior_seconds = 0, float("inf"), 0, 0.0
    history = {"step": [], "train": [], "valid": [], "tokens_per_s": []}
    best_state = {k: v.detach().clone().cpu() for k, v in raw_model.state_dict().items()}
    if ckpt is not None:
        raw_model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        best_state, history = ckpt["best_model"], ckpt["history"]
        step, best_val, bad_evals, prior_seconds = ckpt["step"], ckpt["best_val"], ckpt["bad_evals"], ckpt["train_seconds"]
    model = torch.nn.parallel.DistributedDataParallel(raw_model) if world > 1 else raw_model
    schedule = BatchSchedule(train_tunes, cfg, rank, world)
    log(f"{model_cfg.vocab_size} tokens, {raw_model.num_parameters():,} parameters; {len(train_tunes)} training "
        f"tunes ({int(schedule.lengths.sum()):,} tokens), {len(valid_tunes)} validation tunes; "
        f"{world} process(es) on {device}, {torch.get_num_threads()} thread(s) each")
    if rank == 0:
        os.makedirs(cfg.out, exist_ok=True)
    run_start = time.perf_counter()

    def save_checkpoint():
        torch.save({"model": raw_model.state_dict(), "best_model": best_state, "optimizer": optimizer.state_dict(),
                    "config": asdict(cfg), "model_config": asdict(model_cfg), "step": step, "best_val": best_val,
                    "bad_evals": bad_evals, "history": history,
                    "train_seconds": prior_seconds + time.perf_counter() - run_start,
                    "vocab": tokenizer.to_json(), "data_summary": dataset.summary}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)  # a run killed while saving keeps its previous checkpoint
        plot_losses(history, os.path.join(cfg.out, "loss.png"))

    bar = tqdm(total=cfg.max_steps, initial=step, disable=rank != 0, dynamic_ncols=True, file=sys.stdout)
    interval_losses, interval_tokens, interval_start = [], 0, time.perf_counter()
    try:
        while step < cfg.max_steps and not (cfg.patience and bad_evals >= cfg.patience):
            torch.manual_seed(cfg.seed * 1_000_003 + step * world + rank)  # dropout masks: f(seed, step, rank)
            batch = schedule.batch(step).to(device)
            interval_losses.append(train_step(model, optimizer, batch, learning_rate(cfg, step), cfg))
            interval_tokens += int((batch[:, 1:] != PAD).sum()) * world
            step += 1
            bar.update(1)
            if step % cfg.eval_interval and step < cfg.max_steps:
                continue
            tokens_per_s = interval_tokens / (time.perf_counter() - interval_start)
            val = evaluate(raw_model, valid_tunes, cfg.batch_size * 2, device, rank, world)
            train_loss = sum(interval_losses) / len(interval_losses)
            if world > 1:  # the mean over every process's batches
                mean = torch.tensor([train_loss / world], dtype=torch.float64, device=device)
                dist.all_reduce(mean)
                train_loss = mean.item()
            for key, value in (("step", step), ("train", train_loss), ("valid", val), ("tokens_per_s", tokens_per_s)):
                history[key].append(value)
            if val < best_val - 1e-4:
                best_val, bad_evals = val, 0
                best_state = {k: v.detach().clone().cpu() for k, v in raw_model.state_dict().items()}
            else:
                bad_evals += 1
            bar.set_postfix(train=f"{train_loss / LN2:.3f}", val=f"{val / LN2:.3f}", refresh=False)
            if rank == 0:
                bar.write(f"step {step}: train {train_loss / LN2:.4f} valid {val / LN2:.4f} bits/token (best "
                          f"{best_val / LN2:.4f}), lr {learning_rate(cfg, step - 1):.2e}, {tokens_per_s:,.0f} tokens/s")
                save_checkpoint()
            interval_losses, interval_tokens, interval_start = [], 0, time.perf_counter()
    except KeyboardInterrupt:
        bar.close()
        log(f"interrupted at step {step}; --resume continues from the checkpoint of step "
            f"{history['step'][-1] if history['step'] else 'none: nothing saved yet'}")
        return 130
    bar.close()
    stopped = "early stop" if cfg.patience and bad_evals >= cfg.patience else "max_steps"
    log(f"done at step {step} ({stopped}): best valid {best_val / LN2:.4f} bits/token, "
        f"{(prior_seconds + time.perf_counter() - run_start) / 60:.1f} min of training; checkpoint {ckpt_path}")
    if world > 1:
        dist.barrier()  # leave together: a rank that tears gloo down while rank 0 still saves can abort
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        print(f"train_lstm: error: {error}", file=sys.stderr)
        sys.exit(1)
