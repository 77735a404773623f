"""Settings remembered between runs (Qt's QSettings, an INI file in the user's config folder).

Tests point QSettings at a temporary folder with ``QSettings.setPath`` before anything is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PyQt6 import QtCore

__all__ = ["FeedbackSettings", "Settings"]

ORGANISATION = "MirrorScope"
APPLICATION = "mirrorscope"


@dataclass
class FeedbackSettings:
    """The therapist's biofeedback choices."""

    #: Mirror-ratio threshold of the patient.
    threshold: float = 0.2
    #: Shape the threshold block by block (else it stays where it was set).
    shaping: bool = False
    #: Trials per shaping block.
    block_trials: int = 10
    #: Active-side effort target band (% MVC, or % of the on-threshold without an MVC).
    target_low_percent: float = 20.0
    target_high_percent: float = 40.0
    #: Sound a tone when the threshold is exceeded.
    tone: bool = False


class Settings:
    """Typed access to the remembered settings.

    Parameters
    ----------
    path : Path | None
        An INI file to use instead of the user's (benchmarks and tests).
    """

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            self._q = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
        else:
            self._q = QtCore.QSettings(
                QtCore.QSettings.Format.IniFormat,
                QtCore.QSettings.Scope.UserScope,
                ORGANISATION,
                APPLICATION,
            )

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self._q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        return value in (True, "true", "1", 1) if value is not None else default

    # ---- display ---------------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        """Time window of the traces (s)."""
        return self._float("display/window_s", 10.0)

    @window_s.setter
    def window_s(self, value: float) -> None:
        self._q.setValue("display/window_s", float(value))

    @property
    def scale_uv(self) -> float:
        """Vertical range of the filtered traces (+- microvolts)."""
        return self._float("display/scale_uv", 200.0)

    @scale_uv.setter
    def scale_uv(self, value: float) -> None:
        self._q.setValue("display/scale_uv", float(value))

    @property
    def geometry(self) -> QtCore.QByteArray | None:
        """The experimenter window's saved geometry."""
        value = self._q.value("window/geometry")
        return value if isinstance(value, QtCore.QByteArray) else None

    @geometry.setter
    def geometry(self, value: QtCore.QByteArray) -> None:
        self._q.setValue("window/geometry", value)

    # ---- calibration and recording ------------------------------------------------------------

    @property
    def last_calibration(self) -> Path | None:
        """The calibration file saved or loaded last."""
        value = self._q.value("calibration/last_path")
        return Path(str(value)) if value else None

    @last_calibration.setter
    def last_calibration(self, path: Path) -> None:
        self._q.setValue("calibration/last_path", str(path))

    @property
    def last_folder(self) -> Path:
        """Where the last file was saved (the home folder at first)."""
        value = self._q.value("files/last_folder")
        return Path(str(value)) if value else Path.home()

    @last_folder.setter
    def last_folder(self, path: Path) -> None:
        self._q.setValue("files/last_folder", str(path))

    # ---- stream ----------------------------------------------------------------------------

    @property
    def last_stream(self) -> str:
        """Name of the stream monitored last ("" at first)."""
        return str(self._q.value("stream/last_name", "") or "")

    @last_stream.setter
    def last_stream(self, name: str) -> None:
        self._q.setValue("stream/last_name", name)

    def pairs_for(self, stream: str) -> list[dict[str, str]]:
        """The pair mapping last chosen for ``stream`` (empty if none)."""
        raw = self._q.value(f"pairs/{_key(stream)}", "")
        try:
            pairs = json.loads(str(raw)) if raw else []
        except json.JSONDecodeError:
            return []
        keys = ("name", "left", "right")
        ok = isinstance(pairs, list) and all(
            isinstance(p, dict) and all(isinstance(p.get(k), str) for k in keys) for p in pairs
        )
        return pairs if ok else []

    def set_pairs_for(self, stream: str, pairs: list[dict[str, str]]) -> None:
        """Remember the pair mapping chosen for ``stream``."""
        self._q.setValue(f"pairs/{_key(stream)}", json.dumps(pairs))

    # ---- biofeedback -----------------------------------------------------------------------

    @property
    def feedback(self) -> FeedbackSettings:
        """The biofeedback settings."""
        d = FeedbackSettings()
        return FeedbackSettings(
            threshold=self._float("feedback/threshold", d.threshold),
            shaping=self._bool("feedback/shaping", d.shaping),
            block_trials=int(self._float("feedback/block_trials", d.block_trials)),
            target_low_percent=self._float("feedback/target_low", d.target_low_percent),
            target_high_percent=self._float("feedback/target_high", d.target_high_percent),
            tone=self._bool("feedback/tone", d.tone),
        )

    @feedback.setter
    def feedback(self, value: FeedbackSettings) -> None:
        self._q.setValue("feedback/threshold", value.threshold)
        self._q.setValue("feedback/shaping", value.shaping)
        self._q.setValue("feedback/block_trials", value.block_trials)
        self._q.setValue("feedback/target_low", value.target_low_percent)
        self._q.setValue("feedback/target_high", value.target_high_percent)
        self._q.setValue("feedback/tone", value.tone)

    def sync(self) -> None:
        """Write to disk now."""
        self._q.sync()


def _key(stream: str) -> str:
    """A settings key for a stream name (QSettings treats "/" as a group separator)."""
    return stream.replace("/", "_").replace("\\", "_") or "_"
