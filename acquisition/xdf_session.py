"""Reading a session from disk: an XDF recording (with its sidecar) or an NPZ file.

Both become a :class:`RecordedSession`: the EMG stream (samples as stored, raw timestamps,
labels and units), the cue, truth and live-event marker streams when present, the sidecar, and
the homologous pairs the file itself declares.

Timestamps: pyxdf is asked neither to dejitter (the analysis feeds raw timestamps through the
same gap-aware cleaner as the live monitor) nor to synchronise. When the monitor corrected
timestamps with LSL clock offsets, the recording's own offsets (LabRecorder's) are applied
here (see :func:`_stamps`), and the EMG timestamps are then shifted so that the sample the
monitor processed first carries the very timestamp the monitor saw (``first_timestamp`` in
the sidecar): two estimates of the same clock offset differ by tens of microseconds, and the
live event times are to be reproduced, not approximated. What remains is the monitor's own
offset updates during the session (liblsl re-estimates every few seconds; measured: within
0.015 ms over four minutes on one machine).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.sidecar import read_sidecar
from acquisition.streams import StreamSummary
from detection.config import PairConfig
from detection.errors import MirrorScopeError

__all__ = ["EmgRecording", "Markers", "RecordedSession", "SessionFileError", "load_session"]

log = logging.getLogger(__name__)

_NUMERIC_FORMATS = ("float32", "double64", "int8", "int16", "int32", "int64")
_SIDE_PATTERNS = (
    r"^(?:R|L)[-_ ]?",
    r"[-_ ]?(?:R|L)$",
    r"^(?:right|left)[-_ ]?",
    r"[-_ ]?(?:right|left)$",
)


class SessionFileError(MirrorScopeError):
    """A file that cannot be read as a session, and why."""


@dataclass
class EmgRecording:
    """The EMG stream of a session, as recorded."""

    name: str
    type: str
    source_id: str
    hostname: str
    fs_hz: float
    channel_format: str
    labels: tuple[str, ...]
    units: tuple[str, ...]
    #: Samples x channels, in the stream's own units and number format.
    data: np.ndarray
    #: Raw timestamps (seconds, LSL clock; clock-corrected as described in the module notes).
    timestamps: np.ndarray

    def summary(self) -> StreamSummary:
        """The stream described as the live monitor sees it (for channel selection)."""
        return StreamSummary(
            name=self.name,
            type=self.type,
            channel_count=self.data.shape[1],
            nominal_srate=self.fs_hz,
            channel_format=self.channel_format,
            source_id=self.source_id,
            hostname=self.hostname,
            uid="",
            labels=self.labels,
            units=self.units,
        )

    @property
    def duration_s(self) -> float:
        """Length of the recording (first to last sample, plus one sample)."""
        if len(self.timestamps) == 0:
            return 0.0
        return float(self.timestamps[-1] - self.timestamps[0]) + 1.0 / self.fs_hz


@dataclass
class Markers:
    """A marker stream: one string per timestamp."""

    name: str
    source_id: str
    timestamps: np.ndarray
    values: list[str]


@dataclass
class RecordedSession:
    """Everything a session file holds."""

    path: Path
    kind: str
    emg: EmgRecording
    cues: Markers | None = None
    truth: Markers | None = None
    events: Markers | None = None
    sidecar: dict[str, Any] | None = None
    #: Pairs the file declares (NPZ homologous_pairs, the simulator's metadata).
    pairs: tuple[PairConfig, ...] = ()
    other_streams: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Index of the sample the live monitor processed first (None: unknown or not recorded).
    first_index: int | None = None


def load_session(path: str | Path, stream: str | None = None) -> RecordedSession:
    """Read an ``.xdf`` recording or an ``.npz`` file.

    Parameters
    ----------
    path : str | Path
        The file.
    stream : str | None
        Name of the EMG stream to use when an XDF file holds several.

    Returns
    -------
    RecordedSession
        The session.

    Raises
    ------
    SessionFileError
        The file is missing, unreadable, or holds no EMG stream.
    """
    path = Path(path)
    if not path.is_file():
        raise SessionFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xdf", ".xdfz"):
        return _load_xdf(path, stream)
    if suffix == ".npz":
        return _load_npz(path)
    raise SessionFileError(f"{path}: unknown file type {suffix!r}; expected .xdf or .npz")


# ---- NPZ ------------------------------------------------------------------------------------


def _pair_name(left: str, right: str) -> str:
    for pattern in _SIDE_PATTERNS:
        a = re.sub(pattern, "", left, flags=re.IGNORECASE)
        b = re.sub(pattern, "", right, flags=re.IGNORECASE)
        if a == b and a and a not in (left, right):
            return a
    return f"{left}/{right}"


def _load_npz(path: Path) -> RecordedSession:
    try:
        with np.load(path, allow_pickle=False) as npz:
            doc = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        raise SessionFileError(f"{path}: not a readable NPZ file ({err})") from None
    if "emg" not in doc or "fs" not in doc:
        raise SessionFileError(
            f"{path} has no EMG: expected arrays 'emg' (samples x channels) and 'fs'; it holds "
            f"{', '.join(doc) or 'nothing'}"
        )
    emg = np.asarray(doc["emg"])
    if emg.ndim != 2 or emg.shape[1] < 2 or not np.issubdtype(emg.dtype, np.number):
        raise SessionFileError(f"{path}: 'emg' must be numbers, samples x >= 2 channels")
    fs_hz = float(doc["fs"])
    n_channels = emg.shape[1]
    names = doc.get("channel_names")
    labels = (
        tuple(str(n) for n in names)
        if names is not None and len(names) == n_channels
        else tuple(f"ch{i}" for i in range(n_channels))
    )
    unit = str(doc["units"]) if "units" in doc else "uV"
    pairs: list[PairConfig] = []
    if "homologous_pairs" in doc:
        # Stored as (right, left) column pairs, as in ../shared/data/SOURCES.md.
        for right, left in np.asarray(doc["homologous_pairs"], dtype=int).reshape(-1, 2):
            name = _pair_name(labels[left], labels[right])
            pairs.append(PairConfig(name=name, left=labels[left], right=labels[right]))
    recording = EmgRecording(
        name=path.stem,
        type="EMG",
        source_id=f"npz-{path.stem}",
        hostname="",
        fs_hz=fs_hz,
        channel_format="float32" if emg.dtype == np.float32 else "double64",
        labels=labels,
        units=(unit,) * n_channels,
        data=emg,
        timestamps=np.arange(len(emg), dtype=np.float64) / fs_hz,
    )
    notes = [f"The file has no timestamps: sample n is taken to be at n / {fs_hz:g} s."]
    if "task" in doc:
        notes.append(f"Task (from the file): {doc['task']}.")
    return RecordedSession(path=path, kind="npz", emg=recording, pairs=tuple(pairs), notes=notes)


# ---- XDF ------------------------------------------------------------------------------------


def _first(info: dict[str, Any], key: str, default: str = "") -> str:
    value = info.get(key) or [default]
    return str(value[0]) if value[0] is not None else default


def _desc(stream: dict[str, Any]) -> dict[str, Any]:
    desc = (stream["info"].get("desc") or [None])[0]
    return desc if isinstance(desc, dict) else {}


def _channels(stream: dict[str, Any], count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    labels, units = [], []
    for block in _desc(stream).get("channels") or []:
        for channel in (block or {}).get("channel") or []:
            labels.append(str((channel.get("label") or [""])[0] or "").strip())
            units.append(str((channel.get("unit") or [""])[0] or "").strip())
    if len(labels) != count:
        return (), ()
    return tuple(labels), tuple(units)


def _declared_pairs(stream: dict[str, Any]) -> tuple[PairConfig, ...]:
    out = []
    for block in _desc(stream).get("pairs") or []:
        for pair in (block or {}).get("pair") or []:
            values = [str((pair.get(k) or [""])[0] or "") for k in ("name", "left", "right")]
            if all(values):
                out.append(PairConfig(name=values[0], left=values[1], right=values[2]))
    return tuple(out)


def _line(stream: dict[str, Any]) -> str:
    info = stream["info"]
    return (
        f"{_first(info, 'name')!r} (type {_first(info, 'type')!r}, "
        f"{_first(info, 'channel_count')} ch, {float(_first(info, 'nominal_srate', '0')):g} Hz)"
    )


def _is_emg(stream: dict[str, Any]) -> bool:
    info = stream["info"]
    return (
        _first(info, "type").lower() == "emg"
        and float(_first(info, "nominal_srate", "0")) > 0
        and _first(info, "channel_format") in _NUMERIC_FORMATS
    )


def _pick_emg(
    path: Path, streams: list[dict[str, Any]], wanted: str | None, sidecar: dict[str, Any] | None
) -> dict[str, Any]:
    if wanted is None and sidecar:
        emg = [s for s in sidecar.get("streams", []) if s.get("role") == "emg"]
        wanted = emg[0]["name"] if emg else None
    if wanted is not None:
        chosen = [s for s in streams if _first(s["info"], "name") == wanted]
        if not chosen:
            listing = ", ".join(_line(s) for s in streams) or "none"
            raise SessionFileError(f"{path} has no stream named {wanted!r}; it holds {listing}")
        return chosen[0]
    candidates = [s for s in streams if _is_emg(s)]
    if not candidates:
        listing = ", ".join(_line(s) for s in streams) or "none"
        raise SessionFileError(
            f"{path} holds no EMG stream (a regular-rate numeric stream of type 'EMG'); "
            f"streams: {listing}"
        )
    if len(candidates) > 1:
        listing = ", ".join(_line(s) for s in candidates)
        raise SessionFileError(f"{path} holds several EMG streams ({listing}); pick one by name")
    return candidates[0]


def _stamps(stream: dict[str, Any], clock_sync: bool) -> np.ndarray:
    """Timestamps, corrected with the recorded clock offsets when asked.

    The offsets LabRecorder measured (every few seconds) are interpolated at each timestamp
    and held constant beyond the first and last measurement: a fitted line (pyxdf's
    synchronisation) extrapolates its slope to timestamps past the last measurement, which a
    stream sent faster than real time has (measured: 0.14 ms off after 228 s at speed 8).
    """
    stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
    times = np.asarray(stream.get("clock_times") or [], dtype=np.float64)
    values = np.asarray(stream.get("clock_values") or [], dtype=np.float64)
    if not clock_sync or len(times) == 0 or len(stamps) == 0:
        return stamps
    return stamps + np.interp(stamps, times, values)


def _markers(stream: dict[str, Any], clock_sync: bool) -> Markers:
    series = stream["time_series"]
    values = [str(row[0]) for row in series] if len(series) else []
    return Markers(
        name=_first(stream["info"], "name"),
        source_id=_first(stream["info"], "source_id"),
        timestamps=_stamps(stream, clock_sync),
        values=values,
    )


def _companion(
    streams: list[dict[str, Any]], role: str, names: list[str], sidecar: dict[str, Any] | None
) -> dict[str, Any] | None:
    wanted = [(name, "") for name in names]
    if sidecar:
        listed = [s for s in sidecar.get("streams", []) if s.get("role") == role]
        wanted = [(s["name"], s.get("source_id") or "") for s in listed] + wanted
    for name, source_id in wanted:
        for stream in streams:
            info = stream["info"]
            same_id = not source_id or _first(info, "source_id") == source_id
            if name and _first(info, "name") == name and same_id:
                return stream
    return None


def _align_to_live(session: RecordedSession, first_timestamp: float, shift: bool) -> None:
    """Find the first sample the monitor processed; shift timestamps onto the monitor's."""
    stamps = session.emg.timestamps
    if len(stamps) == 0:
        return
    k = int(np.argmin(np.abs(stamps - first_timestamp)))
    off_s = first_timestamp - stamps[k]
    if abs(off_s) > 0.5 / session.emg.fs_hz:
        where = (
            f"The recording began {-off_s:.1f} s after the live detector's first sample"
            if off_s < 0
            else "The live detector's first sample is not in the recording"
        )
        session.notes.append(
            f"{where} (LSL time {first_timestamp:.6f}), so the live events cannot be reproduced "
            "exactly; the analysis starts at the recording's first sample with the detector's "
            "calibration."
        )
        return
    session.first_index = k
    if shift and off_s != 0.0:
        session.emg.timestamps = stamps + off_s
        for markers in (session.cues, session.truth):
            if markers is not None:
                markers.timestamps = markers.timestamps + off_s
        session.notes.append(
            f"Timestamps aligned to the live detector's LSL clock offset ({off_s * 1e6:+.1f} µs)."
        )


