"""The simulated patient: determinism, realism, and a ground truth that the signal bears out."""

from __future__ import annotations

import itertools
import json
import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal
from scipy.ndimage import uniform_filter1d

from acquisition.sim_signal import add_motion
from acquisition.simulator import (
    MAX_PAIRS,
    MUSCLES,
    PRESETS,
    ArtefactInterval,
    SimulatedPatient,
    SimulatorError,
    TrialTruth,
)

FS_HZ = 2000.0


@cache
def _recording(preset: str, seed: int, duration_s: float) -> tuple[SimulatedPatient, np.ndarray]:
    patient = SimulatedPatient(preset, fs_hz=FS_HZ, seed=seed)
    return patient, patient.generate(round(duration_s * FS_HZ)).astype(np.float64)


def _finished(patient: SimulatedPatient, n_samples: int) -> list[TrialTruth]:
    return [t for t in patient.trials_between(0, n_samples) if t.span_stop <= n_samples]


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_signal_and_truth() -> None:
    a = SimulatedPatient("stroke", seed=7)
    b = SimulatedPatient("stroke", seed=7)
    assert np.array_equal(a.generate(30_000), b.generate(30_000))
    assert [t.to_dict() for t in a.trials_between(0, 30_000)] == [
        t.to_dict() for t in b.trials_between(0, 30_000)
    ]


def test_different_seed_different_signal() -> None:
    a = SimulatedPatient("stroke", seed=7).generate(10_000)
    b = SimulatedPatient("stroke", seed=8).generate(10_000)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_chunked_generation_equals_one_call(preset: str) -> None:
    whole = SimulatedPatient(preset, n_pairs=2, seed=3).generate(41_001)
    chunked = SimulatedPatient(preset, n_pairs=2, seed=3)
    sizes = [0, 1, 7, 499, 500, 501, 1, 12_345, 3, 20_000]
    parts = [chunked.generate(n) for n in sizes]
    parts.append(chunked.generate(41_001 - sum(sizes)))
    assert chunked.position == 41_001
    assert np.array_equal(np.vstack(parts), whole)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9_000), max_size=8))
def test_any_chunking_gives_the_same_samples(sizes: list[int]) -> None:
    patient = SimulatedPatient("artefacts", seed=9)
    parts = [patient.generate(n) for n in sizes]
    whole = SimulatedPatient("artefacts", seed=9).generate(sum(sizes))
    assert np.array_equal(np.vstack([*parts, whole[:0]]), whole)


def test_reset_replays_the_same_samples() -> None:
    patient = SimulatedPatient("artefacts", seed=2)
    first = patient.generate(9_000)
    patient.reset()
    assert np.array_equal(patient.generate(9_000), first)


def test_output_is_float32_microvolts_samples_by_channels() -> None:
    patient = SimulatedPatient("congenital", n_pairs=3)
    chunk = patient.generate(100)
    assert chunk.dtype == np.float32
    assert chunk.shape == (100, 6)


# -- names ------------------------------------------------------------------------------------


def test_labels_follow_pairs_left_then_right() -> None:
    patient = SimulatedPatient(n_pairs=3)
    assert patient.pair_names == ("FDI", "APB", "ECR")
    assert patient.labels == ("FDI-L", "FDI-R", "APB-L", "APB-R", "ECR-L", "ECR-R")


