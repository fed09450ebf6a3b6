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
same run, and a resumed run continues exactly as if it had not stopped. The batches and the step are
liveimpro.data.tune_batches (scripts/bench_lstm.py times them); the command line, config, learning-rate
schedule, optimizer and checkpoint are liveimpro.data.training (shared with scripts/train_vae.py).

Writes to --out: ckpt.pt (latest and best weights, optimizer, config, history; plain tensors and
dicts, read back with torch.load(weights_only=True)) and loss.png (train/valid bits per token).
scripts/export.py turns ckpt.pt into a model folder.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
from tqdm import tqdm

from liveimpro.cli import run_reporting_errors
from liveimpro.data.dataset import Dataset
from liveimpro.data.training import (
    LN2,
    bits,
    config_parser,
    learning_rate,
    make_optimizer,
    plot_curves,
    read_config,
    save_checkpoint,
    set_threads,
    show_config,
)
from liveimpro.data.tune_batches import BatchSchedule, train_step, validation_loss
from liveimpro.errors import UserError
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM
from liveimpro.tokens.vocab import PAD


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
    args = vars(config_parser(TrainConfig, __doc__.split("\n\n")[0], CHOICES).parse_args(argv))
    return args, args.pop("resume")


def setup_process(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the process group when started by torchrun."""
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if "RANK" in os.environ:
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    set_threads(cfg.threads, processes=world)
    return rank, world, torch.device(f"cuda:{torch.cuda.current_device()}" if use_cuda else "cpu")


def main(argv=None) -> int:
    cfg, ckpt = read_config(*parse_args(argv), TrainConfig, FIXED_ON_RESUME)
    rank, world, device = setup_process(cfg)
    log = print if rank == 0 else (lambda *args, **kwargs: None)
    log(show_config(cfg, resuming=ckpt is not None))

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
    optimizer = make_optimizer(raw_model, cfg, fused=device.type == "cuda")
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

    def checkpoint():
        save_checkpoint({"model": raw_model.state_dict(), "best_model": best_state,
                         "optimizer": optimizer.state_dict(), "config": asdict(cfg),
                         "model_config": asdict(model_cfg), "step": step, "best_val": best_val,
                         "bad_evals": bad_evals, "history": history,
                         "train_seconds": prior_seconds + time.perf_counter() - run_start,
                         "vocab": tokenizer.to_json(), "data_summary": dataset.summary}, ckpt_path)
        plot_curves(os.path.join(cfg.out, "loss.png"), history["step"],
                    [("bits per token", {"train": bits(history["train"]), "valid": bits(history["valid"])})])

    bar = tqdm(total=cfg.max_steps, initial=step, disable=rank != 0, dynamic_ncols=True, file=sys.stdout)
    interval_losses, interval_tokens, interval_start = [], 0, time.perf_counter()
    try:
        while step < cfg.max_steps and not (cfg.patience and bad_evals >= cfg.patience):
            torch.manual_seed(cfg.seed * 1_000_003 + step * world + rank)  # dropout masks: f(seed, step, rank)
            batch = schedule.batch(step).to(device)
            lr = learning_rate(cfg, step)
            interval_losses.append(train_step(model, optimizer, batch, lr, cfg.grad_clip, cfg.bf16))
            interval_tokens += int((batch[:, 1:] != PAD).sum()) * world
            step += 1
            bar.update(1)
            if step % cfg.eval_interval and step < cfg.max_steps:
                continue
            tokens_per_s = interval_tokens / (time.perf_counter() - interval_start)
            val = validation_loss(raw_model, valid_tunes, cfg.batch_size * 2, device, rank, world)
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
                checkpoint()
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
    sys.exit(run_reporting_errors("train_lstm", main))
