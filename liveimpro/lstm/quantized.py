"""The int8 step: `CachedStepLSTM`'s arithmetic with 8-bit weights, made at load time from the float32 ones.

    step = Int8StepLSTM.from_step(float_step)       # a CachedStepLSTM, eager or scripted
    logits, state = step.step(token, state)          # the same interface (init_state, step, forward_sequence)

Every matrix a step reads (the LSTM layers, and the output head, which is the embedding when tied)
is stored as int8 with one float scale per row (symmetric: scale = max |row| / 127), so a step reads
a quarter of the bytes: 1.0 MB instead of 4.1 MB for the shipped curve model, which fits a core's L2
cache and is four times cheaper to fetch again when other work has evicted it between two notes.
The products run through torch's weight-only int8 kernel (`torch._weight_int8pack_mm`, AVX2/AVX512),
which takes its input in bfloat16 and gives its output in bfloat16; everything else stays float32:
the embedding row, the biases, the gate nonlinearities and the recurrent state (h, c). Each layer is
one product: its input and hidden state side by side against [W_ih | W_hh], rows reordered at load
to (i, f, o, g) so one sigmoid covers three gates. Matrices whose width is not a multiple of ALIGN
get zero columns (the kernel needs it; the shipped models need none).

The model folder is unchanged (float32 weights, data only): nothing here is saved. Deterministic: the
same token sequence gives the same logits, bit for bit, at one thread. `forward_sequence` is the step
in a loop (not the fused LSTM kernel), so scoring a sequence scores exactly what the live step computes.
How far the logits stray from float32, and what it costs in bits per note: scripts/bench_step.py.
"""
from __future__ import annotations

import functools
from typing import List, Tuple

import torch
from torch import Tensor, nn

from ..modelcard import quiet_torchscript


def int8_rows(weight: Tensor) -> Tuple[Tensor, Tensor]:
    """[N, K] float -> (int8 [N, K], float32 scales [N]) with weight ~= int8 * scale[:, None]."""
    weight = weight.detach().to(torch.float32)
    exact = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    # the kernel applies the scales in bfloat16: quantise against the scales it will really use, rounded
    # up where rounding went down, so that no weight falls outside -127..127
    scale = exact.to(torch.bfloat16)
    scale = torch.where(scale.float() < exact, torch.nextafter(scale, torch.full_like(scale, float("inf"))), scale)
    scale = scale.float()
    return torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


# The kernel's AVX512 path reads the inner dimension in blocks of 16 and goes wrong (NaNs, or a crash) for
# any other width: every int8 matrix gets zero columns up to a multiple of this (none for the shipped models).
ALIGN = 64


def padded(weight: Tensor) -> Tensor:
    """`weight` [N, K] with zero columns appended up to a multiple of ALIGN."""
    extra = -weight.shape[1] % ALIGN
    return torch.cat([weight, weight.new_zeros(weight.shape[0], extra)], dim=1) if extra else weight


@functools.lru_cache(maxsize=None)
def int8_kernel_available() -> bool:
    """Whether this torch has the weight-only int8 kernel the int8 step needs, and it computes what it should."""
    generator = torch.Generator().manual_seed(0)
    q = torch.randint(-127, 128, (9, ALIGN), dtype=torch.int8, generator=generator)
    x = torch.randn(1, ALIGN, generator=generator).to(torch.bfloat16)
    scale = torch.rand(9, generator=generator).add(0.5).to(torch.bfloat16)
    try:
        out = torch._weight_int8pack_mm(x, q, scale)
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    expected = (x.float() @ q.float().t()) * scale.float()
    tolerance = 0.02 * float(expected.abs().max())
    return bool(out.shape == (1, 9) and torch.allclose(out.float(), expected, rtol=0.02, atol=tolerance))


