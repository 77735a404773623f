"""Causal windowed statistics with state carried across chunks, compiled with numba.

The pipeline's cost is per call, not per sample (benchmarks/RESULTS.md): a moving mean written
with numpy took six array calls per chunk; here it is one compiled loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["MovingMean", "RmsTkeoMeans"]


class MovingMean:
    """Causal moving mean over ``window_n`` samples, carried across chunk boundaries.

    The running sum is updated by what enters minus what leaves the window, so each call costs
    in proportion to the chunk, not the window, and the output does not depend on the chunking.

    Parameters
    ----------
    window_n : int
        Window length in samples.
    n_channels : int
        Number of columns.
    """

    def __init__(self, window_n: int, n_channels: int) -> None:
        self.window_n = window_n
        self._n_channels = n_channels
        self.reset()

    def reset(self) -> None:
        """Start from zeros."""
        self._ring = np.zeros((self.window_n, self._n_channels))
        self._sum = np.zeros(self._n_channels)
        self._position = np.zeros(1, dtype=np.int64)  # next ring row to overwrite

    def process(self, values: np.ndarray) -> np.ndarray:
        """Moving means of ``values`` (n_samples, n_channels), same shape."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty_like(values)
        _moving_mean(values, self._ring, self._sum, self._position, out)
        return out


class RmsTkeoMeans:
    """Sliding RMS and windowed Teager-Kaiser energy (as an amplitude) of the same signal.

    Same arithmetic as ``RmsEnvelope`` and ``TkeoEnvelope`` of :mod:`detection.envelope` side
    by side, in one compiled pass: ``psi[n] = x[n]**2 - x[n-1] * x[n+1]`` needs one sample of
    look-ahead, so the TKEO output is that of the signal one sample ago.

    Parameters
    ----------
    window_n : int
        Window length in samples (both means).
    n_channels : int
        Number of channels.
    """

    def __init__(self, window_n: int, n_channels: int) -> None:
        self.window_n = window_n
        self._n_channels = n_channels
        self.reset()

    def reset(self) -> None:
        """Start from zeros."""
        c = self._n_channels
        self._ring = np.zeros((self.window_n, 2 * c))
        self._sum = np.zeros(2 * c)
        self._position = np.zeros(1, dtype=np.int64)
        self._last_two = np.zeros((2, c))

    def process(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rms, tkeo)`` of a chunk (n_samples, n_channels), each that shape."""
        chunk = np.ascontiguousarray(chunk, dtype=np.float64)
        rms = np.empty_like(chunk)
        tkeo = np.empty_like(chunk)
        _rms_tkeo(chunk, self._last_two, self._ring, self._sum, self._position, rms, tkeo)
        return rms, tkeo


@njit(cache=True)
def _moving_mean(values, ring, sums, position, out):
    window_n = ring.shape[0]
    pos = position[0]
    for i in range(values.shape[0]):
        for ch in range(values.shape[1]):
            sums[ch] += values[i, ch] - ring[pos, ch]
            ring[pos, ch] = values[i, ch]
            out[i, ch] = sums[ch] / window_n
        pos = (pos + 1) % window_n
    position[0] = pos


@njit(cache=True)
def _rms_tkeo(chunk, last_two, ring, sums, position, rms, tkeo):  # noqa: PLR0917
    window_n = ring.shape[0]
    n_channels = chunk.shape[1]
    pos = position[0]
    for i in range(chunk.shape[0]):
        for ch in range(n_channels):
            x = chunk[i, ch]
            square = x * x
            psi = last_two[1, ch] * last_two[1, ch] - last_two[0, ch] * x
            last_two[0, ch] = last_two[1, ch]
            last_two[1, ch] = x
            sums[ch] += square - ring[pos, ch]
            ring[pos, ch] = square
            sums[n_channels + ch] += psi - ring[pos, n_channels + ch]
            ring[pos, n_channels + ch] = psi
            rms[i, ch] = sums[ch] / window_n
            tkeo[i, ch] = sums[n_channels + ch] / window_n
        pos = (pos + 1) % window_n
    position[0] = pos
    # The square roots in a separate pass: there they vectorise.
    _sqrt_of_positive(rms.ravel())
    _sqrt_of_positive(tkeo.ravel())


@njit(cache=True)
def _sqrt_of_positive(values):
    for k in range(values.size):
        values[k] = math.sqrt(max(values[k], 0.0))
