"""A synthetic bilateral surface-EMG patient with ground truth (../shared/DOMAIN.md 7).

EMG = a(t) x m(t) x w(t): a trapezoid amplitude envelope per trial, a slow beta-band (15-30 Hz)
amplitude modulation m (shared between the sides in Layer I) and unit-RMS noise w whose spectrum
peaks near 95 Hz; plus broadband rest noise, mains hum and, in the ``artefacts`` preset, ECG,
motion bumps, saturation and lift-off. The options of :class:`SimOptions` (../shared/DOMAIN.md 8)
add what real sessions contain: mirrors with their own shape, crosstalk, posture and twitches,
graded-force trials with half-cosine ramps, ECG by muscle, electrode drift, unequal and wandering
noise floors, missing and wrong cues. Pure numpy/scipy, deterministic by seed: the signal is
drawn in fixed blocks whose random numbers are seeded by (seed, block index) and whose filters
carry their state, so generating in any chunking gives exactly the same samples, and an hour-long
stream never has to exist in memory at once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from acquisition.sim_presets import (
    ECG_R_UV_BY_MUSCLE,
    MUSCLES,
    PRESETS,
    REALISMS,
    SIDES,
    PresetSpec,
    Realism,
    SimOptions,
    channel_labels,
    muscle_of,
    options_for,
    pair_names,
)
from acquisition.sim_schedule import EcgPlanner, PatientBody, TrialPlanner
from acquisition.sim_signal import (
    ShapedNoise,
    add_ecg,
    add_motion,
    add_trapezoid,
    baseline_sos,
    beta_sos,
    burst_shape,
    carrier_sos,
    fluctuation_factor,
    mains_uv,
    slow_sines,
)
from acquisition.sim_truth import Activity, ArtefactInterval, Burst, Cue, TrialTruth
from detection.errors import MirrorScopeError

__all__ = [
    "FS_RANGE_HZ",
    "MAX_PAIRS",
    "MUSCLES",
    "PRESETS",
    "REALISMS",
    "SIDES",
    "Activity",
    "ArtefactInterval",
    "Burst",
    "Cue",
    "PresetSpec",
    "Realism",
    "SimOptions",
    "SimulatedPatient",
    "SimulatorError",
    "TrialTruth",
    "options_for",
]

#: Sampling rates the simulator accepts.
FS_RANGE_HZ = (500.0, 10000.0)
#: Most homologous pairs one simulated patient can have.
MAX_PAIRS = 64
#: Depth of the beta-band amplitude modulation (log-normal, so the amplitude stays positive).
BETA_DEPTH = 0.4
#: A lifted electrode still shows this fraction of the rest noise.
LIFT_OFF_RESIDUE = 0.1
#: Activity can start this long before its trial's span (tonic activity already on before the
#: cue), so a block is drawn from the trials within this reach of it (s).
_ACTIVITY_REACH_S = 2.5
#: Electrode drift: three slow terms per channel, all below 1 Hz (DOMAIN 8).
_DRIFT_HZ = (0.05, 0.8)
_DRIFT_TERMS = 3


class SimulatorError(MirrorScopeError, ValueError):
    """A simulator parameter out of range."""


class SimulatedPatient:
    """A bilateral EMG recording of a simulated person doing cued unilateral movements.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    fs_hz : float
        Sampling rate, within :data:`FS_RANGE_HZ`.
    n_pairs : int
        Homologous muscle pairs, 1 to :data:`MAX_PAIRS`.
    mains_hz : int
        Mains frequency, 50 or 60.
    seed : int
        Random seed (>= 0); the same seed gives the same person, timetable and signal.
    initial_rest_s : float
        Pure rest before the first cue (a live monitor calibrates on the first seconds).
    full_scale_uv : float
        Amplifier rail: every sample is clipped to +-full_scale_uv.
    block_s : float
        Length of the internal generation blocks (changing it changes the noise).
    realism : {"clean", "real"}
        ``clean``: the original, kind signal; ``real``: realistic ECG, drift, electrodes and
        contractions (:func:`options_for`).
    options : SimOptions | None
        Every phenomenon spelled out; overrides ``realism`` (None: ``options_for(preset,
        realism)``).
    """

    def __init__(
        self,
        preset: str = "congenital",
        *,
        fs_hz: float = 2000.0,
        n_pairs: int = 1,
        mains_hz: int = 50,
        seed: int = 0,
        initial_rest_s: float = 6.0,
        full_scale_uv: float = 5000.0,
        block_s: float = 0.25,
        realism: Realism = "clean",
        options: SimOptions | None = None,
    ) -> None:
        if realism not in REALISMS:
            choices = ", ".join(REALISMS)
            raise SimulatorError(f"unknown realism {realism!r}; choose one of {choices}")
        if preset not in PRESETS:
            raise SimulatorError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        low, high = FS_RANGE_HZ
        if not low <= fs_hz <= high:
            raise SimulatorError(f"fs_hz must be {low:g}-{high:g}, got {fs_hz:g}")
        if not 1 <= n_pairs <= MAX_PAIRS:
            raise SimulatorError(f"n_pairs must be 1-{MAX_PAIRS}, got {n_pairs}")
        if mains_hz not in (50, 60):
            raise SimulatorError(f"mains_hz must be 50 or 60, got {mains_hz}")
        if seed < 0:
            raise SimulatorError(f"seed must be >= 0, got {seed}")
        if initial_rest_s < 0 or full_scale_uv <= 0 or block_s <= 0:
            raise SimulatorError("initial_rest_s must be >= 0, full_scale_uv and block_s > 0")
        self.spec: PresetSpec = PRESETS[preset]
        self.options: SimOptions = options or options_for(preset, realism)
        problems = self.options.check()
        if problems:
            raise SimulatorError("; ".join(problems))
        self.fs_hz = float(fs_hz)
        self.mains_hz = int(mains_hz)
        self.seed = int(seed)
        self.initial_rest_s = float(initial_rest_s)
        self.full_scale_uv = float(full_scale_uv)
        self.pair_names: tuple[str, ...] = pair_names(n_pairs, self.spec.muscles)
        self.labels: tuple[str, ...] = channel_labels(self.pair_names)
        self._block = max(16, round(block_s * self.fs_hz))
        self._draw_person()
        self._trials = TrialPlanner(
            self.spec, self.body, self.fs_hz, seed, initial_rest_s, options=self.options
        )
        self._ecg = EcgPlanner(self.fs_hz, seed, self.options.ecg_beat_variation)
        self._complete: dict[int, TrialTruth] = {}
        self.reset()

    # -- the person ----------------------------------------------------------------------------
    def _draw_person(self) -> None:
        rng = np.random.default_rng([self.seed, 100])
        opts = self.options
        n = len(self.labels)
        saturation = int(rng.integers(n))
        lift_off = (saturation + 1 + int(rng.integers(n - 1))) % n
        baselines = tuple(float(b) for b in rng.uniform(*opts.noise_floor_uv, n))
        mvc = tuple(float(m) for m in rng.uniform(450.0, 800.0, n))
        strong = self.spec.artefacts
        # Mains reaches every electrode nearly equally (common mode, imperfectly rejected): a
        # little everywhere, a lot with a poorly grounded amplifier.
        self._mains_gain_uv = rng.uniform(15.0, 30.0) if strong else rng.uniform(0.5, 1.5)
        self._mains_gain_uv *= rng.uniform(0.7, 1.3, n)
        self._mains_drift_hz = 0.5 if strong else 0.05
        # Real grids drift over minutes (rarely faster than 0.01 Hz/s); a 2-5 min cycle of
        # +-0.5 Hz (up to 0.026 Hz/s) is harsher than that and still realistic.
        self._mains_period_s = float(rng.uniform(120.0, 300.0))
        # The arms see the heart's vector with opposite polarity; forearm ECG is tens of uV.
        polarity = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        artefacts_ecg_uv = rng.uniform(8.0, 25.0, n) * polarity
        # What the clean model did not have draws from a generator of its own.
        extra = np.random.default_rng([self.seed, 105])
        muscle_ecg = np.array(
            [ECG_R_UV_BY_MUSCLE.get(muscle_of(label[:-2]), (3.0, 25.0)) for label in self.labels]
        )
        override = opts.ecg_uv or (0.0, 0.0)
        unit = extra.uniform(0.0, 1.0, n)
        if opts.ecg == "artefacts":
            self._ecg_uv = artefacts_ecg_uv
        elif opts.ecg == "muscle":
            low, high = muscle_ecg.T if opts.ecg_uv is None else override
            self._ecg_uv = (low + (high - low) * unit) * polarity
        else:
            self._ecg_uv = np.zeros(n)
        drift_peak = extra.uniform(*opts.drift_uv, n)
        weights = extra.uniform(0.2, 1.0, (_DRIFT_TERMS, n))
        self._drift_terms = np.stack(
            [
                weights / weights.sum(axis=0) * drift_peak,
                extra.uniform(*_DRIFT_HZ, (_DRIFT_TERMS, n)),
                extra.uniform(0.0, 2.0 * math.pi, (_DRIFT_TERMS, n)),
            ],
            axis=1,
        )
        wander_depth = opts.noise_wander * extra.uniform(0.6, 1.0, n)
        self._wander_terms = np.stack(
            [
                wander_depth,
                1.0 / extra.uniform(*opts.noise_wander_period_s, n),
                extra.uniform(0.0, 2.0 * math.pi, n),
            ]
        )[None]
        self.body = PatientBody(
            pairs=self.pair_names,
            labels=self.labels,
            baselines_uv=baselines,
            mvc_uv=mvc,
            ecg_r_uv=tuple(float(v) for v in self._ecg_uv),
            drift_uv=tuple(float(v) for v in drift_peak),
            saturation_channel=saturation,
            lift_off_channel=lift_off,
            full_scale_uv=self.full_scale_uv,
        )

    @property
    def n_channels(self) -> int:
        """Number of channels (two per pair)."""
        return len(self.labels)

    @property
    def baselines_uv(self) -> tuple[float, ...]:
        """Rest RMS of each channel's noise (uV)."""
        return self.body.baselines_uv

    @property
    def has_cue_stream(self) -> bool:
        """Whether this session publishes its cues (some sessions have no cue stream)."""
        return self.options.cue_stream

    @property
    def position(self) -> int:
        """Index of the next sample :meth:`generate` returns."""
        return self._position

    # -- the signal ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Start again from sample 0 (the same samples follow)."""
        n, n_pairs = self.n_channels, len(self.pair_names)
        warm = np.random.default_rng([self.seed, 199])
        length = round(self.fs_hz)
        self._carrier = ShapedNoise(carrier_sos(self.fs_hz), n, warm.standard_normal((length, n)))
        self._rest = ShapedNoise(baseline_sos(self.fs_hz), n, warm.standard_normal((length, n)))
        self._beta = ShapedNoise(
            beta_sos(self.fs_hz), 3 * n_pairs, warm.standard_normal((length, 3 * n_pairs))
        )
        self._next_block = 0
        self._buffer = np.empty((0, n), dtype=np.float32)
        self._used = 0
        self._position = 0

    def generate(self, n_samples: int) -> np.ndarray:
        """Return the next ``n_samples`` samples, continuing where the last call ended.

        Parameters
        ----------
        n_samples : int
            How many samples (>= 0).

        Returns
        -------
        numpy.ndarray
            float32 (n_samples, n_channels) in microvolts.
        """
        if n_samples < 0:
            raise SimulatorError(f"n_samples must be >= 0, got {n_samples}")
        out = np.empty((n_samples, self.n_channels), dtype=np.float32)
        filled = 0
        while filled < n_samples:
            if self._used == self._buffer.shape[0]:
                self._buffer = self._render(self._next_block)
                self._next_block += 1
                self._used = 0
            take = min(n_samples - filled, self._buffer.shape[0] - self._used)
            out[filled : filled + take] = self._buffer[self._used : self._used + take]
            filled += take
            self._used += take
        self._position += n_samples
        return out

    def true_envelope_uv(self, start: int, stop: int) -> np.ndarray:
        """Return the noise-free EMG amplitude above baseline that the timetable prescribes.

        Parameters
        ----------
        start, stop : int
            Sample range (stop exclusive).

        Returns
        -------
        numpy.ndarray
            float64 (stop - start, n_channels): every muscle's activity (voluntary, mirror,
            posture, tonic, late bursts, twitches; independent sources add in power), 0 at
            rest. Crosstalk is not muscle activity of that channel and is not in it.
        """
        voluntary, other_power = self._envelopes(start, stop)
        if not other_power.any():
            return voluntary
        return np.where(other_power > 0.0, np.sqrt(voluntary**2 + other_power), voluntary)

    def _trials_near(self, start: int, stop: int) -> list[TrialTruth]:
        reach = round(_ACTIVITY_REACH_S * self.fs_hz) if self._has_activity else 0
        return self._trials.overlapping(max(0, start - reach), stop + reach)

    @property
    def _has_activity(self) -> bool:
        o = self.options
        return bool(
            o.posture_probability or o.tonic_before_probability or o.late_burst_probability
            or o.twitch_rate_per_min or o.passive_twitch_probability
        )  # fmt: skip

    def _envelopes(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Voluntary + mirror amplitude per channel, and the power of all other activity."""
        n_samples = max(0, stop - start)
        envelope = np.zeros((n_samples, self.n_channels))
        other_power = np.zeros((n_samples, self.n_channels))
        fs = self.fs_hz
        for trial in self._trials_near(start, stop):
            wobble = trial.fluctuation
            for burst in trial.bursts:
                add_trapezoid(
                    envelope[:, trial.active_channel],
                    start,
                    burst,
                    trial.active_amplitude_uv,
                    0.0,
                    fluctuation=wobble,
                    fs_hz=fs,
                )
            if trial.mirror:
                for burst in trial.mirror_bursts:
                    add_trapezoid(
                        envelope[:, trial.mirror_channel],
                        start,
                        burst,
                        trial.mirror_amplitude_uv,
                        trial.mirror_lag_samples,
                        fluctuation=wobble,
                        fs_hz=fs,
                    )
            for activity in trial.activity:
                piece = np.zeros(n_samples)
                add_trapezoid(piece, start, activity.burst, activity.amplitude_uv, 0.0)
                other_power[:, activity.channel] += piece**2
        return envelope, other_power

    def mirror_ratios(self, trial: TrialTruth) -> tuple[tuple[float, ...], float]:
        """The true ratio of each active burst and of the whole active window.

        Parameters
        ----------
        trial : TrialTruth
            A planned trial.

        Returns
        -------
        tuple
            (per-burst ratios, whole-window ratio): mean mirror amplitude over mean active
            amplitude, on the noise-free envelopes, over the active window (0 without mirror).
        """
        if not trial.mirror:
            return tuple(0.0 for _ in trial.bursts), 0.0
        lo, hi = math.floor(trial.onset_index), math.ceil(trial.offset_index) + 1
        n = np.arange(lo, hi, dtype=np.float64)
        fs, wobble, lag = self.fs_hz, trial.fluctuation, trial.mirror_lag_samples
        active = sum(burst_shape(n, b) for b in trial.bursts) * trial.active_amplitude_uv
        mirror = sum(burst_shape(n, b, lag) for b in trial.mirror_bursts)
        mirror = mirror * trial.mirror_amplitude_uv
        if wobble:
            active = active * fluctuation_factor(n, fs, wobble, 0.0)
            mirror = mirror * fluctuation_factor(n, fs, wobble, lag)

        def ratio(start: float, stop: float) -> float:
            inside = (n >= start) & (n <= stop)
            return float(np.mean(mirror[inside]) / np.mean(active[inside]))

        per_burst = tuple(ratio(b.start, b.stop) for b in trial.bursts)
        return per_burst, ratio(trial.onset_index, trial.offset_index)

    def noise_floor_uv(self, channel: int, index: float) -> float:
        """Rest RMS of a channel's noise at a sample, with its slow wander (uV)."""
        base = self.baselines_uv[channel]
        if not self.options.noise_wander:
            return base
        factor = 1.0 + slow_sines(np.array([float(index)]), self.fs_hz, self._wander_terms)
        return base * float(factor[0, channel])

    def _beta_modulation(self, beta: np.ndarray) -> np.ndarray:
        """Per-channel amplitude factors (unit mean square) from the pairs' beta drives."""
        n_pairs = len(self.pair_names)
        # Correlation r between the sides' drives gives a drive coherence of r**2, which is
        # what the preset's shared drive fraction states.
        r = math.sqrt(self.spec.shared_drive_fraction)
        common = beta[:, :n_pairs] * math.sqrt(r)
        drive = np.empty((beta.shape[0], self.n_channels))
        drive[:, 0::2] = common + math.sqrt(1.0 - r) * beta[:, n_pairs : 2 * n_pairs]
        drive[:, 1::2] = common + math.sqrt(1.0 - r) * beta[:, 2 * n_pairs :]
        # exp(d*x - d**2) of unit Gaussian x has mean square exactly 1: RMS stays a(t).
        return np.exp(BETA_DEPTH * drive - BETA_DEPTH**2)

    def _render(self, block: int) -> np.ndarray:
        size, n = self._block, self.n_channels
        first = block * size
        rng = np.random.default_rng([self.seed, 200, block])
        carrier = self._carrier.process(rng.standard_normal((size, n)))
        rest = self._rest.process(rng.standard_normal((size, n))) * np.asarray(self.baselines_uv)
        beta = self._beta.process(rng.standard_normal((size, 3 * len(self.pair_names))))
        x = self.true_envelope_uv(first, first + size) * self._beta_modulation(beta) * carrier
        index = np.arange(first, first + size, dtype=np.float64)
        self._add_crosstalk(x, first)
        if self.options.noise_wander:
            rest *= 1.0 + slow_sines(index, self.fs_hz, self._wander_terms)
        x += rest
        hum = mains_uv(
            index,
            self.fs_hz,
            mains_hz=self.mains_hz,
            amplitude_uv=1.0,
            drift_hz=self._mains_drift_hz,
            drift_period_s=self._mains_period_s,
        )
        x += hum[:, None] * self._mains_gain_uv[None, :]
        if self.options.drift_uv[1] > 0.0:
            x += slow_sines(index, self.fs_hz, self._drift_terms)
        if self.options.ecg != "none":
            self._add_ecg(x, first)
        if self.spec.artefacts:
            self._add_artefacts(x, first, rest)
        np.clip(x, -self.full_scale_uv, self.full_scale_uv, out=x)
        return x.astype(np.float32)

    def _add_crosstalk(self, x: np.ndarray, first: int) -> None:
        """Leak each crosstalk trial's active waveform into its passive channel, at zero lag."""
        stop = first + x.shape[0]
        leaking = [t for t in self._trials.overlapping(first, stop) if t.crosstalk_gain > 0.0]
        if not leaking:
            return
        source = x.copy()
        for trial in leaking:
            lo, hi = max(first, trial.span_start) - first, min(stop, trial.span_stop) - first
            x[lo:hi, trial.mirror_channel] += (
                trial.crosstalk_gain * source[lo:hi, trial.active_channel]
            )

    def _add_ecg(self, x: np.ndarray, first: int) -> None:
        stop = first + x.shape[0]
        reach = 0.5 * self.fs_hz
        add_ecg(
            x,
            first,
            self.fs_hz,
            self._ecg.between(first - reach, stop + reach),
            qrs_width_s=self._ecg.qrs_width_s,
            amplitude_uv=self._ecg_uv,
            beat_factors=self._ecg.factors_between(first - reach, stop + reach),
        )

    def _add_artefacts(self, x: np.ndarray, first: int, rest: np.ndarray) -> None:
        stop = first + x.shape[0]
        episodes = [e for t in self._trials.overlapping(first, stop) for e in t.artefacts]
        for episode in episodes:
            if episode.kind == "motion":
                add_motion(x, first, self.fs_hz, episode)
        # A lifted electrode or a saturated amplifier shows nothing else, so these go last.
        for episode in episodes:
            lo = max(0, math.ceil(episode.start) - first)
            hi = min(x.shape[0], math.floor(episode.stop) + 1 - first)
            channel = episode.channels[0]
            if hi <= lo:
                continue
            if episode.kind == "saturation":
                x[lo:hi, channel] = episode.amplitude_uv
            elif episode.kind == "lift_off":
                x[lo:hi, channel] = LIFT_OFF_RESIDUE * rest[lo:hi, channel]

    # -- the truth -----------------------------------------------------------------------------
    def _completed(self, trial: TrialTruth) -> TrialTruth:
        """The planned trial with what only the signal model knows: ratios, beats, floors."""
        cached = self._complete.get(trial.trial)
        if cached is not None:
            return cached
        changes: dict[str, object] = {}
        if self.options.ecg != "none":
            half = 0.5 * self._ecg.qrs_width_s * self.fs_hz
            everyone = tuple(range(self.n_channels))
            beats = self._ecg.between(trial.span_start, trial.span_stop)
            qrs = tuple(
                ArtefactInterval("ecg", r - half, r + half, everyone, self.labels) for r in beats
            )
            changes["artefacts"] = tuple(sorted(trial.artefacts + qrs, key=lambda e: e.start))
        if self.options.noise_wander:
            changes["baseline_uv"] = self.noise_floor_uv(trial.mirror_channel, trial.onset_index)
            changes["active_baseline_uv"] = self.noise_floor_uv(
                trial.active_channel, trial.onset_index
            )
        changes["burst_ratios"], changes["true_ratio"] = self.mirror_ratios(trial)
        cached = dataclasses.replace(trial, **changes)  # type: ignore[arg-type]
        self._complete[trial.trial] = cached
        return cached

    def postpone_trials(self, until_index: int) -> int:
        """Keep the patient at rest until ``until_index``: the timetable moves later.

        The monitor's start-up is not part of the patient's life: a simulator that waits for a
        monitor to calibrate holds its patient at rest this way. Only trials that have not
        begun can move (nothing already drawn changes).

        Parameters
        ----------
        until_index : int
            No trial may begin before this sample.

        Returns
        -------
        int
            How many samples the timetable moved.
        """
        drawn = self._next_block * self._block
        moved = self._trials.postpone(until_index, drawn)
        # The completed truth (ECG beats in the span, ratios) is drawn again for moved trials.
        self._complete = {k: v for k, v in self._complete.items() if v.span_stop <= drawn}
        return moved

    def trials_between(self, start_index: int, stop_index: int) -> list[TrialTruth]:
        """Ground truth of the trials whose span overlaps samples ``[start_index, stop_index)``.

        Parameters
        ----------
        start_index, stop_index : int
            Sample range (stop exclusive).

        Returns
        -------
        list of TrialTruth
            In trial order.
        """
        return [self._completed(t) for t in self._trials.overlapping(start_index, stop_index)]

    def completed_trials(self, start_index: int, stop_index: int) -> list[TrialTruth]:
        """Trials whose span ends in ``(start_index, stop_index]``.

        A stream that has sent samples up to (not including) ``stop_index`` has finished these
        trials: their truth can be published.

        Parameters
        ----------
        start_index, stop_index : int
            Sample range.

        Returns
        -------
        list of TrialTruth
            In trial order.
        """
        return [
            t
            for t in self.trials_between(start_index, stop_index)
            if start_index < t.span_stop <= stop_index
        ]

    def cues_between(self, start_index: int, stop_index: int) -> list[Cue]:
        """Cue markers that appear at samples in ``[start_index, stop_index)``.

        Parameters
        ----------
        start_index, stop_index : int
            Sample range (stop exclusive).

        Returns
        -------
        list of Cue
            In time order: each trial's movement cue, then its rest cue.
        """
        cues = []
        for trial in self._trials.overlapping(start_index, stop_index):
            for index, cue in (
                (trial.cue_index, trial.cue_side or trial.active_side),
                (trial.rest_cue_index, "rest"),
            ):
                if start_index <= index < stop_index:
                    cues.append(Cue(index, trial.trial, cue, trial.pair, trial.task))
        return cues

    def artefacts_between(self, start_index: int, stop_index: int) -> list[ArtefactInterval]:
        """Artefact intervals that overlap samples ``[start_index, stop_index)``.

        Parameters
        ----------
        start_index, stop_index : int
            Sample range (stop exclusive).

        Returns
        -------
        list of ArtefactInterval
            Sorted by start.
        """
        found = [
            a
            for t in self.trials_between(start_index, stop_index)
            for a in t.artefacts
            if a.start < stop_index and a.stop >= start_index
        ]
        return sorted(found, key=lambda a: a.start)
