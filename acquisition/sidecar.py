"""The session sidecar: ``FILE.session.json`` next to ``FILE.xdf``.

An XDF file holds the streams; the sidecar holds what the live detector knew that the streams do
not say: its config, the calibration it started with, the first sample it processed, and which
recorded stream played which part. Offline analysis reads it to run exactly what ran live.

Format (``"format": "mirrorscope-session"``, ``"version": 1``)::

    software          {"name": "mirrorscope", "version": "0.1.0"}
    recorder          "monitor" (recorded by a live monitor) or "record" (streams only)
    xdf               file name of the recording (same folder)
    started_utc       ISO time the recording started; stopped_utc when it ended (null while on)
    streams           [{"role": "emg"|"cues"|"truth"|"events"|"envelopes"|"other",
                        "name": ..., "source_id": ..., "type": ...}, ...]
    config            the monitor's config (detection.config.to_dict), or null
    calibration       the calibration in force when processing began (calibration JSON as an
                      object), or null when the monitor measured rest at the start
    calibration_measured   what the monitor measured during the session, for information
    first_timestamp   raw clock-synchronised LSL time of the first sample the monitor processed
    samples_processed number of EMG samples the monitor processed
    clock_sync        whether the monitor corrected timestamps with LSL clock offsets
    error             the recorder's error, if it stopped on one
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from detection.errors import MirrorScopeError

__all__ = [
    "FORMAT",
    "SidecarError",
    "new_sidecar",
    "read_sidecar",
    "sidecar_path",
    "software_version",
    "utc_now",
    "write_sidecar",
]

log = logging.getLogger(__name__)

FORMAT = "mirrorscope-session"
VERSION = 1
ROLES = ("emg", "cues", "truth", "events", "envelopes", "other")


class SidecarError(MirrorScopeError):
    """A sidecar that cannot be read."""


def sidecar_path(recording: str | Path) -> Path:
    """``FILE.xdf`` -> ``FILE.session.json`` (same folder)."""
    path = Path(recording)
    return path.with_name(f"{path.stem}.session.json")


def software_version() -> str:
    """The installed version of MirrorScope (``"unknown"`` when not installed)."""
    try:
        return metadata.version("mirrorscope")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_sidecar(
    recording: str | Path,
    *,
    recorder: str,
    streams: list[dict[str, str]],
    config: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    clock_sync: bool | None = None,
) -> dict[str, Any]:
    """A sidecar for a recording that is starting.

    Parameters
    ----------
    recording : str | Path
        The XDF file.
    recorder : str
        ``"monitor"`` or ``"record"``.
    streams : list of dict
        ``{"role", "name", "source_id", "type"}`` per recorded stream.
    config : dict | None
        The monitor's config as plain data.
    calibration : dict | None
        The calibration in force at the start, or None when rest is measured at the start.
    clock_sync : bool | None
        Whether the monitor applies LSL clock offsets.

    Returns
    -------
    dict
        The sidecar document.
    """
    for stream in streams:
        if stream.get("role") not in ROLES:
            raise ValueError(f"stream role {stream.get('role')!r}: expected one of {ROLES}")
    return {
        "format": FORMAT,
        "version": VERSION,
        "software": {"name": "mirrorscope", "version": software_version()},
        "recorder": recorder,
        "xdf": Path(recording).name,
        "started_utc": utc_now(),
        "stopped_utc": None,
        "streams": streams,
        "config": config,
        "calibration": calibration,
        "calibration_measured": None,
        "first_timestamp": None,
        "samples_processed": None,
        "clock_sync": clock_sync,
        "error": None,
    }


def write_sidecar(recording: str | Path, doc: dict[str, Any]) -> Path:
    """Write the sidecar atomically (a crash never leaves half a file).

    Parameters
    ----------
    recording : str | Path
        The XDF file the sidecar belongs to.
    doc : dict
        The document.

    Returns
    -------
    Path
        The sidecar's path.
    """
    path = sidecar_path(recording)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_sidecar(recording: str | Path) -> dict[str, Any] | None:
    """Read the sidecar of a recording, or None when there is none.

    Parameters
    ----------
    recording : str | Path
        The XDF file.

    Returns
    -------
    dict | None
        The document.

    Raises
    ------
    SidecarError
        The sidecar exists but is not a MirrorScope session sidecar.
    """
    path = sidecar_path(recording)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SidecarError(f"cannot read {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SidecarError(f"{path} is not a MirrorScope session sidecar (format != {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise SidecarError(f"{path}: version {doc.get('version')!r}, expected {VERSION}")
    return doc
