"""The typed records behind ``trials.csv`` and ``summary.json``: trials and pair summaries.

:func:`detection.offline.trial_table` and :func:`detection.offline.pair_summary` fill them; the
session report, the ``analyze`` command and :func:`detection.offline.signatures` read them by
attribute. Values are stored already rounded, as they are written, so that ``to_dict()`` gives
exactly the rows and JSON other programs read (same keys, in the same order, same rounding;
tuples become lists).

Pure: the standard library only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BetaPeak",
    "CoherenceSummary",
    "CorrelogramSummary",
    "ForceDependence",
    "PairSummary",
    "TrialRow",
]


def _plain(value: Any) -> Any:
    """A JSON-able copy: records become dicts in field order, tuples become lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TrialRow:
    """One trial of the trial table: one row of ``trials.csv``, columns in field order.

    Times ending in ``_s`` count from the first processed sample; ``t_onset`` and ``t_offset``
    are the stream's own timestamps.
    """

    trial: int
    pair: str
    active_side: str
    t_onset_s: float
    t_offset_s: float
    duration_s: float
    mirror: bool
    ratio: float | None
    ratio_norm: float | None
    lag_ms: float | None
    grade: int | None
    bimanual: bool
    #: The quality flags raised during the trial, joined by ``;``.
    quality: str
    #: Baseline-free mean envelope of each side over the active window (µV; the force measure).
    active_uv: float | None
    mirror_uv: float | None
    t_onset: float
    t_offset: float

    def to_dict(self) -> dict[str, Any]:
        """The row as a dict (keys :data:`detection.offline.TRIAL_COLUMNS`, in order)."""
        return _plain(self)


@dataclass(frozen=True)
class ForceDependence:
    """Spearman correlation of the mirror ratio with the voluntary side's strength."""

    rho: float
    #: Bootstrap 95 % interval of rho, ``(low, high)``.
    ci: tuple[float, float]
    #: Trials it rests on.
    trials: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``ci`` as a list)."""
        return _plain(self)


@dataclass(frozen=True)
class BetaPeak:
    """The largest coherence in the 15-30 Hz band."""

    freq_hz: float
    coherence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return _plain(self)


@dataclass(frozen=True)
class CoherenceSummary:
    """EMG-EMG coherence of a pair, reduced to what the signatures need."""

    #: Disjoint one-second segments averaged (L).
    segments: int
    #: 95 % confidence limit for zero coherence.
    limit: float
    #: Share of unmasked 15-30 Hz bins above the limit (None: too few segments).
    beta_share_above_limit: float | None
    #: Share of unmasked 5-250 Hz bins above the limit (None: too few segments).
    broadband_share_above_limit: float | None
    beta_peak: BetaPeak | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return _plain(self)


@dataclass(frozen=True)
class CorrelogramSummary:
    """The central peak of the cross-correlogram of the rectified EMG."""

    peak_lag_ms: float
    peak_r: float
    #: Largest |r| reached by chance (shift predictor).
    chance_r: float
    #: Width at half height above chance (None: no clear peak).
    half_width_ms: float | None
    segments: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return _plain(self)


@dataclass(frozen=True)
class PairSummary:
    """What one pair showed over the session (one entry of ``summary.json``'s ``pairs``)."""

    pair: str
    trials: int
    bimanual: int
    #: Unimanual trials without a ratio (a channel was unusable).
    excluded: int
    with_mirror: int
    #: Share of scored unimanual trials with mirror activity (None: none scored).
    mirror_fraction: float | None
    espay_bin: str | None
    median_ratio: float | None
    median_lag_ms: float | None
    #: Bootstrap 95 % interval of the median lag, ``(low, high)`` (None: too few trials).
    lag_ci_ms: tuple[float, float] | None
    lag_iqr_ms: float | None
    median_grade: int | None
    force_dependence: ForceDependence | None
    #: Seconds of contraction the synchrony measures rest on.
    contraction_s: float
    coherence: CoherenceSummary | None
    coherence_rectified: CoherenceSummary | None
    correlogram: CorrelogramSummary | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``summary.json`` (keys in field order; tuples as lists)."""
        return _plain(self)