def test_sixty_four_pairs_have_unique_muscle_names() -> None:
    patient = SimulatedPatient(n_pairs=MAX_PAIRS)
    assert len(set(patient.pair_names)) == MAX_PAIRS
    assert len(set(patient.labels)) == 2 * MAX_PAIRS
    assert patient.pair_names[: len(MUSCLES)] == MUSCLES


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preset": "nope"},
        {"fs_hz": 499.0},
        {"fs_hz": 10_001.0},
        {"n_pairs": 0},
        {"n_pairs": MAX_PAIRS + 1},
        {"mains_hz": 55},
        {"seed": -1},
        {"initial_rest_s": -1.0},
    ],
)
def test_bad_parameters_raise_one_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(SimulatorError):
        SimulatedPatient(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("fs_hz", [500.0, 10_000.0])
def test_extreme_sampling_rates_work(fs_hz: float) -> None:
    patient = SimulatedPatient("stroke", fs_hz=fs_hz, seed=1, initial_rest_s=1.0)
    x = patient.generate(round(12 * fs_hz))
    assert np.all(np.isfinite(x))
    trial = patient.trials_between(0, x.shape[0])[0]
    b = trial.bursts[0]
    plateau = x[math.ceil(b.start + b.ramp_up) : math.floor(b.start + b.ramp_up + b.hold)]
    rms = float(np.sqrt(np.mean(plateau[:, trial.active_channel] ** 2)))
    assert rms == pytest.approx(trial.active_amplitude_uv, rel=0.3)


# -- realism ----------------------------------------------------------------------------------


def _plateaus(
    patient: SimulatedPatient, x: np.ndarray, channel: str, mirrored_only: bool = False
) -> list[np.ndarray]:
    """Steady parts of the holds, on the active or the mirror channel."""
    out = []
    for t in _finished(patient, x.shape[0]):
        if t.task != "hold" or ((channel == "mirror" or mirrored_only) and not t.mirror):
            continue
        b = t.bursts[0]
        lag = abs(t.mirror_lag_samples)
        lo, hi = math.ceil(b.start + b.ramp_up + lag), math.floor(b.start + b.ramp_up + b.hold)
        index = t.active_channel if channel == "active" else t.mirror_channel
        out.append(x[lo:hi, index])
    return out


def test_spectrum_of_a_contraction_peaks_between_80_and_120_hz() -> None:
    patient, x = _recording("stroke", 1, 120.0)
    psds = [signal.welch(seg, FS_HZ, nperseg=500)[1] for seg in _plateaus(patient, x, "active")]
    freqs = np.fft.rfftfreq(500, 1.0 / FS_HZ)
    power = np.mean([p / p.sum() for p in psds], axis=0)
    # A parabola through the log spectrum finds the top of a broad peak robustly.
    band = (freqs >= 40.0) & (freqs <= 200.0)
    a, b, _ = np.polyfit(freqs[band], 10.0 * np.log10(power[band]), 2)
    assert a < 0
    assert 80.0 <= -b / (2.0 * a) <= 120.0
    # Most of the power lies where surface EMG has it, 20-450 Hz.
    assert power[(freqs >= 20.0) & (freqs <= 450.0)].sum() > 0.95


@pytest.mark.parametrize("preset", ["physiological", "congenital", "stroke", "demanding"])
def test_rest_and_contraction_amplitudes_in_bounds(preset: str) -> None:
    patient, x = _recording(preset, 1, 180.0)
    assert all(2.0 <= b <= 5.0 for b in patient.baselines_uv)
    rest = x[: round(5 * FS_HZ)]
    rest_rms = np.sqrt(np.mean(rest**2, axis=0))
    # Mains hum of about 1 uV rides on the 2-5 uV of rest noise.
    assert np.all(rest_rms >= np.asarray(patient.baselines_uv))
    assert np.all(rest_rms <= 1.2 * np.asarray(patient.baselines_uv))
    trials = _finished(patient, x.shape[0])
    assert all(50.0 <= t.active_amplitude_uv <= 500.0 for t in trials)
    ratios = [
        float(np.sqrt(np.mean(seg**2))) / t.active_amplitude_uv
        for seg, t in zip(
            _plateaus(patient, x, "active"), [t for t in trials if t.task == "hold"], strict=True
        )
    ]
    assert len(ratios) >= 5
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.1)
    assert all(0.7 <= r <= 1.4 for r in ratios)


