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
- ``mains``: what is left of the mains after the canceller, at its fundamental and harmonics,
  is larger than ``mains_residual_ratio`` x the channel's rest EMG level. Mains that is removed
  well (a good recording with 10 uV of hum) raises nothing: a flag that is always on tells
  nobody anything. Only harmonics that stand far out of the EMG around them count, so a strong
  contraction is not taken for residual mains.

The last two are reported but do not exclude the channel. Two more conditions hold the
detector (no onset or offset can be decided) without excluding the channel:

- ``motion``: the ``motion_low_hz``-20 Hz band of the raw signal beyond ``motion_uv`` and beyond
  the EMG envelope itself (a movement artefact: large, brief, below the EMG band). The band
  starts at 3 Hz or above, so electrode drift (below 1 Hz, ordinary on DC-coupled amplifiers,
  removed by the 20 Hz high-pass anyway) is never motion. What comes back every second is not
  a brief transient either: the limit rises to twice the median of the last seconds' peaks in
  that band, so ECG (R peaks of 50-150 uV over proximal muscles, about once a second) never
  trips it while a push on the cable still does; also reported as a flag.
- the mains canceller's gate closing: the input fell below the mains being removed (an
  electrode lifting off), until the ``flat`` check confirms it.
"""

from __future__ import annotations

from collections import deque
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
#: Flags that are noted for trials but never published as status events (they act on every
#: heart beat: announcing each would tell nobody anything).
SILENT_FLAGS = ("ecg",)
EXCLUDING_FLAGS = frozenset({"nan", "saturated", "flat"})
_SAMPLE_FLAGS = ("nan", "saturated", "flat", "motion")
_MAINS_HYSTERESIS_DB = 3.0
#: A harmonic counts as residual mains only when its power (the mean over a second's
#: sub-blocks) is this many times the power at its neighbours +-_MAINS_NEIGHBOUR_HZ away,
#: which is what the EMG around it puts there.
_MAINS_SIGNIFICANCE = 4.0
_MAINS_NEIGHBOUR_HZ = 10.0
#: Sub-blocks of the mains measurement (s): 0.2 s resolves 10 Hz (the Hann window's first null).
_MAINS_SUB_S = 0.2
#: Harmonics measured (the fundamental and the strongest, odd, third).
_MAINS_HARMONICS = 3
#: Whole seconds at rest in a row that must agree before the mains flag changes.
_MAINS_PERSIST_S = 2
#: Seconds whose EMG stays below this multiple of the rest level count as rest for the check.
_MAINS_REST_FACTOR = 3.0
#: The motion limit is at least this many times the median peak of the motion band over the
#: last _MOTION_SECONDS whole seconds (what recurs every second, ECG, is no brief transient).
_MOTION_RECURRING_FACTOR = 2.0
_MOTION_SECONDS = 8
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
    #: The mains fundamental the canceller tracks, and the highest harmonic it removes (Hz).
    mains_hz: float | None = None
    mains_top_hz: float = 0.0


@dataclass
class QualityResult:
    """Quality of one chunk."""

    #: Detector state is frozen here (no onset or offset can be decided).
    hold: np.ndarray
    #: The channel is excluded from mirror calls here.
    excluded: np.ndarray
    changes: list[FlagChange]
    #: Where the hold is only the mains canceller's gate (its estimate above the input, as
    #: after a contraction it started in): the signal is still rest-like there.
    gate_only: np.ndarray | None = None


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
        self.fs_hz = fs_hz
        self.n_channels = n_channels
        self._settle_n = max(1, round(config.settle_s * fs_hz))
        self._saturation_n = max(1, round(config.saturation_run_s * fs_hz))
        self._flat_n = max(1, round(config.flat_s * fs_hz))
        self._peak_n = max(1, round(_MOTION_PEAK_WINDOW_S * fs_hz))
        self._block_n = max(1, round(fs_hz))
        self._sub_n = max(1, round(_MAINS_SUB_S * fs_hz))
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
        self._chunk_first = 0
        self._active_before = {flag: state.copy() for flag, state in self.active.items()}
        self._last_active_before = {
            flag: last.copy() for flag, last in self.last_active_index.items()
        }
        self._chunk_changes: list[FlagChange] = []
        self._ecg_before = never.copy()
        self._ecg_in_chunk: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(c)]
        self._block_rail = np.zeros(c)
        self._block_motion_peak = np.zeros(c)
        self._motion_peaks: deque[np.ndarray] = deque(maxlen=_MOTION_SECONDS)
        self._motion_limit = np.full(c, self.cfg.motion_uv)
        self._block_cos = np.zeros((0, c))
        self._block_sin = np.zeros((0, c))
        self._block_harmonic_power = np.zeros((0, c))
        self._mains_votes = np.zeros(c, dtype=np.int64)
        self._block_power = np.zeros(c)
        self._block_omegas = np.zeros(0)
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
        # How things stood before this chunk, for flags_since (a decision inside the chunk must
        # not see what happened after it).
        self._chunk_first = first_index
        self._active_before = {flag: state.copy() for flag, state in self.active.items()}
        self._last_active_before = {
            flag: last.copy() for flag, last in self.last_active_index.items()
        }
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
            float(self._motion_limit.min()),
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
            limit = np.maximum(self._motion_limit, envelope_uv)
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
        gate_hold = self._recent("gate", closing, index)
        holds = [self._recent("rail", rail, index)]
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
        gate_only = None
        if gate_hold is not None:
            gate_only = gate_hold & ~hold
            hold = hold | gate_hold
        self._chunk_changes = changes
        return QualityResult(hold=hold, excluded=excluded, changes=changes, gate_only=gate_only)

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

    def note_ecg(self, first_index: int, acted: np.ndarray) -> None:
        """Note where the ECG canceller corrected a significant beat in the chunk just checked.

        Parameters
        ----------
        first_index : int
            Absolute index of the chunk's first sample.
        acted : ndarray of bool, shape (n_samples, n_channels)
            Where a correction acted.
        """
        for ch in range(self.n_channels):
            last = self._ecg_in_chunk[ch]
            if len(last):
                self._ecg_before[ch] = max(self._ecg_before[ch], int(last[-1]))
            self._ecg_in_chunk[ch] = first_index + np.flatnonzero(acted[:, ch])

    def flags_since(self, channel: int, start_index: int, until: int) -> list[str]:
        """Flags of a channel active at some sample from ``start_index`` to ``until``.

        ``until`` may lie inside the chunk last processed: what the flags did after it in that
        chunk does not count, so the answer does not depend on how the stream was chunked.
        """
        found = []
        for flag in FLAGS:
            if self._last_active_before[flag][channel] >= start_index:
                found.append(flag)  # active before this chunk, within the span
                continue
            state, since = bool(self._active_before[flag][channel]), self._chunk_first
            hit = False
            for change in self._chunk_changes:
                if change.index > until:
                    break
                if change.channel != channel or change.flag != flag:
                    continue
                # The state held from `since` to the sample before this change.
                hit = hit or (state and change.index - 1 >= start_index)
                state, since = change.raised, change.index
            if hit or (state and until >= max(since, start_index)):
                found.append(flag)
        acted = self._ecg_in_chunk[channel]
        if self._ecg_before[channel] >= start_index or (
            len(acted) and ((acted >= start_index) & (acted <= until)).any()
        ):
            found.append("ecg")
        return found

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
        cleaned = inputs.cleaned_uv
        have_mains = cleaned is not None and inputs.mains_hz is not None
        changes: list[FlagChange] = []
        start = 0
        while start < n:
            stop = min(n, start + self._block_n - self._block_fill)
            if rail is not None:
                self._block_rail += rail[start:stop].sum(axis=0)
            if inputs.motion_uv is not None and stop > start:
                peak = np.abs(inputs.motion_uv[start:stop]).max(axis=0)
                np.maximum(self._block_motion_peak, peak, out=self._block_motion_peak)
            if have_mains:
                assert cleaned is not None
                assert inputs.mains_hz is not None
                if self._block_fill == 0:
                    self._start_mains_block(inputs.mains_hz, inputs.mains_top_hz)
                _add_demodulated(
                    np.ascontiguousarray(cleaned),
                    start,
                    stop,
                    self._block_fill,
                    self._sub_n,
                    self._block_omegas,
                    self._block_cos,
                    self._block_sin,
                    self._block_harmonic_power,
                    self._block_power,
                )
            self._block_fill += stop - start
            if self._block_fill == self._block_n:
                end_index = first_index + stop - 1
                changes.extend(self._end_block(end_index, have_mains))
            start = stop
        return changes

    def _start_mains_block(self, mains_hz: float, top_hz: float) -> None:
        """Set the reference frequencies of the next second: mains lines and their neighbours.

        The fundamental and the strongest harmonics, and beside each the EMG around the line,
        to tell a line from a contraction.

        The nominal frequency, not the tracked one, so that the measurement does not depend on
        where the chunks were cut: up to the third harmonic a drift of half a hertz stays
        coherent over a 0.2 s sub-block.
        """
        harmonics = np.arange(1, min(_MAINS_HARMONICS, int(top_hz // mains_hz)) + 1)
        lines = harmonics * mains_hz
        frequencies = np.concatenate(
            (lines, lines - _MAINS_NEIGHBOUR_HZ, lines + _MAINS_NEIGHBOUR_HZ)
        )
        self._block_omegas = 2.0 * np.pi * frequencies / self.fs_hz
        shape = (len(frequencies), self.n_channels)
        self._block_cos = np.zeros(shape)
        self._block_sin = np.zeros(shape)
        self._block_harmonic_power = np.zeros(shape)

    def _mains_residual_uv(self) -> np.ndarray:
        """RMS of the mains left in the cleaned signal over the last second, per channel."""
        _fold(self._block_cos, self._block_sin, self._block_harmonic_power)
        subs = self._block_n / self._sub_n
        # A Hann window of N samples sums to N / 2: the amplitude of a line is 4 |sum| / N.
        amplitude_sq = (4.0 / self._sub_n) ** 2 * self._block_harmonic_power / subs
        k = len(amplitude_sq) // 3
        line, around = amplitude_sq[:k], 0.5 * (amplitude_sq[k : 2 * k] + amplitude_sq[2 * k :])
        significant = line > _MAINS_SIGNIFICANCE * around
        return np.sqrt(0.5 * np.where(significant, line - around, 0.0).sum(axis=0))

    def _end_block(self, end_index: int, have_mains: bool) -> list[FlagChange]:
        clipping = self._block_rail > self.cfg.clipping_fraction * self._block_n
        clipping |= self.active["clipping"] & (self._block_rail > 0)
        new_states = {"clipping": clipping}
        if have_mains and self._rest_mean_uv is not None and len(self._block_omegas):
            floor = np.maximum(self._rest_mean_uv, 1e-12)
            residual_uv = self._mains_residual_uv()
            residual = residual_uv / floor
            limit = self.cfg.mains_residual_ratio
            lower = limit * 10 ** (-_MAINS_HYSTERESIS_DB / 20)
            judged = np.where(self.active["mains"], residual > lower, residual > limit)
            # Judged at rest only: the EMG of a contraction has power at the harmonics too,
            # and a mains problem is a property of the recording, visible at rest. It must
            # persist: the canceller may lag a moment behind a contraction's end.
            emg_power = np.maximum(self._block_power / self._block_n - residual_uv**2, 0.0)
            resting = np.sqrt(emg_power) <= _MAINS_REST_FACTOR * floor
            differs = resting & (judged != self.active["mains"])
            self._mains_votes = np.where(differs, self._mains_votes + 1, 0)
            switch = self._mains_votes >= _MAINS_PERSIST_S
            self._mains_votes[switch] = 0
            new_states["mains"] = np.where(switch, judged, self.active["mains"])
        changes = []
        for flag, state in new_states.items():
            for c in np.nonzero(state != self.active[flag])[0]:
                changes.append(FlagChange(int(c), flag, bool(state[c]), end_index))
            self.last_active_index[flag] = np.where(state, end_index, self.last_active_index[flag])
            self.active[flag] = state
            self._any_active[flag] = bool(state.any())
        self._motion_peaks.append(self._block_motion_peak.copy())
        recurring = np.median(np.array(self._motion_peaks), axis=0)
        self._motion_limit = np.maximum(self.cfg.motion_uv, _MOTION_RECURRING_FACTOR * recurring)
        self._block_rail[:] = 0
        self._block_motion_peak[:] = 0
        self._block_power[:] = 0
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
def _add_demodulated(  # noqa: PLR0917
    x, start, stop, position, sub_n, omegas, cos_sums, sin_sums, harmonic_power, power
):
    """Add rows ``start:stop`` of ``x`` to the mains-harmonic measurement of the current second.

    Each frequency is demodulated over Hann-weighted sub-blocks of ``sub_n`` samples and the
    powers of the sub-blocks are summed. ``position`` is the place of row ``start`` in the
    second; a sub-block that ends is folded into ``harmonic_power`` and starts again.
    """
    for i in range(start, stop):
        n = position + i - start
        if n % sub_n == 0 and n > 0:
            _fold(cos_sums, sin_sums, harmonic_power)
        w = np.sin(np.pi * (n % sub_n) / sub_n) ** 2
        for k in range(omegas.shape[0]):
            c = w * np.cos(omegas[k] * n)
            s = w * np.sin(omegas[k] * n)
            for ch in range(x.shape[1]):
                cos_sums[k, ch] += x[i, ch] * c
                sin_sums[k, ch] += x[i, ch] * s
        for ch in range(x.shape[1]):
            power[ch] += x[i, ch] * x[i, ch]


@njit(cache=True)
def _fold(cos_sums, sin_sums, harmonic_power):
    for k in range(cos_sums.shape[0]):
        for ch in range(cos_sums.shape[1]):
            harmonic_power[k, ch] += cos_sums[k, ch] ** 2 + sin_sums[k, ch] ** 2
            cos_sums[k, ch] = 0.0
            sin_sums[k, ch] = 0.0
