"""The melody VAE at run time: encode, decode, sample, interpolate, vary and morph melodies.

    vae = MelodyVAE.load("models/melody-vae")
    code = vae.encode(melody)                  # Code: z per window [windows, latent] + how to put it back
    melody = vae.decode(code, temperature=0)   # 0: the most likely step each time (a reconstruction)
    vae.sample(8, rng)                         # decoded random points of the prior N(0, I)
    vae.interpolate(a, b, steps=7)             # a ... b: steps melodies, z along the great circle (slerp)
    vae.vary(call, amount=0.5, rng)            # the call with its z moved: an answer that resembles it
    vae.morph(a, b, fraction=0.3)              # one melody 30% of the way from a to b

Melodies are in beats, onset 0 = the phrase start (a bar line); every result keeps the tempo, meter
and key of its (first) input and its length in bars, by the cut/pad rule of liveimpro.vae.steps (long
phrases go window by window). `decode`, `vary`, `morph` and `interpolate` decode greedily (temperature
0) unless told otherwise, so the same z gives the same melody and a morph's end points are the
reconstructions of its inputs; randomness comes only from the `rng` given.

- vary: z' = sqrt(1 - amount^2) * mu + amount * e, e ~ N(0, I) per window: amount 0 gives the
  reconstruction, 1 an unrelated prior sample; z' keeps the prior's spread in between.
- morph/interpolate: slerp between the encodings (mu) of a and b; b is laid out in as many units as a
  (cut or padded), each window of the result decoded in a's meter.
Model folder (liveimpro.modelcard, kind "melody-vae"): weights.pt, representation.json (the step
representation it was trained on; checked against liveimpro.vae.steps and the card's model_config), card.json.
The network is rebuilt from liveimpro.vae.network and scripted at load. Loading sets torch to one thread, as
liveimpro.lstm.improviser does.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..melody import Melody
from ..modelcard import CARD, WEIGHTS, read_card, read_config, read_weights
from . import steps
from .folder import FILES, KIND, read_representation
from .steps import Layout, from_windows, layout, to_windows


@dataclass(frozen=True)
class Code:
    """A melody's encoding: z per window and what decoding needs to give the melody back its form."""
    z: np.ndarray  # [windows, latent] float32: the posterior means (or points moved from them)
    layout: Layout  # window shapes, length, octave shift (liveimpro.vae.steps)
    template: Melody  # no notes: the tempo, meter, key and name the decoded melody gets
    velocity: int = 80  # of every decoded note (the median velocity of the encoded melody)

    def with_z(self, z: np.ndarray) -> "Code":
        return replace(self, z=np.asarray(z, dtype=np.float32))