def test_timetable_follows_the_model_ranges() -> None:
    patient = SimulatedPatient("demanding", seed=5, initial_rest_s=6.0)
    trials = patient.trials_between(0, round(600 * FS_HZ))
    assert trials[0].cue_index == round(6.0 * FS_HZ)
    assert {t.task for t in trials} == {"hold", "tapping"}
    for t in trials:
        reaction_s = (t.onset_index - t.cue_index) / FS_HZ
        assert 0.15 <= reaction_s <= 0.35
        assert t.cue_index <= t.rest_cue_index < t.offset_index
        assert t.span_start <= t.cue_index
        assert t.offset_index + abs(t.mirror_lag_samples) < t.span_stop
        if t.task == "hold":
            (b,) = t.bursts
            assert 0.05 <= b.ramp_up / FS_HZ <= 0.3
            assert 0.05 <= b.ramp_down / FS_HZ <= 0.3
            assert 1.5 <= b.hold / FS_HZ <= 5.0
        else:
            period_s = (t.bursts[1].start - t.bursts[0].start) / FS_HZ
            assert 0.5 <= 1.0 / period_s <= 3.0
            assert len(t.bursts) >= 2
    for before, after in itertools.pairwise(trials):
        assert before.span_stop == after.span_start
        assert 3.0 <= (after.cue_index - before.offset_index) / FS_HZ <= 6.0
    pairs = SimulatedPatient("stroke", n_pairs=4, seed=1).trials_between(0, round(300 * FS_HZ))
    assert {t.pair for t in pairs} == {"FDI", "APB", "ECR", "FCR"}


# -- the truth in the signal ------------------------------------------------------------------


def _shift_fit(envelope: np.ndarray, template: np.ndarray, max_shift: int) -> tuple[int, float]:
    """Best delay of ``template`` in ``envelope`` (least squares) and the fitted scale."""
    corr = signal.correlate(envelope, template, mode="full", method="fft")
    lags = signal.correlation_lags(envelope.size, template.size, mode="full")
    keep = np.abs(lags) <= max_shift
    best = int(lags[keep][np.argmax(corr[keep])])
    shifted = np.roll(template, best)
    return best, float(envelope @ shifted / (shifted @ shifted))


@pytest.mark.parametrize("preset", ["congenital", "stroke", "demanding"])
def test_mirror_envelope_matches_stated_gain_and_lag(preset: str) -> None:
    patient, x = _recording(preset, 2, 240.0)
    rest_power = np.mean(x[: round(5 * FS_HZ)] ** 2, axis=0)
    power = uniform_filter1d(x**2, round(0.025 * FS_HZ), axis=0) - rest_power
    amplitude = np.sqrt(np.clip(power, 0.0, None))
    gain_errors, lag_errors_ms = [], []
    for t in _finished(patient, x.shape[0]):
        if not t.mirror or t.mirror_amplitude_uv < 5 * t.baseline_uv:
            continue
        pad = round(0.6 * FS_HZ)
        lo, hi = math.floor(t.onset_index) - pad, math.ceil(t.offset_index) + pad
        # The noise-free shape of the active side (unit plateau), to fit each channel against.
        template = np.zeros(hi - lo)
        for b in t.bursts:
            n = np.arange(lo, hi, dtype=np.float64)
            knots = [b.start, b.start + b.ramp_up, b.stop - b.ramp_down, b.stop]
            template += np.interp(n, knots, [0.0, 1.0, 1.0, 0.0])
        shift_a, scale_a = _shift_fit(amplitude[lo:hi, t.active_channel], template, pad)
        shift_m, scale_m = _shift_fit(amplitude[lo:hi, t.mirror_channel], template, pad)
        gain_errors.append(scale_m / scale_a / t.mirror_gain - 1.0)
        lag_errors_ms.append((shift_m - shift_a) / FS_HZ * 1000.0 - t.mirror_lag_ms)
    assert len(gain_errors) >= 8
    # A few seconds of EMG fluctuate around the stated amplitude by some 10 % on each side.
    assert float(np.median(np.abs(gain_errors))) < 0.1
    assert float(np.percentile(np.abs(gain_errors), 90)) < 0.2
    assert max(abs(e) for e in gain_errors) < 0.35
    # One trial's onset is uncertain by ~10-15 ms in real EMG too (Bonato et al. 1998).
    assert float(np.median(np.abs(lag_errors_ms))) < 10.0
    assert abs(float(np.median(lag_errors_ms))) < 8.0
    assert max(abs(e) for e in lag_errors_ms) < 60.0


