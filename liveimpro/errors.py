"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad file, a missing port, a wrong option."""


class MidiFileError(UserError):
    """A MIDI/ABC/MusicXML file that cannot be read; the message names the file and the reason."""


class ModelError(UserError):
    """A model folder that is missing, damaged, or whose parts disagree."""


class PortError(UserError):
    """A MIDI port that cannot be opened or has gone away."""
