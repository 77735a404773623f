"""A fixed-size history of per-sample values, addressed by absolute sample index."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["History", "last_true_index"]

#: Stands for "never": far enough in the past that no window reaches it.
NEVER = np.iinfo(np.int64).min // 4


class History:
    """The last ``capacity`` rows pushed, addressed by absolute sample index.

    Parameters
    ----------
    capacity : int
        How many rows are kept.
    n_columns : int | None
        Columns per row; ``None`` keeps a 1-D history (e.g. timestamps).
    dtype : numpy dtype
        Element type.
    """

    def __init__(self, capacity: int, n_columns: int | None, dtype: type = float) -> None:
        shape = (capacity,) if n_columns is None else (capacity, n_columns)
        self._data = np.zeros(shape, dtype=dtype)
        self.capacity = capacity
        #: Absolute index of the next row to be pushed.
        self.end = 0
        self._floor = 0

    @property
    def start(self) -> int:
        """Absolute index of the oldest row still held."""
        return max(self._floor, self.end - self.capacity)

    def skip_to(self, index: int) -> None:
        """Move the end forward to ``index``; rows skipped over are not held."""
        if index < self.end:
            raise ValueError(f"cannot skip back from {self.end} to {index}")
        self._data[:] = 0
        self.end = index
        self._floor = index

    def push(self, rows: np.ndarray) -> None:
        """Append rows (at most ``capacity`` at once)."""
        m = len(rows)
        if m > self.capacity:
            raise ValueError(f"cannot push {m} rows into a history of {self.capacity}")
        pos = self.end % self.capacity
        first = min(m, self.capacity - pos)
        self._data[pos : pos + first] = rows[:first]
        self._data[: m - first] = rows[first:]
        self.end += m

    def push_envelopes(
        self, detection: np.ndarray, amplitude: np.ndarray, power_sum: np.ndarray
    ) -> None:
        """Append rows ``[detection | amplitude | running sum of amplitude**2]``.

        For a history of ``3 * n_channels`` columns. ``power_sum`` (n_channels,) is the running
        sum before the first row, and is advanced in place over every row given, although only
        the last ``capacity`` rows are kept. Summing sample by sample keeps it independent of
        how the signal was chunked, and one compiled call replaces half a dozen array calls.
        """
        skip_n = max(0, len(detection) - self.capacity)
        _push_envelope_rows(
            self._data,
            self.end % self.capacity,
            skip_n,
            np.ascontiguousarray(detection, dtype=np.float64),
            np.ascontiguousarray(amplitude, dtype=np.float64),
            power_sum,
        )
        self.end += len(detection) - skip_n

    def get(self, start: int, stop: int, column: int | None = None) -> np.ndarray:
        """Return a copy of rows ``start`` to ``stop`` (absolute, stop exclusive).

        With ``column``, only that column (1-D): copying the rest would cost more than the
        lookup itself.
        """
        if not self.start <= start <= stop <= self.end:
            raise IndexError(
                f"rows {start}:{stop} are not held (history holds {self.start}:{self.end})"
            )
        idx = np.arange(start, stop) % self.capacity
        if column is None:
            return self._data[idx]
        return self._data[idx, column]

    def at(self, index: int) -> np.ndarray:
        """Return one row (absolute index)."""
        if not self.start <= index < self.end:
            raise IndexError(f"row {index} is not held (history holds {self.start}:{self.end})")
        return self._data[index % self.capacity]


def last_true_index(mask: np.ndarray, first_index: int, carry: np.ndarray) -> np.ndarray:
    """For each sample, the absolute index of the latest True at or before it, per column.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_samples, n_columns)
        The condition per sample.
    first_index : int
        Absolute index of ``mask[0]``.
    carry : ndarray of int64, shape (n_columns,)
        The answer for the sample before ``mask[0]`` (``NEVER`` if none).

    Returns
    -------
    ndarray of int64, shape (n_samples, n_columns)
        Absolute indices; ``NEVER`` where there has been no True yet.
    """
    index = np.arange(first_index, first_index + len(mask), dtype=np.int64)[:, None]
    marks = np.where(mask, index, NEVER)
    if len(marks):
        marks[0] = np.maximum(marks[0], carry)
    return np.maximum.accumulate(marks, axis=0)


@njit(cache=True)
def _push_envelope_rows(data, position, skip_n, detection, amplitude, power_sum):  # noqa: PLR0917
    capacity = data.shape[0]
    n_channels = detection.shape[1]
    for i in range(detection.shape[0]):
        row = (position + i - skip_n) % capacity
        for ch in range(n_channels):
            a = amplitude[i, ch]
            power_sum[ch] += a * a
            if i >= skip_n:
                data[row, ch] = detection[i, ch]
                data[row, n_channels + ch] = a
                data[row, 2 * n_channels + ch] = power_sum[ch]
