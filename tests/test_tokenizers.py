"""Tokenizers: grid, normal order, round trips on Essen tunes and random melodies, nearest mapping, JSON, garbage."""
import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveimpro.errors import ModelError
from liveimpro.melody import Melody, Note, melody_from_tuples
from liveimpro.tokens import grid
from liveimpro.tokens.base import BOS, EOS, PAD, TIME_SCALE
from liveimpro.tokens.curve import MAX_INTERVAL, CurveTokenizer, fold_interval
from liveimpro.tokens.event import Event
from liveimpro.tokens.note import NoteTokenizer, normal_order, stack
from liveimpro.tokens.registry import load_tokenizer
from liveimpro.tokens.vocab import Vocabulary

KINDS = (CurveTokenizer, NoteTokenizer)
HALF_GAP = 1 / 12 + 1e-9  # beats: half the widest gap of the grid (1/6 beat)


# --- Essen tunes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def essen():
    """56 tunes of two small Essen files (never kinder0.abc, reserved for evaluation)."""
    music21 = pytest.importorskip("music21")
    from liveimpro.data.scores import read_score

    folder = os.path.join(os.path.dirname(music21.__file__), "corpus", "essenFolksong")
    melodies = [m for name in ("erk5.abc", "variant0.abc") for m in read_score(os.path.join(folder, name))]
    assert len(melodies) >= 50
    return melodies


def as_rows(melody):
    return [(n.pitch, n.onset, n.duration) for n in melody.notes]


@pytest.mark.parametrize("cls", KINDS)
def test_essen_round_trip(essen, cls):
    tokenizer = cls.build(essen)
    for melody in essen:
        original = melody.monophonic()
        decoded = tokenizer.decode(tokenizer.encode(melody))
        assert tokenizer.count_nearest(melody) == (0, len(original))
        assert [n.pitch for n in decoded.notes] == [n.pitch for n in original.notes], melody.name
        start = original.notes[0].onset
        for got, want in zip(decoded.notes, original.notes):
            assert abs(got.onset - (want.onset - start)) <= HALF_GAP, melody.name
            assert abs(got.duration - want.duration) <= HALF_GAP, melody.name
        assert decoded.is_monophonic()


def test_essen_vocabulary_sizes_and_held_out_mapping(essen):
    train, held_out = essen[:40], essen[40:]
    for cls in KINDS:
        tokenizer = cls.build(train)
        mapped = total = 0
        for melody in held_out:
            m, t = tokenizer.count_nearest(melody)
            mapped, total = mapped + m, total + t
            decoded = tokenizer.decode(tokenizer.encode(melody))
            assert len(decoded) == t  # nearest-mapped or not, one note per event
        assert 0 < mapped < total
        assert len(cls.build(train, min_count=3)) < len(tokenizer) < len(cls.build(essen))


# --- grid -------------------------------------------------------------------------------------
def test_grid_points_are_straight_and_triplet_subdivisions():
    within_beat = [t for t in grid.GRID_TICKS if t < grid.TICKS_PER_BEAT]
    assert within_beat == [0, 2, 3, 4, 6, 8, 9, 10]
    assert grid.GRID_TICKS[-1] == grid.MAX_IOI_TICKS == grid.MAX_DURATION_TICKS == 96


@pytest.mark.parametrize("beats, ticks", [
    (0.25, 3), (1 / 3, 4), (0.3, 4), (0.29, 3), (5 / 12, 4), (1 / 12, 0), (7 / 12, 6), (11 / 12, 10),
    (0.04, 0), (-3.0, 0), (0.999, 12), (7.99, 96), (8.0, 96), (1e9, 96), (math.inf, 96)])
def test_snap_rounds_to_nearest_ties_to_the_smaller(beats, ticks):
    assert grid.snap_ioi(beats) == ticks


def test_snap_duration_has_a_floor_and_a_cap():
    assert grid.snap_duration(0.001) == grid.MIN_DURATION_TICKS == 2
    assert grid.snap_duration(1e12) == 96
    with pytest.raises(ValueError, match="NaN"):
        grid.snap_ioi(math.nan)


