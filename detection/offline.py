"""Offline analysis of a finished session: baseline, trial table, summaries, signatures.

Calibration without a rest block, the trial table, per-pair summaries and the plain-language
signatures of the session report.

Pure: numpy and scipy only, and the detection package. The mechanism layers are those of
DOMAIN.md (Sebastianelli et al. 2026); statements are descriptions with their uncertainty, never
a diagnosis, and each needs at least ``MIN_TRIALS_FOR_CI`` trials (or 30 s of contraction for
synchrony) and a confidence interval.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from detection.calibration import (
    Calibration,
    ChannelCalibration,
    MvcMeter,
    calibration_settings,
    rest_statistics,
)
from detection.config import Config
from detection.errors import MirrorScopeError
from detection.filters import detect_mains_hz
from detection.metrics import Coherence, Correlogram, spearman_ci
from detection.offline_summary import (
    BetaPeak,
    CoherenceSummary,
    CorrelogramSummary,
    ForceDependence,
    PairSummary,
    TrialRow,
)
from detection.pipeline import Pipeline
from detection.summary import MIN_TRIALS_FOR_CI, bootstrap_ci, espay_bin

__all__ = [
    "BETA_BAND_HZ",
    "DISCLAIMER",
    "MIN_SYNCHRONY_S",
    "TRIAL_COLUMNS",
    "BetaPeak",
    "CoherenceSummary",
    "CorrelogramSummary",
    "ForceDependence",
    "OfflineError",
    "PairSummary",
    "QuietCalibration",
    "TrialRow",
    "pair_summary",
    "quiet_calibration",
    "signatures",
    "trial_table",
]

#: Synchrony statements need this much sustained contraction (DOMAIN.md section 2).
MIN_SYNCHRONY_S = 30.0
BETA_BAND_HZ = (15.0, 30.0)
#: A channel whose peak envelope reaches this many times the quietest channel's rest level
#: clearly contracted (used to pick MVC stand-ins for recordings without MVC).
PEAK_FACTOR = 10.0
#: Coherence above the limit in at least this share of the band's bins counts as a peak.
BAND_SHARE = 0.3
#: Onset lags with a CI inside these bounds match a layer's timing (ms; DOMAIN.md section 1).
SIMULTANEOUS_MS = (-10.0, 10.0)
LAYER2_MS = (5.0, 70.0)
#: Lags spread this widely (interquartile range) are "variable".
VARIABLE_IQR_MS = 50.0
DISCLAIMER = (
    "These are descriptions of the recorded signals with their uncertainty. They do not "
    "identify a mechanism on their own and are not a diagnosis."
)

TRIAL_COLUMNS = (
    "trial",
    "pair",
    "active_side",
    "t_onset_s",
    "t_offset_s",
    "duration_s",
    "mirror",
    "ratio",
    "ratio_norm",
    "lag_ms",
    "grade",
    "bimanual",
    "quality",
    "active_uv",
    "mirror_uv",
    "t_onset",
    "t_offset",
)


class OfflineError(MirrorScopeError):
    """An offline analysis that cannot be done, and why."""


# ---- calibration without a rest block -------------------------------------------------------


@dataclass(frozen=True)
class QuietCalibration:
    """A calibration measured on each channel's quietest moments."""

    calibration: Calibration
    #: Label to the seconds of signal the baseline was measured on.
    rest_s: dict[str, float]
    block_s: float
    #: Channels given the recording's peak as an MVC stand-in (they clearly contracted).
    peak_normalised: tuple[str, ...] = ()


def _band(config: Config, fs_hz: float, data_uv: np.ndarray) -> np.ndarray:
    high = min(config.filter.lowpass_hz, 0.45 * fs_hz)
    sos = signal.butter(
        config.filter.order, [config.filter.highpass_hz, high], "bandpass", fs=fs_hz, output="sos"
    )
    return signal.sosfilt(sos, np.nan_to_num(data_uv.astype(float)), axis=0)


