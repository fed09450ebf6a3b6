import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.live.input import ControlChange, LiveInput, NoteOff, NoteOn
from liveimpro.music.played import MIN_DURATION_BEATS, phrase_melody


def test_note_on_then_off_gives_a_note_with_its_duration_and_channel():
    live = LiveInput()
    on = live.feed([0x93, 60, 100], 1.0)
    assert isinstance(on, NoteOn) and on.chord_start
    assert on.note.pitch == 60 and on.note.velocity == 100 and on.note.channel == 3
    assert on.note.duration is None and live.held_count == 1  # held: duration still open
    off = live.feed([0x83, 60, 64], 1.5)
    assert isinstance(off, NoteOff) and off.note.duration == pytest.approx(0.5)
    assert live.notes[0].release == 1.5 and live.held_count == 0


def test_note_on_with_velocity_zero_is_a_note_off():
    live = LiveInput()
    live.feed([0x90, 64, 90], 0.0)
    assert isinstance(live.feed([0x90, 64, 0], 0.25), NoteOff)
    assert live.notes[0].duration == pytest.approx(0.25)


def test_orphan_note_offs_are_ignored_and_counted():
    live = LiveInput()
    assert live.feed([0x80, 60, 0], 0.0) is None
    assert live.feed([0x90, 61, 0], 0.1) is None
    live.feed([0x90, 60, 80], 0.2)
    assert live.feed([0x81, 60, 0], 0.3) is None  # same pitch, other channel: not that key
    assert live.skipped.orphan_note_offs == 3 and live.held_count == 1


def test_keys_are_tracked_per_channel_and_pitch():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.0)
    live.feed([0x91, 60, 70], 0.5)
    live.feed([0x81, 60, 0], 0.75)
    assert [(n.channel, n.release) for n in live.notes] == [(0, None), (1, 0.75)]


def test_a_struck_again_key_ends_the_held_note_there():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.0)
    live.feed([0x90, 60, 90], 0.4)
    live.feed([0x80, 60, 0], 0.6)
    assert [(n.onset, n.release) for n in live.notes] == [(0.0, 0.4), (0.4, 0.6)]
    assert live.skipped.orphan_note_offs == 0


def test_notes_struck_within_the_window_share_one_chord_onset():
    live = LiveInput(chord_window=0.030)
    events = [live.feed([0x90, p, 80], t) for p, t in ((60, 1.000), (64, 1.012), (67, 1.029), (72, 1.045))]
    assert [e.chord_start for e in events] == [True, False, False, True]
    assert [n.onset for n in live.notes] == [1.0, 1.0, 1.0, 1.045]
    assert live.onsets() == [1.0, 1.045]


def test_a_fast_run_is_not_chained_into_one_chord():
    live = LiveInput(chord_window=0.030)
    for i in range(5):
        live.feed([0x90, 60 + i, 80], i * 0.020)
    assert live.onsets() == [0.0, 0.04, 0.08]  # each chord measured from its first note


@pytest.mark.parametrize("message, counter", [
    ([0x90, 60], "malformed"),  # truncated
    ([0x90, 60, 80, 1], "malformed"),  # too long
    ([0x90, 200, 80], "malformed"),  # data byte > 127
    ([60, 80], "malformed"),  # stray data bytes
    ([], "malformed"),
    ([0x90, -1, 80], "malformed"),
    ([0x90, 60.0, 80], "malformed"),
    ([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], "sysex"),
    ([0xF8], "realtime"),
    ([0xFE], "realtime"),
    ([0xF8, 1], "malformed"),
    ([0xC0, 5], "unused"),  # program change
    ([0xE0, 0, 64], "unused"),  # pitch bend
    ([0xF2, 0, 0], "unused"),  # song position (the clock takes it first)
    ([0xF4], "malformed"),  # undefined status
])
def test_unusable_messages_are_skipped_and_counted(message, counter):
    live = LiveInput()
    assert live.feed(message, 0.0) is None
    assert getattr(live.skipped, counter) == 1
    assert live.notes == ()


def test_control_changes_are_returned_to_the_caller():
    live = LiveInput()
    assert live.feed([0xB2, 64, 127], 2.0) == ControlChange(2.0, 2, 64, 127)


def test_all_notes_off_releases_that_channels_keys():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.0)
    live.feed([0x91, 62, 80], 0.1)
    assert isinstance(live.feed([0xB0, 123, 0], 0.5), ControlChange)
    assert live.held_count == 1
    assert [n.release for n in live.notes] == [0.5, None]


@pytest.mark.parametrize("control", [120, 123, 124, 125, 126, 127])
def test_the_controllers_that_silence_a_channel_release_its_keys(control):
    live = LiveInput()
    live.feed([0x95, 60, 80], 0.0)
    live.feed([0x96, 62, 80], 0.1)
    assert live.feed([0xB5, control, 0], 0.5) == ControlChange(0.5, 5, control, 0)
    assert live.held_count == 1 and [n.release for n in live.notes] == [0.5, None]


def test_other_controllers_release_nothing():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.0)
    for control in (64, 119, 121, 122):
        live.feed([0xB0, control, 0], 0.5)
    assert live.held_count == 1


