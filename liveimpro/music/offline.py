"""The engine's decisions without ports or threads: answer a call read from a file.

The call is played to the `Responder` exactly as the live engine would hear it: note by note
in seconds of the file's tempo, with `hear()` after every onset (a note still held at that
moment has no release yet), and once more at the last release, with every length known (the engine
hears it at the note-off that leaves no key held); the phrase ends `silence_beats` after the last
release, moved on by `Responder.next_beat` (the next bar line of the call's bars, read from it or
given by `meter`, else the next beat of the player's grid: the engine's rule), and the answer starts there. Sampling draws from the responder's
random generator, so a seed gives the same answer every time.
"""
from __future__ import annotations

from ..melody import Melody, Note, bar_beats
from .played import PlayedNote
from .responder import cut


def played_notes(melody: Melody, channel: int = 0) -> list[PlayedNote]:
    """The melody as a player would have played it: seconds from its first beat."""
    spb = melody.seconds_per_beat()
    return [PlayedNote(n.pitch, n.velocity, channel, n.onset * spb, n.end * spb) for n in melody.notes]


def heard_at(notes: list[PlayedNote], t: float) -> list[PlayedNote]:
    """What the engine knows at time t: notes started by then, keys released by then."""
    return [n if n.release <= t else PlayedNote(n.pitch, n.velocity, n.channel, n.onset)
            for n in notes if n.onset <= t]


def respond(responder, call: Melody, silence_beats: float = 1.0, min_silence: float = 0.35,
            meter: tuple[int, int] | None = None) -> Melody:
    """The answer to `call` as a Melody in the call's beats (it starts where the live engine
    would start it) and the call's tempo. `meter`: the call's bars are bars of this meter from its
    beat 0 (a DAW's clip starts on a bar line), as a clock's are live; None: read from the call."""
    if not call.notes:
        raise ValueError("the call has no notes")
    notes = played_notes(call)
    responder.start_call()
    responder.given_bars = None if meter is None else (0.0, bar_beats(meter) * call.seconds_per_beat())
    for onset in sorted({n.onset for n in notes}):
        responder.hear(heard_at(notes, onset), onset)
    last_release = max(n.release for n in notes)
    responder.hear(notes, last_release, final=True)
    silence = max(min_silence, silence_beats * responder.tempo.period)
    decision = responder.next_beat(last_release + silence)
    spb = call.seconds_per_beat()
    line = list(responder.answer(notes, decision, decision))
    line = [cut(a, b.time) for a, b in zip(line, line[1:])] + line[-1:]
    answer = [Note(pitch, a.time / spb, a.duration / spb, a.velocity) for a in line for pitch in a.pitches
              if a.duration > 0]
    return Melody(tuple(answer), call.tempo, call.time_signature, call.key, name="answer")
