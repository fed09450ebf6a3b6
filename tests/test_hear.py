"""Bounded work per note: `Responder.hear` at every onset of phrases of any length, with the shipped
model, played through the engine's listening end (`LiveInput`, which keeps a phrase's last 512
notes) the way the engine calls it. Work is counted, not timed (scripts/bench_hear.py times it)."""
from __future__ import annotations

import numpy as np
import pytest

from liveimpro.cli.options import DEFAULT_LSTM
from liveimpro.live.input import LiveInput, NoteOn
from liveimpro.lstm.improviser import Improviser
from liveimpro.melody import melody_from_tuples
from liveimpro.music.offline import heard_at, played_notes
from liveimpro.music.responder import MAX_FEED_NOTES, Responder
from liveimpro.music.tempo import MAX_ONSETS, PASSES

BPM = 110.0
SPB = 60.0 / BPM
START = 10.0  # seconds: the beat the phrase starts on
RHYTHM = [1, .5, .5, 1, .75, .25, .5, .5, 1 / 3, 1 / 3, 1 / 3, 1, 2, .5, .5]  # 10 beats
CALL = [(67, 0, 1), (71, 1, 0.5), (72, 1.5, 0.5), (74, 2, 1), (71, 3, 1), (72, 4, 0.5), (71, 4.5, 0.5),
        (69, 5, 0.5), (67, 5.5, 0.5), (69, 6, 2)]


@pytest.fixture(scope="module")
def improviser():
    return Improviser.load(DEFAULT_LSTM, np.random.default_rng(0))


def phrase(onsets: int, seed: int = 0):
    """Onset times (seconds, +-10 ms of jitter) and pitches of a melody of `onsets` notes."""
    rng = np.random.default_rng(seed)
    beats = np.concatenate([[0.0], np.cumsum(np.resize(RHYTHM, onsets - 1))])
    times = START + beats * SPB + rng.uniform(-0.01, 0.01, onsets)
    return times, 62 + np.abs((np.arange(onsets) * 5) % 19 - 9)


def play(responder, live, times, pitches, legato: bool):
    """Play the notes as the engine hears them: hear() at each new onset and, whenever no key is
    held, with final=True. Legato: each key goes up as the next note starts, just after it (so a
    key is always down and the model is fed at the onsets). Per onset: the improviser's steps, the
    notes tokenized and the tempo tracker's work, right after its hear()."""
    steps, tokenized, work = [], [], []
    for index, (t, pitch) in enumerate(zip(times, pitches)):
        event = live.feed([0x90, int(pitch), 90], t)
        assert isinstance(event, NoteOn) and event.chord_start
        responder.hear(live.notes, t)
        if legato and index:
            live.feed([0x80, int(pitches[index - 1]), 0], t)
        steps.append(responder.improviser.steps)
        tokenized.append(responder.tokenized)
        work.append(responder.tracker.work)
        if not legato:
            off = t + 0.7 * ((times[index + 1] if index + 1 < len(times) else t + SPB) - t)
            live.feed([0x80, int(pitch), 0], off)
            assert live.held_count == 0
            responder.hear(live.notes, off, final=True)
    if legato:
        live.feed([0x80, int(pitches[-1]), 0], times[-1] + 0.3)
    return np.array(steps), np.array(tokenized), np.array(work)


