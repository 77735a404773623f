"""Run a recorded session through the live monitor's code path, offline.

:func:`run_session` does what :meth:`acquisition.runner.LiveMonitor._handle` does with each
pulled chunk, on the recorded samples: select and scale the paired columns to float32
microvolts, clean the raw timestamps with the same gap-aware :class:`TimestampCleaner`, split at
every jump (a ``gap`` or ``clock_jump`` status, then ``Pipeline.reset()``), and hand the pieces
to the same :class:`Pipeline`. Where the recorded live events say the stream was lost and came
back, the cleaner and pipeline restart at that sample as they did live. Cue markers are handed
to the pipeline before the EMG they precede, as live.

The pipeline gives the same events whatever the chunking, so with the same samples, the same
timestamps, the same config, calibration and cues, the events are the live ones.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acquisition.runner import MAX_PULL_S
from acquisition.streams import check_emg_stream, select_channels
from acquisition.timestamps import TimestampCleaner
from acquisition.xdf_session import RecordedSession
from detection import events
from detection.calibration import Calibration
from detection.config import Config
from detection.events import Event
from detection.pipeline import Pipeline

__all__ = ["OfflineRun", "run_session"]

log = logging.getLogger(__name__)

#: Cues this far ahead of the chunk being processed are handed over with it (live, a cue is
#: read as soon as it arrives; lookups never use a cue later than the movement).
CUE_LEAD_S = 0.5


@dataclass
class OfflineRun:
    """What an offline run produced."""

    events: list[Event]
    #: Labels of the processed channels (the paired columns, in pipeline order).
    labels: tuple[str, ...]
    #: (pair name, left column, right column), columns into ``labels``.
    pairs: list[tuple[str, int, int]]
    fs_hz: float
    #: Cleaned timestamps of the processed samples.
    times: np.ndarray
    filtered_uv: np.ndarray
    envelope_uv: np.ndarray
    calibration: Calibration | None
    mains_hz: float | None
    #: Index into the recording of the first processed sample.
    start_index: int
    notes: list[str] = field(default_factory=list)


def _resume_points(session: RecordedSession, stamps: np.ndarray) -> dict[int, list[dict]]:
    """Samples where the live monitor lost the stream and restarted, with the live statuses."""
    out: dict[int, list[dict]] = {}
    if session.events is None:
        return out
    lost: list[dict] = []
    half = 0.5 / session.emg.fs_hz
    for value in session.events.values:
        try:
            payload = json.loads(value)
        except json.JSONDecodeError:
            continue
        state = payload.get("state") if payload.get("event") == "status" else None
        if state == "stream_lost":
            lost.append(payload)
        elif state == "stream_resumed" and isinstance(payload.get("t"), (int, float)):
            index = int(np.searchsorted(stamps, payload["t"] - half))
            if 0 < index < len(stamps):
                out.setdefault(index, []).extend(lost)
            lost = []
    return out


class _Driver:
    """The live runner's per-chunk logic, fed from memory."""

    def __init__(self, pipeline: Pipeline, cleaner: TimestampCleaner, stream: str) -> None:
        self.pipeline = pipeline
        self.cleaner = cleaner
        self.stream = stream
        self.events: list[Event] = []
        self.last_t = float("nan")
        self.results: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def status(self, state: str, t: float, **extra: Any) -> None:
        stamp = t if np.isfinite(t) else None
        payload = events.status(state, t=stamp, stream=self.stream, **extra)
        self.events.append(Event(payload, self.pipeline.index, t))

    def resume(self, first_stamp: float, lost: list[dict]) -> None:
        for payload in lost:
            self.events.append(Event(payload, self.pipeline.index, float("nan")))
        self.cleaner.reset()
        self.pipeline.reset()
        missing_s = first_stamp - self.last_t - 1.0 / self.pipeline.fs_hz
        extra = {"gap_s": round(missing_s, 6)} if np.isfinite(missing_s) else {}
        self.status("stream_resumed", first_stamp, **extra)

    def handle(self, data: np.ndarray, stamps: np.ndarray) -> None:
        times, jumps = self.cleaner.process(stamps)
        start = 0
        for jump in jumps:
            self._process(data[start : jump.index], times[start : jump.index])
            start = jump.index
            state = "gap" if jump.jump_s > 0 else "clock_jump"
            self.status(state, float(times[start]), gap_s=round(jump.jump_s, 6))
            self.pipeline.reset()
        self._process(data[start:], times[start:])
        self.last_t = float(times[-1])

    def _process(self, data: np.ndarray, times: np.ndarray) -> None:
        if len(data) == 0:
            return
        result = self.pipeline.process(data, times)
        self.events.extend(result.events)
        self.results.append((times, result.filtered_uv, result.envelope_uv))


