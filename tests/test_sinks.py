"""Sinks: note bookkeeping, and a real MIDI port on a private JACK server (dummy driver)
received by a second rtmidi client."""
from __future__ import annotations

import logging
import time

import pytest
import rtmidi

from liveimpro.jackserver import JackServer
from liveimpro.live.scheduler import Scheduler
from liveimpro.live.sinks import (
    FanoutSink,
    MemorySink,
    MidiPortSink,
    Sink,
    SoundingNotes,
)
from liveimpro.midi.messages import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    control_change,
    note_off,
    note_on,
)
from liveimpro.midi.jack_names import jack_client_name
from liveimpro.midi.ports import close_client, open_output


def wait_for(condition, timeout=5.0):
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.005)


class Receiver:
    """A second JACK MIDI client listening to our output port."""

    def __init__(self, port_name: str):
        self.messages: list[bytes] = []
        self.midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, jack_client_name("test-receiver"))
        ports = self.midi_in.get_ports()
        self.midi_in.open_port(next(i for i, p in enumerate(ports) if p.endswith(port_name)))
        self.midi_in.set_callback(lambda event, data: self.messages.append(bytes(event[0])))
        time.sleep(0.1)  # the connection takes effect within a few JACK cycles

    def close(self):
        self.midi_in.cancel_callback()  # before deleting: JACK's thread may be in the callback
        close_client(self.midi_in)


def unmatched_note_ons(messages: list[bytes]) -> SoundingNotes:
    notes = SoundingNotes()
    for message in messages:
        notes.update(message)
    return notes


def test_sounding_notes_count_and_release():
    notes = SoundingNotes()
    for message in (note_on(0, 60, 90), note_on(0, 60, 90), note_on(3, 70, 90), bytes((0x93, 70, 0)),
                    note_off(5, 10), control_change(0, 7, 100)):
        notes.update(message)
    assert notes.notes() == [(0, 60)] and len(notes) == 2
    assert notes.release() == [note_off(0, 60), note_off(0, 60)]
    assert len(notes) == 0
    assert notes.panic_messages() == [control_change(c, cc, 0) for c in (0, 3)
                                      for cc in (ALL_NOTES_OFF, ALL_SOUND_OFF)]


def test_message_helpers_check_their_ranges():
    with pytest.raises(ValueError, match=r"channel must be in range 0..15, got 16"):
        note_on(16, 60, 90)
    with pytest.raises(ValueError, match=r"pitch must be in range 0..127, got 128"):
        note_off(0, 128)
    with pytest.raises(ValueError, match=r"velocity must be in range 1..127, got 0"):
        note_on(0, 60, 0)


def test_closed_sink_drops_and_counts():
    sink = MemorySink()
    sink.send(note_on(0, 60, 90))
    sink.close()
    sink.close()
    assert [m for _, m in sink.messages] == [note_on(0, 60, 90), note_off(0, 60),
                                             control_change(0, ALL_NOTES_OFF, 0), control_change(0, ALL_SOUND_OFF, 0)]
    sink.send(note_on(0, 62, 90))
    assert sink.dropped == 1 and len(sink.messages) == 4


def test_midi_port_panic_matches_every_note_on(jack_server):
    sink = MidiPortSink(open_output(None, api="jack", client_name="liveimpro-sinktest"))
    receiver = Receiver("liveimpro-sinktest out")
    try:
        for channel, pitch in ((0, 60), (0, 64), (1, 67), (0, 60)):
            sink.send(note_on(channel, pitch, 90))
        sink.send(note_off(0, 64))
        sink.panic()
        assert len(sink.sounding) == 0
        wait_for(lambda: len(receiver.messages) >= 5 + 3 + 4)
        assert len(unmatched_note_ons(receiver.messages)) == 0
        assert control_change(0, ALL_NOTES_OFF, 0) in receiver.messages
        assert control_change(1, ALL_SOUND_OFF, 0) in receiver.messages
    finally:
        receiver.close()
        sink.close()


def test_barge_in_through_a_real_port_releases_the_answer(jack_server):
    sink = MidiPortSink(open_output(None, api="jack", client_name="liveimpro-bargein"))
    receiver = Receiver("liveimpro-bargein out")
    scheduler = Scheduler(sink).start()
    try:
        now = time.perf_counter()
        scheduler.schedule_many([(now + 0.01 + 0.02 * i, note_on(1, 60 + i, 90)) for i in range(3)]
                                + [(now + 20, note_off(1, 60 + i)) for i in range(3)]
                                + [(now + 25, note_on(1, 80, 90))], tag="answer")
        wait_for(lambda: len(receiver.messages) == 3)
        scheduler.cancel("answer")
        wait_for(lambda: len(receiver.messages) == 6)
        assert len(unmatched_note_ons(receiver.messages)) == 0
        assert note_on(1, 80, 90) not in receiver.messages
    finally:
        scheduler.stop()
        receiver.close()
        sink.close()


