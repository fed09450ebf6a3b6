"""Record a session as a standard MIDI file, phrase by phrase, so a crash loses at most one phrase.

    recorder = SessionRecorder("session.mid")               # the file's time 0: now; meter=(4, 4)
    recorder = SessionRecorder("session.mid", meter=(6, 8))  # `liveimpro duet --meter 6/8`
    recorder.add("call", call, first_onset, bpm=112.0, downbeat=call_beat_0)
    recorder.add("answer", answer, answer_start, bpm=120.0)  # the clock's tempo, its bar line at the start
    recorder.cut("answer", barge_in_time)                    # the player came back in: the answer stopped
    recorder.write()                                         # after each phrase

`add(track, melody, start, bpm, downbeat)`: the melody's beat 0 sounded at perf_counter time
`start` and its beats lasted 60 / melody.tempo s: the notes are kept in seconds, as played or
heard. `bpm` is the tempo the phrase was played (a call: the player's estimate) or answered at
(the clock's when answers follow one), kept within TEMPO_RANGE; default the melody's.
`downbeat`: a perf_counter time of a bar line of the phrase's grid (a call: the beat line it
started on); default `start`.

The file (liveimpro.midi.files.write_midi: type 1, tracks "call" and "answer" on channels 1 and
2, SESSION_TICKS_PER_BEAT) has a tempo map, rebuilt from the phrases in the order added:
- each phrase's downbeat is a bar line of the file, with a set_tempo of the phrase's tempo
  there, so the phrase's bars are the file's bars;
- a phrase at the tempo of the one before whose downbeat is a beat of that one's grid (an
  answer that starts on the call's beat) goes on in its bars: no tempo change;
- otherwise the silence before the phrase bridges the two grids: the previous tempo holds to
  the first beat of its grid after the last note so far has ended (or half a unit before the
  downbeat), then one bridging tempo, within 2/3 .. 2 of the new phrase's, lasts a whole
  number of units (quarter notes; eighths in x/8, sixteenths in x/16) up to the downbeat; when
  those do not fill whole bars, the bar that holds them is shorter (a time signature of N/4,
  N/8 ...) and the meter comes back at the downbeat; the lead-in before the first phrase is
  whole bars (under half a bar long: the first phrase's tempo from 0, its bars off by as much);
- a phrase whose downbeat comes less than half a unit after the previous downbeat (or before
  it) takes that downbeat over with its own tempo;
- a call's pickup (the whole units from its first note to its downbeat) is at the call's tempo:
  the lead-in or the bridge ends where the pickup begins, so the pickup's notes lie on the beats
  before the downbeat's bar line, as a DAW shows a pickup.
A note's tick comes from integrating the tempo map as written (whole microseconds per beat),
so it sounds at its recorded time to within half a tick: under 0.5 ms down to 31 bpm.

write() rewrites the whole file: to a temporary file beside it, then an atomic rename, so the
file on disk is always a complete one. When it cannot be written (disk full, no permission)
it logs one warning for the session, returns False and the performance goes on; the next
write tries again. It costs milliseconds for long sessions: call it between phrases, never
from the sender thread.
"""
from __future__ import annotations

import logging
import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..files import atomic_write
from ..melody import Melody, Note
from ..midi.files import TEMPO_RANGE, write_midi

log = logging.getLogger(__name__)

TRACKS = ("call", "answer")
SESSION_TICKS_PER_BEAT = 1920  # 0.3 ms a tick at 100 bpm
ON_GRID = 1e-3  # s: a downbeat this close to a beat of the grid before lies on it


@dataclass
class _Phrase:
    track: str
    notes: list  # [pitch, onset, end, velocity], seconds from the file's time 0
    us: int  # microseconds per beat: its tempo as the file holds it
    downbeat: float  # seconds from the file's time 0
    lead: int = 0  # units (quarter notes; x/8's eighths) of its pickup before the downbeat, at its tempo


class _TempoMap:
    """Tempo segments (tick, seconds, microseconds per beat) and time signatures (tick, (num, den))."""

    def __init__(self, ticks_per_beat: int, meter: tuple[int, int]):
        self.tpb = ticks_per_beat
        self.ticks, self.times, self.us = [0], [0.0], [500_000]
        self.signatures = [(0, meter)]

    def set_tempo(self, tick: int, us: int) -> None:
        if tick == self.ticks[-1]:
            self.us[-1] = us
        elif us != self.us[-1]:
            self.times.append(self.time(tick))
            self.ticks.append(tick)
            self.us.append(us)

    def set_signature(self, tick: int, signature: tuple[int, int]) -> None:
        if tick == self.signatures[-1][0]:
            self.signatures[-1] = (tick, signature)
        else:
            self.signatures.append((tick, signature))

    def time(self, tick: float) -> float:
        i = max(0, bisect_right(self.ticks, tick) - 1)
        return self.times[i] + (tick - self.ticks[i]) * self.us[i] / (1e6 * self.tpb)

    def tick(self, seconds: float) -> float:
        i = max(0, bisect_right(self.times, seconds) - 1)
        return self.ticks[i] + (seconds - self.times[i]) * 1e6 * self.tpb / self.us[i]