def _load_xdf(path: Path, wanted: str | None) -> RecordedSession:
    import pyxdf

    sidecar = read_sidecar(path)
    clock_sync = True if sidecar is None else sidecar.get("clock_sync") is not False
    try:
        streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    except Exception as err:  # noqa: BLE001 - pyxdf raises many kinds on a damaged file
        raise SessionFileError(f"{path}: not a readable XDF file ({err})") from None
    stream = _pick_emg(path, streams, wanted, sidecar)
    info = stream["info"]
    data = np.asarray(stream["time_series"])
    count = int(_first(info, "channel_count", "0"))
    if data.ndim != 2 or data.shape[1] != count:
        data = data.reshape(0, count)
    labels, units = _channels(stream, count)
    emg = EmgRecording(
        name=_first(info, "name"),
        type=_first(info, "type"),
        source_id=_first(info, "source_id"),
        hostname=_first(info, "hostname"),
        fs_hz=float(_first(info, "nominal_srate", "0")),
        channel_format=_first(info, "channel_format"),
        labels=labels,
        units=units,
        data=data,
        timestamps=_stamps(stream, clock_sync),
    )
    if emg.fs_hz <= 0 or emg.channel_format not in _NUMERIC_FORMATS:
        raise SessionFileError(f"{path}: stream {_line(stream)} cannot carry EMG")
    config = (sidecar or {}).get("config") or {}
    cue_names = [config.get("cues", {}).get("stream", ""), f"{emg.name}-Cues"]
    events_name = config.get("output", {}).get("events_stream", "")
    cues = _companion(streams, "cues", cue_names, sidecar)
    truth = _companion(streams, "truth", [f"{emg.name}-Truth"], sidecar)
    events = _companion(streams, "events", [events_name], sidecar)
    if events is None:
        events = next(
            (
                s
                for s in streams
                if _desc(s).get("emg_stream") == [emg.name]
                and "events" in str(_desc(s).get("format", "")).lower()
            ),
            None,
        )
    used = {id(s) for s in (stream, cues, truth, events) if s is not None}
    session = RecordedSession(
        path=path,
        kind="xdf",
        emg=emg,
        cues=None if cues is None else _markers(cues, clock_sync),
        truth=None if truth is None else _markers(truth, clock_sync),
        events=None if events is None else _markers(events, clock_sync),
        sidecar=sidecar,
        pairs=_declared_pairs(stream),
        other_streams=[_line(s) for s in streams if id(s) not in used],
    )
    if len(emg.timestamps) == 0:
        session.notes.append("The EMG stream holds no samples.")
    first = (sidecar or {}).get("first_timestamp")
    if isinstance(first, (int, float)):
        _align_to_live(session, float(first), shift=clock_sync)
    return session
