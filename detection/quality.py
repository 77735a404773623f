"""Channel quality: bad samples never reach filter state, bad channels never make mirror calls.

Per-sample conditions (decided at the sample, so chunking does not matter):

- ``nan``: non-finite samples. They are bridged (the last finite value is held) before any filter
  sees them; the channel is excluded until ``settle_s`` after the last one.
- ``saturated``: stuck at the rail (repeated samples at or above ``clip_min_uv``) for
  ``saturation_run_s``; excluded until ``settle_s`` after it ends. Any single rail sample holds
  the detector for ``settle_s`` (the jump to the rail rings through the band-pass) without
  excluding the channel: strong contractions clip briefly and are still contractions.
- ``flat``: envelope below ``flat_ratio`` x the rest mean for ``flat_s`` (flat line, lifted
  electrode); excluded until ``settle_s`` after it recovers.

Per-second conditions (decided at each whole second counted from the start):

- ``clipping``: more than ``clipping_fraction`` of the second's samples at the rail.
- ``mains``: the rest EMG level over the mains component removed is below ``min_mains_snr_db``.

The last two are reported but do not exclude the channel. Two more conditions hold the
detector (no onset or offset can be decided) without excluding the channel:

- ``motion``: the 1-20 Hz band of the raw signal beyond ``motion_uv`` and beyond the EMG
  envelope itself (a movement artefact: large, brief, below the EMG band; forearm ECG stays
  well under it); also reported as a flag.
- the mains canceller's gate closing: the input fell below the mains being removed (an
  electrode lifting off), until the ``flat`` check confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from detection.config import QualityConfig
from detection.history import NEVER, last_true_index

__all__ = [
    "EXCLUDING_FLAGS",
    "FLAGS",
    "FlagChange",
    "NonFiniteBridge",
    "QualityInputs",
    "QualityMonitor",
]

FLAGS = ("nan", "saturated", "flat", "motion", "clipping", "mains")
EXCLUDING_FLAGS = frozenset({"nan", "saturated", "flat"})
_SAMPLE_FLAGS = ("nan", "saturated", "flat", "motion")
_MAINS_HYSTERESIS_DB = 3.0
#: The motion check compares the low band with the EMG's peak over this long a window: at a
#: sudden onset the envelope still lags, but the band-passed EMG's peaks already show it.
_MOTION_PEAK_WINDOW_S = 0.02
#: The mains canceller's gate counts as closing below this fraction.
GATE_OPEN = 0.999
# What _screen reports could trip in a chunk (bits).
_RAIL, _MOTION, _NONFINITE, _GATE_CLOSING, _LOW = 1, 2, 4, 8, 16
_EMPTY = np.zeros((0, 0))


@dataclass(frozen=True)
class FlagChange:
    """A quality flag raised or cleared on one channel at one sample."""

    channel: int
    flag: str
    raised: bool
    index: int


class NonFiniteBridge:
    """Replace NaN and inf with the channel's last finite value, before any filter sees them.

    Parameters
    ----------
    n_channels : int
        Number of channels.
    """

    def __init__(self, n_channels: int) -> None:
        self._n_channels = n_channels
        self.reset()

    def reset(self) -> None:
        """Forget the last finite values (they start at zero)."""
        self._last = np.zeros(self._n_channels)

    def process(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bridge one chunk.

        Parameters
        ----------
        chunk : ndarray, shape (n_samples, n_channels)
            Raw samples.

        Returns
        -------
        bridged : ndarray of float64
            The chunk with every non-finite sample replaced.
        nonfinite : ndarray of bool
            Where the replacements were made.
        """
        data = np.asarray(chunk, dtype=float)
        nonfinite = ~np.isfinite(data)
        if not nonfinite.any():
            if len(data):
                self._last = data[-1].copy()
            return data, nonfinite
        rows = np.arange(len(data))[:, None]
        source = np.maximum.accumulate(np.where(nonfinite, -1, rows), axis=0)
        bridged = np.where(
            source >= 0, data[np.maximum(source, 0), np.arange(data.shape[1])], self._last
        )
        if len(bridged):
            self._last = bridged[-1].copy()
        return bridged, nonfinite


