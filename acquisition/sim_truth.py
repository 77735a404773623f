"""Ground-truth records of the simulated patient: trials, bursts, cues and artefact intervals.

Times are kept as (fractional) sample indices so the model is exact at any sampling rate; the
``to_dict`` methods turn them into seconds in the EMG stream's time base, ``t0 + n / fs``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Activity", "ArtefactInterval", "Burst", "Cue", "TrialTruth", "seconds"]

#: JSON times are rounded to a microsecond: far below one sample, and readable.
_DECIMALS = 6


def seconds(index: float, t0: float, fs_hz: float) -> float:
    """Convert a sample index to a time in the EMG stream's time base.

    Parameters
    ----------
    index : float
        Sample index (may be fractional).
    t0 : float
        Time stamp of sample 0 (s).
    fs_hz : float
        Sampling rate.

    Returns
    -------
    float
        ``t0 + index / fs_hz``, rounded to a microsecond.
    """
    return round(t0 + index / fs_hz, _DECIMALS)


@dataclass(frozen=True)
class Burst:
    """One trapezoid of muscle activity, in samples.

    Attributes
    ----------
    start : float
        Where the envelope leaves baseline (the onset).
    ramp_up : float
        Length of the rising ramp.
    hold : float
        Length of the plateau.
    ramp_down : float
        Length of the falling ramp; the offset is where it reaches baseline again.
    cosine : bool
        Half-cosine ramps (the amplitude leaves zero smoothly) instead of linear ones.
    """

    start: float
    ramp_up: float
    hold: float
    ramp_down: float
    cosine: bool = False

    @property
    def stop(self) -> float:
        """Where the envelope is back at baseline (the offset), in samples."""
        return self.start + self.ramp_up + self.hold + self.ramp_down

    def shifted(self, delta: float) -> Burst:
        """The same burst ``delta`` samples later."""
        return dataclasses.replace(self, start=self.start + delta)


@dataclass(frozen=True)
class ArtefactInterval:
    """A stretch of signal that is not muscle activity.

    Attributes
    ----------
    kind : str
        "ecg" (one QRS complex), "mains" (strong, drifting mains), "motion", "saturation",
        "lift_off"; the outlet adds "gap" and "outage".
    start, stop : float
        First and last sample index (fractional).
    channels : tuple of int
        Affected channel indices.
    labels : tuple of str
        Their labels, in the same order.
    amplitude_uv : float
        Peak amplitude (signed for saturation: the rail it sits on).
    frequency_hz : float
        Main frequency of a motion bump (0 for the other kinds).
    phase_rad : float
        Phase of a motion bump's oscillation.
    """

    kind: str
    start: float
    stop: float
    channels: tuple[int, ...]
    labels: tuple[str, ...]
    amplitude_uv: float = 0.0
    frequency_hz: float = 0.0
    phase_rad: float = 0.0

    def shifted(self, delta: float) -> ArtefactInterval:
        """The same interval ``delta`` samples later."""
        return dataclasses.replace(self, start=self.start + delta, stop=self.stop + delta)

    def to_dict(self, t0: float, fs_hz: float) -> dict[str, Any]:
        """Describe the interval in seconds of the EMG time base.

        Parameters
        ----------
        t0 : float
            Time stamp of sample 0 (s).
        fs_hz : float
            Sampling rate.

        Returns
        -------
        dict
            ``{"kind", "t_start", "t_end", "channels"}`` with channel labels.
        """
        return {
            "kind": self.kind,
            "t_start": seconds(self.start, t0, fs_hz),
            "t_end": seconds(self.stop, t0, fs_hz),
            "channels": list(self.labels),
        }


@dataclass(frozen=True)
class Activity:
    """Muscle activity that is neither the voluntary movement nor its mirror.

    Attributes
    ----------
    kind : str
        "posture" (passive side, starting 0.5-0.9 s after the active onset), "tonic_before"
        (passive side, already on before the active onset), "late_burst" (passive side, just
        after the active offset) or "twitch" (20-50 ms, either side, anywhere).
    channel : int
        Channel index.
    label : str
        Its label.
    burst : Burst
        Its envelope shape, in samples.
    amplitude_uv : float
        Plateau (or peak, for a twitch) RMS amplitude.
    """

    kind: str
    channel: int
    label: str
    burst: Burst
    amplitude_uv: float

    def shifted(self, delta: float) -> Activity:
        """The same activity ``delta`` samples later."""
        return dataclasses.replace(self, burst=self.burst.shifted(delta))

    def to_dict(self, t0: float, fs_hz: float) -> dict[str, Any]:
        """Describe the activity in seconds of the EMG time base."""
        return {
            "kind": self.kind,
            "channel": self.label,
            "t_start": seconds(self.burst.start, t0, fs_hz),
            "t_end": seconds(self.burst.stop, t0, fs_hz),
            "amplitude_uv": round(self.amplitude_uv, 3),
        }


@dataclass(frozen=True)
class Cue:
    """A cue-screen marker: move one side of a pair, or rest.

    Attributes
    ----------
    index : int
        Sample index at which the cue appears.
    trial : int
        Trial number (1-based).
    cue : str
        "left", "right" or "rest" (what the marker says: now and then not the side that moved).
    pair : str
        The pair to move (also kept on rest cues, though the marker leaves it out).
    task : str
        "hold" or "tapping".
    """

    index: int
    trial: int
    cue: str
    pair: str
    task: str

    def marker(self) -> dict[str, Any]:
        """Return the marker as a cue screen would send it.

        Returns
        -------
        dict
            ``{"cue": "left", "pair": "FDI", "task": "hold", "trial": 1}`` or
            ``{"cue": "rest", "trial": 1}``.
        """
        if self.cue == "rest":
            return {"cue": "rest", "trial": self.trial}
        return {"cue": self.cue, "pair": self.pair, "task": self.task, "trial": self.trial}

    def to_json(self) -> str:
        """Return :meth:`marker` as compact JSON."""
        return json.dumps(self.marker(), separators=(",", ":"))


@dataclass(frozen=True)
class TrialTruth:
    """Everything the simulator knows about one trial.

    A trial's span runs from its movement cue to the next trial's movement cue (the first one
    from sample 0, so every sample belongs to exactly one trial); all of its activity, mirror
    activity and artefacts lie inside the span.

    Attributes
    ----------
    trial : int
        Trial number, 1-based.
    preset : str
        Preset name.
    pair : str
        Pair name.
    active_side, mirror_side : str
        "left" / "right".
    active_label, mirror_label : str
        Channel labels of the two sides.
    active_channel, mirror_channel : int
        Their channel indices.
    task : str
        "hold" or "tapping".
    cue_index, rest_cue_index : int
        Movement and rest cues (samples).
    bursts : tuple of Burst
        The active side's trapezoids (one for a hold, one per tap).
    active_amplitude_uv : float
        Plateau RMS amplitude of the active side's EMG above baseline.
    active_baseline_uv : float
        Rest RMS of the active channel's noise (mains hum, about 1 uV, comes on top).
    baseline_uv : float
        Rest RMS of the mirror channel's noise: compare ``mirror_amplitude_uv`` with it to know
        whether the mirror was physically detectable.
    force_fraction : float
        Force as a fraction of maximum voluntary contraction.
    complexity : float
        Task complexity, 0 (steady hold) to 1 (fast tapping).
    mirror : bool
        Whether the passive side mirrors this trial.
    mirror_gain : float
        Mirror amplitude / active amplitude (0 without mirror).
    mirror_lag_samples : float
        Mirror onset minus active onset, in samples (0 without mirror).
    layer : str | None
        Mechanism of the mirror ("physiological", "I", "II", "III"); None without mirror.
    span_start, span_stop : int
        The trial's span, in samples (stop exclusive).
    artefacts : tuple of ArtefactInterval
        Artefacts that start inside the span.
    fs_hz : float
        Sampling rate, to convert samples to seconds.
    mirror_bursts : tuple of Burst
        The mirror's own envelope shapes, one per active burst, *before* the lag is added (the
        clean signal: the active bursts themselves); empty without a mirror.
    crosstalk_gain : float
        Share of the active side's raw waveform that leaks, at zero lag, into the passive
        channel during the span (0: none).
    activity : tuple of Activity
        Posture, tonic, late and twitch activity inside or near the span, any pair.
    cue_side : str
        The side the movement cue named ("" when the session had no cue stream).
    fluctuation : tuple of (float, float, float)
        Slow amplitude fluctuation of the contraction: (frequency Hz, depth, phase rad) terms;
        the mirror follows it at its lag. Empty: a steady plateau.
    graded : bool
        A graded-force trial (slow ramps).
    realism : str
        "clean" or "real".
    ecg_r_uv : tuple of float
        R-peak amplitude on the active and the mirror channel (0 without ECG).
    drift_uv : tuple of float
        Peak electrode drift on the active and the mirror channel.
    burst_ratios : tuple of float
        The true mirror ratio of each active burst (see :meth:`to_dict`); filled by the
        simulator.
    true_ratio : float
        The true mirror ratio over the whole active window.
    """

    trial: int
    preset: str
    pair: str
    active_side: str
    mirror_side: str
    active_label: str
    mirror_label: str
    active_channel: int
    mirror_channel: int
    task: str
    cue_index: int
    rest_cue_index: int
    bursts: tuple[Burst, ...]
    active_amplitude_uv: float
    active_baseline_uv: float
    baseline_uv: float
    force_fraction: float
    complexity: float
    mirror: bool
    mirror_gain: float
    mirror_lag_samples: float
    layer: str | None
    span_start: int
    span_stop: int
    artefacts: tuple[ArtefactInterval, ...]
    fs_hz: float
    mirror_bursts: tuple[Burst, ...] = ()
    crosstalk_gain: float = 0.0
    activity: tuple[Activity, ...] = ()
    cue_side: str = ""
    fluctuation: tuple[tuple[float, float, float], ...] = ()
    graded: bool = False
    realism: str = "clean"
    ecg_r_uv: tuple[float, float] = (0.0, 0.0)
    drift_uv: tuple[float, float] = (0.0, 0.0)
    burst_ratios: tuple[float, ...] = ()
    true_ratio: float = 0.0

    @property
    def earliest_index(self) -> float:
        """The first sample this trial puts anything into the signal or the cue stream."""
        starts = [self.cue_index, self.bursts[0].start]
        starts += [a.burst.start for a in self.activity]
        if self.mirror:
            starts.append(self.mirror_onset_index)
        return min(starts)

    def shifted(self, delta: int) -> TrialTruth:
        """The same trial ``delta`` samples later (its span grows at the start for the first).

        Parameters
        ----------
        delta : int
            Samples (>= 0).

        Returns
        -------
        TrialTruth
            Every index moved; the first trial's span still starts at sample 0.
        """
        return dataclasses.replace(
            self,
            cue_index=self.cue_index + delta,
            rest_cue_index=self.rest_cue_index + delta,
            bursts=tuple(b.shifted(delta) for b in self.bursts),
            mirror_bursts=tuple(b.shifted(delta) for b in self.mirror_bursts),
            activity=tuple(a.shifted(delta) for a in self.activity),
            artefacts=tuple(a.shifted(delta) for a in self.artefacts),
            span_start=self.span_start if self.span_start == 0 else self.span_start + delta,
            span_stop=self.span_stop + delta,
        )

    @property
    def cue_correct(self) -> bool:
        """Whether the cue named the side that moved (True without a cue stream)."""
        return self.cue_side in ("", self.active_side)

    @property
    def mirror_onset_index(self) -> float:
        """Where the mirror's noise-free amplitude leaves zero (samples); NaN without mirror."""
        if not self.mirror:
            return math.nan
        return self.mirror_bursts[0].start + self.mirror_lag_samples

    @property
    def mirror_offset_index(self) -> float:
        """Where the mirror's amplitude is back at zero (samples); NaN without mirror."""
        if not self.mirror:
            return math.nan
        return self.mirror_bursts[-1].stop + self.mirror_lag_samples

    @property
    def onset_index(self) -> float:
        """Active onset: first burst's start (samples)."""
        return self.bursts[0].start

    @property
    def offset_index(self) -> float:
        """Active offset: last burst's end (samples)."""
        return self.bursts[-1].stop

    @property
    def mirror_lag_ms(self) -> float:
        """Mirror onset minus active onset (ms); 0 without mirror."""
        return 1000.0 * self.mirror_lag_samples / self.fs_hz

    @property
    def mirror_amplitude_uv(self) -> float:
        """Plateau RMS amplitude of the mirror channel's EMG above baseline."""
        return self.mirror_gain * self.active_amplitude_uv

    def to_dict(self, t0: float = 0.0) -> dict[str, Any]:
        """Describe the trial as the ``<name>-Truth`` marker does.

        Definitions (the scorer uses them as written): a side's true onset is the first sample
        where its noise-free amplitude exceeds zero (ramps start from zero, smoothly where they
        are half-cosine), the same rule on both sides; its offset is where it is back at zero.
        The true lag is the mirror's onset minus the active onset. The true ratio is the ratio
        of ../shared/DOMAIN.md 9 on the noise-free envelopes: the mean over the true active
        window (onset to offset of the active burst, or of the whole trial for ``true_ratio``)
        of the mirror's amplitude over the mean of the active amplitude. Crosstalk, posture and
        twitches are not mirror activity and are not in it.

        Parameters
        ----------
        t0 : float
            Time stamp of sample 0 in the EMG stream (s).

        Returns
        -------
        dict
            JSON-ready; times in seconds of the EMG time base, ``null`` where a mirror field
            does not apply.
        """
        fs = self.fs_hz

        def t(index: float) -> float:
            return seconds(index, t0, fs)

        lag = self.mirror_lag_samples
        return {
            "trial": self.trial,
            "preset": self.preset,
            "pair": self.pair,
            "active_side": self.active_side,
            "mirror_side": self.mirror_side,
            "active_channel": self.active_label,
            "mirror_channel": self.mirror_label,
            "task": self.task,
            "cue_t": t(self.cue_index),
            "rest_cue_t": t(self.rest_cue_index),
            "onset_t": t(self.onset_index),
            "offset_t": t(self.offset_index),
            "bursts": [[t(b.start), t(b.stop)] for b in self.bursts],
            "force_fraction": round(self.force_fraction, 4),
            "complexity": round(self.complexity, 4),
            "active_amplitude_uv": round(self.active_amplitude_uv, 3),
            "active_baseline_uv": round(self.active_baseline_uv, 3),
            "mirror": self.mirror,
            "mirror_gain": round(self.mirror_gain, 5),
            "mirror_lag_ms": round(self.mirror_lag_ms, 3) if self.mirror else None,
            "mirror_onset_t": t(self.mirror_onset_index) if self.mirror else None,
            "mirror_offset_t": t(self.mirror_offset_index) if self.mirror else None,
            "mirror_bursts": (
                [[t(b.start + lag), t(b.stop + lag)] for b in self.mirror_bursts]
                if self.mirror
                else []
            ),
            "mirror_amplitude_uv": round(self.mirror_amplitude_uv, 3),
            "baseline_uv": round(self.baseline_uv, 3),
            "layer": self.layer,
            "span_t": [t(self.span_start), t(self.span_stop)],
            "artefacts": [a.to_dict(t0, fs) for a in self.artefacts],
            "realism": self.realism,
            "cue_side": self.cue_side or None,
            "cue_correct": self.cue_correct,
            "graded": self.graded,
            "burst_rise_ms": [round(1000.0 * b.ramp_up / fs, 3) for b in self.bursts],
            "mirror_burst_rise_ms": [round(1000.0 * b.ramp_up / fs, 3) for b in self.mirror_bursts]
            if self.mirror
            else [],
            "mirror_burst_ms": [
                round(1000.0 * (b.stop - b.start) / fs, 3) for b in self.mirror_bursts
            ]
            if self.mirror
            else [],
            "burst_ratios": [round(r, 5) for r in self.burst_ratios],
            "true_ratio": round(self.true_ratio, 5),
            "crosstalk_gain": round(self.crosstalk_gain, 5),
            "activity": [a.to_dict(t0, fs) for a in self.activity],
            "ecg_r_uv": [round(v, 3) for v in self.ecg_r_uv],
            "drift_uv": [round(v, 3) for v in self.drift_uv],
        }

    def to_json(self, t0: float = 0.0) -> str:
        """Return :meth:`to_dict` as compact JSON."""
        return json.dumps(self.to_dict(t0), separators=(",", ":"))
