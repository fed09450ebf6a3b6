"""PPM (liveimpro.lstm.ppm) and live adaptation (liveimpro.lstm.adapt), checked against a plain-Python
reference written straight from the formulas in liveimpro/lstm/ppm.py's docstring."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.lstm.adapt import SHORT_TERM, AdaptiveMixer, ShortTermPPM, mix
from liveimpro.lstm.ppm import PPM, PPMConfig

BOS, EOS = 1, 2
CONFIGS = [PPMConfig(order, escape, exclusion, update)
           for order in (0, 1, 3, None) for escape in ("a", "c", "d", "x")
           for exclusion in (False, True) for update in (False, True)]


def reference_counts(train, context, use_continuation):
    """What followed `context` in `train`: raw counts, or once per distinct older token."""
    raw, older = Counter(), {}
    for seq in train:
        for i in range(max(1, len(context)), len(seq)):
            if tuple(seq[i - len(context):i]) == context:
                raw[seq[i]] += 1
                before = seq[i - len(context) - 1] if i > len(context) else ("start", i, id(seq))
                older.setdefault(seq[i], set()).add(before)
    return {t: len(s) for t, s in older.items()} if use_continuation else dict(raw)


def reference_probs(train, history, vocab, cfg):
    contexts, k = [], 0
    while k <= len(history) and (cfg.order is None or k <= cfg.order):
        context = tuple(history[len(history) - k:]) if k else ()
        raw = reference_counts(train, context, False)
        if not raw:
            break
        contexts.append(context)
        if cfg.order is None and len(raw) == 1:
            break
        k += 1
    levels = [reference_counts(train, c, cfg.update_exclusion and i < len(contexts) - 1)
              for i, c in enumerate(contexts)]
    probs, weight, excluded = [0.0] * vocab, 1.0, set()
    for counts in reversed(levels):
        if cfg.exclusion:
            counts = {t: c for t, c in counts.items() if t not in excluded}
            excluded |= set(counts)
        if not counts:
            continue
        k_add = -0.5 if cfg.escape == "d" else 0.0
        escape = {"a": 1.0, "c": len(counts), "d": len(counts) / 2,
                  "x": sum(c == 1 for c in counts.values()) + 1.0}[cfg.escape]
        total = sum(c + k_add for c in counts.values()) + escape
        for t, c in counts.items():
            probs[t] += weight * (c + k_add) / total
        weight *= escape / total
    rest = [t for t in range(vocab) if t not in (0, 1) and t not in excluded]
    for t in rest:
        probs[t] += weight / len(rest)
    if not rest:
        probs = [p / sum(probs) for p in probs]
    return probs


def random_tunes(rng, n, vocab, length):
    return [[BOS] + list(rng.integers(3, vocab, rng.integers(1, length))) + [EOS] for _ in range(n)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.describe())
def test_trained_ppm_matches_reference(cfg):
    rng = np.random.default_rng(1)
    vocab = 7  # small alphabet: contexts repeat, so every order gets used
    train = random_tunes(rng, 6, vocab, 12)
    model = PPM.train(train, vocab, cfg)
    for query in random_tunes(rng, 3, vocab, 10) + train[:1]:
        got = model.sequence_probs(query)
        for i in range(1, len(query)):
            assert np.allclose(got[i - 1], reference_probs(train, query[:i], vocab, cfg), atol=1e-12)
            assert np.allclose(model.next_probs(query[:i]), got[i - 1], atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=lambda c: c.describe())
def test_short_term_model_is_ppm_trained_on_the_melody_so_far(cfg):
    rng = np.random.default_rng(2)
    seq = [BOS] + list(rng.integers(3, 6, 30)) + [EOS]
    got = ShortTermPPM(8, cfg).sequence_probs(seq)
    for i in range(1, len(seq)):
        assert np.allclose(got[i - 1], reference_probs([seq[:i]], seq[:i], 8, cfg), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 40), st.sampled_from(CONFIGS), st.integers(0, 2**32 - 1))
def test_probabilities_sum_to_one_over_the_alphabet(vocab, cfg, seed):
    rng = np.random.default_rng(seed)
    model = PPM.train(random_tunes(rng, 5, vocab, 20), vocab, cfg)
    history = [BOS] + list(rng.integers(3, vocab, rng.integers(0, 15)))
    for probs in (model.next_probs(history), ShortTermPPM(vocab, cfg).sequence_probs(history + [EOS])[-1]):
        assert probs.shape == (vocab,)
        assert math.isclose(probs.sum(), 1.0, rel_tol=1e-9)
        assert probs[0] == probs[1] == 0.0  # PAD and BOS are never predicted
        assert (probs[2:] > 0).all()


def bits(probs_rows, seq):
    return -np.log2(probs_rows[np.arange(len(seq) - 1), seq[1:]])


def test_ppm_learns_a_repetitive_sequence():
    motif = [5, 9, 7, 5, 12, 11]
    seq = [BOS] + motif * 8 + [EOS]
    model = PPM.train([seq], 20, PPMConfig(order=4))
    trained = bits(model.sequence_probs(seq), seq).mean()
    untrained = bits(PPM.train([[BOS, 3, EOS]], 20, PPMConfig(order=4)).sequence_probs(seq), seq).mean()
    assert trained < 0.5 < math.log2(18) - 1 < untrained


def test_short_term_bits_drop_as_the_motif_repeats():
    motif = [5, 9, 7, 5, 12, 11, 9, 7]
    seq = [BOS] + motif * 6 + [EOS]
    per_token = bits(ShortTermPPM(20).sequence_probs(seq), seq)
    first, last = per_token[:len(motif)].mean(), per_token[-len(motif) - 1:-1].mean()
    assert first > 3.5 and last < 0.5


def test_mixing_with_the_short_term_model_lowers_bits_on_a_repeated_motif():
    vocab, motif = 30, [5, 9, 7, 5, 12, 11, 9, 7]
    seq = [BOS] + motif * 4 + [EOS]
    rng = np.random.default_rng(3)
    model_rows = rng.dirichlet(np.ones(vocab), len(seq) - 1)  # a model that knows nothing of the tune
    model_rows[:, :2] = 0
    model_rows /= model_rows.sum(axis=1, keepdims=True)
    mixer = AdaptiveMixer(vocab)
    mixed_rows = []
    for row, token in zip(model_rows, seq[1:]):
        mixed_rows.append(mixer.mix(row))
        mixer.observe(token)
    assert bits(np.array(mixed_rows), seq).mean() < bits(model_rows, seq).mean() - 1.0
    assert np.allclose(np.sum(mixed_rows, axis=1), 1.0)


@pytest.mark.parametrize("combination", ["geometric", "arithmetic"])
def test_mix_prefers_the_confident_model(combination):
    sure = np.array([0, 0, 0.01, 0.97, 0.01, 0.01])
    flat = np.array([0, 0, 0.25, 0.25, 0.25, 0.25])
    mixed = mix([flat, sure], bias=2.0, combination=combination)
    assert math.isclose(mixed.sum(), 1.0) and mixed[3] > 0.8
    assert np.allclose(mix([flat, flat], combination=combination), flat)


def test_short_term_window_keeps_working_past_max_history():
    stm = ShortTermPPM(10, SHORT_TERM, max_history=16)
    for token in [4, 5, 6] * 20:
        stm.observe(token)
    assert stm.probs()[4] > 0.8  # 4 follows 6, still learnt after the window wrapped
    with pytest.raises(ValueError, match="token must be in range 0..9"):
        stm.observe(10)
