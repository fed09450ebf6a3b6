"""One answer, streamed: each note sampled a little ahead of its time (the scheduler's horizon), and the reaction timed.

The engine (liveimpro.live.engine) decides when the player's phrase has ended; an `AnswerStream`
then plays the answer, in the engine thread, one note at a time:

- `start()` asks the responder for the answer (an iterator of `AnswerNote`) and samples its
  first note at once: it is due at the phrase end the engine decided (see DECIDE_AHEAD there);
- `generate()`, due at `next_generate`, samples the next note and schedules its note-on, with
  the previous note's note-off cut where the new note begins: a note's length is known only once
  the next one is sampled. When is the scheduler's `horizon`: the I/O process gets each note that
  long before the one before it starts (a few notes ahead: `liveimpro.live.io_scheduler.
  STREAM_HORIZON`), so duet's process may be held off the CPU that long and no note is late; an
  in-process sender (horizon 0) shares the interpreter with the model, and the next note is
  sampled GENERATE_AFTER past the start of the note that sounds, away from its send;
- `barge_in(now)`: the player played over the answer; pending events are dropped and the
  sounding notes released at once (the player always wins);
- `finish(now)`: the answer is over (or cut); call and answer go to the session file.

An answer that follows a MIDI clock (or Link) is placed in the clock's beats: each note, as it is
sampled, is put at its beat on the clock's timeline as the clock reads it then (`time_of_beat`),
so a tempo change during the answer moves the notes still to come with it. The notes sent ahead
(the horizon) are followed too: at every `tick` their beats are read on the clock again, and any
whose time moved by more than MOVE_TOLERANCE is moved in the scheduler (`move`), so a tempo change
reaches the next note, not the first one sampled after it.

`ReactionTimer` wraps the output sink and times, in the sender thread, the first answer note-on
after `arm()`: the reaction from the phrase-end decision to the note leaving for the port.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import replace

from ..melody import Melody, Note
from ..midi.messages import NOTE_ON, message_kind, note_off, note_on
from ..music.played import phrase_melody
from ..music.responder import AnswerNote, Responder, cut

ANSWER = "answer"  # scheduler tag of the answer's events
GENERATE_AFTER = 0.004  # s after a note starts before the next is sampled: away from the send
# Following a clock's tempo with the notes sent ahead: a note whose time on the clock's line moved by
# more than MOVE_TOLERANCE is moved (less is the line's tick-to-tick wobble: a jittered clock's fit
# moves a beat ahead by well under a millisecond); one due within MOVE_MARGIN is left where it is (it
# may be on its way out), and none is moved to sooner than that.
MOVE_TOLERANCE = 0.001  # s
MOVE_MARGIN = 0.003  # s
MIN_NOTE = 0.001  # s: the least a note lasts, so its note-off never goes before (or with) its note-on
BEAT_GRAIN = 24 * 64  # a note's beat on the clock is rounded to 1/BEAT_GRAIN: a note-off and the next
# note-on at the same beat are placed at one time, whichever way the beat was summed


class ReactionTimer:
    """Wraps the output sink and times the first answer note-on after `arm()`: the reaction
    from the phrase-end decision to the note leaving for the port. Called in the sender thread."""

    def __init__(self, sink, history: int = 1000):
        self.sink = sink
        self.reactions: deque[float] = deque(maxlen=history)  # seconds
        self._armed_at: float | None = None

    def arm(self, decision_time: float) -> None:
        self._armed_at = decision_time

    def send(self, message: bytes) -> None:
        self.sink.send(message)
        if self._armed_at is not None and message_kind(message[0]) == NOTE_ON and message[2] > 0:
            self.first_sent(time.perf_counter())

    def first_sent(self, at: float) -> None:
        """The answer's first note-on left at `at` (the real-time I/O process reports it so)."""
        if self._armed_at is not None:
            self.reactions.append(at - self._armed_at)
            self._armed_at = None