def run_session(
    session: RecordedSession,
    config: Config,
    *,
    calibration: Calibration | None = None,
    start_index: int = 0,
    use_cues: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> OfflineRun:
    """Run the live detector over a recorded session.

    Parameters
    ----------
    session : RecordedSession
        The session (see :func:`acquisition.xdf_session.load_session`).
    config : Config
        The config (its pairs name the stream's channels by label or index).
    calibration : Calibration | None
        The calibration in force at the start (None: the first ``rest_s`` seconds are rest).
    start_index : int
        First sample to process (the live monitor's first sample).
    use_cues : bool
        Hand the recorded cue markers to the pipeline.
    progress : callable | None
        Called as ``progress(done, total)`` (samples) after every chunk.

    Returns
    -------
    OfflineRun
        Events and per-sample signals.
    """
    emg = session.emg
    summary = emg.summary()
    check_emg_stream(summary)
    selection = select_channels(summary, config)
    pipeline = Pipeline(
        dataclasses.replace(config, pairs=selection.pairs),
        emg.fs_hz,
        selection.labels,
        calibration=calibration,
    )
    acq = config.acquisition
    cleaner = TimestampCleaner(
        emg.fs_hz, dejitter=acq.dejitter, gap_tolerance_s=acq.gap_tolerance_s
    )
    driver = _Driver(pipeline, cleaner, emg.name)
    columns = np.array(selection.columns)
    scale = np.array(selection.scale_to_uv, dtype=np.float32)
    stamps = emg.timestamps[start_index:]
    samples = emg.data[start_index:]
    resumes = _resume_points(session, stamps)
    cues = session.cues if use_cues and session.cues is not None else None
    cue_next = 0
    cue_order = np.argsort(cues.timestamps, kind="stable") if cues is not None else []
    chunk_n = max(1, round(MAX_PULL_S * emg.fs_hz))
    bounds = sorted({*range(0, len(stamps), chunk_n), *resumes, len(stamps)})
    for a, b in itertools.pairwise(bounds):
        if cues is not None:
            horizon = stamps[b - 1] + CUE_LEAD_S
            while cue_next < len(cue_order) and cues.timestamps[cue_order[cue_next]] <= horizon:
                k = cue_order[cue_next]
                pipeline.add_cue(cues.values[k], float(cues.timestamps[k]))
                cue_next += 1
        if a in resumes:
            driver.resume(float(stamps[a]), resumes[a])
        data = samples[a:b, columns].astype(np.float32)
        if not np.all(scale == 1.0):
            data *= scale
        driver.handle(data, stamps[a:b])
        if progress is not None:
            progress(b, len(stamps))
    n_ch = len(selection.labels)
    parts = driver.results
    return OfflineRun(
        events=driver.events,
        labels=selection.labels,
        pairs=pipeline.pairs,
        fs_hz=emg.fs_hz,
        times=np.concatenate([p[0] for p in parts]) if parts else np.zeros(0),
        filtered_uv=np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, n_ch)),
        envelope_uv=np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, n_ch)),
        calibration=pipeline.calibration,
        mains_hz=pipeline.mains_frequency_hz,
        start_index=start_index,
    )
