"""Bad files given to every command that reads melodies: truncated, empty, wrong-format and hostile MIDI and
ABC files, made here byte by byte. A single-file command (respond, vary, morph, evaluate of one file) exits 1
with exactly one line on stderr naming the file and the reason, never a traceback, never a hang; the batch
commands (evaluate over a folder, scripts/prepare_data.py) skip the bad files and tunes, go on, and report
how many were skipped, why, and which."""
from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from script_modules import load_script

from liveimpro.cli import main
from liveimpro.data import scores
from liveimpro.data.corpus import read_any
from liveimpro.data.scores import AbcTune, parse_abc_tune, time_limit
from liveimpro.errors import MidiFileError
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import read_midi, read_midi_tracks, write_midi
from liveimpro.midi.smf import MAX_BEATS, MAX_FILE_BYTES, MAX_NOTES

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "curve-lstm"


# --- MIDI files byte by byte -------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    return kind + struct.pack(">L", len(data) if length is None else length) + data


def header(file_format: int = 0, tracks: int = 1, division: int = 480) -> bytes:
    return chunk(b"MThd", struct.pack(">HHH", file_format, tracks, division))


END_OF_TRACK = b"\x00\xff\x2f\x00"


def scale(pitches=(60, 62, 64, 65, 67, 69, 71, 72), channel: int = 0, ticks: int = 480) -> bytes:
    """Note-on, a beat later note-off, for each pitch in turn."""
    return b"".join(b"\x00" + bytes([0x90 | channel, p, 80]) + varint(ticks) + bytes([0x80 | channel, p, 0])
                    for p in pitches)


def midi(events: bytes, **fields) -> bytes:
    return header(**fields) + chunk(b"MTrk", events + END_OF_TRACK)


def many_notes(count: int) -> bytes:
    """A valid file of `count` notes in running status, 6 bytes a note (333,000 notes in 2 MB)."""
    events = bytearray(b"\x00\x90\x3c\x50")
    for i in range(count):
        events += bytes([1, 60 + i % 24, 0, 0, 60 + (i + 1) % 24, 80])
    return midi(bytes(events))


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.mid", midi(scale()))
    return buffer.getvalue()


GOOD = midi(scale())
MAX_DELTA = 0x0FFFFFFF  # the largest delta time a file can hold
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"