def test_a_duration_span_holds_every_duration_that_rounds_alike():
    assert grid.duration_span(0.0) == (0.0, 2.5 / 12)  # the floor: up to halfway to 1/4 beat
    assert grid.duration_span(1.0) == (11 / 12, 13 / 12)  # halfway to 5/6 and to 7/6 beat
    assert grid.duration_span(20.0) == (95 / 12, math.inf)  # the cap
    for beats in [i / 97 for i in range(900)]:
        low, high = grid.duration_span(beats)
        assert low < beats <= high or beats == low == 0.0
        ticks = grid.snap_duration(beats)
        inside = [low + (high - low) * f for f in (1e-4, 0.5, 1 - 1e-4)] if high < 9 else [low + 1e-4, 9.0]
        assert {grid.snap_duration(b) for b in inside} == {ticks}, beats
        if high < 9:
            assert grid.snap_duration(high + 1e-4) != ticks and (low == 0 or grid.snap_duration(low - 1e-4) != ticks)


# --- normal order and chords ------------------------------------------------------------------
def normal_order_reference(pitch_classes):
    """Rahn's definition step by step: keep the rotations with the smallest span, then those with the smallest
    interval from the first to the second-to-last, and so on; the rest start on the lowest pitch class."""
    ordered = sorted({p % 12 for p in pitch_classes})
    candidates = [ordered[i:] + ordered[:i] for i in range(len(ordered))]
    for k in range(len(ordered) - 1, 0, -1):
        best = min((r[k] - r[0]) % 12 for r in candidates)
        candidates = [r for r in candidates if (r[k] - r[0]) % 12 == best]
    return tuple(min(candidates, key=lambda r: r[0]))


def test_normal_order_uses_rahns_tie_break():
    assert normal_order({0, 1, 5, 6, 8}) == (0, 1, 5, 6, 8)  # Forte: (5, 6, 8, 0, 1)
    assert normal_order({0, 1, 3, 7, 8}) == (7, 8, 0, 1, 3)  # Forte: (0, 1, 3, 7, 8)
    assert normal_order([64, 67, 72]) == (0, 4, 7)
    assert normal_order([62, 65, 69, 72]) == (9, 0, 2, 5)  # D minor 7: smallest span A..F
    assert normal_order([0, 4, 8]) == (0, 4, 8)  # symmetric: starts on the lowest pitch class
    for mask in range(1, 4096):
        pcs = [pc for pc in range(12) if mask >> pc & 1]
        assert normal_order(pcs) == normal_order_reference(pcs), pcs


def test_chord_token_is_bass_and_normal_order_and_decodes_stacked():
    tokenizer = NoteTokenizer.build([melody_from_tuples([(52, 0, 1), (55, 0, 1), (60, 0, 1)])])
    assert tokenizer.vocab.tokens == (("52:0,4,7", 0, 12),)
    assert stack(52, (0, 4, 7)) == (52, 55, 60)
    wide = melody_from_tuples([(52, 0, 1), (67, 0, 2), (72, 0, 1)])  # E3 G4 C5: voicing not kept
    [event] = tokenizer.events(wide)
    assert event.pitches == (52, 55, 60) and event.duration == 2  # the longest note's duration
    assert tokenizer.encode(wide)[1] == tokenizer.vocab.id(("52:0,4,7", 0, 12))  # nearest: same chord
    assert tokenizer.count_nearest(wide) == (1, 1)
    octaves = tokenizer.events(melody_from_tuples([(48, 0, 1), (60, 0, 1)]))
    assert octaves == [Event((48,), 0.0, 1.0)]


# --- random melodies --------------------------------------------------------------------------
on_grid_gap = st.sampled_from([t for t in grid.GRID_TICKS if 0 < t])


@st.composite
def grid_monophonic(draw):
    """A monophonic melody on the grid, intervals within the cap, starting at beat 0."""
    n = draw(st.integers(1, 30))
    pitch, onset, rows = draw(st.integers(20, 107)), 0, []
    for i in range(n):
        if i:
            pitch = min(127, max(0, pitch + draw(st.integers(-MAX_INTERVAL, MAX_INTERVAL))))
            onset += draw(on_grid_gap)
        rows.append((pitch, onset))
    ends = [b for _, b in rows[1:]] + [rows[-1][1] + 96]
    notes = []
    for (p, start), end in zip(rows, ends):
        duration = draw(st.sampled_from([t for t in grid.GRID_TICKS if 2 <= t <= end - start]))
        notes.append((p, start / 12, duration / 12))
    return melody_from_tuples(notes)


