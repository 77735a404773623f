"""Detection accuracy against the simulator's ground truth: presets, cue-less sessions, confounds.

Each scenario is a simulated session generated and fed through the pipeline in 32-sample chunks
(with its cue markers just before the chunk they fall in, as live, when the scenario has cues):
the pipeline's output does not depend on chunking or on LSL, so the figures are deterministic
for a seed and cheap to compute. Scenarios:

- every preset on the ``real`` realism, with cues and without (``accuracy_<preset>_cued_*``,
  ``accuracy_<preset>_uncued_*``);
- the five original presets on the ``clean`` realism with cues, the figures the benchmark used
  to report (``accuracy_<preset>_clean_*``);
- confound scenarios with no mirror at all, each one phenomenon of ../shared/DOMAIN.md 8 on the
  clean signal (``accuracy_confound_<name>_*``): any mirror call there is false.

The figures and their goals are explained in benchmarks/RESULTS.md; detection/scoring.py says
how a detection is matched and scored.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from acquisition.simulator import SimOptions, SimulatedPatient, options_for
from benchmarks.results import Result
from detection.config import Config, PairConfig
from detection.events import State
from detection.pipeline import Pipeline
from detection.scoring import Score, score_trials

__all__ = ["CONFOUNDS", "Scenario", "SessionRun", "run", "run_session", "scenarios", "score"]

FS_HZ = 2000.0
CHUNK_N = 32
#: The patient rests this long first (a monitor calibrates on it).
INITIAL_REST_S = 7.0

#: Confound scenarios: one phenomenon each, on the clean stroke patient with no mirror at all.
CONFOUNDS: dict[str, dict[str, object]] = {
    "crosstalk": {"crosstalk_probability": 1.0},
    "posture": {
        "posture_probability": 0.4,
        "tonic_before_probability": 0.2,
        "late_burst_probability": 0.4,
    },
    "twitches": {"twitch_rate_per_min": 6.0, "passive_twitch_probability": 0.5},
    "ecg": {"ecg": "muscle", "ecg_uv": (100.0, 150.0), "ecg_beat_variation": 0.1},
    "drift_noise": {"drift_uv": (50.0, 300.0), "noise_wander": 0.3, "noise_floor_uv": (1.5, 8.0)},
}
_REAL_PRESETS = ("physiological", "congenital", "stroke", "demanding", "artefacts", "clinic")
_CLEAN_PRESETS = ("physiological", "congenital", "stroke", "demanding", "artefacts")


@dataclass(frozen=True)
class Scenario:
    """One kind of simulated session.

    Attributes
    ----------
    name : str
        Record prefix after ``accuracy_``.
    preset : str
        Simulator preset.
    options : SimOptions
        Every phenomenon of the session.
    cued : bool
        Whether the pipeline gets the cue markers.
    confound : bool
        A session with no mirror: held to the false-call goal of confounds.
    """

    name: str
    preset: str
    options: SimOptions
    cued: bool
    confound: bool = False


def scenarios(*, quick: bool) -> list[Scenario]:
    """The scenarios of a run (``quick``: one confound, one cue-less preset, few presets)."""
    out = []
    for preset in _REAL_PRESETS:
        for cued in (True, False):
            options = options_for(preset, "real")
            if not cued:
                options = dataclasses.replace(options, cue_stream=False)
            label = "cued" if cued else "uncued"
            out.append(Scenario(f"{preset}_{label}", preset, options, cued))
    for preset in _CLEAN_PRESETS:
        out.append(Scenario(f"{preset}_clean", preset, options_for(preset, "clean"), True))
    for name, changes in CONFOUNDS.items():
        options = dataclasses.replace(
            options_for("stroke", "clean"),
            mirror_probability=0.0,
            **changes,  # type: ignore[arg-type]
        )
        out.append(Scenario(f"confound_{name}", "stroke", options, True, confound=True))
    if quick:
        keep = {"stroke_cued", "congenital_uncued", "clinic_cued", "stroke_clean",
                "confound_crosstalk"}  # fmt: skip
        out = [s for s in out if s.name in keep]
    return out


@dataclass
class SessionRun:
    """What one simulated session gave: its score and when the pipeline calibrated."""

    score: Score
    calibrated_t: float | None
    trials: list[dict]


def run_session(scenario: Scenario, seed: int, seconds: float) -> SessionRun:
    """Simulate one session, feed it through the pipeline and score it."""
    patient = SimulatedPatient(
        scenario.preset,
        fs_hz=FS_HZ,
        seed=seed,
        initial_rest_s=INITIAL_REST_S,
        options=scenario.options,
    )
    n = round(seconds * FS_HZ)
    data = patient.generate(n)
    stamps = np.arange(n) / FS_HZ
    pairs = [PairConfig(name, f"{name}-L", f"{name}-R") for name in patient.pair_names]
    pipe = Pipeline(Config().with_pairs(pairs), FS_HZ, list(patient.labels))
    cues = patient.cues_between(0, n) if scenario.cued else []
    next_cue = 0
    trials: list[dict] = []
    onsets: list[dict] = []
    calibrated_t = None
    for start in range(0, n, CHUNK_N):
        # A cue reaches the pipeline just before the chunk it falls in, as it does live
        # (the pipeline keeps only its recent cues, so all of them up front would not do).
        while next_cue < len(cues) and cues[next_cue].index < start + CHUNK_N:
            pipe.add_cue(cues[next_cue].to_json(), cues[next_cue].index / FS_HZ)
            next_cue += 1
        result = pipe.process(data[start : start + CHUNK_N], stamps[start : start + CHUNK_N])
        for event in result.events:
            if event.kind == "trial":
                trials.append(event.payload)
            elif event.kind == "mirror_onset":
                onsets.append(event.payload)
            elif (
                event.kind == "status"
                and event.payload.get("state") == State.CALIBRATED
                and calibrated_t is None
            ):
                calibrated_t = event.decided_t
    truth = [t.to_dict(0.0) for t in patient.completed_trials(0, n)]
    score = score_trials(
        trials,
        truth,
        minutes=(seconds - INITIAL_REST_S) / 60.0,
        mirror_onsets=onsets,
        cued=scenario.cued,
    )
    return SessionRun(score, calibrated_t, trials)


def score(scenario: Scenario, *, seconds: float, seeds: tuple[int, ...]) -> tuple[Score, list]:
    """Run a scenario over several seeds: the summed score and each seed's calibration time."""
    total: Score | None = None
    calibrated = []
    for seed in seeds:
        session = run_session(scenario, seed, seconds)
        total = session.score if total is None else total.add(session.score)
        calibrated.append(session.calibrated_t)
    assert total is not None
    return total, calibrated


