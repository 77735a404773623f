"""Detection accuracy against the simulator's ground truth, per preset.

The simulated patient is generated and fed through the pipeline in 32-sample chunks with its
cue markers, exactly as the live monitor would see it (the pipeline's output does not depend on
chunking or on LSL), so the figures are deterministic for a seed and cheap to compute.
"""

from __future__ import annotations

import numpy as np

from acquisition.simulator import SimulatedPatient
from benchmarks.results import Result
from detection.config import Config
from detection.pipeline import Pipeline
from detection.scoring import Score, score_trials

__all__ = ["PRESETS", "run", "score_preset"]

PRESETS = ("physiological", "congenital", "stroke", "demanding", "artefacts")
FS_HZ = 2000.0
CHUNK_N = 32


def score_preset(preset: str, *, seconds: float, seeds: tuple[int, ...]) -> Score:
    """Run the pipeline over simulated sessions of a preset and score them together."""
    total: Score | None = None
    for seed in seeds:
        patient = SimulatedPatient(preset, fs_hz=FS_HZ, seed=seed, initial_rest_s=7.0)
        n = round(seconds * FS_HZ)
        data = patient.generate(n)
        stamps = np.arange(n) / FS_HZ
        pipe = Pipeline(Config(), FS_HZ, list(patient.labels))
        cues = patient.cues_between(0, n)
        next_cue = 0
        trials = []
        for start in range(0, n, CHUNK_N):
            # A cue reaches the pipeline just before the chunk it falls in, as it does live
            # (the pipeline keeps only its recent cues, so all of them up front would not do).
            while next_cue < len(cues) and cues[next_cue].index < start + CHUNK_N:
                pipe.add_cue(cues[next_cue].to_json(), cues[next_cue].index / FS_HZ)
                next_cue += 1
            result = pipe.process(data[start : start + CHUNK_N], stamps[start : start + CHUNK_N])
            trials += [e.payload for e in result.events if e.kind == "trial"]
        truth = [t.to_dict(0.0) for t in patient.completed_trials(0, n)]
        score = score_trials(trials, truth, minutes=(seconds - 5.0) / 60.0)
        total = score if total is None else _merge(total, score)
    assert total is not None
    return total


def _merge(a: Score, b: Score) -> Score:
    return Score(
        minutes=a.minutes + b.minutes,
        movements_unscorable=a.movements_unscorable + b.movements_unscorable,
        movements=a.movements + b.movements,
        movements_found=a.movements_found + b.movements_found,
        detectable_mirrors=a.detectable_mirrors + b.detectable_mirrors,
        detectable_mirrors_found=a.detectable_mirrors_found + b.detectable_mirrors_found,
        false_mirror_calls=a.false_mirror_calls + b.false_mirror_calls,
        onset_errors_ms=a.onset_errors_ms + b.onset_errors_ms,
        lag_errors_ms=a.lag_errors_ms + b.lag_errors_ms,
        ratio_errors=a.ratio_errors + b.ratio_errors,
    )


def run(*, quick: bool) -> list[Result]:
    """Accuracy records for every preset."""
    seconds = 120.0 if quick else 600.0
    seeds = (1,) if quick else (1, 2, 3)
    results = []
    for preset in PRESETS:
        score = score_preset(preset, seconds=seconds, seeds=seeds)
        conditions = f"{len(seeds)} x {seconds:g} s simulated, seeds {list(seeds)}"
        has_mirrors = score.detectable_mirrors > 0
        results += [
            Result(
                f"accuracy_{preset}_mirror_sensitivity",
                score.mirror_sensitivity,
                "fraction",
                ">= 0.95" if has_mirrors else "",
                f"{score.detectable_mirrors} detectable mirrors; {conditions}"
                if has_mirrors
                else "no detectable mirror movements in this preset",
            ),
            Result(
                f"accuracy_{preset}_movement_sensitivity",
                score.movement_sensitivity,
                "fraction",
                "",
                f"{score.movements} movements ({score.movements_unscorable} more during "
                "saturation or lift-off of their channel, not scored)",
            ),
            Result(
                f"accuracy_{preset}_false_mirrors_per_min",
                score.false_mirrors_per_minute,
                "per minute",
                "<= 0.5",
                f"{score.false_mirror_calls} false mirror calls",
            ),
            Result(f"accuracy_{preset}_median_onset_error_ms", score.median_onset_error_ms, "ms"),
            Result(f"accuracy_{preset}_median_lag_error_ms", score.median_lag_error_ms, "ms"),
            Result(
                f"accuracy_{preset}_median_ratio_error",
                score.median_ratio_error,
                "fraction",
                "",
                "relative error of the trial ratio against the true gain",
            ),
        ]
    return results
