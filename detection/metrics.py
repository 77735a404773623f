"""Offline synchrony and association measures (DOMAIN.md section 2).

- EMG-EMG coherence (Welch, 1 s Hann segments without overlap) with the 95 % confidence limit
  of Rosenberg et al. 1989, ``1 - 0.05 ** (1 / (L - 1))`` for L segments; mains bins are masked.
- The cross-correlogram of the rectified signals with a shift-predictor band (each segment of
  one side paired with the next segment of the other: same spectra, no common drive).
- Spearman's rho with a percentile bootstrap interval (force dependence).

Segments come from a boolean mask of the samples to use (for example, active windows), so
nothing straddles a gap or a rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, stats

__all__ = [
    "Coherence",
    "Correlogram",
    "coherence",
    "coherence_limit",
    "cross_correlogram",
    "mains_bins",
    "segment_starts",
    "spearman_ci",
]


@dataclass(frozen=True)
class Coherence:
    """Magnitude-squared coherence of two signals."""

    freqs_hz: np.ndarray
    values: np.ndarray
    #: Number of disjoint segments averaged (L).
    segments: int
    #: 95 % confidence limit for zero coherence.
    limit: float
    #: True where the bin is masked (mains and its harmonics).
    masked: np.ndarray


@dataclass(frozen=True)
class Correlogram:
    """Cross-correlation of two rectified signals (positive lag: second signal later)."""

    lags_ms: np.ndarray
    r: np.ndarray
    #: Largest |r| of the shift predictor over the same lags (the chance level).
    chance: float
    peak_lag_ms: float
    peak_r: float
    #: Width of the peak at half its height above the chance level (None: no clear peak).
    half_width_ms: float | None
    segments: int


def coherence_limit(segments: int, alpha: float = 0.05) -> float:
    """Confidence limit of coherence for ``segments`` disjoint segments (Rosenberg 1989)."""
    if segments < 2:
        return 1.0
    return 1.0 - alpha ** (1.0 / (segments - 1))


def segment_starts(usable: np.ndarray, segment_n: int) -> np.ndarray:
    """Starts of disjoint ``segment_n``-sample segments lying wholly inside ``usable`` runs.

    Parameters
    ----------
    usable : ndarray of bool, shape (n,)
        Samples that may be used.
    segment_n : int
        Segment length.

    Returns
    -------
    ndarray of int
        Segment start indices, increasing.
    """
    usable = np.asarray(usable, dtype=bool)
    edges = np.diff(np.concatenate(([0], usable.astype(np.int8), [0])))
    starts: list[int] = []
    for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        starts.extend(range(int(a), int(b) - segment_n + 1, segment_n))
    return np.array(starts, dtype=int)


def mains_bins(
    freqs_hz: np.ndarray, mains_hz: float | None, half_width_hz: float = 2.0
) -> np.ndarray:
    """Bins within ``half_width_hz`` of the mains frequency or a harmonic, and the DC bin.

    The DC bin only says that both segments had a mean (removed before the transform).
    """
    masked = freqs_hz < 0.5
    if mains_hz:
        harmonic = np.round(freqs_hz / mains_hz)
        masked |= (harmonic >= 1) & (np.abs(freqs_hz - harmonic * mains_hz) <= half_width_hz)
    return masked


def _segments(x: np.ndarray, starts: np.ndarray, segment_n: int) -> np.ndarray:
    return (
        np.stack([x[s : s + segment_n] for s in starts])
        if len(starts)
        else np.zeros((0, segment_n))
    )


def coherence(
    x: np.ndarray,
    y: np.ndarray,
    fs_hz: float,
    starts: np.ndarray,
    *,
    segment_s: float = 1.0,
    mains_hz: float | None = None,
) -> Coherence:
    """Welch coherence over chosen disjoint segments.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        The two signals.
    fs_hz : float
        Sampling rate.
    starts : ndarray of int
        Segment starts (see :func:`segment_starts`).
    segment_s : float
        Segment length (1 s gives 1 Hz resolution).
    mains_hz : float | None
        Mains frequency whose bins (and harmonics) are masked.

    Returns
    -------
    Coherence
        The estimate with its confidence limit.
    """
    n = max(2, round(segment_s * fs_hz))
    window = signal.get_window("hann", n)
    xs = _segments(np.asarray(x, dtype=float), starts, n)
    ys = _segments(np.asarray(y, dtype=float), starts, n)
    fx = np.fft.rfft((xs - xs.mean(axis=1, keepdims=True)) * window, axis=1)
    fy = np.fft.rfft((ys - ys.mean(axis=1, keepdims=True)) * window, axis=1)
    freqs = np.fft.rfftfreq(n, 1.0 / fs_hz)
    if len(starts) == 0:
        values = np.zeros(len(freqs))
    else:
        sxy = np.abs(np.mean(fx * np.conj(fy), axis=0)) ** 2
        sxx = np.mean(np.abs(fx) ** 2, axis=0)
        syy = np.mean(np.abs(fy) ** 2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(sxx * syy > 0, sxy / (sxx * syy), 0.0)
    return Coherence(
        freqs_hz=freqs,
        values=values,
        segments=len(starts),
        limit=coherence_limit(len(starts)),
        masked=mains_bins(freqs, mains_hz),
    )


def _correlate(xs: np.ndarray, ys: np.ndarray, max_lag_n: int) -> np.ndarray:
    """Normalised cross-correlation summed over segment pairs, lags -max..max."""
    n = xs.shape[1]
    total = np.zeros(2 * max_lag_n + 1)
    energy_x = energy_y = 0.0
    lags = signal.correlation_lags(n, n)
    keep = np.abs(lags) <= max_lag_n
    for a, b in zip(xs, ys, strict=True):
        a = a - a.mean()
        b = b - b.mean()
        total += signal.correlate(b, a, mode="full", method="fft")[keep]
        energy_x += float(a @ a)
        energy_y += float(b @ b)
    if energy_x <= 0 or energy_y <= 0:
        return np.zeros_like(total)
    return total / np.sqrt(energy_x * energy_y)


def cross_correlogram(
    x: np.ndarray,
    y: np.ndarray,
    fs_hz: float,
    starts: np.ndarray,
    *,
    segment_s: float = 1.0,
    max_lag_ms: float = 100.0,
) -> Correlogram:
    """Cross-correlogram of the rectified signals over chosen segments.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Band-passed EMG of the two sides (``y`` later than ``x`` gives a positive lag).
    fs_hz : float
        Sampling rate.
    starts : ndarray of int
        Segment starts.
    segment_s : float
        Segment length.
    max_lag_ms : float
        Largest lag shown.

    Returns
    -------
    Correlogram
        The correlogram, its chance level and its central peak.
    """
    n = max(2, round(segment_s * fs_hz))
    max_lag_n = min(n - 1, round(max_lag_ms * fs_hz / 1000.0))
    xs = np.abs(_segments(np.asarray(x, dtype=float), starts, n))
    ys = np.abs(_segments(np.asarray(y, dtype=float), starts, n))
    lags_ms = np.arange(-max_lag_n, max_lag_n + 1) * 1000.0 / fs_hz
    if len(starts) == 0:
        r = np.zeros(len(lags_ms))
        return Correlogram(lags_ms, r, 0.0, 0.0, 0.0, None, 0)
    r = _correlate(xs, ys, max_lag_n)
    chance = 0.0
    if len(starts) >= 2:
        chance = float(np.max(np.abs(_correlate(xs, np.roll(ys, 1, axis=0), max_lag_n))))
    peak = int(np.argmax(r))
    height = r[peak] - chance
    half_width = None
    if height > 0 and r[peak] > chance:
        level = chance + height / 2
        lo, hi = peak, peak
        while lo > 0 and r[lo - 1] >= level:
            lo -= 1
        while hi < len(r) - 1 and r[hi + 1] >= level:
            hi += 1
        if lo > 0 and hi < len(r) - 1:
            half_width = float((hi - lo + 1) * 1000.0 / fs_hz)
    return Correlogram(
        lags_ms=lags_ms,
        r=r,
        chance=chance,
        peak_lag_ms=float(lags_ms[peak]),
        peak_r=float(r[peak]),
        half_width_ms=half_width,
        segments=len(starts),
    )


def spearman_ci(
    x: np.ndarray, y: np.ndarray, *, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, tuple[float, float]] | None:
    """Spearman's rho and its 95 % percentile bootstrap interval (None below 3 pairs)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), (n_resamples, len(x)))
    rx = stats.rankdata(x[draws], axis=1)
    ry = stats.rankdata(y[draws], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (rx * ry).sum(axis=1) / denom
    rhos = rhos[np.isfinite(rhos)]
    low, high = np.percentile(rhos, [2.5, 97.5])
    return rho, (float(low), float(high))
