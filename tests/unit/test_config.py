"""Config loading: defaults, the shipped files, and one clear error for every bad key."""

from pathlib import Path

import pytest

from detection.config import (
    Config,
    ConfigError,
    check_for_rate,
    load_config,
    loads_config,
    to_dict,
)
from detection.errors import MirrorScopeError

CONFIGS = Path(__file__).parents[2] / "configs"
MINIMAL = """
[stream]
name = "Amp"

[[pairs]]
name = "FDI"
left = "FDI-L"
right = "FDI-R"
"""


def test_default_toml_matches_the_built_in_defaults():
    assert load_config(CONFIGS / "default.toml") == Config()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    assert isinstance(load_config(path), Config)


def test_stream_and_pairs_alone_are_enough():
    cfg = loads_config(MINIMAL)
    assert cfg.stream.name == "Amp"
    assert cfg.detector == Config().detector
    assert cfg.pairs[0].left == "FDI-L"


def test_round_trip_through_dict():
    cfg = loads_config(MINIMAL + "\n[detector]\nthreshold_sd = 4\n")
    assert loads_config(MINIMAL).replace("detector", threshold_sd=4.0) == cfg
    assert to_dict(cfg)["detector"]["threshold_sd"] == 4.0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[filter]\nlowpas_hz = 400", "filter.lowpas_hz: unknown key; did you mean 'lowpass_hz'?"),
        ("[filter]\norder = 'four'", "filter.order = 'four': expected an integer"),
        ("[filter]\norder = 2.5", "filter.order = 2.5: expected an integer"),
        ("[detector]\ntkeo = 1", "detector.tkeo = 1: expected true or false"),
        ("[filter]\nmains_hz = 55", "filter.mains_hz = 55: expected one of 50, 60, 'auto', 'off'"),
        ("[filter]\nmains_hz = '50'", "filter.mains_hz = '50': expected one of 50, 60"),
        ("[filter]\nhighpass_hz = -1.0", "filter.highpass_hz = -1.0: expected a value above 0.0"),
        (
            "[filter]\nhighpass_hz = 500.0",
            "filter.highpass_hz = 500.0: expected a value below filter.lowpass_hz (450.0)",
        ),
        ("[filter]\nhighpass_hz = nan", "filter.highpass_hz = nan: expected a finite number"),
        ("[detectr]\ntkeo = true", "detectr: unknown section; did you mean 'detector'?"),
        ("[grading]\ncut_points = [0.5, 0.2]", "grading.cut_points = [0.5, 0.2]: expected three"),
        ("[calibration]\nrest_s = 0.5", "calibration.rest_s = 0.5: expected a value at least 1.0"),
        ("stream = 3", "stream = 3: expected a table"),
    ],
)
def test_bad_values_name_key_value_and_expectation(extra, expected):
    text = MINIMAL.replace('[stream]\nname = "Amp"\n', '[stream]\nname = "Amp"\n' + extra + "\n")
    if extra.startswith("stream ="):
        text = extra + "\n[[pairs]]\nname='A'\nleft='x'\nright='y'\n"
    with pytest.raises(ConfigError) as info:
        loads_config(text, source="test.toml")
    message = str(info.value)
    assert expected in message
    assert message.startswith("invalid config test.toml:")
    assert isinstance(info.value, MirrorScopeError)


def test_a_pair_naming_the_same_channel_twice_is_refused():
    text = MINIMAL.replace('right = "FDI-R"', 'right = "FDI-L"')
    with pytest.raises(ConfigError, match=r"pairs\[0\].right = 'FDI-L': names the same channel"):
        loads_config(text)


def test_a_channel_in_two_pairs_is_refused():
    text = MINIMAL + '\n[[pairs]]\nname = "APB"\nleft = "FDI-L"\nright = "APB-R"\n'
    with pytest.raises(ConfigError, match=r"pairs\[1\].left = 'FDI-L': already used by pairs\[0\]"):
        loads_config(text)


def test_missing_required_sections_and_keys():
    with pytest.raises(ConfigError) as info:
        loads_config('[[pairs]]\nname = "FDI"\nleft = "a"\n')
    assert "stream: missing; expected a [stream] table" in str(info.value)
    assert "pairs[0].right: missing" in str(info.value)


def test_all_problems_are_reported_at_once():
    text = MINIMAL + "[filter]\norder = 'x'\nmains_hz = 7\n[envelope]\nwindow_s = -1\n"
    with pytest.raises(ConfigError) as info:
        loads_config(text)
    assert len(info.value.problems) == 3


def test_not_toml_and_unreadable_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[stream\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")


def test_cut_offs_are_checked_against_the_stream_rate():
    cfg = loads_config(MINIMAL + "[filter]\nhighpass_hz = 300.0\n")
    check_for_rate(cfg, 2000.0)
    with pytest.raises(
        ConfigError, match=r"filter.highpass_hz = 300.0: expected a value below 225"
    ):
        check_for_rate(cfg, 500.0)
