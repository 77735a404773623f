"""The accuracy benchmark in miniature: every scenario, one seed, 60 s, no LSL.

A change that breaks the simulator, the scorer or the detector fails here. On the clean signal
the bars are loose ones today's detector passes. On the real realism and the confound scenarios
the detector is known to fail (benchmarks/RESULTS.md): there the bars record today's figures,
one-sided, so that a fix passes and a regression does not.
"""

from __future__ import annotations

from functools import cache

import pytest

from benchmarks.accuracy import Scenario, run_session, scenarios
from detection.scoring import Score

SECONDS = 60.0
SEED = 1

#: Today's figures of the real and confound scenarios (seed 1, 60 s): movement sensitivity,
#: clear-mirror sensitivity, false mirror calls per minute.
TODAY: dict[str, tuple[float, float | None, float]] = {
    "physiological_cued": (1.0, 1.0, 0.0),
    "physiological_uncued": (1.0, 1.0, 0.0),
    "congenital_cued": (1.0, 1.0, 0.0),
    "congenital_uncued": (1.0, 0.2, 0.0),
    "stroke_cued": (1.0, 1.0, 0.0),
    "stroke_uncued": (1.0, 1.0, 0.0),
    "demanding_cued": (1.0, 1.0, 0.0),
    "demanding_uncued": (1.0, 1.0, 0.0),
    "artefacts_cued": (0.95, None, 0.0),
    "artefacts_uncued": (0.95, None, 0.0),
    "clinic_cued": (1.0, 0.67, 1.13),
    "clinic_uncued": (1.0, 0.67, 1.13),
    "confound_crosstalk": (1.0, None, 41.89),
    "confound_posture": (1.0, None, 4.53),
    "confound_twitches": (1.0, None, 9.06),
    "confound_ecg": (0.84, None, 0.0),
    "confound_drift_noise": (1.0, None, 0.0),
}
_BY_NAME = {s.name: s for s in scenarios(quick=False)}


@cache
def _score(name: str) -> tuple[Scenario, Score]:
    scenario = _BY_NAME[name]
    return scenario, run_session(scenario, SEED, SECONDS).score


def test_the_benchmark_has_every_preset_with_and_without_cues_and_each_confound() -> None:
    names = set(_BY_NAME)
    for preset in ("physiological", "congenital", "stroke", "demanding", "artefacts", "clinic"):
        assert {f"{preset}_cued", f"{preset}_uncued"} <= names
    assert {
        f"confound_{c}" for c in ("crosstalk", "posture", "twitches", "ecg", "drift_noise")
    } <= names
    quick = {s.name for s in scenarios(quick=True)}
    assert any(n.endswith("_uncued") for n in quick)
    assert any(n.startswith("confound_") for n in quick)


@pytest.mark.parametrize("preset", ["congenital", "stroke", "demanding"])
def test_clean_presets_pass_loose_bars(preset: str) -> None:
    _, score = _score(f"{preset}_clean")
    assert score.movements >= 8
    assert score.movement_sensitivity >= 0.9
    assert score.clear_mirrors >= 3
    assert score.clear_mirror_sensitivity >= 0.9
    assert score.false_mirrors_per_minute <= 0.5
    assert abs(score.onset("fast").median) <= 15.0


def test_clean_artefacts_make_no_mirror_call() -> None:
    _, score = _score("artefacts_clean")
    assert score.detectable_mirrors == 0
    assert score.false_mirror_calls == 0
    assert score.movement_sensitivity >= 0.6


@pytest.mark.parametrize("name", sorted(TODAY))
def test_real_and_confound_scenarios_are_no_worse_than_today(name: str) -> None:
    scenario, score = _score(name)
    movement, clear, false_per_min = TODAY[name]
    assert score.movements >= 4
    assert score.movement_sensitivity >= movement - 0.15, score.as_dict()
    if clear is not None:
        assert score.clear_mirror_sensitivity >= clear - 0.2, score.as_dict()
    assert score.false_mirrors_per_minute <= false_per_min + 2.0, score.as_dict()
    if scenario.confound:
        assert score.detectable_mirrors == 0  # a confound scenario has no mirror to find
    if not scenario.cued:
        assert score.active_side_accuracy is not None