class AnswerStream:
    """The answer being played, if any (see the module docstring); used by the engine thread only."""

    def __init__(self, responder: Responder, scheduler, timer: ReactionTimer, recorder=None):
        self.responder = responder
        self.scheduler = scheduler  # liveimpro.live.scheduler.Scheduler, sending through `timer`
        self.timer = timer
        self.recorder = recorder  # liveimpro.live.recorder.SessionRecorder or None
        self.call: tuple = ()  # the notes of the call being answered
        self.sent: list[AnswerNote] = []  # answer notes whose note-off is scheduled
        self.next_generate: float | None = None  # when to sample the next answer note
        self.end = 0.0  # when the last scheduled answer note ends
        self._notes = None  # iterator of AnswerNote while answering
        self._pending: AnswerNote | None = None  # the answer note whose note-off waits for the next
        self._played: tuple[int, ...] | None = None  # pitches sounding already at the start (start's `played`)
        self.corrected = 0  # answers whose first note was not the one played at the start: replaced at once
        self.grid: tuple[float, float] | None = None  # the answer's start and tempo, for the session file
        self._clock = None  # the clock whose beats the answer follows (start's `clock`), else None
        self._start_beat = 0.0  # the clock's beat at the answer's start
        self._ahead: list[tuple[float, float]] = []  # (clock beat, time scheduled) of events not yet due

    @property
    def active(self) -> bool:
        return self._notes is not None

    def start(self, call: tuple, call_end: float, start: float, clock_bpm: float | None,
              decision: float | None = None, played: tuple[int, ...] | None = None, clock=None) -> None:
        """Answer `call` (the phrase's notes, ended at `call_end`) from `start` on; `clock_bpm`: the
        MIDI clock's tempo when the answer follows it. `decision`: when the phrase end was decided,
        to time the reaction from (None when the answer waits for the clock's bar line). `played`:
        the pitches the real-time I/O process already started at `start` (the footswitch's standby
        note, rehearsed as this answer's first note). `clock`: the clock it follows, in beats."""
        self._played = played
        self._clock, now = None, time.perf_counter()
        beat = None if clock is None or clock_bpm is None else clock.beat_at(now)
        if beat is not None:  # the start (a bar line ahead) in the clock's beats, to the tick
            self._clock, self._start_beat = clock, round((beat + (start - now) * clock_bpm / 60.0) * 24) / 24
        self._notes = self.responder.answer(call, call_end, start, clock_bpm)
        self.scheduler.begin(ANSWER)  # a new group: the I/O process's barge-in cuts one answer
        self.call, self.sent, self._ahead = call, [], []
        self.grid = (start, clock_bpm or self.responder.tempo.bpm)
        if decision is not None:
            self.timer.arm(decision)
        self.generate()

    def wake_time(self) -> float:
        """When `tick` has something to do: the next note's sampling, else the answer's end."""
        return self.next_generate if self.next_generate is not None else self.end

    def tick(self, now: float) -> None:
        if self._clock is not None and self._ahead:
            self._follow(now)
        if self.next_generate is not None and now >= self.next_generate:
            self.generate()
        elif self.next_generate is None and now >= self.end:
            self.finish(now)

    def generate(self) -> None:
        """Sample the next answer note: schedule its note-on, and the previous note's note-off
        (cut where this one begins)."""
        note = self._on_clock(next(self._notes, None))
        channel, previous = self.responder.settings.channel, self._pending
        if note is not None and previous is not None and note.time < previous.time + MIN_NOTE:
            # (a followed clock that jumped ahead put this note's beat before the note sounding)
            note = replace(note, time=previous.time + MIN_NOTE,
                           duration=max(0.0, note.time + note.duration - previous.time - MIN_NOTE))
        events = []
        if previous is not None:
            if self._clock is not None:  # its end read on the clock now: the tempo may have changed since
                end = self._clock.time_of_beat(self._beat(previous.beat + previous.beats))
                if end is not None and end > previous.time:  # (a jump ahead may leave it already over: cut below)
                    previous = replace(previous, duration=end - previous.time)
            previous = cut(previous, note.time if note is not None else previous.time + previous.duration)
            if previous.duration < MIN_NOTE:  # (the next note is MIN_NOTE later at least: see above)
                previous = replace(previous, duration=MIN_NOTE)
            events += [(previous.time + previous.duration, note_off(channel, p)) for p in previous.pitches]
            if self._clock is not None:
                self._ahead.append((self._beat(previous.beat + previous.beats), previous.time + previous.duration))
            self.sent.append(previous)
            self.end = previous.time + previous.duration
        if note is not None:
            # the first note is due at the phrase end the engine decided (a moment ahead when that
            # is a silence's end on the beat, now when the end CC was pressed); never in the past:
            # late, it goes now (the reaction time says how late), and the lateness log then
            # measures the scheduler alone
            on_time = max(note.time, time.perf_counter())
            if on_time != note.time:  # late: its note-off is placed from when it starts
                note = replace(note, time=on_time, duration=max(MIN_NOTE, note.time + note.duration - on_time))
            played, self._played = self._played, None
            if played is not None and tuple(played) == tuple(note.pitches):
                pass  # sounding since `start`: the I/O process played it at the footswitch
            else:
                # (a standby rehearsed for another release or setting: not this answer's note after all)
                self.corrected += played is not None
                events += [(on_time, note_off(channel, p)) for p in played or ()]
                events += [(on_time, note_on(channel, p, note.velocity)) for p in note.pitches]
            if self._clock is not None:
                self._ahead.append((self._beat(note.beat), on_time))
            self.next_generate = self._sample_next_at(note.time)
        else:
            self.next_generate = None
        self._pending = note
        self.scheduler.schedule_many(events, ANSWER)

    def _sample_next_at(self, time_of_note: float) -> float:
        """When to sample the note after the one starting at `time_of_note` (the module docstring)."""
        horizon = self.scheduler.horizon
        if horizon:  # less how far the I/O process's timeline runs ahead of this clock
            return time_of_note - horizon - max(0.0, self.scheduler.timeline_lead)
        return time_of_note + GENERATE_AFTER

    def _beat(self, answer_beat: float) -> float:
        """The clock's beat of the answer's beat `answer_beat`, on BEAT_GRAIN."""
        return round((self._start_beat + answer_beat) * BEAT_GRAIN) / BEAT_GRAIN

    def _on_clock(self, note: AnswerNote | None) -> AnswerNote | None:
        """The note at its beats on the followed clock's timeline as the clock reads it now."""
        clock = self._clock
        if note is None or clock is None:
            return note
        on, off = clock.time_of_beat(self._beat(note.beat)), clock.time_of_beat(self._beat(note.beat + note.beats))
        return note if on is None or off is None else replace(note, time=on, duration=max(0.0, off - on))

    def _follow(self, now: float) -> None:
        """The events sent ahead moved to their beats' times on the clock as it reads them now. In
        beat order, each at least MIN_NOTE after the beat before and MOVE_MARGIN from now: a jump
        ahead that puts beats in the past plays them at once, in order, never a note-off before
        its note-on (one beat, one time: a note-off and the next note-on stay together)."""
        moves, kept, floor, last = {}, [], now + MOVE_MARGIN, None
        for beat, t in sorted(self._ahead):
            if t <= now + MOVE_MARGIN:
                continue  # due, or as good as
            if last is not None and beat == last[0]:
                placed = last[1]
            else:
                new = self._clock.time_of_beat(beat)
                placed = max(new if new is not None and abs(new - t) > MOVE_TOLERANCE else t, floor)
                floor = placed + MIN_NOTE
            if placed != t:
                moves[t] = placed
            kept.append(last := (beat, placed))
        self._ahead = kept
        if not moves:
            return
        self.scheduler.move(moves.items(), ANSWER)
        for i, n in enumerate(self.sent):  # the record of what sounds (a moved time is the one scheduled)
            on, off = moves.get(n.time, n.time), moves.get(n.time + n.duration, n.time + n.duration)
            if (on, off) != (n.time, n.time + n.duration):
                self.sent[i] = replace(n, time=on, duration=max(0.0, off - on))
        self.end = moves.get(self.end, self.end)
        pending = self._pending
        if pending is not None and pending.time in moves:
            self._pending = replace(pending, time=moves[pending.time])
            self.next_generate = self._sample_next_at(self._pending.time)

    def barge_in(self, now: float) -> None:
        """The player plays: what is pending is dropped, what sounds released, and the answer
        is over (what was heard of it is recorded)."""
        self.scheduler.cancel(ANSWER)
        if self._pending is not None and self._pending.time < now:
            self.sent.append(cut(self._pending, now))
        self.sent = [cut(n, now) for n in self.sent if n.time < now]  # (a few may sound on: the horizon)
        self.finish(now)

    def finish(self, now: float) -> None:
        if self._notes is None:
            return
        if self.recorder is not None and self.call:
            self._record(now)
        self._notes, self._pending, self.next_generate = None, None, None

    def _record(self, now: float) -> None:
        """Call and answer into the session file, written at once (between phrases: a crash
        loses at most the phrase in progress)."""
        responder = self.responder
        bpm = responder.call_melody(self.call, now).tempo  # and responder.origin: the beat line it started on
        first = min(n.onset for n in self.call)  # the call as played (an early first note not moved to the beat)
        grid = responder.bar_grid()  # its downbeat: its first bar line, after a pickup (else the beat it began on)
        downbeat = responder.origin + (grid.downbeat * responder.tempo.period if grid is not None else 0.0)
        self.recorder.add("call", phrase_melody(self.call, bpm, first, now), first, bpm, downbeat)
        if self.sent:
            start = self.sent[0].time  # the answer in seconds: a melody at 60 bpm, one beat a second
            notes = [Note(p, n.time - start, n.duration, n.velocity) for n in self.sent for p in n.pitches
                     if n.duration > 0]
            self.recorder.add("answer", Melody(tuple(notes), tempo=60.0), start, self.grid[1], self.grid[0])
        self.recorder.write()


__all__ = ["AnswerStream", "ReactionTimer", "ANSWER", "GENERATE_AFTER", "MIN_NOTE", "MOVE_MARGIN", "MOVE_TOLERANCE"]
