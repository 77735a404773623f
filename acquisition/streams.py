"""Finding LSL streams and reading what they declare about themselves.

Resolution never guesses: no match within the timeout lists what is visible; two matches list
both and say to pin ``source_id``. A monitor pinned by ``source_id`` (and optionally hostname)
ignores other streams of the same name and logs that it saw them: LSL has no authentication.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pylsl

from detection.config import Config, PairConfig, StreamConfig
from detection.errors import MirrorScopeError
from detection.pipeline import ChannelMapError, resolve_pairs

__all__ = [
    "AmbiguousStreamError",
    "ChannelSelection",
    "StreamFormatError",
    "StreamNotFoundError",
    "StreamSummary",
    "check_emg_stream",
    "describe",
    "find_stream",
    "list_streams",
    "microvolts_per_unit",
    "select_channels",
]

log = logging.getLogger(__name__)

#: Extra time to keep listening after a first match, so that a duplicate is not missed.
DUPLICATE_GRACE_S = 1.5

_UNIT_SCALE_TO_UV = {
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
    "mv": 1e3,
    "millivolt": 1e3,
    "millivolts": 1e3,
    "uv": 1.0,
    "µv": 1.0,  # the micro sign, as most amplifiers write it
    "μv": 1.0,  # Greek mu, also seen
    "microvolt": 1.0,
    "microvolts": 1.0,
    "nv": 1e-3,
    "nanovolts": 1e-3,
}


class StreamNotFoundError(MirrorScopeError):
    """No visible stream matches the configuration."""


class AmbiguousStreamError(MirrorScopeError):
    """More than one visible stream matches the configuration."""


class StreamFormatError(MirrorScopeError):
    """The stream cannot carry EMG (irregular rate, strings, no channels)."""


@dataclass(frozen=True)
class StreamSummary:
    """What a stream declares about itself."""

    name: str
    type: str
    channel_count: int
    nominal_srate: float
    channel_format: str
    source_id: str
    hostname: str
    uid: str
    labels: tuple[str, ...] = ()
    units: tuple[str, ...] = ()

    def line(self) -> str:
        """One line for error messages."""
        return (
            f"{self.name!r} (type {self.type!r}, {self.channel_count} ch, "
            f"{self.nominal_srate:g} Hz, {self.channel_format}, source_id {self.source_id!r}, "
            f"host {self.hostname!r})"
        )


_FORMATS = {
    pylsl.cf_float32: "float32",
    pylsl.cf_double64: "double64",
    pylsl.cf_string: "string",
    pylsl.cf_int32: "int32",
    pylsl.cf_int16: "int16",
    pylsl.cf_int8: "int8",
    pylsl.cf_int64: "int64",
}


def describe(info: pylsl.StreamInfo) -> StreamSummary:
    """Summarise a stream info (with channel labels and units when its description has them).

    Parameters
    ----------
    info : pylsl.StreamInfo
        From a resolver (no description) or from ``inlet.info()`` (full description).

    Returns
    -------
    StreamSummary
        The summary.
    """
    labels: list[str] = []
    units: list[str] = []
    try:
        root = ET.fromstring(info.as_xml())
    except ET.ParseError:
        root = None
    if root is not None:
        for channel in root.findall("./desc/channels/channel"):
            labels.append((channel.findtext("label") or "").strip())
            units.append((channel.findtext("unit") or "").strip())
    if len(labels) != info.channel_count():
        labels, units = [], []
    return StreamSummary(
        name=info.name(),
        type=info.type(),
        channel_count=info.channel_count(),
        nominal_srate=info.nominal_srate(),
        channel_format=_FORMATS.get(info.channel_format(), str(info.channel_format())),
        source_id=info.source_id(),
        hostname=info.hostname(),
        uid=info.uid(),
        labels=tuple(labels),
        units=tuple(units),
    )


def list_streams(wait_s: float = 1.0) -> list[StreamSummary]:
    """Every stream visible within ``wait_s``, sorted by name.

    Parameters
    ----------
    wait_s : float
        How long to listen.

    Returns
    -------
    list of StreamSummary
        The streams.
    """
    infos = pylsl.resolve_streams(wait_time=wait_s)
    return sorted((describe(i) for i in infos), key=lambda s: (s.name, s.source_id))


def _wanted(cfg: StreamConfig) -> dict[str, str]:
    return {
        key: value
        for key, value in (
            ("name", cfg.name),
            ("type", cfg.type),
            ("source_id", cfg.source_id),
            ("hostname", cfg.hostname),
        )
        if value
    }


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"


def _predicate(wanted: dict[str, str]) -> str:
    return " and ".join(f"{key}={_xpath_literal(value)}" for key, value in wanted.items())


def _unique(infos: list[pylsl.StreamInfo]) -> list[pylsl.StreamInfo]:
    seen: dict[str, pylsl.StreamInfo] = {}
    for info in infos:
        seen.setdefault(info.uid(), info)
    return list(seen.values())


def find_stream(cfg: StreamConfig, timeout_s: float | None = None) -> pylsl.StreamInfo:
    """Find the one stream the configuration names.

    Parameters
    ----------
    cfg : StreamConfig
        Every non-empty key must match.
    timeout_s : float | None
        How long to look; defaults to ``cfg.timeout_s``.

    Returns
    -------
    pylsl.StreamInfo
        The stream.

    Raises
    ------
    StreamNotFoundError
        Nothing matched; the message lists what is visible.
    AmbiguousStreamError
        Several matched; the message lists them and says to pin ``source_id``.
    """
    timeout_s = cfg.timeout_s if timeout_s is None else timeout_s
    wanted = _wanted(cfg)
    description = ", ".join(f"{k}={v!r}" for k, v in wanted.items()) or "any stream"
    predicate = _predicate(wanted) if wanted else "channel_count>0"
    # One targeted query for the whole timeout (only matching outlets answer), then a short
    # second one that asks for two, so that a duplicate is not missed.
    matches = _unique(pylsl.resolve_bypred(predicate, minimum=1, timeout=timeout_s))
    if matches:
        matches = _unique(
            matches + pylsl.resolve_bypred(predicate, minimum=2, timeout=DUPLICATE_GRACE_S)
        )
    if not matches:
        visible = sorted(s.line() for s in list_streams(1.0))
        listing = "\n  ".join(visible) if visible else "(none)"
        raise StreamNotFoundError(
            f"no LSL stream with {description} found within {timeout_s:g} s. Visible streams:\n"
            f"  {listing}"
        )
    if len(matches) > 1:
        listing = "\n  ".join(sorted(describe(i).line() for i in matches))
        raise AmbiguousStreamError(
            f"{len(matches)} LSL streams match {description}; refusing to pick one. Pin the "
            f"amplifier with [stream] source_id (or --source-id):\n  {listing}"
        )
    if cfg.source_id and cfg.name:
        same_name = pylsl.resolve_bypred(
            f"name={_xpath_literal(cfg.name)}", minimum=2, timeout=DUPLICATE_GRACE_S
        )
        for info in _unique(same_name):
            if info.uid() != matches[0].uid():
                log.warning(
                    "ignoring another stream named %r (source_id %r on %s): not the pinned one",
                    info.name(),
                    info.source_id(),
                    info.hostname(),
                )
    return matches[0]


def check_emg_stream(summary: StreamSummary) -> None:
    """Refuse a stream that cannot carry EMG, saying why.

    Parameters
    ----------
    summary : StreamSummary
        The stream.

    Raises
    ------
    StreamFormatError
        Irregular rate, string samples or no channels.
    """
    if summary.nominal_srate <= 0:
        raise StreamFormatError(
            f"stream {summary.name!r} has an irregular sampling rate; EMG needs a regular "
            "rate (filters and onset timing are built on it)"
        )
    if summary.channel_format == "string":
        raise StreamFormatError(
            f"stream {summary.name!r} carries strings (a marker stream?); EMG needs numbers"
        )
    if summary.channel_count < 2:
        raise StreamFormatError(
            f"stream {summary.name!r} has {summary.channel_count} channel; a homologous pair "
            "needs two"
        )


def microvolts_per_unit(unit: str) -> float | None:
    """Scale from a declared unit to microvolts (None when the unit is unknown or empty)."""
    return _UNIT_SCALE_TO_UV.get(unit.strip().lower())


@dataclass(frozen=True)
class ChannelSelection:
    """Which stream columns feed the pipeline, under which labels and scales."""

    columns: tuple[int, ...]
    labels: tuple[str, ...]
    scale_to_uv: tuple[float, ...]
    pairs: tuple[PairConfig, ...]


def select_channels(summary: StreamSummary, cfg: Config) -> ChannelSelection:
    """Map the configured pairs onto the stream's columns.

    Pairs name channels by label (from the stream's metadata) or by 0-based index. The pipeline
    then sees only the paired columns, with pairs rewritten to labels.

    Parameters
    ----------
    summary : StreamSummary
        Full stream summary (from ``inlet.info()``).
    cfg : Config
        The config.

    Returns
    -------
    ChannelSelection
        Columns, labels, unit scales and rewritten pairs.
    """
    labels = list(summary.labels) or [f"ch{i}" for i in range(summary.channel_count)]
    if not summary.labels:
        by_label = [
            f"pairs[{i}].{side} = {getattr(p, side)!r}"
            for i, p in enumerate(cfg.pairs)
            for side in ("left", "right")
            if isinstance(getattr(p, side), str)
        ]
        if by_label:
            raise ChannelMapError(
                f"stream {summary.name!r} declares no channel labels, so "
                f"{', '.join(by_label)} cannot be found; name channels by 0-based index "
                f"(0-{summary.channel_count - 1})"
            )
    resolved = resolve_pairs(cfg, labels)
    columns: list[int] = []
    pairs: list[PairConfig] = []
    for name, left, right in resolved:
        columns.extend((left, right))
        pairs.append(PairConfig(name=name, left=labels[left], right=labels[right]))
    scales = []
    for column in columns:
        unit = summary.units[column] if summary.units else ""
        scale = microvolts_per_unit(unit)
        if scale is None:
            if unit:
                log.warning(
                    "channel %s declares unit %r; treating its values as microvolts",
                    labels[column],
                    unit,
                )
            scale = 1.0
        scales.append(scale)
    return ChannelSelection(
        columns=tuple(columns),
        labels=tuple(labels[c] for c in columns),
        scale_to_uv=tuple(scales),
        pairs=tuple(pairs),
    )
