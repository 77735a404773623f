"""Ring buffers the acquisition thread fills and the display reads.

One writer (the acquisition thread) and any number of readers (the Qt timer, the terminal
view). A lock guards each write and each copy-out, which are both short; readers always get
copies, so they never see a half-written chunk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["DisplayBuffer", "DisplaySnapshot"]


@dataclass(frozen=True)
class DisplaySnapshot:
    """The last seconds of the processed signal, oldest first."""

    t: np.ndarray  # (n,) stream timestamps
    filtered_uv: np.ndarray  # (n, channels)
    envelope_uv: np.ndarray
    detection: np.ndarray
    above: np.ndarray  # bool
    excluded: np.ndarray  # bool


class DisplayBuffer:
    """Fixed-size history of the pipeline's per-sample outputs.

    Parameters
    ----------
    capacity : int
        Samples kept.
    n_channels : int
        Channels.
    """

    _FIELDS = ("filtered_uv", "envelope_uv", "detection")
    _FLAGS = ("above", "excluded")

    def __init__(self, capacity: int, n_channels: int) -> None:
        self.capacity = capacity
        self._t = np.full(capacity, np.nan)
        self._data = {f: np.zeros((capacity, n_channels), np.float32) for f in self._FIELDS}
        self._flags = {f: np.zeros((capacity, n_channels), bool) for f in self._FLAGS}
        self._end = 0
        self._lock = threading.Lock()

    @property
    def written(self) -> int:
        """Samples written so far."""
        return self._end

    def write(self, t: np.ndarray, **columns: np.ndarray) -> None:
        """Append a chunk: one keyword per field (filtered_uv, ..., above, excluded)."""
        m = len(t)
        if m == 0:
            return
        if m > self.capacity:
            t = t[-self.capacity :]
            columns = {k: v[-self.capacity :] for k, v in columns.items()}
            self._end += m - self.capacity
            m = self.capacity
        idx = (self._end + np.arange(m)) % self.capacity
        with self._lock:
            self._t[idx] = t
            for name, target in (*self._data.items(), *self._flags.items()):
                target[idx] = columns[name]
            self._end += m

    def snapshot(self, n: int | None = None) -> DisplaySnapshot:
        """Copy out the last ``n`` samples (all held samples by default)."""
        with self._lock:
            held = min(self._end, self.capacity)
            n = held if n is None else min(n, held)
            start = (self._end - n) % self.capacity
            return DisplaySnapshot(
                t=_ring_read(self._t, start, n),
                **{k: _ring_read(v, start, n) for k, v in self._data.items()},
                **{k: _ring_read(v, start, n) for k, v in self._flags.items()},
            )


def _ring_read(ring: np.ndarray, start: int, n: int) -> np.ndarray:
    """Copy ``n`` rows of a ring buffer from row ``start`` on, wrapping at the end."""
    # Two slices, not an index array: the display copies seconds of every channel per frame.
    stop = start + n
    if stop <= len(ring):
        return ring[start:stop].copy()
    return np.concatenate((ring[start:], ring[: stop - len(ring)]))
