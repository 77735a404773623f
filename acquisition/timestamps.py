"""Timestamps of a regular stream: dejittered, with gaps and clock jumps kept visible.

liblsl's own dejitter (``proc_dejitter``) fits timestamps to the sample count and so hides a
gap: after a one-second outage its timestamps run on as if nothing had been missed, and stay
wrong for minutes (measured: 0.25 s off). Here the model is the same (t = t0 + n / fs, with a
slowly tracked offset for jitter and clock drift), but a sample further than
``gap_tolerance_s`` from the model starts a new segment and is reported as a jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

__all__ = ["TimeJump", "TimestampCleaner"]


@dataclass(frozen=True)
class TimeJump:
    """A discontinuity in the timestamps."""

    #: Index in the chunk of the first sample after the jump.
    index: int
    #: Size of the jump: positive for a gap (samples missing), negative for a clock going back.
    jump_s: float


class TimestampCleaner:
    """Gap-aware dejitter for one regular stream.

    Parameters
    ----------
    fs_hz : float
        Nominal sampling rate.
    dejitter : bool
        Smooth timestamps (else pass them through, still detecting jumps).
    gap_tolerance_s : float
        Deviations beyond this are jumps, not jitter.
    smoothing_s : float
        Time constant of the offset tracking (jitter averaging, clock drift following).
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        dejitter: bool = True,
        gap_tolerance_s: float = 0.05,
        smoothing_s: float = 10.0,
    ) -> None:
        self.fs_hz = float(fs_hz)
        self.dejitter = dejitter
        self.gap_tolerance_s = gap_tolerance_s
        self._settle_n = max(1, round(smoothing_s * fs_hz))
        self._alpha = 1.0 / self._settle_n
        self.reset()

    def reset(self) -> None:
        """Start a new segment with the next sample."""
        self._t0: float | None = None  # time of sample 0 of the segment (model)
        self._count = 0  # samples in the segment so far
        self._offset = 0.0  # smoothed deviation of raw timestamps from the model
        self._offset_sum = 0.0  # while settling: plain running mean of the deviations

    def process(self, raw: np.ndarray) -> tuple[np.ndarray, list[TimeJump]]:
        """Clean one chunk of timestamps.

        Parameters
        ----------
        raw : ndarray, shape (n,)
            Timestamps from the inlet (clock-synchronised).

        Returns
        -------
        cleaned : ndarray, shape (n,)
            Dejittered timestamps (or the raw ones when dejitter is off).
        jumps : list of TimeJump
            Discontinuities found in this chunk.
        """
        raw = np.asarray(raw, dtype=float)
        out = np.empty_like(raw)
        jumps: list[TimeJump] = []
        start = 0
        while start < len(raw):
            if self._t0 is None:
                self._t0 = raw[start] - self._count / self.fs_hz
            n = np.arange(self._count, self._count + len(raw) - start)
            model = self._t0 + n / self.fs_hz
            deviation = raw[start:] - model
            off = np.abs(deviation - self._offset) > self.gap_tolerance_s
            off[0] = off[0] and self._count > 0
            stop = start + (int(np.argmax(off)) if off.any() else len(off))
            self._clean(
                raw[start:stop], model[: stop - start], deviation[: stop - start], out, start
            )
            if stop < len(raw):
                jumps.append(TimeJump(stop, float(deviation[stop - start] - self._offset)))
                self.reset()
            start = stop
        return out, jumps

    def _clean(
        self,
        raw: np.ndarray,
        model: np.ndarray,
        deviation: np.ndarray,
        out: np.ndarray,
        at: int,
    ) -> None:
        m = len(raw)
        if m == 0:
            return
        offsets = np.empty(m)
        settling = max(0, min(m, self._settle_n - self._count))
        if settling:
            # A plain mean while few samples are in, so the first one's jitter does not stick.
            sums = self._offset_sum + np.cumsum(deviation[:settling])
            offsets[:settling] = sums / (self._count + np.arange(1, settling + 1))
            self._offset_sum = float(sums[-1])
            self._offset = float(offsets[settling - 1])
        if settling < m:
            zi = [(1 - self._alpha) * self._offset]
            offsets[settling:], _ = signal.lfilter(
                [self._alpha], [1.0, -(1.0 - self._alpha)], deviation[settling:], zi=zi
            )
            self._offset = float(offsets[-1])
        self._count += m
        out[at : at + m] = model + offsets if self.dejitter else raw