class Int8StepLSTM(nn.Module):
    """init_state / step / advance / logits / forward_sequence like `CachedStepLSTM`, with int8 weights
    (see the module docstring)."""

    def __init__(self, embed: Tensor, w_ih: List[Tensor], w_hh: List[Tensor], bias: List[Tensor], head_w: Tensor,
                 head_b: Tensor, proj_w: Tensor, proj_b: Tensor):
        super().__init__()
        self.layers = len(w_ih)
        self.hidden = w_hh[0].shape[1]
        hidden = self.hidden
        # PyTorch's gate order is (i, f, g, o); ours is (i, f, o, g)
        order = torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden),
                           torch.arange(2 * hidden, 3 * hidden)])
        with torch.no_grad():
            self.embed = nn.Buffer(embed.detach().to(torch.float32).clone())  # one float row per step
            weights, scales, biases, pads = [], [], [], []
            for a, b, c in zip(w_ih, w_hh, bias):
                q, s = int8_rows(padded(torch.cat([a, b], dim=1)[order]))
                weights.append(q)
                scales.append(s.to(torch.bfloat16))
                biases.append(c.detach().to(torch.float32)[order].clone())
                pads.append(torch.zeros(q.shape[1] - a.shape[1] - b.shape[1]))  # appended to [x, h]: often empty
            # TorchScript takes these lists as List[Tensor] attributes
            self.w, self.w_scale, self.bias, self.pads = weights, scales, biases, pads
            self.head_w, head_scale = int8_rows(padded(head_w))
            self.head_scale = head_scale.to(torch.bfloat16)
            self.head_pad = torch.zeros(self.head_w.shape[1] - head_w.shape[1])
            self.head_b = nn.Buffer(head_b.detach().to(torch.float32).clone())
            self.has_proj = proj_w.numel() > 0
            self.proj_w = nn.Buffer(proj_w.detach().to(torch.float32).clone())  # hidden -> embed: small, float32
            self.proj_b = nn.Buffer(proj_b.detach().to(torch.float32).clone())

    @classmethod
    def from_step(cls, step) -> "Int8StepLSTM":
        """From a CachedStepLSTM (eager or scripted): its float32 parameters, quantised here."""
        p = dict(step.named_parameters())
        layers = int(step.layers)
        return cls(p["embed"], [p[f"w_ih.{i}"] for i in range(layers)], [p[f"w_hh.{i}"] for i in range(layers)],
                   [p[f"bias.{i}"] for i in range(layers)], p.get("head_w", p["embed"]), p["head_b"], p["proj_w"],
                   p["proj_b"])

    @torch.jit.export
    def init_state(self) -> Tensor:
        return torch.zeros(2, self.layers, self.hidden)

    @torch.jit.export
    def advance(self, token: int, state: Tensor) -> Tensor:
        """The state after `token`, without the output head."""
        hidden = self.hidden
        x = self.embed[token]
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        layer = 0
        for w, scale, bias, pad in zip(self.w, self.w_scale, self.bias, self.pads):
            inputs = torch.cat([x, state[0, layer], pad]).to(torch.bfloat16).unsqueeze(0)
            gates = torch.add(bias, torch._weight_int8pack_mm(inputs, w, scale)[0])  # float32
            s = torch.sigmoid(gates[:3 * hidden])
            c = torch.addcmul(s[hidden:2 * hidden] * state[1, layer], s[:hidden], torch.tanh(gates[3 * hidden:]))
            x = s[2 * hidden:] * torch.tanh(c)
            hs.append(x)
            cs.append(c)
            layer += 1
        return torch.stack([torch.stack(hs), torch.stack(cs)])

    @torch.jit.export
    def logits(self, state: Tensor) -> Tensor:
        """Logits [vocab] of the next token given `state` (the output head alone)."""
        x = state[0, self.layers - 1]
        if self.has_proj:
            x = torch.addmv(self.proj_b, self.proj_w, x)
        if self.head_pad.numel() > 0:
            x = torch.cat([x, self.head_pad])
        return torch.add(self.head_b, torch._weight_int8pack_mm(x.to(torch.bfloat16).unsqueeze(0), self.head_w,
                                                                self.head_scale)[0])

    @torch.jit.export
    def step(self, token: int, state: Tensor) -> Tuple[Tensor, Tensor]:
        state = self.advance(token, state)
        return self.logits(state), state

    @torch.jit.export
    def forward_sequence(self, tokens: Tensor) -> Tensor:
        """tokens [T] from a fresh state -> logits [T, vocab]: `step` in a loop, the live arithmetic exactly."""
        state = self.init_state()
        rows: List[Tensor] = []
        ids: List[int] = tokens.tolist()
        for token in ids:
            logits, state = self.step(token, state)
            rows.append(logits)
        return torch.stack(rows)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.forward_sequence(tokens)


def script_int8(step) -> torch.jit.ScriptModule:
    """`Int8StepLSTM.from_step(step)`, scripted (what the runtime runs for precision "int8")."""
    with quiet_torchscript():
        return torch.jit.script(Int8StepLSTM.from_step(step).eval())


__all__ = ["Int8StepLSTM", "int8_rows", "int8_kernel_available", "script_int8"]