@st.composite
def grid_polyphonic(draw):
    """Notes on the grid, chords and overlaps allowed, gaps within the cap, starting at beat 0."""
    onsets = [0]
    for _ in range(draw(st.integers(0, 15))):
        onsets.append(onsets[-1] + draw(on_grid_gap))
    notes = []
    for onset in onsets:
        duration = draw(st.sampled_from([t for t in grid.GRID_TICKS if t >= 2]))
        pitches = draw(st.lists(st.integers(0, 127), min_size=1, max_size=4, unique=True))
        bass = min(pitches)  # a chord in close position over its bass: its voicing survives
        for p in {bass + (q - bass) % 12 for q in pitches}:
            if p <= 127:
                notes.append((p, onset / 12, duration / 12))
    return melody_from_tuples(notes)


raw_notes = st.lists(st.tuples(st.integers(0, 127), st.floats(0, 40), st.floats(1e-3, 12)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(grid_monophonic())
def test_curve_round_trip_is_exact_on_grid(melody):
    tokenizer = CurveTokenizer.build([melody])
    assert tokenizer.decode(tokenizer.encode(melody)) == melody


@settings(max_examples=150, deadline=None)
@given(st.one_of(grid_monophonic(), grid_polyphonic()))
def test_note_round_trip_is_exact_on_grid(melody):
    tokenizer = NoteTokenizer.build([melody])
    assert as_rows(tokenizer.decode(tokenizer.encode(melody))) == as_rows(melody)


@settings(max_examples=150, deadline=None)
@given(raw_notes, st.sampled_from(KINDS))
def test_any_melody_decodes_to_a_valid_melody_of_its_events(rows, cls):
    melody = melody_from_tuples(rows)
    tokenizer = cls.build([melody, melody_from_tuples([(60, 0, 1)])])
    events = tokenizer.events(melody)
    ids = tokenizer.encode(melody)
    assert ids[0] == BOS and ids[-1] == EOS and len(ids) == len(events) + 2
    decoded = tokenizer.decode(ids)
    for note in decoded.notes:  # a valid melody on the grid
        assert grid.is_duration(round(note.duration * 12)) and abs(note.onset * 12 - round(note.onset * 12)) < 1e-9
    if cls is CurveTokenizer:
        assert decoded.is_monophonic()
    strip = [(e.pitches, e.onset, e.duration) for e in events]
    assert [(e.pitches, e.onset, e.duration) for e in tokenizer.events(decoded)] == strip  # idempotent
    if events and cls is CurveTokenizer:  # every decoded onset near an original one (no gap over the cap)
        original = melody.monophonic().notes
        if all(b.onset - a.onset < 7.9 for a, b in zip(original, original[1:])):
            for event in events:
                assert min(abs(event.onset - (n.onset - original[0].onset)) for n in original) <= HALF_GAP


# --- nearest mapping and next_pitches ---------------------------------------------------------
def time_feature(ticks):
    return TIME_SCALE * math.log2(ticks / 12 + 1 / 12)


def documented_features(tokenizer, token):
    """The feature vector as the module docstrings state it, computed independently of the tokenizer."""
    part, ioi, duration = token
    if tokenizer.kind == "curve":
        pitch = [int(part.lstrip("@"))]
    else:
        bass, _, classes = part.partition(":")
        pitches = stack(int(bass), [int(c) for c in classes.split(",")]) if classes else (int(bass),)
        pitch = [pitches[-1], pitches[0], len(pitches)]
    return np.array(pitch + [time_feature(ioi), time_feature(duration)], dtype=float)


@pytest.fixture(scope="module", params=KINDS)
def small_tokenizer(request):
    rows = [[(60, 0, 1), (62, 1, 0.5), (64, 1.5, 0.5), (67, 2, 2)],
            [(72, 0, 0.5), (71, 0.5, 0.5), (69, 1, 1), (48, 2, 1), (52, 2, 1), (55, 2, 1)],
            [(55, 0, 1.5), (60, 1.5, 0.5), (59, 2, 1), (62, 3, 1), (65, 3, 1)]]
    return request.param.build([melody_from_tuples(r) for r in rows])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.none(), st.integers(0, 127)), st.lists(st.integers(0, 127), min_size=1, max_size=4),
       st.floats(0, 10), st.floats(1e-3, 10))
