"""Play a recorded session as LSL streams: ``mirrorscope replay``.

The EMG stream keeps its metadata (channel labels, units, number format, nominal rate) and its
timing: sample i carries the timestamp ``t0 + (t_i - t_first)`` and is released when the LSL
clock reaches ``t0 + (t_i - t_first) / speed``, so gaps and jitter of the recording are played
as they were, and ``speed > 1`` runs faster than real time with the timestamps of a real
session (as the simulator does). The cue and truth marker streams of an XDF recording are
played alongside, on the same clock. ``loop`` starts over seamlessly: each pass is shifted by
the recording's length, so timestamps keep increasing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pylsl

from acquisition.xdf_session import Markers, RecordedSession
from detection.errors import MirrorScopeError

__all__ = ["ReplayError", "SessionPlayer"]

log = logging.getLogger(__name__)

_FORMATS = {
    "float32": pylsl.cf_float32,
    "double64": pylsl.cf_double64,
    "int8": pylsl.cf_int8,
    "int16": pylsl.cf_int16,
    "int32": pylsl.cf_int32,
    "int64": pylsl.cf_int64,
}
_NUMPY = {"float32": np.float32, "double64": np.float64, "int8": np.int8, "int16": np.int16}
_NUMPY |= {"int32": np.int32, "int64": np.int64}
#: The pacing loop never waits less than this (faster runs push bigger chunks instead).
_MIN_WAIT_S = 0.001
#: Signal per push at speed 1.
CHUNK_S = 0.01
#: An outlet keeps at most this much data for a slow consumer (s).
_MAX_BUFFERED_S = 60


class ReplayError(MirrorScopeError):
    """A session that cannot be replayed."""


class SessionPlayer:
    """Publish a recorded session on LSL.

    The outlets exist from construction on (so inlets can connect first); :meth:`start` starts
    the pacing thread.

    Parameters
    ----------
    session : RecordedSession
        From :func:`acquisition.xdf_session.load_session`.
    name : str | None
        EMG stream name (default: the recorded one); markers become ``<name>-Cues`` and
        ``<name>-Truth``.
    source_id : str | None
        EMG source_id (default ``mirrorscope-replay-<name>``).
    speed : float
        Stream time per real time (> 0).
    loop : bool
        Start over at the end, until :meth:`stop`.
    """

    def __init__(
        self,
        session: RecordedSession,
        *,
        name: str | None = None,
        source_id: str | None = None,
        speed: float = 1.0,
        loop: bool = False,
    ) -> None:
        emg = session.emg
        if not speed > 0:
            raise ReplayError(f"speed must be > 0, got {speed:g}")
        if len(emg.timestamps) < 2:
            raise ReplayError(f"{session.path}: the EMG stream holds fewer than two samples")
        if emg.channel_format not in _FORMATS:
            raise ReplayError(f"{session.path}: cannot replay {emg.channel_format!r} samples")
        self.session = session
        self.name = name or emg.name
        self.source_id = source_id or f"mirrorscope-replay-{self.name}"
        self.speed = float(speed)
        self.loop = loop
        self._data = np.ascontiguousarray(emg.data, dtype=_NUMPY[emg.channel_format])
        self._rel = emg.timestamps - emg.timestamps[0]
        self.period_s = float(self._rel[-1]) + 1.0 / emg.fs_hz
        self._emg = pylsl.StreamOutlet(self._describe(), max_buffered=_MAX_BUFFERED_S)
        self._markers: list[tuple[pylsl.StreamOutlet, np.ndarray, list[str]]] = []
        self.marker_names: list[str] = []
        for markers, suffix in ((session.cues, "Cues"), (session.truth, "Truth")):
            if markers is not None:
                self._add_markers(markers, suffix, emg.timestamps[0])
        self.t0: float | None = None
        self.samples_done = 0
        self.passes_done = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _describe(self) -> pylsl.StreamInfo:
        emg = self.session.emg
        info = pylsl.StreamInfo(
            self.name,
            emg.type or "EMG",
            emg.data.shape[1],
            emg.fs_hz,
            _FORMATS[emg.channel_format],
            self.source_id,
        )
        desc = info.desc()
        if emg.labels:
            channels = desc.append_child("channels")
            for label, unit in zip(emg.labels, emg.units or ("",) * len(emg.labels), strict=True):
                channel = channels.append_child("channel")
                channel.append_child_value("label", label)
                channel.append_child_value("unit", "microvolts" if unit.lower() == "uv" else unit)
                channel.append_child_value("type", "EMG")
        if self.session.pairs:
            pairs = desc.append_child("pairs")
            for pair in self.session.pairs:
                child = pairs.append_child("pair")
                for key in ("name", "left", "right"):
                    child.append_child_value(key, str(getattr(pair, key)))
        replay = desc.append_child("replay")
        replay.append_child_value("file", Path(self.session.path).name)
        replay.append_child_value("original_name", emg.name)
        replay.append_child_value("original_source_id", emg.source_id)
        replay.append_child_value("speed", f"{self.speed:g}")
        return info

    def _add_markers(self, markers: Markers, suffix: str, first_t: float) -> None:
        name = f"{self.name}-{suffix}" if self.name != self.session.emg.name else markers.name
        info = pylsl.StreamInfo(
            name,
            "Markers",
            1,
            pylsl.IRREGULAR_RATE,
            pylsl.cf_string,
            f"{self.source_id}-{suffix.lower()}",
        )
        info.desc().append_child_value("emg_stream", self.name)
        info.desc().append_child_value("format", "json")
        order = np.argsort(markers.timestamps, kind="stable")
        rel = markers.timestamps[order] - first_t
        self._markers.append((pylsl.StreamOutlet(info), rel, [markers.values[k] for k in order]))
        self.marker_names.append(name)

    # ---- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Fix t0 at the current LSL time and start playing in a background thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self.t0 = pylsl.local_clock()
        self._thread = threading.Thread(target=self._guarded, name="replay", daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the recording has been played (never, with ``loop``); True if it has."""
        return self.finished.wait(timeout_s)

    def stop(self) -> None:
        """Stop playing, close the outlets, and re-raise an error of the playing thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._emg = None  # type: ignore[assignment]
        self._markers = []
        if self._error is not None:
            raise self._error

    # ---- the pacing thread -----------------------------------------------------------------

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as err:
            log.exception("replay failed")
            self._error = err
        finally:
            self.finished.set()

    def _run(self) -> None:
        assert self.t0 is not None
        n = 0
        cursors = [0] * len(self._markers)
        step_s = CHUNK_S * self.speed
        while not self._stop.is_set():
            offset = self.passes_done * self.period_s
            now = (pylsl.local_clock() - self.t0) * self.speed - offset
            stop = int(np.searchsorted(self._rel, now, side="right"))
            if stop > n:
                self._emg.push_chunk(
                    self._data[n:stop], (self.t0 + offset + self._rel[n:stop]).tolist()
                )
                self.samples_done += stop - n
                n = stop
            for k, (outlet, rel, values) in enumerate(self._markers):
                while cursors[k] < len(rel) and rel[cursors[k]] <= now:
                    outlet.push_sample([values[cursors[k]]], self.t0 + offset + rel[cursors[k]])
                    cursors[k] += 1
            if n >= len(self._rel):
                if not self.loop:
                    return
                self.passes_done += 1
                n = 0
                cursors = [0] * len(self._markers)
                continue
            due = self.t0 + (offset + self._rel[n] + step_s) / self.speed
            self._stop.wait(max(_MIN_WAIT_S, due - pylsl.local_clock()))
