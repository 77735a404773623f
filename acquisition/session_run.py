"""Run a recorded session through the live monitor's code path, offline.

:func:`run_session` hands the recorded samples, in chunks, to the same
:class:`~acquisition.feed.ChunkFeeder` the live acquisition thread uses (channel selection and
scaling, timestamp cleaning, the split at every jump with its ``gap`` or ``clock_jump`` status,
the too-many-jumps guard, pipeline resets, cues), and so to the same :class:`Pipeline`. Where the
recorded live events say the stream was lost and came back, the feeder resumes at that sample as
it did live. Cue markers are handed over before the EMG they precede, as live.

The pipeline gives the same events whatever the chunking, so with the same samples, the same
timestamps, the same config, calibration and cues, the events are the live ones. One thing
depends on the chunking: a chunk whose timestamps jump too often is refused whole, and live
chunks are shorter than the offline ones (:data:`acquisition.runner.MAX_PULL_S`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from acquisition.feed import ChunkFeeder
from acquisition.runner import MAX_PULL_S
from acquisition.streams import check_emg_stream, select_channels
from acquisition.xdf_session import RecordedSession
from detection.calibration import Calibration
from detection.config import Config
from detection.events import Event, State
from detection.pipeline import ChunkResult, Pipeline

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


def _resume_points(session: RecordedSession, stamps: np.ndarray) -> dict[int, list[Event]]:
    """Samples where the live monitor lost the stream and restarted, with the live losses."""
    out: dict[int, list[Event]] = {}
    if session.events is None:
        return out
    lost: list[Event] = []
    half = 0.5 / session.emg.fs_hz
    for value in session.events.values:
        try:
            payload = json.loads(value)
        except json.JSONDecodeError:
            continue
        state = payload.get("state") if payload.get("event") == "status" else None
        if state == State.STREAM_LOST:
            lost.append(Event(payload, -1, float("nan")))
        elif state == State.STREAM_RESUMED and isinstance(payload.get("t"), (int, float)):
            index = int(np.searchsorted(stamps, payload["t"] - half))
            if 0 < index < len(stamps):
                out.setdefault(index, []).extend(lost)
            lost = []
    return out


class _Collector:
    """The feeder's sink offline: every event, and the processed signals, kept in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def on_piece(self, times: np.ndarray, result: ChunkResult) -> None:
        self.pieces.append((times, result.filtered_uv, result.envelope_uv))

    def on_restart(self) -> None:
        """Nothing to restart offline (no envelope outlet)."""


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
    sink = _Collector()
    feeder = ChunkFeeder(
        pipeline,
        selection.columns,
        selection.scale_to_uv,
        config.acquisition,
        stream=emg.name,
        sink=sink,
    )
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
                feeder.add_cue(cues.values[k], float(cues.timestamps[k]))
                cue_next += 1
        if a in resumes:
            # The losses as the live monitor published them, then the restart it made.
            sink.events.extend(dataclasses.replace(e, decided_index=pipeline.index)
                               for e in resumes[a])  # fmt: skip
            feeder.resume(float(stamps[a]))
        if feeder.refusing:
            # Live, the next chunk is checked against the outlet, which is the recorded one.
            feeder.accept_again()
        feeder.feed(samples[a:b], stamps[a:b])
        if progress is not None:
            progress(b, len(stamps))
    n_ch = len(selection.labels)
    parts = sink.pieces
    return OfflineRun(
        events=sink.events,
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
