"""liveimpro: a real-time MIDI improviser.

    from liveimpro import Note, Melody
    melody = Melody((Note(60, 0, 1), Note(62, 1, 1)), tempo=96)   # beats, quarter notes per minute
    melody.monophonic()                                            # highest-sounding-note reduction

    from liveimpro.midi.files import read_midi, write_midi          # MIDI files (read: smf.py, bounded; write: mido)
    from liveimpro.data.corpus import read_any                         # MIDI / ABC / MusicXML / kern
    from liveimpro.tokens.base import load_tokenizer                # curve and note tokens
    from liveimpro.lstm.improviser import Improviser                      # a model folder: observe / propose / commit
    from liveimpro.music.responder import Responder                     # hears a call, answers it
    from liveimpro.live.engine import Engine                           # the live engine on MIDI ports
    from liveimpro.vae.melody_vae import MelodyVAE                     # sample / vary / morph

The package imports nothing heavy here: torch, music21 and matplotlib load with the modules that
need them.
"""
from .melody import Melody, Note

__all__ = ["Note", "Melody"]
