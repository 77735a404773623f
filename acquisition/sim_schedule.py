"""The simulated patient's timetable: trials, mirror coupling, artefact episodes, heart beats.

Each planner draws from its own random generator in a fixed order and only ever appends, so
planning lazily (as far as the stream has got) gives the same timetable as planning an hour at
once.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from acquisition.sim_presets import SIDES, PresetSpec, SimOptions
from acquisition.sim_truth import Activity, ArtefactInterval, Burst, TrialTruth

__all__ = ["EcgPlanner", "PatientBody", "TrialPlanner"]

# [default] ranges of ../shared/DOMAIN.md 7, in seconds unless named otherwise (the ranges that
# SimOptions can change live there).
_RAMP_S = (0.05, 0.3)
_HOLD_S = (1.5, 5.0)
_REST_S = (3.0, 6.0)
_TAP_RATE_HZ = (0.5, 3.0)
_TAP_DUTY = (0.3, 0.5)
_AMPLITUDE_UV = (50.0, 500.0)
# A mirror with its own shape rises and falls 0.5-2x as fast as its active side.
_MIRROR_RAMP_FACTOR = (0.5, 2.0)
# Three slow terms (0.2-2 Hz) make a contraction's force fluctuate as a person's does.
_FLUCTUATION_HZ = (0.2, 2.0)
_FLUCTUATION_TERMS = 3
# Posture, tonic and late activity: ramps, how long tonic activity was on before the onset,
# how long a late burst waits after the offset and lasts.
_ACTIVITY_RAMP_S = (0.08, 0.25)
_TONIC_LEAD_S = (0.5, 2.0)
_LATE_DELAY_S = (0.1, 0.4)
_LATE_LENGTH_S = (0.15, 0.6)
# A passive-side twitch is placed where a mirror would start.
_PASSIVE_TWITCH_DELAY_S = (0.0, 0.4)
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
    ecg_r_uv : tuple of float
        Signed R-peak amplitude per channel (0 without ECG).
    drift_uv : tuple of float
        Peak electrode drift per channel.
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
    ecg_r_uv: tuple[float, ...]
    drift_uv: tuple[float, ...]
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
    options : SimOptions
        The phenomena to plan. Those added after the clean model draw from generators of
        their own, one per phenomenon, a fixed number of draws per trial, so the clean
        timetable is unchanged and switching one phenomenon leaves the others as they were.
    """

    def __init__(
        self,
        spec: PresetSpec,
        body: PatientBody,
        fs_hz: float,
        seed: int,
        initial_rest_s: float,
        *,
        options: SimOptions | None = None,
    ) -> None:
        self._spec = spec
        self._body = body
        self._fs = fs_hz
        self._options = options or SimOptions()
        self._rng = np.random.default_rng([seed, 101])
        self._shape_rng = np.random.default_rng([seed, 110])
        self._confound_rng = np.random.default_rng([seed, 111])
        self._twitch_rng = np.random.default_rng([seed, 112])
        self._cue_rng = np.random.default_rng([seed, 113])
        probability = self._options.mirror_probability
        self._mirror_probability = spec.mirror_probability if probability is None else probability
        self._pair_queue: list[int] = []
        self._next_cue = round(initial_rest_s * fs_hz)
        self.trials: list[TrialTruth] = []
        self._span_starts: list[int] = []

    def plan_until(self, index: int) -> None:
        """Plan trials until one's span reaches past sample ``index``."""
        while not self.trials or self.trials[-1].span_stop <= index:
            self._plan_next()

    def postpone(self, until: int, drawn_until: int) -> int:
        """Move the trials not begun yet so that none begins before sample ``until``.

        Parameters
        ----------
        until : int
            No trial that has not begun may put anything into the signal or the cues before
            this sample.
        drawn_until : int
            Samples already drawn: a trial that reaches back before it has begun.

        Returns
        -------
        int
            How many samples the trials moved (0: they were late enough already).
        """
        self.plan_until(max(until, drawn_until))
        k = next((i for i, t in enumerate(self.trials) if t.earliest_index >= drawn_until), None)
        while k is None:
            self._plan_next()
            if self.trials[-1].earliest_index >= drawn_until:
                k = len(self.trials) - 1
        delta = math.ceil(until - self.trials[k].earliest_index)
        if delta <= 0:
            return 0
        # This trial and every one after it move by the same amount; the one before it rests
        # for longer.
        self.trials[k:] = [t.shifted(delta) for t in self.trials[k:]]
        if k > 0:
            before = self.trials[k - 1]
            self.trials[k - 1] = dataclasses.replace(before, span_stop=before.span_stop + delta)
        self._span_starts = [t.span_start for t in self.trials]
        self._next_cue += delta
        return delta

    def overlapping(self, start: int, stop: int) -> list[TrialTruth]:
        """Trials whose span overlaps samples ``[start, stop)``."""
        if stop <= start:
            return []
        self.plan_until(stop)
        first = max(0, bisect.bisect_right(self._span_starts, start) - 1)
        last = bisect.bisect_left(self._span_starts, stop)
        return self.trials[first:last]

    def _s(self, low_high: tuple[float, float], rng: np.random.Generator | None = None) -> float:
        """Draw uniformly from a range in seconds; return samples."""
        return float((rng or self._rng).uniform(*low_high)) * self._fs

    def _plan_next(self) -> None:
        spec, body, rng, opts = self._spec, self._body, self._rng, self._options
        number = len(self.trials) + 1
        cue = self._next_cue
        if not self._pair_queue:
            # Every pair moves once per cycle, in a fresh order each cycle.
            self._pair_queue = [int(p) for p in rng.permutation(len(body.pairs))]
        pair = self._pair_queue.pop()
        side = int(rng.integers(2))
        active, passive = 2 * pair + side, 2 * pair + 1 - side
        tapping = bool(rng.random() < spec.tapping_probability)
        force = float(rng.uniform(*opts.force_fraction))
        amplitude_uv = float(np.clip(body.mvc_uv[active] * force, *_AMPLITUDE_UV))
        onset = cue + self._s(opts.reaction_s)
        # Drawn for every trial, used for holds only, so the draws stay in step.
        shape = self._shape_rng
        graded = bool(shape.random() < opts.graded_probability) and not tapping
        graded_ramps = (self._s(opts.graded_ramp_s, shape), self._s(opts.graded_ramp_s, shape))
        if tapping:
            bursts, complexity = self._taps(onset)
        else:
            ramp_up, hold, ramp_down = self._s(opts.ramp_s), self._s(_HOLD_S), self._s(opts.ramp_s)
            if graded:
                ramp_up, ramp_down = graded_ramps
            bursts = (Burst(onset, ramp_up, hold, ramp_down, opts.cosine_ramps),)
            # A steady hold still varies a little in how precise the target is.
            complexity = float(rng.uniform(0.0, 0.3))
        last = bursts[-1]
        stopping = last.start + last.ramp_up + last.hold
        rest_cue = max(cue + 1, round(stopping - self._s(opts.reaction_s)))
        mirror, gain, lag = self._coupling(force, complexity)
        self._next_cue = round(last.stop + self._s(_REST_S))
        span_start = 0 if number == 1 else cue
        artefacts = self._episodes(number, cue, self._next_cue) if spec.artefacts else ()
        mirror_bursts = self._mirror_shapes(bursts, tapping) if mirror else ()
        fluctuation = self._fluctuation()
        crosstalk, activity = self._confounds(bursts, active, passive, span_start)
        activity += self._twitches(span_start, self._next_cue, bursts[0].start, passive)
        wrong_cue = bool(self._cue_rng.random() < opts.wrong_cue_probability)
        cue_side = SIDES[1 - side] if wrong_cue else SIDES[side]
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
                mirror_bursts=mirror_bursts,
                crosstalk_gain=crosstalk,
                activity=activity,
                cue_side=cue_side if opts.cue_stream else "",
                fluctuation=fluctuation,
                graded=graded,
                realism=opts.realism,
                ecg_r_uv=(abs(body.ecg_r_uv[active]), abs(body.ecg_r_uv[passive])),
                drift_uv=(body.drift_uv[active], body.drift_uv[passive]),
            )
        )
        self._span_starts.append(span_start)

    def _mirror_shapes(self, bursts: tuple[Burst, ...], tapping: bool) -> tuple[Burst, ...]:
        """The mirror's envelope per active burst, before the lag: its own ramps, or a copy."""
        opts, rng = self._options, self._shape_rng
        factors = rng.uniform(*_MIRROR_RAMP_FACTOR, size=(len(bursts), 2))
        partial = bool(rng.random() < opts.partial_mirror_probability) and not tapping
        partial_length = self._s(opts.partial_mirror_s, rng)
        ramp_share = float(rng.uniform(0.2, 0.4))
        if not opts.mirror_own_shape:
            return bursts
        if partial:
            (b,) = bursts
            length = min(partial_length, b.stop - b.start)
            ramp = ramp_share * length
            return (Burst(b.start, ramp, length - 2.0 * ramp, ramp, b.cosine),)
        shapes = []
        for b, (up_factor, down_factor) in zip(bursts, factors, strict=True):
            length = b.stop - b.start
            up, down = b.ramp_up * float(up_factor), b.ramp_down * float(down_factor)
            if up + down > length:
                # Ramps slower than the burst is long: both shrink to fit, with no plateau.
                up, down = up * length / (up + down), down * length / (up + down)
            shapes.append(Burst(b.start, up, length - up - down, down, b.cosine))
        return tuple(shapes)

    def _fluctuation(self) -> tuple[tuple[float, float, float], ...]:
        """Terms of the slow force fluctuation (empty for a steady plateau)."""
        depth = self._options.force_fluctuation
        rng = self._shape_rng
        frequencies = rng.uniform(*_FLUCTUATION_HZ, _FLUCTUATION_TERMS)
        weights = rng.uniform(0.2, 1.0, _FLUCTUATION_TERMS)
        phases = rng.uniform(0.0, 2.0 * math.pi, _FLUCTUATION_TERMS)
        if depth <= 0.0:
            return ()
        weights *= depth / weights.sum()
        return tuple(
            (float(f), float(w), float(p))
            for f, w, p in zip(frequencies, weights, phases, strict=True)
        )

    def _confounds(
        self, bursts: tuple[Burst, ...], active: int, passive: int, span_start: int
    ) -> tuple[float, tuple[Activity, ...]]:
        """Crosstalk gain and the passive side's posture, tonic and late activity."""
        opts, rng, body = self._options, self._confound_rng, self._body
        onset, offset = bursts[0].start, bursts[-1].stop
        u = rng.random(4)
        crosstalk_gain = float(rng.uniform(*opts.crosstalk_gain))
        amplitudes = rng.uniform(*opts.posture_uv, 3)
        ramps = [self._s(_ACTIVITY_RAMP_S, rng) for _ in range(3)]
        posture_start = onset + self._s(opts.posture_delay_s, rng)
        posture_stop = max(posture_start + 0.5 * self._fs, offset + self._s((-0.3, 0.5), rng))
        tonic_start = max(0.0, onset - self._s(_TONIC_LEAD_S, rng))
        tonic_stop = onset + self._s((0.5, 3.0), rng)
        late_start = offset + self._s(_LATE_DELAY_S, rng)
        late_stop = late_start + self._s(_LATE_LENGTH_S, rng)
        crosstalk = crosstalk_gain if u[0] < opts.crosstalk_probability else 0.0
        label = body.labels[passive]
        found = []
        for kind, chance, start, stop, amplitude, ramp in (
            ("posture", opts.posture_probability, posture_start, posture_stop, amplitudes[0],
             ramps[0]),
            ("tonic_before", opts.tonic_before_probability, tonic_start, tonic_stop,
             amplitudes[1], ramps[1]),
            ("late_burst", opts.late_burst_probability, late_start, late_stop, amplitudes[2],
             min(ramps[2], 0.3 * (late_stop - late_start))),
        ):  # fmt: skip
            if u[len(found) + 1] < chance:
                burst = Burst(start, ramp, stop - start - 2.0 * ramp, ramp, cosine=True)
                found.append(Activity(kind, passive, label, burst, float(amplitude)))
        del active, span_start  # the activity is the passive side's; spans need no clipping
        return crosstalk, tuple(found)

    def _twitches(
        self, span_start: int, span_stop: int, onset: float, passive: int
    ) -> tuple[Activity, ...]:
        """Twitches of every pair in the span, and one where this trial's mirror would be."""
        opts, rng, body = self._options, self._twitch_rng, self._body
        found = []
        span_min = (span_stop - span_start) / self._fs / 60.0
        for channel in range(len(body.labels)):
            # The rate is per pair: each of its two channels gets half.
            count = int(rng.poisson(0.5 * opts.twitch_rate_per_min * span_min))
            for _ in range(count):
                start = float(rng.uniform(span_start, span_stop - 0.1 * self._fs))
                found.append(self._twitch(channel, start))
        placed = onset + self._s(_PASSIVE_TWITCH_DELAY_S, rng)
        if rng.random() < opts.passive_twitch_probability:
            found.append(self._twitch(passive, placed))
        return tuple(sorted(found, key=lambda a: a.burst.start))

    def _twitch(self, channel: int, start: float) -> Activity:
        rng = self._twitch_rng
        length = self._s(self._options.twitch_s, rng)
        amplitude = float(rng.uniform(*self._options.twitch_uv))
        burst = Burst(start, 0.5 * length, 0.0, 0.5 * length, cosine=True)
        return Activity("twitch", channel, self._body.labels[channel], burst, amplitude)

    def _taps(self, onset: float) -> tuple[tuple[Burst, ...], float]:
        rng = self._rng
        rate_hz = float(rng.uniform(*_TAP_RATE_HZ))
        duration_s = float(rng.uniform(*_HOLD_S))
        n_taps = max(2, round(duration_s * rate_hz))
        period = self._fs / rate_hz
        length = float(rng.uniform(*_TAP_DUTY)) * period
        # Ramps of 50-300 ms as for holds, but never more than a third of a short tap each.
        ramp = min(self._s(_RAMP_S), length / 3.0)
        cosine = self._options.cosine_ramps
        bursts = tuple(
            Burst(onset + k * period, ramp, length - 2.0 * ramp, ramp, cosine)
            for k in range(n_taps)
        )
        # Faster tapping is the more demanding task (Layer III mirroring grows with it).
        span = _TAP_RATE_HZ[1] - _TAP_RATE_HZ[0]
        complexity = 0.5 + 0.5 * (rate_hz - _TAP_RATE_HZ[0]) / span
        return bursts, complexity

    def _coupling(self, force: float, complexity: float) -> tuple[bool, float, float]:
        spec, rng = self._spec, self._rng
        if not rng.random() < self._mirror_probability:
            return False, 0.0, 0.0
        low, high = spec.gain_range
        if spec.gain_rule == "force":
            f_low, f_high = self._options.force_fraction
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

    def __init__(self, fs_hz: float, seed: int, beat_variation: float = 0.0) -> None:
        self._rng = np.random.default_rng([seed, 102])
        self._beat_rng = np.random.default_rng([seed, 114])
        self._beat_variation = beat_variation
        self._fs = fs_hz
        self.heart_rate_bpm = float(self._rng.uniform(60.0, 80.0))
        # QRS width [lit] 20-60 ms; one value per person.
        self.qrs_width_s = float(self._rng.uniform(0.025, 0.055))
        self._rr = 60.0 / self.heart_rate_bpm * fs_hz
        self.r_peaks: list[float] = [float(self._rng.uniform(0.0, self._rr))]
        #: Each beat's R amplitude relative to the channel's (1 without beat-to-beat variation).
        self.beat_factors: list[float] = [self._beat_factor()]

    def _beat_factor(self) -> float:
        u = float(self._beat_rng.uniform(-1.0, 1.0))
        return 1.0 + self._beat_variation * u if self._beat_variation else 1.0

    def _span(self, start: float, stop: float) -> tuple[int, int]:
        while self.r_peaks[-1] < stop:
            factor = 1.0 + self.RR_VARIABILITY * float(self._rng.standard_normal())
            self.r_peaks.append(self.r_peaks[-1] + self._rr * float(np.clip(factor, 0.8, 1.2)))
            self.beat_factors.append(self._beat_factor())
        return bisect.bisect_left(self.r_peaks, start), bisect.bisect_left(self.r_peaks, stop)

    def between(self, start: float, stop: float) -> list[float]:
        """R-peak sample indices in ``[start, stop)``."""
        first, last = self._span(start, stop)
        return self.r_peaks[first:last]

    def factors_between(self, start: float, stop: float) -> list[float]:
        """The relative R amplitudes of the beats :meth:`between` returns."""
        first, last = self._span(start, stop)
        return self.beat_factors[first:last]
