"""Fuzzing the melody file readers with hypothesis, on fixed budgets (derandomized: CI runs the same examples).

Property: reading returns a Melody, or raises MidiFileError whose message is one line starting with the file's
name (or the ABC tune's label); never any other exception, never a hang.
- MIDI (liveimpro.midi.files, through liveimpro.midi.smf): mutations of valid files (byte flips, truncations,
  inserted and deleted bytes, edited chunk lengths, track counts and time divisions) and raw bytes.
- ABC (liveimpro.data.scores, through music21, ~30 tunes/s): mutations of a valid tune (inserted ABC symbols,
  deleted and repeated spans, edited M:/L:/Q: fields, inserted bytes decoded as Latin-1). music21 running
  into the parse timer (a ParseTimeout reason) counts as a failure: the size and meter limits must stop
  whatever is slow before parsing starts.
"""
from __future__ import annotations

import struct

import mido
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveimpro.data.scores import AbcTune, parse_abc_tune
from liveimpro.errors import MidiFileError
from liveimpro.files import one_line
from liveimpro.melody import Melody, melody_from_tuples
from liveimpro.midi.files import read_midi, read_midi_tracks, write_midi

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=2000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def seed_files() -> list[bytes]:
    """Valid files to mutate: written by liveimpro (type 1, two tracks), and hand-made with running status,
    a sysex, meta events, a note-on of velocity 0 as note-off, and a second track."""
    import io
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.mid"
        call = melody_from_tuples([(60, 0, 1), (64, 1, 0.5), (67, 1.5, 0.5), (72, 2, 2)], key="C major")
        answer = melody_from_tuples([(72, 4, 0.5), (71, 4.5, 0.5), (67, 5, 1), (60, 6, 2)])
        write_midi(path, {"call": call, "answer": answer}, tempo=96)
        written = path.read_bytes()
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="fl\xfbte"), mido.MetaMessage("time_signature", numerator=6, denominator=8),
        mido.MetaMessage("key_signature", key="F#m"), mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("note_on", note=66, velocity=90), mido.Message("note_on", note=66, velocity=0, time=96),
        mido.Message("note_on", note=69, velocity=90), mido.Message("pitchwheel", pitch=300, time=10),
        mido.Message("note_off", note=69, time=86)]))
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=100),
                                       mido.Message("note_on", channel=1, note=40, velocity=70, time=48)]))
    buffer = io.BytesIO()
    midi.save(file=buffer)  # mido writes running status
    return [written, buffer.getvalue()]


SEEDS = seed_files()


def chunk_starts(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 3) if data[i:i + 4] in (b"MThd", b"MTrk")]


def meta_data_starts(data: bytes) -> list[int]:
    """Where the data of (what look like) tempo, time and key signature events start."""
    return [i + 3 for i in range(len(data) - 3) if data[i] == 0xFF and data[i + 1] in (0x51, 0x58, 0x59)]


@st.composite
def mutated_midi(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "high bytes", "delete", "meta data",
                                     "chunk length", "tracks", "division"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "high bytes":  # a variable-length number that goes on, a status where data belongs
            data[at:at] = bytes(draw(st.lists(st.integers(0x80, 0xFF), min_size=1, max_size=12)))
        elif kind == "meta data" and meta_data_starts(bytes(data)):
            start = draw(st.sampled_from(meta_data_starts(bytes(data))))
            data[start:start + 4] = draw(st.binary(min_size=4, max_size=4))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "chunk length" and chunk_starts(bytes(data)):
            start = draw(st.sampled_from(chunk_starts(bytes(data))))
            length = draw(st.one_of(st.integers(0, 64), st.sampled_from([0x7FFFFFFF, 0xFFFFFFFF]),
                                    st.integers(0, 2**32 - 1)))
            data[start + 4:start + 8] = struct.pack(">L", length)[:len(data[start + 4:start + 8])]
        elif kind in ("tracks", "division") and len(data) >= 14:
            offset = 10 if kind == "tracks" else 12
            value = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 0x7FFF, 0x8000, 0xE728, 0xFFFF]),
                                   st.integers(0, 0xFFFF)))
            data[offset:offset + 2] = struct.pack(">H", value)
    return bytes(data)