def test_close_sends_note_offs_then_closes_the_port(jack_server):
    sink = MidiPortSink(open_output(None, api="jack", client_name="liveimpro-closetest"))
    receiver = Receiver("liveimpro-closetest out")
    try:
        sink.send(note_on(2, 50, 90))
        sink.close()
        wait_for(lambda: len(receiver.messages) == 4)
        assert receiver.messages[1] == note_off(2, 50)
        sink.send(note_on(2, 51, 90))  # after close: dropped, no crash on the deleted rtmidi object
        assert sink.dropped == 1
    finally:
        receiver.close()


def test_jack_server_going_away_mid_stream_does_not_stop_the_scheduler():
    # a JACK server of this test's own: it is killed while the answer plays
    with JackServer.for_purpose("vanish") as server:
        sink = MidiPortSink(open_output(None, api="jack", client_name="liveimpro-vanish"))
        scheduler = Scheduler(sink).start()
        now = time.perf_counter()
        scheduler.schedule_many([(now + 0.01 * i, note_on(0, 40 + i % 40, 90)) for i in range(40)]
                                + [(now + 0.01 * i + 0.005, note_off(0, 40 + i % 40)) for i in range(40)])
        wait_for(lambda: scheduler.log.count > 20)
        server.stop()
        scheduler.schedule(time.perf_counter() + 0.01, note_on(0, 90, 90))
        wait_for(lambda: scheduler.pending == 0)
        scheduler.stop()
        assert scheduler.log.count == 81 and scheduler.errors == 0
        assert scheduler.sounding() == []
        sink.close()  # no server: rtmidi complains on stderr, nothing raises


class UnpluggedPort:
    """Stands for an rtmidi MidiOut whose device was unplugged: on Windows MM and CoreMIDI,
    send_message then raises. No backend on this machine does (JACK and ALSA accept writes
    to a port nobody reads), so this one case uses a stand-in."""

    def __init__(self, fail_after: int):
        self.sent: list[bytes] = []
        self.fail_after = fail_after

    def send_message(self, message):
        if len(self.sent) >= self.fail_after:
            raise rtmidi.SystemError("MidiOutWinMM::sendMessage: error sending MIDI message.")
        self.sent.append(bytes(message))

    def get_current_api(self):
        return rtmidi.API_WINDOWS_MM

    def close_port(self):
        pass

    def delete(self):
        pass


def test_a_port_that_raises_is_marked_gone_and_reports_its_sounding_notes(caplog):
    port = UnpluggedPort(fail_after=2)
    sink = MidiPortSink(port, name="MIDI output 'usb keys'")
    memory = MemorySink()
    both = FanoutSink([sink, memory])
    scheduler = Scheduler(both).start()
    now = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="liveimpro.live.sinks"):
        scheduler.schedule_many([(now + 0.01 * i, note_on(0, 60 + i, 90)) for i in range(4)])
        wait_for(lambda: memory.sounding.notes() == [(0, 60), (0, 61), (0, 62), (0, 63)])
        scheduler.stop()
        both.close()
    assert sink.gone and sink.failures == 1
    assert sink.lost_notes == [(0, 60), (0, 61)]
    assert sink.dropped >= 1
    assert [r.getMessage() for r in caplog.records] == [
        "MIDI output 'usb keys' is gone (MidiOutWinMM::sendMessage: error sending MIDI message.); "
        "2 note(s) may be left sounding: ch1:60, ch1:61"]
    # the other sink of the fan-out kept playing and was released in full
    assert len(unmatched_note_ons([m for _, m in memory.messages])) == 0


def test_every_sink_subclass_gets_the_bookkeeping():
    class Counting(Sink):
        def __init__(self):
            super().__init__()
            self.written = []

        def _write(self, message):
            self.written.append(message)

    sink = Counting()
    sink.send(note_on(4, 30, 90))
    sink.panic()
    assert sink.written == [note_on(4, 30, 90), note_off(4, 30), control_change(4, ALL_NOTES_OFF, 0),
                            control_change(4, ALL_SOUND_OFF, 0)]