@pytest.mark.parametrize("legato", [False, True], ids=["detached", "legato"])
def test_a_2000_note_phrase_feeds_the_model_to_its_last_note_and_is_answered_in_its_tempo(improviser, legato):
    responder = Responder(improviser, rng=np.random.default_rng(1))
    live = LiveInput()
    times, pitches = phrase(2000)
    responder.start_call()
    steps, tokenized, work = play(responder, live, times, pitches, legato)
    assert live.skipped.dropped == 2000 - live.max_notes
    # each note's event is heard once its length is known: BOS and the notes before this one
    assert steps.tolist() == list(range(1, 2001))
    # the work of one hear() does not grow with the phrase: a few notes tokenized (those of the
    # event heard last, the new one), one IOI scored and a Viterbi step per pass once it has settled
    assert tokenized.max() <= 3 and tokenized[1000:].max() == tokenized[:100].max()
    assert work.max() <= 1 + PASSES * MAX_ONSETS and work[200:].max() <= 1 + PASSES
    end = times[-1] + 0.7 * SPB
    notes = live.take_phrase(end)
    start = responder.next_beat(end + SPB)
    answer = list(responder.answer(notes, end, start))
    assert responder.tempo.bpm == pytest.approx(BPM, rel=0.005)
    assert (start - START) / SPB == pytest.approx(round((start - START) / SPB), abs=0.05)  # on the played beat
    assert len(answer) > 8 and answer[0].time == start
    beats = np.array([(note.time - start) / responder.tempo.period for note in answer])
    assert np.allclose(beats * 12, np.round(beats * 12), atol=1e-6) and np.all(np.diff(beats) > 0)  # on its grid
    assert improviser.steps == 2001 + len(answer)  # the call, then each answer note (all were asked for)


def test_a_phrase_that_keeps_only_a_few_notes_still_feeds_every_one_and_follows_the_tempo(improviser):
    """LiveInput(max_notes=8) drops all but the last 8 notes: the model still hears each note once,
    and the tempo follows what is left when the player slows from 120 to 80 bpm."""
    responder = Responder(improviser)
    live = LiveInput(max_notes=8)
    times = np.concatenate([100.0 + np.arange(12) * 0.5, 106.0 + np.arange(12) * 0.75])
    responder.start_call()
    steps, _, _ = play(responder, live, times, 60 + np.arange(24) % 5, legato=False)
    assert live.skipped.dropped == 16
    assert steps.tolist() == list(range(1, 25))
    assert responder.tempo.bpm == pytest.approx(80, rel=0.05)


@pytest.mark.parametrize("repeats", [1, 6])
def test_an_ordinary_call_heard_note_by_note_is_the_whole_call_read_at_once(improviser, repeats):
    """In a steady tempo the model ends up where reading the whole call at the phrase end leaves it
    (prime=False, Magenta's way): the same events, on the same timeline."""
    rows = [(pitch, onset + 8 * k, duration) for k in range(repeats) for pitch, onset, duration in CALL]
    notes = played_notes(melody_from_tuples(rows, tempo=96))
    states = []
    for prime in (True, False):
        responder = Responder(improviser, prime=prime)
        responder.start_call()
        for onset in sorted({n.onset for n in notes}):
            responder.hear(heard_at(notes, onset), onset)
        responder.answer(notes, notes[-1].release, notes[-1].release + 1.0)
        states.append((improviser.steps, improviser.previous, improviser.next_distribution()))
    (steps, previous, distribution), (whole_steps, whole_previous, whole_distribution) = states
    assert (steps, previous) == (whole_steps, whole_previous) == (1 + 10 * repeats, previous)
    assert np.allclose(distribution, whole_distribution, atol=1e-6)


def test_notes_played_under_a_held_high_note_are_read_a_bounded_window_at_a_time(improviser):
    """A high note held while 300 lower ones are played under it: the skyline (curve tokens) keeps
    none of them but the newest, so they pile up after the last event heard; each hear() still
    reads at most MAX_FEED_NOTES of them."""
    responder = Responder(improviser)
    live = LiveInput()
    responder.start_call()
    live.feed([0x90, 84, 90], 1.0)
    responder.hear(live.notes, 1.0)
    read = []
    for index in range(300):
        t = 1.25 + index * 0.25
        live.feed([0x90, 60 + index % 7, 90], t)
        responder.hear(live.notes, t)
        live.feed([0x80, 60 + index % 7, 0], t + 0.2)
        read.append(responder.tokenized)
    assert max(read) == MAX_FEED_NOTES + 1  # the event heard last, and the newest notes
    assert improviser.steps == 2  # BOS and the high note, cut where the first note under it began
    live.feed([0x80, 84, 0], 80.0)
    for index, t in enumerate((80.5, 81.0, 81.5)):
        live.feed([0x90, 72 + index, 90], t)
        responder.hear(live.notes, t)
        live.feed([0x80, 72 + index, 0], t + 0.4)
    assert improviser.steps == 4 and responder.tokenized <= 3  # going on, one note at a time
