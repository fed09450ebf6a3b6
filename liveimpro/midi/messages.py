"""MIDI 1.0 messages as bytes: the one home for status bytes, controller numbers and data-byte counts.

Every other module names a status byte or a controller by the constants here, and asks
`DATA_BYTES` how long a message is, so that the wire (liveimpro.live.input), the files
(liveimpro.midi.smf) and the clock (liveimpro.midi.clock) cannot disagree. Nothing here
imports rtmidi (whose `rtmidi.midiconstants` holds the same numbers): a file reader needs
no MIDI system. tests/test_messages.py checks `DATA_BYTES` against mido's message specs.

Cheat-sheet (n: the channel 0..15 in the low nibble; data bytes are 0..127):

    status  message                          data bytes
    0x8n    NOTE_OFF           key, velocity          2
    0x9n    NOTE_ON            key, velocity          2   (velocity 0: a note-off)
    0xAn    POLY_AFTERTOUCH    key, pressure          2
    0xBn    CONTROL_CHANGE     controller, value      2   (120..127: channel mode, below)
    0xCn    PROGRAM_CHANGE     program                1
    0xDn    CHANNEL_AFTERTOUCH pressure               1
    0xEn    PITCH_BEND         LSB, MSB               2   (8192: centre)
    0xF0    SYSEX              ... END_OF_EXCLUSIVE  any  (0xF7 also escapes in a file)
    0xF1    MTC_QUARTER_FRAME  type and value         1
    0xF2    SONG_POSITION      LSB, MSB               2   (in sixteenths)
    0xF3    SONG_SELECT        song                   1
    0xF4/5  undefined
    0xF6    TUNE_REQUEST                              0
    0xF8    CLOCK              24 a quarter note      0   0xF8..0xFF are real-time: one byte,
    0xFA    START                                     0   allowed anywhere, even inside
    0xFB    CONTINUE                                  0   another message; 0xF9 and 0xFD
    0xFC    STOP                                      0   are undefined
    0xFE    ACTIVE_SENSING                            0
    0xFF    RESET                                     0   (in a file: a META_EVENT)

Controllers used by name: SUSTAIN_PEDAL 64 (>= 64 down); the channel mode messages
ALL_SOUND_OFF 120, RESET_ALL_CONTROLLERS 121, LOCAL_CONTROL 122, ALL_NOTES_OFF 123,
OMNI_MODE_OFF 124, OMNI_MODE_ON 125, MONO_MODE_ON 126, POLY_MODE_ON 127.

`message_kind`, `channel_of` and `is_realtime` read a status byte. `note_on`, `note_off` and
`control_change` build a channel message and raise ValueError for a channel, key or value out
of range; `as_message` checks one given as a sequence of ints; `is_note_off` counts a note-on
of velocity 0 as the note-off it is.
"""
from __future__ import annotations

# --- status bytes: channel messages (the high nibble; the low one is the channel) ----------------
NOTE_OFF = 0x80
NOTE_ON = 0x90
POLY_AFTERTOUCH = 0xA0
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_AFTERTOUCH = 0xD0
PITCH_BEND = 0xE0

# --- status bytes: system common --------------------------------------------------------------------
SYSEX = 0xF0
MTC_QUARTER_FRAME = 0xF1
SONG_POSITION = 0xF2
SONG_SELECT = 0xF3
TUNE_REQUEST = 0xF6
END_OF_EXCLUSIVE = 0xF7

# --- status bytes: system real-time ---------------------------------------------------------------
CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
ACTIVE_SENSING = 0xFE
RESET = 0xFF
META_EVENT = RESET  # a Standard MIDI File has no reset: the byte introduces a meta event there

STATUS_BIT = 0x80  # set in a status byte, clear in a data byte
MAX_DATA = 0x7F  # the largest data byte
_CHANNEL_BITS = 0x0F  # the low nibble of a channel message's status
_KIND_BITS = 0xF0  # its high nibble

# Data bytes after each status, keyed by `message_kind(status)`; sysex (any length) and the
# undefined statuses are not in it.
DATA_BYTES = {
    NOTE_OFF: 2, NOTE_ON: 2, POLY_AFTERTOUCH: 2, CONTROL_CHANGE: 2, PROGRAM_CHANGE: 1, CHANNEL_AFTERTOUCH: 1,
    PITCH_BEND: 2,
    MTC_QUARTER_FRAME: 1, SONG_POSITION: 2, SONG_SELECT: 1, TUNE_REQUEST: 0,
    CLOCK: 0, START: 0, CONTINUE: 0, STOP: 0, ACTIVE_SENSING: 0, RESET: 0,
}

