"""liveimpro.midi.messages, the one home of status bytes and data-byte counts, against mido's
message specs: the wire (live.input), the files (midi.smf) and the clock read lengths from it."""
import mido
import mido.messages.specs as mido_specs
import pytest

from liveimpro.midi import messages
from liveimpro.midi.messages import (
    DATA_BYTES,
    NOTE_OFF,
    NOTE_ON,
    RELEASING_CONTROLS,
    SYSEX,
    as_message,
    channel_of,
    control_change,
    is_note_off,
    is_realtime,
    message_kind,
    note_off,
    note_on,
)

# mido's names for the statuses, as ours are spelt
MIDO_TYPES = {"note_off": "NOTE_OFF", "note_on": "NOTE_ON", "polytouch": "POLY_AFTERTOUCH",
              "control_change": "CONTROL_CHANGE", "program_change": "PROGRAM_CHANGE",
              "aftertouch": "CHANNEL_AFTERTOUCH", "pitchwheel": "PITCH_BEND", "sysex": "SYSEX",
              "quarter_frame": "MTC_QUARTER_FRAME", "songpos": "SONG_POSITION", "song_select": "SONG_SELECT",
              "tune_request": "TUNE_REQUEST", "clock": "CLOCK", "start": "START", "continue": "CONTINUE",
              "stop": "STOP", "active_sensing": "ACTIVE_SENSING", "reset": "RESET"}


def test_the_data_byte_table_is_mido_s():
    """Every status byte has, in DATA_BYTES, mido's length less the status byte; sysex (any
    length) and the statuses mido does not know (undefined ones, a lone 0xF7) have none."""
    for status in range(0x80, 0x100):
        spec = mido_specs.SPEC_BY_STATUS.get(status)
        expected = None if spec is None or spec["type"] == "sysex" else spec["length"] - 1
        assert DATA_BYTES.get(message_kind(status)) == expected, hex(status)
    assert set(DATA_BYTES) <= {message_kind(status) for status in range(0x80, 0x100)}
    assert SYSEX not in DATA_BYTES


@pytest.mark.parametrize("mido_type, name", MIDO_TYPES.items())
def test_each_status_byte_is_mido_s(mido_type, name):
    assert getattr(messages, name) == mido_specs.SPEC_BY_TYPE[mido_type]["status_byte"]


def test_kind_and_channel_of_a_status_byte():
    assert [message_kind(s) for s in (0x93, 0x80, 0xEF, 0xF2, 0xF8, 0xFF)] == [NOTE_ON, NOTE_OFF, 0xE0, 0xF2, 0xF8, 0xFF]
    assert [channel_of(s) for s in (0x90, 0x93, 0xBF)] == [0, 3, 15]
    assert [s for s in range(0x80, 0x100) if is_realtime(s)] == list(range(0xF8, 0x100))


def test_the_controllers_that_release_a_channel():
    """All sound off, all notes off and the four mode changes; not reset all controllers (121) nor
    local control (122), which leave notes sounding."""
    assert sorted(RELEASING_CONTROLS) == [120, 123, 124, 125, 126, 127]
    assert (messages.SUSTAIN_PEDAL, messages.RESET_ALL_CONTROLLERS, messages.LOCAL_CONTROL) == (64, 121, 122)


def test_messages_are_built_and_checked_as_mido_builds_them():
    assert note_on(3, 60, 90) == bytes(mido.Message("note_on", channel=3, note=60, velocity=90).bytes())
    assert note_off(15, 0) == bytes(mido.Message("note_off", channel=15, note=0, velocity=0).bytes())
    assert control_change(0, 123, 0) == bytes(mido.Message("control_change", channel=0, control=123).bytes())
    assert is_note_off(note_off(1, 60)) and is_note_off(bytes((0x91, 60, 0))) and not is_note_off(note_on(1, 60, 1))
    for bad, message in ((lambda: note_on(16, 60, 90), "channel must be in range 0..15, got 16"),
                         (lambda: note_on(0, 60, 0), "velocity must be in range 1..127, got 0"),
                         (lambda: control_change(0, 128, 0), "control must be in range 0..127, got 128"),
                         (lambda: as_message([]), "MIDI message must not be empty"),
                         (lambda: as_message([60, 90]), "MIDI message must start with a status byte (>= 0x80), "
                                                        "got 0x3c"),
                         (lambda: as_message([0x90, 60, 128]), "MIDI data bytes must be in range 0..127, got 90 3c 80")):
        with pytest.raises(ValueError) as error:
            bad()
        assert str(error.value) == message
    assert as_message([0xF0, 0xFF, 0xF7]) == b"\xf0\xff\xf7"  # a sysex's bytes are not looked at


def test_the_wire_and_the_file_reader_take_every_message_at_mido_s_length():
    """Every message mido can make (but sysex) is well-formed for LiveInput and for the file
    reader; one data byte more or fewer makes it malformed on the wire."""
    from liveimpro.live.input import LiveInput
    from liveimpro.midi.smf import parse

    made = [mido.Message(spec["type"]).bytes() for spec in mido_specs.SPECS if spec["type"] != "sysex"]
    live = LiveInput()
    for message in made:
        live.feed(message, 0.0)
    assert live.skipped.malformed == 0
    for message in made:
        live.feed(message + [0], 0.0)
        if len(message) > 1:
            live.feed(message[:-1], 0.0)
    assert live.skipped.malformed == len(made) + sum(len(m) > 1 for m in made)

    in_a_file = [m for m in made if m[0] != messages.RESET]  # 0xFF starts a meta event there
    track = b"".join(b"\x00" + bytes(m) for m in in_a_file)
    header = b"MThd" + bytes((0, 0, 0, 6, 0, 0, 0, 1, 0, 96))  # format 0, one track, 96 ticks per beat
    smf = parse(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    assert [n[1] for n in smf.tracks[0].notes] == [False, True]  # mido's note_off, then its note_on (velocity 64)
