"""TODO docstring."""
from __future__ import annotations

RELEASING_CONTROLS = frozenset({120, 123, 124, 125, 126, 127})  # all sound off, all notes off, mode changes


NOTE_OFF, NOTE_ON, CONTROL_CHANGE = 0x80, 0x90, 0xB0


ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123


def note_on(channel: int, pitch: int, velocity: int) -> bytes:
    _check_channel(channel)
    _check_data("pitch", pitch)
    if not 1 <= velocity <= 127:
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
    """A MIDI message as bytes, checked: a status byte first, data bytes below 128."""
    data = bytes(message)
    if not data:
        raise ValueError("MIDI message must not be empty")
    if data[0] < 0x80:
        raise ValueError(f"MIDI message must start with a status byte (>= 0x80), got {data[0]:#04x}")
    if data[0] != 0xF0 and any(b >= 0x80 for b in data[1:]):
        raise ValueError(f"MIDI data bytes must be in range 0..127, got {data.hex(' ')}")
    return data


def is_note_off(message: bytes) -> bool:
    kind = message[0] & 0xF0
    return kind == NOTE_OFF or (kind == NOTE_ON and len(message) > 2 and message[2] == 0)

def _check_channel(channel: int) -> None:
    if not 0 <= channel <= 15:
        raise ValueError(f"channel must be in range 0..15, got {channel!r}")


def _check_data(name: str, value: int) -> None:
    if not 0 <= value <= 127:
        raise ValueError(f"{name} must be in range 0..127, got {value!r}")


__all__ = ["RELEASING_CONTROLS", "NOTE_OFF", "NOTE_ON", "CONTROL_CHANGE", "ALL_SOUND_OFF", "ALL_NOTES_OFF", "note_on", "note_off", "control_change", "as_message", "is_note_off"]