def slerp(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical interpolation along the last axis (linear where a and b are nearly parallel)."""
    na, nb = np.linalg.norm(a, axis=-1, keepdims=True), np.linalg.norm(b, axis=-1, keepdims=True)
    cos = np.clip(np.sum(a * b, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    safe = sin > 1e-6
    wa = np.where(safe, np.sin((1 - fraction) * omega) / np.where(safe, sin, 1.0), 1 - fraction)
    wb = np.where(safe, np.sin(fraction * omega) / np.where(safe, sin, 1.0), fraction)
    return (wa * a + wb * b).astype(np.float32)


class MelodyVAE:
    def __init__(self, path: Path, module, card: dict):
        import torch

        torch.set_num_threads(1)
        self._torch, self.module = torch, module
        self.path, self.card = path, card
        self.latent = int(card["model_config"]["latent"])
        self.classes = steps.NUM_CLASSES

    @classmethod
    def load(cls, folder) -> "MelodyVAE":
        """Read and check a model folder; ModelError (one line, naming the file) if anything is wrong."""
        from .network import CONFIG_LIMITS, VAEConfig, build_vae, script_for_inference

        folder = Path(folder)
        card = read_card(folder, KIND, FILES)
        config = read_config(folder / CARD, card, VAEConfig, CONFIG_LIMITS)
        read_representation(folder / "representation.json", config.classes)
        model = build_vae(config).requires_grad_(False)
        read_weights(folder / WEIGHTS, model)
        return cls(folder, script_for_inference(model), card)

    def _encode_windows(self, windows: list[np.ndarray], shapes: list[int]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            return np.stack([self.module.encode(torch.from_numpy(w[None]), shape)[0][0].numpy()
                             for w, shape in zip(windows, shapes)])

    def _decode_windows(self, z: np.ndarray, shapes: list[int], temperature: float,
                        rng: np.random.Generator | None) -> list[np.ndarray]:
        """z [n, windows, latent] -> per window, steps [n, T] of each of the n melodies."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i, shape in enumerate(shapes):
                steps = self.module.window_steps(shape)
                if temperature > 0:
                    rng = rng if rng is not None else np.random.default_rng()
                    noise = torch.from_numpy(rng.gumbel(size=(len(z), steps, self.classes)).astype(np.float32))
                else:
                    noise = torch.zeros(len(z), steps, self.classes)
                out.append(self.module.decode(torch.from_numpy(np.ascontiguousarray(z[:, i])), shape,
                                               float(temperature), noise).numpy())
        return out

    def encode(self, melody: Melody, bars: int | None = None, units: int | None = None) -> Code:
        """The melody's encoding (the posterior mean of each window); `bars` or `units` override its length."""
        lay = layout(melody, bars=bars, units=units)
        velocities = [n.velocity for n in melody.notes]
        return Code(self._encode_windows(to_windows(melody, lay), lay.shapes), lay, melody.with_notes(()),
                    int(statistics.median(velocities)) if velocities else 80)

    def decode(self, code: Code, temperature: float = 0.0, rng: np.random.Generator | None = None) -> Melody:
        """The melody of `code`: each window decoded from its z, put back in the form the code keeps."""
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        windows = self._decode_windows(code.z[None], code.layout.shapes, temperature, rng)
        return from_windows([w[0] for w in windows], code.layout, code.template, code.velocity)

    def decode_many(self, zs, code: Code, temperature: float = 0.0,
                    rng: np.random.Generator | None = None) -> list[Melody]:
        """Several z ([windows, latent] each) decoded in the form of `code`, one by one (a batch could round
        differently and so decode a point otherwise than `decode` does)."""
        return [self.decode(code.with_z(z), temperature, rng) for z in zs]

    def sample(self, n: int, rng: np.random.Generator | None = None, bars: int = 4, time_signature=(4, 4),
               tempo: float = 120.0, temperature: float = 0.5) -> list[Melody]:
        """n melodies of `bars` bars decoded from z ~ N(0, I)."""
        rng = rng if rng is not None else np.random.default_rng()
        template = Melody(tempo=tempo, time_signature=tuple(time_signature), name="sample")
        code = Code(np.zeros((0, self.latent), np.float32), layout(template, bars=bars), template)
        zs = rng.standard_normal((n, len(code.layout.windows), self.latent))
        return self.decode_many(list(zs), code, temperature, rng)

    def pair(self, a: Melody, b: Melody, bars: int | None = None) -> tuple[Code, Code]:
        """a's code and b's, b's in a's length (what interpolate and morph go between)."""
        code_a = self.encode(a, bars=bars)
        return code_a, self.encode(b, units=sum(code_a.layout.windows))

    def interpolate(self, a: Melody, b: Melody, steps: int, temperature: float = 0.0,
                    rng: np.random.Generator | None = None) -> list[Melody]:
        """`steps` (>= 2) melodies from a's reconstruction to b's, at fractions 0, 1/(steps-1), ..., 1."""
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps!r}")
        code_a, code_b = self.pair(a, b)
        zs = [slerp(code_a.z, code_b.z, f) for f in np.linspace(0.0, 1.0, steps)]
        return self.decode_many(zs, code_a, temperature, rng)

    def morph(self, a: Melody, b: Melody, fraction: float, bars: int | None = None,
              codes: tuple[Code, Code] | None = None) -> Melody:
        """The melody `fraction` (0..1) of the way from a to b, with a's length (or `bars`), meter and tempo.
        `codes`: `pair(a, b, bars)` made beforehand (the live engine makes it at the call's last release)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in range 0..1, got {fraction!r}")
        code_a, code_b = self.pair(a, b, bars) if codes is None else codes
        return self.decode(code_a.with_z(slerp(code_a.z, code_b.z, fraction)))

    def vary(self, melody: Melody, amount: float = 0.5, rng: np.random.Generator | None = None,
             temperature: float = 0.0, bars: int | None = None, code: Code | None = None) -> Melody:
        """A variation of `melody` (its length, or `bars` bars): its z moved by `amount` (0..1) toward a random
        point, decoded. `code`: `encode(melody, bars=bars)` made beforehand."""
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"amount must be in range 0..1, got {amount!r}")
        rng = rng if rng is not None else np.random.default_rng()
        code = self.encode(melody, bars=bars) if code is None else code
        moved = np.sqrt(1.0 - amount**2) * code.z + amount * rng.standard_normal(code.z.shape)
        return self.decode(code.with_z(moved), temperature, rng)


__all__ = ["MelodyVAE", "Code", "slerp", "FILES"]
