"""Scores and corpora: ABC (multi-tune, broken tunes), MusicXML, kern, finding files, the parse cache."""
import gzip
import json
import multiprocessing
import signal
import threading
import time

import pytest

from liveimpro.data.corpus import (
    RESERVED_ESSEN_FILES,
    cache_folder,
    essen_files,
    find_files,
    is_reserved,
    music21_corpus,
    read_any,
    read_many,
)
from liveimpro.data import corpus
from liveimpro.data.scores import abc_tunes, read_score
from liveimpro.errors import MidiFileError, UserError
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import write_midi

ABC_TUNES = """%abc-2.1
% a file header: applies to every tune
L:1/8

X:1
T:First
M:4/4
Q:1/4=96
K:G
GABc d2-d2 | {a}g2 [DGB]2 z2 B2 |]

X:7
T:Broken in the middle
M:4/4
K:C
C D E F | [[[ ((( 3/0 ~~ |

X:8
T:Only words
K:C

X:12
T:Third
M:6/8
K:Em
E2F G2A | (3Bcd e2 E3 |]
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEIMPRO_CACHE", str(tmp_path / "cache"))


def test_abc_split_copies_the_file_header():
    tunes = abc_tunes(ABC_TUNES, "song.abc")
    assert [t.label for t in tunes] == ["song.abc X:1", "song.abc X:7", "song.abc X:8", "song.abc X:12"]
    assert [t.position for t in tunes] == [0, 1, 2, 3]
    assert tunes[0].text.startswith("X:1\nL:1/8\nT:First")


def test_multi_tune_abc_with_a_broken_tune(tmp_path):
    path = tmp_path / "songs.abc"
    path.write_text(ABC_TUNES)
    skipped = []
    first, third = read_score(path, skipped)
    assert [label for label, _ in skipped] == ["songs.abc X:7", "songs.abc X:8"]
    assert "Bad chord indicator" in skipped[0][1]

    assert first.name == "songs.abc X:1 First" and first.key == "G major"
    assert first.tempo == 96 and first.time_signature == (4, 4)
    # d2-d2 is one tied note of 2 beats, the grace note {a} is gone, the chord stays, the rest is a gap
    assert [(n.pitch, n.onset, n.duration) for n in first.notes] == [
        (67, 0, 0.5), (69, 0.5, 0.5), (71, 1, 0.5), (72, 1.5, 0.5), (74, 2, 2),
        (79, 4, 1), (62, 5, 1), (67, 5, 1), (71, 5, 1), (71, 7, 1)]
    assert third.key == "E minor" and third.time_signature == (6, 8)
    assert [round(n.duration, 9) for n in third.notes[4:7]] == [round(1 / 3, 9)] * 3  # triplet eighths

    result, = read_many([path])
    assert [pos for pos, _ in result.tunes] == [0, 3]
    assert result.skipped == [("songs.abc X:7", skipped[0][1]), ("songs.abc X:8", "no notes")]
    assert result.error is None


def test_latin1_abc_and_an_abc_without_tunes(tmp_path):
    (tmp_path / "old.abc").write_bytes("X:1\nT:Gr\xfc\xdfe\nL:1/4\nK:D\nDEF|\n".encode("latin-1"))
    melody, = read_any(tmp_path / "old.abc")
    assert melody.name == "old.abc X:1 Grüße" and [n.pitch for n in melody.notes] == [62, 64, 66]
    # a stray U+0085 (a line break to str.splitlines) inside a field must not cut the field in two
    (tmp_path / "nel.abc").write_text("X:1\nN: gedruckt in Jief\x85ng Ribao\nL:1/4\nK:D\nDEF|\n")
    assert len(read_any(tmp_path / "nel.abc")[0]) == 3
    (tmp_path / "none.abc").write_text("just some text\n")
    with pytest.raises(MidiFileError, match="none.abc: no ABC tunes"):
        read_any(tmp_path / "none.abc")


def test_musicxml_written_by_music21(tmp_path):
    from music21 import chord, key, meter, note, stream, tempo, tie

    part = stream.Part()
    part.append([meter.TimeSignature("3/4"), key.Key("F", "major"), tempo.MetronomeMark(number=72)])
    tied = [note.Note("A4", quarterLength=2), note.Note("A4", quarterLength=2)]
    tied[0].tie, tied[1].tie = tie.Tie("start"), tie.Tie("stop")
    grace = note.Note("C5").getGrace()
    part.append([*tied, grace, chord.Chord(["F3", "A3", "C4"], quarterLength=1), note.Rest(1), note.Note("G4")])
    path = tmp_path / "piece.musicxml"
    stream.Score([part]).write("musicxml", fp=path)

    melody, = read_any(path)
    assert melody.key == "F major" and melody.time_signature == (3, 4) and melody.tempo == 72
    assert [(n.pitch, n.onset, n.duration) for n in melody.notes] == [
        (69, 0, 4), (53, 4, 1), (57, 4, 1), (60, 4, 1), (67, 6, 1)]


def test_kern_file(tmp_path):
    path = tmp_path / "small.krn"
    path.write_text("!!!OTL: Small\n**kern\n*M3/4\n*k[b-]\n*d:\n*MM100\n=1\n[4c\n4c]\n4r\n=2\n8d\n8e\n2f\n"
                    "=3\n2.F 2.A\n*-\n")
    melody, = read_any(path)
    assert melody.key == "D minor" and melody.time_signature == (3, 4) and melody.tempo == 100
    assert [(n.pitch, n.onset, n.duration) for n in melody.notes] == [
        (60, 0, 2), (62, 3, 0.5), (64, 3.5, 0.5), (65, 4, 2), (53, 6, 3), (57, 6, 3)]


def test_skyline_of_a_real_polyphonic_piece():
    piece, = read_any(music21_corpus() / "schoenberg" / "opus19" / "movement6.mxl")
    assert not piece.is_monophonic()
    melody = piece.monophonic()
    assert melody.is_monophonic() and 0 < len(melody) < len(piece)
    originals = {(n.pitch, n.onset) for n in piece.notes}
    assert all((n.pitch, n.onset) in originals for n in melody.notes)
    for note in melody.notes:  # a kept note is the highest sounding at its onset
        sounding = [n.pitch for n in piece.notes if n.onset <= note.onset + 1e-9 and n.end > note.onset + 1e-9]
        assert note.pitch == max(sounding)


def test_damaged_score_and_unknown_suffix(tmp_path):
    (tmp_path / "bad.xml").write_text("<score-partwise><part><measure>")
    (tmp_path / "notes.txt").write_text("CDEF")
    bad, unknown = read_many([tmp_path / "bad.xml", tmp_path / "notes.txt"])
    assert bad.error and not bad.tunes
    assert unknown.error == "unsupported file type '.txt'"
    with pytest.raises(MidiFileError, match="bad.xml"):
        read_any(tmp_path / "bad.xml")


def test_find_files_and_read_any_dispatch(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_midi(tmp_path / "a" / "one.mid", melody_from_tuples([(60, 0, 1), (64, 1, 1)]))
    (tmp_path / "a" / "b" / "two.ABC").write_text("X:1\nL:1/4\nK:C\nCDE|\n")
    (tmp_path / "a" / "readme.txt").write_text("not music")
    found = find_files([tmp_path / "a", tmp_path / "a" / "one.mid"])
    assert [p.name for p in found] == ["two.ABC", "one.mid"] or [p.name for p in found] == ["one.mid", "two.ABC"]
    assert len(found) == 2
    assert [len(read_any(p)[0]) for p in sorted(found, key=lambda p: p.name)] == [2, 3]
    with pytest.raises(UserError, match="no such file or folder"):
        find_files([tmp_path / "nowhere"])


def test_essen_files_leave_out_the_reserved():
    names = [p.name for p in essen_files()]
    assert len(names) > 20 and "han1.abc" in names
    assert not set(RESERVED_ESSEN_FILES) & set(names)
    assert is_reserved(music21_corpus() / "essenFolksong" / "kinder0.abc")
    assert is_reserved(music21_corpus() / "bach" / "bwv66.6.mxl")
    assert not is_reserved(music21_corpus() / "essenFolksong" / "han1.abc")


def test_cache_is_used_and_follows_the_file(tmp_path):
    path = tmp_path / "t.abc"
    path.write_text("X:1\nL:1/4\nK:C\nCDE|\n")
    assert len(read_any(path)[0]) == 3
    cached, = cache_folder().glob("*.json.gz")
    with gzip.open(cached, "rt") as f:
        data = json.load(f)
    data["tunes"][0][1]["notes"].pop()  # doctor the cache: a cached read must show it
    with gzip.open(cached, "wt") as f:
        json.dump(data, f)
    assert len(read_any(path)[0]) == 2
    path.write_text("X:1\nL:1/4\nK:C\nCDEF|\n")  # changed file: read again
    assert len(read_any(path)[0]) == 4
    cached.write_bytes(b"garbage")  # damaged cache entry of the old content: ignored
    path.write_text("X:1\nL:1/4\nK:C\nCDE|\n")
    assert len(read_any(path)[0]) == 3


def test_parallel_reading_matches_serial(tmp_path):
    path = tmp_path / "songs.abc"
    path.write_text(ABC_TUNES)
    serial, = read_many([path], use_cache=False)
    parallel, = read_many([path], jobs=2, use_cache=False)
    assert serial.tunes == parallel.tunes and serial.skipped == parallel.skipped


def _slow_worker_start():
    time.sleep(0.5)  # a loaded machine: the pool is closed before this worker has started
    corpus._worker_start()


def test_a_pool_closed_before_its_workers_started_still_ends_them():
    # the parent's SIGTERM handler (a command's) is what a forked worker inherits; Pool.terminate's
    # SIGTERM, sent while a worker still had it, was lost and terminate waited for that worker for ever
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    try:
        pool = corpus._forked_with_sigterm_blocked(
            lambda: multiprocessing.get_context("fork").Pool(2, initializer=_slow_worker_start))
        workers = list(pool._pool)
        closing = threading.Thread(target=pool.terminate, daemon=True)
        closing.start()
        closing.join(20.0)
        assert not closing.is_alive(), "Pool.terminate still waits for a worker"
        assert [worker.exitcode for worker in workers] == [-signal.SIGTERM] * 2
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == mask  # this thread's mask as before
    finally:
        signal.signal(signal.SIGTERM, previous)
