"""Scoring detected trials against the simulator's ground truth.

Both sides are plain dicts: detected ``trial`` events (DESIGN.md) and truth records (the
``<name>-Truth`` markers), with times in the same EMG time base. Each burst of a truth trial is
one movement (a tapping trial has several); a detected trial matches a movement when its onset
is within ``match_s`` and its active side is right.

A true mirror counts as *detectable* when its amplitude is at least ``min_mirror_snr`` times the
mirror channel's baseline RMS: the physiological preset's 0.5-5 % mirrors of a 50 uV contraction
are smaller than the noise and no detector should be expected to see them.

A movement during which its channel was saturated or lifted off (``excluding`` artefacts in the
truth) is not scored: the quality checks exclude such a channel on purpose. The count of these
is reported as ``movements_unscorable``; a mirror during which the mirror channel was so affected
is not counted as detectable either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Score", "score_trials"]


@dataclass
class Score:
    """How detected trials compare with the truth."""

    minutes: float
    movements_unscorable: int = 0
    movements: int = 0
    movements_found: int = 0
    detectable_mirrors: int = 0
    detectable_mirrors_found: int = 0
    false_mirror_calls: int = 0
    onset_errors_ms: list[float] = field(default_factory=list)
    lag_errors_ms: list[float] = field(default_factory=list)
    ratio_errors: list[float] = field(default_factory=list)

    @property
    def movement_sensitivity(self) -> float | None:
        """Share of true movements found as trials with the right active side."""
        return self.movements_found / self.movements if self.movements else None

    @property
    def mirror_sensitivity(self) -> float | None:
        """Share of detectable true mirrors called mirror."""
        if not self.detectable_mirrors:
            return None
        return self.detectable_mirrors_found / self.detectable_mirrors

    @property
    def false_mirrors_per_minute(self) -> float:
        """Mirror calls where the truth has none, per minute of session."""
        return self.false_mirror_calls / self.minutes if self.minutes > 0 else 0.0

    @staticmethod
    def _median_abs(values: list[float]) -> float | None:
        return float(np.median(np.abs(values))) if values else None

    @property
    def median_onset_error_ms(self) -> float | None:
        """Median absolute onset error of matched movements."""
        return self._median_abs(self.onset_errors_ms)

    @property
    def median_lag_error_ms(self) -> float | None:
        """Median absolute error of the trial lag for found mirrors."""
        return self._median_abs(self.lag_errors_ms)

    @property
    def median_ratio_error(self) -> float | None:
        """Median absolute relative error of the ratio against the true gain."""
        return self._median_abs(self.ratio_errors)

    def as_dict(self) -> dict[str, Any]:
        """The figures, for reports and JSON."""
        return {
            "minutes": round(self.minutes, 3),
            "movements": self.movements,
            "movements_unscorable": self.movements_unscorable,
            "movement_sensitivity": self.movement_sensitivity,
            "detectable_mirrors": self.detectable_mirrors,
            "mirror_sensitivity": self.mirror_sensitivity,
            "false_mirror_calls": self.false_mirror_calls,
            "false_mirrors_per_minute": self.false_mirrors_per_minute,
            "median_onset_error_ms": self.median_onset_error_ms,
            "median_lag_error_ms": self.median_lag_error_ms,
            "median_ratio_error": self.median_ratio_error,
        }


def score_trials(
    detected: Iterable[Mapping[str, Any]],
    truth: Iterable[Mapping[str, Any]],
    *,
    minutes: float,
    match_s: float = 0.3,
    min_mirror_snr: float = 2.0,
    excluding: tuple[str, ...] = ("saturation", "lift_off"),
) -> Score:
    """Compare detected trial events with truth records.

    Parameters
    ----------
    detected : iterable of dict
        ``trial`` event payloads.
    truth : iterable of dict
        Truth records (``TrialTruth.to_dict(t0)``) of the trials that finished; detections
        after the end of the last one's span are not scored.
    minutes : float
        Session length scored (for false calls per minute).
    match_s : float
        Largest onset difference for a detected trial to match a movement.
    min_mirror_snr : float
        Mirror amplitude over baseline RMS above which a true mirror is detectable.
    excluding : tuple of str
        Artefact kinds that make a channel unusable while they last.

    Returns
    -------
    Score
        The figures.
    """
    truth = list(truth)
    trials = [dict(t) for t in detected]
    if truth:
        # Detections after the last finished trial have no truth to be compared with yet.
        end_t = max(record["span_t"][1] for record in truth)
        trials = [t for t in trials if t["t_onset"] < end_t]
    used: set[int] = set()
    result = Score(minutes=minutes)
    for record in truth:
        mirror_true = bool(record["mirror"])
        detectable = mirror_true and (
            record["mirror_amplitude_uv"] >= min_mirror_snr * record["baseline_uv"]
        )
        for burst in record["bursts"]:
            spoilt = _affected(record, burst, excluding)
            if record["active_channel"] in spoilt:
                result.movements_unscorable += 1
                continue
            result.movements += 1
            if detectable and record["mirror_channel"] not in spoilt:
                result.detectable_mirrors += 1

            match = _closest(trials, used, burst[0], record["active_side"], match_s)
            if match is None:
                continue
            used.add(match)
            found = trials[match]
            result.movements_found += 1
            result.onset_errors_ms.append(1000.0 * (found["t_onset"] - burst[0]))
            if found["mirror"] and not mirror_true:
                result.false_mirror_calls += 1
            if detectable and record["mirror_channel"] not in spoilt and found["mirror"]:
                result.detectable_mirrors_found += 1
                if found["lag_ms"] is not None:
                    result.lag_errors_ms.append(found["lag_ms"] - record["mirror_lag_ms"])
                if found["ratio"] is not None and record["mirror_gain"] > 0:
                    gain = record["mirror_gain"]
                    result.ratio_errors.append((found["ratio"] - gain) / gain)
    # Mirror calls on trials that match no movement at all are false too.
    result.false_mirror_calls += sum(
        1 for i, t in enumerate(trials) if i not in used and t["mirror"]
    )
    return result


def _affected(
    record: Mapping[str, Any], burst: list[float], kinds: tuple[str, ...], margin_s: float = 0.5
) -> set[str]:
    """Channels with an excluding artefact overlapping a burst (with a margin)."""
    start, stop = burst[0] - margin_s, burst[1] + margin_s
    return {
        channel
        for artefact in record["artefacts"]
        if artefact["kind"] in kinds and artefact["t_start"] < stop and artefact["t_end"] > start
        for channel in artefact["channels"]
    }


def _closest(
    trials: list[dict[str, Any]], used: set[int], onset_t: float, side: str, within_s: float
) -> int | None:
    best, best_gap = None, within_s
    for i, trial in enumerate(trials):
        if i in used or trial["active_side"] != side:
            continue
        gap = abs(trial["t_onset"] - onset_t)
        if gap <= best_gap:
            best, best_gap = i, gap
    return best
