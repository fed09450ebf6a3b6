"""`liveimpro duet`: play a phrase, hear an answer. With no arguments it opens its own virtual
ports "liveimpro in" and "liveimpro out", so a keyboard or a DAW can be routed to it.

Ctrl-C (SIGINT) or SIGTERM ends the session cleanly: the answer stops, every note is released,
All Notes Off is sent, and the session file is complete.

`--meter N/D` (default 4/4) is the meter of the MIDI clock's bars, which the clock itself does not
carry: the bar of `--bars N` (a phrase is N bars from its downbeat, a pickup included:
`liveimpro.music.phrase`) and of `--sync bar`, in quarter-note clock beats (3/4 and 6/8: 3, 7/8:
3.5), and the session file's time signature.

`--link` joins an Ableton Link session (`liveimpro.midi.link.LinkClock`, the aalink package) and takes
the tempo and the bar lines from it instead of MIDI clock: answers start on Link's next bar line (or
beat) at Link's tempo, `--bars N` counts Link's bars; the quantum is the meter's bar. Alone on the
network it is a session of its own at 120 bpm that other apps can join.

The MIDI ports live in a real-time process of their own by default (`liveimpro.live.io_process`),
barge-in and the footswitch's standby note handled there (with --link too). On JACK (a JACK server
runs, and --api is jack or unset) it is a JACK client: input stamped from JACK's frame time,
answers written at their frames; with --synth, FluidSynth is a JACK client of its own that the
I/O process feeds (`liveimpro.live.jack_synth`), and --no-midi-out leaves "liveimpro out"
unconnected. Elsewhere (ALSA, CoreMIDI) its ports are python-rtmidi's, sent by a loop that sleeps
and spins (`liveimpro.live.io_rtmidi`); with --synth there, and on Windows, the ports stay on
threads of duet's own process, as `--io-process none` keeps them anywhere.

Its options' defaults can come from a config file (`liveimpro.cli.config`); `--print-config` prints
the settings in effect as such a file and exits.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ..machine import SignalEvent, set_on_signals
from . import config
from .options import add_answer_arguments, meter_of
from .status import io_process_summary, show_status



def add_arguments(parser) -> None:
    from ..midi.ports import add_api_argument

    parser.add_argument("--in", dest="input", metavar="PORT", default=None,
                        help="MIDI input to listen to (part of its name); default: a virtual port 'liveimpro in'")
    parser.add_argument("--out", dest="output", metavar="PORT", default=None,
                        help="MIDI output for the answers (part of its name); default: a virtual port 'liveimpro out'")
    parser.add_argument("--no-midi-out", action="store_true", help="no MIDI output (use with --synth)")
    parser.add_argument("--io-process", nargs="?", const="auto", choices=("auto", "jack", "rtmidi", "none"),
                        default=None,
                        help="where the MIDI ports live (barge-in and the footswitch with them): 'jack' (a real-time "
                             "process on JACK-Client: input stamped from JACK's frame time, answers written at their "
                             "frame), 'rtmidi' (a real-time process on python-rtmidi's --api: a sender that sleeps "
                             "until each event and spins the rest), 'none' (threads of duet's own process); bare or "
                             "'auto': jack on JACK, else rtmidi; default: jack when a JACK server runs and --api is "
                             "jack or unset, else rtmidi (none with --synth, and on Windows)")
    parser.add_argument("--synth", action="store_true", help="also play the answers through FluidSynth")
    parser.add_argument("--soundfont", type=Path, default=None, help="General MIDI .sf2 for --synth")
    parser.add_argument("--program", type=int, default=0, help="GM program 0..127 for --synth (default 0: piano)")
    parser.add_argument("--cc", default=None, metavar="SPEC",
                        help="CC mapping, e.g. 'temperature=21,length=22,mode=23,end=85' (see README)")
    parser.add_argument("--silence-beats", type=float, default=1.0,
                        help="beats of silence that end a phrase (default 1; at least 0.35 s)")
    parser.add_argument("--meter", default="4/4", metavar="N/D",
                        help="the meter of the MIDI clock's (or Link's) bars, for --bars, --sync bar and the session "
                             "file: 3/4, 6/8, 7/8 ... (default 4/4)")
    parser.add_argument("--bars", type=int, default=None,
                        help="with a MIDI clock running or --link: a phrase is this many bars, counted from its "
                             "downbeat (a pickup of up to a beat belongs to the bar it leads into)")
    parser.add_argument("--sync", choices=("bar", "beat"), default="bar",
                        help="with a MIDI clock running or --link: answers start on the next bar or beat (default bar)")
    parser.add_argument("--link", action="store_true", default=False,
                        help="join an Ableton Link session and follow its tempo and bar lines (quantum: --meter's "
                             "bar) instead of MIDI clock; needs the aalink package")
    parser.add_argument("--no-link", dest="link", action="store_false",
                        help="do not join Link (overrides a config file's link = true)")
    parser.add_argument("--record", type=Path, default=None, metavar="PATH",
                        help="session MIDI file (.mid), or a folder for dated ones (default: "
                             "liveimpro-session-DATE-TIME.mid here)")
    parser.add_argument("--no-record", dest="record", action="store_const", const=False,
                        help="do not record the session")
    add_api_argument(parser)
    add_answer_arguments(parser)
    parser.add_argument("--print-config", action="store_true",
                        help="print the settings in effect (config file, then flags) as a config file, and exit")
    config.install(parser, config.DUET_KEYS)


def run(args) -> int:
    from ..errors import UserError
    from ..live.controls import ControlMap, parse_cc_option
    from ..live.engine import Engine, EngineConfig
    from ..live.recorder import SessionRecorder
    from ..live.sinks import FanoutSink, MidiPortSink
    from ..midi.ports import choose_api
    from ..midi.reconnect import Connections
    from .options import build_responder, settings_from_args

    config.raise_config_error(args)
    meter = meter_of(args.meter)
    args.meter = "{}/{}".format(*meter)
    if args.print_config:  # checked, printed; no port opened, no model loaded
        settings_from_args(args)
        print(config.settings_toml(args, config.DUET_KEYS, "duet"), end="")
        return 0
    if args.link:  # a missing aalink is said before the model loads
        _check_aalink()
    # from the start: a signal while the model loads ends the session before any port opens
    # (a SignalEvent: a threading.Event set by the handler could deadlock the main thread waiting on it)
    stop = set_on_signals(signal.SIGINT, signal.SIGTERM)
    controls = parse_cc_option(args.cc) if args.cc else ControlMap()
    responder = build_responder(args)
    if stop.is_set():
        return 130
    backend = _io_backend(args)
    if backend != "none":
        return _run_io_process(args, backend, responder, controls, meter, stop)
    api = choose_api(args.api)
    port_sink = None if args.no_midi_out else MidiPortSink.open(args.output, api=api)
    sinks = [] if port_sink is None else [port_sink]
    if args.synth:
        from ..live.synth import FluidSynthSink
        try:
            sinks.append(FluidSynthSink(args.soundfont, program=args.program))
        except UserError as exc:
            if not sinks:
                raise
            _say(f"warning: {exc}; playing to MIDI only")
    if not sinks:
        raise UserError("nothing to play to: drop --no-midi-out or add --synth")
    sink = sinks[0] if len(sinks) == 1 else FanoutSink(sinks)
    recorder = None if args.record is False else SessionRecorder(_session_path(args.record), meter=meter)
    try:
        link = _join_link(meter) if args.link else None
    except UserError:
        sink.close()
        raise
    engine = Engine(responder, sink, EngineConfig(silence_beats=args.silence_beats, bars=args.bars, sync=args.sync,
                                                  meter=meter, controls=controls), recorder, clock=link)
    connections = Connections(args.input, args.output, api, engine.on_midi, sink=port_sink, audio=sinks,
                              on_input_lost=engine.release_all_keys, say=_say)
    try:
        engine.start()
        connections.start()
        print(f"liveimpro duet: listening on {args.input or 'liveimpro in'}, answering on {sink.name}"
              + (f", recording to {recorder.path}" if recorder else "")
              + (f", following Ableton Link (quantum {link.beats_per_bar:g})" if link else "") + "; Ctrl-C ends",
              flush=True)
        show_status(engine, stop, link, say=_say)
    finally:
        connections.stop()  # the input first: nothing new reaches the engine...
        engine.stop()  # the answer in progress is recorded; every note is released...
        sink.close()  # ...and All Notes Off sent
        if link is not None:
            link.close()  # leave the session last: the engine read it until it stopped
    if engine.error is not None:
        raise UserError(f"the engine stopped: {type(engine.error).__name__}: {engine.error}")
    if recorder is not None and recorder.problem:
        _say(f"warning: the session was not recorded: {recorder.problem}")
    print(f"liveimpro duet: {engine.phrases} phrases answered; {engine.received} messages heard, "
          f"{engine.dropped} dropped, {sum(vars(engine.live.skipped).values())} skipped", file=sys.stderr)
    return 0


def _run_io_process(args, backend: str, responder, controls, meter, stop: SignalEvent) -> int:
    """duet with its ports in the real-time I/O process (liveimpro.live.io_link)."""
    from ..errors import PortError, UserError
    from ..live.engine import Engine, EngineConfig
    from ..live.io_link import IoProcess
    from ..live.recorder import SessionRecorder
    from ..midi.ports import choose_api

    if args.synth and backend == "rtmidi":
        raise UserError("--synth with --io-process rtmidi: not yet (FluidSynth on this path is a JACK client); "
                        "use --io-process jack, or drop --io-process")
    if args.no_midi_out and args.output:
        raise UserError("--no-midi-out and --out together: drop one")
    synth = _io_synth(args) if args.synth else None
    if args.no_midi_out and synth is None:
        raise UserError("nothing to play to: drop --no-midi-out or add --synth")
    io = IoProcess(on_midi=None, say=_say, input_name=args.input, output_name=args.output, end_cc=controls.end_cc,
                   synth=synth, rtmidi=choose_api(args.api) if backend == "rtmidi" else None)
    recorder = None if args.record is False else SessionRecorder(_session_path(args.record), meter=meter)
    link = _join_link(meter) if args.link else None  # Link's thread in the engine's process: it only reads
    engine = Engine(responder, io, EngineConfig(silence_beats=args.silence_beats, bars=args.bars, sync=args.sync,
                                                meter=meter, controls=controls), recorder, clock=link)
    io.on_midi, io.on_input_lost = engine.on_midi, engine.release_all_keys
    try:
        engine.start()
        try:
            io.start()
        except PortError as exc:
            raise UserError(str(exc)) from None
        print(f"liveimpro duet: listening on {args.input or 'liveimpro in'}, answering on "
              f"{args.output or 'liveimpro out'} (real-time I/O process, "
              + (f"{io.period} frames at {io.sample_rate} Hz)" if io.sample_rate else "rtmidi)")
              + (f", recording to {recorder.path}" if recorder else "")
              + (f", following Ableton Link (quantum {link.beats_per_bar:g})" if link else "") + "; Ctrl-C ends",
              flush=True)
        show_status(engine, stop, link, say=_say)
    finally:
        engine.stop()  # the answer in progress is recorded; its notes released...
        io.close()  # ...and the I/O process releases whatever still sounds, then exits
        if synth is not None:
            synth.close()  # after the release: it heard the note-offs
        if link is not None:
            link.close()
    if engine.error is not None:
        raise UserError(f"the engine stopped: {type(engine.error).__name__}: {engine.error}")
    if recorder is not None and recorder.problem:
        _say(f"warning: the session was not recorded: {recorder.problem}")
    print(io_process_summary(engine, io), file=sys.stderr)
    return 0


def _io_backend(args) -> str:
    """"jack", "rtmidi" or "none": where the ports live. Unset: jack when a JACK server runs and
    --api (or $LIVEIMPRO_MIDI_API) is jack or unset; else rtmidi (python-rtmidi's ports in the I/O
    process), unless --synth asks for FluidSynth (a JACK client on that path) or there are no POSIX
    pipes to talk to it through (Windows): none. Bare or "auto": jack on JACK, else rtmidi."""
    from ..errors import UserError
    from ..midi.jackwatch import JackWatch
    from ..midi.ports import ENV_VAR

    if args.io_process == "jack" and args.api not in (None, "jack"):
        raise UserError(f"--io-process jack with --api {args.api}: drop one (--io-process rtmidi uses --api)")
    if args.io_process not in (None, "none") and os.name != "posix":
        raise UserError(f"--io-process {args.io_process}: not on Windows yet (the I/O process talks through POSIX "
                        "pipes); use --io-process none")
    if args.io_process in ("jack", "rtmidi", "none"):
        return args.io_process
    if (args.api or os.environ.get(ENV_VAR) or "jack") == "jack":
        watch = JackWatch.connect("liveimpro-probe")  # does a JACK server run? (it does not start one)
        if watch is not None:
            watch.close()
            return "jack"
    if args.io_process == "auto":
        return "rtmidi"
    return "rtmidi" if os.name == "posix" and not args.synth else "none"


def _io_synth(args):
    """--synth with --io-process: FluidSynth on JACK, fed by the I/O process (liveimpro.live.jack_synth);
    None, with a warning, when it cannot start and MIDI goes out anyway."""
    from ..errors import UserError
    from ..live.jack_synth import JackMidiSynth

    try:
        return JackMidiSynth(args.soundfont, program=args.program)
    except UserError as exc:
        if args.no_midi_out:
            raise
        _say(f"warning: {exc}; playing to MIDI only")
        return None


def _check_aalink() -> None:
    """--link without the aalink package: one line, before the model loads."""
    from ..errors import UserError
    from ..midi.link import require_aalink

    try:
        require_aalink()
    except UserError as exc:
        raise UserError(f"--link: {exc}") from None


def _join_link(meter: tuple[int, int]):
    """The Link session's clock, its quantum the meter's bar; a UserError naming --link if it fails."""
    from ..errors import UserError
    from ..midi.link import LinkClock

    try:
        return LinkClock(time_signature=meter).start()
    except UserError as exc:
        raise UserError(f"--link: {exc}") from None


def _session_path(record: Path | None) -> Path:
    """--record's file: PATH itself if it ends in .mid or .midi, else a dated file in the folder PATH
    (made if missing); no PATH: a dated file in the current folder."""
    from ..errors import UserError

    if record is not None and record.suffix.lower() in (".mid", ".midi"):
        return record
    folder = Path(".") if record is None else record.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot make the recording folder {folder}: {exc.strerror or exc}") from None
    return folder / time.strftime("liveimpro-session-%Y%m%d-%H%M%S.mid")


def _say(message: str) -> None:
    print(f"liveimpro duet: {message}", file=sys.stderr, flush=True)
