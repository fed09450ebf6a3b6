"""The live side of a model: feed events one at a time, sample the next one. One model step per call.

    imp = Improviser.load("models/curve-lstm")
    imp.reset()                          # fresh state, BOS fed
    imp.observe(event)                   # a note or chord somebody played
    ev = imp.propose(temperature=0.9, top_p=0.95, pitch_range=(48, 84), scale={0, 2, 4, 5, 7, 9, 11})
    imp.commit(ev)                       # we play it: the model hears it too

The recurrent state is explicit and cached, so a call never re-reads the past and costs the
same at the 5th note as at the 5000th. Events live in the caller's beat timeline: a proposal's
onset is the previous event's onset plus the sampled inter-onset interval (0 for the first
event after reset), and its pitches follow the previous event as it was observed (not as its
token rounds it), so the answer continues from what was really played.

Live adaptation (`adapt=True`): a short-term PPM learns every token observed in this session (what
the player played) and is mixed with the model (liveimpro.lstm.adapt), so a motif the player repeats
becomes likely; `reset()` only starts a new melody in it. Committed tokens (our own answer) move its
context on but are not learned: learning them made answers loop on themselves (liveimpro.lstm.adapt).
Proposals then sample from the mixture.

Sampling (numpy, on the model's logits): specials are never proposed (the probability of
ending, EOS, is in `next_distribution()`); tokens whose top pitch falls outside `pitch_range`
or whose pitch class is not in `scale` are masked out; if the masks leave nothing, the
proposal falls back to every playable token (the unmasked distribution), so a call always
answers. Then temperature, then top-p (nucleus) truncation, then one draw from `rng`.

Precision (`precision=`): "int8" (the default where torch has the kernel) runs the step with 8-bit
weights made at load time from the folder's float32 ones (liveimpro.lstm.quantized): a step reads a
quarter of the bytes (1.0 MB instead of 4.1 MB), so it is ~1.3-1.5x faster with warm caches and
~2.3x when other work has pushed the weights out of them, while bits per note on the Essen
validation split move by at most +0.0002 (scripts/bench_step.py --bits). "float32" runs the folder's
weights as they are. Either way the same seed gives the same proposals.

The output head runs only when a distribution is needed (propose, next_distribution): observing a
call's notes steps the LSTM layers alone.

Threads: loading sets torch to one thread (process-wide). A step is a few small matrix-vector
products; spreading it over cores only adds wake-up latency.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..tokens.base import BOS, Event
from .adapt import AdaptiveMixer
from .folder import ModelFolder, load_model_folder

_MASK_CACHE_SIZE = 64  # (pitch_range, scale) masks kept; a live session uses a handful
PRECISIONS = ("int8", "float32")
DEFAULT_PRECISION = "int8"  # scripts/bench_step.py: a cheaper step, bits per note within +0.0002 of float32


def resolve_precision(precision: str | None) -> str:
    """`precision`, checked; None: DEFAULT_PRECISION, or float32 where this torch lacks the int8 kernel."""
    from .quantized import int8_kernel_available

    if precision is None:
        return DEFAULT_PRECISION if DEFAULT_PRECISION == "float32" or int8_kernel_available() else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and not int8_kernel_available():
        raise ModelError("precision int8: this torch has no working weight-only int8 kernel "
                         "(torch._weight_int8pack_mm); use precision float32")
    return precision


def step_module(folder: ModelFolder, precision: str):
    """The step module that runs at `precision` (see resolve_precision): the folder's own for float32."""
    if precision == "float32":
        return folder.module
    from .quantized import script_int8

    return script_int8(folder.module)


