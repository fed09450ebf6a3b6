"""Melodies as token sequences: the Tokenizer base that both kinds share.

A melody becomes a sequence of events, one token each; every token is a triple
(pitch_part, ioi, duration) with times on the grid of liveimpro.tokens.grid. The
subclasses (CurveTokenizer, NoteTokenizer) only say how a pitch part is made
from an event and read back, and which pitch features nearest-mapping uses;
everything else lives here:

- events(melody): the melody's notes (reduced by the subclass, e.g. to its
  skyline) on the grid, by the rules of liveimpro.tokens.event.grid_timeline;
  notes whose onsets round to the same grid point form one event (the subclass
  says what is kept).
- encode: [BOS, one token per event, EOS]; an empty melody gives [BOS, EOS].
  Encoding is closed-loop: each token is taken relative to the event the
  previous token decodes to, so after an out-of-vocabulary token was mapped to
  its nearest neighbour, the following tokens bring pitch and time back to the
  melody instead of carrying the error on.
- Nearest mapping: Euclidean distance between feature vectors, the subclass's
  pitch features (in semitones, or notes) followed by two time features,
  TIME_SCALE * log2(beats + 1/12) for ioi and for duration: a doubling of a
  time costs half a semitone, so the pitch is kept before the rhythm. Only
  tokens that can follow `prev` (next_pitches(prev) >= 0) are candidates; ties
  go to the lower id (the more frequent token).
- decode: specials are skipped; a token that cannot follow the one before
  (a pitch outside 0..127, a misplaced anchor) raises ValueError naming its
  position. Velocities are not tokenised: decoded notes have velocity 80.

`Event` (liveimpro.tokens.event) and the special ids (liveimpro.tokens.vocab) can be imported
from here too, with the Tokenizer that uses them.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import ClassVar, Hashable, Iterable

import numpy as np

from ..files import atomic_write
from ..melody import Melody, Note
from . import grid
from .event import Event, grid_timeline
from .vocab import BOS, EOS, N_SPECIALS, PAD, Token, Vocabulary, nearest

FORMAT = "liveimpro-tokenizer"
FORMAT_VERSION = 1
TIME_SCALE = 0.5  # weight of log2(beats + 1/12) in the nearest-mapping features


def _time_feature(ticks: np.ndarray) -> np.ndarray:
    return TIME_SCALE * np.log2((np.asarray(ticks, dtype=np.float64) + 1) / grid.TICKS_PER_BEAT)


class Tokenizer:
    """Base of CurveTokenizer and NoteTokenizer; see the module docstring for the shared rules."""

    kind: ClassVar[str]  # "curve" | "note", saved in the JSON
    PITCH_FEATURES: ClassVar[tuple[str, ...]]  # names of the subclass's pitch features, for the JSON

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        for token in vocab.tokens:
            if not (grid.is_ioi(token[1]) and grid.is_duration(token[2])):
                raise ValueError(f"token {list(token)}: ioi and duration must be ticks on the grid")
        # per id (None / 0 for the specials), as Python lists: the live path reads single items
        self._parsed = [None] * N_SPECIALS + [self._parse(part) for part, _, _ in vocab.tokens]
        self._ioi = [0] * N_SPECIALS + [ioi for _, ioi, _ in vocab.tokens]
        self._duration = [0] * N_SPECIALS + [duration for _, _, duration in vocab.tokens]
        self._index()
        pitch = np.zeros((len(vocab), len(self.PITCH_FEATURES)))
        for index in range(N_SPECIALS, len(vocab)):
            pitch[index] = self._pitch_features(self._parsed[index])
        self._features = np.column_stack([pitch, _time_feature(self._ioi), _time_feature(self._duration)])
        self._next_pitches: dict[Hashable, np.ndarray] = {}  # pitch context -> read-only array

    # --- what a subclass says -------------------------------------------------------------------
    def _reduce(self, melody: Melody) -> tuple[Note, ...]:
        """The notes to tokenise, sorted by (onset, pitch)."""
        raise NotImplementedError

    def _merge(self, group: tuple[Note, ...]) -> tuple[Note, ...]:
        """The notes kept from a group whose onsets round to the same grid point."""
        raise NotImplementedError

    def _pitch_part(self, prev: Event | None, event: Event) -> str:
        raise NotImplementedError

    def _parse(self, part: str):
        """A pitch part read into the form `_pitches` and `_pitch_features` take; ValueError if malformed."""
        raise NotImplementedError

    def _pitches(self, prev: Event | None, parsed) -> tuple[int, ...]:
        """The pitches a parsed pitch part sounds after `prev`; ValueError (with the reason) if it cannot."""
        raise NotImplementedError

    def _pitch_features(self, parsed) -> tuple[float, ...]:
        raise NotImplementedError

    def _index(self) -> None:
        """Build the subclass's per-id numpy arrays from self._parsed."""
        raise NotImplementedError

    def _pitch_context(self, prev: Event | None) -> Hashable:
        """All of `prev` that next_pitches depends on: the key of its cache."""
        raise NotImplementedError

    def _tops(self, context) -> np.ndarray:
        """next_pitches for a context, vectorised over the vocabulary."""
        raise NotImplementedError

    def _settings(self) -> dict:
        """Subclass constants saved in (and checked against) the JSON."""
        return {}

    # --- vocabulary -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def build(cls, melodies: Iterable[Melody], min_count: int = 1) -> "Tokenizer":
        """A tokenizer whose vocabulary holds every token seen at least `min_count` times."""
        quantiser = cls(Vocabulary(()))  # events() and _quantise need no vocabulary
        counts: Counter[Token] = Counter()
        for melody in melodies:
            prev = None
            for event in quantiser.events(melody):
                counts[quantiser._quantise(prev, event)] += 1
                prev = event
        vocab = Vocabulary.from_counts(counts, min_count)
        if not vocab.tokens:
            raise ValueError(f"no {cls.kind} token occurs at least {min_count} times in these melodies")
        return cls(vocab)

    # --- melody <-> events ----------------------------------------------------------------------
    def events(self, melody: Melody) -> list[Event]:
        """The events the tokens stand for: the melody on the grid (see grid_timeline)."""
        events, prev = [], None
        for onset, duration, notes in grid_timeline(self._reduce(melody), self._merge):
            top = max(notes, key=lambda n: n.pitch)
            heard = Event(tuple(n.pitch for n in notes), grid.to_beats(onset), grid.to_beats(duration), top.velocity)
            pitches = self._pitches(prev, self._parse(self._pitch_part(prev, heard)))
            prev = Event(pitches, heard.onset, heard.duration, heard.velocity)
            events.append(prev)
        return events

    # --- events <-> ids -------------------------------------------------------------------------
    def _quantise(self, prev: Event | None, event: Event) -> Token:
        ioi = 0 if prev is None else grid.snap_ioi(event.onset - prev.onset)
        return self._pitch_part(prev, event), ioi, grid.snap_duration(event.duration)

    def _token_id(self, prev: Event | None, event: Event) -> tuple[int, bool]:
        """(id, whether it was nearest-mapped)."""
        token = self._quantise(prev, event)
        index = self.vocab.id(token)
        if index is not None:
            return index, False
        query = np.concatenate([self._pitch_features(self._parse(token[0])), _time_feature(token[1:])])
        return nearest(self._features, query, self.next_pitches(prev) >= 0), True

    def event_token(self, prev: Event | None, event: Event) -> int:
        """The id of `event` after `prev` (None: the first event); the nearest token when out of vocabulary.

        `prev` should be the previous event as the tokens stand for it (from
        events() or token_event), so that rounding errors do not add up.
        """
        return self._token_id(prev, event)[0]

    def _event(self, prev: Event | None, index: int, onset: float) -> Event:
        pitches = self._pitches(prev, self._parsed[index])
        return Event(pitches, onset, grid.to_beats(self._duration[index]))

    def token_event(self, prev: Event | None, token: int) -> Event | None:
        """The event a token stands for after `prev`; None for a special or a token that cannot follow `prev`."""
        if not 0 <= token < len(self.vocab):
            raise IndexError(f"token id must be in range 0..{len(self.vocab) - 1}, got {token!r}")
        if token < N_SPECIALS:
            return None
        onset = (0.0 if prev is None else prev.onset) + grid.to_beats(self._ioi[token])
        try:
            return self._event(prev, token, onset)
        except ValueError:
            return None

    def _encode(self, events: list[Event]) -> tuple[list[int], int]:
        ids, mapped, prev = [BOS], 0, None
        for event in events:
            index, was_mapped = self._token_id(prev, event)
            ids.append(index)
            mapped += was_mapped
            prev = self.token_event(prev, index)
        ids.append(EOS)
        return ids, mapped

    def encode(self, melody: Melody) -> list[int]:
        """[BOS, t1, ..., tn, EOS]; [BOS, EOS] for an empty melody."""
        return self._encode(self.events(melody))[0]

    def count_nearest(self, melody: Melody) -> tuple[int, int]:
        """(events that needed nearest-mapping, events in all) when encoding `melody`."""
        events = self.events(melody)
        return self._encode(events)[1], len(events)

    def decode(self, ids: Iterable[int], tempo: float = 120.0, time_signature=(4, 4)) -> Melody:
        """The melody of a token sequence, starting at beat 0; specials are skipped.

        ValueError names the position of a token that cannot follow the one
        before it (its pitch would leave 0..127, or it is a misplaced anchor).
        """
        notes, prev, ticks = [], None, 0
        for position, index in enumerate(ids):
            index = int(index)
            if not 0 <= index < len(self.vocab):
                raise ValueError(f"token id {index} at position {position} is outside 0..{len(self.vocab) - 1}")
            if index < N_SPECIALS:
                continue
            ticks += self._ioi[index]
            try:
                prev = self._event(prev, index, grid.to_beats(ticks))
            except ValueError as error:
                raise ValueError(f"cannot decode token {index} {list(self.vocab.token(index))} "
                                 f"at position {position}: {error}") from None
            notes.extend(Note(p, prev.onset, prev.duration, prev.velocity) for p in prev.pitches)
        return Melody(tuple(notes), tempo=tempo, time_signature=tuple(time_signature))

    def next_pitches(self, prev: Event | None) -> np.ndarray:
        """Per id, the top pitch the token would sound after `prev`; -1 for specials and impossible tokens.

        The array is cached per pitch context and read-only: copy it to change it.
        """
        context = self._pitch_context(prev)
        tops = self._next_pitches.get(context)
        if tops is None:
            tops = self._tops(context)
            tops.flags.writeable = False
            self._next_pitches[context] = tops
        return tops

    # --- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "kind": self.kind, "grid": grid.grid_json(),
                **self._settings(),
                "features": [*self.PITCH_FEATURES, f"{TIME_SCALE} * log2(ioi beats + 1/12)",
                             f"{TIME_SCALE} * log2(duration beats + 1/12)"],
                "vocab": self.vocab.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "Tokenizer":
        """ValueError naming the first field that does not match this version of liveimpro."""
        expected = cls(Vocabulary(())).to_json()
        for field in expected:
            if field != "vocab" and data.get(field) != expected[field]:
                raise ValueError(f"{field} is {data.get(field)!r}, this liveimpro expects {expected[field]!r}")
        if not isinstance(data.get("vocab"), dict):
            raise ValueError("vocab is missing")
        return cls(Vocabulary.from_json(data["vocab"]))

    def save(self, path) -> None:
        """Write the JSON (to a temporary file first, so a crash never leaves half a file)."""
        text = json.dumps(self.to_json(), separators=(",", ":")) + "\n"
        atomic_write(Path(path), lambda temporary: temporary.write_text(text, encoding="utf-8"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.vocab.tokens)} tokens + {N_SPECIALS} specials)"


__all__ = ["Tokenizer", "Event", "PAD", "BOS", "EOS", "N_SPECIALS", "TIME_SCALE", "FORMAT", "FORMAT_VERSION"]
