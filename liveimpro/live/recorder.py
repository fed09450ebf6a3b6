"""Record a session as a standard MIDI file, phrase by phrase, so a crash loses at most one phrase.

    recorder = SessionRecorder("session.mid")          # beat 0 of the file: now
    recorder.add("call", call, call_start)              # melody beat 0 at perf_counter time call_start
    recorder.add("answer", answer, answer_start)
    recorder.cut("answer", barge_in_time)               # the player came back in: the answer stopped
    recorder.write()                                    # after each phrase

The file has two tracks, "call" and "answer" (liveimpro.midi.files.write_midi: type 1, channels
1 and 2, the first track carrying tempo, time signature and key). Its tempo is the first
phrase's (or the one given); every note is placed by its time in seconds, so phrases at other
tempos keep their timing but not the file's bar lines.

write() rewrites the whole file: to a temporary file beside it, then an atomic rename, so the
file on disk is always a complete one. When it cannot be written (disk full, no permission)
it logs one warning for the session, returns False and the performance goes on; the next
write tries again. It costs milliseconds for long sessions: call it between phrases, never
from the sender thread.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from ..errors import UserError
from ..files import atomic_write
from ..melody import Melody, Note
from ..midi.files import write_midi

log = logging.getLogger(__name__)

TRACKS = ("call", "answer")


class SessionRecorder:
    def __init__(self, path, tempo: float | None = None, origin: float | None = None):
        self.path = Path(path)
        self.tempo = tempo  # the file's tempo (quarter notes per minute); None: the first phrase's
        self.origin = time.perf_counter() if origin is None else origin  # perf_counter time of beat 0
        self.time_signature: tuple[int, int] | None = None  # the first call's
        self.key: str | None = None  # the first key a call or answer names
        self.problem: str | None = None  # why the last write failed; None after a good one
        self._warned = False
        self._notes: dict[str, list[Note]] = {track: [] for track in TRACKS}  # in file beats

    def add(self, track: str, melody: Melody, start: float) -> None:
        """Add `melody` to `track` ("call" or "answer"), its beat 0 at perf_counter time `start`."""
        if track not in self._notes:
            raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
        if self.tempo is None:
            self.tempo = melody.tempo
        if self.time_signature is None and track == "call":
            self.time_signature = melody.time_signature
        self.key = self.key or melody.key
        per_second = self.tempo / 60.0  # file beats per second
        offset = (start - self.origin) * per_second
        scale = melody.seconds_per_beat() * per_second  # melody beats -> file beats
        for note in melody.notes:
            onset = offset + note.onset * scale
            end = offset + note.end * scale
            if end > 0:  # a note before the file's beat 0 is cut there
                self._notes[track].append(replace(note, onset=max(onset, 0.0), duration=end - max(onset, 0.0)))

    def cut(self, track: str, at: float) -> None:
        """End `track` at perf_counter time `at`: later notes dropped, sounding ones cut there."""
        limit = (at - self.origin) * (self.tempo or 120.0) / 60.0
        self._notes[track] = [note if note.end <= limit else replace(note, duration=limit - note.onset)
                              for note in self._notes[track] if note.onset < limit]

    def melodies(self) -> dict[str, Melody]:
        """What the file holds: one Melody per track, in file beats."""
        return {track: Melody(notes=tuple(notes), tempo=self.tempo or 120.0,
                              time_signature=self.time_signature or (4, 4), key=self.key, name=track)
                for track, notes in self._notes.items()}

    def write(self) -> bool:
        """Write the file atomically; False (one warning per session) if it cannot be written."""
        try:
            atomic_write(self.path, lambda path: write_midi(path, self.melodies()))
        except (UserError, OSError) as exc:
            self.problem = str(exc) if isinstance(exc, UserError) else f"{self.path}: {exc.strerror or exc}"
            if not self._warned:
                log.warning("cannot record the session: %s (the performance goes on; "
                            "the recording is tried again after each phrase)", self.problem)
                self._warned = True
            return False
        self.problem = None
        return True


__all__ = ["SessionRecorder", "TRACKS"]
