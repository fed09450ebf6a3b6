import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.midi.clock import MidiClock, parse_meter, pickup_beats
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


@pytest.mark.parametrize("meter, bar", [((7, 8), 3.5), ((5, 4), 5.0), ((2, 2), 4.0), ((3, 8), 1.5)])
def test_bar_lines_of_other_meters_in_quarter_note_beats(meter, bar):
    assert MidiClock(time_signature=meter).beats_per_bar == bar
    for beats in (1.5, 4.0, 6.5, 11.75):  # now, in beats (a beat every 0.5 s from 0 s)
        clock = MidiClock(time_signature=meter)
        clock.feed([START], 0.0)
        send_ticks(clock, 0.0, round(beats * 24) + 1, 120)
        target = math.ceil(beats / bar) * bar  # the first bar line at or after now
        assert clock.next_boundary(beats * 0.5, "bar") == pytest.approx(target * 0.5)


@pytest.mark.parametrize("text, meter", [("4/4", (4, 4)), ("3/4", (3, 4)), ("6/8", (6, 8)), (" 7 / 8 ", (7, 8)),
                                         ("5/4", (5, 4)), ("12/8", (12, 8)), ("2/2", (2, 2)), ("32/16", (32, 16))])
def test_parse_meter(text, meter):
    assert parse_meter(text) == meter


@pytest.mark.parametrize("text, message", [
    ("3-4", "expected N/D with D one of 1, 2, 4, 8, 16, got '3-4'"),
    ("4/3", "expected N/D with D one of 1, 2, 4, 8, 16, got '4/3'"),
    ("4/32", "expected N/D with D one of 1, 2, 4, 8, 16, got '4/32'"),
    ("", "expected N/D with D one of 1, 2, 4, 8, 16, got ''"),
    ("3/4/4", "expected N/D with D one of 1, 2, 4, 8, 16, got '3/4/4'"),
    ("-3/4", "expected N/D with D one of 1, 2, 4, 8, 16, got '-3/4'"),
    ("0/4", "expected N/D with N from 1 to 32, got '0/4'"),
    ("33/8", "expected N/D with N from 1 to 32, got '33/8'"),
])
def test_parse_meter_refuses_in_one_line(text, message):
    with pytest.raises(ValueError) as raised:
        parse_meter(text)
    assert str(raised.value) == message


@pytest.mark.parametrize("meter, beats", [((4, 4), 1.0), ((3, 4), 1.0), ((5, 4), 1.0), ((2, 4), 1.0), ((2, 2), 2.0),
                                          ((6, 8), 1.5), ((9, 8), 1.5), ((12, 8), 1.5), ((7, 8), 1.0), ((5, 8), 1.0),
                                          ((3, 8), 0.75), ((1, 4), 0.5), ((6, 16), 0.75)])
def test_the_pickup_window_is_a_beat_of_the_meter_at_most_half_a_bar(meter, beats):
    assert pickup_beats(meter) == beats == MidiClock(time_signature=meter).pickup_beats


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


# --- jittered clocks: the tempo and phase from many ticks (issue 11) ---

def tick_times(bpms, start=1.0):
    """The true times of ticks whose tempo is bpms[i] (a number: all at that tempo)."""
    periods = 60.0 / np.asarray(bpms, dtype=float) / 24
    return start + np.concatenate([[0.0], np.cumsum(periods)[:-1]])


def arrivals(true, kind, seed):
    """When a reader thread hands the ticks over:
    "gauss": +-1 ms (a standard deviation), symmetric;
    "late": up to 5 ms late (uniform), and now and then (3 % of ticks) a burst: two to four
            ticks held back and delivered 0.03 ms apart, 10 ms after the last of them;
    "poller": a thread that polls every 0.5 ms but stalls 3 times a second for 50 ms on
            average (exponential, at most 150 ms), what came meanwhile delivered in a burst
            when it wakes: the loaded machine of the report (90 bpm read as 69.5 bpm)."""
    rng = np.random.default_rng(seed)
    if kind == "gauss":
        return true + rng.normal(0.0, 0.001, len(true))
    if kind == "late":
        times = true + rng.uniform(0.0, 0.005, len(true))
        i = 0
        while i < len(true):
            if rng.random() < 0.03:
                last = min(i + int(rng.integers(2, 5)), len(true)) - 1
                times[i:last + 1] = true[last] + 0.010 + 0.00003 * np.arange(last + 1 - i)
                i = last + 1
            else:
                i += 1
        return np.maximum.accumulate(times)
    assert kind == "poller"
    stalls, t = [], true[0]
    while t < true[-1] + 1.0:
        t += rng.exponential(1 / 3)
        stalls.append((t, t + min(0.150, rng.exponential(0.050))))
        t = stalls[-1][1]
    times, s, last = np.empty(len(true)), 0, -np.inf
    for i, tick in enumerate(true):
        while s < len(stalls) and stalls[s][1] < tick:
            s += 1
        inside = s < len(stalls) and stalls[s][0] <= tick < stalls[s][1]
        wake = stalls[s][1] if inside else tick
        times[i] = last = max(wake + rng.uniform(0.0, 0.0005), last + 0.00002)
    return times