def assert_melody_or_one_line_error(path) -> None:
    for read in (read_midi, read_midi_tracks):
        try:
            result = read(path)
        except MidiFileError as error:
            message = str(error)
            assert message.startswith(f"{path}: ") and one_line(message) == message, message
            assert len(message) < len(str(path)) + 200, message
            continue
        melodies = [result] if read is read_midi else list(result.values())
        assert all(isinstance(m, Melody) for m in melodies)


@FUZZ
@given(data=mutated_midi())
def test_mutated_midi_files_read_or_fail_in_one_line(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "mutated.mid"
    path.write_bytes(data)
    assert_melody_or_one_line_error(path)


@settings(FUZZ, max_examples=200)
@given(data=st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(lambda b: b"MThd" + b),
                      st.binary(max_size=512).map(lambda b: b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk" + b)))
def test_raw_bytes_read_or_fail_in_one_line(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "raw.mid"
    path.write_bytes(data)
    assert_melody_or_one_line_error(path)


def test_the_mutations_reach_both_outcomes(tmp_path):
    """The fuzzing above means something only if mutants are both read and refused, for many reasons."""
    outcomes, reasons = set(), set()
    path = tmp_path / "m.mid"

    @settings(FUZZ, max_examples=150)
    @given(data=mutated_midi())
    def collect(data):
        path.write_bytes(data)
        try:
            read_midi(path)
            outcomes.add("read")
        except MidiFileError as error:
            outcomes.add("refused")
            reasons.add(error.reason.split(" (")[0])

    collect()
    assert outcomes == {"read", "refused"}
    assert len(reasons) >= 3, reasons


TUNE = "X:1\nT:Fuzz\nM:6/8\nL:1/8\nQ:3/8=80\nK:D\n|:A|dfa agf|(3efg fe d2|[DF]2 B>c d2^c|d3-d2:|\n"
ABC_SYMBOLS = list("|:[]()<>/0123456789ABCDEFGabcdefgz^_=,'-~.{}!\"+xX") + ["\n", "\nM:", "\nL:", "[M:", "[L:",
                                                                           "(3", "(9999", "|:", ":|", "::"]


@st.composite
def mutated_abc(draw) -> str:
    text = TUNE
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "repeat", "field", "bytes"]))
        at = draw(st.integers(len("X:1\n"), len(text)))
        if kind == "insert":
            text = text[:at] + "".join(draw(st.lists(st.sampled_from(ABC_SYMBOLS), min_size=1, max_size=6))) \
                + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
        elif kind == "repeat":
            span = text[at:at + draw(st.integers(1, 12))]
            text = text[:at] + span * draw(st.integers(2, 40)) + text[at:]
        elif kind == "field":
            name = draw(st.sampled_from("MLQ"))
            value = f"{draw(st.integers(0, 10**9))}/{draw(st.integers(0, 10**9))}"
            text = text.replace(f"\n{name}:", f"\n{name}:{value}\n%{name}:", 1)
        else:
            text = text[:at] + draw(st.binary(min_size=1, max_size=8)).decode("latin-1") + text[at:]
    return text


@settings(FUZZ, max_examples=40, deadline=None)  # the property itself says "no hang" (no ParseTimeout)
@given(text=mutated_abc())
def test_mutated_abc_tunes_parse_or_fail_in_one_line(text):
    tune = AbcTune(0, "fuzz.abc X:1", text)
    try:
        melody = parse_abc_tune(tune)
    except MidiFileError as error:
        message = str(error)
        assert message.startswith("fuzz.abc X:1: ") and one_line(message) == message, message
        assert not error.reason.startswith("ParseTimeout"), text
        return
    assert isinstance(melody, Melody)
