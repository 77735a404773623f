"""The realistic synthetic patient: each phenomenon of ../shared/DOMAIN.md 8 does what it claims.

Most checks compare two patients with the same seed that differ in one option only: every
phenomenon draws from a random generator of its own, so their difference is exactly what that
phenomenon added to the signal.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import pytest
from scipy import signal

from acquisition.simulator import (
    PRESETS,
    SimOptions,
    SimulatedPatient,
    SimulatorError,
    TrialTruth,
    options_for,
)

FS_HZ = 2000.0
BAND = signal.butter(4, [20.0, 450.0], "bandpass", fs=FS_HZ, output="sos")
# A quiet, clean-floored base so that what a test looks at stands out.
QUIET = dataclasses.replace(options_for("stroke", "clean"), mirror_probability=0.0)


def _patient(options: SimOptions, seed: int = 3, preset: str = "stroke") -> SimulatedPatient:
    return SimulatedPatient(preset, fs_hz=FS_HZ, seed=seed, initial_rest_s=6.0, options=options)


@cache
def _signal(options: SimOptions, seconds: float, seed: int = 3, preset: str = "stroke"):
    patient = _patient(options, seed, preset)
    return patient, patient.generate(round(seconds * FS_HZ)).astype(np.float64)


def _finished(patient: SimulatedPatient, n: int) -> list[TrialTruth]:
    return [t for t in patient.trials_between(0, n) if t.span_stop <= n]


def _plateau(t: TrialTruth) -> slice:
    b = t.bursts[0]
    return slice(math.ceil(b.start + b.ramp_up), math.floor(b.start + b.ramp_up + b.hold))


# -- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_real_realism_is_chunk_invariant_and_seeded(preset: str) -> None:
    whole = SimulatedPatient(preset, n_pairs=2, seed=4, realism="real").generate(50_001)
    chunked = SimulatedPatient(preset, n_pairs=2, seed=4, realism="real")
    parts = [chunked.generate(k) for k in (0, 1, 999, 12_345, 3)]
    parts.append(chunked.generate(50_001 - sum(p.shape[0] for p in parts)))
    assert np.array_equal(np.vstack(parts), whole)
    other = SimulatedPatient(preset, n_pairs=2, seed=5, realism="real").generate(50_001)
    assert not np.allclose(whole, other)


def test_clean_options_reproduce_the_original_signal() -> None:
    # options_for(..., "clean") is what a patient built without options gets: the same samples.
    a = SimulatedPatient("congenital", seed=2).generate(30_000)
    b = SimulatedPatient("congenital", seed=2, options=options_for("congenital")).generate(30_000)
    assert np.array_equal(a, b)


def test_impossible_options_are_one_clear_error() -> None:
    with pytest.raises(SimulatorError, match="crosstalk_probability"):
        SimulatedPatient(options=dataclasses.replace(QUIET, crosstalk_probability=1.5))
    with pytest.raises(SimulatorError, match="realism"):
        SimulatedPatient(realism="fancy")  # type: ignore[arg-type]


# -- crosstalk and mirrors: raw correlation tells them apart ------------------------------------


def test_crosstalk_is_a_zero_lag_copy_whose_correlation_is_its_share() -> None:
    with_leak = dataclasses.replace(QUIET, crosstalk_probability=1.0)
    patient, x = _signal(with_leak, 120.0)
    _, clean = _signal(QUIET, 120.0)
    bp = signal.sosfilt(BAND, x, axis=0)
    bp_clean = signal.sosfilt(BAND, clean, axis=0)
    checked = 0
    for t in _finished(patient, x.shape[0]):
        if t.task != "hold":
            continue
        assert 0.02 <= t.crosstalk_gain <= 0.10
        window = _plateau(t)
        active, passive = bp[window, t.active_channel], bp[window, t.mirror_channel]
        # The leak is exactly gain x the active channel's EMG, at zero lag.
        leak = x[window, t.mirror_channel] - clean[window, t.mirror_channel]
        emg = clean[window, t.active_channel]
        assert np.corrcoef(leak, emg)[0, 1] > 0.99
        own = bp_clean[window, t.mirror_channel]  # the passive channel without the leak
        share = (
            t.crosstalk_gain
            * np.std(active)
            / math.hypot(t.crosstalk_gain * np.std(active), np.std(own))
        )
        assert np.corrcoef(active, passive)[0, 1] == pytest.approx(share, abs=0.05)
        checked += 1
    assert checked >= 3


def test_a_mirror_follows_the_active_envelope_but_not_its_waveform() -> None:
    options = dataclasses.replace(options_for("congenital", "real"), drift_uv=(0.0, 0.0))
    patient, x = _signal(options, 120.0, preset="congenital")
    bp = signal.sosfilt(BAND, x, axis=0)
    kernel = np.ones(round(0.25 * FS_HZ)) / round(0.25 * FS_HZ)  # slow envelopes
    raw_r, envelope_r = [], []
    for t in _finished(patient, x.shape[0]):
        if t.task != "hold" or not t.mirror or t.mirror_gain < 0.3:
            continue
        if t.mirror_bursts[0].stop - t.mirror_bursts[0].start < t.bursts[0].hold:
            continue  # a partial mirror covers only part of the window
        window = _plateau(t)
        active, mirror = bp[window, t.active_channel], bp[window, t.mirror_channel]
        raw_r.append(np.corrcoef(active, mirror)[0, 1])
        env_a = np.sqrt(np.convolve(active**2, kernel, "valid"))
        env_m = np.sqrt(np.convolve(mirror**2, kernel, "valid"))
        envelope_r.append(np.corrcoef(env_a, env_m)[0, 1])
    assert len(raw_r) >= 3
    # Independent carriers: zero correlation but for the sampling noise of a few seconds.
    assert float(np.median(np.abs(raw_r))) < 0.05
    assert max(abs(r) for r in raw_r) < 0.12
    assert float(np.median(envelope_r)) > 0.4


def test_a_mirror_has_its_own_rise_and_sometimes_only_a_short_burst() -> None:
    options = options_for("stroke", "real")
    patient = _patient(options)
    mirrored = [t for t in patient.trials_between(0, round(1200 * FS_HZ)) if t.mirror]
    rises = [(t.mirror_bursts[0].ramp_up, t.bursts[0].ramp_up) for t in mirrored]
    assert any(abs(m - a) > 0.1 * a for m, a in rises)
    short = [t for t in mirrored if t.task == "hold" and len(t.mirror_bursts) == 1
             and t.mirror_bursts[0].stop - t.mirror_bursts[0].start < t.bursts[0].hold]  # fmt: skip
    assert short
    for t in short:
        length_s = (t.mirror_bursts[0].stop - t.mirror_bursts[0].start) / FS_HZ
        assert 0.1 <= length_s <= 0.5
        assert t.true_ratio < 0.5 * t.mirror_gain


# -- the truth's definitions -------------------------------------------------------------------


def test_true_onsets_are_where_the_noise_free_amplitude_leaves_zero() -> None:
    patient = _patient(options_for("stroke", "real"))
    for t in patient.trials_between(0, round(200 * FS_HZ))[:12]:
        for channel, onset in ((t.active_channel, t.onset_index),
                               (t.mirror_channel, t.mirror_onset_index)):  # fmt: skip
            if channel == t.mirror_channel and not t.mirror:
                continue
            before = patient.true_envelope_uv(math.floor(onset) - 5, math.floor(onset) + 1)
            after = patient.true_envelope_uv(math.ceil(onset) + 1, math.ceil(onset) + 40)
            assert np.all(before[:, channel] == 0.0)
            assert np.all(after[:, channel] > 0.0)
        if t.mirror:
            assert (t.mirror_onset_index - t.onset_index) / FS_HZ * 1000 == pytest.approx(
                t.mirror_lag_ms
            )


def test_true_ratio_is_the_mean_amplitude_ratio_over_the_active_window() -> None:
    patient = _patient(options_for("stroke", "real"))
    for t in [t for t in patient.trials_between(0, round(300 * FS_HZ)) if t.mirror][:8]:
        lo, hi = math.floor(t.onset_index), math.ceil(t.offset_index)
        envelope = patient.true_envelope_uv(lo, hi + 1)
        n = np.arange(lo, hi + 1)
        inside = (n >= t.onset_index) & (n <= t.offset_index)
        expected = (
            envelope[inside, t.mirror_channel].mean() / envelope[inside, t.active_channel].mean()
        )
        assert t.true_ratio == pytest.approx(expected, rel=1e-6)
        record = t.to_dict()
        assert record["true_ratio"] == pytest.approx(t.true_ratio, abs=1e-5)
        assert len(record["burst_ratios"]) == len(t.bursts)


# -- posture, twitches -------------------------------------------------------------------------


def test_posture_tonic_and_late_activity_sit_where_the_options_say() -> None:
    options = dataclasses.replace(
        QUIET, posture_probability=0.5, tonic_before_probability=0.5, late_burst_probability=0.5
    )
    patient, x = _signal(options, 240.0)
    kinds = set()
    for t in _finished(patient, x.shape[0]):
        for a in t.activity:
            kinds.add(a.kind)
            assert a.channel == t.mirror_channel
            if a.kind == "posture":
                assert 0.5 <= (a.burst.start - t.onset_index) / FS_HZ <= 0.9
            elif a.kind == "tonic_before":
                assert a.burst.start < t.onset_index < a.burst.stop
            else:
                assert 0.1 <= (a.burst.start - t.offset_index) / FS_HZ <= 0.4
            # The passive channel carries it: EMG well above its rest during the plateau.
            b = a.burst
            middle = slice(math.ceil(b.start + b.ramp_up), math.floor(b.stop - b.ramp_down))
            level = float(np.sqrt(np.mean(signal.sosfilt(BAND, x[:, a.channel])[middle] ** 2)))
            assert level > 2.0 * patient.baselines_uv[a.channel]
    assert kinds == {"posture", "tonic_before", "late_burst"}


def test_twitches_are_short_on_either_side_and_some_where_a_mirror_would_be() -> None:
    options = dataclasses.replace(QUIET, twitch_rate_per_min=10.0, passive_twitch_probability=1.0)
    patient = _patient(options)
    trials = patient.trials_between(0, round(300 * FS_HZ))
    twitches = [a for t in trials for a in t.activity]
    assert {a.channel for a in twitches} == {0, 1}
    assert all(a.kind == "twitch" for a in twitches)
    assert all(0.02 <= (a.burst.stop - a.burst.start) / FS_HZ <= 0.05 for a in twitches)
    for t in trials:
        placed = [a for a in t.activity if a.channel == t.mirror_channel
                  and 0 <= (a.burst.start - t.onset_index) / FS_HZ <= 0.4]  # fmt: skip
        assert placed


# -- ECG, drift, noise floors ------------------------------------------------------------------


def test_ecg_by_muscle_with_beat_to_beat_variation() -> None:
    options = dataclasses.replace(
        options_for("clinic", "real"), drift_uv=(0.0, 0.0), noise_wander=0.0
    )
    patient = SimulatedPatient("clinic", n_pairs=2, seed=3, options=options, initial_rest_s=30.0)
    x = patient.generate(round(25 * FS_HZ)).astype(np.float64)
    without = dataclasses.replace(options, ecg="none")
    base = SimulatedPatient("clinic", n_pairs=2, seed=3, options=without, initial_rest_s=30.0)
    ecg = x - base.generate(round(25 * FS_HZ))
    assert patient.labels[:2] == ("BB-L", "BB-R")
    amplitudes = np.abs(np.asarray(patient.body.ecg_r_uv))
    assert np.all((amplitudes[:2] >= 50.0) & (amplitudes[:2] <= 150.0))  # biceps
    assert np.all(amplitudes[2:] <= 25.0)  # FDI: a hand muscle
    beats = [a for a in patient.artefacts_between(0, x.shape[0]) if a.kind == "ecg"]
    assert len(beats) >= 18
    peaks = np.array([ecg[round(0.5 * (b.start + b.stop)), 0] for b in beats[1:-1]])
    relative = peaks / patient.body.ecg_r_uv[0]
    # The Q and S waves' tails take about 9 % off the R peak; around that, +-10 % per beat.
    assert 0.85 <= float(np.mean(relative)) <= 1.0
    spread = relative / np.mean(relative)
    assert np.all((spread >= 0.88) & (spread <= 1.12))
    assert np.std(spread) > 0.02
    # Both sides at once, with opposite polarity.
    assert np.sign(ecg[round(0.5 * (beats[3].start + beats[3].stop)), 1]) == -np.sign(peaks[2])


def test_drift_is_tens_to_hundreds_of_microvolts_below_one_hz() -> None:
    options = dataclasses.replace(QUIET, drift_uv=(50.0, 300.0))
    _, x = _signal(options, 120.0)
    _, clean = _signal(QUIET, 120.0)
    drift = x - clean
    peaks = np.max(np.abs(drift), axis=0)
    assert np.all((peaks > 25.0) & (peaks <= 300.0))
    assert np.max(peaks) > 50.0
    spectrum = np.abs(np.fft.rfft(drift, axis=0)) ** 2
    freqs = np.fft.rfftfreq(drift.shape[0], 1.0 / FS_HZ)
    assert np.all(spectrum[freqs < 1.0].sum(axis=0) > 0.99 * spectrum.sum(axis=0))


def test_noise_floors_differ_and_wander_over_minutes() -> None:
    options = dataclasses.replace(
        QUIET, noise_floor_uv=(1.5, 8.0), noise_wander=0.3, noise_wander_period_s=(60.0, 90.0)
    )
    patient = SimulatedPatient(
        "stroke", n_pairs=8, seed=3, options=options, initial_rest_s=200.0, fs_hz=FS_HZ
    )
    assert all(1.5 <= b <= 8.0 for b in patient.baselines_uv)
    assert max(patient.baselines_uv) > 2.0 * min(patient.baselines_uv)
    x = patient.generate(round(180 * FS_HZ)).astype(np.float64)
    bp = signal.sosfilt(BAND, x, axis=0)[round(FS_HZ) :]
    blocks = bp[: (bp.shape[0] // round(10 * FS_HZ)) * round(10 * FS_HZ)]
    rms = np.sqrt(np.mean(blocks.reshape(-1, round(10 * FS_HZ), x.shape[1]) ** 2, axis=1))
    swing = rms.max(axis=0) / rms.min(axis=0)
    assert np.all(swing > 1.2)  # a wander of 18-30 % each way
    assert np.all(swing < 2.2)
    # The truth names the floor at each trial's time.
    assert patient.noise_floor_uv(0, 0.0) != patient.noise_floor_uv(0, 30 * FS_HZ)


# -- graded force, cues ------------------------------------------------------------------------


def test_graded_trials_ramp_slowly_and_layer_ii_gain_grows_with_force() -> None:
    patient = _patient(options_for("clinic", "real"), preset="clinic")
    trials = patient.trials_between(0, round(1800 * FS_HZ))
    graded = [t for t in trials if t.graded]
    assert len(graded) >= 10
    for t in graded:
        assert t.task == "hold"
        assert 0.25 <= t.bursts[0].ramp_up / FS_HZ <= 1.0
        assert t.bursts[0].cosine
    assert min(t.force_fraction for t in trials) < 0.2
    assert max(t.force_fraction for t in trials) > 0.7
    mirrored = [t for t in trials if t.mirror]
    r = np.corrcoef([t.force_fraction for t in mirrored], [t.mirror_gain for t in mirrored])
    assert r[0, 1] > 0.8


def test_cues_name_the_wrong_side_now_and_then_and_can_be_absent() -> None:
    options = dataclasses.replace(QUIET, wrong_cue_probability=0.3, reaction_s=(0.15, 0.40))
    patient = _patient(options)
    n = round(900 * FS_HZ)
    trials = patient.trials_between(0, n)
    wrong = [t for t in trials if not t.cue_correct]
    assert 0.15 * len(trials) <= len(wrong) <= 0.45 * len(trials)
    cues = {c.trial: c for c in patient.cues_between(0, n) if c.cue != "rest"}
    for t in trials:
        assert cues[t.trial].cue == t.cue_side
        assert (cues[t.trial].cue == t.active_side) == t.cue_correct
        assert 0.15 <= (t.onset_index - t.cue_index) / FS_HZ <= 0.40
    no_cues = _patient(dataclasses.replace(QUIET, cue_stream=False))
    assert not no_cues.has_cue_stream
    assert all(t.to_dict()["cue_side"] is None for t in no_cues.trials_between(0, n))


def test_a_patient_can_be_moving_from_the_first_sample() -> None:
    patient = SimulatedPatient("stroke", seed=1, initial_rest_s=0.0, realism="real")
    first = patient.trials_between(0, 1)[0]
    assert first.cue_index == 0
    assert first.onset_index / FS_HZ <= 0.4