# file name -> (content, what the one-line message says after "<path>: ")
BAD_MIDI = {
    "empty.mid": (b"", "empty file"),
    "header-only.mid": (header(), "truncated MIDI file (the header declares 1 track, 0 found)"),
    "cut-in-the-header.mid": (GOOD[:11], "truncated MIDI file (the header is cut short)"),
    "cut-mid-track.mid": (GOOD[:len(GOOD) // 2], "truncated MIDI file (track 1 declares"),
    "image.mid": (PNG, "not a MIDI file (no MThd header)"),
    "archive.mid": (zip_bytes(), "not a MIDI file (no MThd header)"),
    "text.mid": (b"X:1\nK:C\nCDEF|\n", "not a MIDI file (no MThd header)"),
    "chunk-longer-than-file.mid": (header() + chunk(b"MTrk", scale() + END_OF_TRACK, 0x7FFFFFFF),
                                   "truncated MIDI file (track 1 declares 2147483647 bytes"),
    "65535-tracks.mid": (midi(scale(), tracks=65535), "the header declares 65535 tracks, 1 found"),
    "division-0.mid": (midi(scale(), division=0), "unsupported time division 0"),
    "smpte-division.mid": (midi(scale(), division=0xE728), "unsupported time division: SMPTE (25 frames per second)"),
    "note-of-10-million-beats.mid": (midi(b"\x00\x90\x3c\x50" + (varint(MAX_DELTA) + b"\xff\x01\x00") * 18
                                          + b"\x00\x80\x3c\x00"), f"too long: more than the {MAX_BEATS} beats"),
    "2-MB-of-notes.mid": (many_notes(333_000), f"too many notes: more than the {MAX_NOTES} read here"),
    "5-MB.mid": (b"MThd" + bytes(5 * 2**20), f"too large: more than the {MAX_FILE_BYTES} bytes read here"),
    "endless-delta-time.mid": (midi(b"\xff" * 100_000), "a variable-length number longer than 4 bytes"),
    "only-drums.mid": (midi(scale(channel=9)), "no notes (only drums: channel 10 is percussion"),
    "only-meta-events.mid": (midi(b"\x00\xff\x03\x05piano\x00\xff\x51\x03\x07\xa1\x20"), "no notes"),
    "running-status-first.mid": (midi(b"\x00\x3c\x50"), "data byte 0x3c where a status byte belongs"),
    "undefined-status.mid": (midi(b"\x00\xf4"), "undefined status byte 0xf4"),
    "velocity-255.mid": (midi(b"\x00\x90\x3c\xff"), "data byte 0xff where 0..127 belongs"),
    "event-past-track-end.mid": (header(1, 2) + chunk(b"MTrk", b"\x00\x90\x3c") + chunk(b"MTrk", scale()),
                                 "track 1, the event at byte 0: an event runs past the end of the track"),
}

# Odd but readable: name -> (content, (pitches, tempo, track names) read back)
READABLE_MIDI = {
    "running-status.mid": (midi(b"\x00\x90\x3c\x50\x60\x3c\x00\x00\x3e\x50\x60\x3e\x00"), ([60, 62], 120.0, None)),
    "running-status-across-meta.mid": (midi(b"\x00\x90\x3c\x50\x00\xff\x01\x01a\x60\x3c\x00"), ([60], 120.0, None)),
    "note-ons-without-offs.mid": (midi(b"\x00\x90\x3c\x50\x60\x90\x3e\x50\x60\x90\x40\x50\x60\xff\x2f\x00"),
                                  ([60, 62, 64], 120.0, None)),
    "tempo-0.mid": (midi(b"\x00\xff\x51\x03\x00\x00\x00" + scale((60,))), ([60], 120.0, None)),
    "tempo-1-microsecond.mid": (midi(b"\x00\xff\x51\x03\x00\x00\x01" + scale((60,))), ([60], 120.0, None)),
    "tempo-3.6-bpm.mid": (midi(b"\x00\xff\x51\x03\xff\xff\xff" + scale((60,))), ([60], 120.0, None)),
    "tempo-90.mid": (midi(b"\x00\xff\x51\x03\x0a\x2c\x2b" + scale((60,))), ([60], 90.0, None)),
    "tempo-wrong-length.mid": (midi(b"\x00\xff\x51\x01\x07" + scale((60,))), ([60], 120.0, None)),
    "key-of-20-sharps.mid": (midi(b"\x00\xff\x59\x02\x14\x00" + scale((60,))), ([60], 120.0, None)),
    "latin-1-track-name.mid": (midi(b"\x00\xff\x03\x05\xff\xfeFl\xfb" + scale((60,))), ([60], 120.0, "\xff\xfeFl\xfb")),
    "unknown-chunk.mid": (header(1, 1) + chunk(b"XFIH", b"\x00\x01\x02") + chunk(b"MTrk", scale((60,)) + END_OF_TRACK),
                          ([60], 120.0, None)),
    "format-2.mid": (midi(scale((60,)), file_format=2), ([60], 120.0, None)),
}

BAD_ABC = {  # what read_any says after "<path>: "
    "binary.abc": (bytes(range(256)) * 8, "no ABC tunes (no line starts with X:)"),
    "image.abc": (PNG, "no ABC tunes (no line starts with X:)"),
    "binary-after-x.abc": (b"X:1\n" + bytes(range(256)) * 8, "no tune with notes (X:1: no notes)"),
    "no-notes.abc": ("X:1\nT:silence\nM:4/4\nL:1/8\nK:G\n|\n", "no tune with notes (X:1: no notes)"),
    "length-1-0.abc": ("X:1\nM:4/4\nL:1/0\nK:G\nGABc|\n", "no tune with notes (X:1: ZeroDivisionError"),
    "meter-0-0.abc": ("X:1\nM:0/0\nL:1/8\nK:G\nGABc|\n", "no tune with notes (X:1: ZeroDivisionError"),
    # music21 takes ~1 minute on M:1000/4 and never finishes M:99999999/1
    "meter-1000.abc": ("X:1\nM:1000/4\nL:1/8\nK:G\nGABc|\n", "meter M:1000/4 has 1000 beats a bar, more than"),
    "meter-huge.abc": ("X:1\nM:4/4\nL:1/8\nK:G\nGABc|[M:99999999/1]GABc|\n", "has 99999999 beats a bar"),
    # music21's beaming is quadratic in the bars: 1000 bars took 66 s
    "1000-bars.abc": ("X:1\nM:4/4\nL:1/8\nK:G\n" + "GABc|" * 1000 + "\n", "tune too long: 1000 bar lines"),
    "enormous-line.abc": ("X:1\nM:4/4\nL:1/8\nK:G\n" + "GABc " * 6000 + "\n", "tune too long: 30022 characters"),
    "note-of-50-million-beats.abc": ("X:1\nM:4/4\nL:1/8\nK:G\nG99999999|\n", "tune too long: 50000000 beats"),
    # music21 re-bars what overflows a bar after a pickup, in time that grows steeply: these took over a minute
    "bar-of-305-beats.abc": ("X:1\nM:6/8\nL:711/177\nK:D\n|:A|dfa agf|(3efg f3efg f3efg fe d2|d2^c|d3-d2:|\n",
                             "bar too long: 305 beats, more than the 160"),
    "note-of-100-beats.abc": ("X:1\nM:6/8\nL:1/8\nK:D\nA|d200|\n", "note too long: 100 beats, more than the 64"),
}

READABLE_ABC = {  # name -> (content, (notes, tempo) of the first tune read)
    "huge-tuplet.abc": ("X:1\nM:4/4\nL:1/8\nK:G\n(9999GAB|\n", (3, 120)),
    "latin-1.abc": (b"X:1\nT:Gr\xfc\xdfe \xff\nM:4/4\nL:1/8\nQ:1/4=96\nK:G\nGABc|\n", (4, 96)),
    "absurd-tempo.abc": ("X:1\nL:1/8\nQ:1/4=0.001\nK:G\nGABc|\n", (4, 120)),
    "midi-bytes-named.abc": (GOOD, (8, 120)),
    "some-tunes-broken.abc": ("X:1\nT:fine\nL:1/8\nK:G\nGABc|\n\nX:2\nL:1/0\nK:G\nGABc|\n\nX:3\nK:C\n|\n"
                              "\nX:4\nM:9999/4\nK:C\nC|\n", (4, 120)),
}


def write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Every file of the catalogue above, a folder named like a MIDI file, and a good phrase."""
    folder = tmp_path_factory.mktemp("bad")
    for name, (content, _) in {**BAD_MIDI, **READABLE_MIDI, **BAD_ABC, **READABLE_ABC}.items():
        write(folder, name, content)
    (folder / "folder.mid").mkdir()
    write_midi(folder / "good.mid", melody_from_tuples([(60 + i % 5, i * 0.5, 0.5) for i in range(16)]))
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEIMPRO_CACHE", str(tmp_path / "cache"))


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, command: str, path: Path, reason: str) -> None:
    assert code == 1, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"liveimpro {command}: error: {path}: "), err
    assert reason in err, err


# --- single-file commands ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*BAD_MIDI, "missing.mid", "folder.mid"])
def test_a_bad_midi_file_is_one_line_for_respond_vary_and_morph(files, tmp_path, capsys, name):
    reason = {"missing.mid": "no such file", "folder.mid": "is a folder, not a file"}.get(name) or BAD_MIDI[name][1]
    bad, good, out = files / name, files / "good.mid", tmp_path / "out"
    nowhere = tmp_path / "no-model"  # never loaded: the file is read first
    assert_one_line(*run_cli(capsys, "respond", bad, "-o", out / "answer.mid", "--model", nowhere),
                    "respond", bad, reason)
    assert_one_line(*run_cli(capsys, "vary", bad, "-o", out, "--model", nowhere), "vary", bad, reason)
    assert_one_line(*run_cli(capsys, "morph", bad, good, "-o", out, "--model", nowhere), "morph", bad, reason)
    assert_one_line(*run_cli(capsys, "morph", good, bad, "-o", out, "--model", nowhere), "morph", bad, reason)
    assert not out.exists()


@pytest.mark.parametrize("name", BAD_ABC)
def test_a_bad_abc_file_is_one_line_for_respond(files, tmp_path, capsys, name):
    bad = files / name
    assert_one_line(*run_cli(capsys, "respond", bad, "-o", tmp_path / "a.mid", "--model", tmp_path / "none"),
                    "respond", bad, BAD_ABC[name][1])


def test_vary_and_morph_read_only_midi(files, tmp_path, capsys):
    abc = files / "latin-1.abc"
    assert_one_line(*run_cli(capsys, "vary", abc, "-o", tmp_path), "vary", abc, "not a MIDI file (no MThd header)")


def test_a_special_file_named_mid_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    assert_one_line(*run_cli(capsys, "respond", fifo, "-o", tmp_path / "a.mid"), "respond", fifo,
                    "not a regular file")
    assert_one_line(*run_cli(capsys, "vary", fifo, "-o", tmp_path / "out"), "vary", fifo, "not a regular file")


def test_too_long_a_call_or_phrase_is_refused_before_any_model_is_loaded(tmp_path, capsys):
    song = tmp_path / "song.mid"
    write_midi(song, melody_from_tuples([(60 + i % 12, i * 0.5, 0.5) for i in range(600)]))  # 75 bars of 4/4
    assert_one_line(*run_cli(capsys, "respond", song, "-o", tmp_path / "a.mid", "--model", tmp_path / "none"),
                    "respond", song, "600 notes, more than the 512 a call may have")
    assert_one_line(*run_cli(capsys, "vary", song, "-o", tmp_path / "out", "--model", tmp_path / "none"),
                    "vary", song, "75 bars long, more than the 64 a phrase may have")


def test_commands_as_the_user_runs_them_print_one_line_and_no_traceback(files, tmp_path):
    bad = files / "cut-mid-track.mid"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVEIMPRO_CACHE": str(tmp_path / "cache")}
    for args in (["respond", bad, "-o", tmp_path / "a.mid"], ["vary", bad, "-o", tmp_path / "v"],
                 ["morph", files / "good.mid", bad, "-o", tmp_path / "m"],
                 ["evaluate", "--model", MODEL, "--data", tmp_path / "none", bad]):
        done = subprocess.run([sys.executable, "-m", "liveimpro", *map(str, args)], capture_output=True, text=True,
                              cwd=REPO, env=env, timeout=120)
        assert done.returncode == 1, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"{bad}: truncated MIDI file (track 1 declares" in done.stderr, done.stderr


# --- odd but readable files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", READABLE_MIDI)
def test_odd_but_valid_midi_files_are_read(files, name):
    pitches, tempo, track_name = READABLE_MIDI[name][1]
    melody = read_midi(files / name)
    assert [n.pitch for n in melody.notes] == pitches and melody.tempo == pytest.approx(tempo)
    if track_name:
        assert list(read_midi_tracks(files / name)) == [track_name]


@pytest.mark.parametrize("name", READABLE_ABC)
def test_odd_but_valid_abc_files_are_read(files, name):
    first = read_any(files / name)[0]
    assert (len(first.notes), first.tempo) == READABLE_ABC[name][1]


def test_a_call_with_an_absurd_tempo_and_no_note_offs_is_answered(files, tmp_path, capsys):
    call = write(tmp_path, "odd.mid", midi(b"\x00\xff\x51\x03\x00\x00\x01\x00\xff\x03\x02\xfe\xff"
                                           b"\x00\x90\x3c\x50\x60\x3e\x50\x60\x40\x50\x60\x41\x50\x60\xff\x2f\x00"))
    assert main(["respond", str(call), "-o", str(tmp_path / "answer.mid"), "--seed", "1"]) == 0
    answer = read_midi(tmp_path / "answer.mid")
    assert answer.notes and answer.tempo == 120  # 60 million beats a minute is no tempo: the default instead
    assert answer.notes[0].onset >= 3 * 0.2  # after the call's three notes (0.2 beats each)


def test_a_gap_no_midi_file_can_hold_is_not_written(tmp_path):
    with pytest.raises(MidiFileError, match="far.mid: cannot write: a gap of 600000 beats"):
        write_midi(tmp_path / "far.mid", melody_from_tuples([(60, 0, 1), (62, 600_001, 1)]))


# --- what music21 must never be given, and the timer behind it ----------------------------------------------

@pytest.mark.skipif(signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None),
                    reason="SIGALRM is taken (pytest-timeout's signal method?): the parse timer stays off")
def test_parsing_that_runs_too_long_is_given_up(monkeypatch):
    monkeypatch.setattr(scores, "MAX_METER_BEATS", 10**9)  # let the slow meter through to music21 ...
    monkeypatch.setattr(scores, "PARSE_SECONDS", 1.0)  # ... and give it a second instead of a minute
    with pytest.raises(MidiFileError, match=r"slow.abc X:1: ParseTimeout: gave up parsing after 1 s"):
        parse_abc_tune(AbcTune(0, "slow.abc X:1", "X:1\nM:1000/4\nL:1/8\nK:G\nGABc|\n"))


def test_the_timer_only_runs_in_the_main_thread():
    seen = []

    def parse_in_a_thread():
        with time_limit(0.01):
            threading.Event().wait(0.1)  # would be interrupted in the main thread
        seen.append("finished")

    worker = threading.Thread(target=parse_in_a_thread)
    worker.start()
    worker.join()
    assert seen == ["finished"]


# --- batch commands: skip, count, name ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(files, tmp_path_factory) -> Path:
    """A folder of good files and bad ones; the bad ones' expected reasons."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in ("empty.mid", "cut-mid-track.mid", "image.mid", "only-drums.mid", "smpte-division.mid",
                 "2-MB-of-notes.mid", "binary.abc", "meter-huge.abc", "some-tunes-broken.abc", "latin-1.abc",
                 "midi-bytes-named.abc", "running-status.mid"):
        (folder / name).write_bytes((files / name).read_bytes())
    (folder / "folder.mid").mkdir()  # a folder is not a file: not read
    for i in range(3):
        write_midi(folder / f"tune{i}.mid", melody_from_tuples([(60 + (i + k) % 7, k, 1) for k in range(8)]))
    return folder


SKIPPED_FILES = {"empty.mid": "empty file", "cut-mid-track.mid": "truncated MIDI file",
                 "image.mid": "not a MIDI file", "only-drums.mid": "no notes (only drums",
                 "smpte-division.mid": "SMPTE", "2-MB-of-notes.mid": "too many notes", "binary.abc": "no ABC tunes"}
SKIPPED_TUNES = {"meter-huge.abc X:1": "beats a bar", "some-tunes-broken.abc X:2": "ZeroDivisionError",
                 "some-tunes-broken.abc X:3": "no notes", "some-tunes-broken.abc X:4": "beats a bar"}


def test_evaluate_skips_counts_and_names_the_bad_files(corpus, capsys):
    from liveimpro.cli.evaluate import print_table

    code = main(["evaluate", "--model", str(MODEL), "--data", str(corpus / "no-dataset"), "--json", str(corpus)])
    assert code == 0
    (report,) = json.loads(capsys.readouterr().out)["reports"]
    assert report["files"] == 15 and report["melodies"] == 7  # 3 tunes, running status, latin-1, 2 x .abc
    assert {Path(s["file"]).name: s["reason"] for s in report["skipped_files"]}.keys() == SKIPPED_FILES.keys()
    for skipped in report["skipped_files"]:
        assert SKIPPED_FILES[Path(skipped["file"]).name] in skipped["reason"]
    assert {s["tune"]: s["reason"] for s in report["skipped_tunes"]}.keys() == SKIPPED_TUNES.keys()
    print_table(report)
    out = capsys.readouterr().out
    assert "skipped 7 of 15 files: 1 empty file, 1 no ABC tunes, 1 no notes, 1 not a MIDI file" in out
    assert "skipped 4 tunes: " in out
    assert all(name in out for name in [*SKIPPED_FILES, *SKIPPED_TUNES])


def test_evaluate_with_nothing_readable_is_one_line(files, capsys):
    bad = [files / "empty.mid", files / "no-notes.abc"]
    code, err = run_cli(capsys, "evaluate", "--model", MODEL, "--data", files / "no-dataset", *bad)
    assert code == 1 and err.count("\n") == 1
    assert err == ("liveimpro evaluate: error: nothing to score: no melody with notes in 2 files "
                   "(1 file skipped: 1 empty file; 1 tune skipped: 1 no notes)\n")


def test_prepare_data_skips_counts_and_names_the_bad_files(corpus, tmp_path, capsys):
    prepare = load_script("prepare_data")
    out = tmp_path / "data"
    assert prepare.main([str(corpus), "--out", str(out), "--jobs", "2", "--quiet", "--kinds", "curve"]) == 0
    printed = capsys.readouterr().out
    assert "skipped files: 7 of 15" in printed
    for name, reason in {**SKIPPED_FILES, **SKIPPED_TUNES}.items():
        assert any(name in line and reason in line for line in printed.splitlines()), (name, printed)
    summary = json.loads((out / "dataset.json").read_text())["summary"]
    assert sum(entry["count"] for entry in summary["skipped_files"].values()) == 7
    assert summary["files"] == 8


def test_prepare_data_with_nothing_readable_is_one_line(files, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("empty.mid", "cut-mid-track.mid", "length-1-0.abc"):
        (folder / name).write_bytes((files / name).read_bytes())
    prepare = load_script("prepare_data")
    assert prepare.main([str(folder), "--out", str(tmp_path / "data"), "--jobs", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == ("prepare_data: error: no tunes with notes in 3 files (2 files skipped: 1 empty file, "
                   "1 truncated MIDI file; 1 tune skipped: 1 ZeroDivisionError: division by zero); "
                   "nothing to prepare\n")
