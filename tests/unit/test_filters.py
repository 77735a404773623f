"""Band-pass and mains canceller: responses, drift tracking and chunk invariance."""

import numpy as np
import pytest
from emg_signals import FS_HZ, band_noise
from scipy import signal

from detection.envelope import EnvelopePair, LowpassEnvelope, RmsEnvelope, TkeoEnvelope
from detection.filters import BandpassFilter, MainsCanceller, detect_mains_hz


def _gain_db(sos, freqs_hz, fs_hz):
    _, h = signal.sosfreqz(sos, worN=np.asarray(freqs_hz, dtype=float), fs=fs_hz)
    return 20 * np.log10(np.abs(h))


def test_bandpass_is_flat_in_the_pass_band_and_3_db_at_the_edges():
    bp = BandpassFilter(FS_HZ, 1)
    inside = _gain_db(bp.sos, np.linspace(40, 300, 50), FS_HZ)
    assert np.all(np.abs(inside) < 0.5)
    assert np.allclose(_gain_db(bp.sos, [20, 450], FS_HZ), -3.01, atol=0.05)
    assert _gain_db(bp.sos, [5], FS_HZ)[0] < -40  # motion artefact
    assert _gain_db(bp.sos, [900], FS_HZ)[0] < -40


def test_upper_edge_is_capped_below_nyquist_for_slow_streams():
    bp = BandpassFilter(500.0, 1, 20.0, 450.0)
    assert bp.band_hz == (20.0, 225.0)
    assert np.allclose(_gain_db(bp.sos, [225.0], 500.0), -3.01, atol=0.05)


