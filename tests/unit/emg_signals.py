"""Controlled synthetic signals for the detection tests (known onsets, gains, lags, artefacts).

The simulator in ``acquisition.simulator`` is the realistic patient; these are simpler, so that
each test controls exactly the property it checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

FS_HZ = 2000.0
LABELS = ["FDI-L", "FDI-R"]


def band_noise(
    rng: np.random.Generator, n: int, n_channels: int, fs_hz: float = FS_HZ
) -> np.ndarray:
    """Unit-RMS Gaussian noise with an EMG-like spectrum (most power 50-150 Hz)."""
    b, a = signal.butter(2, [50, 150], btype="bandpass", fs=fs_hz)
    x = signal.lfilter(b, a, rng.standard_normal((n + 2000, n_channels)), axis=0)[2000:]
    return x / x.std(axis=0)


@dataclass(frozen=True)
class Burst:
    """A contraction on one channel: trapezoid amplitude envelope of EMG-like noise."""

    channel: int
    onset_s: float
    duration_s: float
    amplitude_uv: float
    ramp_s: float = 0.0


def trapezoid(n: int, fs_hz: float, burst: Burst) -> np.ndarray:
    """Amplitude envelope of a burst, shape (n,)."""
    t = np.arange(n) / fs_hz - burst.onset_s
    end = burst.duration_s
    up = np.clip(t / burst.ramp_s, 0, 1) if burst.ramp_s > 0 else (t >= 0).astype(float)
    down = np.clip((end - t) / burst.ramp_s, 0, 1) if burst.ramp_s > 0 else (t < end).astype(float)
    return burst.amplitude_uv * np.minimum(up, down) * (t >= 0) * (t < end)


def emg(
    duration_s: float,
    bursts: list[Burst],
    *,
    baseline_uv: float = 3.0,
    n_channels: int = 2,
    seed: int = 0,
    mirror_of: dict[int, tuple[int, float, float]] | None = None,
    fs_hz: float = FS_HZ,
) -> np.ndarray:
    """EMG in microvolts, samples x channels.

    Parameters
    ----------
    duration_s : float
        Length.
    bursts : list of Burst
        Voluntary contractions.
    baseline_uv : float
        RMS of the rest noise on every channel.
    n_channels : int
        Number of channels.
    seed : int
        Random seed.
    mirror_of : dict
        ``{mirror_channel: (active_channel, gain, lag_s)}``: the mirror channel gets independent
        EMG whose amplitude is ``gain`` times the active channel's envelope, ``lag_s`` later.
    fs_hz : float
        Sampling rate.
    """
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs_hz)
    x = baseline_uv * band_noise(rng, n, n_channels, fs_hz)
    envelopes = np.zeros((n, n_channels))
    for burst in bursts:
        envelopes[:, burst.channel] += trapezoid(n, fs_hz, burst)
    for mirror, (active, gain, lag_s) in (mirror_of or {}).items():
        shift = round(lag_s * fs_hz)
        envelopes[shift:, mirror] += gain * envelopes[: n - shift, active]
    x += envelopes * band_noise(rng, n, n_channels, fs_hz)
    return x.astype(np.float32)


def timestamps(n: int, t0: float = 1000.0, fs_hz: float = FS_HZ) -> np.ndarray:
    """Regular LSL-like timestamps."""
    return t0 + np.arange(n) / fs_hz


def mains(
    n: int,
    f0_hz: float,
    *,
    amplitude_uv: float,
    fs_hz: float = FS_HZ,
    drift_hz: float = 0.0,
    drift_period_s: float = 60.0,
    harmonics: int = 8,
) -> np.ndarray:
    """Mains hum with harmonics (amplitude falling as 1/k), optionally drifting, shape (n,)."""
    t = np.arange(n) / fs_hz
    f = f0_hz + drift_hz * np.sin(2 * np.pi * t / drift_period_s)
    phase = 2 * np.pi * np.cumsum(f) / fs_hz
    return sum(amplitude_uv / k * np.cos(k * phase + 0.4 * k) for k in range(1, harmonics + 1))


def ecg(n: int, amplitude_uv: float, rate_hz: float = 1.1, fs_hz: float = FS_HZ) -> np.ndarray:
    """QRS-like spikes (biphasic, ~40 ms wide) at a steady heart rate, shape (n,)."""
    t = np.arange(n) / fs_hz
    out = np.zeros(n)
    for beat in np.arange(0.3, n / fs_hz, 1 / rate_hz):
        u = (t - beat) / 0.01
        out += amplitude_uv * (-u * np.exp(-0.5 * u**2))
    return out


def motion_bumps(
    n: int, amplitude_uv: float, every_s: float = 4.0, fs_hz: float = FS_HZ
) -> np.ndarray:
    """Large, slow, brief bumps (energy below 20 Hz), shape (n,)."""
    t = np.arange(n) / fs_hz
    out = np.zeros(n)
    for centre in np.arange(1.7, n / fs_hz, every_s):
        out += amplitude_uv * np.exp(-0.5 * ((t - centre) / 0.08) ** 2)
    return out
