"""The whole detection chain: ``Pipeline.process(chunk, timestamps) -> ChunkResult``.

Stages, in order: non-finite bridge, band-pass, adaptive mains canceller, amplitude envelope,
detection envelope (TKEO by default), quality, onset detector, pair trackers.

Everything is decided per sample and counted from the first sample the pipeline saw, so the
same samples give the same events whatever the chunking (a test proves it). Big chunks are
processed in pieces so that the histories the decisions look back into stay small.

With ``mains_hz = "auto"`` the band-passed signal is searched every second for a clear mains
line (weak hum hides under a contraction) and the canceller starts once one shows. Without a
saved calibration the rest baseline is collected from the quiet stretches as they come
(:mod:`detection.rest`), and kept up to date in quiet stretches afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from detection import events
from detection.calibration import (
    Calibration,
    ChannelCalibration,
    MvcMeter,
    calibration_settings,
)
from detection.config import Config, check_for_rate
from detection.ecg import EcgCanceller
from detection.envelope import EnvelopePair
from detection.errors import MirrorScopeError
from detection.events import Event, State, StatusState
from detection.filters import BandpassFilter, MainsCanceller, SosState, find_mains
from detection.history import History
from detection.mirror import LAG_WINDOW_S, SIDES, CueBook, PairTracker
from detection.onset import OnsetDetector, Thresholds
from detection.quality import FlagChange, NonFiniteBridge, QualityInputs, QualityMonitor
from detection.rest import AdaptiveBaseline, BlockAccumulator, RestBlock, RestCalibrator, RestStats

__all__ = ["ChannelMapError", "ChunkResult", "Pipeline", "resolve_pairs"]

log = logging.getLogger(__name__)

#: Chunks longer than this are processed in pieces of this many samples.
PIECE_N = 1024
#: After the mains frequency is found, the canceller converges within this long (s).
CANCELLER_SETTLE_S = 0.25


@dataclass
class _FrontEnd:
    """The first stages' output for one chunk."""

    bridged: np.ndarray
    nonfinite: np.ndarray
    band: np.ndarray
    motion: np.ndarray


class ChannelMapError(MirrorScopeError):
    """A pair names a channel the stream does not have."""


