"""Melodies from written scores (ABC, MusicXML, **kern), read with music21.

A score becomes one Melody: all parts flattened onto one timeline (chords and
overlapping parts stay overlapping notes; `Melody.monophonic()` reduces that to
a melody). Tied notes are merged into one note, grace notes are dropped, rests
remain as gaps, repeats are not expanded. Tempo comes from the first metronome
mark (120 if none), time signature and key from the first such objects in the
score. Keys are named like "G major", "Bb minor"; a key signature without a
mode is read as its major key, and a church mode (e.g. D dorian) as the major
key with the same signature (C major): it has the same notes.

ABC files often hold hundreds of tunes, and music21 parses ABC slowly, so a
file is split into its tunes at the `X:` lines (`abc_tunes`) and each tune text
is parsed on its own (`parse_abc_tune`): callers can spread tunes over
processes, and a broken tune costs only itself. music21 is imported inside the
functions that need it, since importing it takes a while.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import MidiFileError
from .melody import Melody, Note
from .midifile import midi_file_error

ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".xml", ".musicxml", ".mxl")
KERN_SUFFIXES = (".krn",)
_FIELD = re.compile(r"^[A-Za-z+]:")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines(): Essen N: lines hold stray U+0085


@dataclass(frozen=True)
class AbcTune:
    position: int  # index of the tune in its file, from 0
    label: str  # "file.abc X:12", for messages
    text: str  # the tune's ABC text, file header fields included


def read_text(path) -> str:
    """A text file's content: UTF-8, or Latin-1 where it is not valid UTF-8 (older ABC collections)."""
    try:
        return decode_text(Path(path).read_bytes())
    except OSError as error:
        raise midi_file_error(path, f"cannot read ({error.strerror or error})") from None


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def abc_tunes(text: str, file_name: str) -> list[AbcTune]:
    """Split ABC text into tunes at lines starting with `X:`; header fields before the first tune
    (the file header, which applies to every tune) are copied into each tune after its X: line."""
    header, tunes, current = [], [], None
    for line in _LINE_BREAK.split(text):
        if line.startswith("X:"):
            current = [line, *header]
            tunes.append(current)
        elif current is not None:
            current.append(line)
        elif _FIELD.match(line):
            header.append(line)
    return [AbcTune(position, f"{file_name} X:{lines[0][2:].strip()}", "\n".join(lines) + "\n")
            for position, lines in enumerate(tunes)]


def _key_name(score) -> str | None:
    """The first Key (tonic and mode) in the score, else the first bare key signature as its major key."""
    from music21 import key

    signatures = list(score.recurse().getElementsByClass(key.KeySignature))
    keys = [k for k in signatures if isinstance(k, key.Key)]
    if keys and keys[0].mode in ("major", "minor"):
        found = keys[0]
    elif keys or signatures:
        found = key.KeySignature((keys or signatures)[0].sharps).asKey("major")
    else:
        return None
    return f"{found.tonic.name.replace('-', 'b')} {found.mode}"


def score_to_melody(score, name: str) -> Melody:
    """One music21 Score (or Part) as a Melody, by the rules in the module docstring."""
    from music21 import meter, tempo

    flat = score.stripTies().flatten()
    notes = []
    for element in flat.notes:
        if element.duration.isGrace or element.quarterLength <= 0:
            continue
        onset, duration = float(Fraction(element.offset)), float(Fraction(element.quarterLength))
        velocity = element.volume.velocity if element.volume.velocity else 80
        for pitch in getattr(element, "pitches", ()):  # unpitched percussion has none
            midi = round(pitch.ps)
            if 0 <= midi <= 127:
                notes.append(Note(midi, onset, duration, int(min(127, max(1, velocity)))))
    settings = {}
    marks = list(flat.getElementsByClass(tempo.MetronomeMark))
    bpm = marks[0].getQuarterBPM() if marks else None
    if bpm and bpm > 0:
        settings["tempo"] = float(bpm)
    meters = list(flat.getElementsByClass(meter.TimeSignature))
    if meters and meters[0].numerator >= 1 and meters[0].denominator in (1, 2, 4, 8, 16, 32):
        settings["time_signature"] = (meters[0].numerator, meters[0].denominator)
    return Melody(notes=tuple(notes), key=_key_name(flat), name=name, **settings)


def _reason(error: Exception) -> str:
    """The exception's type and first sentence: short, and the same for the same kind of fault."""
    text = re.split(r"\.\s|\n", str(error).strip())[0][:160]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _title(score) -> str:
    return (score.metadata.title or "").strip() if score.metadata is not None else ""


def parse_abc_tune(tune: AbcTune) -> Melody:
    """Parse one tune's text; MidiFileError naming the tune if music21 cannot."""
    from music21 import converter, stream

    try:
        parsed = converter.parse(tune.text, format="abc")
        score = parsed.scores[0] if isinstance(parsed, stream.Opus) else parsed
        title = _title(score)
        return score_to_melody(score, f"{tune.label} {title}".strip())
    except Exception as error:  # music21 raises many kinds of exception on malformed ABC
        raise midi_file_error(tune.label, _reason(error)) from None


def read_score_file(path) -> list[Melody]:
    """A MusicXML or kern file: one Melody per score in it (usually one)."""
    from music21 import converter, stream

    path = Path(path)
    if not path.is_file():
        raise midi_file_error(path, "no such file")
    try:
        parsed = converter.parseFile(path, forceSource=True, storePickle=False)  # never music21's pickles
        scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
        return [score_to_melody(score, f"{path.name} {_title(score)}".strip()) for score in scores]
    except Exception as error:  # music21's readers raise many kinds of exception on damaged files
        raise midi_file_error(path, _reason(error)) from None


def read_score(path, skipped: list | None = None) -> list[Melody]:
    """Every tune or score in an ABC, MusicXML or kern file that has notes, as Melodies.

    ABC tunes that fail to parse, and tunes or scores without notes, are left
    out; when `skipped` is a list, each is appended to it as (label, reason).
    A file that cannot be read at all raises MidiFileError.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MUSICXML_SUFFIXES + KERN_SUFFIXES:
        found = [(f"{path.name} #{pos + 1}", m) for pos, m in enumerate(read_score_file(path))]
    elif suffix in ABC_SUFFIXES:
        tunes = abc_tunes(read_text(path), path.name)
        if not tunes:
            raise midi_file_error(path, "no ABC tunes (no line starts with X:)")
        found = []
        for tune in tunes:
            try:
                found.append((tune.label, parse_abc_tune(tune)))
            except MidiFileError as error:
                found.append((tune.label, error.reason))
    else:
        raise midi_file_error(path, f"not a score file (suffix {suffix or 'missing'})")
    if skipped is not None:
        skipped.extend((label, "no notes" if isinstance(m, Melody) else m)
                       for label, m in found if not isinstance(m, Melody) or not m.notes)
    return [m for _, m in found if isinstance(m, Melody) and m.notes]


__all__ = ["AbcTune", "abc_tunes", "parse_abc_tune", "read_score", "read_score_file", "read_text", "decode_text",
           "score_to_melody", "ABC_SUFFIXES", "MUSICXML_SUFFIXES", "KERN_SUFFIXES"]
