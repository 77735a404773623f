"""Offline measures (detection.metrics) and the pure parts of offline analysis (detection.offline).

No LSL: synthetic signals with known coherence, delay and rest levels, and hand-made summaries
for the plain-language signatures.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from detection.config import load_config
from detection.metrics import (
    coherence,
    coherence_limit,
    cross_correlogram,
    mains_bins,
    segment_starts,
    spearman_ci,
)
from detection.offline import (
    DISCLAIMER,
    TRIAL_COLUMNS,
    PairSummary,
    TrialRow,
    pair_summary,
    quiet_calibration,
    signatures,
    trial_table,
)

FS = 1000.0
CONFIG = load_config(Path(__file__).parents[2] / "configs" / "default.toml")


def _band(noise: np.ndarray, low: float, high: float) -> np.ndarray:
    return signal.sosfilt(signal.butter(4, [low, high], "bandpass", fs=FS, output="sos"), noise)


def test_coherence_limit_is_rosenbergs():
    assert coherence_limit(10) == pytest.approx(1 - 0.05 ** (1 / 9))
    assert coherence_limit(10) == pytest.approx(0.2831, abs=1e-4)
    assert coherence_limit(1) == 1.0


def test_common_drive_shows_as_a_coherence_peak_in_its_band():
    rng = np.random.default_rng(0)
    n = 60 * int(FS)
    drive = _band(rng.standard_normal(n), 15, 30)
    x = drive + 0.7 * rng.standard_normal(n)
    y = drive + 0.7 * rng.standard_normal(n)
    coh = coherence(x, y, FS, segment_starts(np.ones(n, bool), int(FS)))
    assert coh.segments == 60
    beta = (coh.freqs_hz >= 17) & (coh.freqs_hz <= 28)
    outside = (coh.freqs_hz >= 60) & (coh.freqs_hz <= 300)
    assert np.all(coh.values[beta] > coh.limit)
    assert np.mean(coh.values[outside] > coh.limit) < 0.1


def test_independent_signals_exceed_the_limit_about_five_percent_of_the_time():
    rng = np.random.default_rng(1)
    n = 40 * int(FS)
    coh = coherence(rng.standard_normal(n), rng.standard_normal(n), FS, np.arange(40) * int(FS))
    share = np.mean(coh.values[1:-1] > coh.limit)
    assert 0.01 < share < 0.1


def test_mains_and_its_harmonics_are_masked():
    freqs = np.arange(0, 301.0)
    masked = mains_bins(freqs, 50)
    assert masked[[48, 50, 52, 100, 150, 250]].all()
    assert not masked[[1, 25, 47, 53, 75, 125]].any()
    assert mains_bins(freqs, None).tolist() == [True] + [False] * 300, "only DC"


def test_segments_lie_wholly_inside_usable_runs():
    usable = np.zeros(5000, bool)
    usable[100:2650] = True  # room for two 1000-sample segments
    usable[3000:3999] = True  # one sample short of a segment
    assert segment_starts(usable, 1000).tolist() == [100, 1100]


def test_cross_correlogram_finds_a_known_delay():
    rng = np.random.default_rng(2)
    n = 30 * int(FS)
    bursts = np.repeat(rng.random(n // 20) > 0.7, 20) * 1.0
    x = _band(rng.standard_normal(n), 20, 450) * (0.2 + bursts)
    delay = 12
    y = np.roll(x, delay) + 0.3 * _band(rng.standard_normal(n), 20, 450)
    cc = cross_correlogram(x, y, FS, segment_starts(np.ones(n, bool), int(FS)))
    assert cc.peak_lag_ms == pytest.approx(delay)
    assert cc.peak_r > 3 * cc.chance
    assert cc.half_width_ms is not None
    assert cc.half_width_ms < 60


def test_spearman_with_its_bootstrap_interval():
    x = np.arange(20.0)
    rho, (low, _high) = spearman_ci(x, x**2 + 1)
    assert rho == pytest.approx(1.0)
    assert low == pytest.approx(1.0)
    assert spearman_ci([1, 2], [3, 4]) is None


def test_quiet_calibration_finds_rest_between_bursts():
    """One side bursts every 0.5 s (never a whole second at rest); the other side rests."""
    rng = np.random.default_rng(3)
    n = 12 * int(FS)
    emg = _band(rng.standard_normal((n, 2)), 20, 450)
    t = np.arange(n) / FS
    bursts = ((t % 0.5) < 0.35) & (t > 1.0)
    amplitude = np.column_stack((np.full(n, 5.0), np.where(bursts, 400.0, 5.0)))
    data = (emg / emg.std(axis=0) * amplitude).astype(np.float32)
    quiet = quiet_calibration(CONFIG, FS, ["L", "R"], data)
    rest = {label: ch.rest_mean_uv for label, ch in quiet.calibration.channels.items()}
    assert rest["L"] == pytest.approx(4.7, rel=0.1), "a resting side keeps its whole rest"
    assert quiet.rest_s["L"] > 10.0
    assert rest["R"] < 15.0, "the pauses between bursts are found"
    assert quiet.rest_s["R"] >= 1.0
    assert quiet.peak_normalised == ("R",), "only the side that contracted gets a peak MVC"
    assert quiet.calibration.channels["R"].mvc_uv > 250  # bursts fill 70 % of 0.5 s


def _row(number: int, **fields) -> TrialRow:
    """A unimanual trial of the left side with mirror activity, changed by ``fields``."""
    t = 2.0 * number
    values = {
        "trial": number,
        "pair": "FDI",
        "active_side": "left",
        "t_onset_s": t,
        "t_offset_s": t + 1.0,
        "duration_s": 1.0,
        "mirror": True,
        "ratio": 0.3,
        "ratio_norm": None,
        "lag_ms": 20.0,
        "grade": 3,
        "bimanual": False,
        "quality": "",
        "active_uv": None,
        "mirror_uv": None,
        "t_onset": 100.0 + t,
        "t_offset": 101.0 + t,
    }
    return TrialRow(**{**values, **fields})


def _summary(lags: list[float], *, ratios: list[float] | None = None, force=None) -> PairSummary:
    rows = [
        _row(
            i + 1,
            ratio=(ratios or [0.3] * len(lags))[i],
            lag_ms=lag,
            active_uv=None if force is None else force[i],
        )
        for i, lag in enumerate(lags)
    ]
    return pair_summary("FDI", rows, contraction_s=0.0)


def test_timing_needs_ten_trials():
    lines = signatures(_summary([0.5, 1.0, -1.0]))
    assert "at least 10 are needed" in lines[0]
    assert lines[-1] == DISCLAIMER


@pytest.mark.parametrize(
    ("lags", "layer"),
    [
        (np.linspace(-3, 3, 14), "Layer I"),
        (np.linspace(20, 45, 14), "Layer II"),
        (np.concatenate((np.linspace(60, 300, 14), [400.0])), "Layer III"),
    ],
)
def test_timing_signatures_name_a_layer_with_their_interval(lags, layer):
    timing = signatures(_summary(list(lags)))[0]
    assert f"({layer})" in timing
    assert "95 % CI" in timing
    assert f"{len(lags)} trials" in timing


def test_force_dependence_with_interval():
    force = list(np.linspace(50, 500, 15))
    ratios = list(np.linspace(0.05, 0.4, 15))
    summary = _summary([30.0] * 15, ratios=ratios, force=force)
    text = next(line for line in signatures(summary) if line.startswith("Force dependence"))
    assert "rho +1.00" in text
    assert "Layer II" in text


def test_statements_describe_and_never_diagnose():
    for lags in ([1.0] * 12, [25.0] * 3, []):
        for line in signatures(_summary(lags)):
            assert "diagnos" not in line.lower() or line == DISCLAIMER
            assert "patient has" not in line.lower()


def test_short_synchrony_data_gives_no_statement():
    line = next(s for s in signatures(_summary([1.0] * 12)) if s.startswith("Synchrony"))
    assert "at least 30 s" in line


#: The keys of a pair's entry in summary.json, in their order (other programs read them).
PAIR_KEYS = [
    "pair",
    "trials",
    "bimanual",
    "excluded",
    "with_mirror",
    "mirror_fraction",
    "espay_bin",
    "median_ratio",
    "median_lag_ms",
    "lag_ci_ms",
    "lag_iqr_ms",
    "median_grade",
    "force_dependence",
    "contraction_s",
    "coherence",
    "coherence_rectified",
    "correlogram",
]
COHERENCE_KEYS = [
    "segments",
    "limit",
    "beta_share_above_limit",
    "broadband_share_above_limit",
    "beta_peak",
]


def _full_summary() -> PairSummary:
    """A summary with every part filled: lag interval, force dependence, synchrony measures."""
    rng = np.random.default_rng(4)
    n = 40 * int(FS)
    drive = _band(rng.standard_normal(n), 15, 30)
    x = drive + 0.7 * rng.standard_normal(n)
    y = drive + 0.7 * rng.standard_normal(n)
    starts = segment_starts(np.ones(n, bool), int(FS))
    lags = list(np.linspace(20, 45, 14))
    force = list(np.linspace(50, 500, 14))
    ratios = list(np.linspace(0.05, 0.4, 14))
    rows = [
        _row(i + 1, ratio=ratios[i], lag_ms=lag, grade=2, active_uv=force[i])
        for i, lag in enumerate(lags)
    ]
    return pair_summary(
        "FDI",
        rows,
        contraction_s=40.0,
        coherence_emg=coherence(x, y, FS, starts, mains_hz=50),
        coherence_rectified=coherence(np.abs(x), np.abs(y), FS, starts, mains_hz=50),
        correlogram=cross_correlogram(np.abs(x), np.abs(y), FS, starts),
    )


def test_pair_summary_json_has_the_documented_keys_and_round_trips():
    summary = _full_summary()
    doc = summary.to_dict()
    assert list(doc) == PAIR_KEYS
    assert json.loads(json.dumps(doc)) == doc, "plain JSON types only: lists, not tuples"
    assert isinstance(summary.lag_ci_ms, tuple)
    assert doc["lag_ci_ms"] == list(summary.lag_ci_ms)
    assert list(doc["force_dependence"]) == ["rho", "ci", "trials"]
    assert doc["force_dependence"]["ci"] == list(summary.force_dependence.ci)
    for key in ("coherence", "coherence_rectified"):
        assert list(doc[key]) == COHERENCE_KEYS
        assert list(doc[key]["beta_peak"]) == ["freq_hz", "coherence"]
    assert list(doc["correlogram"]) == [
        "peak_lag_ms",
        "peak_r",
        "chance_r",
        "half_width_ms",
        "segments",
    ]
    empty = pair_summary("FDI", [], contraction_s=0.0).to_dict()
    assert list(empty) == PAIR_KEYS
    assert json.loads(json.dumps(empty)) == empty
    assert empty["lag_ci_ms"] is empty["coherence"] is empty["correlogram"] is None


def test_trial_rows_and_summaries_are_frozen():
    summary = _full_summary()
    parts = (
        _row(1),
        summary,
        summary.force_dependence,
        summary.coherence,
        summary.coherence.beta_peak,
        summary.correlogram,
    )
    for part in parts:
        field = dataclasses.fields(part)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(part, field, None)


def test_trial_table_measures_each_side_above_rest():
    times = np.arange(3000) / FS
    envelope = np.full((3000, 2), 3.0)
    envelope[1000:2000, 0] = 100.0  # left active
    envelope[1000:2000, 1] = 13.0
    trial = {
        "pair": "FDI",
        "active_side": "left",
        "t_onset": 1.0,
        "t_offset": 2.0,
        "mirror": True,
        "ratio": 0.1,
        "ratio_norm": None,
        "lag_ms": 10.0,
        "grade": 2,
        "bimanual": False,
        "quality": [],
    }
    (row,) = trial_table(
        [trial], times, envelope, [("FDI", 0, 1)], rest_power=[9.0, 9.0], t_start=0.5
    )
    assert row.t_onset_s == 0.5
    assert row.duration_s == 1.0
    assert row.active_uv == pytest.approx(math.sqrt(100**2 - 9), abs=0.01)
    assert row.mirror_uv == pytest.approx(math.sqrt(13**2 - 9), abs=0.01)
    assert row.quality == ""
    assert tuple(row.to_dict()) == TRIAL_COLUMNS, "the columns of trials.csv, in order"
