"""`liveimpro demo`, the README's main job: no hardware, the live engine on real (private JACK)
ports, and its files."""
from __future__ import annotations

import subprocess
import sys
import wave

import mido
import numpy as np


def test_demo_plays_calls_through_the_engine_and_writes_midi_wav_png(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liveimpro", "demo", "-o", str(tmp_path), "--seed", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "answered 2 calls" in result.stdout and "reaction" in result.stdout, result.stdout
    session = mido.MidiFile(tmp_path / "liveimpro-demo.mid")
    names = [next(m.name for m in track if m.type == "track_name") for track in session.tracks]
    assert names == ["call", "answer"]
    assert sum(m.type == "note_on" for m in session.tracks[1]) >= 2
    with wave.open(str(tmp_path / "liveimpro-demo.wav")) as wav:
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.sqrt(np.mean((audio / 32768.0) ** 2)) > 0.005
    assert (tmp_path / "liveimpro-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
