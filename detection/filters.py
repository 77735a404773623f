"""Causal filters with carried state: the EMG band-pass and the adaptive mains canceller.

Both are designed once in ``__init__`` and carry their state between calls, so that processing
a signal in chunks of any size gives the same output as processing it whole.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import signal

from detection.mains_kernel import (
    LEVELS_READY,
    OMEGA_RAD,
    OMEGA_VAR,
    CancellerSettings,
    CancellerState,
    cancel_chunk,
    fill_reference,
)

__all__ = [
    "BandpassFilter",
    "MainsCanceller",
    "SosState",
    "detect_mains_hz",
    "effective_band_hz",
    "find_mains",
]

#: The band-pass upper edge never goes above this fraction of the sampling rate.
MAX_LOWPASS_FRACTION = 0.45


def effective_band_hz(highpass_hz: float, lowpass_hz: float, fs_hz: float) -> tuple[float, float]:
    """Return the pass band actually used at a sampling rate.

    Parameters
    ----------
    highpass_hz, lowpass_hz : float
        The configured edges.
    fs_hz : float
        The sampling rate.

    Returns
    -------
    tuple of float
        ``(highpass_hz, lowpass_hz)`` with the upper edge capped below Nyquist.
    """
    return highpass_hz, min(lowpass_hz, MAX_LOWPASS_FRACTION * fs_hz)


class SosState:
    """A second-order-sections cascade with its state, for samples x channels chunks.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        The cascade.
    n_channels : int
        Number of channels.
    settle_on_first : bool
        Start (and restart after :meth:`reset`) as if the first sample had always been there:
        a DC-coupled amplifier's offset of hundreds of microvolts then rings through nothing.
    """

    def __init__(self, sos: np.ndarray, n_channels: int, *, settle_on_first: bool = False) -> None:
        sos = np.asarray(sos, dtype=float)
        if sos.ndim != 2 or sos.shape[1] != 6 or not np.all(sos[:, 3] != 0):
            raise ValueError(f"sos: expected shape (n_sections, 6) with a0 != 0, got {sos.shape}")
        self.sos = np.ascontiguousarray(sos / sos[:, 3:4])
        self._n_channels = n_channels
        self._settle_on_first = settle_on_first
        self._step_zi = signal.sosfilt_zi(self.sos)  # (n_sections, 2) for a unit step
        self.reset()

    def reset(self) -> None:
        """Start from rest."""
        # (n_sections, 2, n_channels): the kernel runs over channels innermost, where the
        # recursions are independent of each other.
        self._zi = np.zeros((self.sos.shape[0], 2, self._n_channels))
        self._fresh = self._settle_on_first

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter one chunk (n_samples, n_channels); returns float64 of the same shape."""
        out = np.array(chunk, dtype=np.float64, order="C")  # filtered in place
        if self._fresh and len(out):
            self._zi = self._step_zi[:, :, None] * out[0][None, None, :]
            self._fresh = False
        _sos_in_place(self.sos, out, self._zi)
        return out


@njit(cache=True)
def _sos_in_place(sos, data, zi):
    # Transposed direct form II, the arithmetic of scipy's sosfilt, sample by sample: one
    # compiled call per chunk (scipy's sosfilt runs each channel's samples innermost, a
    # chain of dependent operations, and its wrapper costs more than the filtering here).
    n_channels = data.shape[1]
    for i in range(data.shape[0]):
        row = data[i]
        for s in range(sos.shape[0]):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            z0 = zi[s, 0]
            z1 = zi[s, 1]
            for ch in range(n_channels):
                x = row[ch]
                y = b0 * x + z0[ch]
                z0[ch] = b1 * x - a1 * y + z1[ch]
                z1[ch] = b2 * x - a2 * y
                row[ch] = y


