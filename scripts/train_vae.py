"""Train the melody VAE on fixed-length windows of a prepared dataset's tunes (nanoGPT-style, one CPU process).

    python scripts/train_vae.py --data data/essen --out runs/melody-vae --export models/melody-vae
    python scripts/train_vae.py --decoder flat --out runs/melody-vae-flat        # the comparison model
    python scripts/train_vae.py --out runs/melody-vae --resume [--max-steps 6000] [--export DIR]

Data: every window of 2 and 4 units (liveimpro.vae.steps: 16-step units for duple meters, 12-step ones for
triple) starting on a bar line of a training-split tune, at least half sounding, duplicates removed; the
validation split gives the validation windows. A step's batch has one shape (unit length x units), drawn
with probability proportional to its number of windows, then its rows uniformly, each moved by a random
transposition in -transpose..+transpose semitones (kept within the pitch range). Batches and random draws
are functions of (seed, step), so a fixed seed gives the same run and a resumed run goes on exactly.

Loss (per window, mean over the batch): reconstruction (cross-entropy summed over the steps) + beta *
max(KL - free_bits, 0). beta rises linearly from 0 to `beta` over `kl_anneal_steps` (KL annealing); the
free bits let the KL spend that much on z unpenalised, so the decoder gains from using z before beta
bites (no posterior collapse). Teacher forcing with scheduled sampling, in two passes: a teacher-forced
pass without gradient samples the decoder's own choice at each step, then a share of the decoder's
inputs (rising linearly to `sampling_max` over `sampling_steps`) is replaced by those samples for the
pass that learns (Duckworth et al. 2019's parallel scheduled sampling: it keeps the fused LSTM kernel).
The command line, config, learning-rate schedule, optimizer step and checkpoint are liveimpro.data.training
(shared with scripts/train_lstm.py).

Writes to --out: ckpt.pt (weights, optimizer, config, history; read back with torch.load(weights_only=True))
and loss.png. With --export DIR the final weights are written as a model folder at the end
(liveimpro.vae.folder.save_vae_folder: weights.pt, representation.json, card.json) and read back as a user's
load does; --resume --export on a finished run just exports. Final, not "best":
with beta annealed and free bits the validation ELBO is lowest early, while the KL is still small and
the reconstructions poor, and the runs here see less than two epochs of windows, so they do not overfit.
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from liveimpro.cli import run_reporting_errors
from liveimpro.data.dataset import Dataset
from liveimpro.data.training import (
    DATA_DESCRIPTION,
    LN2,
    bits,
    config_parser,
    learning_rate,
    make_optimizer,
    optimizer_step,
    plot_curves,
    read_config,
    save_checkpoint,
    set_threads,
    show_config,
)
from liveimpro.errors import UserError
from liveimpro.vae.network import DECODERS, VAEConfig, build_vae
from liveimpro.vae.steps import (
    MAX_PITCH,
    MIN_PITCH,
    NUM_CLASSES,
    SHAPES,
    pitch_class,
    shape_windows,
)


@dataclass
class TrainConfig:
    decoder: str = "hierarchical"  # "hierarchical" (conductor + bar decoder, shipped) or "flat" (comparison)
    data: str = "data/essen"  # dataset folder written by scripts/prepare_data.py
    out: str = "runs/melody-vae"  # where ckpt.pt and loss.png go
    embed_dim: int = 32  # step-class embedding width
    enc_hidden: int = 256  # encoder LSTM width per direction
    latent: int = 64  # dimensions of z
    conductor_hidden: int = 256  # conductor LSTM width (hierarchical decoder)
    dec_hidden: int = 256  # note-level decoder LSTM width
    batch_size: int = 64  # windows per step
    transpose: int = 5  # random transposition of each training window, -transpose..+transpose semitones
    beta: float = 0.3  # final weight of the KL term
    kl_anneal_steps: int = 1000  # beta rises linearly from 0 over these steps
    free_bits: float = 96.0  # KL (bits per window) not penalised (48 held the KL at 47 bits, and fewer notes came back)
    sampling_max: float = 0.3  # final share of decoder inputs taken from the decoder's own samples
    sampling_steps: int = 1200  # that share rises linearly from 0 over these steps
    lr: float = 2e-3  # peak learning rate (AdamW)
    min_lr: float = 1e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    max_steps: int = 1500  # optimizer steps; the cosine decay ends here
    weight_decay: float = 0.01  # AdamW decoupled weight decay on matrices (not biases)
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.99  # AdamW second-moment decay
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    eval_interval: int = 150  # steps between validation passes (and checkpoints)
    eval_windows: int = 256  # validation windows per shape (a fixed sample of the validation split)
    seed: int = 1337  # seeds batches, transpositions, z draws and scheduled sampling: same seed, same run
    threads: int = 1  # torch threads; 0: all cores (on a shared 2-core machine 1 thread ran a step 7x faster than 2)


FIXED_ON_RESUME = ("decoder", "data", "embed_dim", "enc_hidden", "latent", "conductor_hidden", "dec_hidden")
CHOICES = {"decoder": DECODERS}


def parse_args(argv=None) -> tuple[dict, bool, str | None]:
    """(options given on the command line, --resume, --export); only given options, so they can override a
    resumed run's."""
    parser = config_parser(TrainConfig, __doc__.split("\n\n")[0], CHOICES)
    parser.add_argument("--export", metavar="DIR", default=None, help="write the final weights as a model folder")
    args = vars(parser.parse_args(argv))
    return args, args.pop("resume"), args.pop("export")


