"""`liveimpro respond CALL.mid -o ANSWER.mid`: the live engine's answer to a call, offline.

For DAW users who drag clips: the answer is written where it would have sounded live (after
the call and a beat of silence, on the beat), in the call's tempo; `--with-call` puts the call
on a track of its own in the same file. The same `--seed` gives the same answer.

A call has at most MAX_CALL_NOTES notes: `respond` answers a phrase, not a song (the engine
hears the call note by note, as it would live); a longer file is refused.
"""
from __future__ import annotations

from pathlib import Path

from . import config
from .options import add_answer_arguments

MAX_CALL_NOTES = 512  # a phrase, not a song (512 take ~0.4 s to hear); a phrase played live has a few dozen


def add_arguments(parser) -> None:
    parser.add_argument("call", type=Path, help="the call: a MIDI file (or ABC / MusicXML / kern: the first tune)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the MIDI file to write")
    parser.add_argument("--with-call", action="store_true", help="also write the call, on its own track")
    parser.add_argument("--silence-beats", type=float, default=1.0,
                        help="beats of silence after the call before the answer (default 1)")
    add_answer_arguments(parser)
    config.install(parser, config.RESPOND_KEYS)


def run(args) -> int:
    from ..data.corpus import read_any
    from ..errors import UserError
    from ..midi.files import write_midi
    from ..music.offline import respond
    from .options import build_responder

    config.raise_config_error(args)  # first: the file's problem before anything else's
    call = read_any(args.call)[0]  # the first tune with notes (read_any raises when there is none)
    if len(call.notes) > MAX_CALL_NOTES:
        raise UserError(f"{args.call}: {len(call.notes)} notes, more than the {MAX_CALL_NOTES} a call may have "
                        f"(respond answers a phrase, not a song)")
    responder = build_responder(args)
    answer = respond(responder, call, args.silence_beats)
    tracks = {"call": call, "answer": answer} if args.with_call else {"answer": answer}
    write_midi(args.output, tracks, tempo=call.tempo)
    key = responder.key.name if responder.key else "unknown"
    print(f"{args.output}: {len(answer.notes)} notes answering {len(call.notes)}; "
          f"tempo {responder.tempo.bpm:.0f} bpm, key {key}")
    return 0
