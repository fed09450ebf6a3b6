"""`liveimpro respond CALL.mid -o ANSWER.mid`: the live engine's answer to a call, offline.

For DAW users who drag clips: the answer is written where it would have sounded live (after
the call and a beat of silence, on the beat), in the call's tempo; `--with-call` puts the call
on a track of its own in the same file. The same `--seed` gives the same answer.

Bars: a MIDI file's clip starts on a bar line and its time signature (4/4 when it has none, as
the MIDI standard says) gives its bars, as a DAW's clock and `duet --meter` give them live: the
answer comes in on the first bar line a beat or more after the call, lasts whole bars of that
meter and ends with its cadence on a bar line. `--meter N/D` says the meter when the file's is
wrong; for other kinds (ABC, MusicXML, kern), whose first bar may be a pickup, the bars are read
from the call unless `--meter` is given.

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
    parser.add_argument("--meter", default=None, metavar="N/D",
                        help="the call's bars, from its start (default: a MIDI file's time signature; other "
                             "files: read from the call)")
    add_answer_arguments(parser)
    config.install(parser, config.RESPOND_KEYS)


def run(args) -> int:
    from ..data.corpus import MIDI_SUFFIXES, read_any
    from ..errors import UserError
    from ..midi.files import write_midi
    from ..music.offline import respond
    from .options import build_responder, meter_of

    config.raise_config_error(args)  # first: the file's problem before anything else's
    call = read_any(args.call)[0]  # the first tune with notes (read_any raises when there is none)
    if len(call.notes) > MAX_CALL_NOTES:
        raise UserError(f"{args.call}: {len(call.notes)} notes, more than the {MAX_CALL_NOTES} a call may have "
                        f"(respond answers a phrase, not a song)")
    meter = meter_of(args.meter) if args.meter else \
        call.time_signature if args.call.suffix.lower() in MIDI_SUFFIXES else None
    responder = build_responder(args)
    answer = respond(responder, call, args.silence_beats, meter=meter)
    tracks = {"call": call, "answer": answer} if args.with_call else {"answer": answer}
    write_midi(args.output, tracks, tempo=call.tempo, time_signature=meter or call.time_signature)
    key = responder.key.name if responder.key else "unknown"
    bars = "{}/{} bars from the file's start".format(*meter) if meter else "bars read from the call"
    print(f"{args.output}: {len(answer.notes)} notes answering {len(call.notes)}; "
          f"tempo {responder.tempo.bpm:.0f} bpm, key {key}; {bars}")
    return 0
