import pytest

from liveimpro.live.input import ControlChange, LiveInput, NoteOff, NoteOn
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.clock import MidiClock
from liveimpro.midi.messages import CLOCK, START
from liveimpro.music.keys import KeyTracker
from liveimpro.music.phrase import (
    AnswerLength,
    PhraseDetector,
    PhraseEnd,
    answer_length,
)
from liveimpro.music.played import phrase_melody, quantize
from liveimpro.music.tempo import estimate_tempo


def play(detector, notes):
    """(onset, release) pairs, one key at a time, fed in time order."""
    for onset, release in notes:
        detector.on_note_on(onset)
        detector.on_note_off(release, keys_held=0)


def test_silence_of_one_and_a_half_beats_ends_the_phrase():
    detector = PhraseDetector(tempo_bpm=120)  # 1.5 beats = 0.75 s
    play(detector, [(0.0, 0.4), (0.5, 0.9), (1.0, 1.8)])
    assert detector.deadline() == pytest.approx(2.55)
    assert detector.poll(2.5) is None
    end = detector.poll(3.1)  # polled late: the end is still when the silence became long enough
    assert end == PhraseEnd(pytest.approx(2.55), "silence")
    assert not detector.in_phrase and detector.poll(10.0) is None  # fires once


def test_a_held_key_is_not_silence():
    detector = PhraseDetector(tempo_bpm=120)
    detector.on_note_on(0.0)
    detector.on_note_on(0.1)
    detector.on_note_off(0.2, keys_held=1)  # one key still down
    assert detector.deadline() is None and detector.poll(5.0) is None
    detector.on_note_off(5.0, keys_held=0)
    assert detector.poll(5.7) is None and detector.poll(5.75).reason == "silence"


def test_a_new_onset_cancels_the_silence():
    detector = PhraseDetector(tempo_bpm=120)
    play(detector, [(0.0, 0.2)])
    detector.on_note_on(0.9)  # 0.7 s after the release: a rest inside the phrase
    assert detector.poll(0.96) is None and detector.deadline() is None
    detector.on_note_off(1.0, keys_held=0)
    assert detector.poll(1.76).time == pytest.approx(1.75)


@pytest.mark.parametrize("bpm, seconds", [(60, 1.5), (120, 0.75), (300, 0.35), (30, 2.0)])
def test_the_silence_follows_the_tempo_within_floor_and_ceiling(bpm, seconds):
    assert PhraseDetector(tempo_bpm=bpm).silence_needed == pytest.approx(seconds)


def test_the_end_control_fires_on_the_press_edge_only():
    detector = PhraseDetector(end_cc=64)
    assert detector.on_cc(0.0, 64, 127) is None  # no phrase yet: ignored
    assert detector.on_cc(0.1, 64, 0) is None
    detector.on_note_on(1.0)
    assert detector.on_cc(1.1, 1, 127) is None  # another controller
    assert detector.on_cc(1.2, 64, 100) == PhraseEnd(1.2, "control")  # keys may still be held
    detector.on_note_on(2.0)
    assert detector.on_cc(2.1, 64, 127) is None  # still down: no new press
    assert detector.on_cc(2.2, 64, 63) is None
    assert detector.on_cc(2.3, 64, 64) == PhraseEnd(2.3, "control")


def test_no_end_control_when_disabled():
    detector = PhraseDetector(end_cc=None)
    detector.on_note_on(0.0)
    assert detector.on_cc(0.1, 64, 127) is None


def test_min_notes_and_reset():
    detector = PhraseDetector(min_notes=3, tempo_bpm=120)
    play(detector, [(0.0, 0.1), (0.2, 0.3)])
    assert detector.poll(5.0) is None and detector.on_cc(5.0, 64, 127) is None
    detector.reset()
    play(detector, [(6.0, 6.1), (6.2, 6.3), (6.4, 6.5)])
    assert detector.poll(7.25).time == pytest.approx(7.25)


class Ticker:
    """A started MidiClock at 120 bpm (beat 0 at 0.0 s; in 4/4 a bar every 2 s) and the ticks to move it on."""

    def __init__(self, meter=(4, 4)):
        self.clock, self.next_tick = MidiClock(time_signature=meter), 0.0
        self.clock.feed([START], 0.0)

    def until(self, time):
        while self.next_tick <= time + 1e-9:
            self.clock.feed([CLOCK], self.next_tick)
            self.next_tick += 0.5 / 24


def test_bars_rule_ends_at_the_bar_line_n_bars_after_the_first_note():
    ticker = Ticker()
    detector = PhraseDetector(bars=2, clock=ticker.clock, tempo_bpm=120, silence_beats=100, max_silence=100)
    ticker.until(2.3)
    detector.on_note_on(2.3)  # in bar 1 (2.0..4.0 s)
    ticker.until(5.9)
    assert detector.poll(5.9) is None
    ticker.until(6.0)
    end = detector.poll(6.0)
    assert end.reason == "bars" and end.beat == 12.0 and end.time == 6.0


