"""ECG cancellation in the EMG envelopes: causal, forward only, no added latency.

Over proximal muscles (biceps, triceps, deltoid, trunk) surface EMG carries the heart's QRS
complexes, 50-150 uV R peaks on both sides at once, about once a second. The 20 Hz high-pass
leaves much of their energy (25-40 Hz), so each beat adds a bump of power to the amplitude and
the detection envelope: it inflates the rest statistics, crosses thresholds at rest and adds to
a mirror side's amplitude. :class:`EcgCanceller` removes that power.

Method
------
Beats are detected per pair on the raw signal band-passed to ``band_hz`` (10-40 Hz, below the
EMG's main energy and where the QRS is strongest), on the side of the pair that shows them
best, when the band's magnitude rises through ``detect_fraction`` of the learned R amplitude:
early on the QRS, so the correction starts before most of its power has entered the envelope
windows. A refractory period and, once the rhythm is known, a periodicity gate keep EMG from
making beats, and a beat whose peak does not come to about the R amplitude is dropped (its
correction stops there). A pair's first beats are found as outliers of the band (``min_snr``
times its robust noise level) that come regularly and at equal heights; without ECG nothing is
found and nothing changes.

Each beat starts a correction of both channels of its pair, from the detection on.

- ``signal`` domain (the default, for the pipeline's sliding RMS and TKEO envelopes): every
  channel has a template of the beat's waveform in the band signal the envelopes are made of,
  from ``PRE_S`` before the crossing on, learned by an LMS step per beat over resting samples,
  aligned to the crossing to a fraction of a sample, and scaled per beat by ``peak / R
  amplitude`` (predicted from the rise so far until the peak is known; a larger beat crosses
  earlier, so its alignment is refined with its height). The corrected envelopes are those of
  the band signal minus the waveform, computed exactly from the envelopes and window sums of
  the waveform's cross terms with the signal, which include the part of the waveform already in
  the window at the detection. The product of ECG and noise in the window, which no envelope
  template can remove, goes with it.
- ``power`` domain (any envelope, and beats timed on a side that is not at rest, whose
  sub-sample timing is unreliable): a template of the power a beat adds to each envelope as a
  function of the samples since detection (the envelope's square minus the channel's rest
  power between beats), scaled per beat by ``(peak / R amplitude) ** 2``; the corrected
  envelope is ``sqrt(max(0, envelope ** 2 - scale * template))``. Power adds for independent
  signals, so this is right on average during a contraction too.

Samples before the detection are never edited: they keep 0.4-0.5 % of a beat's envelope power
at the default ``detect_fraction`` (measured in tests/unit/test_ecg.py), in the 10 ms before
the detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import signal

from detection.config import ECG_PEAK_S, EcgConfig
from detection.ecg_kernel import (
    NEVER,
    NEXT_INDEX,
    EcgSettings,
    EcgState,
    process_chunk,
    restart,
)

__all__ = ["EcgBeat", "EcgCanceller", "EcgConfig", "EcgResult"]

#: Order of the ECG band-pass edges. Measured on the simulator's QRS: order 2 crosses 35 % of
#: the R amplitude 1.5 ms before the R peak, order 3 2 ms after and order 4 6 ms after; the
#: earlier the crossing, the less of the beat is left uncorrected. Order 2 still takes drift
#: at 1 Hz down by 45 dB.
BAND_ORDER = 2
#: The beat's peak is sought this long after its detection (the band-passed QRS's largest lobe
#: comes 15-35 ms after a 35 % crossing for QRS widths of 20-60 ms).
PEAK_S = ECG_PEAK_S
#: The waveform template starts this long before the detection: the QRS in the EMG band
#: begins up to 20 ms before it crosses the detection level (wide QRS complexes).
PRE_S = 0.025
#: Window after a bootstrap candidate's crossing in which a QRS has ended (s).
TAIL_S = (0.06, 0.12)
#: The running median of the ECG band's magnitude moves by e in about this time.
NOISE_S = 0.25
#: Time constant of the rest power between beats.
REST_S = 2.0
#: The rest power is taken from samples this long before a beat's detection or earlier, and
#: whether the muscle rests is judged on the samples between ``RING_S`` and ``GUARD_S`` before
#: it: the envelope starts to rise up to 12 ms before the QRS crosses the detection level.
RING_S = 0.03
GUARD_S = 0.015
#: No beats in the first this long after a (re)start: the band's noise level settles.
SETTLE_S = 0.5
#: A locked pair with a clear view and no beat for this long looks for its beats afresh.
LOST_S = 4.0
#: Heart periods a bootstrap accepts (200 to 30 beats per minute).
RR_RANGE_S = (0.3, 2.0)
#: A beat teaches nothing when the envelope before it holds this many times the rest power.
ACTIVITY_FACTOR = 3.0


class EcgBeat(NamedTuple):
    """A beat detected by the canceller."""

    #: Absolute sample index of the detection (the rising edge, about the R peak).
    index: int
    #: Index of the pair it was detected in (into the ``pairs`` given to the canceller).
    pair: int


@dataclass
class EcgResult:
    """What one call of :meth:`EcgCanceller.process` produced."""

    #: Corrected amplitude envelope, (n_samples, n_channels).
    amp_uv: np.ndarray
    #: Corrected detection envelope, same shape.
    det: np.ndarray
    #: A correction of a significant ECG was applied at that sample (bool, same shape).
    acted: np.ndarray
    #: Beats confirmed in the chunk (their peak came), in time order. A beat is confirmed
    #: ``PEAK_S`` after its detection, so its index may lie in the chunk before.
    beats: tuple[EcgBeat, ...]


class EcgCanceller:
    """Remove the heart's beats from the amplitude and detection envelopes, causally.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels; channels in no pair pass through unchanged.
    pairs : sequence of (int, int)
        ``(left, right)`` channel indices of each homologous pair; a channel may be in one pair
        only. The two sides see the same heart, so each pair finds its beats together.
    config : EcgConfig
        Settings.
    envelope_window_s : float | None
        The window of the sliding RMS and TKEO envelopes given to :meth:`process`; needed in
        the ``signal`` domain (where the corrections are computed through that window).
    """

    def __init__(
        self,
        fs_hz: float,
        n_channels: int,
        pairs: list[tuple[int, int]] | tuple[tuple[int, int], ...],
        config: EcgConfig | None = None,
        *,
        envelope_window_s: float | None = None,
    ) -> None:
        self.config = config or EcgConfig()
        self.fs_hz = float(fs_hz)
        self.n_channels = int(n_channels)
        problems = self.config.check(self.fs_hz)
        pair_array = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        used = pair_array.ravel()
        if used.size and (used.min() < 0 or used.max() >= n_channels):
            problems.append(f"pairs must name channels 0-{n_channels - 1}, got {pairs!r}")
        if len(set(used.tolist())) != used.size:
            problems.append(f"pairs must not share channels, got {pairs!r}")
        self.signal_domain = self.config.domain == "signal"
        # The envelopes' window, as RmsEnvelope and TkeoEnvelope round it.
        window_n = 0 if envelope_window_s is None else max(2, round(envelope_window_s * fs_hz))
        if self.signal_domain and envelope_window_s is None:
            problems.append("envelope_window_s is needed in the signal domain")
        # A beat's correction must end before the next beat may begin.
        corr_n = round(self.config.template_s * fs_hz) + (window_n + 3 if self.signal_domain else 0)
        if self.signal_domain and corr_n > round(self.config.refractory_s * fs_hz):
            problems.append(
                f"template_s + envelope_window_s must stay below refractory_s "
                f"({self.config.refractory_s!r}), got {self.config.template_s!r} + "
                f"{envelope_window_s!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        self.pairs = [(int(a), int(b)) for a, b in pair_array]
        cfg, fs = self.config, self.fs_hz
        sos = signal.butter(BAND_ORDER, cfg.band_hz, btype="bandpass", fs=fs, output="sos")
        self.sos = np.ascontiguousarray(sos / sos[:, 3:4])
        self.template_n = round(cfg.template_s * fs)
        #: How long after its detection a beat is corrected at most (samples): in the signal
        #: domain its waveform and the envelope window, in the power domain ``template_n``.
        self.correction_n = corr_n
        pre_n = round(PRE_S * fs)
        self.peak_n = max(2, round(PEAK_S * fs))
        self._ring_n = max(1, round(RING_S * fs))
        self._settings = EcgSettings(
            sos=self.sos,
            zi_step=np.ascontiguousarray(signal.sosfilt_zi(self.sos)),
            pair_channels=np.ascontiguousarray(pair_array),
            detect_fraction=float(cfg.detect_fraction),
            min_snr=float(cfg.min_snr),
            refractory_n=max(1, round(cfg.refractory_s * fs)),
            template_n=self.template_n,
            wave=self.signal_domain,
            window_n=max(window_n, 1),
            pre_n=pre_n,
            corr_n=corr_n,
            peak_n=self.peak_n,
            tail_start_n=round(TAIL_S[0] * fs),
            tail_stop_n=round(TAIL_S[1] * fs),
            learn_rate=float(cfg.learn_rate),
            significant_ratio=float(cfg.significant_ratio),
            noise_step=1.0 / (NOISE_S * fs),
            rest_rate=1.0 / (REST_S * fs),
            settle_n=round(SETTLE_S * fs),
            lost_n=round(LOST_S * fs),
            rr_min_n=RR_RANGE_S[0] * fs,
            rr_max_n=RR_RANGE_S[1] * fs,
            activity_factor=ACTIVITY_FACTOR,
            guard_n=round(GUARD_S * fs),
        )
        self._state = EcgState.zeros(
            self.n_channels,
            len(self.pairs),
            n_sections=self.sos.shape[0],
            template_n=self.template_n,
            pre_n=pre_n,
            # A power of two, so that a mask finds a sample's row.
            band_ring_n=1 << (self.template_n + pre_n + window_n + 8).bit_length(),
            peak_n=self.peak_n,
            ring_n=self._ring_n,
        )

    def reset(self) -> None:
        """Start over after a gap: forget the filter state and the beats under way.

        The templates, R amplitudes, rest levels and the heart rate are kept (the heart did not
        change); the first beat after the gap is accepted without the periodicity gate.
        """
        restart(self._state)

    @property
    def enabled(self) -> bool:
        """Whether the canceller does anything (``mode`` is not ``off``)."""
        return self.config.mode != "off"

    @property
    def significant(self) -> np.ndarray:
        """Per channel: its ECG is significant (corrections on it count as ``acted``)."""
        return self._state.significant.astype(bool)

    @property
    def r_amplitude_uv(self) -> np.ndarray:
        """Per channel: the learned R amplitude in the ECG band (0 while unknown)."""
        return self._state.r_amp.copy()

    @property
    def locked(self) -> np.ndarray:
        """Per pair: its beats are being detected (False while it looks for them)."""
        return self._state.locked.astype(bool)

    @property
    def heart_period_s(self) -> np.ndarray:
        """Per pair: median R-R interval in seconds (NaN while unknown)."""
        rr = self._state.rr_median / self.fs_hz
        return np.where(rr > 0, rr, math.nan)

    @property
    def template_power(self) -> tuple[np.ndarray, np.ndarray]:
        """The learned templates ``(amplitude, detection)``, each (template_n, n_channels).

        Power (uV**2 for the amplitude envelope) one beat of unit scale adds, by samples since
        its detection.
        """
        return self._state.tpl_amp.copy(), self._state.tpl_det.copy()

    @property
    def waveform_uv(self) -> np.ndarray:
        """The learned beat waveforms in the band signal, (samples, n_channels), unit scale.

        Row ``PRE_S * fs_hz + 1`` is the crossing; the first and last rows are zero padding.
        """
        return self._state.wave.copy()

    @property
    def rest_power(self) -> tuple[np.ndarray, np.ndarray]:
        """Per channel: rest power between beats of ``(amplitude, detection)`` envelopes."""
        return self._state.rest_amp.copy(), self._state.rest_det.copy()

    def process(
        self,
        first_index: int,
        raw_uv: np.ndarray,
        amp_uv: np.ndarray,
        det: np.ndarray,
        quiet: np.ndarray,
        *,
        band_uv: np.ndarray | None = None,
    ) -> EcgResult:
        """Cancel the ECG in one chunk.

        Parameters
        ----------
        first_index : int
            Absolute index of the chunk's first sample. Chunks must follow each other; one
            that does not (a gap) restarts the canceller as :meth:`reset` does.
        raw_uv : ndarray, shape (n_samples, n_channels)
            The finite (bridged) raw samples, before any filter.
        amp_uv, det : ndarray, shape (n_samples, n_channels)
            The amplitude and detection envelopes of the same samples.
        quiet : ndarray of bool, shape (n_samples, n_channels)
            Where the channel is known to be at rest (no activation, no quality hold): the
            templates learn only there.
        band_uv : ndarray, shape (n_samples, n_channels), optional
            The band-passed, mains-cancelled signal the envelopes were computed from; needed
            in the ``signal`` domain.

        Returns
        -------
        EcgResult
            Corrected copies of the envelopes, where a significant ECG was corrected, and the
            beats detected.
        """
        raw = np.ascontiguousarray(raw_uv, dtype=np.float64)
        shape = raw.shape
        if raw.ndim != 2 or shape[1] != self.n_channels:
            raise ValueError(f"raw_uv: expected shape (n_samples, {self.n_channels}), got {shape}")
        # Copies: the kernel corrects them in place.
        amp = np.array(amp_uv, dtype=np.float64, order="C")
        detection = np.array(det, dtype=np.float64, order="C")
        if amp.shape != shape or detection.shape != shape or np.shape(quiet) != shape:
            raise ValueError(
                f"amp_uv, det and quiet: expected shape {shape}, got {amp.shape}, "
                f"{detection.shape} and {np.shape(quiet)}"
            )
        if not self.enabled:
            return EcgResult(amp, detection, np.zeros(shape, dtype=bool), ())
        if self.signal_domain:
            if band_uv is None or np.shape(band_uv) != shape:
                raise ValueError(
                    f"band_uv: expected shape {shape} in the signal domain, got "
                    f"{None if band_uv is None else np.shape(band_uv)}"
                )
            band = band_uv
        else:
            band = raw  # not read
        expected = int(self._state.counts[NEXT_INDEX])
        if expected not in (NEVER, first_index):
            self.reset()
        _, _, acted, beats = process_chunk(
            int(first_index), raw, band, amp, detection, quiet, self._state, self._settings
        )
        found = tuple(EcgBeat(int(index), int(pair)) for index, pair in beats) if len(beats) else ()
        return EcgResult(amp, detection, acted, found)