def _lock_in_amplitude(x, freq_hz, fs_hz):
    """Amplitude of a sinusoid of known frequency in x (least squares)."""
    t = np.arange(len(x)) / fs_hz
    basis = np.column_stack([np.cos(2 * np.pi * freq_hz * t), np.sin(2 * np.pi * freq_hz * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.hypot(*coef))


@pytest.mark.parametrize("mains_hz", [50, 60])
@pytest.mark.parametrize("offset_hz", [-0.5, 0.0, 0.5])
def test_mains_and_every_harmonic_lose_at_least_30_db_even_off_frequency(mains_hz, offset_hz):
    """The canceller tracks a mains fundamental that is 0.5 Hz away from nominal."""
    rng = np.random.default_rng(1)
    n = round(20 * FS_HZ)
    f0 = mains_hz + offset_hz
    t = np.arange(n) / FS_HZ
    top_hz = 450.0
    harmonics = [k for k in range(1, 10) if k * mains_hz < top_hz]
    hum = sum(20.0 * np.cos(2 * np.pi * k * f0 * t + k) for k in harmonics)
    x = 3.0 * band_noise(rng, n, 1)[:, 0] + hum
    canceller = MainsCanceller(FS_HZ, 1, mains_hz, max_harmonic_hz=top_hz)
    y = np.concatenate([canceller.process(x[i : i + 50, None]) for i in range(0, n, 50)])[:, 0]
    settled = slice(n // 2, n)
    for k in harmonics:
        before = _lock_in_amplitude(x[settled], k * f0, FS_HZ)
        after = _lock_in_amplitude(y[settled], k * f0, FS_HZ)
        assert 20 * np.log10(before / after) >= 30, f"harmonic {k} at {k * f0} Hz"
    assert abs(canceller.frequency_hz - f0) < 0.05  # tracked to within its jitter


@pytest.mark.parametrize("mains_hz", [50, 60])
def test_mains_drifting_by_half_a_hertz_is_still_removed(mains_hz):
    """Mains wandering +-0.5 Hz at up to 0.02 Hz/s (faster than a real grid) stays >= 30 dB down.

    The canceller keeps >= 30 dB up to about 0.03 Hz/s; a 60 s cycle (0.05 Hz/s) gives ~27 dB.
    """
    rng = np.random.default_rng(2)
    n = round(60 * FS_HZ)
    t = np.arange(n) / FS_HZ
    freq = mains_hz + 0.5 * np.sin(2 * np.pi * t / 150.0)
    phase = 2 * np.pi * np.cumsum(freq) / FS_HZ
    harmonics = [k for k in range(1, 10) if k * mains_hz < 450]
    hums = {k: 20.0 * np.cos(k * phase) for k in harmonics}
    x = 3.0 * band_noise(rng, n, 1)[:, 0] + sum(hums.values())
    canceller = MainsCanceller(FS_HZ, 1, mains_hz, max_harmonic_hz=450.0)
    y = np.concatenate([canceller.process(x[i : i + 32, None]) for i in range(0, n, 32)])[:, 0]
    settled = slice(round(5 * FS_HZ), n)
    for k, hum in hums.items():
        # What is left of this harmonic: project the output on the harmonic's own waveform,
        # in one-second pieces (its frequency changes over the minute).
        residual, original = 0.0, 0.0
        for start in range(settled.start, n, round(FS_HZ)):
            piece = slice(start, start + round(FS_HZ))
            basis = np.column_stack([np.cos(k * phase[piece]), np.sin(k * phase[piece])])
            coef, *_ = np.linalg.lstsq(basis, y[piece], rcond=None)
            residual += float(np.sum((basis @ coef) ** 2))
            original += float(np.sum(hum[piece] ** 2))
        assert 10 * np.log10(original / residual) >= 30, f"harmonic {k}"


def test_canceller_leaves_emg_alone():
    rng = np.random.default_rng(3)
    x = 50.0 * band_noise(rng, round(20 * FS_HZ), 2)
    canceller = MainsCanceller(FS_HZ, 2, 50, max_harmonic_hz=450.0)
    y = canceller.process(x)
    change_db = 10 * np.log10(np.mean(y[20000:] ** 2) / np.mean(x[20000:] ** 2))
    assert abs(change_db) < 0.2


def test_mains_family_is_recognised_from_rest():
    rng = np.random.default_rng(4)
    n = round(5 * FS_HZ)
    t = np.arange(n) / FS_HZ
    for mains_hz in (50, 60):
        hum = 4.0 * np.cos(2 * np.pi * (mains_hz + 0.3) * t) + np.cos(4 * np.pi * mains_hz * t)
        x = 3.0 * band_noise(rng, n, 2) + hum[:, None]
        found, fundamental = detect_mains_hz(x, FS_HZ)
        assert found == mains_hz
        assert abs(fundamental - (mains_hz + 0.3)) <= 0.25


def _chunked(stage_factory, x, sizes):
    whole = stage_factory().process(x)
    stage = stage_factory()
    out, start, i = [], 0, 0
    while start < len(x):
        size = sizes[i % len(sizes)]
        out.append(stage.process(x[start : start + size]))
        start += size
        i += 1
    return whole, np.concatenate(out)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: BandpassFilter(FS_HZ, 3),
        lambda: MainsCanceller(FS_HZ, 3, 50, max_harmonic_hz=450.0),
        lambda: RmsEnvelope(FS_HZ, 3, 0.05),
        lambda: TkeoEnvelope(FS_HZ, 3, 0.05),
        lambda: LowpassEnvelope(FS_HZ, 3, 6.0, 2),
    ],
    ids=["bandpass", "mains", "rms", "tkeo", "lowpass"],
)
def test_every_stage_gives_the_same_output_whatever_the_chunking(factory):
    rng = np.random.default_rng(5)
    x = 10.0 * rng.standard_normal((7000, 3)) + 30 * np.sin(np.arange(7000) / 6.4)[:, None]
    whole, chunked = _chunked(factory, x, [1, 7, 500, 33, 2, 128])
    np.testing.assert_allclose(chunked, whole, rtol=1e-9, atol=1e-9)


def test_group_delays_are_reported_and_true():
    assert RmsEnvelope(2000.0, 1, 0.05).group_delay_ms == pytest.approx(24.75)
    assert TkeoEnvelope(2000.0, 1, 0.05).group_delay_ms == pytest.approx(25.25)
    lowpass = LowpassEnvelope(2000.0, 1, 6.0, 2)
    assert lowpass.group_delay_ms == pytest.approx(37.5, abs=0.5)  # DOMAIN.md: about 37 ms
    # A slow ramp comes out delayed by the reported group delay.
    t = np.arange(8000) / 2000.0
    ramp = np.clip((t - 1.0) * 20, 0, 40)[:, None]
    for stage in (RmsEnvelope(2000.0, 1, 0.05), lowpass):
        out = stage.process(ramp)[:, 0]
        mid = np.argmax(out >= 20.0)
        delay_ms = (mid - np.argmax(ramp[:, 0] >= 20.0)) / 2.0
        assert delay_ms == pytest.approx(stage.group_delay_ms, abs=2.0)


def test_joint_envelopes_equal_the_separate_ones():
    rng = np.random.default_rng(6)
    x = 20.0 * rng.standard_normal((3000, 4))
    pair = EnvelopePair(
        FS_HZ, 4, method="rms", window_s=0.05, lowpass_hz=6.0, lowpass_order=2, tkeo=True
    )
    amplitude, detection = zip(
        *(pair.process(x[i : i + 37]) for i in range(0, 3000, 37)), strict=True
    )
    np.testing.assert_allclose(
        np.concatenate(amplitude), RmsEnvelope(FS_HZ, 4).process(x), atol=1e-9
    )
    np.testing.assert_allclose(
        np.concatenate(detection), TkeoEnvelope(FS_HZ, 4).process(x), atol=1e-9
    )
    assert pair.detection_delay_ms == TkeoEnvelope(FS_HZ, 4).group_delay_ms