def _beta_coherence(preset: str, seed: int) -> tuple[float, float]:
    """Mean 15-30 Hz coherence of the rectified sides during mirrored holds, and its 95 % limit."""
    patient, x = _recording(preset, seed, 180.0)
    window = round(FS_HZ)  # 1 s segments (DOMAIN.md 2)
    taper = np.hanning(window)
    sxx = syy = 0.0
    sxy: complex | np.ndarray = 0j
    n_segments = 0
    pairs = zip(
        _plateaus(patient, x, "active", mirrored_only=True),
        _plateaus(patient, x, "mirror"),
        strict=True,
    )
    for active, mirror in pairs:
        for k in range(0, active.size - window + 1, window):
            a, m = np.abs(active[k : k + window]), np.abs(mirror[k : k + window])
            fa, fm = np.fft.rfft((a - a.mean()) * taper), np.fft.rfft((m - m.mean()) * taper)
            # Each segment weighs the same (pooled coherence, Amjad et al. 1997): otherwise the
            # strongest contractions dominate and the confidence limit no longer holds.
            fa, fm = fa / np.linalg.norm(fa), fm / np.linalg.norm(fm)
            sxx, syy, sxy = sxx + np.abs(fa) ** 2, syy + np.abs(fm) ** 2, sxy + fa * np.conj(fm)
            n_segments += 1
    coherence = np.abs(sxy) ** 2 / (sxx * syy)
    freqs = np.fft.rfftfreq(window, 1.0 / FS_HZ)
    beta = (freqs >= 15.0) & (freqs <= 30.0)
    limit = 1.0 - 0.05 ** (1.0 / (n_segments - 1))  # Rosenberg et al. 1989
    return float(np.mean(coherence[beta])), limit


def test_congenital_shows_beta_coherence_between_the_sides() -> None:
    beta, limit = _beta_coherence("congenital", 1)
    assert beta > limit
    stroke_beta, stroke_limit = _beta_coherence("stroke", 1)
    assert stroke_beta < stroke_limit
    assert stroke_beta < beta / 2


def test_presets_keep_gain_and_lag_in_their_ranges() -> None:
    n = round(900 * FS_HZ)
    for name, spec in PRESETS.items():
        trials = SimulatedPatient(name, seed=4).trials_between(0, n)
        mirrored = [t for t in trials if t.mirror]
        if spec.mirror_probability == 0.0:
            assert not mirrored
            continue
        assert len(mirrored) >= 0.5 * spec.mirror_probability * len(trials)
        low, high = spec.gain_range
        assert all(low <= t.mirror_gain <= high for t in mirrored)
        low_ms, high_ms = spec.lag_range_ms
        assert all(low_ms <= t.mirror_lag_ms <= high_ms for t in mirrored)
        assert all(t.layer == spec.layer for t in mirrored)
        assert all(t.layer is None for t in trials if not t.mirror)
    stroke = [t for t in SimulatedPatient("stroke", seed=4).trials_between(0, n) if t.mirror]
    force_r = np.corrcoef([t.force_fraction for t in stroke], [t.mirror_gain for t in stroke])
    assert force_r[0, 1] > 0.8
    demanding = [t for t in SimulatedPatient("demanding", seed=4).trials_between(0, n) if t.mirror]
    task_r = np.corrcoef([t.complexity for t in demanding], [t.mirror_gain for t in demanding])
    assert task_r[0, 1] > 0.8


# -- the artefacts preset ---------------------------------------------------------------------


def _overridden(episodes: list[ArtefactInterval], channel: int, start: float, stop: float) -> bool:
    return any(
        e.kind in {"saturation", "lift_off"} and channel in e.channels
        and e.start < stop and e.stop > start
        for e in episodes
    )  # fmt: skip