def test_a_note_a_little_early_belongs_to_the_next_bar_and_lookahead_fires_early():
    ticker = Ticker()
    detector = PhraseDetector(bars=1, clock=ticker.clock, lookahead=0.5, silence_beats=100, max_silence=100)
    ticker.until(3.98)
    detector.on_note_on(3.98)  # 0.04 beats before the bar line at 4.0 s
    ticker.until(5.7)
    assert detector.poll(5.7) is None
    ticker.until(5.76)
    assert detector.poll(5.76) == PhraseEnd(5.76, "bars", 12.0, 8.0)  # half a beat before 6.0 s


def bar_phrases(meter, bars, notes, lookahead=0.25, pickup=None):
    """Notes (onset beat, length in beats; one key at a time) played against a 120-bpm clock in
    `meter`, polled on every tick as the engine does with BAR_LOOKAHEAD; the PhraseEnds, in order."""
    ticker = Ticker(meter)
    detector = PhraseDetector(bars=bars, clock=ticker.clock, lookahead=lookahead, pickup=pickup,
                              silence_beats=100, max_silence=100)
    events = sorted([(onset * 0.5, 1) for onset, _ in notes] + [((onset + length) * 0.5, 0) for onset, length in notes])
    last = events[-1][0] + 8 * ticker.clock.beats_per_bar * 0.5
    times = sorted({t for t, _ in events} | {k / 48 for k in range(int(last * 48) + 1)})
    ends, pending = [], list(events)
    for now in times:
        ticker.until(now)
        while pending and pending[0][0] <= now:
            _, on = pending.pop(0)
            detector.on_note_on(now) if on else detector.on_note_off(now, keys_held=0)
        end = detector.poll(now)
        if end is not None:
            ends.append(end)
    return ends


@pytest.mark.parametrize("meter, bar", [((3, 4), 3.0), ((6, 8), 3.0), ((7, 8), 3.5), ((5, 4), 5.0)])
def test_bars_counts_the_meters_bars_in_quarter_note_clock_beats(meter, bar):
    ends = bar_phrases(meter, 2, [(0, 0.5), (1, 0.5), (bar + 0.5, 0.5)])  # from the bar line at 0
    assert [(e.reason, e.beat, e.downbeat) for e in ends] == [("bars", 2 * bar, 0.0)]
    assert ends[0].time == pytest.approx((2 * bar - 0.25) * 0.5, abs=1 / 48)  # BAR_LOOKAHEAD before it
    ends = bar_phrases(meter, 2, [(bar + 1, 0.5), (2 * bar, 0.5)])  # from inside bar 2: counted from its bar line
    assert [(e.beat, e.downbeat) for e in ends] == [(3 * bar, bar)]


@pytest.mark.parametrize("meter, pickup", [((4, 4), 1.0), ((3, 4), 1.0), ((6, 8), 1.5), ((7, 8), 1.0), ((2, 2), 2.0)])
def test_four_calls_that_start_with_a_pickup_are_four_phrases(meter, pickup):
    """--bars 2: each call is a pickup (the last beat of the bar before: two eighths, or three in 6/8)
    and two bars of eighths, the answer's two bars after it. The pickup belongs to the phrase it
    leads into, so each call is one phrase ending two bars after its downbeat (issue 12: 8 for 4)."""
    bar = MidiClock(time_signature=meter).beats_per_bar
    assert MidiClock(time_signature=meter).pickup_beats == pickup
    notes = []
    for call in range(4):
        downbeat = bar + call * 4 * bar
        notes += [(downbeat - pickup + k * 0.5, 0.4) for k in range(int(pickup / 0.5))]
        notes += [(downbeat + k * 0.5, 0.4) for k in range(int(2 * bar / 0.5))]
    ends = bar_phrases(meter, 2, notes)
    assert [(e.reason, e.downbeat, e.beat) for e in ends] == \
        [("bars", bar + c * 4 * bar, 3 * bar + c * 4 * bar) for c in range(4)]
    # without the pickup rule (as before): each pickup's bar counted, each call split in two
    assert len(bar_phrases(meter, 2, notes, pickup=0)) == 8


@pytest.mark.parametrize("first, downbeat", [
    (3.0, 4.0),  # beat 4 of the bar before: a pickup
    (3.5, 4.0),  # its "and"
    (2.9, 4.0),  # a pickup played a little early (within 1/8 beat more)
    (2.8, 0.0),  # earlier than a beat and 1/8: the phrase starts inside bar 0
    (2.5, 0.0),  # the "and" of beat 3: a longer pickup counts from its own bar (a documented limit)
    (3.9, 4.0),  # a note meant on the bar line
    (4.1, 4.0),
    (1.0, 0.0),
    (7.0, 8.0),
])
def test_the_downbeat_a_phrases_bars_count_from_in_four_four(first, downbeat):
    ends = bar_phrases((4, 4), 2, [(first, 0.3), (first + 0.5, 0.3)])
    assert [(e.downbeat, e.beat) for e in ends] == [(downbeat, downbeat + 8)]


