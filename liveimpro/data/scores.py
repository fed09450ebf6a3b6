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

Hostile input: music21's ABC reader takes time quadratic in the bars of a tune
(its beaming: 400 bars take ~20 s), grows steeply with what overflows a bar after a
pickup (its re-barring: 800 beats in one bar, 23 s; one note of 500 eighths, 10 s)
and takes minutes or forever on a meter like M:1000/4. So a tune longer than
MAX_TUNE_CHARS characters or MAX_TUNE_BARS bar lines, with a meter of more than
MAX_METER_BEATS beats, or whose notes (as music21's ABC tokenizer reads them, in
milliseconds) last more than MAX_TUNE_BEATS beats in all, MAX_BAR_BEATS in one bar or
MAX_NOTE_BEATS in one note, is refused before it is turned into a score. As a last
resort, parsing one tune or score is given up after PARSE_SECONDS (where a timer
can run: the main thread of a process whose SIGALRM is free). A melody longer than
MAX_BEATS beats or with more than MAX_NOTES notes is refused, as for MIDI files; a
tempo outside liveimpro.midi.files.TEMPO_RANGE is ignored (120), as there.
"""
from __future__ import annotations

import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import MidiFileError
from ..files import midi_file_error, read_limited
from ..melody import Melody, Note
from ..midi.files import MAX_BEATS, MAX_NOTES, TEMPO_RANGE

ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".xml", ".musicxml", ".mxl")
KERN_SUFFIXES = (".krn",)
_FIELD = re.compile(r"^[A-Za-z+]:")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines(): Essen N: lines hold stray U+0085
_METER = re.compile(r"(?:^|\[)M:([^\]\n]*)", re.MULTILINE)  # M: fields, on their own line or inline [M:...]
MAX_SCORE_BYTES = 16 * 2**20  # a score file (Essen's largest ABC file has 248 KB)
MAX_TUNE_CHARS = 20_000  # one ABC tune (Essen's longest has 1,460 characters)
MAX_TUNE_BARS = 400  # bar lines ('|') in one ABC tune (Essen's most: 291)
MAX_METER_BEATS = 64  # beats in a bar of an M: field (the numerator; 2+3+2 counts 7)
MAX_TUNE_BEATS = 1000  # quarter notes in all the notes of a tune (Essen's longest: 696)
MAX_BAR_BEATS = 160  # quarter notes between two bar lines (Essen's most: 133, in tunes without bar lines)
MAX_NOTE_BEATS = 64  # quarter notes in one note or chord (Essen's longest: 55.5)
PARSE_SECONDS = 60.0  # music21 parsing one tune or score is given up after this long


class ParseTimeout(Exception):
    """music21 took longer than PARSE_SECONDS."""


@dataclass(frozen=True)
class AbcTune:
    position: int  # index of the tune in its file, from 0
    label: str  # "file.abc X:12", for messages
    text: str  # the tune's ABC text, file header fields included


def read_text(path) -> str:
    """A text file's content: UTF-8, or Latin-1 where it is not valid UTF-8 (older ABC collections)."""
    return decode_text(read_limited(path, MAX_SCORE_BYTES))


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
    if bpm and TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
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


@contextmanager
def time_limit(seconds: float):
    """Raise ParseTimeout in the code inside after `seconds`, once, through SIGALRM (music21's ABC and
    kern readers catch no broad exceptions that could swallow it); no limit outside the main thread or
    when something else (a test runner, the caller) has a SIGALRM handler."""
    if (not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None)):
        yield
        return

    def expire(signum, frame):
        raise ParseTimeout(f"gave up parsing after {seconds:g} s")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def abc_too_large(text: str) -> str | None:
    """Why music21 must not be given this tune's text (module docstring), or None."""
    if len(text) > MAX_TUNE_CHARS:
        return f"tune too long: {len(text)} characters, more than the {MAX_TUNE_CHARS} read here"
    bars = sum(line.count("|") for line in _LINE_BREAK.split(text) if not _FIELD.match(line))
    if bars > MAX_TUNE_BARS:
        return f"tune too long: {bars} bar lines, more than the {MAX_TUNE_BARS} read here"
    for field_text in _METER.findall(text):
        beats = sum(int(n) for n in re.findall(r"\d+", field_text.partition("/")[0]))
        if beats > MAX_METER_BEATS:
            return (f"meter M:{field_text.strip()[:40]} has {beats} beats a bar, more than the {MAX_METER_BEATS} "
                    f"read here")
    return None


