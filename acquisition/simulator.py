"""A synthetic bilateral surface-EMG patient with ground truth (../shared/DOMAIN.md 7).

EMG = a(t) x m(t) x w(t): a trapezoid amplitude envelope per trial, a slow beta-band (15-30 Hz)
amplitude modulation m (shared between the sides in Layer I) and unit-RMS noise w whose spectrum
peaks near 95 Hz; plus broadband rest noise, mains hum and, in the ``artefacts`` preset, ECG,
motion bumps, saturation and lift-off. Pure numpy/scipy, deterministic by seed: the signal is
drawn in fixed blocks whose random numbers are seeded by (seed, block index) and whose filters
carry their state, so generating in any chunking gives exactly the same samples, and an hour-long
stream never has to exist in memory at once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from acquisition.sim_presets import MUSCLES, PRESETS, SIDES, PresetSpec, channel_labels, pair_names
from acquisition.sim_schedule import EcgPlanner, PatientBody, TrialPlanner
from acquisition.sim_signal import (
    ShapedNoise,
    add_ecg,
    add_motion,
    add_trapezoid,
    baseline_sos,
    beta_sos,
    carrier_sos,
    mains_uv,
)
from acquisition.sim_truth import ArtefactInterval, Burst, Cue, TrialTruth
from detection.errors import MirrorScopeError

__all__ = [
    "FS_RANGE_HZ",
    "MAX_PAIRS",
    "MUSCLES",
    "PRESETS",
    "SIDES",
    "ArtefactInterval",
    "Burst",
    "Cue",
    "PresetSpec",
    "SimulatedPatient",
    "SimulatorError",
    "TrialTruth",
]

#: Sampling rates the simulator accepts.
FS_RANGE_HZ = (500.0, 10000.0)
#: Most homologous pairs one simulated patient can have.
MAX_PAIRS = 64
#: Depth of the beta-band amplitude modulation (log-normal, so the amplitude stays positive).
BETA_DEPTH = 0.4
#: A lifted electrode still shows this fraction of the rest noise.
LIFT_OFF_RESIDUE = 0.1


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
    ) -> None:
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
        self.fs_hz = float(fs_hz)
        self.mains_hz = int(mains_hz)
        self.seed = int(seed)
        self.initial_rest_s = float(initial_rest_s)
        self.full_scale_uv = float(full_scale_uv)
        self.pair_names: tuple[str, ...] = pair_names(n_pairs)
        self.labels: tuple[str, ...] = channel_labels(self.pair_names)
        self._block = max(16, round(block_s * self.fs_hz))
        self._draw_person()
        self._trials = TrialPlanner(self.spec, self.body, self.fs_hz, seed, initial_rest_s)
        self._ecg = EcgPlanner(self.fs_hz, seed)
        self._complete: dict[int, TrialTruth] = {}
        self.reset()

    # -- the person ----------------------------------------------------------------------------
    def _draw_person(self) -> None:
        rng = np.random.default_rng([self.seed, 100])
        n = len(self.labels)
        saturation = int(rng.integers(n))
        lift_off = (saturation + 1 + int(rng.integers(n - 1))) % n
        self.body = PatientBody(
            pairs=self.pair_names,
            labels=self.labels,
            baselines_uv=tuple(float(b) for b in rng.uniform(2.0, 5.0, n)),
            mvc_uv=tuple(float(m) for m in rng.uniform(450.0, 800.0, n)),
            saturation_channel=saturation,
            lift_off_channel=lift_off,
            full_scale_uv=self.full_scale_uv,
        )
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
        self._ecg_uv = rng.uniform(8.0, 25.0, n) * polarity

    @property
    def n_channels(self) -> int:
        """Number of channels (two per pair)."""
        return len(self.labels)

    @property
    def baselines_uv(self) -> tuple[float, ...]:
        """Rest RMS of each channel's noise (uV)."""
        return self.body.baselines_uv

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
            float64 (stop - start, n_channels): plateau RMS of each trapezoid, 0 at rest.
        """
        envelope = np.zeros((max(0, stop - start), self.n_channels))
        for trial in self._trials.overlapping(start, stop):
            for burst in trial.bursts:
                add_trapezoid(
                    envelope[:, trial.active_channel], start, burst, trial.active_amplitude_uv, 0.0
                )
                if trial.mirror:
                    add_trapezoid(
                        envelope[:, trial.mirror_channel],
                        start,
                        burst,
                        trial.mirror_amplitude_uv,
                        trial.mirror_lag_samples,
                    )
        return envelope

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
        x += rest
        index = np.arange(first, first + size, dtype=np.float64)
        hum = mains_uv(
            index,
            self.fs_hz,
            mains_hz=self.mains_hz,
            amplitude_uv=1.0,
            drift_hz=self._mains_drift_hz,
            drift_period_s=self._mains_period_s,
        )
        x += hum[:, None] * self._mains_gain_uv[None, :]
        if self.spec.artefacts:
            self._add_artefacts(x, first, rest)
        np.clip(x, -self.full_scale_uv, self.full_scale_uv, out=x)
        return x.astype(np.float32)

    def _add_artefacts(self, x: np.ndarray, first: int, rest: np.ndarray) -> None:
        stop = first + x.shape[0]
        reach = 0.5 * self.fs_hz
        beats = self._ecg.between(first - reach, stop + reach)
        add_ecg(
            x,
            first,
            self.fs_hz,
            beats,
            qrs_width_s=self._ecg.qrs_width_s,
            amplitude_uv=self._ecg_uv,
        )
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
    def _with_ecg(self, trial: TrialTruth) -> TrialTruth:
        if not self.spec.artefacts:
            return trial
        cached = self._complete.get(trial.trial)
        if cached is None:
            half = 0.5 * self._ecg.qrs_width_s * self.fs_hz
            everyone = tuple(range(self.n_channels))
            beats = self._ecg.between(trial.span_start, trial.span_stop)
            qrs = tuple(
                ArtefactInterval("ecg", r - half, r + half, everyone, self.labels) for r in beats
            )
            episodes = tuple(sorted(trial.artefacts + qrs, key=lambda e: e.start))
            cached = dataclasses.replace(trial, artefacts=episodes)
            self._complete[trial.trial] = cached
        return cached

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
        return [self._with_ecg(t) for t in self._trials.overlapping(start_index, stop_index)]

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
                (trial.cue_index, trial.active_side),
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
