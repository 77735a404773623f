"""ECG canceller: rest statistics, contractions, no ECG, chunk invariance, reset, several pairs.

Every signal comes from the simulated patient twice, with and without ECG: each phenomenon has
its own random generator, so the two differ by the heart's beats alone, sample for sample, and
the corrected envelopes can be compared with the envelopes of the same signal without ECG.
"""

import dataclasses
import functools

import numpy as np
import pytest
from scipy import ndimage

from acquisition.simulator import SimulatedPatient, options_for
from detection.ecg import EcgCanceller, EcgConfig
from detection.envelope import EnvelopePair
from detection.filters import BandpassFilter

FS_HZ = 2000.0
#: Learning period before statistics are compared (bootstrap and first templates take ~5 s).
LEARN_S = 10.0
#: Around true activity the pipeline would not call a channel quiet (its detector lags, and
#: the envelope window spreads a burst).
QUIET_MARGIN_S = 0.3
#: The envelopes' window (the pipeline's default).
WINDOW_S = 0.05


@dataclasses.dataclass(frozen=True)
class Session:
    patient: SimulatedPatient
    raw: np.ndarray
    band: np.ndarray
    amp: np.ndarray
    det: np.ndarray
    quiet: np.ndarray

    @property
    def r_peaks(self) -> np.ndarray:
        return np.array(self.patient._ecg.between(0, len(self.raw)))


