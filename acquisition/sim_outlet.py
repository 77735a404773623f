"""The simulated patient on Lab Streaming Layer: an EMG outlet, cue markers and truth markers.

Sample n carries the time stamp ``t0 + n / fs`` and is released when the LSL clock reaches
``t0 + n / (fs * speed)``: the stream is paced by the clock (no drift over an hour) and
``speed > 1`` runs faster than real time while the time stamps stay those of a real recording.
Fault options skip samples (a gap), destroy and re-create the EMG outlet with the same source_id
(an outage) or jitter the time stamps, so tests can check how consumers cope.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LslTimeoutError

from acquisition.sim_truth import ArtefactInterval, TrialTruth
from acquisition.simulator import SimulatedPatient, SimulatorError
from detection.events import State

__all__ = ["DEFAULT_NAME", "FaultPlan", "MonitorWatch", "SimulatorStreams", "default_source_id"]

log = logging.getLogger(__name__)

#: The EMG stream's name unless told otherwise; configs/default.toml looks for it.
DEFAULT_NAME = "MirrorScope-Sim"
#: An outlet keeps at most this much data for a slow consumer (s).
_MAX_BUFFERED_S = 60
#: The pacing loop never sleeps less than this, so fast runs push bigger chunks, not more.
_MIN_WAIT_S = 0.001
#: While waiting for a monitor, the patient's next movement (with whatever precedes it) stays
#: at least this far ahead of what is being sent (longer than one generation block).
_HOLD_AHEAD_S = 0.5


def default_source_id(name: str) -> str:
    """Return the stable source_id of a simulator stream called ``name``."""
    return f"mirrorscope-sim-{name}"


@dataclass(frozen=True)
class FaultPlan:
    """Faults to inject into the EMG stream, in stream time (0 turns a fault off).

    Attributes
    ----------
    jitter_ms : float
        SD of Gaussian noise added to each EMG time stamp.
    gap_every_s, gap_s : float
        Every ``gap_every_s`` seconds, ``gap_s`` seconds of samples are never sent: a silence
        followed by a jump in the time stamps.
    outage_every_s, outage_s : float
        Every ``outage_every_s`` seconds the EMG outlet is destroyed; ``outage_s`` seconds later
        it is created again with the same source_id (the samples between are lost).
    """

    jitter_ms: float = 0.0
    gap_every_s: float = 0.0
    gap_s: float = 0.0
    outage_every_s: float = 0.0
    outage_s: float = 0.0

    def check(self) -> None:
        """Raise :class:`SimulatorError` when the plan is impossible."""
        if (
            min(self.jitter_ms, self.gap_every_s, self.gap_s, self.outage_every_s, self.outage_s)
            < 0
        ):
            raise SimulatorError("fault times must be >= 0")
        for every, length, what in (
            (self.gap_every_s, self.gap_s, "gap"),
            (self.outage_every_s, self.outage_s, "outage"),
        ):
            if every > 0 and not 0 < length < every:
                raise SimulatorError(
                    f"{what} length must be > 0 and shorter than its period "
                    f"({length:g} s every {every:g} s)"
                )


@dataclass(frozen=True)
class _Periodic:
    """Samples ``[k * every, k * every + length)`` for k = 1, 2, ..."""

    kind: str
    every: int
    length: int

    def contains(self, n: int) -> bool:
        return self.every > 0 and n >= self.every and n % self.every < self.length

    def next_edge(self, n: int) -> int:
        """First sample after ``n`` where membership may change."""
        if self.every <= 0:
            return sys.maxsize
        k, phase = divmod(n, self.every)
        if k >= 1 and phase < self.length:
            return k * self.every + self.length
        return (k + 1) * self.every

    def between(self, start: int, stop: int, labels: tuple[str, ...]) -> list[ArtefactInterval]:
        if self.every <= 0:
            return []
        everyone = tuple(range(len(labels)))
        first = max(1, start // self.every)
        return [
            ArtefactInterval(
                self.kind, k * self.every, k * self.every + self.length, everyone, labels
            )
            for k in range(first, stop // self.every + 1)
            if k * self.every < stop and k * self.every + self.length > start
        ]


class MonitorWatch:
    """Watch a MirrorScope events stream for the monitor of our EMG stream calibrating.

    Parameters
    ----------
    events_stream : str
        The monitor's ``[output] events_stream``.
    emg_stream : str
        Our EMG stream's name: only the monitor of this stream counts (its events stream says
        which stream it monitors in its description).
    """

    def __init__(self, events_stream: str, emg_stream: str) -> None:
        self.events_stream = events_stream
        self.emg_stream = emg_stream
        self._resolver = pylsl.ContinuousResolver(prop="name", value=events_stream)
        self._inlet: pylsl.StreamInlet | None = None
        self._tried: set[str] = set()
        self.calibrated = False

    def poll(self) -> bool:
        """Look once (never blocks for long); True once the monitor has calibrated."""
        if self.calibrated:
            return True
        if self._inlet is None:
            self._connect()
            return False
        try:
            markers, _ = self._inlet.pull_chunk(timeout=0.0)
        except (LostError, LslTimeoutError):
            self._inlet = None
            return False
        for (marker,) in markers:
            try:
                payload = json.loads(marker)
            except json.JSONDecodeError:
                continue
            if payload.get("event") == "status" and payload.get("state") == State.CALIBRATED:
                self.calibrated = True
        return self.calibrated

    def _connect(self) -> None:
        for info in self._resolver.results():
            if info.uid() in self._tried:
                continue
            self._tried.add(info.uid())
            inlet = pylsl.StreamInlet(info)
            try:
                full = inlet.info(timeout=1.0)
                inlet.open_stream(timeout=1.0)
            except (RuntimeError, LslTimeoutError) as err:
                log.info("events stream %r not opened yet: %s", info.name(), err)
                self._tried.discard(info.uid())
                continue
            if full.desc().child_value("emg_stream") == self.emg_stream:
                self._inlet = inlet
                log.info("watching %r for the monitor's calibration", info.name())
                return
            inlet.close_stream()

    def close(self) -> None:
        """Close the inlet."""
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None
        self._resolver = None  # type: ignore[assignment]


class SimulatorStreams:
    """Publish a :class:`SimulatedPatient` as three LSL streams.

    The outlets exist from construction on (so inlets can connect first); :meth:`start` starts
    the pacing thread. Use as a context manager, or call :meth:`stop`.

    Parameters
    ----------
    patient : SimulatedPatient
        The signal model; it is consumed from its current position.
    name : str
        EMG stream name; the marker streams are ``<name>-Cues`` and ``<name>-Truth``.
    source_id : str | None
        EMG source_id (None: :func:`default_source_id`); markers append ``-cues``/``-truth``.
    speed : float
        Stream time per wall-clock time (> 0).
    duration_s : float | None
        Stop after this much stream time (None: until :meth:`stop`).
    chunk_ms : float
        Signal per push at speed 1.
    faults : FaultPlan
        Faults to inject.
    wait_for_monitor : str | None
        The events stream of a MirrorScope monitor of this stream: the patient stays at rest
        until it says ``calibrated`` (or ``max_wait_s`` of stream time has passed), so a
        monitor that starts late never finds a patient already moving.
    max_wait_s : float
        Longest hold, in stream time.
    """

    def __init__(
        self,
        patient: SimulatedPatient,
        *,
        name: str = DEFAULT_NAME,
        source_id: str | None = None,
        speed: float = 1.0,
        duration_s: float | None = None,
        chunk_ms: float = 10.0,
        faults: FaultPlan | None = None,
        wait_for_monitor: str | None = None,
        max_wait_s: float = 120.0,
    ) -> None:
        self.faults = faults or FaultPlan()
        self.faults.check()
        if not speed > 0 or not chunk_ms > 0:
            raise SimulatorError(f"speed and chunk_ms must be > 0, got {speed:g}, {chunk_ms:g}")
        if duration_s is not None and not duration_s > 0:
            raise SimulatorError(f"duration must be > 0 s, got {duration_s:g}")
        if not name:
            raise SimulatorError("the stream name must not be empty")
        self.patient = patient
        self.name = name
        self.source_id = source_id or default_source_id(name)
        self.cues_name = f"{name}-Cues"
        self.truth_name = f"{name}-Truth"
        self.speed = float(speed)
        fs = patient.fs_hz
        self.total_samples = None if duration_s is None else round(duration_s * fs)
        self._chunk = max(1, round(chunk_ms * fs / 1000.0))
        self._gaps = _Periodic(
            "gap", round(self.faults.gap_every_s * fs), round(self.faults.gap_s * fs)
        )
        self._outages = _Periodic(
            "outage", round(self.faults.outage_every_s * fs), round(self.faults.outage_s * fs)
        )
        self._jitter = np.random.default_rng([patient.seed, 300])
        self._watch = MonitorWatch(wait_for_monitor, name) if wait_for_monitor else None
        self._max_wait_n = round(max_wait_s * fs)
        self._hold_ahead_n = round(_HOLD_AHEAD_S * fs)
        #: Samples of stream time the patient was held at rest for a monitor.
        self.held_samples = 0
        self._emg: pylsl.StreamOutlet | None = self._open_emg()
        # A session without a cue stream has no cue outlet at all (the patient still follows
        # the timetable; only the truth knows when each cue would have been).
        self._cues: pylsl.StreamOutlet | None = (
            pylsl.StreamOutlet(self._describe_markers(self.cues_name, "cues"))
            if patient.has_cue_stream
            else None
        )
        self._truth = pylsl.StreamOutlet(self._describe_markers(self.truth_name, "truth"))
        self.t0: float | None = None
        self.samples_done = 0
        #: Samples actually pushed to an outlet (not those dropped in gaps and outages).
        self.samples_pushed = 0
        #: One past the index of the last sample pushed (an outage at the end is not counted).
        self.pushed_until = 0
        self.outlet_generation = 1
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- metadata ------------------------------------------------------------------------------
    def _describe_emg(self) -> pylsl.StreamInfo:
        p = self.patient
        info = pylsl.StreamInfo(
            self.name, "EMG", p.n_channels, p.fs_hz, pylsl.cf_float32, self.source_id
        )
        desc = info.desc()
        channels = desc.append_child("channels")
        for label in p.labels:
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            channel.append_child_value("unit", "microvolts")
            channel.append_child_value("type", "EMG")
        acquisition = desc.append_child("acquisition")
        for key, value in (
            ("manufacturer", "MirrorScope"),
            ("model", "simulator"),
            ("preset", p.spec.name),
            ("realism", p.options.realism),
            ("layer", p.spec.layer or ""),
            ("seed", str(p.seed)),
            ("mains_hz", str(p.mains_hz)),
            ("full_scale_uv", f"{p.full_scale_uv:g}"),
            ("speed", f"{self.speed:g}"),
        ):
            acquisition.append_child_value(key, value)
        pairs = desc.append_child("pairs")
        for index, pair_name in enumerate(p.pair_names):
            pair = pairs.append_child("pair")
            pair.append_child_value("name", pair_name)
            pair.append_child_value("left", p.labels[2 * index])
            pair.append_child_value("right", p.labels[2 * index + 1])
        return info

    def _describe_markers(self, name: str, suffix: str) -> pylsl.StreamInfo:
        info = pylsl.StreamInfo(
            name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"{self.source_id}-{suffix}"
        )
        desc = info.desc()
        desc.append_child_value("emg_stream", self.name)
        desc.append_child_value("format", "json")
        return info

    def _open_emg(self) -> pylsl.StreamOutlet:
        # A fresh description each time: a re-created outlet must get a new uid, or inlets
        # take it for the stream they lost and never recover.
        return pylsl.StreamOutlet(self._describe_emg(), max_buffered=_MAX_BUFFERED_S)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Fix t0 at the current LSL time and start streaming in a background thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self.t0 = pylsl.local_clock()
        self._thread = threading.Thread(target=self._guarded, name="simulator", daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until ``duration_s`` of stream time has been sent; True if it has."""
        return self.finished.wait(timeout_s)

    def stop(self) -> None:
        """Stop streaming, close the outlets, and re-raise an error of the streaming thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._emg = None
        self._cues = None
        self._truth = None
        if self._watch is not None:
            self._watch.close()
            self._watch = None  # type: ignore[assignment]
        if self._error is not None:
            raise self._error

    def __enter__(self) -> SimulatorStreams:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the pacing thread ---------------------------------------------------------------------
    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as err:
            log.exception("simulator stream failed")
            self._error = err
        finally:
            self.finished.set()

    def _run(self) -> None:
        assert self.t0 is not None
        rate = self.patient.fs_hz * self.speed
        n = self.samples_done
        while not self._stop.is_set():
            due = math.floor((pylsl.local_clock() - self.t0) * rate) + 1
            if self.total_samples is not None:
                due = min(due, self.total_samples)
            if due > n:
                self._hold_for_monitor(due)
                self._emit(n, due)
                n = self.samples_done = due
            if self.total_samples is not None and n >= self.total_samples:
                return
            next_release = self.t0 + (n + self._chunk - 1) / rate
            self._stop.wait(max(_MIN_WAIT_S, next_release - pylsl.local_clock()))

    def _hold_for_monitor(self, due: int) -> None:
        """Keep the patient at rest while the monitor we wait for has not calibrated."""
        watch = self._watch
        if watch is None:
            return
        if watch.poll() or due >= self._max_wait_n:
            if not watch.calibrated:
                log.warning(
                    "no 'calibrated' on %r after %.0f s: the patient starts moving",
                    watch.events_stream,
                    due / self.patient.fs_hz,
                )
            watch.close()
            self._watch = None
            return
        self.held_samples += self.patient.postpone_trials(due + self._hold_ahead_n)

    def _emit(self, start: int, stop: int) -> None:
        data = self.patient.generate(stop - start)
        fs, t0 = self.patient.fs_hz, self.t0
        assert t0 is not None
        a = start
        while a < stop:
            b = min(stop, self._gaps.next_edge(a), self._outages.next_edge(a))
            if self._outages.contains(a):
                if self._emg is not None:
                    log.info("outage: EMG outlet destroyed at sample %d", a)
                    self._emg = None
            elif not self._gaps.contains(a):
                if self._emg is None:
                    log.info("outage over: EMG outlet re-created at sample %d", a)
                    self._emg = self._open_emg()
                    self.outlet_generation += 1
                stamps = t0 + np.arange(a, b, dtype=np.float64) / fs
                if self.faults.jitter_ms > 0:
                    stamps += self._jitter.normal(0.0, self.faults.jitter_ms / 1000.0, b - a)
                self._emg.push_chunk(data[a - start : b - start], stamps.tolist())
                self.samples_pushed += b - a
                self.pushed_until = b
            a = b
        if self._cues is not None:
            for cue in self.patient.cues_between(start, stop):
                self._cues.push_sample([cue.to_json()], t0 + cue.index / fs)
        for trial in self.patient.completed_trials(start, stop):
            record = self.truth_record(trial)
            self._truth.push_sample(
                [json.dumps(record, separators=(",", ":"))], record["span_t"][1]
            )

    def truth_record(self, trial: TrialTruth) -> dict[str, Any]:
        """Return the truth marker of one trial, including injected gaps and outages.

        Parameters
        ----------
        trial : TrialTruth
            The trial, from this stream's patient.

        Returns
        -------
        dict
            :meth:`TrialTruth.to_dict` in this stream's time base.
        """
        if self.t0 is None:
            raise RuntimeError("not started: t0 is unknown")
        p = self.patient
        record = trial.to_dict(self.t0)
        faults = [
            f.to_dict(self.t0, p.fs_hz)
            for periodic in (self._gaps, self._outages)
            for f in periodic.between(trial.span_start, trial.span_stop, p.labels)
        ]
        if faults:
            record["artefacts"] = sorted(record["artefacts"] + faults, key=lambda a: a["t_start"])
        return record