def test_six_eight_takes_a_dotted_quarter_pickup_and_three_eight_half_a_bar():
    assert [e.downbeat for e in bar_phrases((6, 8), 1, [(1.5, 0.4), (2, 0.4), (2.5, 0.4), (3, 1)])] == [3.0]
    assert [e.downbeat for e in bar_phrases((6, 8), 1, [(1.0, 0.4), (2, 0.4)])] == [0.0]  # an eighth too early
    assert [e.downbeat for e in bar_phrases((3, 8), 1, [(0.75, 0.2), (1.5, 0.2)])] == [1.5]
    assert [e.downbeat for e in bar_phrases((3, 8), 1, [(0.5, 0.2), (1.0, 0.2)])] == [0.0]


def test_without_a_running_clock_the_bars_rule_stands_aside():
    clock = MidiClock()  # never started
    detector = PhraseDetector(bars=1, clock=clock, tempo_bpm=120)
    play(detector, [(0.0, 0.5)])
    assert detector.poll(1.25).reason == "silence"


def test_answer_length_in_bars_rounds_the_call_up_to_whole_bars():
    call = melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 3.2)])  # ends at 5.2 beats: 2 bars
    assert answer_length(call) == AnswerLength(beats=8.0, notes=None)
    assert answer_length(call, ratio=2.0).beats == 16.0
    assert answer_length(call, ratio=0.2).beats == 4.0  # at least one bar
    overhang = melody_from_tuples([(60, 0, 2), (62, 2, 2.2)])  # a last note held just past the bar line
    assert answer_length(overhang).beats == 4.0
    waltz = melody_from_tuples([(60, 0, 1), (62, 1, 3.5)], time_signature=(3, 4))
    assert answer_length(waltz).beats == 6.0


def test_answer_length_in_notes_counts_chord_onsets():
    call = melody_from_tuples([(60, 0, 1), (64, 0, 1), (67, 0, 1), (62, 1, 1), (64, 2, 1)])
    assert answer_length(call, mode="notes") == AnswerLength(beats=None, notes=3)
    assert answer_length(call, mode="notes", ratio=1.5).notes == 5  # halves round up
    assert answer_length(call, mode="notes", ratio=0.1).notes == 1
    with pytest.raises(ValueError, match="answer length mode must be 'bars' or 'notes', got 'beats'"):
        answer_length(call, mode="beats")


def test_the_listening_side_put_together():
    """Raw messages -> LiveInput -> PhraseDetector -> tempo, key, Melody, answer length:
    the wiring the engine does, on a phrase played at 100 bpm in G major."""
    beat = 0.6
    rhythm = [(67, 1), (71, .5), (74, .5), (72, 1), (71, 1), (69, .5), (67, .5), (66, 1), (67, 2)]
    messages, t = [], 20.0
    for pitch, beats in rhythm:
        messages += [(t, [0x90, pitch, 90]), (t + beats * beat * 0.9, [0x80, pitch, 0])]
        t += beats * beat
    messages.insert(3, (20.3, [0xF8]))  # noise the engine would have given to the clock
    messages.insert(5, (20.4, [0x90, 200, 1]))
    live, detector = LiveInput(), PhraseDetector(tempo_bpm=100, end_cc=64)
    end = None
    for time, message in messages:
        event = live.feed(message, time)
        if isinstance(event, NoteOn):
            detector.on_note_on(time)
        elif isinstance(event, NoteOff):
            detector.on_note_off(time, live.held_count)
        elif isinstance(event, ControlChange):
            end = detector.on_cc(time, event.control, event.value)
        end = end or detector.poll(time)
    assert end is None
    end = detector.poll(t + 5)
    assert end.reason == "silence" and end.time == pytest.approx(t - 2 * beat * 0.1 + 0.9)

    tempo = estimate_tempo(live.onsets())
    assert tempo.bpm == pytest.approx(100, rel=0.01)
    notes = live.take_phrase(end.time)
    origin = tempo.origin_for(notes[0].onset)
    melody = quantize(phrase_melody(notes, tempo.bpm, origin))
    assert [n.onset for n in melody] == [0, 1, 1.5, 2, 3, 4, 4.5, 5, 6]
    key = KeyTracker().observe(melody)
    assert key.name == "G major"
    assert answer_length(melody).beats == 8.0
    assert live.skipped.realtime == 1 and live.skipped.malformed == 1