def _on_a_beat(seconds: float, us: int) -> bool:
    """Whether `seconds` after a downbeat is (within ON_GRID) a beat at `us` microseconds per beat."""
    beats = seconds * 1e6 / us
    return seconds > -ON_GRID and abs(beats - round(beats)) * us / 1e6 < ON_GRID


def _parse_meter(meter) -> tuple[int, int]:
    num, den = (int(part) for part in meter.split("/")) if isinstance(meter, str) else meter
    if not 1 <= num <= 255 or den not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"meter must be N/1..N/32 (N <= 255), got {num}/{den}")
    return num, den


class SessionRecorder:
    def __init__(self, path, origin: float | None = None, meter: tuple[int, int] | str = (4, 4)):
        self.path = Path(path)
        self.origin = time.perf_counter() if origin is None else origin  # perf_counter time of the file's 0
        self.meter = _parse_meter(meter)  # the file's time signature: (4, 4), (3, 4), (6, 8), "6/8" ...
        num, den = self.meter
        self.unit_den = max(den, 4)  # the bridging bars count quarter notes, or the meter's shorter unit
        self.unit_ticks = SESSION_TICKS_PER_BEAT * 4 // self.unit_den
        self.bar_units = num * self.unit_den // den
        self.key: str | None = None  # the first key a call or answer names
        self.problem: str | None = None  # why the last write failed; None after a good one
        self._warned = False
        self._phrases: list[_Phrase] = []

    def add(self, track: str, melody: Melody, start: float, bpm: float | None = None,
            downbeat: float | None = None) -> None:
        """Add `melody` to `track` ("call" or "answer"), its beat 0 at perf_counter time `start`,
        played at `bpm` with a bar line at `downbeat` (see the module docstring)."""
        if track not in TRACKS:
            raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
        bpm = melody.tempo if bpm is None else bpm
        if not bpm > 0:
            raise ValueError(f"bpm must be > 0, got {bpm!r}")
        self.key = self.key or melody.key
        offset, scale = start - self.origin, melody.seconds_per_beat()
        notes = [[n.pitch, offset + n.onset * scale, offset + n.end * scale, n.velocity] for n in melody.notes]
        downbeat = start if downbeat is None else downbeat
        bpm = min(max(bpm, TEMPO_RANGE[0]), TEMPO_RANGE[1])  # what a file can hold, bridges included
        lead = max(0, round((downbeat - start) * bpm / 60 * self.unit_den / 4))  # a pickup, in whole units
        self._phrases.append(_Phrase(track, notes, round(60e6 / bpm), downbeat - self.origin, lead))

    def cut(self, track: str, at: float) -> None:
        """End `track` at perf_counter time `at`: later notes dropped, sounding ones cut there."""
        limit = at - self.origin
        for phrase in self._phrases:
            if phrase.track == track:
                phrase.notes = [[p, on, min(end, limit), v] for p, on, end, v in phrase.notes if on < limit]

    def tempo_map(self) -> _TempoMap:
        """The file's tempo map and time signatures, from the phrases so far (module docstring)."""
        tempo = _TempoMap(SESSION_TICKS_PER_BEAT, self.meter)
        grid, bar_ref, end = None, 0, -math.inf  # the downbeat's (tick, us); the last meter's tick; notes' end
        for phrase in self._phrases:
            half_unit = 2 * phrase.us / (1e6 * self.unit_den)  # half a unit of the phrase's tempo, in s
            if grid is None:
                grid = self._lead_in(tempo, phrase)
            elif phrase.us == grid[1] and _on_a_beat(phrase.downbeat - tempo.time(grid[0]), grid[1]):
                pass  # on a beat of the grid before, at its tempo: its bars go on
            elif phrase.downbeat < tempo.time(grid[0]) + half_unit:
                tempo.set_tempo(grid[0], phrase.us)  # too close to the downbeat before: it takes it over
                grid = (grid[0], phrase.us)
            else:
                grid, bar_ref = self._bridge(tempo, grid, bar_ref, end, phrase, half_unit)
            end = max([end] + [note[2] for note in phrase.notes])
        return tempo

    def _lead_in(self, tempo: _TempoMap, phrase: _Phrase) -> tuple[int, int]:
        """Whole bars up to the first phrase's downbeat, at a tempo within 2/3 .. 2 of its own but
        for its pickup (its `lead`), at its own."""
        num, den = self.meter
        bar_beats, lead_beats = num * 4 / den, phrase.lead * 4 / self.unit_den
        beats = phrase.downbeat * 1e6 / phrase.us  # the lead-in in the phrase's beats
        if beats < bar_beats / 2 or beats < lead_beats + 0.5:  # no room for a bar: its own tempo from 0
            tempo.set_tempo(0, phrase.us)
            return 0, phrase.us
        bars = max(1, round(beats / bar_beats), math.ceil((lead_beats + 0.5) / bar_beats))
        before = bars * bar_beats - lead_beats  # beats up to the pickup, at the lead-in's tempo
        tempo.set_tempo(0, round((phrase.downbeat * 1e6 - lead_beats * phrase.us) / before))
        tempo.set_tempo(round(before * tempo.tpb), phrase.us)
        return round(bars * bar_beats * tempo.tpb), phrase.us

    def _bridge(self, tempo: _TempoMap, grid, bar_ref: int, end: float, phrase: _Phrase,
                half_unit: float) -> tuple[tuple[int, int], int]:
        """From the grid before to the phrase's downbeat through the silence (module docstring)."""
        tick, us = grid
        start, beat = tempo.time(tick), us / 1e6
        lead = phrase.lead * phrase.us * 4 / (1e6 * self.unit_den)  # its pickup, in s: at its own tempo
        last = math.floor((phrase.downbeat - lead - half_unit - start) / beat)  # the last beat it may go to
        after_notes = math.ceil((end - start) / beat - 1e-9) if end > start else 0
        t0 = tick + max(0, min(after_notes, last)) * tempo.tpb
        seconds = phrase.downbeat - lead - tempo.time(t0)
        units = max(1, round(seconds * 1e6 * self.unit_den / (4 * phrase.us)))
        tempo.set_tempo(t0, round(seconds * 1e6 * self.unit_den / (4 * units)))
        tempo.set_tempo(t0 + units * self.unit_ticks, phrase.us)
        downbeat = t0 + (units + phrase.lead) * self.unit_ticks
        bar_ticks = self.bar_units * self.unit_ticks
        bar_start = bar_ref + (t0 - bar_ref) // bar_ticks * bar_ticks  # the file's bar line at or before t0
        short = (downbeat - bar_start) // self.unit_ticks % self.bar_units
        if short:
            tempo.set_signature(downbeat - short * self.unit_ticks, (short, self.unit_den))
            tempo.set_signature(downbeat, self.meter)
            bar_ref = downbeat
        return (downbeat, phrase.us), bar_ref

    def melodies(self, tempo: _TempoMap | None = None) -> dict[str, Melody]:
        """What the file holds: one Melody per track, in the file's beats (its tempo: the first)."""
        tempo = tempo or self.tempo_map()
        notes: dict[str, list[Note]] = {track: [] for track in TRACKS}
        for phrase in self._phrases:
            for pitch, onset, end, velocity in phrase.notes:
                on, off = max(0, round(tempo.tick(onset))), round(tempo.tick(end))
                if off > on:  # a note before the file's time 0 is cut there
                    notes[phrase.track].append(Note(pitch, on / tempo.tpb, (off - on) / tempo.tpb, velocity))
        return {track: Melody(notes=tuple(found), tempo=60e6 / tempo.us[0], time_signature=self.meter,
                              key=self.key, name=track) for track, found in notes.items()}

    def _write(self, path) -> None:
        tempo = self.tempo_map()
        tpb = tempo.tpb
        write_midi(path, self.melodies(tempo), ticks_per_beat=tpb,
                   tempo_map=[(tick / tpb, 60e6 / us) for tick, us in zip(tempo.ticks, tempo.us)],
                   time_signature=[(tick / tpb, signature) for tick, signature in tempo.signatures])

    def write(self) -> bool:
        """Write the file atomically; False (one warning per session) if it cannot be written."""
        try:
            atomic_write(self.path, self._write)
        except (UserError, OSError) as exc:
            self.problem = str(exc) if isinstance(exc, UserError) else f"{self.path}: {exc.strerror or exc}"
            if not self._warned:
                log.warning("cannot record the session: %s (the performance goes on; "
                            "the recording is tried again after each phrase)", self.problem)
                self._warned = True
            return False
        self.problem = None
        return True


__all__ = ["SessionRecorder", "TRACKS", "SESSION_TICKS_PER_BEAT"]
