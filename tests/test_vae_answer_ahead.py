"""The VAE's answers (vary, morph) encode the call at its last release, a beat before the phrase
end, and only decode there (liveimpro.music.encoded); the answer is the one encoding at the end gives."""
from __future__ import annotations

import numpy as np
import pytest

from liveimpro.cli.options import DEFAULT_LSTM, DEFAULT_VAE
from liveimpro.lstm.improviser import Improviser
from liveimpro.melody import melody_from_tuples
from liveimpro.music.offline import heard_at, played_notes
from liveimpro.music.responder import Responder
from liveimpro.music.settings import LiveSettings
from liveimpro.vae.melody_vae import MelodyVAE

CALLS = [[(60, 0, 1), (62, 1, 1), (64, 2, 0.5), (65, 2.5, 0.5), (67, 3, 1), (65, 4, 1), (64, 5, 1), (62, 6, 2)],
         [(67, 0, 0.5), (69, 0.5, 0.5), (71, 1, 1), (72, 2, 2), (71, 4, 1), (69, 5, 1), (67, 6, 2)]]


@pytest.fixture(scope="module")
def vae():
    return MelodyVAE.load(DEFAULT_VAE)


def answers(vae, mode: str, ahead: bool) -> tuple[list, list]:
    """Each call's answer (pitch, beats) and the encodings made at its phrase end (answer())."""
    rng = np.random.default_rng(7)
    responder = Responder(Improviser.load(DEFAULT_LSTM, rng=rng), LiveSettings(mode=mode), rng=rng, vae=vae)
    encoded_at_end, out, encode = [], [], vae.encode
    for rows in CALLS:
        notes = played_notes(melody_from_tuples(rows, tempo=100))
        responder.start_call()
        for onset in sorted({n.onset for n in notes}):
            responder.hear(heard_at(notes, onset), onset)
        release = max(n.release for n in notes)
        responder.hear(notes, release, final=True)  # the last release: every key up
        if not ahead:
            responder.ahead.take("", None, None)  # dropped: encoded at the phrase end, as before
        calls = []
        vae.encode = lambda *args, **kwargs: calls.append(args) or encode(*args, **kwargs)
        try:
            out.append([(a.pitches, round(a.beats, 6)) for a in responder.answer(notes, release + 0.6, release + 0.6)])
        finally:
            del vae.encode  # the class's method again
        encoded_at_end.append(len(calls))
    return out, encoded_at_end


@pytest.mark.parametrize("mode", ["vary", "morph"])
def test_the_phrase_end_only_decodes_and_answers_as_before(vae, mode):
    ahead, at_end = answers(vae, mode, True), answers(vae, mode, False)
    assert ahead[1] == [0, 0], "the phrase end encoded a call already encoded at its release"
    assert at_end[1] == ([1, 1] if mode == "vary" else [1, 2])  # morph's second: the previous call and this one
    assert ahead[0] == at_end[0] and all(ahead[0])  # the same answers
