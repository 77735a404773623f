"""The one chunk feeder: how samples of an EMG stream reach the pipeline, live and offline.

The live acquisition thread (:mod:`acquisition.runner`) and offline analysis
(:mod:`acquisition.session_run`) both hand every chunk they have to :meth:`ChunkFeeder.feed`,
so what happens at a gap, a clock jump, a resumed stream or a cue happens in one place and
offline analysis reproduces the live events by construction. For each chunk the feeder

1. selects the paired columns and scales them to float32 microvolts,
2. cleans the timestamps (:class:`~acquisition.timestamps.TimestampCleaner`: dejitter, and a
   jump wherever the stream's own times skip or step back),
3. refuses the chunk when the timestamps keep jumping (the stream does not run at its nominal
   rate: another stream took its source_id), with one ``stream_changed`` status,
4. splits the chunk at every jump: the part before, a ``gap`` or ``clock_jump`` status, a
   pipeline reset, the part after,
5. runs the pipeline on each part and hands its events and signals to a :class:`FeedSink`.

Cues reach the pipeline through :meth:`ChunkFeeder.add_cue`, a resumed stream through
:meth:`ChunkFeeder.resume`; every status the feeder or its caller publishes is built by
:meth:`ChunkFeeder.status`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from acquisition.timestamps import TimestampCleaner
from detection import events
from detection.config import AcquisitionConfig
from detection.events import Event, State, StatusState
from detection.pipeline import ChunkResult, Pipeline

__all__ = ["JUMPS_PER_SECOND_LIMIT", "ChunkFeeder", "FeedSink"]

#: This many timestamp jumps within one second of samples: the stream does not run at its
#: nominal rate (a different stream took its source_id), and is refused.
JUMPS_PER_SECOND_LIMIT = 5


class FeedSink(Protocol):
    """Where the feeder puts what the pipeline made, in the order it was made."""

    def on_event(self, event: Event) -> None:
        """An event (the pipeline's, or a status of the feeder's)."""

    def on_piece(self, times: np.ndarray, result: ChunkResult) -> None:
        """A processed run of samples with no jump inside: cleaned times and the signals."""

    def on_restart(self) -> None:
        """The pipeline was reset (a gap, a clock jump, a resumed stream)."""


class ChunkFeeder:
    """Feed raw chunks of one EMG stream to a pipeline.

    Parameters
    ----------
    pipeline : Pipeline
        The detector, built for the selected channels.
    columns : sequence of int
        Stream columns of the pipeline's channels, in pipeline order.
    scale_to_uv : sequence of float
        Factor of each selected column to microvolts.
    acquisition : AcquisitionConfig
        Dejitter and gap tolerance.
    stream : str
        The stream's name (statuses name it).
    sink : FeedSink
        Receives events and processed pieces.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        columns: list[int] | tuple[int, ...],
        scale_to_uv: list[float] | tuple[float, ...],
        acquisition: AcquisitionConfig,
        *,
        stream: str,
        sink: FeedSink,
    ) -> None:
        self.pipeline = pipeline
        self.fs_hz = pipeline.fs_hz
        self.stream = stream
        self._sink = sink
        self._columns = np.array(columns)
        scale = np.array(scale_to_uv, dtype=np.float32)
        self._scale = None if np.all(scale == 1.0) else scale
        self._cleaner = TimestampCleaner(
            self.fs_hz, dejitter=acquisition.dejitter, gap_tolerance_s=acquisition.gap_tolerance_s
        )
        #: Cleaned time of the last sample processed (NaN before the first).
        self.last_t = math.nan
        #: The stream's own (raw) timestamp of the last sample processed.
        self.last_raw_t = math.nan
        #: Samples offered (processed or refused) and samples processed.
        self.samples_seen = 0
        self.samples_processed = 0
        #: Jumps in the timestamps so far, and the seconds skipped forward.
        self.gaps = 0
        self.gap_total_s = 0.0
        #: True while the stream is refused for jumping too often (see :meth:`accept_again`).
        self.refusing = False
        self._jump_marks: list[int] = []

    # -- what callers hand over ----------------------------------------------------------------
    def feed(self, raw: np.ndarray, stamps: np.ndarray) -> bool:
        """Process one chunk as it came from the stream.

        Parameters
        ----------
        raw : numpy.ndarray
            (n_samples, n_stream_channels) in the stream's own format and units.
        stamps : numpy.ndarray
            The stream's timestamps (n_samples,), float64 seconds.

        Returns
        -------
        bool
            False when the chunk was refused (its timestamps keep jumping).
        """
        data = raw[:, self._columns].astype(np.float32)
        if self._scale is not None:
            data *= self._scale
        times, jumps = self._cleaner.process(stamps)
        self.samples_seen += len(stamps)
        if jumps and self._too_many_jumps(len(jumps)):
            return False
        start = 0
        for jump in jumps:
            self._process(data[start : jump.index], times[start : jump.index])
            start = jump.index
            self.gaps += 1
            self.gap_total_s += max(jump.jump_s, 0.0)
            state = State.GAP if jump.jump_s > 0 else State.CLOCK_JUMP
            self.status(state, float(times[start]), gap_s=round(jump.jump_s, 6))
            self._restart()
        self._process(data[start:], times[start:])
        self.samples_processed += len(stamps)
        self.last_t = float(times[-1])
        self.last_raw_t = float(stamps[-1])
        return True

    def resume(self, first_stamp: float) -> None:
        """The stream flows again after a loss: restart and say how much was missed.

        Parameters
        ----------
        first_stamp : float
            The stream's own timestamp of the first sample after the loss.
        """
        self._cleaner.reset()
        self._restart()
        # On the stream's own time stamps, not the dejittered ones: the smoothed time of the
        # last sample can be off by milliseconds, which would misstate the samples missed.
        missing_s = first_stamp - self.last_raw_t - 1.0 / self.fs_hz
        extra = {"gap_s": round(missing_s, 6)} if math.isfinite(missing_s) else {}
        self.status(State.STREAM_RESUMED, first_stamp, **extra)

    def add_cue(self, marker: Any, t: float) -> bool:
        """Hand a cue marker to the pipeline (see :meth:`Pipeline.add_cue`)."""
        return self.pipeline.add_cue(marker, t)

    def accept_again(self) -> None:
        """The stream was verified to be ours again: stop refusing it."""
        self.refusing = False
        self._jump_marks.clear()

    def status(self, state: StatusState, t: float | None, **extra: Any) -> Event:
        """Publish a status about this stream (to the sink) and return it.

        Parameters
        ----------
        state : StatusState
            What happened.
        t : float | None
            When, in the stream's time (None or NaN: not known).
        **extra
            The state's fields (``gap_s``, ``message``, ...).
        """
        known = t is not None and math.isfinite(t)
        payload = events.status(state, t=t if known else None, stream=self.stream, **extra)
        event = Event(payload, self.pipeline.index, float(t) if known else math.nan)  # type: ignore[arg-type]
        self._sink.on_event(event)
        return event

    # -- inside ---------------------------------------------------------------------------------
    def _process(self, data: np.ndarray, times: np.ndarray) -> None:
        if len(data) == 0:
            return
        result = self.pipeline.process(data, times)
        for event in result.events:
            self._sink.on_event(event)
        self._sink.on_piece(times, result)

    def _restart(self) -> None:
        self.pipeline.reset()
        self._sink.on_restart()

    def _too_many_jumps(self, count: int) -> bool:
        """Refuse a stream whose timestamps keep jumping: it is not what it says it is."""
        self._jump_marks.extend([self.samples_seen] * count)
        recent = [m for m in self._jump_marks if self.samples_seen - m < self.fs_hz]
        self._jump_marks = recent
        if len(recent) < JUMPS_PER_SECOND_LIMIT:
            return False
        if not self.refusing:
            self.refusing = True
            self.status(
                State.STREAM_CHANGED,
                self.last_t,
                message=(
                    f"the timestamps of {self.stream!r} jumped {len(recent)} times within 1 s: "
                    f"it does not run at the nominal {self.fs_hz:g} Hz (another stream with the "
                    "same source_id?); not reading it"
                ),
            )
        return True
