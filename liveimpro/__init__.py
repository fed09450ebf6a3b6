"""liveimpro: a real-time MIDI improviser. Play a phrase; it answers in your tempo, key and metre.

The package is laid out along the data path, each subpackage importing only from those below it
(import-linter checks it: pyproject.toml, tests/test_layers.py):

    cli/      the `liveimpro` command: one module per command, shared options, settings built once
    live/     the live engine: input parsing, engine thread, scheduler, sinks, FluidSynth, recorder
    data/     corpora, scores, prepared datasets, baselines, evaluation, the trainers' shared parts
    midi/     MIDI on the wire and on disk: messages, ports, reader, clock, reconnection, files
    lstm/     the next-note LSTM, its model folder, the live Improviser, PPM and live adaptation
    vae/      the melody VAE: steps, network, model folder, vary/morph/sample
    music/    the musician, with no threads, ports or torch: tempo, key, phrase, responder
    tokens/   melodies as tokens: curve and note tokenizers, vocabulary, grid
    modelcard, files, pianoroll, melody, errors   shared ground floor
    jackserver   the private JACK server the tests and the demo start

Everything below is importable from the top (loaded when first used: `import liveimpro` loads no
torch, music21 or rtmidi):

    from liveimpro import Melody, Note, read_midi, write_midi, read_any
    melody = read_midi("call.mid")                          # a Melody: notes in beats, tempo, metre, key
    responder = Responder(Improviser.load(DEFAULT_LSTM), LiveSettings(temperature=0.9))
    answer = respond(responder, melody)                      # the live engine's answer, offline
    write_midi("answer.mid", answer)
    engine = Engine(responder, MidiPortSink.open(None)).start()   # live, on the virtual port "liveimpro out"
    vae = MelodyVAE.load(DEFAULT_VAE); vae.vary(melody, 0.5)
"""
from __future__ import annotations

import importlib

from .errors import MidiFileError, ModelError, PortError, UserError
from .melody import Melody, Note

# public name -> the module that defines it, imported on first use (PEP 562)
_LAZY = {
    "read_midi": "midi.files", "write_midi": "midi.files", "read_any": "data.corpus",
    "MidiClock": "midi.clock", "open_input": "midi.ports", "open_output": "midi.ports", "list_ports": "midi.ports",
    "PortReader": "midi.reader",
    "load_tokenizer": "tokens.registry", "CurveTokenizer": "tokens.curve", "NoteTokenizer": "tokens.note",
    "Improviser": "lstm.improviser", "MelodyVAE": "vae.melody_vae",
    "LiveSettings": "music.settings", "Responder": "music.responder", "respond": "music.offline",
    "Engine": "live.engine", "EngineConfig": "live.engine", "LiveInput": "live.input", "Scheduler": "live.scheduler",
    "MidiPortSink": "live.sinks", "FluidSynthSink": "live.synth", "SessionRecorder": "live.recorder",
    "ControlMap": "live.controls",
    "DEFAULT_LSTM": "cli.options", "DEFAULT_VAE": "cli.options",
    "JackServer": "jackserver",
}

__all__ = ["Note", "Melody", "UserError", "MidiFileError", "ModelError", "PortError", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'liveimpro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
