"""Causal windowed statistics with state carried across chunks."""

from __future__ import annotations

import numpy as np

__all__ = ["MovingMean"]


class MovingMean:
    """Causal moving mean over ``window_n`` samples, carried across chunk boundaries.

    The running sum is updated by what enters minus what leaves the window, so each call costs
    in proportion to the chunk, not the window.

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
        self._tail = np.zeros((self.window_n, self._n_channels))
        self._sum = np.zeros(self._n_channels)

    def process(self, values: np.ndarray) -> np.ndarray:
        """Moving means of ``values`` (n_samples, n_channels), same shape."""
        n = self.window_n
        extended = np.concatenate((self._tail, values), axis=0)
        change = extended[n:] - extended[:-n]  # entering minus leaving, per sample
        sums = self._sum + np.cumsum(change, axis=0)
        if len(sums):
            self._sum = sums[-1]
        self._tail = extended[len(extended) - n :]
        return sums / n