def test_nearest_is_the_true_nearest(small_tokenizer, prev_pitch, pitches, ioi, duration):
    tokenizer = small_tokenizer
    prev = None if prev_pitch is None else Event((prev_pitch,), 0.0, 1.0)
    event = Event(tuple(pitches), ioi if prev else 0.0, duration)
    if tokenizer.kind == "curve":
        event = Event((max(pitches),), event.onset, event.duration)
    chosen = tokenizer.event_token(prev, event)
    query_token = tokenizer._quantise(prev, event)
    if tokenizer.vocab.id(query_token) is not None:
        assert chosen == tokenizer.vocab.id(query_token)
        return
    query = documented_features(tokenizer, query_token)
    distances = {i: float(np.linalg.norm(documented_features(tokenizer, tokenizer.vocab.token(i)) - query))
                 for i in range(3, len(tokenizer)) if tokenizer.token_event(prev, i) is not None}
    if not distances:
        with pytest.raises(ValueError):
            tokenizer.event_token(prev, event)
        return
    assert tokenizer.token_event(prev, chosen) is not None
    assert distances[chosen] == pytest.approx(min(distances.values()))
    assert chosen == min(i for i, d in distances.items() if d == pytest.approx(min(distances.values())))


@pytest.mark.parametrize("prev_pitch", [None, 0, 5, 60, 122, 127])
def test_next_pitches_agrees_with_token_event(small_tokenizer, prev_pitch):
    tokenizer = small_tokenizer
    prev = None if prev_pitch is None else Event((prev_pitch,), 3.0, 1.0)
    tops = tokenizer.next_pitches(prev)
    assert tops.shape == (len(tokenizer),) and tops.dtype.kind == "i"
    expected = [-1 if (e := tokenizer.token_event(prev, i)) is None else e.top for i in range(len(tokenizer))]
    assert tops.tolist() == expected
    assert tops[[PAD, BOS, EOS]].tolist() == [-1, -1, -1]
    assert tokenizer.next_pitches(prev) is tops and not tops.flags.writeable  # cached, read-only


def test_curve_next_pitches_anchors_first_then_intervals_in_range():
    tokenizer = CurveTokenizer.build([melody_from_tuples([(60, 0, 1), (67, 1, 1), (72, 2, 1)])])
    first = tokenizer.next_pitches(None)
    assert first[first >= 0].tolist() == [60]
    after = tokenizer.next_pitches(Event((121,), 0, 1))  # +7 would be 128: -1
    assert after[after >= 0].tolist() == [126]
    assert tokenizer.token_event(Event((121,), 0, 1), tokenizer.vocab.id(("+7", 12, 12))) is None
    assert tokenizer.token_event(None, tokenizer.vocab.id(("+7", 12, 12))) is None
    assert tokenizer.token_event(Event((50,), 0, 1), tokenizer.vocab.id(("@60", 0, 12))) is None


def test_live_path_maps_a_miss_to_the_nearest_and_keeps_hits_exact():
    tokenizer = CurveTokenizer.build([melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 0.5), (65, 2.5, 0.5)])])
    prev = tokenizer.token_event(None, tokenizer.event_token(None, Event((60,), 7.3, 0.98)))
    assert prev == Event((60,), 0.0, 1.0)
    hit = tokenizer.token_event(prev, tokenizer.event_token(prev, Event((62,), 1.02, 1.0)))
    assert hit == Event((62,), 1.0, 1.0)
    miss = tokenizer.token_event(hit, tokenizer.event_token(hit, Event((65,), 2.0, 1.0)))  # +3 was never seen
    assert miss == Event((64,), 2.0, 1.0)  # +2 in the same rhythm: one semitone away


