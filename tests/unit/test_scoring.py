"""The scorer of the accuracy benchmark, on detections made up from the truth itself."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from acquisition.simulator import SimulatedPatient, options_for
from detection.scoring import error_stats, score_trials

FS_HZ = 2000.0


def _truth(preset: str = "stroke", realism: str = "real", seconds: float = 300.0) -> list[dict]:
    patient = SimulatedPatient(preset, fs_hz=FS_HZ, seed=2, realism=realism)  # type: ignore[arg-type]
    return [t.to_dict(0.0) for t in patient.completed_trials(0, round(seconds * FS_HZ))]


def _perfect(truth: list[dict], *, onset_shift_s: float = 0.0, lag_shift_ms: float = 0.0) -> list:
    """A detector that finds every burst exactly, with the true side, lag and ratio."""
    out = []
    for record in truth:
        for k, (start, stop) in enumerate(record["bursts"]):
            out.append(
                {
                    "event": "trial",
                    "pair": record["pair"],
                    "active_side": record["active_side"],
                    "t_onset": start + onset_shift_s,
                    "t_offset": stop,
                    "mirror": record["mirror"],
                    "ratio": record["burst_ratios"][k] if record["mirror"] else 0.0,
                    "lag_ms": record["mirror_lag_ms"] + lag_shift_ms if record["mirror"] else None,
                    "quality": [],
                }
            )
    return out


def test_a_perfect_detector_scores_perfectly() -> None:
    truth = _truth()
    score = score_trials(_perfect(truth), truth, minutes=5.0)
    assert score.movements == sum(len(r["bursts"]) for r in truth)
    assert score.movement_sensitivity == 1.0
    assert score.clear_mirror_sensitivity == 1.0
    assert score.other_mirror_sensitivity in (1.0, None)
    assert score.false_mirror_calls == score.extra_activations == 0
    assert score.onset("fast").median == pytest.approx(0.0, abs=1e-6)
    assert score.lag("fast").median == pytest.approx(0.0, abs=1e-6)
    assert score.ratio.median_abs == pytest.approx(0.0, abs=1e-3)


def test_errors_are_signed_and_split_by_ramp() -> None:
    truth = _truth()
    score = score_trials(_perfect(truth, onset_shift_s=0.02, lag_shift_ms=-7.0), truth, minutes=5.0)
    fast, slow = score.onset("fast"), score.onset("slow")
    assert fast.median == pytest.approx(20.0, abs=1e-6)
    assert fast.iqr == pytest.approx(0.0, abs=1e-6)
    assert slow.n > 0  # the real realism has graded trials with ramps over 300 ms
    assert score.lag("fast").median == pytest.approx(-7.0, abs=1e-6)
    assert fast.n + slow.n == score.movements_found


def test_false_calls_extra_activations_and_wrong_sides() -> None:
    truth = _truth()
    detected = _perfect(truth)
    quiet = next(i for i, d in enumerate(detected) if not d["mirror"])
    detected[quiet]["mirror"] = True  # a mirror call where there is none
    detected.append({**detected[0], "t_onset": truth[-1]["span_t"][1] - 1.0, "mirror": True})
    flipped = next(i for i, d in enumerate(detected) if i != quiet and not d["mirror"])
    detected[flipped]["active_side"] = (
        "left" if detected[flipped]["active_side"] == "right" else "right"
    )
    score = score_trials(detected, truth, minutes=5.0)
    assert score.false_mirror_calls == 2
    assert score.extra_activations == 1
    assert score.active_side_errors == 1
    assert score.movements_found == score.movements - 1
    assert score.false_mirrors_per_minute == pytest.approx(0.4)


def test_a_severe_symmetric_mirror_without_cues_counts_from_either_side() -> None:
    patient = SimulatedPatient("congenital", fs_hz=FS_HZ, seed=1)
    truth = [t.to_dict(0.0) for t in patient.completed_trials(0, round(300 * FS_HZ))]
    symmetric = [r for r in truth if r["mirror_gain"] > 0.8 and abs(r["mirror_lag_ms"]) <= 2.0]
    assert symmetric
    detected = _perfect(truth)
    for d in detected:
        if any(d["t_onset"] == r["bursts"][0][0] for r in symmetric):
            d["active_side"] = "left" if d["active_side"] == "right" else "right"
    uncued = score_trials(detected, truth, minutes=5.0, cued=False)
    assert uncued.detectable_mirrors_found == uncued.detectable_mirrors
    assert uncued.active_side_errors == 0
    assert uncued.side_checked == uncued.movements - sum(len(r["bursts"]) for r in symmetric)
    cued = score_trials(detected, truth, minutes=5.0, cued=True)
    assert cued.active_side_errors > 0


def test_clear_mirrors_are_large_and_long_enough() -> None:
    options = dataclasses.replace(options_for("physiological", "clean"), mirror_probability=1.0)
    patient = SimulatedPatient("physiological", fs_hz=FS_HZ, seed=3, options=options)
    truth = [t.to_dict(0.0) for t in patient.completed_trials(0, round(600 * FS_HZ))]
    score = score_trials(_perfect(truth), truth, minutes=10.0)
    clear = [
        r for r in truth
        for k, ms in enumerate(r["mirror_burst_ms"])
        if r["mirror_amplitude_uv"] >= 3 * r["baseline_uv"] and ms >= 150.0
    ]  # fmt: skip
    assert score.clear_mirrors == len(clear)
    assert score.other_mirrors > 0  # tiny physiological mirrors are not clear


def test_the_live_mirror_onset_lag_is_scored_apart() -> None:
    truth = _truth()
    detected = _perfect(truth)
    onsets: list[dict[str, Any]] = [
        {"pair": d["pair"], "active_side": d["active_side"], "t": d["t_onset"] + 0.01,
         "lag_ms": d["lag_ms"] + 25.0}
        for d in detected if d["mirror"]
    ]  # fmt: skip
    score = score_trials(detected, truth, minutes=5.0, mirror_onsets=onsets)
    assert score.provisional_lag("fast").median == pytest.approx(25.0, abs=1e-6)
    assert score.lag("fast").median == pytest.approx(0.0, abs=1e-6)


def test_error_stats_of_nothing_and_of_something() -> None:
    assert error_stats([]).median is None
    stats = error_stats([-10.0, 0.0, 10.0, 20.0, 30.0])
    assert (stats.median, stats.iqr, stats.median_abs) == (10.0, 20.0, 10.0)


def test_scores_of_sessions_add_up() -> None:
    truth = _truth(seconds=120.0)
    one = score_trials(_perfect(truth), truth, minutes=2.0)
    both = one.add(one)
    assert both.movements == 2 * one.movements
    assert both.minutes == 4.0
    assert len(both.onset_errors_ms["fast"]) == 2 * len(one.onset_errors_ms["fast"])
