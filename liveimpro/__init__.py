"""liveimpro: a real-time MIDI improviser.

    from liveimpro import Note, Melody
    melody = Melody((Note(60, 0, 1), Note(62, 1, 1)), tempo=96)
    melody.monophonic()           # highest-sounding-note reduction
"""
from .melody import Melody, Note

__all__ = ["Note", "Melody"]