class Improviser:
    def __init__(self, folder: ModelFolder, rng: np.random.Generator | None = None, adapt: bool = False,
                 precision: str | None = None):
        import torch

        torch.set_num_threads(1)
        self._torch = torch
        self.folder = folder
        self.tokenizer = folder.tokenizer
        self.card = folder.card
        self.precision = resolve_precision(precision)
        self.module = step_module(folder, self.precision)  # what steps: init_state, step, advance, logits
        self._model = self.module
        self._rng = rng if rng is not None else np.random.default_rng()
        self._masks: dict[tuple, np.ndarray] = {}
        # live adaptation: a short-term model of every token stepped since loading (reset() only
        # marks a new melody with BOS), mixed into the proposals (liveimpro.lstm.adapt)
        self.adapt = AdaptiveMixer(len(self.tokenizer)) if adapt else None
        self._warm_up()
        self.reset()

    def _warm_up(self, runs: int = 3) -> None:
        """Run the step and the head a few times now: TorchScript's profiling executor optimises a
        function on its first calls, which took the int8 step's first propose 120 ms (the first
        answer of a session that late) against under 1 ms after. No state is kept."""
        with self._torch.inference_mode():
            state = self._model.init_state()
            for _ in range(runs):
                state = self._model.advance(BOS, state)
                self._model.logits(state)

    @classmethod
    def load(cls, folder, rng: np.random.Generator | None = None, adapt: bool = False,
             precision: str | None = None) -> "Improviser":
        """Read a model folder (ModelError if it is missing or damaged); `rng` for propose(rng=None);
        `adapt`: learn the session's melodies as they are heard (live adaptation); `precision`: "int8" or
        "float32" (None: DEFAULT_PRECISION)."""
        return cls(load_model_folder(folder), rng, adapt, precision)

    @property
    def previous(self) -> Event | None:
        """The last observed or committed event; None right after reset()."""
        return self._prev

    @property
    def steps(self) -> int:
        """Tokens fed since reset(), BOS included."""
        return self._steps

    def reset(self) -> None:
        """Forget the context: a fresh state with BOS fed (the start of a melody)."""
        self._state = self._model.init_state()
        self._prev: Event | None = None
        self._steps = 0
        self._step(BOS)

    def _step(self, token: int, learn: bool = True) -> None:
        with self._torch.inference_mode():
            self._state = self._model.advance(token, self._state)
        self._next_logits: np.ndarray | None = None  # the head runs when they are first asked for
        self._proposal: tuple[Event, int] | None = None
        self._steps += 1
        if self.adapt is not None:
            self.adapt.observe(token, learn)

    def snapshot(self) -> tuple:
        """Everything a step changes, for `restore`: what-if steps (the footswitch's rehearsals,
        liveimpro.music.responder) leave the model as it was. The recurrent state is not copied:
        a step makes a new one."""
        return (self._state, self._prev, self._steps, self._next_logits, self._proposal,
                None if self.adapt is None else self.adapt.snapshot())

    def restore(self, saved: tuple) -> None:
        self._state, self._prev, self._steps, self._next_logits, self._proposal, adapted = saved
        if adapted is not None:
            self.adapt.restore(adapted)

    def observe(self, event: Event) -> None:
        """Advance by an event somebody played (one step; nearest token when out of vocabulary)."""
        token = self.tokenizer.event_token(self._prev, event)
        self._step(token)
        self._prev = event

    def observe_token(self, token: int) -> None:
        """Advance by a token id, e.g. from `tokenizer.encode` when scoring; the event is what it decodes to."""
        event = self.tokenizer.token_event(self._prev, token)
        if event is None:
            raise ValueError(f"token {token} is a special or cannot follow {self._prev}")
        self._step(token)
        self._prev = event

    def commit(self, event: Event) -> None:
        """Advance by the event we play: usually the one `propose` just returned (its token is reused)."""
        if self._proposal is not None and self._proposal[0] == event:
            token = self._proposal[1]
        else:
            token = self.tokenizer.event_token(self._prev, event)
        self._step(token, learn=False)  # heard as context, not learned (module docstring)
        self._prev = event

    @property
    def _logits(self) -> np.ndarray:
        """float32 [vocab]: the model's logits of the next token (the output head, run once per step)."""
        if self._next_logits is None:
            with self._torch.inference_mode():
                self._next_logits = self._model.logits(self._state).numpy()
        return self._next_logits

    def next_distribution(self) -> np.ndarray:
        """Probabilities [vocab] (float64, sum 1) of the next token, specials included, at temperature 1."""
        z = self._logits.astype(np.float64)
        z -= z.max()
        np.exp(z, out=z)
        z /= z.sum()
        return z

    def _pitch_mask(self, pitch_range, scale) -> np.ndarray:
        """bool[129]: allowed top pitches 0..127; the last entry (index -1, an unplayable token) is False."""
        key = (tuple(pitch_range) if pitch_range is not None else None,
               frozenset(scale) if scale is not None else None)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.zeros(129, dtype=bool)
            low, high = key[0] if key[0] is not None else (0, 127)
            mask[max(0, low):min(127, high) + 1] = True
            if key[1] is not None:
                mask[:128] &= np.isin(np.arange(128) % 12, [pc % 12 for pc in key[1]])
            if len(self._masks) >= _MASK_CACHE_SIZE:
                self._masks.clear()
            self._masks[key] = mask
        return mask

    def propose(self, temperature: float = 1.0, top_p: float = 0.95, pitch_range: tuple[int, int] | None = None,
                scale=None, rng: np.random.Generator | None = None, avoid=None) -> Event:
        """Sample the next event without committing it (see the module docstring for the rules).

        temperature: > 0 scales the logits; 0 takes the most likely allowed token.
        top_p: keep the most likely tokens whose probabilities add up to top_p (1: keep all).
        pitch_range: (lowest, highest) MIDI pitch allowed for the event's top note, inclusive.
        scale: allowed pitch classes (0 = C .. 11 = B) of the top note; None allows all.
        avoid: top pitches (MIDI) not to propose, e.g. one that would go on with a loop
        (liveimpro.music.shape); ignored when it would leave nothing within the other masks.
        """
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in range (0, 1], got {top_p!r}")
        tops = self.tokenizer.next_pitches(self._prev)  # -1 for specials and tokens that cannot follow
        mask = self._pitch_mask(pitch_range, scale)
        candidates = np.array([], np.int64)
        if avoid:
            without = mask.copy()  # the cached mask stays as it is
            without[[p for p in avoid if 0 <= p <= 127]] = False
            candidates = np.flatnonzero(without[tops])
        if candidates.size == 0:
            candidates = np.flatnonzero(mask[tops])
        if candidates.size == 0:
            candidates = np.flatnonzero(tops >= 0)
            if candidates.size == 0:
                raise ModelError(f"{self.folder.path}: no token of the vocabulary can follow {self._prev}")
        if self.adapt is None:
            z = self._logits[candidates]
        else:  # the mixture's log-probabilities stand in for the logits
            z = np.log(self.adapt.mix(self.next_distribution())[candidates] + 1e-300)
        if temperature == 0:
            token = int(candidates[np.argmax(z)])
        else:
            weights = np.exp((z - z.max()) * (1.0 / temperature))  # unnormalised: the draw scales instead
            if top_p < 1:
                order = np.argsort(weights)[::-1]
                cumulative = np.cumsum(weights[order])
                kept = int(np.searchsorted(cumulative, top_p * cumulative[-1])) + 1
                candidates, cumulative = candidates[order[:kept]], cumulative[:kept]
            else:
                cumulative = np.cumsum(weights)
            draw = (rng if rng is not None else self._rng).random() * cumulative[-1]
            token = int(candidates[min(int(np.searchsorted(cumulative, draw, side="right")), len(cumulative) - 1)])
        event = self.tokenizer.token_event(self._prev, token)
        self._proposal = (event, token)
        return event


__all__ = ["Improviser", "PRECISIONS", "DEFAULT_PRECISION", "resolve_precision", "step_module"]