def test_encoding_is_closed_loop_after_a_nearest_mapping():
    tokenizer = CurveTokenizer.build([melody_from_tuples(
        [(p, i, 1) for i, p in enumerate([60, 62, 64, 62, 60, 64, 60])])])
    melody = melody_from_tuples([(60, 0, 1), (63, 1, 1), (64, 2, 1)])  # +3 is not in the vocabulary
    assert tokenizer.count_nearest(melody) == (1, 3)
    # +3 becomes +2 (62); the next interval is taken from 62, so the melody is back on 64
    assert [n.pitch for n in tokenizer.decode(tokenizer.encode(melody)).notes] == [60, 62, 64]


# --- JSON -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", KINDS)
def test_json_round_trip(tmp_path, essen, cls):
    tokenizer = cls.build(essen[:10])
    path = tmp_path / "vocab.json"
    tokenizer.save(path)
    loaded = load_tokenizer(path)
    assert type(loaded) is cls and len(loaded) == len(tokenizer)
    assert loaded.to_json() == tokenizer.to_json()
    data = json.loads(path.read_text())
    assert data["kind"] == cls.kind and data["version"] == 1 and data["grid"]["max_ioi_ticks"] == 96
    for melody in essen[10:20]:
        assert loaded.encode(melody) == tokenizer.encode(melody)
        assert loaded.count_nearest(melody) == tokenizer.count_nearest(melody)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(kind="words"), "not a tokenizer"),
    (lambda d: d.update(version=99), "version is 99"),
    (lambda d: d["grid"].update(ticks_per_beat=24), "grid is"),
    (lambda d: d["vocab"]["tokens"].append(["+99", 12, 12]), "-24..\\+24, got '\\+99'"),
    (lambda d: d["vocab"]["tokens"].append(["+2", 5, 12]), "ticks on the grid"),
    (lambda d: d["vocab"]["tokens"].append(d["vocab"]["tokens"][0]), "duplicate token"),
    (lambda d: d["vocab"]["tokens"].append(["+2", 12]), "a token must be"),
    (lambda d: d.pop("vocab"), "vocab is missing"),
])
def test_damaged_json_is_a_model_error(tmp_path, change, message):
    data = CurveTokenizer.build([melody_from_tuples([(60, 0, 1), (62, 1, 1)])]).to_json()
    data["vocab"]["counts"] = None
    change(data)
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=f"vocab.json: .*{message}"):
        load_tokenizer(path)


def test_unreadable_json_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing.json: cannot read"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"kind": "curve", ')
    with pytest.raises(ModelError, match="bad.json: not a JSON file"):
        load_tokenizer(tmp_path / "bad.json")


@pytest.mark.parametrize("part", ["60:4,7,0", "60:0", "60:0,0,4", "128", "060", "60:2,5,9", " 60", "x", "60:"])
def test_malformed_note_parts_are_refused(part):
    with pytest.raises(ValueError, match="note pitch part"):
        NoteTokenizer(Vocabulary([(part, 0, 12)]))


def test_chord_parts_that_would_leave_the_midi_range_are_refused():
    assert len(NoteTokenizer(Vocabulary([("60", 0, 12), ("60:0,4,7", 0, 12), ("64:0,4,7", 0, 12)]))) == 6
    with pytest.raises(ValueError, match="would sound pitch 132, outside 0..127"):
        NoteTokenizer(Vocabulary([("124:0,4,7", 0, 12)]))


# --- garbage input ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", KINDS)
def test_empty_and_single_note_melodies(cls):
    tokenizer = cls.build([melody_from_tuples([(60, 0, 1)])])
    assert tokenizer.encode(Melody()) == [BOS, EOS]
    assert tokenizer.events(Melody()) == [] and tokenizer.count_nearest(Melody()) == (0, 0)
    assert tokenizer.decode([BOS, EOS]) == Melody() and tokenizer.decode([]) == Melody()
    one = melody_from_tuples([(60, 5.5, 1)], tempo=90)
    assert as_rows(tokenizer.decode(tokenizer.encode(one), tempo=90)) == [(60, 0.0, 1.0)]
    assert tokenizer.decode([PAD, BOS, *tokenizer.encode(one), EOS, PAD]).notes == (Note(60, 0.0, 1.0),)


