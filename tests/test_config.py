"""The config file (liveimpro/cli/config.py): its values are the defaults of duet's, respond's and
demo's options, flags override them, every mistake is one line naming the file, and `duet
--print-config` prints the settings in effect as a file that gives them back. Also the status
line's tempo source (Engine.status)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from liveimpro.cli import build_parser, main
from liveimpro.cli.status import status_line
from liveimpro.cli.options import add_answer_arguments, build_responder

REPO = Path(__file__).resolve().parents[1]

EXAMPLE = """\
in = "Keystation"
out = "Synth"
temperature = 1.2
top_p = 0.9
mode = "vary"
scale = "D dorian"
silence_beats = 2
record = "sessions"
adapt = false
io_process = "none"

[cc]
temperature = 21
end = 85
"""


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """$XDG_CONFIG_HOME in tmp_path; returns the path of the default config file there (not written)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "xdg" / "liveimpro" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def print_config(capsys, *argv: str) -> str:
    assert main(["duet", "--print-config", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def error_of(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_the_file_gives_the_defaults(xdg):
    xdg.write_text(EXAMPLE)
    args = parse("duet")
    assert (args.input, args.output, args.temperature, args.top_p, args.mode, args.scale) == \
        ("Keystation", "Synth", 1.2, 0.9, "vary", "D dorian")
    assert (args.silence_beats, args.adapt, args.channel, args.sync) == (2.0, False, 1, "bar")  # the rest: defaults
    assert args.record == xdg.parent / "sessions"  # a relative path is the file's folder's
    assert args.cc == "temperature=21,end=85"
    assert args.io_process == "none"  # the ports on duet's threads even on JACK


def test_flags_override_the_file(xdg):
    xdg.write_text(EXAMPLE)
    args = parse("duet", "--in", "Other", "--temperature", "0.9", "--adapt", "--no-record", "--cc", "end=64",
                 "--scale", "free")
    assert (args.input, args.temperature, args.adapt, args.record, args.cc, args.scale) == \
        ("Other", 0.9, True, False, "end=64", "free")  # 0.9 is the built-in default, and still wins
    assert args.output == "Synth"
    assert parse("duet", "--io-process").io_process == "auto"  # bare, as on the command line


def test_the_settings_are_built_from_the_file_in_the_one_place(xdg):
    xdg.write_text('temperature = 1.3\nmode = "answer"\nlength_mode = "notes"\nchannel = 3\nin = "only duet has it"\n')
    args = parse("respond", "call.mid", "-o", "answer.mid", "--seed", "1", "--top-p", "0.8")
    settings = build_responder(args).settings
    assert (settings.temperature, settings.top_p, settings.length_mode, settings.channel) == (1.3, 0.8, "notes", 2)
    assert not hasattr(args, "input")  # a key of another command is left alone
    assert parse("demo").temperature == 1.3


def test_a_plain_parser_of_the_answer_options_reads_no_file(xdg):
    xdg.write_text("temperature = 1.7\n")
    parser = argparse.ArgumentParser()
    add_answer_arguments(parser)
    assert parser.parse_args([]).temperature == 0.9


def test_an_explicit_file_wins_over_the_default_one(xdg, tmp_path):
    xdg.write_text("temperature = 1.7\n")
    (tmp_path / "stage.toml").write_text("temperature = 0.4\n")
    assert parse("duet", "--config", str(tmp_path / "stage.toml")).temperature == 0.4
    assert parse("duet", "--config=stage.toml").temperature == 0.4


def test_a_missing_explicit_file_is_an_error_and_a_missing_default_one_is_not(xdg, capsys):
    assert error_of(capsys, ["duet", "--config", "nope.toml", "--print-config"]) == \
        "liveimpro duet: error: nope.toml: no such config file\n"
    assert not xdg.exists()
    assert "(no config file at " in print_config(capsys)


@pytest.mark.parametrize("text, message", [
    ('temperature = "hot"\n', 'temperature must be a number, got "hot"'),
    ("tempo = 120\n", 'unknown key "tempo"; the keys are in, out, api, lstm, vae, soundfont, program, channel, '
                      "temperature, top_p, length_mode, length_ratio, mode, amount, scale, silence_beats, meter, "
                      "bars, sync, link, io_process, record, adapt, cc"),
    ('io_process = "alsa"\n', 'io_process must be one of "auto", "jack", "rtmidi", "none", got "alsa"'),
    ("top-p = 0.9\n", 'unknown key "top-p" (did you mean top_p?)'),
    ("channel = 17\n", "channel must be a whole number 1..16, got 17"),
    ("bars = 2.5\n", "bars must be a whole number >= 1, got 2.5"),
    ("adapt = 1\n", "adapt must be true or false, got 1"),
    ('meter = "3-4"\n', 'meter must be "N/D" with D one of 1, 2, 4, 8, 16, got "3-4"'),
    ('meter = "0/4"\n', 'meter must be "N/D" with N from 1 to 32, got "0/4"'),
    ("meter = 3\n", 'meter must be "N/D" with D one of 1, 2, 4, 8, 16, got 3'),
    ('mode = "jazz"\n', 'mode must be one of "answer", "vary", "morph", got "jazz"'),
    ("silence_beats = 0\n", "silence_beats must be a number > 0, got 0"),
    ("in = 3\n", "in must be a string, got 3"),
    ("record = 3\n", "record must be true, false or a path (a .mid file or a folder), got 3"),
    ("top_p = 2\n", "top_p must be in range (0, 1], got 2.0"),
    ("cc = 21\n", "cc must be a table of CONTROL = CC number, got 21"),
    ("[cc]\ntempo = 21\n", "cc.tempo is not a control; the controls are temperature, top_p, length_ratio, mode, "
                           "amount, end"),
    ("[cc]\nend = 200\n", 'cc.end must be a CC number 0..127 or "none", got 200'),
    ("[cc]\ntemperature = 21\nmode = 21\n", "cc: CC 21 is given to both temperature and mode"),
    ("temperature = 1.2\nmode = \n", "not valid TOML: Invalid value (at line 2, column 8)"),
    ("[cc\n", "not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 4)"),
])
def test_every_mistake_in_the_file_is_one_line_naming_the_file(xdg, capsys, text, message):
    xdg.write_text(text)
    shown = f"{xdg.parent.parent}/liveimpro/config.toml"
    for argv in (["duet", "--print-config"], ["duet"], ["demo"], ["respond", "no-such-call.mid", "-o", "x.mid"]):
        command = argv[0]
        assert error_of(capsys, argv) == f"liveimpro {command}: error: {shown}: {message}\n"


def test_the_default_file_is_named_from_home_and_follows_xdg_config_home(tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "liveimpro").mkdir(parents=True)
    (home / ".config" / "liveimpro" / "config.toml").write_text('temperature = "hot"\n')
    (tmp_path / "xdg" / "liveimpro").mkdir(parents=True)
    (tmp_path / "xdg" / "liveimpro" / "config.toml").write_text("temperature = 1.5\n")
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}

    def duet(**extra):
        return subprocess.run([sys.executable, "-m", "liveimpro", "duet", "--print-config"], cwd=tmp_path,
                              env={**env, "HOME": str(home), **extra}, capture_output=True, text=True, timeout=60)

    done = duet()
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ('liveimpro duet: error: ~/.config/liveimpro/config.toml: temperature must be a number, '
                           'got "hot"\n')
    done = duet(XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout)["temperature"] == 1.5
    assert done.stdout.startswith(f"# settings of liveimpro duet: the defaults, then {tmp_path}/xdg/liveimpro/"
                                  "config.toml, then the command line\n")


def test_print_config_round_trips(xdg, tmp_path, capsys):
    xdg.write_text(EXAMPLE)
    first = print_config(capsys, "--temperature", "0.7", "--bars", "4", "--lstm", "models/x", "--record", "a.mid",
                         "--cc", "mode=23,end=none", "--api", "jack")
    values = tomllib.loads(first)
    assert (values["temperature"], values["top_p"], values["bars"], values["in"], values["api"]) == \
        (0.7, 0.9, 4, "Keystation", "jack")
    assert values["lstm"] == str(tmp_path / "models" / "x")  # absolute: the file may go anywhere
    assert values["record"] == str(tmp_path / "a.mid") and values["adapt"] is False
    assert values["cc"] == {"temperature": 1, "top_p": 73, "length_ratio": 74, "mode": 23, "amount": 72, "end": "none"}
    xdg.write_text(first)  # the output is the file: the same settings back
    assert print_config(capsys) == first
    other = tmp_path / "elsewhere" / "settings.toml"
    other.parent.mkdir()
    other.write_text(first)  # elsewhere too; only the comment naming the file differs
    again = print_config(capsys, "--config", str(other))
    assert again.splitlines()[1:] == first.splitlines()[1:]
    assert again.splitlines()[0] == (f"# settings of liveimpro duet: the defaults, then {other}, "
                                     "then the command line")


def test_print_config_names_what_is_not_set_and_false_for_no_recording(xdg, capsys):
    out = print_config(capsys, "--no-record", "--no-adapt")
    assert '# in = "Keystation"  # not set: a virtual port "liveimpro in"\n' in out
    assert '# io_process = "none"  # not set: the real-time I/O process (on JACK when a server runs' in out
    assert "\nrecord = false\n" in out and "\nadapt = false\n" in out
    assert "\n\n[cc]\ntemperature = 1\n" in out


def test_print_config_checks_the_settings_and_neither_loads_a_model_nor_opens_a_port(xdg, tmp_path):
    probe = ("import sys\nfrom liveimpro.cli import main\n"
             "code = main(['duet', '--print-config', '--api', 'winmm', '--lstm', 'no/such/folder'])\n"
             "print(code, 'torch' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stderr == "0 False\n"  # winmm: no such MIDI system here, and no port was tried
    assert 'api = "winmm"' in done.stdout
    done = subprocess.run([sys.executable, "-m", "liveimpro", "duet", "--print-config", "--top-p", "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "liveimpro duet: error: top_p must be in range (0, 1], got 2.0\n"


def test_the_meter_comes_from_the_file_or_the_flag_and_is_printed(xdg, capsys):
    assert parse("duet").meter == "4/4"
    assert "\nsilence_beats = 1.0\nmeter = \"4/4\"\n# bars = 4  # not set" in print_config(capsys)
    xdg.write_text('meter = " 6 / 8 "\nbars = 2\n')
    assert (parse("duet").meter, parse("duet").bars) == ("6/8", 2)
    assert tomllib.loads(print_config(capsys))["meter"] == "6/8"
    assert tomllib.loads(print_config(capsys, "--meter", "7/8 "))["meter"] == "7/8"  # the flag wins, written N/D
    assert parse("respond", "call.mid", "-o", "a.mid").meter is None  # duet's key only: a clip brings its own


@pytest.mark.parametrize("value, message", [
    ("3-4", "expected N/D with D one of 1, 2, 4, 8, 16, got '3-4'"),
    ("4/3", "expected N/D with D one of 1, 2, 4, 8, 16, got '4/3'"),
    ("0/8", "expected N/D with N from 1 to 32, got '0/8'"),
    ("three/4", "expected N/D with D one of 1, 2, 4, 8, 16, got 'three/4'"),
])
def test_a_bad_meter_flag_is_one_line_and_nothing_starts(xdg, capsys, value, message):
    for argv in (["duet", "--meter", value, "--print-config"], ["duet", "--meter", value, "--api", "winmm"]):
        assert error_of(capsys, argv) == f"liveimpro duet: error: --meter: {message}\n"


def test_record_names_a_session_file_or_a_folder_of_dated_ones(tmp_path):
    from liveimpro.cli.duet import _session_path
    from liveimpro.errors import UserError

    assert _session_path(tmp_path / "take.MID") == tmp_path / "take.MID"
    made = _session_path(tmp_path / "sessions" / "june")
    assert made.parent.is_dir() and made.parent == tmp_path / "sessions" / "june"
    assert made.name.startswith("liveimpro-session-") and made.suffix == ".mid"
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="^cannot make the recording folder .*a-file/x: Not a directory$"):
        _session_path(tmp_path / "a-file" / "x")


# --- the status line's tempo source ----------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():
    from liveimpro.live.engine import Engine
    from liveimpro.live.sinks import MemorySink

    parser = argparse.ArgumentParser()
    add_answer_arguments(parser)
    return Engine(build_responder(parser.parse_args(["--seed", "1"])), MemorySink())


def run_clock(engine, bpm: float, ticks: int, ago: float = 0.0) -> None:
    """Start, then `ticks` + 1 clock ticks at `bpm`, the last one `ago` seconds before now."""
    from liveimpro.midi.messages import CLOCK, START

    period, last = 60.0 / bpm / 24, time.perf_counter() - ago
    engine.clock.feed([START], last - ticks * period - 0.001)
    for i in range(ticks + 1):
        engine.clock.feed([CLOCK], last - (ticks - i) * period)


def test_the_status_names_the_tempo_source(engine):
    from liveimpro.midi.messages import STOP

    status = engine.status()
    assert (status["tempo_source"], status["tempo_bpm"], status["bar_beat"]) == ("player", status["bpm"], None)
    run_clock(engine, 90.0, 200, ago=5.0)  # running, but no tick for longer than the clock waits: lost
    assert (engine.status()["tempo_source"], engine.status()["bar_beat"]) == ("player", None)
    run_clock(engine, 120.0, 24 * 5 + 12)  # ticking up to now; the song position: beat 5.5, bar 2 beat 2
    status = engine.status()
    assert status["tempo_source"] == "clock" and status["tempo_bpm"] == pytest.approx(120.0, rel=1e-3)
    assert status["bar_beat"] == (2, 2)
    assert status_line(status).startswith("listening | tempo clock 120 bpm | 2:2 | key ? | temp 0.90 | answer | ")
    engine.clock.time_signature = (6, 8)  # a bar of 3 quarter beats, counted in eighths
    run_clock(engine, 120.0, 24 * 5 + 12)  # beat 5.5: bar 2 (from beat 3), its 6th eighth
    assert engine.status()["bar_beat"] == (2, 6)
    engine.clock.time_signature = (4, 4)
    engine.clock.feed([STOP], time.perf_counter())
    status = engine.status()
    assert (status["tempo_source"], status["bar_beat"]) == ("player", None)
    assert status_line(status).startswith("listening | tempo player - | key ? |")
