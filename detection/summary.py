"""Running per-pair summaries of a session, built from its events.

The same summaries serve the terminal view, the Qt window, the session report and offline
analysis, so they are computed in one place from the event stream alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PairStats", "SessionStats", "bootstrap_ci", "espay_bin"]

#: Mechanism statements need at least this many trials (DOMAIN.md section 2).
MIN_TRIALS_FOR_CI = 10


def bootstrap_ci(
    values: Iterable[float], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of the median.

    Parameters
    ----------
    values : iterable of float
        The sample.
    confidence : float
        Coverage.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Random seed (the interval is reproducible).

    Returns
    -------
    tuple of float | None
        ``(low, high)``, or None with fewer than two values.
    """
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if len(data) < 2:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(data[rng.integers(0, len(data), (n_resamples, len(data)))], axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def espay_bin(fraction: float) -> str:
    """Share of trials with mirror activity, binned as in Espay et al. 2005."""
    if fraction < 1 / 3:
        return "< 1/3"
    if fraction <= 2 / 3:
        return "1/3-2/3"
    return "> 2/3"


@dataclass
class PairStats:
    """What a pair has shown so far."""

    name: str
    trials: int = 0
    mirrors: int = 0
    bimanual: int = 0
    excluded: int = 0
    ratios: list[float] = field(default_factory=list)
    mirror_ratios: list[float] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    grades: list[int] = field(default_factory=list)
    last_trial: dict[str, Any] | None = None
    #: "rest", "active left", "active right", with " + mirror" while mirror activity is on.
    state: str = "rest"

    @property
    def mirror_fraction(self) -> float | None:
        """Share of (non-bimanual) trials with mirror activity."""
        counted = self.trials - self.bimanual
        return self.mirrors / counted if counted > 0 else None

    @property
    def median_lag_ms(self) -> float | None:
        """Median lag of mirror activity."""
        return float(np.median(self.lags_ms)) if self.lags_ms else None

    @property
    def lag_ci_ms(self) -> tuple[float, float] | None:
        """Bootstrap 95 % CI of the median lag (None below MIN_TRIALS_FOR_CI)."""
        if len(self.lags_ms) < MIN_TRIALS_FOR_CI:
            return None
        return bootstrap_ci(self.lags_ms)

    @property
    def median_ratio(self) -> float | None:
        """Median ratio of the trials with mirror activity."""
        return float(np.median(self.mirror_ratios)) if self.mirror_ratios else None

    @property
    def median_grade(self) -> int | None:
        """Median provisional grade over the trials (0 for trials without mirror)."""
        return int(np.median(self.grades)) if self.grades else None


class SessionStats:
    """Per-pair summaries, fed event payloads in order.

    Parameters
    ----------
    pairs : iterable of str
        Pair names, in display order.
    """

    def __init__(self, pairs: Iterable[str]) -> None:
        self.pairs: dict[str, PairStats] = {name: PairStats(name) for name in pairs}
        self.status: list[dict[str, Any]] = []

    def add(self, payload: Mapping[str, Any]) -> None:
        """Take one event payload into account."""
        kind = payload.get("event")
        if kind == "status":
            self.status.append(dict(payload))
            return
        pair = self.pairs.get(str(payload.get("pair")))
        if pair is None:
            return
        if kind == "activation_onset":
            pair.state = f"active {payload['side']}"
        elif kind == "mirror_onset":
            pair.state = f"active {payload['active_side']} + mirror"
        elif kind == "mirror_offset":
            pair.state = pair.state.replace(" + mirror", "")
        elif kind == "activation_offset":
            pair.state = "rest"
        elif kind == "trial":
            self._add_trial(pair, payload)

    @staticmethod
    def _add_trial(pair: PairStats, trial: Mapping[str, Any]) -> None:
        pair.trials += 1
        pair.last_trial = dict(trial)
        if trial.get("bimanual"):
            pair.bimanual += 1
            return
        if trial.get("ratio") is None:
            pair.excluded += 1
        else:
            pair.ratios.append(float(trial["ratio"]))
        if trial.get("mirror"):
            pair.mirrors += 1
            if trial.get("lag_ms") is not None:
                pair.lags_ms.append(float(trial["lag_ms"]))
            if trial.get("ratio") is not None:
                pair.mirror_ratios.append(float(trial["ratio"]))
        if trial.get("grade") is not None:
            pair.grades.append(int(trial["grade"]))

    def summary_lines(self) -> list[str]:
        """A plain-text session summary, one block per pair."""
        lines = []
        for p in self.pairs.values():
            fraction = p.mirror_fraction
            share = "-" if fraction is None else f"{100 * fraction:.0f} % ({espay_bin(fraction)})"
            lag = "-" if p.median_lag_ms is None else f"{p.median_lag_ms:.0f} ms"
            ci = p.lag_ci_ms
            if ci is not None:
                lag += f" (95 % CI {ci[0]:.0f} to {ci[1]:.0f})"
            elif p.lags_ms:
                lag += f" (CI needs >= {MIN_TRIALS_FOR_CI} trials)"
            ratio = "-" if p.median_ratio is None else f"{p.median_ratio:.2f}"
            grade = "-" if p.median_grade is None else str(p.median_grade)
            lines.append(
                f"{p.name}: {p.trials} trials, mirror activity in {share}; median lag {lag}; "
                f"median ratio {ratio}; provisional grade {grade}"
                + (f"; {p.bimanual} bimanual" if p.bimanual else "")
                + (f"; {p.excluded} with an excluded channel" if p.excluded else "")
            )
        return lines
