"""The shared answer options: one default per setting, names that say what they set, old
spellings kept, default model folders found from any current folder, and the settings, the
random generator and the models built once, owned by the Responder."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from liveimpro.cli.options import (
    DEFAULT_LSTM,
    DEFAULT_VAE,
    add_answer_arguments,
    build_responder,
)
from liveimpro.music.settings import LiveSettings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_answer_arguments(parser)
    return parser.parse_args(argv)


def test_the_defaults_are_the_settings_own():
    built = build_responder(parse("--seed", "1")).settings
    assert built == LiveSettings()  # one default for each setting: the CLI takes LiveSettings'


def test_options_set_the_setting_of_their_name_and_old_spellings_still_work():
    new = parse("--lstm", "x", "--length-mode", "notes", "--length-ratio", "1.5", "--amount", "0.25")
    old = parse("--model", "x", "--length", "notes", "--length-ratio", "1.5", "--amount", "0.25")
    assert vars(new) == vars(old)
    assert (new.lstm, new.length_mode, new.amount) == (Path("x"), "notes", 0.25)


def test_the_responder_owns_the_settings_and_the_engine_does_not_replace_them():
    from liveimpro.live.engine import Engine
    from liveimpro.live.sinks import MemorySink

    responder = build_responder(parse("--temperature", "1.3", "--mode", "vary", "--amount", "0.7", "--seed", "2"))
    assert (responder.settings.temperature, responder.settings.mode, responder.settings.amount) == (1.3, "vary", 0.7)
    before = responder.settings
    Engine(responder, MemorySink())
    assert responder.settings is before
    assert responder.rng is responder.improviser._rng  # one generator for the whole session


def test_a_bad_setting_is_reported_before_a_model_loads():
    from liveimpro.errors import UserError

    with pytest.raises(UserError, match="top_p must be in range"):
        build_responder(parse("--top-p", "2", "--lstm", "/no/such/folder"))


def test_default_model_folders_come_from_the_package_not_the_current_folder(tmp_path):
    assert DEFAULT_LSTM.is_absolute() and (DEFAULT_LSTM / "card.json").exists()
    assert DEFAULT_VAE.is_absolute() and (DEFAULT_VAE / "card.json").exists()
    done = subprocess.run([sys.executable, "-m", "liveimpro", "sample", "-n", "1", "-o", str(tmp_path / "out"),
                           "--seed", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out").glob("*.mid"))


def test_adapt_can_be_turned_off_and_on_again_the_last_flag_wins():
    assert parse().adapt is True
    assert parse("--no-adapt").adapt is False
    assert parse("--no-adapt", "--adapt").adapt is True  # e.g. over a config file's adapt = false