def test_release_held_lets_go_of_every_key_on_every_channel():
    live = LiveInput()
    for channel in range(16):
        live.feed([0x90 | channel, 40 + channel, 80], 0.0)
    offs = live.release_held(2.0)
    assert len(offs) == 16 and all(isinstance(off, NoteOff) and off.note.release == 2.0 for off in offs)
    assert live.held_count == 0 and all(n.release == 2.0 for n in live.notes)
    assert live.feed([0x80, 40, 0], 3.0) is None and live.skipped.orphan_note_offs == 1  # it came after all


def test_a_64_kb_sysex_is_counted_without_reading_it():
    live = LiveInput()
    assert live.feed([0xF0] + [0x7F] * 65534 + [0xF7], 0.0) is None
    assert live.feed([0xF0, 1, 999, "x"], 0.0) is None  # what follows 0xF0 is not looked at
    assert live.skipped.sysex == 2 and live.skipped.malformed == 0


def test_the_sustain_pedal_does_not_lengthen_notes():
    live = LiveInput()
    live.feed([0xB0, 64, 127], 0.0)
    live.feed([0x90, 60, 80], 0.1)
    live.feed([0x80, 60, 0], 0.3)
    assert live.notes[0].duration == pytest.approx(0.2)


def test_take_phrase_cuts_held_notes_and_starts_afresh():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.0)
    live.feed([0x80, 60, 0], 0.5)
    live.feed([0x90, 62, 80], 0.5)
    phrase = live.take_phrase(now=1.25)
    assert [(n.pitch, n.release) for n in phrase] == [(60, 0.5), (62, 1.25)]
    assert live.notes == () and live.held_count == 1
    off = live.feed([0x80, 62, 0], 2.0)  # the key held across the cut: not an orphan, not in the new phrase
    assert isinstance(off, NoteOff) and off.note.onset == 0.5
    assert live.skipped.orphan_note_offs == 0 and live.notes == ()
    live.feed([0x90, 64, 80], 3.0)
    assert live.feed([0x80, 64, 0], 3.5).note.duration == pytest.approx(0.5)
    assert [n.pitch for n in live.notes] == [64]


def test_an_overlong_phrase_keeps_its_latest_notes():
    live = LiveInput(max_notes=4)
    for i in range(6):
        live.feed([0x90, 60 + i, 80], i)
    for i in range(6):
        live.feed([0x80, 60 + i, 0], 10 + i)
    assert [n.pitch for n in live.notes] == [62, 63, 64, 65]
    assert [n.release for n in live.notes] == [12, 13, 14, 15]
    assert live.skipped.dropped == 2 and live.skipped.orphan_note_offs == 0


def test_melody_of_the_phrase_in_beats_from_the_first_note():
    live = LiveInput()
    for pitch, on, off in ((60, 10.0, 10.4), (64, 10.5, 11.0), (67, 11.0, 12.0)):
        live.feed([0x90, pitch, 80], on)
        live.feed([0x80, pitch, 0], off)
    melody = live.melody(tempo=120)
    assert [n.pitch for n in melody] == [60, 64, 67]
    assert [n.onset for n in melody] == pytest.approx([0.0, 1.0, 2.0])
    assert [n.duration for n in melody] == pytest.approx([0.8, 1.0, 2.0])
    assert melody.tempo == 120


def test_melody_counts_from_a_given_origin_and_ends_held_notes_at_now():
    live = LiveInput()
    live.feed([0x90, 60, 80], 1.1)
    live.feed([0x90, 48, 80], 1.1)
    melody = live.melody(tempo=60, origin=1.0, now=2.6, time_signature=(3, 4), key="C major")
    assert [n.pitch for n in melody] == [48, 60]
    assert [n.onset for n in melody] == pytest.approx([0.1, 0.1])
    assert [n.duration for n in melody] == pytest.approx([1.5, 1.5])
    assert melody.time_signature == (3, 4) and melody.key == "C major"
    assert len(melody.chords()) == 1


def test_phrase_melody_clamps_early_notes_and_gives_every_note_a_length():
    live = LiveInput()
    live.feed([0x90, 60, 80], 0.98)
    live.feed([0x80, 60, 0], 0.98)
    melody = phrase_melody(live.notes, tempo=120, origin=1.0)
    assert melody.notes[0].onset == 0.0 and melody.notes[0].duration == MIN_DURATION_BEATS
    assert len(phrase_melody([], tempo=100)) == 0


message = st.lists(st.integers(0, 255), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(message, max_size=60))
def test_random_byte_lists_never_raise_and_keep_the_books_straight(messages):
    live = LiveInput()
    events = [live.feed(msg, i * 0.01) for i, msg in enumerate(messages)]
    skipped = live.skipped
    counted = skipped.malformed + skipped.sysex + skipped.realtime + skipped.unused + skipped.orphan_note_offs
    assert counted + sum(e is not None for e in events) == len(messages)  # each one used or counted
    assert live.held_count == sum(1 for n in live.notes if n.release is None)
    assert all(n.release is None or n.release >= n.onset for n in live.notes)
    live.melody(tempo=120, now=1.0)  # whatever came in, it makes a valid Melody
