"""The biofeedback rules without Qt: shaping, the 100 ms hold, live ratios, decimation."""

from __future__ import annotations

import numpy as np
import pytest

from gui.decimate import peak_decimate
from gui.feedback_logic import ExceedanceTimer, ThresholdShaper, excess_uv, live_levels


def test_shaping_sets_the_next_block_to_80_percent_of_the_median():
    shaper = ThresholdShaper(0.5, shaping=True, block_trials=5)
    changes = [shaper.add(r) for r in (0.30, 0.50, 0.40, None, 0.20, 0.60)]
    # None does not count: the fifth counted trial (0.60) ends the block.
    assert changes[:5] == [None] * 5
    assert changes[5] == pytest.approx(0.8 * 0.40)
    assert shaper.threshold == pytest.approx(0.32)
    assert shaper.blocks == 1
    assert shaper.trials_in_block == 0
    for r in (0.1, 0.1, 0.2, 0.1, 0.1):
        shaper.add(r)
    assert shaper.threshold == pytest.approx(0.08)


def test_shaping_never_goes_below_the_floor_and_manual_mode_stays_put():
    shaper = ThresholdShaper(0.2, shaping=True, block_trials=2, floor=0.05)
    shaper.add(0.0)
    assert shaper.add(0.01) == pytest.approx(0.05)
    manual = ThresholdShaper(0.2, block_trials=1)
    assert manual.add(0.01) is None
    assert manual.threshold == 0.2
    manual.set_threshold(0.3)
    assert manual.threshold == 0.3
    with pytest.raises(ValueError, match="threshold"):
        manual.set_threshold(0)


def test_exceedance_needs_100_ms_above_threshold():
    timer = ExceedanceTimer(0.1)
    assert not timer.update(0.5, 0.2, 10.00)
    assert not timer.update(0.5, 0.2, 10.05)
    assert timer.update(0.5, 0.2, 10.10)
    # Dropping below restarts the count.
    assert not timer.update(0.1, 0.2, 10.12)
    assert not timer.update(0.5, 0.2, 10.15)
    assert timer.update(0.5, 0.2, 10.26)


def test_live_levels_remove_rest_in_power_and_normalise_by_mvc():
    n = 100
    env = np.column_stack([np.full(n, 50.0), np.full(n, 10.0)])
    rest = [3.0**2 + 1.0, 3.0**2 + 1.0]
    raw = live_levels(
        env, np.full(n, 40.0), True, rest_power_uv2=rest, on_threshold=10.0, mvc_span_uv=None
    )
    expected = excess_uv(env[:, 1], rest[1]) / excess_uv(env[:, 0], rest[0])
    assert raw.ratio == pytest.approx(expected)
    assert raw.effort_percent == pytest.approx(400.0)
    assert not raw.normalised
    norm = live_levels(
        env,
        np.full(n, 40.0),
        True,
        rest_power_uv2=rest,
        on_threshold=10.0,
        mvc_span_uv=[200.0, 100.0],
    )
    assert norm.normalised
    assert norm.ratio == pytest.approx(2 * expected)
    assert norm.effort_percent == pytest.approx(100 * excess_uv(env[:, 0], rest[0]) / 200)
    resting = live_levels(
        env, np.zeros(n), False, rest_power_uv2=rest, on_threshold=10.0, mvc_span_uv=None
    )
    assert resting.ratio == 0.0


def test_peak_decimation_keeps_extremes_of_every_channel():
    x = np.arange(1000, dtype=float)
    y = np.zeros((1000, 3), np.float32)
    y[501, 1] = 9.0
    y[10, 2] = -4.0
    xd, yd = peak_decimate(x, y, 100)
    assert xd.shape == (200,)
    assert yd.shape == (200, 3)
    assert yd[:, 1].max() == 9.0
    assert yd[:, 2].min() == -4.0
    assert xd[-1] == 999.0
    xu, yu = peak_decimate(x, y, 100, upper_only=True)
    assert xu.shape == (100,)
    assert yu[:, 1].max() == 9.0
    assert yu[:, 2].min() == 0.0
    # Fewer than two samples per run: nothing to gain, the data come back as they are.
    same_x, _ = peak_decimate(x[:150], y[:150], 100)
    assert len(same_x) == 150