def transpose_rows(rows: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Note-on classes of each row moved by its shift, cut back so that every note stays in the pitch range."""
    notes = rows >= 2
    low = np.where(notes, rows, NUM_CLASSES).min(axis=1)
    high = np.where(notes, rows, -1).max(axis=1)
    shifts = np.clip(shifts, np.minimum(0, pitch_class(MIN_PITCH) - low), np.maximum(0, pitch_class(MAX_PITCH) - high))
    return np.where(notes, rows + shifts[:, None], rows)


def decoder_inputs(steps: torch.Tensor, start: int) -> torch.Tensor:
    """What the decoder is fed: the previous step's class, `start` before the first."""
    return torch.cat([torch.full_like(steps[:, :1], start), steps[:, :-1]], dim=1)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example and dimension, nats, [B, latent]."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def schedule(value: float, steps: int, step: int) -> float:
    """Linear rise from 0 to `value` over `steps` steps."""
    return value * min(1.0, step / steps) if steps else value


class Batches:
    """The training batch of each step: a function of (seed, step) only."""

    def __init__(self, windows: list[np.ndarray], cfg: TrainConfig):
        self.windows, self.cfg = windows, cfg
        counts = np.array([len(w) for w in windows], dtype=np.float64)
        if counts.sum() < cfg.batch_size:
            raise UserError(f"{cfg.data}: {int(counts.sum())} training windows are too few for batches of "
                            f"{cfg.batch_size}")
        self.share = counts / counts.sum()

    def batch(self, step: int) -> tuple[int, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, step])
        shape = int(rng.choice(len(SHAPES), p=self.share))
        rows = self.windows[shape][rng.integers(0, len(self.windows[shape]), self.cfg.batch_size)]
        shifts = rng.integers(-self.cfg.transpose, self.cfg.transpose + 1, len(rows))
        return shape, torch.from_numpy(transpose_rows(rows, shifts))


def train_step(model, optimizer, cfg: TrainConfig, shape: int, steps: torch.Tensor, step: int) -> dict:
    """One optimizer step on a batch of windows of one shape; the figures of the step."""
    mu, logvar = model.encode(steps, shape)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    inputs = decoder_inputs(steps, model.start)
    share = schedule(cfg.sampling_max, cfg.sampling_steps, step)
    if share > 0:
        with torch.no_grad():
            logits = model.teacher_forced(z.detach(), shape, inputs)
            own = torch.distributions.Categorical(logits=logits).sample()
        inputs = torch.where(torch.rand(inputs.shape) < share, decoder_inputs(own, model.start), inputs)
    logits = model.teacher_forced(z, shape, inputs)
    recon = F.cross_entropy(logits.transpose(1, 2), steps, reduction="none").sum(dim=1)
    kl = kl_per_dimension(mu, logvar).sum(dim=1)
    beta = schedule(cfg.beta, cfg.kl_anneal_steps, step)
    loss = (recon + beta * torch.clamp(kl - cfg.free_bits * LN2, min=0.0)).mean()
    optimizer_step(model, optimizer, loss, learning_rate(cfg, step), cfg.grad_clip)
    return {"recon": recon.mean().item() / steps.shape[1], "kl": kl.mean().item(), "beta": beta, "sampling": share}


