"""The live runner: one acquisition thread per EMG stream, nothing waits on the display.

The thread pulls with ``pull_chunk(dest_obj=...)`` into a preallocated buffer, cleans the
timestamps (gap-aware dejitter), runs the detection pipeline, publishes events and envelopes on
LSL, writes the display ring buffer and hands events to a queue for whoever shows them.
Commands from a user interface reach the pipeline between chunks.

Stream health is watched all along: silence for ``lost_after_s`` is ``stream_lost``; data
flowing again is ``stream_resumed`` (filters re-warm, so the discontinuity cannot make an
event); a jump in the timestamps is a ``gap`` with its length; a backlog is processed in full
and shows as lag.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LslTimeoutError

from acquisition.display import DisplayBuffer
from acquisition.feed import ChunkFeeder
from acquisition.outlets import EnvelopeOutlet, EventOutlet
from acquisition.streams import (
    ChannelSelection,
    StreamSummary,
    check_emg_stream,
    describe,
    find_stream,
    select_channels,
)
from detection.calibration import Calibration
from detection.config import Config
from detection.events import Event, State, StatusState
from detection.pipeline import ChunkResult, Pipeline

__all__ = ["LiveMonitor", "StreamHealth"]

log = logging.getLogger(__name__)

#: How long one pull may wait for the first sample (s): also how often commands are applied.
PULL_TIMEOUT_S = 0.02
#: Largest chunk pulled at once (s of signal); a backlog arrives in pieces this long.
MAX_PULL_S = 0.5
#: How often a lost stream is looked for (to notice it back changed, or re-open a dead inlet).
REOPEN_EVERY_S = 2.0
#: Lost this long with our stream visible again: open a fresh inlet instead of waiting (s).
REOPEN_AFTER_S = 4.0
#: Opening a fresh inlet may take this long (s): the acquisition thread waits for it.
REOPEN_QUERY_S = 0.3
#: The background resolver forgets an outlet that has not answered for this long (s).
SOURCE_FORGET_S = 2.0
#: While data are held for want of an answer, ask again this often (s) ...
HELD_RETRY_S = 0.2
#: ... and read them anyway after this long without one (s).
UNVERIFIED_ACCEPT_S = 5.0
#: Longest note kept (characters): a note is a line, not a document.
MAX_NOTE_CHARS = 500
_LSL_DTYPES = {
    "float32": np.float32,
    "double64": np.float64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "int64": np.int64,
}


@dataclass(frozen=True)
class StreamHealth:
    """How the stream is doing (a snapshot)."""

    name: str
    nominal_rate_hz: float
    measured_rate_hz: float
    lag_s: float
    samples: int
    gaps: int
    gap_total_s: float
    lost: bool
    chunk_ms_p50: float
    chunk_ms_p99: float
    calibrating: bool
    rest_progress: float
    flagged: tuple[str, ...]


class LiveMonitor:
    """Monitor one LSL EMG stream live.

    Parameters
    ----------
    config : Config
        The configuration (``[stream]`` says which stream).
    calibration : Calibration | None
        A saved calibration; without one the first ``rest_s`` seconds are rest.
    publish : bool
        Open the events and envelope outlets.
    stream : pylsl.StreamInfo | None
        Use this stream instead of resolving ``[stream]``.

    Notes
    -----
    :meth:`start` resolves the stream and opens everything in the caller's thread, so a
    missing or ambiguous stream or a wrong channel label is raised there, with its message.
    """

    def __init__(
        self,
        config: Config,
        *,
        calibration: Calibration | None = None,
        publish: bool = True,
        stream: pylsl.StreamInfo | None = None,
    ) -> None:
        self.config = config
        self._calibration = calibration
        self._publish = publish
        self._stream_info = stream
        self.events: queue.Queue[Event] = queue.Queue()
        self.error: BaseException | None = None
        self._commands: queue.Queue[tuple[Callable[[Pipeline], Any], Future[Any]]] = queue.Queue()
        #: LSL timestamp (raw, clock-synchronised) of the first sample processed: offline
        #: analysis of a recording starts there to reproduce the live events.
        self.first_timestamp: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._chunk_ms: deque[float] = deque(maxlen=500)
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=200)
        self._lost = False
        self.flagged: set[str] = set()
        # What start() finds and opens (None or empty until then).
        self.summary: StreamSummary | None = None
        self.selection: ChannelSelection | None = None
        self.fs_hz = math.nan
        self.pipeline: Pipeline | None = None
        self.labels: tuple[str, ...] = ()
        self.pair_names: list[str] = []
        self.display: DisplayBuffer | None = None
        self._feeder: ChunkFeeder | None = None
        self._inlet: pylsl.StreamInlet | None = None
        self._pull_n = 0
        self._buffer = np.zeros((0, 0))
        self._events_out: EventOutlet | None = None
        self._envelope_out: EnvelopeOutlet | None = None
        self._source_resolver: pylsl.ContinuousResolver | None = None
        self._cue_inlet: pylsl.StreamInlet | None = None
        self._cue_resolver: pylsl.ContinuousResolver | None = None
        # Stream identity: when data last came, when a fresh inlet was last tried, an outlet
        # refused for its format, whether liblsl gave up on the inlet, data held until the
        # sender is known.
        self._last_data_wall = 0.0
        self._last_reopen = 0.0
        self._refused_uid: str | None = None
        self._inlet_dead = False
        self._refusing = False
        self._held: list[tuple[np.ndarray, np.ndarray]] = []
        self._held_since = 0.0

    # ---- set-up ----------------------------------------------------------------------------

    def start(self, *, before_open: Callable[[LiveMonitor], None] | None = None) -> None:
        """Find the stream, open inlets and outlets, and start the acquisition thread.

        Parameters
        ----------
        before_open : callable | None
            Called with this monitor once everything is set up (outlets exist) but before the
            inlet subscribes to the data: a recorder started here holds every sample the
            monitor will process.
        """
        cfg = self.config
        info = self._stream_info = self._stream_info or find_stream(cfg.stream)
        flags = pylsl.proc_clocksync if cfg.acquisition.clock_sync else 0
        # info() reads the full description without subscribing; open_stream() subscribes.
        self._inlet = pylsl.StreamInlet(info, max_buflen=360, processing_flags=flags)
        self.summary: StreamSummary = describe(self._inlet.info(timeout=cfg.stream.timeout_s))
        check_emg_stream(self.summary)
        self.selection: ChannelSelection = select_channels(self.summary, cfg)
        self.fs_hz = self.summary.nominal_srate
        pipeline_cfg = dataclasses.replace(cfg, pairs=self.selection.pairs)
        self.pipeline = Pipeline(
            pipeline_cfg, self.fs_hz, self.selection.labels, calibration=self._calibration
        )
        self.labels = self.selection.labels
        self.pair_names = [name for name, _, _ in self.pipeline.pairs]
        self._feeder = ChunkFeeder(
            self.pipeline,
            self.selection.columns,
            self.selection.scale_to_uv,
            cfg.acquisition,
            stream=self.summary.name,
            sink=self,
        )
        dtype = _LSL_DTYPES[self.summary.channel_format]
        self._pull_n = max(1, round(MAX_PULL_S * self.fs_hz))
        self._buffer = np.zeros((self._pull_n, self.summary.channel_count), dtype=dtype)
        self.display = DisplayBuffer(
            max(1, round(cfg.acquisition.display_s * self.fs_hz)), len(self.labels)
        )
        if self._publish:
            self._events_out = EventOutlet(cfg.output.events_stream, self.summary.name)
            if cfg.output.envelope_stream:
                self._envelope_out = EnvelopeOutlet(
                    cfg.output.envelope_stream,
                    self.labels,
                    self.fs_hz,
                    cfg.output.envelope_rate_hz,
                )
        if before_open is not None:
            before_open(self)  # before any inlet (cues, EMG) subscribes
        key, value = ("source_id", self.summary.source_id)
        if not value:
            key, value = "name", self.summary.name
        self._source_resolver = pylsl.ContinuousResolver(
            prop=key, value=value, forget_after=SOURCE_FORGET_S
        )
        if cfg.cues.stream:
            # Found in the background: a cue screen may start after the monitor.
            self._cue_resolver = pylsl.ContinuousResolver(prop="name", value=cfg.cues.stream)
            found = pylsl.resolve_byprop("name", cfg.cues.stream, minimum=1, timeout=1.0)
            if found:
                self._open_cues(found[0])
            else:
                log.warning("cue stream %r not visible yet; will keep looking", cfg.cues.stream)
        self._inlet.open_stream(timeout=cfg.stream.timeout_s)
        self._last_data_wall = time.monotonic()
        self._last_reopen = time.monotonic()
        self._thread = threading.Thread(
            target=self._run_guarded, name=f"acquisition-{self.summary.name}", daemon=True
        )
        self._thread.start()

    @property
    def stream_info(self) -> pylsl.StreamInfo | None:
        """The stream being monitored (None before :meth:`start` found it)."""
        return self._stream_info

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the acquisition thread and close the streams (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("acquisition thread did not stop within %.1f s", timeout_s)
        for name in ("_inlet", "_cue_inlet"):
            inlet = getattr(self, name, None)
            if inlet is not None:
                inlet.close_stream()
                setattr(self, name, None)
        self._cue_resolver = None
        self._source_resolver = None
        self._events_out = self._envelope_out = None

    def __enter__(self) -> LiveMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the acquisition thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def raise_if_failed(self) -> None:
        """Re-raise an error of the acquisition thread (tests call this)."""
        if self.error is not None:
            raise self.error

    def command(self, action: Callable[[Pipeline], Any]) -> Future[Any]:
        """Run ``action(pipeline)`` in the acquisition thread between two chunks.

        Parameters
        ----------
        action : callable
            Receives the pipeline; must be quick (the acquisition waits for it).

        Returns
        -------
        concurrent.futures.Future
            Resolves to what ``action`` returned (or the error it raised).
        """
        future: Future[Any] = Future()
        self._commands.put((action, future))
        return future

    def add_note(self, text: str) -> Future[Any]:
        """Publish the experimenter's note as a ``status`` event with state ``note``.

        It goes through the acquisition thread, so it lands in the events stream (and so in a
        recording) in order with the detector's events, stamped at the last sample processed.

        Parameters
        ----------
        text : str
            The note; longer than :data:`MAX_NOTE_CHARS` is cut.

        Returns
        -------
        concurrent.futures.Future
            Resolves to the published payload.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        text = text.strip()[:MAX_NOTE_CHARS]

        def publish(_pipeline: Pipeline) -> dict[str, Any]:
            return dict(self._emit_status(State.NOTE, self._last_timestamp, text=text).payload)

        return self.command(publish)

    def health(self) -> StreamHealth:
        """A snapshot of the stream's health."""
        feeder = self._running_feeder()
        with self._lock:
            window = list(self._rate_window)
            chunk_ms = np.array(self._chunk_ms) if self._chunk_ms else np.zeros(1)
            last_t = self._last_timestamp
            flagged = tuple(sorted(self.flagged))
        rate = 0.0
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        lag = pylsl.local_clock() - last_t if np.isfinite(last_t) else float("nan")
        assert self.summary is not None
        assert self.pipeline is not None
        return StreamHealth(
            name=self.summary.name,
            nominal_rate_hz=self.fs_hz,
            measured_rate_hz=rate,
            lag_s=lag,
            samples=feeder.samples_processed,
            gaps=feeder.gaps,
            gap_total_s=feeder.gap_total_s,
            lost=self._lost,
            chunk_ms_p50=float(np.percentile(chunk_ms, 50)),
            chunk_ms_p99=float(np.percentile(chunk_ms, 99)),
            calibrating=self.pipeline.calibrating,
            rest_progress=self.pipeline.rest_progress,
            flagged=flagged,
        )

    @property
    def _last_timestamp(self) -> float:
        """Cleaned time of the last sample processed (NaN before the first)."""
        return self._feeder.last_t if self._feeder is not None else math.nan

    def _running_feeder(self) -> ChunkFeeder:
        if self._feeder is None:
            raise RuntimeError("the monitor has not been started")
        return self._feeder

    # ---- the thread ------------------------------------------------------------------------

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as err:
            log.exception("acquisition of %s failed", self.summary.name if self.summary else "?")
            self.error = err
            message = f"{type(err).__name__}: {err}"
            self._emit_status(State.ERROR, self._last_timestamp, message=message)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._apply_commands()
            if self._held:
                # Not pulling while we wait to know who sent the held data: liblsl buffers.
                self._retry_held()
                self._stop.wait(HELD_RETRY_S)
                continue
            try:
                _, stamps = self._inlet.pull_chunk(
                    timeout=PULL_TIMEOUT_S,
                    max_samples=self._pull_n,
                    dest_obj=self._buffer,
                    min_samples=1,
                    as_numpy=True,
                )
            except LostError:
                # liblsl gave up on this inlet (a stream without source_id cannot be
                # recovered); wait as a pull would, then look for the stream again.
                stamps = np.zeros(0)
                self._inlet_dead = True
                self._stop.wait(PULL_TIMEOUT_S)
            except LslTimeoutError:
                stamps = np.zeros(0)  # liblsl times out a pull while it reconnects
            # Cues are read after the EMG they precede was pulled and before it is processed,
            # so a cue is always in hand when the movement it announced is decided.
            self._poll_cues()
            if len(stamps) == 0:
                self._check_silence()
                continue
            self._admit(self._buffer[: len(stamps)], np.asarray(stamps, dtype=float))

    def _admit(self, raw: np.ndarray, stamps: np.ndarray) -> None:
        """Process a chunk, drop it (a changed stream), or hold it until we know who sent it.

        liblsl reconnects an inlet to any outlet with the same source_id, even one in another
        format, so data after a silence or a jump in the timestamps is checked first.
        """
        self._last_data_wall = time.monotonic()
        if self._needs_check(stamps):
            verdict = self._verify()
            if verdict is None:
                self._held.append((raw.copy(), stamps.copy()))
                self._held_since = time.monotonic()
                return
            if not verdict:
                return
        self._handle(raw, stamps)

    def _needs_check(self, stamps: np.ndarray) -> bool:
        if self._refusing or self._lost:
            return True
        expected = self._running_feeder().last_raw_t + 1.0 / self.fs_hz
        tolerance = self.config.acquisition.gap_tolerance_s
        return math.isfinite(expected) and abs(float(stamps[0]) - expected) > tolerance

    def _verify(self) -> bool | None:
        """True: our stream; False: a changed one (refused); None: nobody answers yet."""
        info = self._current_outlet()
        return None if info is None else self._accept(info)

    def _retry_held(self) -> None:
        verdict = self._verify()
        if verdict is None:
            if time.monotonic() - self._held_since < UNVERIFIED_ACCEPT_S:
                return
            log.warning(
                "stream %s: data came back but no outlet answers to confirm it; reading it",
                self.summary.name,
            )
            verdict = True
        held, self._held = self._held, []
        if verdict:
            for raw, stamps in held:
                self._handle(raw, stamps)

    def _handle(self, raw: np.ndarray, stamps: np.ndarray) -> None:
        started = time.perf_counter()
        now_wall = time.monotonic()
        feeder = self._running_feeder()
        if self.first_timestamp is None:
            self.first_timestamp = float(stamps[0])
        if self._lost:
            self._lost = False
            feeder.resume(float(stamps[0]))
        if not feeder.feed(raw, stamps):
            self._refusing = True
            return
        with self._lock:
            self._rate_window.append((now_wall, feeder.samples_processed))
            self._chunk_ms.append(1000 * (time.perf_counter() - started))

    # ---- what the feeder hands over (the FeedSink of acquisition.feed) -----------------------

    def on_event(self, event: Event) -> None:
        """Publish an event: status bookkeeping, the events outlet, the queue."""
        self._deliver(event)

    def on_piece(self, times: np.ndarray, result: ChunkResult) -> None:
        """Push a processed piece's envelopes and write it to the display buffer."""
        if self._envelope_out is not None:
            self._envelope_out.push(result.envelope_uv, times)
        assert self.display is not None
        self.display.write(
            times,
            filtered_uv=result.filtered_uv,
            envelope_uv=result.envelope_uv,
            detection=result.detection,
            above=result.above,
            excluded=result.excluded,
        )

    def on_restart(self) -> None:
        """The pipeline restarted: so does the envelope outlet's decimation."""
        if self._envelope_out is not None:
            self._envelope_out.reset()

    def _deliver(self, event: Event) -> None:
        payload = event.payload
        if payload["event"] == "status":
            self._note_status(payload)
        if self._events_out is not None:
            self._events_out.publish(event)
        self.events.put(event)

    def _note_status(self, payload: Mapping[str, Any]) -> None:
        state = payload.get("state")
        if state == State.CHANNEL_FLAGGED:
            with self._lock:
                self.flagged.add(f"{payload['channel']}:{payload['flag']}")
        elif state == State.CHANNEL_CLEARED:
            with self._lock:
                self.flagged.discard(f"{payload['channel']}:{payload['flag']}")
        elif state == State.CALIBRATED:
            self._save_calibration()

    def _save_calibration(self) -> None:
        path = self.config.calibration.file
        if not path or Path(path).exists() or self.pipeline is None:
            return
        if self.pipeline.calibration is None:
            return
        try:
            self.pipeline.calibration.save(path)
            log.info("calibration saved to %s", path)
        except OSError as err:
            log.warning("could not save the calibration to %s: %s", path, err)

    def _emit_status(self, state: StatusState, t: float, **extra: Any) -> Event:
        return self._running_feeder().status(state, t, **extra)

    def _check_silence(self) -> None:
        silent_s = time.monotonic() - self._last_data_wall
        if not self._lost and silent_s >= self.config.acquisition.lost_after_s:
            self._lost = True
            silent = round(silent_s, 3)
            self._emit_status(State.STREAM_LOST, self._last_timestamp, silent_s=silent)
        if self._lost:
            self._reopen_if_due()

    def _reopen_if_due(self) -> None:
        """While lost: notice the stream coming back changed, or re-open the inlet.

        liblsl recovers an inlet by itself when an outlet with the same source_id returns, so
        a fresh inlet is opened only once liblsl has given up on the old one (``LostError``)
        or has not managed within ``REOPEN_AFTER_S`` (seen: a recovery that never completes).
        """
        if time.monotonic() - self._last_reopen < REOPEN_EVERY_S:
            return
        self._last_reopen = time.monotonic()
        info = self._current_outlet()
        if info is None or not self._accept(info):
            return
        lost_for = time.monotonic() - self._last_data_wall
        if not self._inlet_dead and lost_for < REOPEN_AFTER_S:
            return  # liblsl is recovering the inlet to the outlet by itself
        flags = pylsl.proc_clocksync if self.config.acquisition.clock_sync else 0
        try:
            inlet = pylsl.StreamInlet(info, max_buflen=360, processing_flags=flags)
            inlet.open_stream(timeout=REOPEN_QUERY_S)
        except (RuntimeError, OSError) as err:
            log.info("stream %s is back but could not be opened yet: %s", info.name(), err)
            return
        self._inlet.close_stream()
        self._inlet = inlet
        self._inlet_dead = False

    def _current_outlet(self) -> pylsl.StreamInfo | None:
        """The outlet that now carries our stream's source_id (or name), if one is known.

        One-off queries go unanswered now and then while this process holds other LSL
        sockets, so a continuous resolver listens in the background and is only read here.
        """
        found = self._source_resolver.results()
        # A departed outlet stays in the results for a moment; when a new one is there too,
        # the new one is what liblsl reconnects the inlet to.
        newer = [info for info in found if info.uid() != self.summary.uid]
        if newer:
            return newer[0]
        return found[0] if found else None

    def _accept(self, info: pylsl.StreamInfo) -> bool:
        """Take a (possibly new) outlet of our stream if its format is the one we read."""
        assert self.summary is not None
        if info.uid() == self.summary.uid:
            self._refusing = False
            self._running_feeder().accept_again()
            return True
        fresh = describe(info)
        if (fresh.channel_count, fresh.nominal_srate) == (
            self.summary.channel_count,
            self.summary.nominal_srate,
        ):
            self.summary = dataclasses.replace(self.summary, uid=info.uid())
            self._refusing = False
            self._running_feeder().accept_again()
            return True
        if info.uid() != self._refused_uid:
            self._refused_uid = info.uid()
            self._emit_status(
                State.STREAM_CHANGED,
                self._last_timestamp,
                message=(
                    f"{fresh.name!r} came back with {fresh.channel_count} channels at "
                    f"{fresh.nominal_srate:g} Hz (was {self.summary.channel_count} at "
                    f"{self.summary.nominal_srate:g} Hz); not reading it"
                ),
            )
        self._refusing = True
        return False

    def _apply_commands(self) -> None:
        while True:
            try:
                action, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(action(self.pipeline))
            except Exception as err:  # noqa: BLE001 - handed back to whoever asked
                future.set_exception(err)

    def _open_cues(self, info: pylsl.StreamInfo) -> None:
        flags = pylsl.proc_clocksync if self.config.acquisition.clock_sync else 0
        inlet = pylsl.StreamInlet(info, processing_flags=flags)
        try:
            inlet.open_stream(timeout=1.0)
        except RuntimeError as err:  # a busy machine: the resolver will offer it again
            log.info("cue stream %r found but not opened yet: %s", info.name(), err)
            return
        self._cue_inlet = inlet
        log.info("reading cues from %r", info.name())

    def _poll_cues(self) -> None:
        if self._cue_resolver is None:
            return
        if self._cue_inlet is None:
            found = self._cue_resolver.results()
            if not found:
                return
            self._open_cues(found[0])
            if self._cue_inlet is None:
                return
        try:
            markers, stamps = self._cue_inlet.pull_chunk(timeout=0.0, max_samples=64)
        except (LostError, LslTimeoutError):
            return
        except UnicodeDecodeError:
            log.warning("ignoring cue markers that are not UTF-8 text")
            return
        for marker, stamp in zip(markers, stamps, strict=True):
            if marker:
                self._running_feeder().add_cue(str(marker[0]), float(stamp))
