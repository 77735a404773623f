"""The simulated patient's timetable: trials, mirror coupling, artefact episodes, heart beats.

Each planner draws from its own random generator in a fixed order and only ever appends, so
planning lazily (as far as the stream has got) gives the same timetable as planning an hour at
once.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from acquisition.sim_presets import SIDES, PresetSpec
from acquisition.sim_truth import ArtefactInterval, Burst, TrialTruth

__all__ = ["EcgPlanner", "PatientBody", "TrialPlanner"]

# [default] ranges of ../shared/DOMAIN.md 7, in seconds unless named otherwise.
_REACTION_S = (0.15, 0.35)
_RAMP_S = (0.05, 0.3)
_HOLD_S = (1.5, 5.0)
_REST_S = (3.0, 6.0)
_TAP_RATE_HZ = (0.5, 3.0)
_TAP_DUTY = (0.3, 0.5)
_FORCE_FRACTION = (0.1, 0.6)
_AMPLITUDE_UV = (50.0, 500.0)
# Trial-to-trial scatter of a gain that follows force or complexity, as a fraction of its range.
_GAIN_SCATTER = 0.1
# Artefacts preset: how often each episode kind appears in a trial.
_MOTION_PER_TRIAL = 0.7
_SATURATION_PROBABILITY = 0.25
_LIFT_OFF_PROBABILITY = 0.25


@dataclass(frozen=True)
class PatientBody:
    """The fixed properties of one simulated person and recording setup.

    Attributes
    ----------
    pairs : tuple of str
        Pair names.
    labels : tuple of str
        Channel labels (two per pair, left first).
    baselines_uv : tuple of float
        Rest RMS per channel.
    mvc_uv : tuple of float
        EMG RMS at maximum voluntary contraction per channel.
    saturation_channel : int
        The channel whose amplifier input saturates in the artefacts preset.
    lift_off_channel : int
        The channel whose electrode lifts in the artefacts preset.
    full_scale_uv : float
        Amplifier rail.
    """

    pairs: tuple[str, ...]
    labels: tuple[str, ...]
    baselines_uv: tuple[float, ...]
    mvc_uv: tuple[float, ...]
    saturation_channel: int
    lift_off_channel: int
    full_scale_uv: float


class TrialPlanner:
    """Plan trials one after the other, on demand.

    Parameters
    ----------
    spec : PresetSpec
        The preset.
    body : PatientBody
        The person.
    fs_hz : float
        Sampling rate.
    seed : int
        Random seed.
    initial_rest_s : float
        Pure rest before the first cue.
    """

    def __init__(
        self,
        spec: PresetSpec,
        body: PatientBody,
        fs_hz: float,
        seed: int,
        initial_rest_s: float,
    ) -> None:
        self._spec = spec
        self._body = body
        self._fs = fs_hz
        self._rng = np.random.default_rng([seed, 101])
        self._pair_queue: list[int] = []
        self._next_cue = round(initial_rest_s * fs_hz)
        self.trials: list[TrialTruth] = []
        self._span_starts: list[int] = []

    def plan_until(self, index: int) -> None:
        """Plan trials until one's span reaches past sample ``index``."""
        while not self.trials or self.trials[-1].span_stop <= index:
            self._plan_next()

    def overlapping(self, start: int, stop: int) -> list[TrialTruth]:
        """Trials whose span overlaps samples ``[start, stop)``."""
        if stop <= start:
            return []
        self.plan_until(stop)
        first = max(0, bisect.bisect_right(self._span_starts, start) - 1)
        last = bisect.bisect_left(self._span_starts, stop)
        return self.trials[first:last]

    def _s(self, low_high: tuple[float, float]) -> float:
        """Draw uniformly from a range in seconds; return samples."""
        return float(self._rng.uniform(*low_high)) * self._fs

    def _plan_next(self) -> None:
        spec, body, rng = self._spec, self._body, self._rng
        number = len(self.trials) + 1
        cue = self._next_cue
        if not self._pair_queue:
            # Every pair moves once per cycle, in a fresh order each cycle.
            self._pair_queue = [int(p) for p in rng.permutation(len(body.pairs))]
        pair = self._pair_queue.pop()
        side = int(rng.integers(2))
        active, passive = 2 * pair + side, 2 * pair + 1 - side
        tapping = bool(rng.random() < spec.tapping_probability)
        force = float(rng.uniform(*_FORCE_FRACTION))
        amplitude_uv = float(np.clip(body.mvc_uv[active] * force, *_AMPLITUDE_UV))
        onset = cue + self._s(_REACTION_S)
        if tapping:
            bursts, complexity = self._taps(onset)
        else:
            ramp_up, hold, ramp_down = self._s(_RAMP_S), self._s(_HOLD_S), self._s(_RAMP_S)
            bursts = (Burst(onset, ramp_up, hold, ramp_down),)
            # A steady hold still varies a little in how precise the target is.
            complexity = float(rng.uniform(0.0, 0.3))
        last = bursts[-1]
        stopping = last.start + last.ramp_up + last.hold
        rest_cue = max(cue + 1, round(stopping - self._s(_REACTION_S)))
        mirror, gain, lag = self._coupling(force, complexity)
        self._next_cue = round(last.stop + self._s(_REST_S))
        span_start = 0 if number == 1 else cue
        artefacts = self._episodes(number, cue, self._next_cue) if spec.artefacts else ()
        self.trials.append(
            TrialTruth(
                trial=number,
                preset=spec.name,
                pair=body.pairs[pair],
                active_side=SIDES[side],
                mirror_side=SIDES[1 - side],
                active_label=body.labels[active],
                mirror_label=body.labels[passive],
                active_channel=active,
                mirror_channel=passive,
                task="tapping" if tapping else "hold",
                cue_index=cue,
                rest_cue_index=rest_cue,
                bursts=bursts,
                active_amplitude_uv=amplitude_uv,
                active_baseline_uv=body.baselines_uv[active],
                baseline_uv=body.baselines_uv[passive],
                force_fraction=force,
                complexity=complexity,
                mirror=mirror,
                mirror_gain=gain,
                mirror_lag_samples=lag,
                layer=spec.layer if mirror else None,
                span_start=span_start,
                span_stop=self._next_cue,
                artefacts=artefacts,
                fs_hz=self._fs,
            )
        )
        self._span_starts.append(span_start)

    def _taps(self, onset: float) -> tuple[tuple[Burst, ...], float]:
        rng = self._rng
        rate_hz = float(rng.uniform(*_TAP_RATE_HZ))
        duration_s = float(rng.uniform(*_HOLD_S))
        n_taps = max(2, round(duration_s * rate_hz))
        period = self._fs / rate_hz
        length = float(rng.uniform(*_TAP_DUTY)) * period
        # Ramps of 50-300 ms as for holds, but never more than a third of a short tap each.
        ramp = min(self._s(_RAMP_S), length / 3.0)
        bursts = tuple(
            Burst(onset + k * period, ramp, length - 2.0 * ramp, ramp) for k in range(n_taps)
        )
        # Faster tapping is the more demanding task (Layer III mirroring grows with it).
        span = _TAP_RATE_HZ[1] - _TAP_RATE_HZ[0]
        complexity = 0.5 + 0.5 * (rate_hz - _TAP_RATE_HZ[0]) / span
        return bursts, complexity

    def _coupling(self, force: float, complexity: float) -> tuple[bool, float, float]:
        spec, rng = self._spec, self._rng
        if not rng.random() < spec.mirror_probability:
            return False, 0.0, 0.0
        low, high = spec.gain_range
        if spec.gain_rule == "force":
            f_low, f_high = _FORCE_FRACTION
            drive = (force - f_low) / (f_high - f_low)
        elif spec.gain_rule == "complexity":
            drive = complexity
        else:
            drive = float(rng.uniform())
        if spec.gain_rule != "random":
            drive += float(rng.uniform(-_GAIN_SCATTER, _GAIN_SCATTER))
        gain = low + (high - low) * float(np.clip(drive, 0.0, 1.0))
        lag = float(rng.uniform(*spec.lag_range_ms)) * self._fs / 1000.0
        return True, gain, lag

    def _episodes(self, number: int, cue: int, span_stop: int) -> tuple[ArtefactInterval, ...]:
        """Artefact episodes of one trial of the artefacts preset, after its cue."""
        body, rng = self._body, self._rng
        n_channels = len(body.labels)
        everyone = tuple(range(n_channels))
        episodes = [ArtefactInterval("mains", cue, span_stop, everyone, body.labels)]

        def placed(duration: float) -> float:
            return float(rng.uniform(cue, max(cue + 1.0, span_stop - duration)))

        # The first three trials show one of each kind, so a short run contains all of them.
        n_motion = max(int(number == 1), int(rng.poisson(_MOTION_PER_TRIAL)))
        for _ in range(n_motion):
            duration = self._s((0.1, 0.4))
            count = int(rng.integers(1, n_channels + 1))
            channels = tuple(sorted(int(c) for c in rng.choice(n_channels, count, replace=False)))
            start = placed(duration)
            episodes.append(
                ArtefactInterval(
                    "motion",
                    start,
                    start + duration,
                    channels,
                    tuple(body.labels[c] for c in channels),
                    amplitude_uv=float(rng.uniform(100.0, 800.0)),
                    frequency_hz=float(rng.uniform(2.0, 8.0)),
                    phase_rad=float(rng.uniform(0.0, 2.0 * math.pi)),
                )
            )
        if number == 2 or rng.random() < _SATURATION_PROBABILITY:
            duration = self._s((0.3, 1.5))
            start = placed(duration)
            rail = body.full_scale_uv * (1.0 if rng.random() < 0.5 else -1.0)
            channel = body.saturation_channel
            episodes.append(
                ArtefactInterval(
                    "saturation",
                    start,
                    start + duration,
                    (channel,),
                    (body.labels[channel],),
                    amplitude_uv=rail,
                )
            )
        if number == 3 or rng.random() < _LIFT_OFF_PROBABILITY:
            duration = self._s((0.5, 3.0))
            start = placed(duration)
            channel = body.lift_off_channel
            episodes.append(
                ArtefactInterval(
                    "lift_off", start, start + duration, (channel,), (body.labels[channel],)
                )
            )
        return tuple(sorted(episodes, key=lambda e: e.start))


class EcgPlanner:
    """R-peak times of a heart beating at about 1 Hz, planned on demand.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    seed : int
        Random seed.
    """

    #: Beat-to-beat variability of the R-R interval (SD as a fraction of the mean).
    RR_VARIABILITY = 0.04

    def __init__(self, fs_hz: float, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 102])
        self._fs = fs_hz
        self.heart_rate_bpm = float(self._rng.uniform(60.0, 80.0))
        # QRS width [lit] 20-60 ms; one value per person.
        self.qrs_width_s = float(self._rng.uniform(0.025, 0.055))
        self._rr = 60.0 / self.heart_rate_bpm * fs_hz
        self.r_peaks: list[float] = [float(self._rng.uniform(0.0, self._rr))]

    def between(self, start: float, stop: float) -> list[float]:
        """R-peak sample indices in ``[start, stop)``."""
        while self.r_peaks[-1] < stop:
            factor = 1.0 + self.RR_VARIABILITY * float(self._rng.standard_normal())
            self.r_peaks.append(self.r_peaks[-1] + self._rr * float(np.clip(factor, 0.8, 1.2)))
        first = bisect.bisect_left(self.r_peaks, start)
        last = bisect.bisect_left(self.r_peaks, stop)
        return self.r_peaks[first:last]
