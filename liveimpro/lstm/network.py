"""The next-token LSTM: a trainable network and its step-at-a-time form.

`NextTokenLSTM` is what training sees: embedding -> multi-layer LSTM -> output head,
batch-first over padded token sequences; its parameters are what a model folder stores
(liveimpro.modelcard). `CachedStepLSTM` is what runs: the same weights rearranged, with
the recurrent state passed explicitly, so that a live caller pays one step per token
however long the context is:

    state = m.init_state()                      # Tensor[2, layers, hidden]: (h, c)
    logits, state = m.step(token, state)        # logits over the NEXT token, Tensor[vocab]
    state = m.advance(token, state)             # the same step without the output head ...
    logits = m.logits(state)                    # ... which runs on its own, when asked for
    logits = m.forward_sequence(tokens)         # Tensor[T, vocab], whole context at once

`step` is written per layer with matrix-vector products (LSTMCell style): for the shipped
2 x 192 models on one thread of a 2-core CPU it takes ~0.15 ms where `nn.LSTM` on a
length-1 sequence takes ~0.5 ms (median; scripts/bench_lstm.py, section 3): the fused
kernel's per-call set-up costs more than one step's arithmetic. `forward_sequence` uses the
fused kernel, the fastest way to score a whole context without a cache.

This is the float32 step. The live engine runs by default an int8 form of the same weights, made at
load time: liveimpro.lstm.quantized (Improviser.load's `precision`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor, nn

from ..modelcard import quiet_torchscript


@dataclass
class ModelConfig:
    vocab_size: int  # tokens, specials (PAD=0, BOS=1, EOS=2) included
    embed_dim: int = 256  # width of the token embedding
    hidden: int = 256  # width of each LSTM layer
    layers: int = 2  # stacked LSTM layers
    dropout: float = 0.3  # on the embedding, between layers and before the head (training only)
    tie_weights: bool = True  # head reuses the embedding matrix (through a hidden->embed projection if widths differ)


# What a model folder's model_config may say (liveimpro.modelcard.read_config checks it before building
# anything): far beyond the shipped models (2,683 tokens, 192 wide, 2 layers, 1.1 M parameters), yet the
# largest network they allow has ~100 M parameters (400 MB), so no card can make the loader take gigabytes.
CONFIG_LIMITS = {"vocab_size": (4, 32_768), "embed_dim": (1, 1024), "hidden": (1, 1024), "layers": (1, 4),
                 "dropout": (0.0, 1.0)}
STEP_METHODS = ("init_state", "step", "advance", "logits", "forward_sequence")


class NextTokenLSTM(nn.Module):
    """tokens [B, T] -> logits [B, T, vocab]: position t predicts token t+1."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        head_in = cfg.embed_dim if cfg.tie_weights else cfg.hidden
        self.proj = nn.Linear(cfg.hidden, head_in) if head_in != cfg.hidden else None
        self.head = nn.Linear(head_in, cfg.vocab_size)
        if cfg.tie_weights:
            self.head.weight = self.embed.weight

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.lstm(self.drop(self.embed(tokens)))
        out = self.drop(out)
        if self.proj is not None:
            out = self.proj(out)
        return self.head(out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once


class CachedStepLSTM(nn.Module):
    """The inference form of a trained `NextTokenLSTM` (eval mode, no dropout), ready for TorchScript."""

    def __init__(self, trained: NextTokenLSTM):
        super().__init__()
        cfg = trained.cfg
        self.layers = cfg.layers
        self.hidden = cfg.hidden
        lstm = trained.lstm
        with torch.no_grad():
            self.embed = nn.Parameter(trained.embed.weight.detach().clone())
            self.w_ih = nn.ParameterList(
                [nn.Parameter(getattr(lstm, f"weight_ih_l{i}").detach().clone()) for i in range(cfg.layers)])
            self.w_hh = nn.ParameterList(
                [nn.Parameter(getattr(lstm, f"weight_hh_l{i}").detach().clone()) for i in range(cfg.layers)])
            self.b_ih = nn.ParameterList(
                [nn.Parameter(getattr(lstm, f"bias_ih_l{i}").detach().clone()) for i in range(cfg.layers)])
            self.b_hh = nn.ParameterList(
                [nn.Parameter(getattr(lstm, f"bias_hh_l{i}").detach().clone()) for i in range(cfg.layers)])
            # The step adds both biases once, up front.
            self.bias = nn.ParameterList([nn.Parameter(a + b) for a, b in zip(self.b_ih, self.b_hh)])
            # Tied weights stay one tensor: the file would otherwise hold its largest matrix twice.
            self.head_w = self.embed if cfg.tie_weights else nn.Parameter(trained.head.weight.detach().clone())
            self.head_b = nn.Parameter(trained.head.bias.detach().clone())
            self.has_proj = trained.proj is not None
            empty = torch.zeros(0)
            self.proj_w = nn.Parameter(trained.proj.weight.detach().clone() if self.has_proj else empty)
            self.proj_b = nn.Parameter(trained.proj.bias.detach().clone() if self.has_proj else empty)

    @torch.jit.export
    def init_state(self) -> Tensor:
        return torch.zeros(2, self.layers, self.hidden)

    @torch.jit.export
    def advance(self, token: int, state: Tensor) -> Tensor:
        """The state after `token`, without the output head (the Improviser runs the head only when asked)."""
        x = self.embed[token]
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        layer = 0
        for w_ih, w_hh, bias in zip(self.w_ih, self.w_hh, self.bias):
            gates = torch.addmv(torch.addmv(bias, w_ih, x), w_hh, state[0, layer])
            i, f, g, o = gates.chunk(4)
            c = torch.sigmoid(f) * state[1, layer] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c)
            hs.append(x)
            cs.append(c)
            layer += 1
        return torch.stack([torch.stack(hs), torch.stack(cs)])

    @torch.jit.export
    def logits(self, state: Tensor) -> Tensor:
        """Logits [vocab] of the next token given `state`: the output head alone."""
        x = state[0, self.layers - 1]
        if self.has_proj:
            x = torch.addmv(self.proj_b, self.proj_w, x)
        return torch.addmv(self.head_b, self.head_w, x)

    @torch.jit.export
    def step(self, token: int, state: Tensor) -> Tuple[Tensor, Tensor]:
        state = self.advance(token, state)
        return self.logits(state), state

    @torch.jit.export
    def forward_sequence(self, tokens: Tensor) -> Tensor:
        """tokens [T] (int64) from a fresh state -> logits [T, vocab] (row t predicts token t+1)."""
        x = self.embed[tokens].unsqueeze(0)
        h0 = torch.zeros(self.layers, 1, self.hidden)
        weights: List[Tensor] = []
        for w_ih, w_hh, b_ih, b_hh in zip(self.w_ih, self.w_hh, self.b_ih, self.b_hh):
            weights += [w_ih, w_hh, b_ih, b_hh]
        out, _, _ = torch.lstm(x, [h0, h0], weights, True, self.layers, 0.0, False, False, True)
        out = out[0]
        if self.has_proj:
            out = torch.addmm(self.proj_b, out, self.proj_w.t())
        return torch.addmm(self.head_b, out, self.head_w.t())

    def forward(self, tokens: Tensor) -> Tensor:
        return self.forward_sequence(tokens)


def script_for_inference(trained: NextTokenLSTM) -> torch.jit.ScriptModule:
    """The step form of `trained` (switched to eval mode), scripted: what liveimpro runs. Scripted rather
    than eager: a step took 151 us median against 184 us eager (shipped curve model, one thread of this
    2-core machine); freezing it as well gained nothing measurable."""
    with quiet_torchscript():
        return torch.jit.script(CachedStepLSTM(trained.eval()).eval().requires_grad_(False))


def standalone_torchscript(trained: NextTokenLSTM) -> torch.jit.ScriptModule:
    """`script_for_inference` frozen (parameters become constants), for hosts outside liveimpro (a C++ plugin
    through libtorch): init_state, step, forward_sequence. liveimpro never loads TorchScript (it can run code)."""
    with quiet_torchscript():
        return torch.jit.freeze(script_for_inference(trained), preserved_attrs=list(STEP_METHODS))