def quiet_calibration(
    config: Config,
    fs_hz: float,
    labels: Sequence[str],
    data_uv: np.ndarray,
    *,
    block_s: float = 0.05,
    quiet_percentile: float = 10.0,
    within: float = 1.5,
    min_rest_s: float = 1.0,
) -> QuietCalibration:
    """Calibrate each channel on its quiet moments (for recordings without a rest block).

    The pipeline itself computes the envelopes over the whole recording (same filters, mains
    canceller and envelopes as live), after the filters' warm-up and outside samples a quality
    check excluded. Per channel, the recording is cut into ``block_s`` blocks; the quiet level
    is the ``quiet_percentile`` of the block means, and the rest statistics are taken over every
    block within ``within`` times that level (at least ``min_rest_s`` of the quietest blocks).
    A resting channel thus keeps nearly all of its blocks (no bias towards its quietest
    moments, which would lower its threshold), while short blocks find the pauses between the
    bursts of a muscle that is never at rest for a whole second. A channel never quiet at all
    gets a high threshold, and its rest level in the report says so.

    Without an MVC, a muscle active throughout (clapping, hugging) cannot be told from a
    mirroring one by thresholds alone, so channels that clearly contracted (their largest
    ``mvc_window_s`` mean envelope at least ``PEAK_FACTOR`` times the quietest channel's rest
    level) get that peak as an MVC stand-in ("peak task" normalisation): bimanual trials are
    then those with both sides above ``bimanual_mvc_fraction`` of their peak, as with an MVC.

    Parameters
    ----------
    config : Config
        The config (envelope and detector settings).
    fs_hz : float
        Sampling rate.
    labels : sequence of str
        Channel labels, in column order of ``data_uv``.
    data_uv : ndarray, shape (n_samples, n_channels)
        The recording in microvolts.
    block_s, quiet_percentile, within, min_rest_s : float
        Block length, the percentile of block means taken as the quiet level, how far above it
        a block still counts as quiet, and the least signal kept per channel.

    Returns
    -------
    QuietCalibration
        The calibration and how much signal each baseline rests on.
    """
    warm_n = round((config.detector.warmup_s + config.envelope.window_s) * fs_hz)
    block_n = max(1, round(block_s * fs_hz))
    n_blocks = (len(data_uv) - warm_n) // block_n
    keep = -(-round(min_rest_s * fs_hz) // block_n)
    if n_blocks < 2 or keep > n_blocks:
        raise OfflineError(
            f"{len(data_uv) / fs_hz:.1f} s of signal is too short for a baseline: needs "
            f"{min_rest_s:g} s of quiet signal after {warm_n / fs_hz:g} s of filter warm-up"
        )
    mains = config.filter.mains_hz
    if mains == "auto":
        mains = detect_mains_hz(_band(config, fs_hz, data_uv)[warm_n:], fs_hz)[0]
    mains_hz = None if mains == "off" else int(mains)
    cfg = dataclasses.replace(config.replace("filter", mains_hz=mains), pairs=())
    placeholder = ChannelCalibration(1.0, 1.0, 1.0, 1.0)
    settings = calibration_settings(config)
    pipe = Pipeline(
        cfg,
        fs_hz,
        list(labels),
        calibration=Calibration(dict.fromkeys(labels, placeholder), fs_hz, mains_hz, settings),
    )
    stop = warm_n + n_blocks * block_n
    result = pipe.process(data_uv.astype(np.float32), np.arange(len(data_uv)) / fs_hz)
    amp = result.envelope_uv[warm_n:stop].astype(float)
    det = result.detection[warm_n:stop].astype(float)
    usable = ~result.excluded[warm_n:stop]
    block_amp = np.where(usable, amp, np.nan).reshape(n_blocks, block_n, -1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-excluded block is NaN
        level = np.nanmean(block_amp, axis=1)
    channels, rest_s = {}, {}
    for ch, label in enumerate(labels):
        levels = np.where(np.isnan(level[:, ch]), np.inf, level[:, ch])
        finite = levels[np.isfinite(levels)]
        quiet = within * np.percentile(finite, quiet_percentile) if len(finite) else np.inf
        chosen = np.zeros((n_blocks, block_n), dtype=bool)
        chosen[levels <= quiet] = True
        chosen[np.argsort(levels, kind="stable")[:keep]] = True
        mask = chosen.reshape(-1) & usable[:, ch]
        if mask.sum() < block_n:
            raise OfflineError(f"channel {label}: no usable quiet signal for a rest baseline")
        amp_mean, amp_sd = rest_statistics(amp[:, ch : ch + 1], mask[:, None])
        det_mean, det_sd = rest_statistics(det[:, ch : ch + 1], mask[:, None])
        channels[label] = ChannelCalibration(
            rest_mean_uv=float(amp_mean[0]),
            rest_sd_uv=float(amp_sd[0]),
            detect_mean=float(det_mean[0]),
            detect_sd=float(det_sd[0]),
        )
        rest_s[label] = float(mask.sum()) / fs_hz
    calibration = Calibration(channels, fs_hz, mains_hz, settings)
    meter = MvcMeter(fs_hz, len(labels), config.calibration.mvc_window_s)
    meter.process(amp, usable)
    floor_uv = min(ch.rest_mean_uv for ch in channels.values())
    peaks = {
        label: float(peak)
        for label, peak in zip(labels, meter.peak_uv, strict=True)
        if np.isfinite(peak) and peak >= PEAK_FACTOR * floor_uv
    }
    if peaks:
        calibration = calibration.with_mvc(peaks)
    return QuietCalibration(calibration, rest_s, block_s, tuple(peaks))


# ---- the trial table -----------------------------------------------------------------------


def _excess_uv(envelope: np.ndarray, rest_power: float) -> float | None:
    if len(envelope) == 0:
        return None
    return float(np.sqrt(max(float(np.mean(envelope.astype(float) ** 2)) - rest_power, 0.0)))


def trial_table(
    trials: Sequence[Mapping[str, Any]],
    times: np.ndarray,
    envelope_uv: np.ndarray,
    pairs: Sequence[tuple[str, int, int]],
    *,
    rest_power: Sequence[float] | None,
    t_start: float,
) -> list[TrialRow]:
    """One row per trial (columns :data:`TRIAL_COLUMNS`).

    Parameters
    ----------
    trials : sequence of dict
        ``trial`` event payloads, in order.
    times : ndarray, shape (n,)
        Timestamps of the processed samples.
    envelope_uv : ndarray, shape (n, n_channels)
        Amplitude envelope of the processed samples.
    pairs : sequence of (name, left column, right column)
        The pipeline's pairs.
    rest_power : sequence of float | None
        Rest power (mean^2 + SD^2 of the rest envelope) per column, to remove the baseline.
    t_start : float
        Time of the first processed sample (relative times count from here).

    Returns
    -------
    list of TrialRow
        The rows; ``active_uv``/``mirror_uv`` are the baseline-free mean envelope of each side
        over the active window (the force measure of the force-dependence signature).
    """
    columns = {name: (left, right) for name, left, right in pairs}
    rows = []
    for number, trial in enumerate(trials, start=1):
        left, right = columns.get(trial["pair"], (None, None))
        active_uv = mirror_uv = None
        if left is not None and rest_power is not None and len(times):
            a, b = np.searchsorted(times, [trial["t_onset"], trial["t_offset"]])
            active, mirror = (left, right) if trial["active_side"] == "left" else (right, left)
            active_uv = _excess_uv(envelope_uv[a:b, active], rest_power[active])
            mirror_uv = _excess_uv(envelope_uv[a:b, mirror], rest_power[mirror])
        rows.append(
            TrialRow(
                trial=number,
                pair=trial["pair"],
                active_side=trial["active_side"],
                t_onset_s=round(trial["t_onset"] - t_start, 4),
                t_offset_s=round(trial["t_offset"] - t_start, 4),
                duration_s=round(trial["t_offset"] - trial["t_onset"], 4),
                mirror=trial["mirror"],
                ratio=trial["ratio"],
                ratio_norm=trial["ratio_norm"],
                lag_ms=trial["lag_ms"],
                grade=trial["grade"],
                bimanual=trial["bimanual"],
                quality=";".join(trial["quality"]),
                active_uv=None if active_uv is None else round(active_uv, 2),
                mirror_uv=None if mirror_uv is None else round(mirror_uv, 2),
                t_onset=trial["t_onset"],
                t_offset=trial["t_offset"],
            )
        )
    return rows


# ---- per-pair summary ----------------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _iqr(values: Sequence[float]) -> float | None:
    if len(values) < 4:
        return None
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def _band_share(coh: Coherence, low_hz: float, high_hz: float) -> float | None:
    band = (coh.freqs_hz >= low_hz) & (coh.freqs_hz <= high_hz) & ~coh.masked
    if coh.segments < 2 or not band.any():
        return None
    return float(np.mean(coh.values[band] > coh.limit))


def _coherence_summary(coh: Coherence) -> CoherenceSummary:
    beta = (coh.freqs_hz >= BETA_BAND_HZ[0]) & (coh.freqs_hz <= BETA_BAND_HZ[1]) & ~coh.masked
    peak = None
    if coh.segments >= 2 and beta.any():
        k = int(np.argmax(np.where(beta, coh.values, -1.0)))
        peak = BetaPeak(freq_hz=float(coh.freqs_hz[k]), coherence=round(float(coh.values[k]), 4))
    return CoherenceSummary(
        segments=coh.segments,
        limit=round(coh.limit, 4),
        beta_share_above_limit=_band_share(coh, *BETA_BAND_HZ),
        broadband_share_above_limit=_band_share(coh, 5.0, 250.0),
        beta_peak=peak,
    )


def pair_summary(
    name: str,
    rows: Sequence[TrialRow],
    *,
    contraction_s: float,
    coherence_emg: Coherence | None = None,
    coherence_rectified: Coherence | None = None,
    correlogram: Correlogram | None = None,
) -> PairSummary:
    """What one pair showed over the session (the numbers behind the report).

    Parameters
    ----------
    name : str
        Pair name.
    rows : sequence of TrialRow
        Its rows of :func:`trial_table`.
    contraction_s : float
        Seconds of contraction the synchrony measures were computed on.
    coherence_emg, coherence_rectified : Coherence | None
        Coherence of the band-passed and of the rectified EMG.
    correlogram : Correlogram | None
        Cross-correlogram of the rectified EMG.

    Returns
    -------
    PairSummary
        The summary; its ``to_dict()`` is the pair's entry of ``summary.json``.
    """
    unimanual = [r for r in rows if not r.bimanual]
    scored = [r for r in unimanual if r.ratio is not None]
    mirrors = [r for r in scored if r.mirror]
    lags = [float(r.lag_ms) for r in mirrors if r.lag_ms is not None]
    fraction = len(mirrors) / len(scored) if scored else None
    force = None
    paired = [(r.active_uv, r.ratio) for r in scored if r.active_uv is not None]
    if len(paired) >= MIN_TRIALS_FOR_CI:
        result = spearman_ci(np.array([p[0] for p in paired]), np.array([p[1] for p in paired]))
        if result is not None:
            low, high = (round(v, 3) for v in result[1])
            force = ForceDependence(rho=round(result[0], 3), ci=(low, high), trials=len(paired))
    ci = bootstrap_ci(lags) if len(lags) >= MIN_TRIALS_FOR_CI else None
    grades = [int(r.grade) for r in scored if r.grade is not None]
    cc = None
    if correlogram is not None and correlogram.segments:
        cc = CorrelogramSummary(
            peak_lag_ms=round(correlogram.peak_lag_ms, 2),
            peak_r=round(correlogram.peak_r, 4),
            chance_r=round(correlogram.chance, 4),
            half_width_ms=correlogram.half_width_ms,
            segments=correlogram.segments,
        )
    return PairSummary(
        pair=name,
        trials=len(rows),
        bimanual=len(rows) - len(unimanual),
        excluded=len(unimanual) - len(scored),
        with_mirror=len(mirrors),
        mirror_fraction=None if fraction is None else round(fraction, 3),
        espay_bin=None if fraction is None else espay_bin(fraction),
        median_ratio=_median([float(r.ratio) for r in mirrors]),
        median_lag_ms=_median(lags),
        lag_ci_ms=None if ci is None else (round(ci[0], 2), round(ci[1], 2)),
        lag_iqr_ms=_iqr(lags),
        median_grade=int(np.median(grades)) if grades else None,
        force_dependence=force,
        contraction_s=round(contraction_s, 2),
        coherence=None if coherence_emg is None else _coherence_summary(coherence_emg),
        coherence_rectified=(
            None if coherence_rectified is None else _coherence_summary(coherence_rectified)
        ),
        correlogram=cc,
    )


# ---- signatures ----------------------------------------------------------------------------


def _timing(s: PairSummary) -> str:
    lags_n = s.with_mirror
    if s.lag_ci_ms is None:
        return (
            f"Timing: {lags_n} trial(s) with mirror activity and a measured lag; at least "
            f"{MIN_TRIALS_FOR_CI} are needed for a statement (one trial's onset is uncertain by "
            "about 15 ms)."
        )
    low, high = s.lag_ci_ms
    head = (
        f"Timing: mirror activity began a median {s.median_lag_ms:.0f} ms after the "
        f"voluntary onset (95 % CI {low:.0f} to {high:.0f} ms, {lags_n} trials)."
    )
    iqr = s.lag_iqr_ms
    if SIMULTANEOUS_MS[0] <= low and high <= SIMULTANEOUS_MS[1]:
        return (
            f"{head} Near-simultaneous onset is the timing the tri-layer model links with fast "
            "ipsilateral corticospinal projections (Layer I)."
        )
    if LAYER2_MS[0] <= low and high <= LAYER2_MS[1]:
        return (
            f"{head} A lag of roughly 10-60 ms is the timing the tri-layer model links with "
            "deficient transcallosal inhibition (Layer II)."
        )
    if low >= 40.0 and iqr is not None and iqr >= VARIABLE_IQR_MS:
        return (
            f"{head} Long lags that vary from trial to trial (interquartile range {iqr:.0f} ms) "
            "are the timing the tri-layer model links with bilateral premotor/SMA "
            "overactivation (Layer III)."
        )
    return f"{head} This timing does not match one layer's signature clearly."


def _synchrony(s: PairSummary) -> str:
    seconds = s.contraction_s
    coh = s.coherence_rectified or s.coherence
    if coh is None or seconds < MIN_SYNCHRONY_S:
        return (
            f"Synchrony: {seconds:.0f} s of contraction were available; at least "
            f"{MIN_SYNCHRONY_S:.0f} s of sustained contraction are needed for a statement "
            "(the coherence figure is shown for orientation only)."
        )
    parts = []
    broadband = coh.broadband_share_above_limit or 0.0
    beta = coh.beta_share_above_limit or 0.0
    if broadband >= 0.5:
        parts.append(
            f"Coherence exceeds its 95 % limit across most frequencies ({broadband:.0%} of bins): "
            "broadband coherence points to crosstalk or a shared reference, not to neural drive."
        )
    elif beta >= BAND_SHARE:
        peak = coh.beta_peak
        parts.append(
            f"Coherence exceeds its 95 % limit in the 15-30 Hz band (peak {peak.coherence:.2f} "
            f"at {peak.freq_hz:.0f} Hz; limit {coh.limit:.3f}, {coh.segments} segments): "
            "a common drive to both sides, the synchrony signature of Layer I."
        )
    else:
        parts.append(
            f"Coherence stays near its 95 % limit ({coh.limit:.3f}, {coh.segments} "
            "segments): no sign of a common drive in these data."
        )
    cc = s.correlogram
    narrow = bool(cc and cc.half_width_ms and cc.half_width_ms <= 15)
    if cc is not None and narrow and abs(cc.peak_lag_ms) <= 5 and cc.peak_r > 1.5 * cc.chance_r:
        parts.append(
            f"The cross-correlogram of the rectified EMG has a narrow central peak "
            f"({cc.peak_lag_ms:+.0f} ms, {cc.half_width_ms:.0f} ms wide, r = "
            f"{cc.peak_r:.2f} against {cc.chance_r:.2f} by chance), as described for "
            "branched corticospinal axons (Layer I)."
        )
    return "Synchrony: " + " ".join(parts)


def _force(s: PairSummary) -> str:
    force = s.force_dependence
    if force is None:
        return (
            f"Force dependence: needs at least {MIN_TRIALS_FOR_CI} unimanual trials with both "
            "sides measured; no statement."
        )
    low, high = force.ci
    head = (
        f"Force dependence: across {force.trials} trials the mirror ratio against the "
        f"strength of the voluntary contraction has Spearman rho {force.rho:+.2f} "
        f"(95 % CI {low:+.2f} to {high:+.2f})."
    )
    if low > 0:
        return (
            f"{head} Mirror activity that grows with force is the signature the tri-layer model "
            "links with deficient transcallosal inhibition (Layer II)."
        )
    if high < 0:
        return f"{head} The ratio falls as force rises; no layer's signature describes this."
    return f"{head} No clear dependence on force."


def signatures(summary: PairSummary) -> list[str]:
    """Plain-language statements relating one pair's measures to the three mechanism layers.

    Parameters
    ----------
    summary : PairSummary
        From :func:`pair_summary`.

    Returns
    -------
    list of str
        Statements (each says what it rests on), ending with the disclaimer.
    """
    if summary.trials and summary.bimanual == summary.trials:
        return [
            (
                f"All {summary.trials} trials were bimanual (both sides strongly active): "
                "mirror measures do not apply to them."
            ),
            DISCLAIMER,
        ]
    if summary.trials == 0:
        return ["No trials were detected for this pair: there is nothing to describe.", DISCLAIMER]
    bimanual = []
    if summary.bimanual:
        bimanual = [
            (
                f"{summary.bimanual} of {summary.trials} trials were bimanual (both sides "
                "strongly active): they are not counted as mirror movements."
            )
        ]
    if summary.with_mirror == 0:
        unimanual = summary.trials - summary.bimanual
        lines = [
            (
                f"No mirror activity was detected in {unimanual} unimanual trial(s): there is no "
                "timing or force signature to describe."
            )
        ]
    else:
        lines = [_timing(summary), _force(summary)]
    return [*bimanual, *lines, _synchrony(summary), DISCLAIMER]