def abc_notes_too_long(text: str) -> str | None:
    """Why the notes of this tune are too long for music21 to be given them (module docstring), or None.
    music21's tokenizer raises on what it cannot read, as its parser would."""
    from music21 import abcFormat

    total = longest_bar = longest_note = bar = 0.0
    for token in abcFormat.ABCFile().readstr(text).tokens:
        if isinstance(token, abcFormat.ABCNote):  # a chord is one ABCNote token too
            length = float(token.quarterLength or 0)
            total, bar, longest_note = total + length, bar + length, max(longest_note, length)
        elif isinstance(token, abcFormat.ABCBar):
            longest_bar, bar = max(longest_bar, bar), 0.0
    longest_bar = max(longest_bar, bar)
    for what, beats, most in (("tune", total, MAX_TUNE_BEATS), ("bar", longest_bar, MAX_BAR_BEATS),
                              ("note", longest_note, MAX_NOTE_BEATS)):
        if beats > most:
            return f"{what} too long: {beats:.0f} beats, more than the {most} read here"
    return None


def check_size(melody: Melody, label) -> Melody:
    """The melody, or MidiFileError if it is longer or has more notes than a MIDI file may."""
    if len(melody.notes) > MAX_NOTES:
        raise midi_file_error(label, f"too many notes: {len(melody.notes)}, more than the {MAX_NOTES} read here")
    if melody.end > MAX_BEATS:
        raise midi_file_error(label, f"too long: lasts {melody.end:.0f} beats, more than the {MAX_BEATS} read here")
    return melody


def parse_abc_tune(tune: AbcTune) -> Melody:
    """Parse one tune's text; MidiFileError naming the tune if music21 cannot (or must not)."""
    from music21 import converter, stream

    refused = abc_too_large(tune.text)
    if refused:
        raise midi_file_error(tune.label, refused)
    try:
        with time_limit(PARSE_SECONDS):
            refused = abc_notes_too_long(tune.text)
            if refused is None:
                parsed = converter.parse(tune.text, format="abc")
                score = parsed.scores[0] if isinstance(parsed, stream.Opus) else parsed
                melody = score_to_melody(score, f"{tune.label} {_title(score)}".strip())
    except Exception as error:  # music21 raises many kinds of exception on malformed ABC
        raise midi_file_error(tune.label, _reason(error)) from None
    if refused:
        raise midi_file_error(tune.label, refused)
    return check_size(melody, tune.label)


def read_score_file(path) -> list[Melody]:
    """A MusicXML or kern file: one Melody per score in it (usually one)."""
    from music21 import converter, stream

    path = Path(path)
    if not read_limited(path, MAX_SCORE_BYTES):
        raise midi_file_error(path, "empty file")
    try:
        with time_limit(PARSE_SECONDS):
            parsed = converter.parseFile(path, forceSource=True, storePickle=False)  # never music21's pickles
            scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
            melodies = [score_to_melody(score, f"{path.name} {_title(score)}".strip()) for score in scores]
    except Exception as error:  # music21's readers raise many kinds of exception on damaged files
        raise midi_file_error(path, _reason(error)) from None
    return [check_size(melody, path) for melody in melodies]


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
           "score_to_melody", "abc_too_large", "abc_notes_too_long", "check_size", "time_limit", "ParseTimeout",
           "MAX_SCORE_BYTES",
           "MAX_TUNE_CHARS", "MAX_TUNE_BARS", "MAX_METER_BEATS", "MAX_TUNE_BEATS", "MAX_BAR_BEATS", "MAX_NOTE_BEATS",
           "PARSE_SECONDS", "ABC_SUFFIXES", "MUSICXML_SUFFIXES",
           "KERN_SUFFIXES"]