class BandpassFilter:
    """Causal Butterworth band-pass over samples x channels, state carried between chunks.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    highpass_hz, lowpass_hz : float
        Pass band; the upper edge is capped at 45 % of ``fs_hz``.
    order : int
        Butterworth order of the prototype (the band-pass has ``order`` SOS sections).
    settle_on_first : bool
        Start as if the first sample's level had always been there (see :class:`SosState`).
    """

    def __init__(
        self,
        fs_hz: float,
        n_channels: int,
        highpass_hz: float = 20.0,
        lowpass_hz: float = 450.0,
        order: int = 4,
        *,
        settle_on_first: bool = False,
    ) -> None:
        self.fs_hz = float(fs_hz)
        self.band_hz = effective_band_hz(highpass_hz, lowpass_hz, fs_hz)
        if not 0 < self.band_hz[0] < self.band_hz[1]:
            raise ValueError(
                f"highpass_hz={highpass_hz} must be below the effective upper edge "
                f"{self.band_hz[1]:g} Hz at fs_hz={fs_hz:g}"
            )
        self.sos = signal.butter(order, self.band_hz, btype="bandpass", fs=fs_hz, output="sos")
        self._cascade = SosState(self.sos, n_channels, settle_on_first=settle_on_first)

    def reset(self) -> None:
        """Forget the filter state (start from rest)."""
        self._cascade.reset()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter one chunk.

        Parameters
        ----------
        chunk : ndarray, shape (n_samples, n_channels)
            Finite samples in microvolts.

        Returns
        -------
        ndarray, shape (n_samples, n_channels), float64
            The band-passed chunk.
        """
        return self._cascade.process(chunk)


def detect_mains_hz(data_uv: np.ndarray, fs_hz: float) -> tuple[int, float]:
    """Tell 50 Hz from 60 Hz mains in a stretch of (band-passed) rest data.

    Parameters
    ----------
    data_uv : ndarray, shape (n_samples, n_channels)
        At least one second of signal.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    mains_hz : int
        50 or 60: whichever family of harmonics stands out more from its neighbourhood.
    fundamental_hz : float
        The measured fundamental of that family (for starting the canceller close to it).
    """
    nperseg = int(min(len(data_uv), 4 * fs_hz))
    freqs, psd = signal.welch(data_uv, fs=fs_hz, nperseg=nperseg, axis=0)
    power = psd.sum(axis=1)
    scores: dict[int, float] = {}
    for mains in (50, 60):
        score = 0.0
        for k in (1, 2, 3):
            centre = k * mains
            if centre + 5 * k > freqs[-1]:
                break
            near = np.abs(freqs - centre) <= 1.5 * k
            around = (np.abs(freqs - centre) > 2.5 * k) & (np.abs(freqs - centre) <= 8.0 * k)
            score += math.log10(power[near].max() / max(float(np.median(power[around])), 1e-30))
        scores[mains] = score
    mains = max(scores, key=scores.__getitem__)
    near = np.abs(freqs - mains) <= 1.0
    fundamental = float(freqs[near][np.argmax(power[near])])
    return mains, fundamental


#: A mains line is clear when the fundamental's peak stands this many times above the power
#: around it (1 s of strong EMG buries 1 uV of hum; 1 s of rest shows it 100-fold).
MAINS_CLEAR_RATIO = 10.0


def _line_ratio(data_uv: np.ndarray, fs_hz: float, mains: int) -> float:
    """How far the mains fundamental stands above the spectrum around it.

    On the clearest channel: another may be contracting and bury the line.
    """
    # Half-second segments, overlapping by half: several averaged spectra, or a noise peak in
    # a single periodogram passes for a line now and then.
    nperseg = int(min(len(data_uv), fs_hz / 2))
    freqs, psd = signal.welch(data_uv, fs=fs_hz, nperseg=nperseg, axis=0)
    near = np.abs(freqs - mains) <= 1.5
    around = (np.abs(freqs - mains) > 2.5) & (np.abs(freqs - mains) <= 8.0)
    ratios = psd[near].max(axis=0) / np.maximum(np.median(psd[around], axis=0), 1e-30)
    return float(ratios.max())


def find_mains(data_uv: np.ndarray, fs_hz: float) -> tuple[int, float] | None:
    """Like :func:`detect_mains_hz`, but only when the line is clear.

    Parameters
    ----------
    data_uv : ndarray, shape (n_samples, n_channels)
        At least one second of band-passed signal.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    tuple | None
        ``(mains_hz, fundamental_hz)``, or None when no mains line stands out of the EMG (a
        contraction buries weak hum; then look again later). The line must stand out in each
        half of the stretch as well as in the whole: mains is always there, while the spectrum
        of a contraction that starts within the stretch can show a peak that is not one.
    """
    mains, fundamental = detect_mains_hz(data_uv, fs_hz)
    half = len(data_uv) // 2
    for part in (data_uv, data_uv[:half], data_uv[half:]):
        if _line_ratio(part, fs_hz, mains) < MAINS_CLEAR_RATIO:
            return None
    return mains, fundamental


class MainsCanceller:
    """Adaptive sinusoid canceller for mains and its harmonics that tracks mains drift.

    Each channel's mains component is modelled as a sum of harmonics ``k * f0`` with an amplitude
    and phase per harmonic, learned by block LMS (Widrow's adaptive noise canceller with an
    internal reference). The fundamental ``f0`` is tracked from the rotation of the learned
    phases: if mains runs faster than the reference, the phasors turn steadily, and the rate at
    which they turn is the frequency error. Each check's measurement comes with a variance (from
    the LMS noise), and a scalar Kalman filter weighs it against the current estimate, so clean
    strong hum is tracked fast and weak hum under strong EMG barely moves the estimate.

    Unlike a fixed notch, the cancellation stays deep when mains drifts, while each harmonic
    only removes about ``bandwidth_hz`` of EMG. Measured (tests/unit/test_filters.py): >= 30 dB at
    every harmonic with the fundamental 0.5 Hz off nominal, and while it wanders +-0.5 Hz at up
    to about 0.03 Hz/s.

    Strong EMG is noise to the canceller; adaptation slows in proportion to how far a channel's
    input is above its quiet level, so a contraction leaves no mains residue behind it, and only
    quiet channels vote on the frequency. The subtraction never exceeds what the input holds,
    so a channel that goes flat (a lifted electrode) stays flat instead of showing the mains
    estimate.

    Weights are updated at block boundaries counted from the first sample ever processed, so the
    output does not depend on how the input was chunked.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    mains_hz : float
        Nominal mains frequency (50 or 60).
    max_harmonic_hz : float
        Harmonics at or above this frequency are left alone (they are outside the pass band).
    bandwidth_hz : float
        Width of the notch each harmonic makes; sets the adaptation time constant.
    drift_hz : float
        How far the fundamental may wander from ``mains_hz``.
    start_hz : float | None
        Where to start tracking (e.g. measured during calibration); defaults to ``mains_hz``.
    """

    #: Block length in seconds: the weights are updated this often.
    BLOCK_S = 0.02
    #: The frequency estimate is corrected from the rotation seen over this many blocks.
    CHECK_BLOCKS = 2
    #: Largest fraction of the measured frequency error applied per check: the weights lag
    #: the truth, and a full correction per check would overshoot.
    MAX_GAIN = 0.8
    #: The fastest mains drift the frequency tracker expects (Hz per second).
    MAX_DRIFT_RATE_HZ_S = 0.03
    #: Power up to this many times the quiet level adapts at full speed: a mains residual
    #: while tracking stays below it, a contraction (100 times the rest power and more) not.
    QUIET_MARGIN = 10.0
    #: Smoothing of the block power before its floor is taken (per block).
    POWER_SMOOTHING = 0.1
    #: The tracked frequency may go this many times ``drift_hz`` from nominal: a clamp right
    #: at the drift limit would bias the estimate inwards when mains sits at the limit.
    TRACKING_MARGIN = 1.5
    #: How fast the quiet-level estimate may rise, in seconds per doubling.
    FLOOR_DOUBLING_S = 10.0
    #: The step starts this many times larger after a reset ...
    START_BOOST = 8.0
    #: ... and settles with this time constant (s).
    START_BOOST_S = 0.25
    #: A channel votes on the frequency after this many calm blocks in a row (0.5 s).
    CALM_BLOCKS = 25
    #: Full subtraction while the input's RMS is at least this fraction of the mains RMS.
    GATE_FRACTION = 0.5
    #: Input power below this fraction of the quiet level: the electrode has lifted off.
    FLAT_FRACTION = 0.1
    #: Longest time a lifted channel's weights stay frozen (s).
    FREEZE_S = 2.0
    #: A collapsed input this long is the channel's new quiet level (s).
    ACCEPT_S = 10.0

    def __init__(
        self,
        fs_hz: float,
        n_channels: int,
        mains_hz: float,
        *,
        max_harmonic_hz: float,
        bandwidth_hz: float = 1.0,
        drift_hz: float = 0.5,
        start_hz: float | None = None,
    ) -> None:
        self.fs_hz = float(fs_hz)
        self.mains_hz = float(mains_hz)
        self.drift_hz = float(drift_hz)
        n_harmonics = int(math.ceil(max_harmonic_hz / mains_hz) - 1)
        self.harmonics = np.arange(1, max(n_harmonics, 1) + 1, dtype=float)
        self.n_channels = n_channels
        self.block_n = max(1, round(self.BLOCK_S * fs_hz))
        # A first-order tracking loop of time constant tau has a -3 dB width of 1 / (pi tau).
        tau_s = 1.0 / (math.pi * bandwidth_hz)
        self.step = 1.0 / (tau_s * fs_hz)
        self._start_hz = self.mains_hz if start_hz is None else float(start_hz)
        # One mains period: over it the RMS of any mix of harmonics does not depend on phase.
        self._gate_n = max(1, round(fs_hz / self.mains_hz))
        self._omega_limits = tuple(
            2 * math.pi * (self.mains_hz + sign * self.TRACKING_MARGIN * self.drift_hz) / fs_hz
            for sign in (-1, 1)
        )
        check_s = self.CHECK_BLOCKS * self.block_n / fs_hz
        drift_per_check_hz = self.MAX_DRIFT_RATE_HZ_S * check_s
        self._settings = CancellerSettings(
            harmonics=self.harmonics,
            block_n=self.block_n,
            step=self.step,
            # The quiet level may rise (electrode gel drying): it may double every
            # FLOOR_DOUBLING_S.
            floor_growth=2.0 ** (self.block_n / fs_hz / self.FLOOR_DOUBLING_S),
            boost_blocks=self.START_BOOST_S * fs_hz / self.block_n,
            freeze_blocks=round(self.FREEZE_S * fs_hz / self.block_n),
            accept_blocks=round(self.ACCEPT_S * fs_hz / self.block_n),
            drift_var=(2 * math.pi * drift_per_check_hz / fs_hz) ** 2,
            omega_lo=self._omega_limits[0],
            omega_hi=self._omega_limits[1],
            check_blocks=self.CHECK_BLOCKS,
            max_gain=self.MAX_GAIN,
            quiet_margin=self.QUIET_MARGIN,
            power_smoothing=self.POWER_SMOOTHING,
            start_boost=self.START_BOOST,
            calm_blocks=self.CALM_BLOCKS,
            gate_fraction=self.GATE_FRACTION,
            flat_fraction=self.FLAT_FRACTION,
        )
        self.reset()

    def reset(self) -> None:
        """Forget learned amplitudes and the tracked frequency."""
        lo, hi = self._omega_limits
        s = CancellerState.zeros(self.n_channels, len(self.harmonics), self.block_n, self._gate_n)
        s.phase[OMEGA_RAD] = min(max(2 * math.pi * self._start_hz / self.fs_hz, lo), hi)
        s.phase[OMEGA_VAR] = (2 * math.pi * self.drift_hz / self.fs_hz) ** 2
        fill_reference(s, self.harmonics)
        self._s = s
        #: Per sample of the last chunk: the fraction of the mains estimate subtracted (1 unless
        #: the input fell below it).
        self.gate = np.ones((0, self.n_channels))

    def restart(self) -> None:
        """Start over after a gap in the signal, keeping what does not depend on its phase.

        The phasors are relearned (their phase is lost with the gap), but the tracked frequency
        and each channel's quiet level are kept: a contraction under way when the signal comes
        back is then still recognised as one and does not pass for mains.
        """
        old = self._s
        self.reset()
        s = self._s
        s.phase[OMEGA_RAD], s.phase[OMEGA_VAR] = old.phase[OMEGA_RAD], old.phase[OMEGA_VAR]
        s.smooth_power[:] = old.smooth_power
        s.power_floor[:] = old.power_floor
        s.counts[LEVELS_READY] = old.counts[LEVELS_READY]
        fill_reference(s, self.harmonics)

    def forget(self, channels: np.ndarray) -> None:
        """Drop what some channels learned (their weights), keeping the tracked frequency.

        For a channel that was contracting when the canceller started: its quiet level was not
        known, so it learned EMG as mains at full speed, and would subtract that from the rest
        that follows for seconds.

        Parameters
        ----------
        channels : ndarray of int
            The channels.
        """
        s = self._s
        for array in (s.weights, s.gradient):
            array[:, channels] = 0.0
        s.mains_rms[channels] = 0.0
        s.calm_blocks[channels] = 0

    @property
    def frequency_hz(self) -> float:
        """The tracked mains fundamental."""
        return float(self._s.phase[OMEGA_RAD]) * self.fs_hz / (2 * math.pi)

    @property
    def mains_rms_uv(self) -> np.ndarray:
        """Per-channel RMS of the mains component being removed, shape (n_channels,)."""
        return np.sqrt(0.5 * np.sum(self._s.weights**2, axis=0))

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Remove mains from one chunk.

        Parameters
        ----------
        chunk : ndarray, shape (n_samples, n_channels)
            Band-passed signal.

        Returns
        -------
        ndarray, shape (n_samples, n_channels)
            The signal with mains removed.
        """
        out, self.gate = cancel_chunk(chunk, self._s, self._settings)
        return out
