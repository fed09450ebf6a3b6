"""Whole tokenized tunes as batches for the next-token LSTM, and its loss on them.

Used by scripts/train_lstm.py (training) and scripts/bench_lstm.py (training throughput), so that the
benchmark measures the batches the trainer makes:

- `epoch_batches`: the tunes of one epoch, shuffled, grouped into batches of similar length (less padding);
- `collate`: a padded batch; a tune longer than the window gives a window of it;
- `BatchSchedule`: the batch of each step, a function of (seed, step, rank) only, so that a resumed run
  sees what an uninterrupted one would;
- `batch_loss`, `validation_loss`: cross-entropy with PAD masked out; the validation loss shared out
  among torchrun's processes;
- `train_step`: one optimizer step, with bfloat16 autocast where asked.

A batch is [B, T+1] token ids: whole tunes ([BOS ... EOS], the way the runtime starts a phrase),
padded with PAD, whose targets do not count in the loss.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..errors import UserError
from ..tokens.vocab import PAD
from .training import optimizer_step

POOL = 50  # batches whose tunes are sorted by length together: enough to cut padding, few enough to mix


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Tune indices per batch for one epoch: shuffled, grouped by length within pools of POOL batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL
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


class BatchSchedule:
    """The batch a process trains on at each step: a function of (seed, step, rank) only, so a resumed
    run sees what an uninterrupted one would. Under torchrun, rank r takes every world-th batch.
    `cfg` is the trainer's config: its batch_size, max_len, seed and data (named in the error)."""

    def __init__(self, tunes: list[np.ndarray], cfg, rank: int = 0, world: int = 1):
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


def batch_loss(model, batch: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of each next token given those before it (nats), PAD targets left out."""
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                           ignore_index=PAD, reduction=reduction)


@torch.no_grad()
def validation_loss(model, tunes: list[np.ndarray], batch_size: int, device, rank: int = 0, world: int = 1) -> float:
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


def train_step(model, optimizer, batch: torch.Tensor, lr: float, grad_clip: float, bf16: bool = False) -> float:
    """One optimizer step; its loss. Weights and gradients stay float32 (bf16 only inside the forward pass)."""
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = batch_loss(model, batch)
    optimizer_step(model, optimizer, loss, lr, grad_clip)
    return loss.item()
