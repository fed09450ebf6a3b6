"""The melody VAE (after MusicVAE, Roberts et al. 2018): windows of steps (liveimpro.vae.steps) <-> latent z.

Encoder: step classes (+ the step's position in its unit) -> bidirectional LSTM -> the final states of
both directions -> mu and log-variance of a diagonal Gaussian q(z | window).

Decoders, both autoregressive over the steps (input: the previous step's class, its position, a
context vector), told the window's shape (16- or 12-step units, 2 or 4 of them) by an embedding:
- hierarchical: a *conductor* LSTM, started from z, gives one embedding per unit (bar); each bar is
  decoded by the note-level LSTM started afresh from its bar's embedding (which is also its context
  input). The note decoder cannot carry the tune from bar to bar by itself, so it has to use z: this is
  MusicVAE's remedy for the posterior collapse of long sequences.
- flat: one LSTM over all the steps, started from z and given z (and the shape) at every step.
Both are one model class each with the same core (`_segment_contexts` is what differs): the decoder
runs over *segments* (bars, or the whole window) each started from and fed its context vector.

`encode(steps, shape)` and `decode(z, shape, temperature, noise)` are TorchScript methods. Decoding is
step by step (matrix-vector sized work), with the parts of the LSTM input that do not depend on the
previous step (position, context, biases) computed for all steps up front, and the class embedding
folded into the input weights once. Sampling takes its randomness as an argument (Gumbel noise), so
the caller's numpy generator decides it and a seed reproduces a result. Temperature 0 is greedy in two
stages (`most_likely`): first what happens (rest, hold, or a note starts, the last with the summed
probability of every pitch), then, for a note, its most likely pitch. A plain argmax over the classes
would hold notes far too often: where a new note is likely but its pitch is not sure, HOLD outweighs
each single pitch (the reconstructions of the first trained model had a third fewer notes than the
originals). HOLD is never chosen after REST or at the start of a window (it would mean a rest).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor, nn

from ..modelcard import quiet_torchscript
from .steps import HOLD, NUM_CLASSES, REST, SHAPES, UNIT_STEPS

DECODERS = ("hierarchical", "flat")


@dataclass
class VAEConfig:
    decoder: str = "hierarchical"  # "hierarchical" (conductor + bar decoder) or "flat" (one LSTM over all steps)
    classes: int = NUM_CLASSES  # step classes: REST, HOLD, one note-on per pitch
    embed_dim: int = 32  # width of the step-class embedding (encoder and decoder inputs)
    position_dim: int = 8  # width of the embedding of a step's position in its unit (duple, triple apart)
    shape_dim: int = 8  # width of the embedding of the window shape (unit length x units)
    enc_hidden: int = 256  # encoder LSTM width, per direction
    latent: int = 64  # dimensions of z
    conductor_hidden: int = 256  # conductor LSTM width (hierarchical only)
    dec_hidden: int = 256  # note-level decoder LSTM width


# What a model folder's model_config may say (liveimpro.modelcard.read_config checks it before building
# anything): far beyond the shipped model (256 wide, z of 64, 1.8 M parameters), yet the largest network they
# allow has ~40 M parameters (160 MB), so no card can make the loader take gigabytes.
CONFIG_LIMITS = {"decoder": DECODERS, "classes": (3, 256), "embed_dim": (1, 256), "position_dim": (1, 256),
                 "shape_dim": (1, 256), "enc_hidden": (1, 1024), "latent": (1, 512), "conductor_hidden": (1, 1024),
                 "dec_hidden": (1, 1024)}


class _VAE(nn.Module):
    def __init__(self, cfg: VAEConfig, context_dim: int):
        super().__init__()
        self.cfg = cfg
        self.classes = cfg.classes
        self.latent = cfg.latent
        self.hidden = cfg.dec_hidden
        self.start = cfg.classes  # the decoder's input before the first step
        # added to the logits after each previous class: -inf for HOLD after REST and at the start (a rest)
        next_bias = torch.zeros(cfg.classes + 1, cfg.classes)
        next_bias[[REST, self.start], HOLD] = float("-inf")
        self.register_buffer("next_bias", next_bias, persistent=False)
        self.shape_units: List[int] = [units for _, units in SHAPES]
        self.shape_steps: List[int] = [unit for unit, _ in SHAPES]
        # a step's position embedding: duple units use 0..15, triple ones 16..27
        self.position_offset: List[int] = [sum(UNIT_STEPS[:UNIT_STEPS.index(unit)]) for unit, _ in SHAPES]
        self.embed = nn.Embedding(cfg.classes + 1, cfg.embed_dim)
        self.position = nn.Embedding(sum(UNIT_STEPS), cfg.position_dim)
        self.shape = nn.Embedding(len(SHAPES), cfg.shape_dim)
        self.encoder = nn.LSTM(cfg.embed_dim + cfg.position_dim, cfg.enc_hidden, batch_first=True, bidirectional=True)
        self.to_latent = nn.Linear(2 * cfg.enc_hidden, 2 * cfg.latent)
        self.dec_init = nn.Linear(context_dim, 2 * cfg.dec_hidden)
        self.decoder = nn.LSTM(cfg.embed_dim + cfg.position_dim + context_dim, cfg.dec_hidden, batch_first=True)
        self.head = nn.Linear(cfg.dec_hidden, cfg.classes)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _positions(self, shape: int, steps: int) -> Tensor:
        """[steps, position_dim]: the embedding of each step's position in its unit."""
        positions = torch.arange(steps, device=self.position.weight.device) % self.shape_steps[shape]
        return self.position(positions + self.position_offset[shape])

    def _condition(self, z: Tensor, shape: int) -> Tensor:
        """[B, latent + shape_dim]: z with the window shape."""
        code = self.shape.weight[shape].unsqueeze(0).expand(z.shape[0], -1)
        return torch.cat([z, code], dim=1)

    def _segment_contexts(self, z: Tensor, shape: int) -> Tensor:
        """[B, segments, context_dim]; the subclasses say what a segment is."""
        raise NotImplementedError

    @torch.jit.export
    def most_likely(self, logits: Tensor) -> Tensor:
        """[..., classes] -> [...]: REST, HOLD or a note-on, whichever is likeliest (a note-on's probability
        summed over pitches); for a note-on, its likeliest pitch."""
        probs = torch.softmax(logits, dim=-1)
        kind = torch.stack([probs[..., 0], probs[..., 1], probs[..., 2:].sum(dim=-1)], dim=-1).argmax(dim=-1)
        return torch.where(kind == 2, probs[..., 2:].argmax(dim=-1) + 2, kind)

    @torch.jit.export
    def window_steps(self, shape: int) -> int:
        return self.shape_steps[shape] * self.shape_units[shape]

    @torch.jit.export
    def encode(self, steps: Tensor, shape: int) -> Tuple[Tensor, Tensor]:
        """steps [B, T] (int64) -> (mu, logvar), each [B, latent]."""
        positions = self._positions(shape, steps.shape[1]).unsqueeze(0).expand(steps.shape[0], -1, -1)
        _, (h, _) = self.encoder(torch.cat([self.embed(steps), positions], dim=2))
        mu, logvar = self.to_latent(torch.cat([h[0], h[1]], dim=1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def teacher_forced(self, z: Tensor, shape: int, inputs: Tensor) -> Tensor:
        """Logits [B, T, classes] with decoder inputs given ([B, T]: the previous step's class, START first)."""
        context = self._segment_contexts(z, shape)
        batch, steps = inputs.shape
        segments = context.shape[1]
        length = steps // segments
        x = torch.cat([self.embed(inputs), self._positions(shape, steps).unsqueeze(0).expand(batch, -1, -1),
                       context.repeat_interleave(length, dim=1)], dim=2)
        h0, c0 = torch.tanh(self.dec_init(context)).reshape(1, batch * segments, 2 * self.hidden).chunk(2, dim=2)
        out, _ = self.decoder(x.reshape(batch * segments, length, -1), (h0.contiguous(), c0.contiguous()))
        return self.head(out.reshape(batch, steps, self.hidden))

    def forward(self, steps: Tensor, shape: int, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Training: (logits [B, T, classes], mu, logvar), z drawn from q(z | steps) by reparametrisation."""
        mu, logvar = self.encode(steps, shape)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.teacher_forced(z, shape, inputs), mu, logvar

    @torch.jit.export
    def decode(self, z: Tensor, shape: int, temperature: float, noise: Tensor) -> Tensor:
        """z [B, latent] -> step classes [B, T] (int64). temperature 0: `most_likely` each step; > 0: a draw
        from the softmax of logits / temperature, as the argmax of those plus noise [B, T, classes] (Gumbel)."""
        context = self._segment_contexts(z, shape)
        batch, segments = context.shape[0], context.shape[1]
        steps = self.window_steps(shape)
        length = steps // segments
        e, p = self.embed.weight.shape[1], self.position.weight.shape[1]
        w_ih, w_hh = self.decoder.weight_ih_l0, self.decoder.weight_hh_l0
        class_gates = self.embed.weight @ w_ih[:, :e].t()  # [classes + 1, 4H]
        position_gates = self._positions(shape, length) @ w_ih[:, e:e + p].t()  # [length, 4H]
        context_gates = context @ w_ih[:, e + p:].t() + self.decoder.bias_ih_l0 + self.decoder.bias_hh_l0
        initial = torch.tanh(self.dec_init(context))  # [B, segments, 2H]
        out = torch.empty(batch, steps, dtype=torch.int64, device=z.device)
        previous = torch.full((batch,), self.start, dtype=torch.int64, device=z.device)
        for s in range(segments):
            h, c = initial[:, s, :self.hidden], initial[:, s, self.hidden:]
            for t in range(length):
                gates = torch.addmm(class_gates[previous] + position_gates[t] + context_gates[:, s], h, w_hh.t())
                i, f, g, o = gates.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                logits = torch.addmm(self.head.bias + self.next_bias[previous], h, self.head.weight.t())
                if temperature > 0:
                    previous = (logits / temperature + noise[:, s * length + t]).argmax(dim=1)
                else:
                    previous = self.most_likely(logits)
                out[:, s * length + t] = previous
        return out


class HierarchicalVAE(_VAE):
    def __init__(self, cfg: VAEConfig):
        super().__init__(cfg, context_dim=cfg.conductor_hidden)
        condition = cfg.latent + cfg.shape_dim
        self.conductor_init = nn.Linear(condition, 2 * cfg.conductor_hidden)
        self.conductor = nn.LSTM(condition, cfg.conductor_hidden, batch_first=True)

    def _segment_contexts(self, z: Tensor, shape: int) -> Tensor:
        """One conductor embedding per unit (bar), [B, units, conductor_hidden]."""
        condition = self._condition(z, shape)
        h0, c0 = torch.tanh(self.conductor_init(condition)).unsqueeze(0).chunk(2, dim=2)
        units = self.shape_units[shape]
        inputs = condition.unsqueeze(1).expand(-1, units, -1).contiguous()
        out, _ = self.conductor(inputs, (h0.contiguous(), c0.contiguous()))
        return out


class FlatVAE(_VAE):
    def __init__(self, cfg: VAEConfig):
        super().__init__(cfg, context_dim=cfg.latent + cfg.shape_dim)

    def _segment_contexts(self, z: Tensor, shape: int) -> Tensor:
        """The whole window is one segment; its context is z with the shape, [B, 1, latent + shape_dim]."""
        return self._condition(z, shape).unsqueeze(1)


def build_vae(cfg: VAEConfig) -> _VAE:
    if cfg.decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {cfg.decoder!r}")
    return (HierarchicalVAE if cfg.decoder == "hierarchical" else FlatVAE)(cfg)


def script_for_inference(trained: _VAE) -> torch.jit.ScriptModule:
    """Script `trained` (eval mode): encode + decode of a 4-bar window took 10.7 ms scripted against 14.6 ms
    eager (one thread); scripting the shipped model costs ~0.5 s at load. Not frozen: freezing rejects the
    LSTM weights that `decode` reads beside the fused kernel's own copy of them."""
    with quiet_torchscript():
        return torch.jit.script(trained.eval())


__all__ = ["VAEConfig", "HierarchicalVAE", "FlatVAE", "build_vae", "script_for_inference", "DECODERS",
           "CONFIG_LIMITS"]
