"""`liveimpro respond`: the engine's answer to a call from a file, offline, and heard through FluidSynth."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from liveimpro.live.scheduler import melody_events
from liveimpro.live.synth import render
from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import read_midi_tracks, write_midi

CALL = [(67, 0, 1), (71, 1, 0.5), (72, 1.5, 0.5), (74, 2, 1), (71, 3, 1), (72, 4, 0.5), (71, 4.5, 0.5),
        (69, 5, 0.5), (67, 5.5, 0.5), (69, 6, 2)]


def respond(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveimpro", "respond", *args], capture_output=True, text=True,
                          timeout=120)


def test_respond_answers_after_the_call_in_its_tempo_and_repeats_with_a_seed(tmp_path):
    call = tmp_path / "call.mid"
    write_midi(call, melody_from_tuples(CALL, tempo=96))
    outputs = []
    for name, seed in (("a.mid", "3"), ("b.mid", "3"), ("c.mid", "4")):
        result = respond(str(call), "-o", str(tmp_path / name), "--seed", seed, "--with-call")
        assert result.returncode == 0, result.stderr
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]  # the same seed, the same answer
    tracks = read_midi_tracks(tmp_path / "a.mid")
    answer = tracks["answer"]
    assert tracks["call"].tempo == answer.tempo == 96
    # the call fills two bars and ends on the bar line at beat 8; its end is known after a beat of
    # silence, so the answer comes in on the next bar line, as long as the call
    assert answer.notes and answer.notes[0].onset == pytest.approx(12)
    assert answer.end <= 12 + 8 + 1e-6
    assert answer.is_monophonic()
    twelfths = np.array([n.onset for n in answer.notes]) * 12
    assert np.allclose(twelfths, np.round(twelfths), atol=1e-3)  # on the beat grid (1/12 beat: mido ticks)


def test_an_answer_through_fluidsynth_is_audible(tmp_path):
    call = tmp_path / "call.mid"
    write_midi(call, melody_from_tuples(CALL, tempo=120))
    assert respond(str(call), "-o", str(tmp_path / "answer.mid"), "--seed", "1").returncode == 0
    answer = read_midi_tracks(tmp_path / "answer.mid")["answer"]
    audio = render(melody_events(answer.shift(-answer.notes[0].onset)), program=0)
    rms = float(np.sqrt(np.mean(audio ** 2)))
    assert rms > 0.005, rms


def test_respond_to_a_damaged_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    result = respond(str(bad), "-o", str(tmp_path / "out.mid"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "bad.mid" in result.stderr, result.stderr


# three bars of 3/4 (ends on beat 9): read from the notes alone, 4/4 with a one-beat pickup is likelier
THREE_FOUR = [(67, 0, 1), (71, 1, 1), (74, 2, 1), (72, 3, 2), (71, 5, 1), (69, 6, 1), (67, 7, 2)]


@pytest.mark.parametrize("written, option, line", [((3, 4), [], 12.0), ((4, 4), ["--meter", "3/4"], 12.0),
                                                   ((4, 4), [], 12.0)],
                         ids=["the file's 3/4", "--meter 3/4 over the file's 4/4", "the file's 4/4"])
def test_the_answer_keeps_to_the_bars_of_the_files_meter(tmp_path, written, option, line):
    """A DAW's clip starts on a bar line and carries its meter: the answer comes in on the first of
    its bar lines a beat after the call, lasts as many bars and ends with its cadence on one."""
    call = tmp_path / "call.mid"
    write_midi(call, melody_from_tuples(THREE_FOUR, tempo=100, time_signature=written))
    result = respond(str(call), "-o", str(tmp_path / "answer.mid"), "--seed", "1", *option)
    assert result.returncode == 0, result.stderr
    meter = (3, 4) if option or written == (3, 4) else (4, 4)
    assert "{}/{} bars from the file's start".format(*meter) in result.stdout, result.stdout
    answer = read_midi_tracks(tmp_path / "answer.mid")["answer"]
    assert answer.time_signature == meter
    bar = meter[0] * 4 / meter[1]
    # 3/4: bar 5; 4/4: bar 4 (read from the notes: 4/4 after a pickup, whose bar line is at 13)
    assert answer.notes[0].onset == pytest.approx(line)
    assert answer.notes[-1].onset == pytest.approx(line + 3 * bar - (2 if bar == 4 else bar))  # the cadence
    assert answer.end <= line + 3 * bar + 1e-6
