"""Calibration: rest baseline and MVC per channel, saved to and loaded from JSON.

The rest statistics depend on how the envelopes were computed, so a calibration records the
settings it was measured with, and loading it under different settings is refused with a
message saying which setting differs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detection.config import Config
from detection.errors import MirrorScopeError

__all__ = [
    "Calibration",
    "CalibrationError",
    "ChannelCalibration",
    "MvcMeter",
    "calibration_settings",
    "rest_statistics",
]

FORMAT = "mirrorscope-calibration"
VERSION = 1


class CalibrationError(MirrorScopeError):
    """A calibration file that cannot be used, and why."""


@dataclass(frozen=True)
class ChannelCalibration:
    """Rest and MVC levels of one channel."""

    #: Amplitude envelope at rest: mean and SD (microvolts).
    rest_mean_uv: float
    rest_sd_uv: float
    #: Detection envelope at rest: mean and SD (its own units; microvolts without TKEO).
    detect_mean: float
    detect_sd: float
    #: Maximum voluntary contraction level of the amplitude envelope, if measured.
    mvc_uv: float | None = None


def calibration_settings(cfg: Config) -> dict[str, Any]:
    """The settings that rest statistics depend on.

    Parameters
    ----------
    cfg : Config
        The config in force.

    Returns
    -------
    dict
        Setting name (as in the config) to value.
    """
    settings: dict[str, Any] = {
        "filter.highpass_hz": cfg.filter.highpass_hz,
        "filter.lowpass_hz": cfg.filter.lowpass_hz,
        "filter.order": cfg.filter.order,
        "envelope.method": cfg.envelope.method,
        "envelope.window_s": cfg.envelope.window_s,
        "detector.tkeo": cfg.detector.tkeo,
    }
    if cfg.envelope.method == "lowpass":
        settings["envelope.lowpass_hz"] = cfg.envelope.lowpass_hz
        settings["envelope.lowpass_order"] = cfg.envelope.lowpass_order
    return settings


@dataclass(frozen=True)
class Calibration:
    """Rest baseline (and optionally MVC) of every channel, by label."""

    channels: dict[str, ChannelCalibration]
    fs_hz: float
    #: Mains frequency found or configured (None when mains removal is off).
    mains_hz: int | None
    settings: dict[str, Any]
    created_utc: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    def with_mvc(self, mvc_uv: dict[str, float]) -> Calibration:
        """Return a copy with MVC levels set for some channels.

        Parameters
        ----------
        mvc_uv : dict
            Channel label to MVC envelope level in microvolts.

        Returns
        -------
        Calibration
            The updated calibration.
        """
        channels = dict(self.channels)
        for label, value in mvc_uv.items():
            if label not in channels:
                raise CalibrationError(
                    f"MVC for unknown channel {label!r}; calibrated channels are "
                    f"{', '.join(channels)}"
                )
            channels[label] = replace(channels[label], mvc_uv=float(value))
        return replace(self, channels=channels)

    def to_json(self) -> str:
        """Serialise to JSON text."""
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "created_utc": self.created_utc,
            "fs_hz": self.fs_hz,
            "mains_hz": self.mains_hz,
            "settings": self.settings,
            "channels": {label: asdict(ch) for label, ch in self.channels.items()},
        }
        return json.dumps(doc, indent=2)

    def save(self, path: str | Path) -> None:
        """Write to a JSON file.

        Parameters
        ----------
        path : str | Path
            Destination.
        """
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str, source: str = "<calibration>") -> Calibration:
        """Parse and validate JSON text.

        Parameters
        ----------
        text : str
            The JSON document.
        source : str
            Name used in error messages.

        Returns
        -------
        Calibration
            The calibration.

        Raises
        ------
        CalibrationError
            If the document is not a valid calibration.
        """
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise CalibrationError(f"{source}: not valid JSON ({err})") from None
        return _parse(doc, source)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read and validate a calibration file.

        Parameters
        ----------
        path : str | Path
            The file.

        Returns
        -------
        Calibration
            The calibration.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CalibrationError(f"cannot read calibration {path}: {err}") from None
        return cls.from_json(text, str(path))

    def check_compatible(self, cfg: Config, labels: list[str], fs_hz: float) -> None:
        """Refuse a calibration measured under other settings or for other channels.

        Parameters
        ----------
        cfg : Config
            The config in force.
        labels : list of str
            Channel labels of the pipeline.
        fs_hz : float
            Sampling rate of the stream.

        Raises
        ------
        CalibrationError
            Naming the first difference found.
        """
        missing = [label for label in labels if label not in self.channels]
        if missing:
            raise CalibrationError(
                f"calibration has no channel {', '.join(map(repr, missing))}; it holds "
                f"{', '.join(self.channels)}: measure rest again for these channels"
            )
        if not math.isclose(self.fs_hz, fs_hz, rel_tol=1e-3):
            raise CalibrationError(
                f"calibration was measured at {self.fs_hz:g} Hz; the stream runs at {fs_hz:g} Hz"
            )
        for key, value in calibration_settings(cfg).items():
            if self.settings.get(key) != value:
                raise CalibrationError(
                    f"calibration was measured with {key} = {self.settings.get(key)!r}; the "
                    f"config has {value!r}: measure rest again or change the config"
                )


def _number(doc: dict, key: str, where: str, *, positive: bool = False) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationError(f"{where}.{key} = {value!r}: expected a finite number")
    if positive and value <= 0:
        raise CalibrationError(f"{where}.{key} = {value!r}: expected a number above 0")
    if value < 0:
        raise CalibrationError(f"{where}.{key} = {value!r}: expected a number >= 0")
    return float(value)


def _parse(doc: Any, source: str) -> Calibration:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CalibrationError(f"{source}: not a MirrorScope calibration (format != {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise CalibrationError(f"{source}: version = {doc.get('version')!r}: expected {VERSION}")
    fs_hz = _number(doc, "fs_hz", source, positive=True)
    mains = doc.get("mains_hz")
    if mains not in (None, 50, 60) or isinstance(mains, bool):
        raise CalibrationError(f"{source}.mains_hz = {mains!r}: expected 50, 60 or null")
    settings = doc.get("settings")
    if not isinstance(settings, dict):
        raise CalibrationError(f"{source}.settings = {settings!r}: expected an object")
    raw_channels = doc.get("channels")
    if not isinstance(raw_channels, dict) or not raw_channels:
        raise CalibrationError(f"{source}.channels: expected an object of channels")
    channels = {}
    for label, raw in raw_channels.items():
        where = f"{source}.channels[{label!r}]"
        if not isinstance(raw, dict):
            raise CalibrationError(f"{where} = {raw!r}: expected an object")
        mvc = raw.get("mvc_uv")
        channels[label] = ChannelCalibration(
            rest_mean_uv=_number(raw, "rest_mean_uv", where),
            rest_sd_uv=_number(raw, "rest_sd_uv", where, positive=True),
            detect_mean=_number(raw, "detect_mean", where),
            detect_sd=_number(raw, "detect_sd", where, positive=True),
            mvc_uv=None if mvc is None else _number(raw, "mvc_uv", where, positive=True),
        )
    created = doc.get("created_utc", "")
    return Calibration(
        channels=channels,
        fs_hz=fs_hz,
        mains_hz=mains,
        settings=settings,
        created_utc=str(created),
    )


def rest_statistics(values: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD per channel over the usable samples of a rest stretch.

    Parameters
    ----------
    values : ndarray, shape (n_samples, n_channels)
        An envelope at rest.
    usable : ndarray of bool, same shape
        Which samples count.

    Returns
    -------
    mean, sd : ndarray, shape (n_channels,)
        Statistics; the SD never falls below 1e-6 (a perfectly flat channel).
    """
    count = usable.sum(axis=0)
    safe = np.maximum(count, 1)
    mean = np.where(usable, values, 0.0).sum(axis=0) / safe
    var = np.where(usable, (values - mean) ** 2, 0.0).sum(axis=0) / safe
    return mean, np.maximum(np.sqrt(var), 1e-6)


class MvcMeter:
    """The largest mean amplitude envelope over a sliding window, per channel.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    window_s : float
        Averaging window (a brief spike must not count as a maximum contraction).
    """

    def __init__(self, fs_hz: float, n_channels: int, window_s: float) -> None:
        self._window_n = max(1, round(window_s * fs_hz))
        self._tail = np.zeros((0, n_channels))
        self.peak_uv = np.full(n_channels, np.nan)

    def process(self, envelope_uv: np.ndarray, usable: np.ndarray) -> None:
        """Feed a chunk of amplitude envelope (unusable samples count as zero)."""
        values = np.concatenate((self._tail, np.where(usable, envelope_uv, 0.0)), axis=0)
        n = self._window_n
        if len(values) >= n:
            cumulative = np.concatenate((np.zeros((1, values.shape[1])), np.cumsum(values, 0)))
            means = (cumulative[n:] - cumulative[:-n]) / n
            self.peak_uv = np.fmax(self.peak_uv, means.max(axis=0))
        self._tail = values[max(0, len(values) - (n - 1)) :]
