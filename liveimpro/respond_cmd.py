"""`liveimpro respond CALL.mid -o ANSWER.mid`: the live engine's answer to a call, offline.

For DAW users who drag clips: the answer is written where it would have sounded live (after
the call and a beat of silence, on the beat), in the call's tempo; `--with-call` puts the call
on a track of its own in the same file. The same `--seed` gives the same answer.
"""
from __future__ import annotations

from pathlib import Path

from .options import add_answer_arguments


def add_arguments(parser) -> None:
    parser.add_argument("call", type=Path, help="the call: a MIDI file (or ABC / MusicXML / kern: the first tune)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the MIDI file to write")
    parser.add_argument("--with-call", action="store_true", help="also write the call, on its own track")
    parser.add_argument("--silence-beats", type=float, default=1.0,
                        help="beats of silence after the call before the answer (default 1)")
    add_answer_arguments(parser)


def run(args) -> int:
    from .corpus import read_any
    from .errors import UserError
    from .midifile import write_midi
    from .offline import respond
    from .options import load_responder

    melodies = read_any(args.call)
    if not melodies or not melodies[0].notes:
        raise UserError(f"{args.call}: no notes to answer")
    call = melodies[0]
    responder = load_responder(args)
    answer = respond(responder, call, args.silence_beats)
    tracks = {"call": call, "answer": answer} if args.with_call else {"answer": answer}
    write_midi(args.output, tracks, tempo=call.tempo)
    key = responder.key.name if responder.key else "unknown"
    print(f"{args.output}: {len(answer.notes)} notes answering {len(call.notes)}; "
          f"tempo {responder.tempo.bpm:.0f} bpm, key {key}")
    return 0