def _envelopes(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band signal and the pipeline's envelopes with the default config."""
    n = raw.shape[1]
    band = BandpassFilter(FS_HZ, n, 20.0, 450.0, 4).process(raw)
    pair = EnvelopePair(
        FS_HZ, n, method="rms", window_s=WINDOW_S, lowpass_hz=6.0, lowpass_order=2, tkeo=True
    )
    return (band, *pair.process(band))


@functools.cache
def _session(
    ecg: str,
    ecg_uv: float | None = 150.0,
    seconds: float = 40.0,
    *,
    preset: str = "stroke",
    realism: str = "clean",
    mirror: float | None = 0.0,
    rest_s: float | None = None,
    n_pairs: int = 1,
    seed: int = 0,
) -> Session:
    options = dataclasses.replace(
        options_for(preset, realism),
        mirror_probability=mirror,
        ecg=ecg,
        ecg_uv=None if ecg_uv is None else (ecg_uv, ecg_uv),
        ecg_beat_variation=0.1,
    )
    patient = SimulatedPatient(
        preset,
        fs_hz=FS_HZ,
        n_pairs=n_pairs,
        seed=seed,
        options=options,
        initial_rest_s=seconds if rest_s is None else rest_s,
    )
    n = round(seconds * FS_HZ)
    raw = patient.generate(n).astype(np.float64)
    band, amp, det = _envelopes(raw)
    active = patient.true_envelope_uv(0, n) > 0
    reach = round(QUIET_MARGIN_S * FS_HZ)
    quiet = ~ndimage.binary_dilation(active, structure=np.ones((2 * reach + 1, 1), dtype=bool))
    return Session(patient, raw, band, amp, det, quiet)


def _pairs(session: Session) -> list[tuple[int, int]]:
    return [(2 * k, 2 * k + 1) for k in range(session.raw.shape[1] // 2)]


def _canceller(n_channels: int, pairs: list[tuple[int, int]], **changes) -> EcgCanceller:
    config = EcgConfig(**{"domain": "signal", **changes})
    return EcgCanceller(FS_HZ, n_channels, pairs, config, envelope_window_s=WINDOW_S)


def _feed(canceller: EcgCanceller, s: Session, start: int, stop: int):
    return canceller.process(start, s.raw[start:stop], s.amp[start:stop], s.det[start:stop],
                             s.quiet[start:stop], band_uv=s.band[start:stop])  # fmt: skip


def _run(session: Session, chunk_n: int = 32, canceller: EcgCanceller | None = None):
    """Corrected envelopes, acted, beats and the canceller, over the whole session."""
    canceller = canceller or _canceller(session.raw.shape[1], _pairs(session))
    n = len(session.raw)
    parts = [_feed(canceller, session, i, min(n, i + chunk_n)) for i in range(0, n, chunk_n)]
    amp = np.concatenate([p.amp_uv for p in parts])
    det = np.concatenate([p.det for p in parts])
    acted = np.concatenate([p.acted for p in parts])
    beats = [b for p in parts for b in p.beats]
    return amp, det, acted, beats, canceller


def _ratios(corrected: np.ndarray, clean: np.ndarray) -> tuple[float, float, float]:
    """Corrected over no-ECG: mean, SD and 99th percentile."""
    return (
        float(corrected.mean() / clean.mean()),
        float(corrected.std() / clean.std()),
        float(np.percentile(corrected, 99) / np.percentile(clean, 99)),
    )


@pytest.mark.parametrize("ecg_uv", [50.0, 100.0, 150.0])
def test_rest_detection_envelope_matches_the_signal_without_ecg(ecg_uv):
    """Thresholds are mean + 5 SD of the rest detection envelope: ECG must not move them."""
    with_ecg = _session("muscle", ecg_uv)
    without = _session("none", ecg_uv)
    amp, det, acted, beats, canceller = _run(with_ecg)
    learned = slice(round(LEARN_S * FS_HZ), None)
    for ch in range(2):
        clean = without.det[learned, ch]
        mean, sd, p99 = _ratios(det[learned, ch], clean)
        assert abs(mean - 1) < 0.05, (ch, mean)
        assert abs(sd - 1) < 0.15, (ch, sd)
        assert abs(p99 - 1) < 0.10, (ch, p99)
        threshold = det[learned, ch].mean() + 5 * det[learned, ch].std()
        assert threshold / (clean.mean() + 5 * clean.std()) < 1.1
        # The amplitude envelope's rest level (a mirror ratio's floor) is right on average.
        amp_mean, _, _ = _ratios(amp[learned, ch], without.amp[learned, ch])
        assert abs(amp_mean - 1) < 0.05, (ch, amp_mean)
    if ecg_uv == 150.0:  # without the canceller the thresholds would be far off
        uncorrected = with_ecg.det[learned, 0]
        assert np.percentile(uncorrected, 99) > 2 * np.percentile(without.det[learned, 0], 99)
    # Every beat after the bootstrap is found, each within 10 ms before its R peak.
    r_peaks = with_ecg.r_peaks
    found = np.array([b.index for b in beats])
    assert len(found) >= np.sum(r_peaks > 6 * FS_HZ)
    lead = np.array([r_peaks[np.argmin(np.abs(r_peaks - b))] - b for b in found])
    assert np.all((lead >= -2) & (lead <= 0.010 * FS_HZ)), lead
    assert canceller.locked.all()
    assert canceller.significant.all()
    assert acted[learned].any(axis=0).all()


def test_little_of_a_beat_comes_before_its_detection():
    """Forward only: the envelope samples before the detection keep their share of the beat."""
    with_ecg = _session("muscle", 150.0)
    without = _session("none", 150.0)
    _, _, _, beats, _ = _run(with_ecg)
    before_n, after_n = round(0.1 * FS_HZ), round(0.3 * FS_HZ)
    for envelope, clean in ((with_ecg.amp, without.amp), (with_ecg.det, without.det)):
        added = envelope**2 - clean**2
        early = total = 0.0
        for beat in beats:
            if beat.index + after_n > len(added):
                continue
            early += added[beat.index - before_n : beat.index].sum()
            total += added[beat.index - before_n : beat.index + after_n].sum()
        assert early / total < 0.01, early / total


def test_contractions_over_beats_keep_their_mean_amplitude():
    """Hold trials of a stroke patient with weak mirrors (20-30 uV) while the heart beats."""
    seconds = 47.0
    with_ecg = _session("muscle", 150.0, seconds, mirror=1.0, rest_s=12.0, seed=1)
    without = _session("none", 150.0, seconds, mirror=1.0, rest_s=12.0, seed=1)
    amp, _, acted, beats, canceller = _run(with_ecg)
    trials = [
        t
        for t in with_ecg.patient.trials_between(0, len(amp))
        if t.task == "hold" and t.offset_index < len(amp)
    ]
    found = np.array([b.index for b in beats])
    weak = 0
    for trial in trials:
        window = slice(round(trial.onset_index), round(trial.offset_index))
        for ch in (trial.active_channel, trial.mirror_channel):
            clean = without.amp[window, ch].mean()
            error = amp[window, ch].mean() / clean - 1
            assert abs(error) < 0.05, (trial.trial, ch, error)
        mirror = trial.mirror_channel
        if not 10.0 < without.amp[window, mirror].mean() < 30.0:
            continue
        weak += 1
        # Uncorrected, the weak mirror would be over 5 % too strong.
        assert with_ecg.amp[window, mirror].mean() / without.amp[window, mirror].mean() > 1.05
        inside = found[(found >= window.start) & (found < window.stop)]
        assert len(inside) >= 2
        # Both channels' ECG is significant, so every correction there counts as acted.
        for index in inside:
            assert acted[index : index + canceller.template_n].all()
    assert weak >= 2
    assert canceller.significant.all()


@pytest.mark.parametrize(
    ("preset", "realism"),
    [("stroke", "clean"), ("stroke", "real"), ("artefacts", "clean"), ("clinic", "real")],
)
def test_without_ecg_nothing_is_found_and_nothing_changes(preset, realism):
    """Hand muscles, contractions, twitches, crosstalk, motion, saturation, lift-off: no heart."""
    session = _session(
        "none", None, 60.0, preset=preset, realism=realism, mirror=None, rest_s=8.0, n_pairs=2
    )
    amp, det, acted, beats, canceller = _run(session)
    assert beats == []
    assert np.array_equal(amp, session.amp)
    assert np.array_equal(det, session.det)
    assert not acted.any()
    assert not canceller.locked.any()
    assert not canceller.significant.any()


def test_the_same_samples_in_any_chunking_give_the_same_output():
    session = _session("muscle", 150.0, 24.0, mirror=1.0, rest_s=12.0, seed=1)
    whole = _run(session, chunk_n=len(session.raw))
    assert len(whole[3]) > 15
    for chunk_n in (1, 7, 32, 500):
        amp, det, acted, beats, _ = _run(session, chunk_n=chunk_n)
        np.testing.assert_allclose(amp, whole[0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(det, whole[1], rtol=0, atol=1e-9)
        assert np.array_equal(acted, whole[2])
        assert beats == whole[3]


def test_reset_keeps_what_was_learned_and_corrects_the_next_beat_at_once():
    with_ecg = _session("muscle", 150.0)
    without = _session("none", 150.0)
    half = round(20 * FS_HZ)
    canceller = _canceller(2, [(0, 1)])
    s = with_ecg
    _feed(canceller, s, 0, half)
    templates = (*canceller.template_power, canceller.waveform_uv)
    r_amplitude = canceller.r_amplitude_uv
    canceller.reset()
    for kept, now in zip(
        templates, (*canceller.template_power, canceller.waveform_uv), strict=True
    ):
        assert np.abs(kept).max() > 0
        assert np.array_equal(kept, now)
    assert np.array_equal(r_amplitude, canceller.r_amplitude_uv)
    assert canceller.significant.all()
    assert canceller.locked.all()
    # After a gap of one second the next beat is found and corrected without a new bootstrap.
    start = half + round(FS_HZ)
    rest = slice(start, None)
    result = _feed(canceller, s, start, len(s.raw))
    r_peaks = s.r_peaks
    first_peak = r_peaks[r_peaks > start + 0.5 * FS_HZ][0]  # after the band has settled
    assert abs(result.beats[0].index - first_peak) < 0.01 * FS_HZ
    settled = slice(round(first_peak - start) - 20, None)
    _, sd, p99 = _ratios(result.det[settled, 0], without.det[rest][settled, 0])
    assert abs(sd - 1) < 0.15
    assert abs(p99 - 1) < 0.10
    # A chunk that does not follow the last one restarts the canceller just as reset() does.
    implicit = _canceller(2, [(0, 1)])
    _feed(implicit, s, 0, half)
    again = _feed(implicit, s, start, len(s.raw))
    assert np.array_equal(again.det, result.det)
    assert again.beats == result.beats


def test_two_pairs_where_only_one_carries_strong_ecg():
    """The clinic's biceps (50-150 uV R peaks) next to a hand muscle (3-25 uV)."""
    kwargs = {"preset": "clinic", "mirror": 0.0, "n_pairs": 2, "seed": 4}
    with_ecg = _session("muscle", None, 40.0, **kwargs)
    without = _session("none", None, 40.0, **kwargs)
    r_uv = np.abs(with_ecg.patient.body.ecg_r_uv)
    assert r_uv[:2].min() > 50
    assert r_uv[2:].max() < 15
    amp, det, _, beats, canceller = _run(with_ecg)
    assert list(canceller.locked) == [True, False]
    assert list(canceller.significant) == [True, True, False, False]
    assert {b.pair for b in beats} == {0}
    learned = slice(round(LEARN_S * FS_HZ), None)
    for ch in (0, 1):
        _, sd, p99 = _ratios(det[learned, ch], without.det[learned, ch])
        assert abs(sd - 1) < 0.15
        assert abs(p99 - 1) < 0.10
    # The hand muscle's weak ECG is below what the canceller acts on: untouched.
    assert np.array_equal(amp[:, 2:], with_ecg.amp[:, 2:])
    assert np.array_equal(det[:, 2:], with_ecg.det[:, 2:])


def test_the_power_domain_works_for_any_envelope():
    """Envelope templates of power instead of waveforms: rest thresholds and trial means."""
    with_ecg = _session("muscle", 100.0)
    without = _session("none", 100.0)
    canceller = EcgCanceller(FS_HZ, 2, [(0, 1)], EcgConfig(domain="power"))
    amp, det, _, beats, _ = _run(with_ecg, canceller=canceller)
    learned = slice(round(LEARN_S * FS_HZ), None)
    for ch in range(2):
        mean, sd, p99 = _ratios(det[learned, ch], without.det[learned, ch])
        assert abs(mean - 1) < 0.05
        assert abs(sd - 1) < 0.10
        assert abs(p99 - 1) < 0.05
        amp_mean, _, _ = _ratios(amp[learned, ch], without.amp[learned, ch])
        assert abs(amp_mean - 1) < 0.05
    assert len(beats) >= np.sum(with_ecg.r_peaks > 6 * FS_HZ)
    seconds = 47.0
    trial_with = _session("muscle", 150.0, seconds, mirror=1.0, rest_s=12.0, seed=1)
    trial_without = _session("none", 150.0, seconds, mirror=1.0, rest_s=12.0, seed=1)
    canceller = EcgCanceller(FS_HZ, 2, [(0, 1)], EcgConfig(domain="power"))
    amp, *_ = _run(trial_with, canceller=canceller)
    for trial in trial_with.patient.trials_between(0, len(amp)):
        if trial.offset_index >= len(amp):
            continue
        window = slice(round(trial.onset_index), round(trial.offset_index))
        for ch in (trial.active_channel, trial.mirror_channel):
            error = amp[window, ch].mean() / trial_without.amp[window, ch].mean() - 1
            assert abs(error) < 0.05, (trial.trial, ch, error)


def test_channels_in_no_pair_and_empty_chunks_pass_through():
    session = _session("muscle", 150.0)
    canceller = _canceller(3, [(0, 1)])

    def three(a):  # a third channel, a copy of the first, in no pair
        return np.column_stack([a, a[:, :1]])

    raw, band, amp, det = (three(a) for a in (session.raw, session.band, session.amp, session.det))
    quiet = three(session.quiet)
    empty = canceller.process(0, raw[:0], amp[:0], det[:0], quiet[:0], band_uv=band[:0])
    assert empty.amp_uv.shape == (0, 3)
    assert empty.beats == ()
    result = canceller.process(0, raw, amp, det, quiet, band_uv=band)
    assert np.array_equal(result.amp_uv[:, 2], amp[:, 2])
    assert np.array_equal(result.det[:, 2], det[:, 2])
    assert not result.acted[:, 2].any()
    assert not np.array_equal(result.amp_uv[:, 0], amp[:, 0])


def test_off_passes_the_envelopes_through():
    session = _session("muscle", 150.0)
    canceller = _canceller(2, [(0, 1)], mode="off")
    amp, det, acted, beats, _ = _run(session, canceller=canceller)
    assert np.array_equal(amp, session.amp)
    assert np.array_equal(det, session.det)
    assert not acted.any()
    assert beats == []


@pytest.mark.parametrize(
    ("changes", "pairs", "words"),
    [
        ({"mode": "on"}, [(0, 1)], "mode"),
        ({"band_hz": (10.0, 1500.0)}, [(0, 1)], "band_hz"),
        ({"detect_fraction": 1.2}, [(0, 1)], "detect_fraction"),
        ({"template_s": 0.3}, [(0, 1)], "template_s"),
        ({"learn_rate": 0.0}, [(0, 1)], "learn_rate"),
        ({}, [(0, 2)], "pairs"),
        ({}, [(0, 1), (1, 0)], "share"),
    ],
)
def test_impossible_settings_are_refused(changes, pairs, words):
    with pytest.raises(ValueError, match=words):
        _canceller(2, pairs, **changes)
