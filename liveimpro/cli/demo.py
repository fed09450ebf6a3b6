"""`liveimpro demo`: the whole live path with no hardware, in well under a minute.

It starts a private JACK server (dummy driver), opens the engine's real ports in the real-time
I/O process (`liveimpro.live.io_link`, as duet does on JACK), and a built-in player plays two
calls into "liveimpro in" while a listener records "liveimpro out". It writes
into the current folder (or -o DIR) the session MIDI file, a WAV of it rendered by FluidSynth
and a piano roll of calls and answers, and prints the timing figures it measured.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..midi.messages import note_off, note_on
from . import config
from .options import add_answer_arguments

# (pitch, onset beat, length in beats): two 2-bar calls in G major, played at DEMO_BPM
CALLS = (
    ((67, 0, 1), (71, 1, 0.5), (72, 1.5, 0.5), (74, 2, 1), (71, 3, 1), (72, 4, 0.5), (71, 4.5, 0.5),
     (69, 5, 0.5), (67, 5.5, 0.5), (69, 6, 2)),
    ((74, 0, 0.5), (72, 0.5, 0.5), (71, 1, 1), (69, 2, 0.5), (71, 2.5, 0.5), (67, 3, 1), (64, 4, 1),
     (66, 5, 1), (67, 6, 2)),
)
DEMO_BPM = 104.0
PLAYER_VELOCITY = 84
ANSWER_WAIT = 12.0  # s: the most the demo waits for an answer to finish


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where to write the files")
    add_answer_arguments(parser)
    config.install(parser, config.ANSWER_KEYS)


def run(args) -> int:
    from ..errors import UserError
    from ..jackserver import JackServer
    from ..live.engine import Engine
    from ..live.io_link import IoProcess
    from ..live.recorder import SessionRecorder
    from ..midi.ports import close_client, open_input, open_output
    from ..midi.reader import PortReader
    from .options import build_responder

    config.raise_config_error(args)  # first: the file's problem before anything else's
    out_dir = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    session_path = out_dir / "liveimpro-demo.mid"
    responder = build_responder(args)
    with JackServer.for_purpose("demo") as jack:
        # the engine's ports as duet's default on JACK has them: in the real-time I/O process
        io = IoProcess(on_midi=None, say=lambda message: print(f"liveimpro demo: {message}"))
        recorder = SessionRecorder(session_path)
        engine = Engine(responder, io, recorder=recorder)
        io.on_midi, io.on_input_lost = engine.on_midi, engine.release_all_keys
        engine.start()
        reader, ports = None, []
        try:
            io.start()
            player = open_output("liveimpro in", api="jack", client_name="demo-player")
            ports.append(player)
            listener = open_input("liveimpro out", api="jack", client_name="demo-listener")
            ports.append(listener)
            arrivals: list[tuple[float, list[int]]] = []
            reader = PortReader(listener, lambda event, _: arrivals.append((time.perf_counter(), event[0]))).start()
            for call in CALLS:
                answered = engine.phrases
                _play(player, call)
                _wait_for_answer(engine, answered)
        finally:
            if reader is not None:
                reader.stop()  # before the ports go
            for port in ports:
                close_client(port)
            engine.stop()  # the answer in progress recorded, its notes released...
            io.close()  # ...by the I/O process, which then exits
        period_ms = jack.period_ms
    if engine.error is not None:
        raise UserError(f"the engine stopped: {type(engine.error).__name__}: {engine.error}")
    if engine.phrases == 0:
        raise UserError("the engine heard no call: the JACK server did not pass the demo's notes on "
                        f"(machine overloaded? {engine.dropped} dropped, {sum(vars(engine.live.skipped).values())} skipped)")
    wav, png = out_dir / "liveimpro-demo.wav", out_dir / "liveimpro-demo.png"
    _render(session_path, wav, png)
    _report(engine, arrivals, period_ms, [session_path, wav, png])
    return 0


def _play(port, call) -> None:
    """Play a call in real time (sleep, then a short spin: a player with good timing)."""
    beat = 60.0 / DEMO_BPM
    t0 = time.perf_counter() + 0.2
    events = sorted([(t0 + on * beat, note_on(0, p, PLAYER_VELOCITY)) for p, on, _ in call]
                    + [(t0 + (on + length) * beat - 0.03, note_off(0, p)) for p, on, length in call])
    for t, message in events:
        while (left := t - time.perf_counter()) > 0.002:
            time.sleep(left - 0.002)
        while time.perf_counter() < t:
            pass
        port.send_message(message)


def _wait_for_answer(engine, answered: int) -> None:
    """Until the engine has answered once more and is listening again (a breath after that)."""
    deadline = time.perf_counter() + ANSWER_WAIT
    while (engine.phrases == answered or engine.state != "listening") and engine.running:
        if time.perf_counter() > deadline:
            break
        time.sleep(0.02)
    time.sleep(0.3)


def _render(session_path: Path, wav: Path, png: Path) -> None:
    """The session file as the player would hear it (calls on a piano, answers on a vibraphone)
    and as a piano roll."""
    from ..live.scheduler import melody_events
    from ..live.synth import render_wav
    from ..midi.files import read_midi_tracks
    from ..pianoroll import plot_pianoroll

    tracks = read_midi_tracks(session_path)
    plot_pianoroll(tracks, png, title="liveimpro demo: calls and answers")
    events = [e for channel, melody in enumerate(tracks.values()) for e in melody_events(melody, channel=channel)]
    render_wav(events, wav, program={0: 0, 1: 11})


def _report(engine, arrivals, period_ms: float, files) -> None:
    import numpy as np

    reactions = np.array(engine.timer.reactions) * 1e3
    late = engine.scheduler.log.summary()
    print(f"answered {engine.phrases} calls; tempo {engine.responder.tempo.bpm:.1f} bpm "
          f"(played at {DEMO_BPM:.0f}), key {engine.responder.key.name if engine.responder.key else '?'}")
    if reactions.size:
        print(f"reaction (phrase end decided -> first answer note sent): "
              f"{', '.join(f'{r:.2f}' for r in reactions)} ms")
    print(f"answer notes written vs scheduled, at their JACK frames: median {late['median_ms']:.3f} ms, "
          f"p99 {late['p99_ms']:.3f} ms late ({late['count']} messages); JACK period {period_ms:.2f} ms")
    print(f"received by a separate client on the JACK port: {len(arrivals)} messages")
    for path in files:
        print(f"wrote {path}")
