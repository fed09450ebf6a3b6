"""The melody VAE's encoding of a call, made at its last release, so the phrase end only decodes.

    ahead = EncodedCall()
    ahead.prepare(vae, "vary", call, previous)   # at the last release (Responder.hear(final=True))
    codes = ahead.take("vary", call, previous)   # at the phrase end: the codes, or None (encode there)

The vary and morph answers encode the call (morph: the previous call and this one) and decode a
melody from it. The call is whole at its last release, a beat of silence before the phrase end, and
the encoding does not draw on the random generator, so it is made there: the phrase end decodes
only (`scripts/bench_vae_answer.py` measures both). A call that changed after it was encoded (a
key played again, another tempo read, another mode or previous call) is encoded at the phrase end
as before.
"""
from __future__ import annotations

from ..melody import Melody


class EncodedCall:
    def __init__(self):
        self._made: tuple | None = None  # (mode, call, previous call, codes)

    def prepare(self, vae, mode: str, call: Melody, previous: Melody | None) -> None:
        """Encode `call` for `mode` ("vary", "morph"; other modes: nothing)."""
        self._made = None
        if vae is None or mode not in ("vary", "morph"):
            return
        if mode == "morph" and previous is not None:
            codes = vae.pair(previous, call)
        else:  # vary, and morph on the first call (it varies it)
            codes = (vae.encode(call),)
        self._made = (mode, call, previous, codes)

    def take(self, mode: str, call: Melody, previous: Melody | None) -> tuple | None:
        """The codes prepared for this very call, mode and previous call; None when there are none."""
        made, self._made = self._made, None
        if made is None or made[0] != mode or made[2] is not previous or made[1] != call:
            return None
        return made[3]


__all__ = ["EncodedCall"]