@torch.no_grad()
def evaluate(model, windows: list[np.ndarray], seed: int) -> dict:
    """Over the validation windows: reconstruction nats per step (z drawn with a fixed seed), KL nats per
    window, and the ELBO per step (lower is better), each averaged over windows."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    recon = kl = count = step_count = 0.0
    for shape, rows in enumerate(windows):
        for start in range(0, len(rows), 256):
            steps = torch.from_numpy(rows[start:start + 256])
            mu, logvar = model.encode(steps, shape)
            z = mu + torch.randn(mu.shape, generator=generator) * torch.exp(0.5 * logvar)
            logits = model.teacher_forced(z, shape, decoder_inputs(steps, model.start))
            recon += F.cross_entropy(logits.transpose(1, 2), steps, reduction="sum").item()
            kl += kl_per_dimension(mu, logvar).sum().item()
            count += len(steps)
            step_count += steps.numel()
    model.train()
    return {"recon": recon / step_count, "kl": kl / count, "elbo": (recon + kl) / step_count}


def export_folder(ckpt: dict, folder: str, valid: list[np.ndarray]) -> dict:
    """Write the checkpoint's weights as a model folder and read it back (the checks a user's load makes)."""
    from liveimpro.vae.folder import save_vae_folder
    from liveimpro.vae.melody_vae import MelodyVAE

    model = build_vae(VAEConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    history = ckpt["history"]
    card = {
        "name": os.path.basename(folder.rstrip("/")),
        "architecture": (f"bidirectional LSTM encoder {ckpt['config']['enc_hidden']} x 2 -> z {model.latent} -> "
                         + (f"conductor LSTM {ckpt['config']['conductor_hidden']} (one embedding per bar) -> "
                            if model.cfg.decoder == "hierarchical" else "")
                         + f"{model.cfg.decoder} note decoder LSTM {model.cfg.dec_hidden}"),
        "training_data": {"description": DATA_DESCRIPTION, "dataset": ckpt["config"]["data"],
                          "windows": ckpt["windows"], "summary": ckpt["data_summary"]},
        "validation": {"recon_nats_per_step": history["valid_recon"][-1], "kl_nats_per_window": history["valid_kl"][-1],
                       "note": "validation windows (a fixed sample per shape), teacher forced, z drawn from q(z|x)"},
        "training": {"wall_seconds": round(ckpt["train_seconds"], 1), "steps": ckpt["step"],
                     "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} cores, "
                                f"torch {torch.__version__}"},
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": ckpt["config"],
    }
    card = save_vae_folder(folder, model, card)
    difference = loaded_difference(model, MelodyVAE.load(folder).module, valid)  # what a user's load gives
    if difference > 1e-4:
        raise UserError(f"{folder}: the loaded model differs from the trained one by {difference:.2g}")
    return card


def loaded_difference(model, scripted, windows: list[np.ndarray]) -> float:
    """Largest difference in mu between the trained and the loaded (scripted) encoder, or 1.0 where the greedy
    decodings of those mu differ, over a few windows of each shape."""
    worst = 0.0
    with torch.inference_mode():
        for shape, rows in enumerate(windows):
            if not len(rows):
                continue
            steps = torch.from_numpy(rows[:8])
            mu, _ = model.eval().encode(steps, shape)
            mu_scripted, _ = scripted.encode(steps, shape)
            noise = torch.zeros(len(steps), steps.shape[1], model.classes)
            same = torch.equal(model.decode(mu, shape, 0.0, noise), scripted.decode(mu, shape, 0.0, noise))
            worst = max(worst, (mu - mu_scripted).abs().max().item(), 0.0 if same else 1.0)
    return worst


def main(argv=None) -> int:
    given, resume, export_to = parse_args(argv)
    cfg, ckpt = read_config(given, resume, TrainConfig, FIXED_ON_RESUME)
    print(show_config(cfg, resuming=ckpt is not None))
    set_threads(cfg.threads)

    dataset = Dataset.load(cfg.data)
    train = shape_windows(dataset.melodies("train"))
    valid = [rows[np.random.default_rng([cfg.seed, i]).permutation(len(rows))[:cfg.eval_windows]]
             for i, rows in enumerate(shape_windows(dataset.melodies("valid")))]
    windows = {f"{unit}x{units}": {"train": len(t), "valid_sample": len(v)}
               for (unit, units), t, v in zip(SHAPES, train, valid)}
    model_cfg = VAEConfig(decoder=cfg.decoder, embed_dim=cfg.embed_dim, enc_hidden=cfg.enc_hidden,
                          latent=cfg.latent, conductor_hidden=cfg.conductor_hidden, dec_hidden=cfg.dec_hidden)
    torch.manual_seed(cfg.seed)
    model = build_vae(model_cfg)
    optimizer = make_optimizer(model, cfg)
    step, prior_seconds = 0, 0.0
    history = {key: [] for key in ("step", "train_recon", "train_kl", "valid_recon", "valid_kl", "valid_elbo",
                                   "beta", "sampling", "windows_per_s")}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history = ckpt["history"]
        step, prior_seconds = ckpt["step"], ckpt["train_seconds"]
    batches = Batches(train, cfg)
    print(f"{model.num_parameters():,} parameters; windows (unit steps x units): "
          + ", ".join(f"{name} {n['train']:,} train / {n['valid_sample']} valid" for name, n in windows.items())
          + f"; {torch.get_num_threads()} thread(s)")
    os.makedirs(cfg.out, exist_ok=True)
    ckpt_path = os.path.join(cfg.out, "ckpt.pt")
    run_start = time.perf_counter()

    def checkpoint() -> dict:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "config": asdict(cfg), "model_config": asdict(model_cfg), "step": step,
                 "history": history, "train_seconds": prior_seconds + time.perf_counter() - run_start,
                 "windows": windows, "data_summary": dataset.summary}
        save_checkpoint(state, ckpt_path)
        plot_curves(os.path.join(cfg.out, "loss.png"), history["step"], [
            ("reconstruction, bits per step", {"train": bits(history["train_recon"]),
                                               "valid": bits(history["valid_recon"])}),
            ("KL, bits per window", {"train": bits(history["train_kl"]), "valid": bits(history["valid_kl"]),
                                     "free bits": cfg.free_bits})])
        return state

    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, file=sys.stdout)
    interval, interval_start = [], time.perf_counter()
    try:
        while step < cfg.max_steps:
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # z draws and scheduled sampling: f(seed, step)
            shape, steps = batches.batch(step)
            interval.append(train_step(model, optimizer, cfg, shape, steps, step))
            step += 1
            bar.update(1)
            if step % cfg.eval_interval and step < cfg.max_steps:
                continue
            val = evaluate(model, valid, cfg.seed)
            means = {key: float(np.mean([row[key] for row in interval])) for key in ("recon", "kl")}
            for key, value in (("step", step), ("train_recon", means["recon"]), ("train_kl", means["kl"]),
                               ("valid_recon", val["recon"]), ("valid_kl", val["kl"]), ("valid_elbo", val["elbo"]),
                               ("beta", interval[-1]["beta"]), ("sampling", interval[-1]["sampling"]),
                               ("windows_per_s", len(interval) * cfg.batch_size / (time.perf_counter() - interval_start))):
                history[key].append(value)
            bar.write(f"step {step}: train recon {means['recon'] / LN2:.3f} bits/step, KL {means['kl'] / LN2:.1f} "
                      f"bits | valid recon {val['recon'] / LN2:.3f}, KL {val['kl'] / LN2:.1f}, elbo "
                      f"{val['elbo'] / LN2:.3f} bits/step | beta {interval[-1]['beta']:.2f}, sampled inputs "
                      f"{interval[-1]['sampling']:.2f}, lr {learning_rate(cfg, step - 1):.1e}, "
                      f"{history['windows_per_s'][-1]:.0f} windows/s")
            checkpoint()
            interval, interval_start = [], time.perf_counter()
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted at step {step}; --resume continues from the last checkpoint")
        return 130
    bar.close()
    final = checkpoint() if ckpt is None or step != ckpt["step"] else ckpt
    print(f"done at step {step}: valid recon {history['valid_recon'][-1] / LN2:.4f} bits/step, KL "
          f"{history['valid_kl'][-1] / LN2:.1f} bits, "
          f"{final['train_seconds'] / 60:.1f} min of training; checkpoint {ckpt_path}")
    if export_to:
        card = export_folder(final, export_to, valid)
        print(f"wrote {export_to}: {card['parameters']:,} parameters, weights.pt "
              f"{card['files']['weights.pt']['bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors("train_vae", main))