def _records(
    scenario: Scenario, total: Score, calibrated: list, seconds: float, conditions: str
) -> Iterator[Result]:
    prefix = f"accuracy_{scenario.name}"
    has_mirrors = total.detectable_mirrors > 0
    if has_mirrors:
        yield Result(
            f"{prefix}_clear_mirror_sensitivity",
            total.clear_mirror_sensitivity,
            "fraction",
            ">= 0.97" if total.clear_mirrors else "",
            f"{total.clear_mirrors} clear mirrors (>= 3x the noise floor, >= 150 ms); {conditions}",
        )
        yield Result(
            f"{prefix}_other_mirror_sensitivity",
            total.other_mirror_sensitivity,
            "fraction",
            "",
            f"{total.other_mirrors} smaller or shorter mirrors",
        )
    yield Result(
        f"{prefix}_false_mirrors_per_min",
        total.false_mirrors_per_minute,
        "per minute",
        "<= 0.2" if scenario.confound else "<= 0.5",
        f"{total.false_mirror_calls} false mirror calls"
        + ("; the scenario has no mirror at all" if scenario.confound else ""),
    )
    yield Result(
        f"{prefix}_movement_sensitivity",
        total.movement_sensitivity,
        "fraction",
        "",
        f"{total.movements} movements ({total.movements_unscorable} more during saturation or "
        "lift-off of their channel, not scored)",
    )
    yield Result(
        f"{prefix}_extra_activations_per_min",
        total.extra_activations_per_minute,
        "per minute",
        "",
        f"{total.extra_activations} detected trials that match no movement",
    )
    if not scenario.cued:
        yield Result(
            f"{prefix}_active_side_accuracy",
            total.active_side_accuracy,
            "fraction",
            "",
            f"{total.side_checked} movements (severe symmetric mirrors, gain > 0.8 within "
            "+-2 ms, not counted)",
        )
    for ramp, bias_goal, lag_bias, lag_iqr in (("fast", "+- 15", "+- 10", "<= 30"),
                                               ("slow", "", "+- 20", "<= 60")):  # fmt: skip
        span = "ramps up to 300 ms" if ramp == "fast" else "ramps of 0.3-1 s"
        onset = total.onset(ramp)
        if onset.n:
            yield Result(f"{prefix}_onset_bias_ms_{ramp}", onset.median, "ms", bias_goal,
                         f"signed median, {onset.n} onsets, {span}")  # fmt: skip
            yield Result(f"{prefix}_onset_iqr_ms_{ramp}", onset.iqr, "ms", "", span)
        lag = total.lag(ramp)
        if lag.n:
            yield Result(f"{prefix}_lag_bias_ms_{ramp}", lag.median, "ms", lag_bias,
                         f"trial lag_ms, signed median, {lag.n} mirrors, {span}")  # fmt: skip
            yield Result(f"{prefix}_lag_iqr_ms_{ramp}", lag.iqr, "ms", lag_iqr, span)
        live = total.provisional_lag(ramp)
        if live.n:
            yield Result(f"{prefix}_provisional_lag_bias_ms_{ramp}", live.median, "ms", "",
                         f"mirror_onset lag_ms, {live.n} mirrors, {span}")  # fmt: skip
            yield Result(f"{prefix}_provisional_lag_iqr_ms_{ramp}", live.iqr, "ms", "", span)
    ratio = total.ratio
    if ratio.n:
        yield Result(f"{prefix}_ratio_bias", ratio.median, "fraction", "+- 0.05",
                     f"relative, signed median, {ratio.n} clear mirrors")  # fmt: skip
        yield Result(f"{prefix}_ratio_median_abs_error", ratio.median_abs, "fraction", "<= 0.15",
                     "relative")  # fmt: skip
    if scenario.options.realism == "real":
        never = sum(t is None for t in calibrated)
        latest = max(seconds if t is None else t for t in calibrated)
        yield Result(
            f"{prefix}_calibrated_after_s",
            latest,
            "s",
            "<= 15",
            f"latest over {len(calibrated)} sessions"
            + (f"; {never} never calibrated (counted as the session length)" if never else ""),
        )


def run(*, quick: bool) -> list[Result]:
    """Accuracy records of every scenario."""
    seconds = 120.0 if quick else 600.0
    seeds = (1,) if quick else (1, 2, 3)
    conditions = f"{len(seeds)} x {seconds:g} s simulated, seeds {list(seeds)}"
    results = []
    for scenario in scenarios(quick=quick):
        total, calibrated = score(scenario, seconds=seconds, seeds=seeds)
        results += list(_records(scenario, total, calibrated, seconds, conditions))
    return results


def main(argv: list[str]) -> None:
    """Print each scenario's score as one JSON line (one seed): for reading while changing the
    detector. ``python -m benchmarks.accuracy [--quick] [SECONDS] [NAME ...]``."""
    quick = "--quick" in argv
    numbers = [a for a in argv if a.replace(".", "", 1).isdigit()]
    names = {a for a in argv if not a.startswith("--") and a not in numbers}
    seconds = float(numbers[0]) if numbers else 120.0
    for scenario in scenarios(quick=quick):
        if names and scenario.name not in names:
            continue
        total, calibrated = score(scenario, seconds=seconds, seeds=(1,))
        line = {"scenario": scenario.name, **total.as_dict(), "calibrated_t": calibrated}
        sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