def test_artefacts_preset_has_no_mirror_and_every_artefact_in_the_truth() -> None:
    patient, x = _recording("artefacts", 0, 60.0)
    trials = _finished(patient, x.shape[0])
    assert trials
    assert not any(t.mirror for t in trials)
    # Still unilateral contractions: the active side works, the other side rests.
    active_rms = [float(np.sqrt(np.mean(seg**2))) for seg in _plateaus(patient, x, "active")]
    assert float(np.median(active_rms)) > 40.0
    episodes = [a for t in trials for a in t.artefacts]
    assert {"ecg", "mains", "motion", "saturation", "lift_off"} <= {a.kind for a in episodes}
    for a in episodes:
        lo, hi = math.ceil(a.start), math.floor(a.stop) + 1
        values = x[lo:hi, list(a.channels)]
        if a.kind == "saturation":
            assert np.all(values == a.amplitude_uv)
            assert abs(a.amplitude_uv) == patient.full_scale_uv
        elif a.kind == "lift_off":
            assert float(np.sqrt(np.mean(values**2))) < 0.5 * patient.baselines_uv[a.channels[0]]
        elif a.kind == "motion":
            # A lifted or saturated channel hides the bump; look at the first one that shows it.
            shown = [c for c in a.channels if not _overridden(episodes, c, a.start, a.stop)]
            if not shown:
                continue
            assert float(np.max(np.abs(x[lo:hi, shown[0]]))) > 50.0
            # Large and slow: far more power below 20 Hz than the channel has at rest.
            slow = signal.butter(2, 20.0, fs=FS_HZ, output="sos")
            during = signal.sosfilt(slow, x[lo - 2000 : hi, shown[0]])[2000:]
            at_rest = signal.sosfilt(slow, x[: round(5 * FS_HZ), shown[0]])[2000:]
            assert np.mean(during**2) > 10.0 * np.mean(at_rest**2)
        elif a.kind == "ecg":
            assert 0.02 <= (a.stop - a.start) / FS_HZ <= 0.06
            assert a.channels == tuple(range(patient.n_channels))
    beats = [a for a in episodes if a.kind == "ecg"]
    rate_hz = (len(beats) - 1) / ((beats[-1].start - beats[0].start) / FS_HZ)
    assert 0.8 <= rate_hz <= 1.5
    assert all(
        a.kind in {"ecg", "mains"} or a.start >= t.cue_index for t in trials for a in t.artefacts
    )


def test_motion_bump_is_mostly_below_20_hz() -> None:
    bump = ArtefactInterval("motion", 100.0, 900.0, (0, 1), ("FDI-L", "FDI-R"), 300.0, 5.0, 0.4)
    x = np.zeros((1000, 2))
    add_motion(x, 0, FS_HZ, bump)
    assert float(np.max(np.abs(x))) > 250.0
    spectrum = np.abs(np.fft.rfft(x[:, 0])) ** 2
    freqs = np.fft.rfftfreq(1000, 1.0 / FS_HZ)
    assert spectrum[freqs < 20.0].sum() > 0.9 * spectrum.sum()


def test_ecg_reaches_both_sides_at_once() -> None:
    patient, x = _recording("artefacts", 0, 60.0)
    beats = [a for a in patient.artefacts_between(0, round(5.5 * FS_HZ)) if a.kind == "ecg"]
    assert len(beats) >= 3
    for beat in beats:
        centre = round(0.5 * (beat.start + beat.stop))
        # The R peak stands out of the rest noise on both channels at the same sample.
        for channel in range(patient.n_channels):
            window = x[centre - 5 : centre + 6, channel] - np.median(x[: round(5 * FS_HZ), channel])
            assert float(np.max(np.abs(window))) > 5.0


# -- the records ------------------------------------------------------------------------------


def test_truth_and_cues_serialise_in_the_emg_time_base() -> None:
    patient = SimulatedPatient("congenital", seed=0)
    t0 = 1000.0
    trial = patient.trials_between(0, round(20 * FS_HZ))[0]
    record = json.loads(trial.to_json(t0))
    assert record["trial"] == 1
    assert record["onset_t"] == pytest.approx(t0 + trial.onset_index / FS_HZ, abs=1e-6)
    assert record["mirror_onset_t"] - record["onset_t"] == pytest.approx(
        record["mirror_lag_ms"] / 1000.0, abs=2e-6
    )
    assert record["mirror_amplitude_uv"] == pytest.approx(
        record["mirror_gain"] * record["active_amplitude_uv"], rel=1e-3
    )
    assert record["layer"] == "I"
    assert record["bursts"][0][0] == record["onset_t"]
    expected = {
        "active_side", "task", "cue_t", "offset_t", "mirror", "mirror_offset_t", "baseline_uv",
        "force_fraction", "artefacts", "span_t", "pair",
    }  # fmt: skip
    assert expected <= record.keys()
    cues = patient.cues_between(0, trial.span_stop)
    assert [json.loads(c.to_json()) for c in cues] == [
        {"cue": trial.active_side, "pair": "FDI", "task": trial.task, "trial": 1},
        {"cue": "rest", "trial": 1},
    ]
    assert [c.index for c in cues] == [trial.cue_index, trial.rest_cue_index]