def resolve_pairs(cfg: Config, labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Map each configured pair to channel indices.

    Parameters
    ----------
    cfg : Config
        The config.
    labels : sequence of str
        Channel labels, in column order.

    Returns
    -------
    list of (name, left_index, right_index)
        One entry per pair.

    Raises
    ------
    ChannelMapError
        Naming the pair, the missing label and the labels that exist.
    """
    out = []
    for i, pair in enumerate(cfg.pairs):
        indices = []
        for side in SIDES:
            ref = getattr(pair, side)
            if isinstance(ref, int):
                if ref >= len(labels):
                    raise ChannelMapError(
                        f"pairs[{i}].{side} = {ref}: the stream has {len(labels)} channels "
                        f"(indices 0-{len(labels) - 1})"
                    )
                indices.append(ref)
            elif ref in labels:
                indices.append(list(labels).index(ref))
            else:
                raise ChannelMapError(
                    f"pairs[{i}].{side} = {ref!r} (pair {pair.name}): no such channel label; "
                    f"the stream has {', '.join(labels)}"
                )
        out.append((pair.name, indices[0], indices[1]))
    return out


@dataclass
class ChunkResult:
    """What one call of :meth:`Pipeline.process` produced."""

    #: Events decided in this chunk, in decision order.
    events: list[Event]
    #: Absolute index of the chunk's first sample.
    first_index: int
    #: Band-passed, mains-cancelled signal (microvolts).
    filtered_uv: np.ndarray
    #: Amplitude envelope (microvolts).
    envelope_uv: np.ndarray
    #: Detection envelope (the one compared with thresholds).
    detection: np.ndarray
    #: Raw detector state (above threshold with hysteresis).
    above: np.ndarray
    #: Channel excluded by a quality check.
    excluded: np.ndarray


class _Context:
    """The pipeline's answers to a pair tracker's questions (see ``PairContext``)."""

    def __init__(self, pipe: Pipeline) -> None:
        self._p = pipe

    def t(self, index: int) -> float:
        return float(self._p._t_history.at(index))

    def cumulative_power(self, channel: int, index: int) -> float:
        if index < 0:
            return 0.0
        return float(self._p._history.at(index)[2 * self._p.n_channels + channel])

    def rest_power(self, channel: int) -> float:
        cal = self._p._channel_cal[channel]
        return cal.rest_mean_uv**2 + cal.rest_sd_uv**2

    def rest_sd_uv(self, channel: int) -> float:
        return self._p._channel_cal[channel].rest_sd_uv

    def threshold_height_uv(self, channel: int) -> float:
        return self._p.config.detector.threshold_sd * self.rest_sd_uv(channel)

    def mvc_uv(self, channel: int) -> float | None:
        return self._p._channel_cal[channel].mvc_uv

    def flags_since(self, channel: int, index: int, until: int) -> list[str]:
        return self._p._quality.flags_since(channel, index, until)

    def raw_rise_at(self, channel: int, index: int) -> int | None:
        return self._p._detector.raw_rise_at(channel, index)

    def half_level_time(self, channel: int, onset: int, stop: int) -> float | None:
        history = self._p._history
        start = onset - self._p._lag_lead_n
        if start < history.start or stop < onset + 2:
            return None
        envelope = history.get(start, stop + 1, self._p.n_channels + channel)
        excess = np.sqrt(np.maximum(envelope**2 - self.rest_power(channel), 0.0))
        level = float(np.percentile(excess[onset - start :], 80))
        if level <= 0:
            return None
        above = np.nonzero(excess >= 0.5 * level)[0]
        if not len(above):
            return None
        i = int(above[0])
        # Interpolate between the samples either side of the half-level crossing.
        fraction = 0.0
        if i > 0:
            low, high = excess[i - 1], excess[i]
            fraction = (0.5 * level - low) / (high - low) if high > low else 0.0
            i -= 1
        return self.t(start + i) + fraction / self._p.fs_hz

    def backdate(self, channel: int, rise_index: int) -> int:
        return self._p._detector.backdate(channel, rise_index, self._p._history)


class Pipeline:
    """Bilateral EMG chunks in, events out.

    Parameters
    ----------
    config : Config
        The validated configuration.
    fs_hz : float
        Sampling rate of the data.
    labels : sequence of str
        Channel labels, in column order of the chunks.
    calibration : Calibration | None
        A saved calibration; without one the first ``rest_s`` seconds are measured as rest.
    """

    def __init__(
        self,
        config: Config,
        fs_hz: float,
        labels: Sequence[str],
        calibration: Calibration | None = None,
    ) -> None:
        check_for_rate(config, fs_hz)
        self.config = config
        self.fs_hz = float(fs_hz)
        self.labels = list(labels)
        n = self.n_channels = len(self.labels)
        if n == 0:
            raise ValueError("labels: expected at least one channel label")
        self.pairs = resolve_pairs(config, self.labels)
        flt, env, det = config.filter, config.envelope, config.detector

        self._bridge = NonFiniteBridge(n)
        # Both start as if the first sample's level had always been there: a DC-coupled
        # amplifier's offset (hundreds of microvolts) then rings through neither, at the start
        # and after every gap.
        self._bandpass = BandpassFilter(
            fs_hz, n, flt.highpass_hz, flt.lowpass_hz, flt.order, settle_on_first=True
        )
        # Below the EMG band: where movement artefacts live (quality's motion check).
        self._motion_band = SosState(
            signal.butter(
                2,
                [config.quality.motion_low_hz, flt.highpass_hz],
                "bandpass",
                fs=fs_hz,
                output="sos",
            ),
            n,
            settle_on_first=True,
        )
        self._canceller: MainsCanceller | None = None
        self._envelopes = EnvelopePair(
            fs_hz,
            n,
            method=env.method,
            window_s=env.window_s,
            lowpass_hz=env.lowpass_hz,
            lowpass_order=env.lowpass_order,
            tkeo=det.tkeo,
        )
        self._quality = QualityMonitor(fs_hz, n, config.quality)
        # ECG over proximal muscles: removed from both envelopes beat by beat (nothing changes
        # where there is none).
        self._pair_channels = [(left, right) for _, left, right in self.pairs]
        self._ecg: EcgCanceller | None = None
        if config.ecg.mode != "off":
            window_s = env.window_s if env.method == "rms" else None
            ecg_cfg = config.ecg
            if window_s is None and ecg_cfg.domain == "signal":
                # The signal domain needs the sliding-window envelopes.
                ecg_cfg = dataclasses.replace(ecg_cfg, domain="power")
            self._ecg_settings = (ecg_cfg, window_s)
            self._ecg = self._new_ecg()
        # Which channels rested in the last block: the ECG templates learn only there (a beat
        # under a contraction would teach them EMG). Block by block, so that it does not
        # depend on how the stream was chunked.
        self._resting = np.zeros(n, dtype=bool)
        self._detector = OnsetDetector(fs_hz, n, det, self._envelopes.detection_delay_ms)
        self.cues = CueBook(config.mirror.cue_window_s, config.mirror.rest_cue_grace_s)
        self._trackers = [
            PairTracker(
                name,
                (left, right),
                fs_hz,
                mirror=config.mirror,
                grading=config.grading,
                cues=self.cues,
            )
            for name, left, right in self.pairs
        ]
        self._tracker_of = {}
        for tracker in self._trackers:
            for ch in tracker.channels:
                self._tracker_of[ch] = tracker
        self._ctx = _Context(self)

        # How far before a detected onset a rise may begin (the detector's back-dating reach).
        self._lag_lead_n = self._detector.lookback_n
        capacity = (
            self._detector.lookback_n
            + round((config.mirror.pre_onset_s + LAG_WINDOW_S) * fs_hz)
            + 2 * PIECE_N
        )
        # Per sample: detection envelope, amplitude envelope, cumulative squared amplitude
        # envelope (columns [0, n), [n, 2n), [2n, 3n)); the detector reads the first block.
        self._history = History(capacity, 3 * n)
        self._t_history = History(capacity, None)
        self._cumulative = np.zeros(n)
        self._warmup_n = round(det.warmup_s * fs_hz)
        self._blocks = BlockAccumulator(
            max(1, round(config.calibration.block_s * fs_hz)), n, config.calibration.min_rest_uv
        )

        self.index = 0  # absolute index of the next sample
        self._warm_from = self._warmup_n
        self._mvc: tuple[list[int], MvcMeter] | None = None
        self.calibration: Calibration | None = None
        self._channel_cal: list[ChannelCalibration] = []
        self._calibrator: RestCalibrator | None = self._new_calibrator(explicit=False)
        self._baseline: AdaptiveBaseline | None = None
        self._reported_on = np.zeros(n)
        self._progress_due_s = 0.0
        # "auto" mains: the band-passed signal is searched for a clear mains line every second
        # (a contraction can bury weak hum) until one is found; the canceller starts then.
        self._mains_search: list[np.ndarray] | None = None
        self._mains_n = round(flt.mains_detect_s * fs_hz)
        if calibration is not None:
            self.set_calibration(calibration)
        elif flt.mains_hz == "auto":
            self._mains_search = []
        else:
            self._make_canceller(None if flt.mains_hz == "off" else int(flt.mains_hz))

    # ---- public state ----------------------------------------------------------------------

    @property
    def calibrating(self) -> bool:
        """True while the rest calibration is being measured."""
        return self.calibration is None

    @property
    def rest_progress(self) -> float:
        """Fraction of the rest calibration done (1.0 when calibrated)."""
        if self.calibration is not None or self._calibrator is None:
            return 1.0
        return min(1.0, self._calibrator.collected_s / self.config.calibration.rest_s)

    @property
    def rest_collected_s(self) -> float:
        """Seconds of rest collected for the calibration so far (rest_s once calibrated)."""
        if self._calibrator is None:
            return self.config.calibration.rest_s
        return self._calibrator.collected_s

    @property
    def thresholds(self) -> Thresholds | None:
        """On/off/baseline levels of the detection envelope, per channel."""
        return self._detector.thresholds

    @property
    def mains_frequency_hz(self) -> float | None:
        """The mains fundamental being tracked (None when mains removal is off or unknown)."""
        return None if self._canceller is None else self._canceller.frequency_hz

    @property
    def envelope_delay_ms(self) -> float:
        """Group delay of the amplitude envelope."""
        return self._envelopes.amplitude_delay_ms

    @property
    def detection_delay_ms(self) -> float:
        """Group delay of the detection envelope."""
        return self._envelopes.detection_delay_ms

    # ---- commands (applied between chunks) --------------------------------------------------

    def set_calibration(self, calibration: Calibration) -> None:
        """Use a saved calibration (thresholds change from the next sample on).

        Parameters
        ----------
        calibration : Calibration
            Must match the channels, rate and envelope settings.
        """
        calibration.check_compatible(self.config, self.labels, self.fs_hz)
        mains = self.config.filter.mains_hz
        if mains == "auto":
            mains = calibration.mains_hz
        self._mains_search = None
        self._apply_calibration(calibration, None if mains in (None, "off") else int(mains))
        self._calibrator = None
        self._start_baseline()
        self._warm_from = max(self._warm_from, self.index + self._warmup_n)

    def recalibrate(self) -> None:
        """Measure rest again: the next ``rest_s`` must be rest (the calibration wizard)."""
        self.calibration = None
        self._calibrator = self._new_calibrator(explicit=True)
        self._baseline = None
        self._blocks.reset()
        self._detector.reset()
        for tracker in self._trackers:
            tracker.reset()

    def reset(self) -> None:
        """Start over after a gap in the stream: filters from rest, trials dropped.

        Calibration and cues are kept; detection waits ``warmup_s`` for the filters to settle.
        """
        self._bridge.reset()
        self._bandpass.reset()
        self._motion_band.reset()
        if self._canceller is not None:
            self._canceller.restart()
        self._envelopes.reset()
        self._quality.reset()
        if self._ecg is not None:
            self._ecg.reset()
        self._detector.reset()
        for tracker in self._trackers:
            tracker.reset()
        self._warm_from = self.index + self._warmup_n
        self._blocks.reset()
        if self._calibrator is not None:
            self._calibrator.reset()
        if self._baseline is not None:
            self._baseline.restart()
        if self.calibration is not None:
            self._quality.set_baseline(self._rest_means())

    def add_cue(self, cue: Mapping[str, Any] | str, t: float) -> bool:
        """Record a cue marker (``{"cue": "left", "pair": "FDI"}`` or ``{"cue": "rest"}``).

        Parameters
        ----------
        cue : mapping or str
            The marker, parsed or as JSON text.
        t : float
            Its timestamp in the EMG stream's time base.

        Returns
        -------
        bool
            False (and a logged warning) when the marker is not a valid cue; it is ignored.
        """
        if isinstance(cue, str):
            if len(cue) > 1000:
                log.warning("ignoring a cue marker of %d characters", len(cue))
                return False
            try:
                cue = json.loads(cue)
            except json.JSONDecodeError:
                log.warning("ignoring a cue marker that is not JSON: %.80r", cue)
                return False
        side = cue.get("cue") if isinstance(cue, Mapping) else None
        pair = cue.get("pair") if isinstance(cue, Mapping) else None
        if side not in ("left", "right", "rest") or not (pair is None or isinstance(pair, str)):
            log.warning("ignoring an invalid cue marker: %.80r", cue)
            return False
        if not isinstance(t, (int, float)) or not np.isfinite(t):
            log.warning("ignoring a cue marker with timestamp %r", t)
            return False
        self.cues.add(float(t), side, pair)
        return True

    def begin_mvc(self, labels: Sequence[str]) -> None:
        """Start measuring maximum voluntary contraction on some channels."""
        unknown = [label for label in labels if label not in self.labels]
        if unknown:
            raise ChannelMapError(
                f"begin_mvc: unknown channel {', '.join(unknown)}; channels are "
                f"{', '.join(self.labels)}"
            )
        channels = [self.labels.index(label) for label in labels]
        meter = MvcMeter(self.fs_hz, len(channels), self.config.calibration.mvc_window_s)
        self._mvc = (channels, meter)

    def end_mvc(self) -> dict[str, float]:
        """Stop measuring MVC, store it in the calibration and return it (microvolts).

        Returns
        -------
        dict
            Label to MVC level for channels where one was measured.
        """
        if self._mvc is None:
            return {}
        channels, meter = self._mvc
        self._mvc = None
        result = {
            self.labels[ch]: float(v)
            for ch, v in zip(channels, meter.peak_uv, strict=True)
            if np.isfinite(v)
        }
        if self.calibration is not None and result:
            self._apply_calibration(self.calibration.with_mvc(result), self._mains_hz())
        return result

    # ---- processing ------------------------------------------------------------------------

    def process(self, data: np.ndarray, timestamps: np.ndarray) -> ChunkResult:
        """Process one chunk.

        Parameters
        ----------
        data : ndarray, shape (n_samples, n_channels)
            EMG in microvolts (float32 or float64; NaN and inf are allowed and flagged).
        timestamps : ndarray, shape (n_samples,)
            LSL timestamps of the samples (seconds, EMG stream time base).

        Returns
        -------
        ChunkResult
            Events decided and the per-sample signals for display.
        """
        data = np.asarray(data)
        timestamps = np.asarray(timestamps, dtype=float)
        if data.ndim != 2 or data.shape[1] != self.n_channels:
            raise ValueError(
                f"data: expected shape (n_samples, {self.n_channels}), got {data.shape}"
            )
        if timestamps.shape != (len(data),):
            raise ValueError(f"timestamps: expected shape ({len(data)},), got {timestamps.shape}")
        first = self.index
        parts: list[ChunkResult] = []
        for start in range(0, max(len(data), 1), PIECE_N):
            stop = min(len(data), start + PIECE_N)
            parts.extend(self._process_piece(data[start:stop], timestamps[start:stop]))
        if len(parts) == 1:
            parts[0].first_index = first
            return parts[0]
        return ChunkResult(
            events=[e for p in parts for e in p.events],
            first_index=first,
            filtered_uv=np.concatenate([p.filtered_uv for p in parts]),
            envelope_uv=np.concatenate([p.envelope_uv for p in parts]),
            detection=np.concatenate([p.detection for p in parts]),
            above=np.concatenate([p.above for p in parts]),
            excluded=np.concatenate([p.excluded for p in parts]),
        )

    def _process_piece(self, data: np.ndarray, timestamps: np.ndarray) -> list[ChunkResult]:
        # Cut where each block of the rest baseline ends: what a block changes (thresholds,
        # the calibration, a canceller found) then applies from the same sample whatever the
        # chunking.
        results = []
        pos, n = 0, len(data)
        while pos < n or not results:
            take = min(n - pos, self._blocks.room)
            results.append(self._run(data[pos : pos + take], timestamps[pos : pos + take]))
            pos += take
        return results

    def _front_end(self, data: np.ndarray) -> _FrontEnd:
        bridged, nonfinite = self._bridge.process(data)
        return _FrontEnd(
            bridged=bridged,
            nonfinite=nonfinite,
            band=self._bandpass.process(bridged),
            motion=self._motion_band.process(bridged),
        )

    def _quality_inputs(
        self, front: _FrontEnd, cleaned: np.ndarray, amp: np.ndarray
    ) -> QualityInputs:
        canceller = self._canceller
        return QualityInputs(
            bridged=front.bridged,
            nonfinite=front.nonfinite,
            envelope_uv=amp,
            cleaned_uv=None if canceller is None else cleaned,
            motion_uv=front.motion,
            band_uv=front.band,
            mains_gate=None if canceller is None else canceller.gate,
            mains_hz=None if canceller is None else float(canceller.mains_hz),
            mains_top_hz=self._mains_top_hz(),
        )

    def _search_mains(self, band: np.ndarray) -> None:
        """Look for the mains line, with ``mains_hz = "auto"``.

        The last ``mains_detect_s`` of band-passed signal are kept; at the end of each block
        the canceller starts once a clear mains line shows in them.
        """
        search = self._mains_search
        assert search is not None
        search.append(band)
        held = sum(len(b) for b in search)
        while held - len(search[0]) >= self._mains_n:
            held -= len(search.pop(0))
        if held < self._mains_n or self._blocks.room != self._blocks.block_n:
            return
        found = find_mains(np.concatenate(search), self.fs_hz)
        if found is None:
            return
        self._mains_search = None
        self._make_canceller(*found)
        # The canceller converges on the next samples: they are not rest for the baseline.
        self._warm_from = max(self._warm_from, self.index + round(CANCELLER_SETTLE_S * self.fs_hz))

    # ---- calibration and baseline ----------------------------------------------------------

    def _new_ecg(self) -> EcgCanceller:
        ecg_cfg, window_s = self._ecg_settings
        return EcgCanceller(
            self.fs_hz,
            self.n_channels,
            self._pair_channels,
            ecg_cfg,
            envelope_window_s=window_s,
        )

    def _note_resting(self, block: RestBlock) -> None:
        """Remember which channels rested in a block (for the ECG canceller's learning)."""
        if self._calibrator is not None:
            reference = self._calibrator.quietest_uv
            factor = self.config.calibration.quiet_factor
        else:
            reference = np.array([c.rest_mean_uv for c in self._channel_cal])
            factor = self.config.baseline.quiet_factor
        with np.errstate(invalid="ignore"):
            self._resting = block.usable & (block.level_uv <= factor * reference)

    def _new_calibrator(self, *, explicit: bool) -> RestCalibrator:
        self._progress_due_s = 0.0
        return RestCalibrator(
            self.fs_hz,
            self.n_channels,
            self._pair_channels,
            self.config.calibration,
            explicit=explicit,
        )

    def _start_baseline(self) -> None:
        """Keep the rest baseline up to date from now on (if ``[baseline] adapt``)."""
        self._reported_on = self._on_thresholds()
        if not self.config.baseline.adapt:
            self._baseline = None
            return
        self._baseline = AdaptiveBaseline(
            self.n_channels,
            self._pair_channels,
            self.config.calibration.block_s,
            self.config.baseline,
            self._rest_stats(),
        )

    def _rest_stats(self) -> RestStats:
        cal = self._channel_cal
        return RestStats(
            amp_mean=np.array([c.rest_mean_uv for c in cal]),
            amp_sd=np.array([c.rest_sd_uv for c in cal]),
            det_mean=np.array([c.detect_mean for c in cal]),
            det_sd=np.array([c.detect_sd for c in cal]),
        )

    def _on_thresholds(self) -> np.ndarray:
        th = self._detector.thresholds
        return np.zeros(self.n_channels) if th is None else th.on.copy()

    def _calibration_block(self, block: RestBlock) -> list[tuple[Any, int]]:
        """One block of the rest calibration: progress, failure, or the calibration itself."""
        calibrator = self._calibrator
        assert calibrator is not None
        relaxed = calibrator.add(block)
        if len(relaxed):
            # These channels were busy all along: what the mains and ECG cancellers learned on
            # them is EMG, not mains or heart.
            if self._canceller is not None:
                self._canceller.forget(relaxed)
            if self._ecg is not None:
                self._ecg = self._new_ecg()
        cfg = self.config.calibration
        out: list[tuple[Any, int]] = []
        if calibrator.ready:
            problem = calibrator.explicit_problem() if calibrator.explicit else None
            if problem is None:
                return out + self._finish_calibration(calibrator.result(), block.end_index)
            reason, channels = problem
            out.append(
                self._status(
                    State.CALIBRATION_FAILED,
                    block.end_index,
                    reason=reason,
                    channels=[self.labels[c] for c in channels],
                )
            )
            self._calibrator = self._new_calibrator(explicit=True)
            return out
        if (
            not calibrator.explicit
            and not calibrator.gave_up
            and calibrator.seen_s >= cfg.give_up_s
        ):
            calibrator.gave_up = True
            out.append(
                self._status(
                    State.CALIBRATION_FAILED,
                    block.end_index,
                    reason=f"no usable rest in {cfg.give_up_s:g} s; still looking",
                    channels=[self.labels[c] for c in calibrator.lacking()],
                )
            )
        if calibrator.seen_s >= self._progress_due_s:
            self._progress_due_s = calibrator.seen_s + cfg.progress_every_s
            out.append(
                self._status(
                    State.CALIBRATING,
                    block.end_index,
                    rest_s_so_far=round(calibrator.collected_s, 2),
                    rest_s=cfg.rest_s,
                )
            )
        return out

    def _finish_calibration(self, stats: RestStats, end_index: int) -> list[tuple[Any, int]]:
        channels = {
            label: ChannelCalibration(
                rest_mean_uv=float(stats.amp_mean[i]),
                rest_sd_uv=float(stats.amp_sd[i]),
                detect_mean=float(stats.det_mean[i]),
                detect_sd=float(stats.det_sd[i]),
            )
            for i, label in enumerate(self.labels)
        }
        mains_hz = self._mains_hz()
        calibration = Calibration(
            channels=channels,
            fs_hz=self.fs_hz,
            mains_hz=mains_hz,
            settings=calibration_settings(self.config),
        )
        self._apply_calibration(calibration, mains_hz)
        self._calibrator = None
        self._detector.reset()
        self._start_baseline()
        return [
            self._status(
                State.CALIBRATED,
                end_index,
                mains_hz=mains_hz,
                rest_uv={lb: round(ch.rest_mean_uv, 3) for lb, ch in channels.items()},
            )
        ]

    def _baseline_block(self, block: RestBlock) -> list[tuple[Any, int]]:
        """One block after calibration: the rest baseline follows a changing noise floor."""
        baseline = self._baseline
        if baseline is None or not baseline.add(block):
            return []
        stats = baseline.stats
        self._channel_cal = [
            ChannelCalibration(
                rest_mean_uv=float(stats.amp_mean[i]),
                rest_sd_uv=float(stats.amp_sd[i]),
                detect_mean=float(stats.det_mean[i]),
                detect_sd=float(stats.det_sd[i]),
                mvc_uv=cal.mvc_uv,
            )
            for i, cal in enumerate(self._channel_cal)
        ]
        self._detector.set_thresholds(stats.det_mean, stats.det_sd)
        # The flat and mains checks compare with the rest as it is now (the calibration's can
        # hold ECG the canceller had not learned yet, or a floor since changed).
        self._quality.set_baseline(stats.amp_mean)
        on = self._on_thresholds()
        moved = np.abs(on - self._reported_on) > self.config.baseline.report_share * np.maximum(
            self._reported_on, 1e-12
        )
        if not moved.any():
            return []
        self._reported_on = on
        return [
            self._status(
                State.BASELINE_UPDATED,
                block.end_index,
                channels=[self.labels[c] for c in np.flatnonzero(moved)],
                rest_uv={
                    lb: round(float(v), 3)
                    for lb, v in zip(self.labels, stats.amp_mean, strict=True)
                },
            )
        ]

    def _status(self, state: StatusState, index: int, **extra: Any) -> tuple[Any, int]:
        return events.status(state, t=self._ctx.t(index), **extra), index

    def _make_canceller(self, mains_hz: int | None, start_hz: float | None = None) -> None:
        if mains_hz is None:
            self._canceller = None
            return
        flt = self.config.filter
        top = self._mains_top_hz()
        self._canceller = MainsCanceller(
            self.fs_hz,
            self.n_channels,
            mains_hz,
            max_harmonic_hz=top,
            bandwidth_hz=flt.mains_bandwidth_hz,
            drift_hz=flt.mains_drift_hz,
            start_hz=start_hz,
        )

    def _mains_hz(self) -> int | None:
        return None if self._canceller is None else round(self._canceller.mains_hz)

    def _mains_top_hz(self) -> float:
        """The highest mains harmonic the canceller removes (below the band's upper edge)."""
        return min(self._bandpass.band_hz[1], 0.95 * self.fs_hz / 2)

    def _apply_calibration(self, calibration: Calibration, mains_hz: int | None) -> None:
        if self._canceller is None or self._mains_hz() != mains_hz:
            self._make_canceller(mains_hz)
        self.calibration = calibration
        self._channel_cal = [calibration.channels[label] for label in self.labels]
        det_mean = np.array([ch.detect_mean for ch in self._channel_cal])
        det_sd = np.array([ch.detect_sd for ch in self._channel_cal])
        self._detector.set_thresholds(det_mean, det_sd)
        self._quality.set_baseline(self._rest_means())

    def _rest_means(self) -> np.ndarray:
        return np.array([ch.rest_mean_uv for ch in self._channel_cal])

    def _push_histories(self, det: np.ndarray, amp: np.ndarray) -> None:
        self._history.push_envelopes(det, amp, self._cumulative)

    def _run(self, data: np.ndarray, timestamps: np.ndarray) -> ChunkResult:
        first = self.index
        n = len(data)
        front = self._front_end(data)
        band = front.band
        cleaned = self._canceller.process(band) if self._canceller is not None else band
        amp, det = self._envelopes.process(cleaned)
        quality = self._quality.process(first, self._quality_inputs(front, cleaned, amp))
        hold = quality.hold.copy()
        warm_rows = max(0, min(n, self._warm_from - first))
        hold[:warm_rows] = True
        if self._ecg is not None:
            quiet = ~hold & self._resting[None, :]
            ecg = self._ecg.process(first, front.bridged, amp, det, quiet, band_uv=cleaned)
            amp, det = ecg.amp_uv, ecg.det
            if ecg.acted.any():
                self._quality.note_ecg(first, ecg.acted)
        if self._mvc is not None:
            channels, meter = self._mvc
            meter.process(amp[:, channels], np.ones((n, len(channels)), dtype=bool))
        self._t_history.push(timestamps)
        self._push_histories(det, amp)
        self.index += n

        # What counts for the rest statistics: where nothing holds the detector but, perhaps,
        # the canceller's gate (its estimate above the input after a contraction it started
        # in; the signal is rest-like there).
        usable = ~(hold if quality.gate_only is None else hold & ~quality.gate_only)
        usable[:warm_rows] = False
        decided: list[tuple[Any, int]] = [
            (self._flag_payload(change), change.index) for change in quality.changes
        ]
        above = np.zeros((n, self.n_channels), dtype=bool)
        busy = None
        if self.calibration is not None:
            # A channel excluded (saturated, lifted) must be seen resting before it may start
            # an activation: what the filters and the canceller leave behind is no onset.
            disarm = quality.excluded if quality.excluded.any() else None
            above, transitions = self._detector.process(first, det, hold, self._history, disarm)
            busy = above
            decided.extend(self._track(transitions, first + n - 1))
        # A piece never runs past the end of a block (see _process_piece).
        for block in self._blocks.push(first, amp, det, usable, busy):
            if self._calibrator is not None:
                decided.extend(self._calibration_block(block))
            else:
                decided.extend(self._baseline_block(block))
            self._note_resting(block)
        if self._mains_search is not None:
            self._search_mains(band)
        decided.sort(key=lambda item: item[1])
        return ChunkResult(
            events=[self._event(payload, index) for payload, index in decided],
            first_index=first,
            filtered_uv=cleaned.astype(np.float32),
            envelope_uv=amp.astype(np.float32),
            detection=det.astype(np.float32),
            above=above,
            excluded=quality.excluded,
        )

    def _track(self, transitions: list, up_to: int) -> list[tuple[Any, int]]:
        """The pair trackers' events for the detector's transitions, up to sample ``up_to``."""
        out: list[tuple[Any, int]] = []
        for tr in transitions:
            tracker = self._tracker_of.get(tr.channel)
            if tracker is None:
                continue
            out.extend(tracker.advance(tr.decided_index - 1, self._ctx))
            out.extend(tracker.on_transition(tr, self._ctx))
        for tracker in self._trackers:
            if tracker.trial is not None:  # most pairs are idle; skip their calls
                out.extend(tracker.advance(up_to, self._ctx))
        return out

    def _flag_payload(self, change: FlagChange, t: float | None = None) -> dict[str, Any]:
        state = State.CHANNEL_FLAGGED if change.raised else State.CHANNEL_CLEARED
        return events.status(
            state,
            t=self._ctx.t(change.index) if t is None else t,
            channel=self.labels[change.channel],
            flag=change.flag,
        )

    def _event(self, payload: dict[str, Any], index: int) -> Event:
        return Event(payload=payload, decided_index=index, decided_t=self._ctx.t(index))