@dataclass
class QualityInputs:
    """What the quality checks look at, for one chunk (all shaped samples x channels)."""

    #: Raw samples after bridging.
    bridged: np.ndarray
    #: Where samples were not finite.
    nonfinite: np.ndarray
    #: Amplitude envelope of the cleaned signal.
    envelope_uv: np.ndarray
    #: The band-passed EMG after the mains canceller (None without a canceller); what it took
    #: out is ``band_uv - cleaned_uv``.
    cleaned_uv: np.ndarray | None = None
    #: The raw signal's 1-20 Hz band (None: no motion check).
    motion_uv: np.ndarray | None = None
    #: The band-passed EMG (None: the motion check compares with the envelope only).
    band_uv: np.ndarray | None = None
    #: The fraction of its mains estimate the canceller subtracted (None: no canceller).
    mains_gate: np.ndarray | None = None


@dataclass
class QualityResult:
    """Quality of one chunk."""

    #: Detector state is frozen here (no onset or offset can be decided).
    hold: np.ndarray
    #: The channel is excluded from mirror calls here.
    excluded: np.ndarray
    changes: list[FlagChange]


class QualityMonitor:
    """Per-channel quality flags over the stream.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    config : QualityConfig
        Thresholds.
    """

    def __init__(self, fs_hz: float, n_channels: int, config: QualityConfig) -> None:
        self.cfg = config
        self.n_channels = n_channels
        self._settle_n = max(1, round(config.settle_s * fs_hz))
        self._saturation_n = max(1, round(config.saturation_run_s * fs_hz))
        self._flat_n = max(1, round(config.flat_s * fs_hz))
        self._peak_n = max(1, round(_MOTION_PEAK_WINDOW_S * fs_hz))
        self._block_n = max(1, round(fs_hz))
        self._rest_mean_uv: np.ndarray | None = None
        self._flat_limit_uv = np.zeros(0)  # no flat check until the baseline is known
        self.reset()

    def reset(self) -> None:
        """Forget every flag and the sample before this one (after a gap in the stream)."""
        c = self.n_channels
        never = np.full(c, NEVER, dtype=np.int64)
        self._prev_sample = np.full(c, np.nan)
        self._band_tail = np.zeros((self._peak_n - 1, c))
        self._last = {
            name: never.copy()
            for name in (
                "nan",
                "rail",
                "not_rail",
                "saturated",
                "low",
                "not_low",
                "flat",
                "motion",
                "gate",
            )
        }
        # The latest index in each of those, over all channels: most chunks are clean, and
        # one comparison with it tells that nothing was recent, without an array call.
        self._latest = dict.fromkeys(self._last, int(NEVER))
        # Runs of rail or low samples start counting at the first sample after a reset.
        self._runs_start_pending = True
        self.active = {flag: np.zeros(c, dtype=bool) for flag in FLAGS}
        self._any_active = dict.fromkeys(FLAGS, False)
        self.last_active_index = {flag: never.copy() for flag in FLAGS}
        self._block_rail = np.zeros(c)
        self._block_mains_sq = np.zeros(c)
        self._block_fill = 0

    def set_baseline(self, rest_mean_uv: np.ndarray) -> None:
        """Give the rest envelope level per channel (enables the ``flat`` and ``mains`` checks)."""
        self._rest_mean_uv = np.asarray(rest_mean_uv, dtype=float)
        self._flat_limit_uv = self.cfg.flat_ratio * self._rest_mean_uv

    def process(self, first_index: int, inputs: QualityInputs) -> QualityResult:
        """Assess one chunk.

        Parameters
        ----------
        first_index : int
            Absolute index of the chunk's first sample.
        inputs : QualityInputs
            The signals to check.

        Returns
        -------
        QualityResult
            Hold and exclusion masks and the flag changes in this chunk.
        """
        bridged, nonfinite, envelope_uv = inputs.bridged, inputs.nonfinite, inputs.envelope_uv
        n = len(bridged)
        index = np.arange(first_index, first_index + n, dtype=np.int64)[:, None]
        if self._runs_start_pending:
            self._last["not_rail"][:] = first_index - 1
            self._last["not_low"][:] = first_index - 1
            self._runs_start_pending = False
        # Most chunks are clean: one compiled pass asks which checks could trip, and the others
        # skip their per-sample work (None stands for "false everywhere").
        motion, gate = inputs.motion_uv, inputs.mains_gate
        could_trip = _screen(
            bridged,
            nonfinite,
            envelope_uv,
            _EMPTY if motion is None else motion,
            _EMPTY if gate is None else gate,
            self._flat_limit_uv,
            self.cfg.clip_min_uv,
            self.cfg.motion_uv,
            GATE_OPEN,
        )
        rail = None
        if could_trip & _RAIL:
            previous = np.concatenate((self._prev_sample[None, :], bridged[:-1]), axis=0)
            rail = ~nonfinite & (bridged == previous) & (np.abs(bridged) >= self.cfg.clip_min_uv)
            rail = rail if rail.any() else None
        if n:
            self._prev_sample = bridged[-1].copy()
        saturated_now = self._run_at_least("not_rail", rail, index, self._saturation_n)
        moving = None
        if motion is not None and could_trip & _MOTION:
            # Strong EMG has some energy below 20 Hz too: during a contraction only a low band
            # larger than the EMG itself is an artefact.
            limit = np.maximum(self.cfg.motion_uv, envelope_uv)
            if inputs.band_uv is not None:
                limit = np.maximum(limit, self._recent_band_peak(inputs.band_uv))
            moving = np.abs(motion) > limit
            moving = moving if moving.any() else None
        if inputs.band_uv is not None and self._peak_n > 1:
            _push_abs_rows(self._band_tail, np.ascontiguousarray(inputs.band_uv))
        states = {
            "nan": self._recent("nan", nonfinite if could_trip & _NONFINITE else None, index),
            "saturated": self._recent("saturated", saturated_now, index),
            "flat": None,
            "motion": self._recent("motion", moving, index),
        }
        closing = gate < GATE_OPEN if gate is not None and could_trip & _GATE_CLOSING else None
        holds = [self._recent("rail", rail, index), self._recent("gate", closing, index)]
        if self._rest_mean_uv is not None and n:
            low = envelope_uv < self._flat_limit_uv if could_trip & _LOW else None
            flat_now = self._run_at_least("not_low", low, index, self._flat_n)
            states["flat"] = self._recent("flat", flat_now, index)

        changes: list[FlagChange] = []
        excluded = np.zeros((n, self.n_channels), dtype=bool)
        hold = excluded
        for flag in _SAMPLE_FLAGS:
            state = states[flag]
            if state is None and not self._any_active[flag]:
                continue
            if state is None:
                state = np.zeros_like(excluded)
            if flag in EXCLUDING_FLAGS:
                excluded |= state
            else:
                holds.append(state)
            changes.extend(self._changes(flag, state, first_index))
        changes.extend(self._block_checks(first_index, n, rail, inputs))
        changes.sort(key=lambda ch: (ch.index, ch.channel, FLAGS.index(ch.flag)))
        for extra in holds:
            if extra is not None:
                hold = hold | extra
        return QualityResult(hold=hold, excluded=excluded, changes=changes)

    def _recent_band_peak(self, band_uv: np.ndarray) -> np.ndarray:
        """Largest |band-passed EMG| over the last ``_peak_n`` samples, at each sample."""
        series = np.concatenate((self._band_tail, np.abs(band_uv)))
        windows = np.lib.stride_tricks.sliding_window_view(series, self._peak_n, axis=0)
        return windows.max(axis=-1)

    def _recent(self, name: str, mask: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
        """Per sample: was ``mask`` true within the last ``settle_s``? None if nowhere."""
        if mask is not None:
            return index - self._track(name, mask, int(index[0, 0])) < self._settle_n
        if not len(index) or self._latest[name] + self._settle_n <= index[0, 0]:
            return None
        return index - self._last[name][None, :] < self._settle_n

    def _run_at_least(
        self, not_name: str, mask: np.ndarray | None, index: np.ndarray, run_n: int
    ) -> np.ndarray | None:
        """Per sample: ``mask`` has been true for ``run_n`` samples in a row. None if nowhere."""
        if mask is None:
            if len(index):
                self._last[not_name][:] = index[-1, 0]
            return None
        run = index - self._track(not_name, ~mask, int(index[0, 0]))
        out = mask & (run >= run_n)
        return out if out.any() else None

    def flags_since(self, channel: int, start_index: int) -> list[str]:
        """Flags of a channel that were active at or after ``start_index``."""
        return [
            flag
            for flag in FLAGS
            if self.active[flag][channel] or self.last_active_index[flag][channel] >= start_index
        ]

    def _track(self, name: str, mask: np.ndarray, first_index: int) -> np.ndarray:
        last = last_true_index(mask, first_index, self._last[name])
        if len(last):
            self._last[name] = last[-1].copy()
            self._latest[name] = int(last[-1].max())
        return last

    def _changes(self, flag: str, state: np.ndarray, first_index: int) -> list[FlagChange]:
        if not len(state):
            return []
        before = np.concatenate((self.active[flag][None, :], state[:-1]), axis=0)
        rows, cols = np.nonzero(state != before)
        out = [
            FlagChange(int(c), flag, bool(state[r, c]), first_index + int(r))
            for r, c in zip(rows, cols, strict=True)
        ]
        active_rows = np.nonzero(state.any(axis=1))[0]
        if len(active_rows):
            last_rows = len(state) - 1 - np.argmax(state[::-1], axis=0)
            seen = state.any(axis=0)
            self.last_active_index[flag] = np.where(
                seen, first_index + last_rows, self.last_active_index[flag]
            )
        self.active[flag] = state[-1].copy()
        self._any_active[flag] = bool(self.active[flag].any())
        return out

    def _block_checks(
        self,
        first_index: int,
        n: int,
        rail: np.ndarray | None,
        inputs: QualityInputs,
    ) -> list[FlagChange]:
        band, cleaned = inputs.band_uv, inputs.cleaned_uv
        have_mains = band is not None and cleaned is not None
        changes: list[FlagChange] = []
        start = 0
        while start < n:
            stop = min(n, start + self._block_n - self._block_fill)
            if rail is not None:
                self._block_rail += rail[start:stop].sum(axis=0)
            if have_mains:
                _add_squared_differences(band, cleaned, start, stop, self._block_mains_sq)
            self._block_fill += stop - start
            if self._block_fill == self._block_n:
                end_index = first_index + stop - 1
                changes.extend(self._end_block(end_index, have_mains))
            start = stop
        return changes

    def _end_block(self, end_index: int, have_mains: bool) -> list[FlagChange]:
        clipping = self._block_rail > self.cfg.clipping_fraction * self._block_n
        clipping |= self.active["clipping"] & (self._block_rail > 0)
        new_states = {"clipping": clipping}
        if have_mains and self._rest_mean_uv is not None:
            mains_rms = np.sqrt(self._block_mains_sq / self._block_n)
            with np.errstate(divide="ignore"):
                snr_db = 20 * np.log10(self._rest_mean_uv / np.maximum(mains_rms, 1e-12))
            limit = self.cfg.min_mains_snr_db
            new_states["mains"] = np.where(
                self.active["mains"], snr_db < limit + _MAINS_HYSTERESIS_DB, snr_db < limit
            )
        changes = []
        for flag, state in new_states.items():
            for c in np.nonzero(state != self.active[flag])[0]:
                changes.append(FlagChange(int(c), flag, bool(state[c]), end_index))
            self.last_active_index[flag] = np.where(state, end_index, self.last_active_index[flag])
            self.active[flag] = state
            self._any_active[flag] = bool(state.any())
        self._block_rail[:] = 0
        self._block_mains_sq[:] = 0
        self._block_fill = 0
        return changes


@njit(cache=True)
def _screen(  # noqa: PLR0917
    bridged, nonfinite, envelope, motion, gate, flat_limit, clip_min_uv, motion_uv, gate_open
):
    """Bits of the checks that could trip in a chunk (empty arrays are not checked)."""
    found = 0
    for i in range(bridged.shape[0]):
        for ch in range(bridged.shape[1]):
            if abs(bridged[i, ch]) >= clip_min_uv:
                found |= _RAIL
            if nonfinite[i, ch]:
                found |= _NONFINITE
            if motion.shape[0] and abs(motion[i, ch]) > motion_uv:
                found |= _MOTION
            if gate.shape[0] and gate[i, ch] < gate_open:
                found |= _GATE_CLOSING
            if flat_limit.shape[0] and envelope[i, ch] < flat_limit[ch]:
                found |= _LOW
    return found


@njit(cache=True)
def _push_abs_rows(tail, values):
    """Shift ``|values|`` into the fixed-length ``tail`` (oldest rows first), in place."""
    m, n = tail.shape[0], values.shape[0]
    keep = max(0, m - n)
    for r in range(keep):
        tail[r] = tail[r + n]
    for r in range(keep, m):
        tail[r] = np.abs(values[n - m + r])


@njit(cache=True)
def _add_squared_differences(a, b, start, stop, sums):
    """``sums += ((a - b)[start:stop] ** 2).sum(axis=0)``, in place."""
    for i in range(start, stop):
        for ch in range(a.shape[1]):
            d = a[i, ch] - b[i, ch]
            sums[ch] += d * d
