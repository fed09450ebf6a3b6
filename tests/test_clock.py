import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.midi.clock import MidiClock
from liveimpro.midi.messages import CLOCK, CONTINUE, SONG_POSITION, START, STOP


def send_ticks(clock, start, count, bpm, jitter=0.0, seed=0):
    """`count` ticks at `bpm` from time `start`, each moved by up to +-jitter s; returns the ideal
    time of the next tick."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm / 24
    for i in range(count):
        assert clock.feed([CLOCK], start + i * period + rng.uniform(-jitter, jitter))
    return start + count * period


def test_tempo_at_120_with_jitter_within_half_a_percent():
    clock = MidiClock()
    assert clock.bpm is None
    send_ticks(clock, 0.0, 24 * 8, 120, jitter=0.001)
    assert clock.bpm == pytest.approx(120, rel=0.005)


def test_ticks_delivered_in_bursts_still_give_the_tempo():
    clock = MidiClock()
    period = 0.5 / 24
    for i in range(24 * 4):  # a driver that hands over three ticks at a time
        clock.feed([CLOCK], (i // 3) * 3 * period + 0.0001 * (i % 3))
    assert clock.bpm == pytest.approx(120, rel=0.01)


def test_a_tempo_change_is_followed_within_two_beats():
    clock = MidiClock()
    next_tick = send_ticks(clock, 0.0, 24 * 4, 120, jitter=0.001)
    send_ticks(clock, next_tick, 24 * 2, 90, jitter=0.001, seed=1)
    assert clock.bpm == pytest.approx(90, rel=0.005)


def test_start_puts_the_first_tick_on_beat_zero_and_ticks_move_the_position():
    clock = MidiClock()
    send_ticks(clock, 0.0, 24, 120)  # ticks while stopped: tempo, no position
    assert clock.state(0.5) == "stopped" and clock.position(0.5) == 0.0
    clock.feed([START], 0.5)
    assert clock.running and clock.position(0.5) == 0.0
    send_ticks(clock, 0.5 + 1 / 48, 24 * 2 + 1, 120)  # two beats and one tick
    now = 0.5 + 1 / 48 + 48 * (0.5 / 24)
    assert clock.position(now) == pytest.approx(2.0)
    assert clock.position(now + 0.25 / 24) == pytest.approx(2.0 + 0.5 / 24)  # extrapolated within a tick
    assert clock.position(now + 0.4) == pytest.approx(2.0 + 1 / 24)  # but never past the next tick


def test_stop_keeps_the_position_and_continue_resumes_after_the_last_tick():
    clock = MidiClock()
    clock.feed([START], 0.0)
    end = send_ticks(clock, 0.01, 30, 120)
    clock.feed([STOP], end)
    assert clock.state(end) == "stopped" and clock.position(end + 5) == pytest.approx(30 / 24)
    clock.feed([CONTINUE], end + 5)
    send_ticks(clock, end + 5.01, 1, 120)
    assert clock.position(end + 5.01) == pytest.approx(30 / 24)  # tick 30 follows tick 29


def test_song_position_then_continue_gives_the_right_position():
    clock = MidiClock()
    send_ticks(clock, 0.0, 24, 120)
    clock.feed([SONG_POSITION, 0x21, 0x01], 1.0)  # (1 << 7 | 0x21) = 161 sixteenths = 40.25 beats
    assert clock.position(1.0) == pytest.approx(40.25)
    clock.feed([CONTINUE], 1.1)
    send_ticks(clock, 1.2, 7, 120)
    assert clock.position(1.2 + 6 * 0.5 / 24) == pytest.approx(40.25 + 6 / 24)


def test_start_after_song_position_starts_from_zero():
    clock = MidiClock()
    clock.feed([SONG_POSITION, 16, 0], 0.0)
    clock.feed([START], 0.1)
    send_ticks(clock, 0.2, 3, 120)
    assert clock.position(0.2 + 2 * 0.5 / 24) == pytest.approx(2 / 24)


def test_next_boundary_lands_on_bar_lines_and_beats():
    clock = MidiClock(time_signature=(3, 4))
    clock.feed([START], 0.0)
    send_ticks(clock, 1.0, 24 * 4 + 1, 120)  # beat 0 at 1.0 s, bar lines every 1.5 s
    now = 1.0 + 4 * 0.5 + 0.1  # 4.2 beats in
    assert clock.next_boundary(now, "bar") == pytest.approx(1.0 + 6 * 0.5)
    assert clock.next_boundary(now, "beat") == pytest.approx(1.0 + 5 * 0.5)
    assert clock.next_boundary(1.0 + 4 * 0.5, "beat") == pytest.approx(1.0 + 4 * 0.5)  # on a beat: now
    with pytest.raises(ValueError, match="unit must be 'bar' or 'beat', got 'bars'"):
        clock.next_boundary(now, "bars")


def test_next_boundary_in_six_eight_is_every_three_beats():
    clock = MidiClock(time_signature=(6, 8))
    assert clock.beats_per_bar == 3.0
    clock.feed([START], 0.0)
    send_ticks(clock, 0.0, 24 + 1, 60)
    assert clock.next_boundary(1.0, "bar") == pytest.approx(3.0)


def test_no_boundary_when_stopped_or_lost():
    clock = MidiClock()
    assert clock.next_boundary(0.0) is None
    clock.feed([START], 0.0)
    assert clock.next_boundary(0.0) is None  # no tick yet
    end = send_ticks(clock, 0.0, 48, 120)
    assert clock.next_boundary(end) is not None
    assert clock.state(end + 0.6) == "lost" and clock.next_boundary(end + 0.6) is None
    assert clock.beat_at(end + 0.6) is None
    assert clock.position(end + 0.6) == pytest.approx(48 / 24)  # stays at the last tick
    clock.feed([START], end + 1)
    assert clock.state(end + 1.7) == "lost"  # started, but no tick came


def test_a_burst_of_ticks_is_clamped_and_a_trickle_too():
    clock = MidiClock()
    for i in range(200):
        clock.feed([CLOCK], 1.0 + i * 0.0001)  # 10 kHz
    assert clock.bpm == 400.0
    slow = MidiClock(lost_after=10.0)
    for i in range(30):
        slow.feed([CLOCK], i * 0.4)
    assert slow.bpm == 20.0


def test_a_clock_that_comes_back_after_a_gap_measures_afresh():
    clock = MidiClock()
    end = send_ticks(clock, 0.0, 48, 120)
    send_ticks(clock, end + 2.0, 24, 100)  # 2 s of nothing, then 100 bpm
    assert clock.bpm == pytest.approx(100, rel=0.005)


def test_time_going_backwards_counts_as_simultaneous():
    clock = MidiClock()
    clock.feed([CLOCK], 1.0)
    clock.feed([CLOCK], 0.5)
    clock.feed([CLOCK], 1.0 + 1 / 48)
    assert clock.bpm is not None and 20 <= clock.bpm <= 400


@pytest.mark.parametrize("message", [[SONG_POSITION, 1], [SONG_POSITION, 200, 0], [SONG_POSITION, 1, 2, 3]])
def test_damaged_song_positions_are_consumed_and_counted(message):
    clock = MidiClock()
    assert clock.feed(message, 0.0)
    assert clock.malformed == 1 and clock.position(0.0) == 0.0


def test_other_messages_are_left_to_the_caller():
    clock = MidiClock()
    for message in ([0x90, 60, 100], [0xFE], [], [0xF0, 1, 0xF7], "junk", None):
        assert not clock.feed(message, 0.0)
    assert clock.feed([CLOCK], float("nan")) and clock.malformed == 1


def test_bad_time_signatures_are_refused():
    with pytest.raises(ValueError, match="time signature must be N/1..N/32, got 4/3"):
        MidiClock(time_signature=(4, 3))


event = st.tuples(
    st.one_of(st.lists(st.integers(0, 255), max_size=4),
              st.sampled_from([[CLOCK], [START], [STOP], [CONTINUE], [SONG_POSITION, 5, 1]])),
    st.floats(0, 0.6),  # time since the previous message
)


@settings(max_examples=300, deadline=None)
@given(st.lists(event, max_size=150), st.sampled_from([(4, 4), (3, 4), (7, 8)]))
def test_random_message_streams_never_raise_or_give_nonsense(events, signature):
    clock = MidiClock(time_signature=signature)
    now = 0.0
    for message, gap in events:
        now += gap
        clock.feed(message, now)
        assert clock.bpm is None or 20.0 <= clock.bpm <= 400.0
        assert clock.state(now) in ("stopped", "running", "lost")
        position = clock.position(now)
        assert position >= 0
        for unit in ("bar", "beat"):
            boundary = clock.next_boundary(now, unit)
            if boundary is not None:
                assert now <= boundary <= now + 60.0 / 20 * clock.beats_per_bar + 1e-6


def test_ticks_all_at_one_instant_read_as_the_fastest_tempo():
    clock = MidiClock()
    for _ in range(5):
        clock.feed([CLOCK], 2.0)
    assert clock.bpm == 400.0