# --- controller numbers (the first data byte of a CONTROL_CHANGE) ----------------------------------
SUSTAIN_PEDAL = 64
ALL_SOUND_OFF = 120
RESET_ALL_CONTROLLERS = 121
LOCAL_CONTROL = 122
ALL_NOTES_OFF = 123
OMNI_MODE_OFF = 124
OMNI_MODE_ON = 125
MONO_MODE_ON = 126
POLY_MODE_ON = 127
# the controllers after which no note of the channel sounds: MIDI 1.0 says the mode changes
# turn all notes off too; reset all controllers and local control do not
RELEASING_CONTROLS = frozenset({ALL_SOUND_OFF, ALL_NOTES_OFF, OMNI_MODE_OFF, OMNI_MODE_ON, MONO_MODE_ON,
                                POLY_MODE_ON})


def message_kind(status: int) -> int:
    """What a status byte says, as a key of DATA_BYTES: a channel message's kind without its
    channel (NOTE_ON for 0x93), a system message's byte itself."""
    return status & _KIND_BITS if status < SYSEX else status


def channel_of(status: int) -> int:
    """The channel 0..15 of a channel message's status byte."""
    return status & _CHANNEL_BITS


def is_realtime(status: int) -> bool:
    """Whether a status byte is real-time (0xF8..0xFF, the undefined 0xF9 and 0xFD included):
    a message of that one byte."""
    return status >= CLOCK


def note_on(channel: int, pitch: int, velocity: int) -> bytes:
    _check_channel(channel)
    _check_data("pitch", pitch)
    if not 1 <= velocity <= MAX_DATA:  # velocity 0 would be a note-off
        raise ValueError(f"velocity must be in range 1..127, got {velocity!r}")
    return bytes((NOTE_ON | channel, pitch, velocity))


def note_off(channel: int, pitch: int) -> bytes:
    _check_channel(channel)
    _check_data("pitch", pitch)
    return bytes((NOTE_OFF | channel, pitch, 0))


def control_change(channel: int, control: int, value: int) -> bytes:
    _check_channel(channel)
    _check_data("control", control)
    _check_data("value", value)
    return bytes((CONTROL_CHANGE | channel, control, value))


def as_message(message) -> bytes:
    """A MIDI message as bytes, checked: a status byte first, data bytes below 128 (a sysex's
    bytes are not looked at)."""
    data = bytes(message)
    if not data:
        raise ValueError("MIDI message must not be empty")
    if data[0] < STATUS_BIT:
        raise ValueError(f"MIDI message must start with a status byte (>= 0x80), got {data[0]:#04x}")
    if data[0] != SYSEX and any(b > MAX_DATA for b in data[1:]):
        raise ValueError(f"MIDI data bytes must be in range 0..127, got {data.hex(' ')}")
    return data


def is_note_off(message: bytes) -> bool:
    """A note-off, or a note-on of velocity 0."""
    kind = message_kind(message[0])
    return kind == NOTE_OFF or (kind == NOTE_ON and len(message) > 2 and message[2] == 0)


def _check_channel(channel: int) -> None:
    if not 0 <= channel <= 15:
        raise ValueError(f"channel must be in range 0..15, got {channel!r}")


def _check_data(name: str, value: int) -> None:
    if not 0 <= value <= MAX_DATA:
        raise ValueError(f"{name} must be in range 0..127, got {value!r}")


__all__ = [
    "NOTE_OFF", "NOTE_ON", "POLY_AFTERTOUCH", "CONTROL_CHANGE", "PROGRAM_CHANGE", "CHANNEL_AFTERTOUCH", "PITCH_BEND",
    "SYSEX", "MTC_QUARTER_FRAME", "SONG_POSITION", "SONG_SELECT", "TUNE_REQUEST", "END_OF_EXCLUSIVE",
    "CLOCK", "START", "CONTINUE", "STOP", "ACTIVE_SENSING", "RESET", "META_EVENT", "STATUS_BIT", "MAX_DATA",
    "DATA_BYTES",
    "SUSTAIN_PEDAL", "ALL_SOUND_OFF", "RESET_ALL_CONTROLLERS", "LOCAL_CONTROL", "ALL_NOTES_OFF", "OMNI_MODE_OFF",
    "OMNI_MODE_ON", "MONO_MODE_ON", "POLY_MODE_ON", "RELEASING_CONTROLS",
    "message_kind", "channel_of", "is_realtime", "note_on", "note_off", "control_change", "as_message", "is_note_off",
]