def test_build_from_nothing_is_refused():
    with pytest.raises(ValueError, match="no curve token occurs at least 1 times"):
        CurveTokenizer.build([Melody()])
    with pytest.raises(ValueError, match="no note token occurs at least 5 times"):
        NoteTokenizer.build([melody_from_tuples([(60, 0, 1)])], min_count=5)


def test_decode_refuses_pitches_outside_the_midi_range_and_misplaced_tokens():
    tokenizer = CurveTokenizer.build([melody_from_tuples([(115, 0, 1), (122, 1, 1)])])
    anchor, up = tokenizer.vocab.id(("@115", 0, 12)), tokenizer.vocab.id(("+7", 12, 12))
    assert as_rows(tokenizer.decode([BOS, anchor, up])) == [(115, 0, 1), (122, 1, 1)]
    with pytest.raises(ValueError, match=r"position 3: pitch 122 \+7 = 129 is outside 0..127"):
        tokenizer.decode([BOS, anchor, up, up])
    with pytest.raises(ValueError, match="position 0: an interval needs a note before it"):
        tokenizer.decode([up])
    with pytest.raises(ValueError, match="position 2: an anchor can only start a melody"):
        tokenizer.decode([BOS, anchor, anchor])
    with pytest.raises(ValueError, match="token id 99 at position 1 is outside 0..4"):
        tokenizer.decode([BOS, 99])
    with pytest.raises(IndexError):
        tokenizer.token_event(None, -1)


def test_overlapping_notes():
    melody = melody_from_tuples([(60, 0, 4), (67, 1, 1), (64, 2, 1), (48, 3, 2), (52, 3, 2)])
    curve = CurveTokenizer.build([melody])
    assert as_rows(curve.decode(curve.encode(melody))) == [(60, 0, 1), (67, 1, 1), (64, 2, 1), (52, 3, 2)]
    note = NoteTokenizer.build([melody])
    assert as_rows(note.decode(note.encode(melody))) == as_rows(melody)  # overlaps and chords kept
    assert [e.pitches for e in note.events(melody)] == [(60,), (67,), (64,), (48, 52)]


def test_near_simultaneous_notes_merge():
    grace = melody_from_tuples([(62, 0, 0.05), (60, 0.06, 1), (64, 1, 1)])
    assert as_rows(CurveTokenizer.build([grace]).decode(CurveTokenizer.build([grace]).encode(grace))) == [
        (60, 0, 1), (64, 1, 1)]  # the later note (the main note) is kept
    strummed = melody_from_tuples([(48, 0, 1), (52, 0.02, 1), (55, 0.05, 1)])
    assert [e.pitches for e in NoteTokenizer.build([strummed]).events(strummed)] == [(48, 52, 55)]


def test_absurd_times_are_capped():
    melody = melody_from_tuples([(60, 0, 1e9), (62, 1e6, 0.001), (64, 1e6 + 1, 1)])
    for cls in KINDS:
        events = cls.build([melody]).events(melody)
        assert [(e.onset, e.duration) for e in events] == [(0, 8), (8, 1 / 6), (9, 1)]
    with pytest.raises(ValueError, match="onset must be a finite"):
        CurveTokenizer.build([melody_from_tuples([(60, 0, 1), (62, math.inf, 1)])])


def test_large_leaps_fold_by_octaves():
    assert [fold_interval(i) for i in (24, 25, 36, 37, 50, -25, -50)] == [24, 13, 24, 13, 14, -13, -14]
    melody = melody_from_tuples([(30, 0, 1), (90, 1, 1), (91, 2, 1), (92, 3, 1), (93, 4, 1)])
    tokenizer = CurveTokenizer.build([melody])
    assert [n.pitch for n in tokenizer.decode(tokenizer.encode(melody)).notes] == [30, 54, 67, 80, 93]


def test_event_validates_and_normalises():
    assert Event((67, 60, 64, 60), 0, 1).pitches == (60, 64, 67)
    assert Event((np.int64(60),), 0, 1).pitches == (60,)
    for bad in [dict(pitches=()), dict(pitches=(128,)), dict(duration=0), dict(onset=math.nan),
                dict(duration=math.inf), dict(velocity=0)]:
        with pytest.raises(ValueError):
            Event(**{"pitches": (60,), "onset": 0.0, "duration": 1.0, **bad})
