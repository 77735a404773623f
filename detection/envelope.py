"""Causal envelopes with carried state, each reporting its group delay.

- :class:`RmsEnvelope`: sliding RMS over a window (the detection default, 50 ms).
- :class:`LowpassEnvelope`: rectify, then a Butterworth low-pass (2nd order, 6 Hz by default).
- :class:`TkeoEnvelope`: Teager-Kaiser energy of the signal, averaged over a window, as an
  amplitude (square root). TKEO weighs each sample by its instantaneous frequency, so onsets of
  EMG (broadband, 50-150 Hz) stand out and slow artefacts such as ECG (QRS mostly below 40 Hz)
  are suppressed (Li et al. 2007; Solnik et al. 2010).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import signal

from detection.filters import SosState
from detection.windows import MovingMean, RmsTkeoMeans

__all__ = [
    "Envelope",
    "EnvelopePair",
    "LowpassEnvelope",
    "RmsEnvelope",
    "TkeoEnvelope",
    "make_envelope",
]


class Envelope(Protocol):
    """What every envelope stage offers."""

    group_delay_ms: float

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Return the envelope of a chunk (same shape)."""
        ...

    def reset(self) -> None:
        """Forget the state."""
        ...


class RmsEnvelope:
    """Sliding RMS over a window.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    window_s : float
        Window length.
    """

    def __init__(self, fs_hz: float, n_channels: int, window_s: float = 0.05) -> None:
        window_n = max(2, round(window_s * fs_hz))
        self._mean = MovingMean(window_n, n_channels)
        #: A causal window of N samples delays a slow change by (N - 1) / 2 samples.
        self.group_delay_ms = 1000.0 * (window_n - 1) / 2 / fs_hz

    def reset(self) -> None:
        """Forget the state."""
        self._mean.reset()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Return the RMS envelope of a chunk, in the chunk's units."""
        return np.sqrt(np.maximum(self._mean.process(np.square(chunk)), 0.0))


class TkeoEnvelope:
    """Windowed Teager-Kaiser energy, as an amplitude.

    ``psi[n] = x[n]**2 - x[n-1] * x[n+1]`` needs one sample of look-ahead, so the output is the
    envelope of the signal one sample ago (counted in the group delay). The square root of the
    windowed mean keeps the scale of an amplitude, so thresholds read like the RMS ones.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    window_s : float
        Averaging window.
    """

    def __init__(self, fs_hz: float, n_channels: int, window_s: float = 0.05) -> None:
        window_n = max(2, round(window_s * fs_hz))
        self._mean = MovingMean(window_n, n_channels)
        self._n_channels = n_channels
        self.group_delay_ms = 1000.0 * ((window_n - 1) / 2 + 1) / fs_hz
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._mean.reset()
        self._last_two = np.zeros((2, self._n_channels))

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Return the TKEO envelope of a chunk (delayed by one sample)."""
        x = np.concatenate((self._last_two, chunk), axis=0)
        psi = x[1:-1] ** 2 - x[:-2] * x[2:]
        self._last_two = x[-2:]
        return np.sqrt(np.maximum(self._mean.process(psi), 0.0))


class LowpassEnvelope:
    """Full-wave rectification followed by a causal Butterworth low-pass.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    cutoff_hz : float
        Low-pass cut-off.
    order : int
        Butterworth order.
    """

    def __init__(
        self, fs_hz: float, n_channels: int, cutoff_hz: float = 6.0, order: int = 2
    ) -> None:
        self.sos = signal.butter(order, cutoff_hz, btype="lowpass", fs=fs_hz, output="sos")
        self._cascade = SosState(self.sos, n_channels)
        # The delay that matters for onsets is the one of slow changes: take it near DC.
        _, delay_samples = signal.group_delay(signal.sos2tf(self.sos), w=[cutoff_hz / 20], fs=fs_hz)
        self.group_delay_ms = float(1000.0 * delay_samples[0] / fs_hz)
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._cascade.reset()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Return the envelope of a chunk."""
        return np.maximum(self._cascade.process(np.abs(chunk)), 0.0)


def make_envelope(
    method: str,
    fs_hz: float,
    *,
    n_channels: int,
    window_s: float,
    lowpass_hz: float,
    lowpass_order: int,
) -> Envelope:
    """Build the amplitude envelope named in the config.

    Parameters
    ----------
    method : {"rms", "lowpass"}
        Which envelope.
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    window_s : float
        RMS window.
    lowpass_hz, lowpass_order : float, int
        Low-pass settings.

    Returns
    -------
    Envelope
        The envelope stage.
    """
    if method == "rms":
        return RmsEnvelope(fs_hz, n_channels, window_s)
    if method == "lowpass":
        return LowpassEnvelope(fs_hz, n_channels, lowpass_hz, lowpass_order)
    raise ValueError(f"envelope.method={method!r}: expected 'rms' or 'lowpass'")


class EnvelopePair:
    """The amplitude envelope and the detection envelope of one signal, computed together.

    With the sliding RMS and TKEO (the defaults) both are windowed means of the same signal, so
    one compiled pass does the work of two (the pipeline's cost is mostly per call).

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    method : {"rms", "lowpass"}
        Amplitude envelope.
    window_s : float
        RMS and TKEO window.
    lowpass_hz, lowpass_order : float, int
        Low-pass envelope settings.
    tkeo : bool
        Detect on the TKEO envelope (else on the amplitude envelope itself).
    """

    def __init__(
        self,
        fs_hz: float,
        n_channels: int,
        *,
        method: str,
        window_s: float,
        lowpass_hz: float,
        lowpass_order: int,
        tkeo: bool,
    ) -> None:
        self.amplitude: Envelope = make_envelope(
            method,
            fs_hz,
            n_channels=n_channels,
            window_s=window_s,
            lowpass_hz=lowpass_hz,
            lowpass_order=lowpass_order,
        )
        self.detection: Envelope | None = (
            TkeoEnvelope(fs_hz, n_channels, window_s) if tkeo else None
        )
        self._joint: RmsTkeoMeans | None = None
        if isinstance(self.amplitude, RmsEnvelope) and isinstance(self.detection, TkeoEnvelope):
            self._joint = RmsTkeoMeans(self.amplitude._mean.window_n, n_channels)
        self.amplitude_delay_ms = self.amplitude.group_delay_ms
        self.detection_delay_ms = (self.detection or self.amplitude).group_delay_ms
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self.amplitude.reset()
        if self.detection is not None:
            self.detection.reset()
        if self._joint is not None:
            self._joint.reset()

    def process(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(amplitude, detection)`` envelopes of a chunk."""
        if self._joint is None:
            amplitude = self.amplitude.process(chunk)
            detection = amplitude if self.detection is None else self.detection.process(chunk)
            return amplitude, detection
        return self._joint.process(chunk)
