"""Signal pieces of the simulated patient: shaped noise, trapezoid envelopes, mains, ECG, motion.

Everything except :class:`ShapedNoise` is a pure function of absolute sample indices, so any
block of the signal can be drawn without knowing the blocks before it; the noise filters carry
their state from block to block.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from acquisition.sim_truth import ArtefactInterval, Burst

__all__ = [
    "ShapedNoise",
    "add_ecg",
    "add_motion",
    "add_trapezoid",
    "baseline_sos",
    "beta_sos",
    "burst_shape",
    "carrier_sos",
    "fluctuation_factor",
    "mains_uv",
    "slow_sines",
]

# EMG carrier: a 2nd-order high-pass at 60 Hz and a 2nd-order low-pass at 150 Hz put the power
# spectrum's peak near 95 Hz with a median near 120 Hz, inside the 80-120 Hz peak of surface EMG
# (Shwedyk et al. 1977).
_CARRIER_HIGHPASS_HZ = 60.0
_CARRIER_LOWPASS_HZ = 150.0
# Electrode and amplifier noise at rest is broadband, not EMG-shaped.
_BASELINE_BAND_HZ = (10.0, 500.0)
# Corticospinal beta drive.
_BETA_BAND_HZ = (15.0, 30.0)


def _cap(fs_hz: float, cutoff_hz: float) -> float:
    """Keep a cutoff below 45 % of the sampling rate."""
    return min(cutoff_hz, 0.45 * fs_hz)


def carrier_sos(fs_hz: float) -> np.ndarray:
    """Second-order sections shaping white noise into the EMG carrier spectrum."""
    high = signal.butter(2, _CARRIER_HIGHPASS_HZ, "highpass", fs=fs_hz, output="sos")
    low = signal.butter(2, _cap(fs_hz, _CARRIER_LOWPASS_HZ), "lowpass", fs=fs_hz, output="sos")
    return np.vstack([high, low])


def baseline_sos(fs_hz: float) -> np.ndarray:
    """Second-order sections of the broadband rest noise."""
    low, high = _BASELINE_BAND_HZ
    return signal.butter(1, [low, _cap(fs_hz, high)], "bandpass", fs=fs_hz, output="sos")


def beta_sos(fs_hz: float) -> np.ndarray:
    """Second-order sections of the 15-30 Hz drive that modulates the EMG amplitude."""
    return signal.butter(2, _BETA_BAND_HZ, "bandpass", fs=fs_hz, output="sos")


class ShapedNoise:
    """Filter white noise block by block into unit-RMS coloured noise.

    Parameters
    ----------
    sos : numpy.ndarray
        Second-order sections of the shaping filter.
    n_channels : int
        Independent noise channels.
    warmup : numpy.ndarray
        White noise (n_samples, n_channels) run through the filter once so the first block
        already has its steady-state variance.
    """

    def __init__(self, sos: np.ndarray, n_channels: int, warmup: np.ndarray) -> None:
        self._sos = sos
        impulse = np.zeros(max(warmup.shape[0], 4096))
        impulse[0] = 1.0
        # The variance of filtered unit white noise is the energy of the impulse response.
        self._scale = 1.0 / math.sqrt(float(np.sum(signal.sosfilt(sos, impulse) ** 2)))
        self._zi = np.zeros((sos.shape[0], 2, n_channels))
        self.process(warmup)

    def process(self, white: np.ndarray) -> np.ndarray:
        """Shape one block of white noise, continuing the previous block.

        Parameters
        ----------
        white : numpy.ndarray
            Unit-variance white noise, (n_samples, n_channels).

        Returns
        -------
        numpy.ndarray
            Unit-RMS shaped noise of the same shape.
        """
        shaped, self._zi = signal.sosfilt(self._sos, white, axis=0, zi=self._zi)
        return shaped * self._scale


def burst_shape(n: np.ndarray, burst: Burst, shift: float = 0.0) -> np.ndarray:
    """The unit-plateau envelope of a burst at sample indices ``n``.

    Parameters
    ----------
    n : numpy.ndarray
        Sample indices (float64).
    burst : Burst
        The trapezoid, in samples; half-cosine ramps when ``burst.cosine``.
    shift : float
        Delay in samples (the mirror lag).

    Returns
    -------
    numpy.ndarray
        0 before the start and after the stop, 1 on the plateau.
    """
    start = burst.start + shift
    stop = burst.stop + shift
    knots = [start, start + burst.ramp_up, stop - burst.ramp_down, stop]
    linear = np.interp(n, knots, [0.0, 1.0, 1.0, 0.0], 0.0, 0.0)
    if not burst.cosine:
        return linear
    # On each ramp the linear fraction u becomes 0.5 - 0.5 cos(pi u): smooth at both ends.
    return 0.5 - 0.5 * np.cos(np.pi * linear)


def fluctuation_factor(
    n: np.ndarray, fs_hz: float, terms: tuple[tuple[float, float, float], ...], shift: float
) -> np.ndarray:
    """Slow amplitude fluctuation of a contraction, 1 + sum of depth x sin terms.

    Parameters
    ----------
    n : numpy.ndarray
        Sample indices (float64).
    fs_hz : float
        Sampling rate.
    terms : tuple of (float, float, float)
        (frequency Hz, depth, phase rad); the depths add up to the largest deviation from 1.
    shift : float
        Delay in samples (a mirror follows its active side's fluctuation at its lag).

    Returns
    -------
    numpy.ndarray
        The factor (mean about 1).
    """
    # As slow_sines' (amplitude, frequency, phase) rows, for one channel.
    rows = np.array([[[depth], [frequency_hz], [phase]] for frequency_hz, depth, phase in terms])
    return 1.0 + slow_sines(n - shift, fs_hz, rows)[:, 0]


def add_trapezoid(
    out: np.ndarray,
    first: int,
    burst: Burst,
    amplitude_uv: float,
    shift: float,
    *,
    fluctuation: tuple[tuple[float, float, float], ...] = (),
    fs_hz: float = 1.0,
) -> None:
    """Add one burst's envelope into ``out`` in place.

    Parameters
    ----------
    out : numpy.ndarray
        Envelope of one channel for samples ``first, first + 1, ...``.
    first : int
        Sample index of ``out[0]``.
    burst : Burst
        The trapezoid, in samples.
    amplitude_uv : float
        Plateau height.
    shift : float
        Delay in samples (the mirror lag; 0 for the active side).
    fluctuation : tuple of (float, float, float)
        Slow amplitude fluctuation terms (:func:`fluctuation_factor`), delayed by ``shift``.
    fs_hz : float
        Sampling rate (needed with ``fluctuation``).
    """
    start = burst.start + shift
    stop = burst.stop + shift
    lo = max(0, math.floor(start) - first)
    hi = min(out.shape[0], math.ceil(stop) + 1 - first)
    if hi <= lo:
        return
    n = np.arange(first + lo, first + hi, dtype=np.float64)
    if not burst.cosine and not fluctuation:
        # The original linear trapezoid, computed exactly as it always was (the clean signal).
        knots = [start, start + burst.ramp_up, stop - burst.ramp_down, stop]
        out[lo:hi] += np.interp(n, knots, [0.0, amplitude_uv, amplitude_uv, 0.0], 0.0, 0.0)
        return
    shape = burst_shape(n, burst, shift) * amplitude_uv
    if fluctuation:
        shape *= fluctuation_factor(n, fs_hz, fluctuation, shift)
    out[lo:hi] += shape


def slow_sines(n: np.ndarray, fs_hz: float, terms: np.ndarray) -> np.ndarray:
    """Sums of slow sinusoids per channel: electrode drift, noise-floor wander.

    Parameters
    ----------
    n : numpy.ndarray
        Sample indices (float64), (n_samples,).
    fs_hz : float
        Sampling rate.
    terms : numpy.ndarray
        (n_terms, 3, n_channels): amplitude, frequency (Hz) and phase (rad) of each term.

    Returns
    -------
    numpy.ndarray
        (n_samples, n_channels).
    """
    t_s = (n / fs_hz)[:, None]
    out = np.zeros((n.shape[0], terms.shape[2]))
    for amplitude, frequency_hz, phase in terms:
        out += amplitude[None, :] * np.sin(2.0 * np.pi * frequency_hz[None, :] * t_s + phase)
    return out


def mains_uv(
    n: np.ndarray,
    fs_hz: float,
    *,
    mains_hz: float,
    amplitude_uv: float,
    drift_hz: float,
    drift_period_s: float,
) -> np.ndarray:
    """Mains hum with harmonics whose frequency wanders slowly.

    Parameters
    ----------
    n : numpy.ndarray
        Sample indices (float64).
    fs_hz : float
        Sampling rate.
    mains_hz : float
        Nominal frequency, 50 or 60.
    amplitude_uv : float
        Amplitude of the fundamental; the 2nd-5th harmonics follow at 0.1, 0.4, 0.05, 0.15 of
        it (odd harmonics dominate, as from transformers and rectifiers).
    drift_hz : float
        Peak frequency deviation.
    drift_period_s : float
        Period of the (sinusoidal) frequency wander.

    Returns
    -------
    numpy.ndarray
        The hum (n_samples,) in microvolts.
    """
    t = n / fs_hz
    # The phase is the closed-form integral of the drifting frequency, so it has no state.
    wander = drift_hz * drift_period_s / (2.0 * math.pi)
    phase = (
        2.0 * math.pi * (mains_hz * t + wander * (1.0 - np.cos(2.0 * math.pi * t / drift_period_s)))
    )
    hum = np.zeros_like(t)
    for harmonic, weight in ((1, 1.0), (2, 0.1), (3, 0.4), (4, 0.05), (5, 0.15)):
        if harmonic * (mains_hz + drift_hz) < 0.5 * fs_hz:
            hum += weight * np.sin(harmonic * phase + 0.3 * harmonic)
    return amplitude_uv * hum


def _ecg_shape(t_s: np.ndarray, qrs_width_s: float) -> np.ndarray:
    """One heart beat relative to its R peak, peak R = 1."""
    sigma = qrs_width_s / 6.0
    q = -0.15 * np.exp(-0.5 * ((t_s + 0.3 * qrs_width_s) / sigma) ** 2)
    r = np.exp(-0.5 * (t_s / sigma) ** 2)
    s = -0.3 * np.exp(-0.5 * ((t_s - 0.3 * qrs_width_s) / sigma) ** 2)
    t_wave = 0.2 * np.exp(-0.5 * ((t_s - 0.25) / 0.04) ** 2)
    return q + r + s + t_wave


#: An ECG beat's waveform is taken as zero this far from its R peak (s).
ECG_REACH_S = 0.45


def add_ecg(
    out: np.ndarray,
    first: int,
    fs_hz: float,
    r_peaks: list[float],
    *,
    qrs_width_s: float,
    amplitude_uv: np.ndarray,
    beat_factors: list[float] | None = None,
) -> None:
    """Add heart beats into ``out`` (n_samples, n_channels) in place.

    Parameters
    ----------
    out : numpy.ndarray
        The block.
    first : int
        Sample index of ``out[0]``.
    fs_hz : float
        Sampling rate.
    r_peaks : list of float
        R-peak sample indices near the block.
    qrs_width_s : float
        QRS duration.
    amplitude_uv : numpy.ndarray
        Signed R amplitude per channel (the two arms see the heart with opposite polarity).
    beat_factors : list of float | None
        Each beat's amplitude relative to ``amplitude_uv`` (beat-to-beat variation); None: 1.
    """
    reach = ECG_REACH_S * fs_hz
    factors = beat_factors if beat_factors is not None else [1.0] * len(r_peaks)
    for peak, factor in zip(r_peaks, factors, strict=True):
        lo = max(0, math.floor(peak - reach) - first)
        hi = min(out.shape[0], math.ceil(peak + reach) - first)
        if hi <= lo:
            continue
        t_s = (np.arange(first + lo, first + hi) - peak) / fs_hz
        out[lo:hi] += _ecg_shape(t_s, qrs_width_s)[:, None] * (amplitude_uv * factor)[None, :]


def add_motion(out: np.ndarray, first: int, fs_hz: float, bump: ArtefactInterval) -> None:
    """Add a motion bump into ``out`` (n_samples, n_channels) in place.

    A Hann-windowed slow oscillation: large, brief and almost all below 20 Hz, like a cable or
    electrode being pushed.

    Parameters
    ----------
    out : numpy.ndarray
        The block.
    first : int
        Sample index of ``out[0]``.
    fs_hz : float
        Sampling rate.
    bump : ArtefactInterval
        A "motion" interval with its amplitude, frequency and phase.
    """
    lo = max(0, math.ceil(bump.start) - first)
    hi = min(out.shape[0], math.floor(bump.stop) + 1 - first)
    if hi <= lo:
        return
    n = np.arange(first + lo, first + hi, dtype=np.float64)
    u = (n - bump.start) / (bump.stop - bump.start)
    t_s = (n - bump.start) / fs_hz
    wave = np.sin(np.pi * u) ** 2 * np.cos(2.0 * np.pi * bump.frequency_hz * t_s + bump.phase_rad)
    # Channels further down the list get a smaller share: the push is felt unevenly.
    weights = 1.0 / (1.0 + 0.3 * np.arange(len(bump.channels)))
    out[lo:hi, list(bump.channels)] += bump.amplitude_uv * wave[:, None] * weights[None, :]