def started(times, skip=()):
    """A clock started just before the first tick (the downbeat at beat 0), then fed `times`
    (but not the ticks numbered in `skip`: dropped); yields (tick number, clock) after each."""
    clock = MidiClock()
    clock.feed([START], times[0] - 0.01)
    for i, t in enumerate(times):
        if i not in skip:
            assert clock.feed([CLOCK], float(t))
            yield i, clock


def bar_line_error(clock, true, i, bar_beats=4):
    """How far (s) the clock puts the next bar line from the true one, seen at tick i (it
    counts the ticks: one missed would put its bar lines a tick off)."""
    tick = (i // (24 * bar_beats) + 1) * bar_beats * 24
    last = len(true) - 1  # (past the last true tick, at the last tempo)
    truth = true[tick] if tick <= last else true[last] + (tick - last) * (true[last] - true[last - 1])
    return clock.time_of_beat(tick / 24) - truth


@pytest.mark.parametrize("bpm", [60, 90, 120, 174])
@pytest.mark.parametrize("kind", ["gauss", "late"])
def test_tempo_and_bar_lines_from_jittered_ticks(bpm, kind):
    """Two beats in, the tempo is within 0.5 % and stays there, and the next bar line is
    within 4 ms. From four beats on (a full window), the next bar line, asked every half beat,
    is within 2 ms in at least 3 asks in 4 (the phase sits at the fitted ticks' lower 15 %:
    about 1 ms early under symmetric jitter, 0.75 ms late under late jitter), never 4 ms off,
    1.5 ms on average. (The loaded poller's, below, are all within 2 ms.)"""
    true = tick_times([bpm] * 24 * 12)
    errors = []
    for i, clock in started(arrivals(true, kind, seed=bpm)):
        if i >= 48:
            assert clock.bpm == pytest.approx(bpm, rel=0.005)
        if i == 48:
            assert abs(bar_line_error(clock, true, i)) < 0.004
        if i >= 96 and i % 12 == 0:
            errors.append(abs(bar_line_error(clock, true, i)))
        if i in (100, 140, 180):  # next_boundary says the same, a third of a beat on
            assert clock.next_boundary(true[i] + 0.3 * 60 / bpm) == pytest.approx(true[(i // 96 + 1) * 96], abs=0.004)
    errors = np.array(errors)
    assert errors.max() < 0.004 and errors.mean() < 0.0015 and np.mean(errors <= 0.002) >= 0.75
    assert clock.dropped_ticks == 0 and clock._tick == len(true) - 1


@pytest.mark.parametrize("bpm", [60, 90, 120, 174])
@pytest.mark.parametrize("kind", ["gauss", "late"])
def test_dropped_ticks_are_counted_and_keep_the_bar_lines(bpm, kind):
    """Three ticks lost on the way (a beat or more apart): each is counted (the position moves
    on by it), the tempo stays within 0.5 % and the bar line within 2 ms."""
    true = tick_times([bpm] * 24 * 12)
    dropped = {70, 150, 231}
    for i, clock in started(arrivals(true, kind, seed=bpm), skip=dropped):
        if i >= 48:
            assert clock.bpm == pytest.approx(bpm, rel=0.005)
    assert clock.dropped_ticks == 3
    assert clock._tick == len(true) - 1  # the position counts the ticks that never came
    assert abs(bar_line_error(clock, true, i)) < 0.002


@pytest.mark.parametrize("seed", range(10))
def test_a_loaded_poller_does_not_slow_a_90_bpm_clock(seed):
    """The reported case: ticks taken off the port by a thread that stalls (up to 150 ms) and
    then hands over what came in a burst. One beat's median of tick periods read such a
    stream as low as 69.5 bpm (here: two seeds in ten under 80 bpm); the fit never
    reads it under 88 bpm, and the bar lines stay within 2 ms."""
    true = tick_times([90] * 24 * 16)
    times = arrivals(true, "poller", seed)
    for i, clock in started(times):
        if i >= 2:
            assert 88 <= clock.bpm <= 92
        if i >= 24:
            assert clock.bpm == pytest.approx(90, rel=0.005)
        if i >= 96 and i % 12 == 0:
            assert abs(bar_line_error(clock, true, i)) < 0.002
    assert clock.dropped_ticks == 0


def test_the_poller_streams_do_fool_a_one_beat_median():
    """The streams above are the reported trouble: one beat's median (the old estimate)."""
    lowest = 90.0
    for seed in range(10):
        times = arrivals(tick_times([90] * 24 * 16), "poller", seed)
        for end in range(24, len(times)):
            spans = [(times[end - 24 + k + 12] - times[end - 24 + k]) / 12 for k in range(13)]
            lowest = min(lowest, 60 / (float(np.median(spans)) * 24))
    assert lowest < 80


@pytest.mark.parametrize("before, after", [(120, 90), (90, 120), (120, 174), (174, 60), (120, 60), (60, 120)])
@pytest.mark.parametrize("kind", ["gauss", "late"])
def test_a_tempo_jump_is_followed_within_two_beats(before, after, kind):
    true = tick_times([before] * 24 * 6 + [after] * 24 * 6)
    jump = 24 * 6
    for i, clock in started(arrivals(true, kind, seed=before + after)):
        if i >= jump + 48:
            assert clock.bpm == pytest.approx(after, rel=0.005)
    assert clock.dropped_ticks == 0  # 120 -> 60 is every gap two periods: not dropped ticks
    assert clock._tick == len(true) - 1
    assert abs(bar_line_error(clock, true, i)) < 0.002


@pytest.mark.parametrize("low, high", [(100, 140), (140, 100)])
def test_a_ramp_is_followed_about_a_beat_behind(low, high):
    """A DAW ramp over 8 beats (5 bpm a beat): the tempo read lags by about a beat (within
    6 %), and is within 0.5 % two beats after the ramp ends."""
    ramp = [low + (high - low) * (k + 1) / (24 * 8) for k in range(24 * 8)]
    bpms = [low] * 24 * 4 + ramp + [high] * 24 * 6
    true = tick_times(bpms)
    end = 24 * 12
    for i, clock in started(arrivals(true, "gauss", seed=low)):
        if 48 <= i < end + 48:
            assert clock.bpm == pytest.approx(bpms[i], rel=0.06)
        if i >= end + 48:
            assert clock.bpm == pytest.approx(high, rel=0.005)
    assert clock.dropped_ticks == 0 and clock._tick == len(true) - 1


def test_a_clock_restarted_at_start_keeps_its_tempo_and_takes_the_new_phase():
    clock = MidiClock()
    send_ticks(clock, 0.0, 24 * 4, 120)  # stopped, at 120 bpm
    clock.feed([START], 2.0)
    first = 2.0 + 0.37 * 0.5 / 24  # the DAW's clock starts again, at no tick of the old one
    clock.feed([CLOCK], first)
    assert clock.bpm == pytest.approx(120)  # the tempo is kept
    assert clock.time_of_beat(1.0) == pytest.approx(first + 0.5)  # the phase is the new tick's
    send_ticks(clock, first + 0.5 / 24, 24 * 2, 120, jitter=0.0005)
    assert clock.bpm == pytest.approx(120, rel=0.005)
    assert clock.next_boundary(first + 1.2) == pytest.approx(first + 2.0, abs=0.002)


def test_a_long_stall_then_on_time_ticks_is_not_a_new_phase():
    """Ticks held back for most of a beat (under lost_after) and handed over at once, then on
    time again: the line stays where the ticks on time put it."""
    true = tick_times([120] * 24 * 8)
    times = true.copy()
    times[100:120] = true[119] + 0.00003 * np.arange(20)  # 20 ticks (0.4 s) in a burst
    for i, clock in started(times):
        if i >= 48:
            assert clock.bpm == pytest.approx(120, rel=0.005)
    assert clock.dropped_ticks == 0 and abs(bar_line_error(clock, true, i)) < 0.0005


def test_after_a_lost_clock_the_fit_starts_afresh():
    clock = MidiClock()
    clock.feed([START], 0.0)
    end = send_ticks(clock, 0.0, 48, 120)
    assert clock.state(end + 0.6) == "lost"
    clock.feed([CLOCK], end + 1.0)
    clock.feed([CLOCK], end + 1.0 + 0.6 / 24)
    assert clock.bpm is None  # two ticks tell no tempo: the old one is not kept
    send_ticks(clock, end + 1.0 + 1.2 / 24, 24, 100)
    assert clock.bpm == pytest.approx(100, rel=0.005)
    assert clock.position(end + 1.0 + 25 * 0.6 / 24) == pytest.approx((48 + 25) / 24)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tick", "burst", "stall", "early"]), st.floats(0.005, 0.05)),
                min_size=1, max_size=120))
def test_the_position_never_runs_backwards_and_bar_lines_never_lie_behind(steps):
    """Ticks on time, in bursts, after stalls or early: the position read after each (even
    at a probe earlier than the last one) never goes back, and the next beat is ahead."""
    clock = MidiClock()
    clock.feed([START], 0.0)
    now, last = 0.0, 0.0
    for kind, period in steps:
        now += {"tick": period, "burst": 0.00003, "stall": 4 * period, "early": 0.3 * period}[kind]
        clock.feed([CLOCK], now)
        for probe in (now, now + period / 2, now + period):
            position = clock.position(probe)
            assert position >= last - 1e-9
            last = position
            boundary = clock.next_boundary(probe, "beat")
            assert boundary is None or probe <= boundary <= probe + 3.0 + 1e-6
