"""The typed records of a session's analysis: what ``summary.json`` holds.

:mod:`acquisition.session_analysis` fills them, the report and the ``analyze`` command read them
by attribute, and ``to_dict()`` gives exactly the JSON other programs read (same keys, in the
same order, same rounding; tuples become lists). Values are stored already rounded, as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detection.config import Config, to_dict
from detection.offline import PairSummary

__all__ = [
    "CalibrationSummary",
    "ChannelRest",
    "PairReport",
    "RecordingSummary",
    "Reproduction",
    "SessionSummary",
    "Software",
]


@dataclass(frozen=True)
class Software:
    """The program that made the analysis."""

    name: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class RecordingSummary:
    """What the file held and how much of it was processed."""

    emg_stream: str
    fs_hz: float
    channels: tuple[str, ...]
    duration_s: float
    #: Where processing began, from the start of the file.
    processed_from_s: float
    processed_s: float
    cue_markers: int
    cues_used: bool
    #: Events the live monitor published into the recording (None: no such stream).
    live_events: int | None
    #: One line per stream of the file that was not used.
    other_streams: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples as lists)."""
        return {
            "emg_stream": self.emg_stream,
            "fs_hz": self.fs_hz,
            "channels": list(self.channels),
            "duration_s": self.duration_s,
            "processed_from_s": self.processed_from_s,
            "processed_s": self.processed_s,
            "cue_markers": self.cue_markers,
            "cues_used": self.cues_used,
            "live_events": self.live_events,
            "other_streams": list(self.other_streams),
        }


@dataclass(frozen=True)
class ChannelRest:
    """One channel's rest baseline."""

    label: str
    rest_mean_uv: float
    rest_sd_uv: float
    #: Seconds of quiet signal it was measured on (None: calibrated on a rest block).
    measured_on_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, without the label (the key it is filed under).

        ``measured_on_s`` is left out when there is none, as ``summary.json`` always did.
        """
        out: dict[str, Any] = {"rest_mean_uv": self.rest_mean_uv, "rest_sd_uv": self.rest_sd_uv}
        if self.measured_on_s is not None:
            out["measured_on_s"] = self.measured_on_s
        return out


@dataclass(frozen=True)
class CalibrationSummary:
    """Where the calibration came from and each channel's baseline."""

    #: In plain words.
    source: str
    mains_hz: int | None
    #: In channel order; empty when the calibration never succeeded.
    channels: tuple[ChannelRest, ...]

    def channel(self, label: str) -> ChannelRest:
        """The baseline of the channel ``label`` (KeyError when there is none)."""
        for ch in self.channels:
            if ch.label == label:
                return ch
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (channels as a dict keyed by label)."""
        return {
            "source": self.source,
            "mains_hz": self.mains_hz,
            "channels": {ch.label: ch.to_dict() for ch in self.channels},
        }


@dataclass(frozen=True)
class Reproduction:
    """How the offline trials compare with those the live monitor published."""

    live_trials: int
    offline_trials: int
    #: Trials with the same JSON.
    identical: int
    #: Trials equal but for times within the matching tolerance.
    matching: int
    max_time_difference_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "live_trials": self.live_trials,
            "offline_trials": self.offline_trials,
            "identical": self.identical,
            "matching": self.matching,
            "max_time_difference_ms": self.max_time_difference_ms,
        }


@dataclass(frozen=True)
class PairReport:
    """A pair's summary with its plain-language signatures."""

    summary: PairSummary
    signatures: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The summary's JSON with a ``signatures`` list appended."""
        return {**self.summary.to_dict(), "signatures": list(self.signatures)}


@dataclass(frozen=True)
class SessionSummary:
    """Everything ``summary.json`` holds."""

    #: The recording's file name.
    file: str
    #: ``"xdf"`` or ``"npz"``.
    kind: str
    #: ISO 8601 in UTC, to the second.
    analyzed_utc: str
    software: Software
    recording: RecordingSummary
    calibration: CalibrationSummary
    #: Event counts by kind (status events by ``status:<state>``), sorted by kind.
    events: tuple[tuple[str, int], ...]
    pairs: tuple[PairReport, ...]
    #: None unless the file holds what the live monitor processed and published.
    reproduction: Reproduction | None
    config: Config
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``summary.json``."""
        return {
            "file": self.file,
            "kind": self.kind,
            "analyzed_utc": self.analyzed_utc,
            "software": self.software.to_dict(),
            "recording": self.recording.to_dict(),
            "calibration": self.calibration.to_dict(),
            "events": dict(self.events),
            "pairs": [p.to_dict() for p in self.pairs],
            "reproduction": None if self.reproduction is None else self.reproduction.to_dict(),
            "config": to_dict(self.config),
            "notes": list(self.notes),
        }
