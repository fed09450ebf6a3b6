import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveimpro.errors import UserError
from liveimpro.live.controls import (
    CONTROLS,
    DEFAULT_CCS,
    ControlMap,
    control_value,
    parse_cc_option,
)
from liveimpro.music.settings import LiveSettings


def test_default_mapping_moves_the_documented_settings():
    controls, settings = ControlMap(), LiveSettings()
    assert controls.apply(settings, 1, 0).temperature == pytest.approx(0.2)
    assert controls.apply(settings, 1, 127).temperature == pytest.approx(2.0)
    assert controls.apply(settings, 73, 0).top_p == pytest.approx(0.5)
    assert controls.apply(settings, 73, 127).top_p == pytest.approx(1.0)
    assert controls.apply(settings, 74, 64).length_ratio == pytest.approx(1.0)
    assert controls.apply(settings, 74, 0).length_ratio == pytest.approx(0.5)
    assert controls.apply(settings, 72, 127).amount == pytest.approx(1.0)
    assert [controls.apply(settings, 71, v).mode for v in (0, 42, 43, 85, 86, 127)] == [
        "answer", "answer", "vary", "vary", "morph", "morph"]
    assert controls.end_cc == 64


def test_apply_returns_a_new_settings_and_leaves_the_rest():
    settings = LiveSettings(temperature=0.7, channel=5, scale="D dorian")
    moved = ControlMap().apply(settings, 73, 127)
    assert settings.top_p == 0.95 and moved.top_p == 1.0
    assert (moved.temperature, moved.channel, moved.scale) == (0.7, 5, "D dorian")


def test_unmapped_controls_the_end_control_and_bad_values_change_nothing():
    controls, settings = ControlMap(), LiveSettings()
    assert controls.apply(settings, 7, 100) is settings  # volume: not ours
    assert controls.apply(settings, 64, 127) is settings  # phrase end: the PhraseDetector's business
    assert controls.apply(settings, 1, 128) is settings


@given(st.sampled_from([c for c in CONTROLS if c != "end"]), st.integers(0, 127))
def test_every_cc_value_gives_valid_settings(control, value):
    settings = ControlMap().apply(LiveSettings(), DEFAULT_CCS[control], value)
    LiveSettings(**vars(settings))  # passes validation
    assert control_value(control, value) is not None


def test_parse_cc_option_moves_the_named_controls():
    controls = parse_cc_option("temperature=21,length_ratio=22, mode = 23,end=64")
    assert controls.ccs == {"temperature": 21, "top_p": 73, "length_ratio": 22, "mode": 23, "amount": 72, "end": 64}
    assert controls.apply(LiveSettings(), 21, 127).temperature == pytest.approx(2.0)
    assert controls.apply(LiveSettings(), 1, 127).temperature == 0.9  # the mod wheel no longer moves it


def test_parse_cc_option_takes_the_old_names():
    assert parse_cc_option("length=22,morph=23").ccs == parse_cc_option("length_ratio=22,amount=23").ccs
    assert parse_cc_option("morph=23").apply(LiveSettings(), 23, 127).amount == pytest.approx(1.0)


def test_parse_cc_option_can_unmap_and_swap():
    assert parse_cc_option("end=none").end_cc is None
    swapped = parse_cc_option("temperature=74,length_ratio=1")
    assert swapped.ccs["temperature"] == 74 and swapped.ccs["length_ratio"] == 1
    taken = parse_cc_option("end=1")  # the default temperature CC gives way to an explicit choice
    assert taken.end_cc == 1 and "temperature" not in taken.ccs
    assert parse_cc_option("").ccs == DEFAULT_CCS


@pytest.mark.parametrize("text, message", [
    ("temperature=128", "CC number must be in range 0..127, got '128'"),
    ("temperature=-1", "CC number must be in range 0..127, got '-1'"),
    ("temperature=x", "CC number must be in range 0..127, got 'x'"),
    ("foo=3", "unknown control 'foo'; known: temperature, top_p, length_ratio, mode, amount, end"),
    ("temperature", "expected CONTROL=CC, got 'temperature'"),
    ("=3", "expected CONTROL=CC, got '=3'"),
    ("temperature=20,length=20", "CC 20 is given to both temperature and length_ratio"),
])
def test_parse_cc_option_errors_are_exact(text, message):
    with pytest.raises(UserError) as caught:
        parse_cc_option(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"channel": 16}, "channel must be in range 0..15, got 16"),
    ({"channel": -1}, "channel must be in range 0..15, got -1"),
    ({"temperature": 0}, "temperature must be > 0, got 0"),
    ({"top_p": 1.5}, "top_p must be in range (0, 1], got 1.5"),
    ({"length_mode": "beats"}, "length mode must be one of bars, notes, got 'beats'"),
    ({"length_ratio": 0}, "length ratio must be > 0, got 0"),
    ({"mode": "solo"}, "mode must be one of answer, vary, morph, got 'solo'"),
    ({"amount": 2}, "amount must be in range 0..1, got 2"),
    ({"scale": "H major"}, "unknown tonic 'h'; expected a letter A..G with an optional # or b"),
])
def test_live_settings_refuse_bad_values(kwargs, message):
    with pytest.raises(UserError) as caught:
        LiveSettings(**kwargs)
    assert str(caught.value) == message

