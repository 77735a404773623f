"""Peak decimation of many channels at once (numpy only).

pyqtgraph's ``peak`` downsampling keeps each pixel column's minimum and maximum, so spikes
survive; it works curve by curve, which with many channels costs more than the drawing. This
does the same for every channel in one vectorised pass, on the project's samples x channels
layout (the reduction runs along contiguous rows, so all channels are reduced together).
"""

from __future__ import annotations

import numpy as np

__all__ = ["peak_decimate"]


def peak_decimate(
    x: np.ndarray, y: np.ndarray, bins: int, *, upper_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the minimum and maximum of each of ``bins`` equal runs of samples.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Sample times, ascending.
    y : ndarray, shape (n, channels)
        Values.
    bins : int
        Runs to reduce to (about the pixel width of the plot).
    upper_only : bool
        Keep only each run's maximum, at its last sample time: for a smooth positive signal
        such as an envelope, whose peaks are what thresholds are compared with, this draws
        its upper hull without the saw teeth of alternating minima and maxima.

    Returns
    -------
    x_out : ndarray, shape (m,)
        Each run's first and last sample time (``m = 2 * bins``); ``x`` itself when there
        are fewer than two samples per run (nothing to gain).
    y_out : ndarray, shape (m, channels)
        Minimum and maximum of each run, in alternating order (``y`` itself when not
        decimated). The oldest
        ``n mod bins`` samples are dropped: the newest must always be drawn.
    """
    n = len(x)
    per = n // max(bins, 1)
    if per < 2:
        return x, y
    start = n - per * bins
    runs = y[start:].reshape(bins, per, y.shape[1])
    edges = x[start:].reshape(bins, per)
    if upper_only:
        return edges[:, -1].copy(), runs.max(axis=1)
    out = np.empty((bins, 2, y.shape[1]), y.dtype)
    np.min(runs, axis=1, out=out[:, 0])
    np.max(runs, axis=1, out=out[:, 1])
    # Every other run goes max then min, so the line is drawn as vertical strokes joined
    # where they meet (min to min, max to max) instead of diagonals that make a moire.
    out[1::2] = out[1::2, ::-1]
    x_out = np.empty((bins, 2))
    x_out[:, 0] = edges[:, 0]
    x_out[:, 1] = edges[:, -1]
    return x_out.ravel(), out.reshape(2 * bins, y.shape[1])
