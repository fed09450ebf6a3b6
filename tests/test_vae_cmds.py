"""`liveimpro sample`, `morph` and `vary` run as the user runs them (subprocesses) on a tiny exported melody VAE:
the files they write, determinism by seed, morph ends = reconstructions, messages, one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
from test_vae import tiny_vae

from liveimpro.melody import melody_from_tuples
from liveimpro.midi.files import read_midi, write_midi
from liveimpro.vae.folder import save_vae_folder
from liveimpro.vae.melody_vae import MelodyVAE

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


def liveimpro(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "liveimpro", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "vae"
    save_vae_folder(folder, tiny_vae(seed=3), {"name": "tiny"})
    return folder


@pytest.fixture(scope="module")
def phrases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phrases")
    a = melody_from_tuples([(60, 0, 1), (62, 1, 1), (64, 2, 2), (67, 4, 1), (65, 5, 1), (64, 6, 2)])
    b = melody_from_tuples([(72, 0, 0.5), (71, 0.5, 0.5), (69, 1, 1), (67, 2, 3), (69, 5, 1), (72, 6, 2)])
    three_bars = melody_from_tuples([(60, 0, 2), (64, 2, 2), (67, 4, 4), (72, 8, 4)])
    for name, melody in (("a", a), ("b", b), ("three", three_bars)):
        write_midi(folder / f"{name}.mid", melody)
    return folder


def midi_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.mid"))
    for path in files:
        mido.MidiFile(path)  # readable by mido
    return files


def triples(melody):
    return [(n.pitch, n.onset, n.duration) for n in melody.notes]


def test_sample_writes_midi_and_a_piano_roll_as_the_seed_decides(model, tmp_path):
    done = liveimpro("sample", "-n", 3, "--bars", 2, "--meter", "3/4", "--seed", 7, "--model", model, "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    files = midi_files(tmp_path)
    assert [f.name for f in files] == ["sample-01.mid", "sample-02.mid", "sample-03.mid"]
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
    expected = MelodyVAE.load(model).sample(3, np.random.default_rng(7), bars=2, time_signature=(3, 4))
    assert any(melody.notes for melody in expected)
    for path, melody in zip(files, expected):
        assert triples(read_midi(path)) == triples(melody) and read_midi(path).time_signature == (3, 4)


def test_morph_steps_and_its_ends_are_the_reconstructions(model, phrases, tmp_path):
    done = liveimpro("morph", phrases / "a.mid", phrases / "b.mid", "--steps", 4, "--model", model, "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    files = midi_files(tmp_path)
    assert [f.name for f in files] == [f"morph-0{i}.mid" for i in range(1, 5)]
    assert (tmp_path / "morph.png").is_file()
    vae = MelodyVAE.load(model)
    a, b = read_midi(phrases / "a.mid"), read_midi(phrases / "b.mid")
    start, end = vae.decode(vae.encode(a)), vae.decode(vae.encode(b))
    assert start.notes and end.notes
    assert triples(read_midi(files[0])) == triples(start)
    assert triples(read_midi(files[-1])) == triples(end)


def test_vary_writes_the_call_and_its_variations_and_says_how_it_fitted(model, phrases, tmp_path):
    done = liveimpro("vary", phrases / "three.mid", "-n", 2, "--amount", 0.8, "--seed", 1, "--model", model,
                     "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "three.mid: 3 bars of 4/4; padded with 4 beats of rest" in done.stdout
    assert "cut back to 3 bars" in done.stdout
    files = midi_files(tmp_path)
    assert [f.name for f in files] == ["call.mid", "variation-01.mid", "variation-02.mid"]
    assert all(read_midi(f).end <= 12.0 for f in files[1:])
    assert (tmp_path / "variations.png").is_file()


@pytest.mark.parametrize("content, reason", [(b"garbage that is no MIDI", "not a MIDI file"), (b"", "empty file"),
                                             (None, "no such file")])
def test_bad_input_file_is_a_one_line_error(model, tmp_path, content, reason):
    bad = tmp_path / "bad.mid"
    if content is not None:
        bad.write_bytes(content)
    done = liveimpro("vary", bad, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and str(bad) in done.stderr and reason in done.stderr
    assert not (tmp_path / "out").exists()


def test_damaged_model_folder_is_a_one_line_error(model, phrases, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    data = bytearray((broken / "weights.pt").read_bytes())
    data[len(data) // 3] ^= 0x55
    (broken / "weights.pt").write_bytes(bytes(data))
    done = liveimpro("morph", phrases / "a.mid", phrases / "b.mid", "--model", broken, "-o", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and f"{broken / 'weights.pt'}: damaged" in done.stderr
