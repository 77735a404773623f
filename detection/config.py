"""MirrorScope configuration: a typed, validated view of the TOML files under ``configs/``.

Every key has a default here, so a config that only names ``[stream]`` and ``[[pairs]]`` works.
Validation collects every problem it finds and raises one :class:`ConfigError` whose message
names each key, the value found and what was expected, so a person can fix the file in one go.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detection.errors import MirrorScopeError

__all__ = [
    "AcquisitionConfig",
    "BaselineConfig",
    "CalibrationConfig",
    "Config",
    "ConfigError",
    "CuesConfig",
    "DetectorConfig",
    "EcgConfig",
    "EnvelopeConfig",
    "FilterConfig",
    "GradingConfig",
    "MirrorConfig",
    "OutputConfig",
    "PairConfig",
    "QualityConfig",
    "StreamConfig",
    "load_config",
    "parse_config",
]

ChannelRef = str | int


class ConfigError(MirrorScopeError, ValueError):
    """A config that cannot be used, with every problem found.

    Parameters
    ----------
    problems : list of str
        One line per problem, each naming the key, the value and what is expected.
    source : str
        Where the config came from (a file path or ``"<string>"``).
    """

    def __init__(self, problems: list[str], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid config {source}:\n{lines}")


def _spec(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> dict[str, Any]:
    return {
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "choices": choices,
        "doc": doc,
    }


def _f(default: Any, **kwargs: Any) -> Any:
    return field(default=default, metadata=_spec(**kwargs))


@dataclass(frozen=True)
class StreamConfig:
    """Which LSL stream to monitor; every non-empty key must match."""

    name: str = _f("MirrorScope-Sim")
    type: str = _f("EMG")
    source_id: str = _f("")
    hostname: str = _f("")
    timeout_s: float = _f(10.0, minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class PairConfig:
    """One homologous muscle pair: channel labels (or 0-based indices) of each side."""

    name: str = _f("")
    left: str | int = _f("")
    right: str | int = _f("")


@dataclass(frozen=True)
class FilterConfig:
    """Causal band-pass and adaptive mains canceller."""

    highpass_hz: float = _f(20.0, minimum=0.0, exclusive_minimum=True)
    lowpass_hz: float = _f(450.0, minimum=0.0, exclusive_minimum=True)
    order: int = _f(4, minimum=1, maximum=8)
    mains_hz: int | str = _f("auto", choices=(50, 60, "auto", "off"))
    mains_drift_hz: float = _f(0.5, minimum=0.0, maximum=2.0)
    mains_bandwidth_hz: float = _f(1.0, minimum=0.0, maximum=10.0, exclusive_minimum=True)
    mains_detect_s: float = _f(2.0, minimum=1.0, maximum=30.0)


@dataclass(frozen=True)
class EnvelopeConfig:
    """Amplitude envelope used for thresholds, ratios and display."""

    method: str = _f("rms", choices=("rms", "lowpass"))
    window_s: float = _f(0.05, minimum=0.002, maximum=2.0)
    lowpass_hz: float = _f(6.0, minimum=0.5, maximum=50.0)
    lowpass_order: int = _f(2, minimum=1, maximum=4)


@dataclass(frozen=True)
class DetectorConfig:
    """Per-channel onset detector."""

    tkeo: bool = _f(True)
    threshold_sd: float = _f(5.0, minimum=0.0, exclusive_minimum=True)
    off_ratio: float = _f(0.5, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    min_on_s: float = _f(0.03, minimum=0.0, maximum=5.0)
    min_gap_s: float = _f(0.05, minimum=0.0, maximum=5.0)
    baseline_sd: float = _f(1.0, minimum=0.0)
    max_backdate_s: float = _f(0.3, minimum=0.0, maximum=5.0)
    warmup_s: float = _f(1.0, minimum=0.0, maximum=30.0)


@dataclass(frozen=True)
class MirrorConfig:
    """How channel activity becomes trials and mirror calls."""

    tail_s: float = _f(0.5, minimum=0.0, maximum=10.0)
    pre_onset_s: float = _f(0.05, minimum=0.0, maximum=1.0)
    cue_window_s: float = _f(3.0, minimum=0.0, maximum=60.0)
    rest_cue_grace_s: float = _f(0.5, minimum=0.0, maximum=5.0)
    min_active_s: float = _f(0.1, minimum=0.0, maximum=10.0)
    bimanual_mvc_fraction: float = _f(0.2, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    bimanual_min_ratio: float = _f(0.7, minimum=0.0, exclusive_minimum=True)
    bimanual_threshold_factor: float = _f(10.0, minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class CalibrationConfig:
    """Rest baseline and MVC."""

    rest_s: float = _f(5.0, minimum=1.0, maximum=600.0)
    max_rest_ratio: float = _f(5.0, minimum=1.0)
    file: str = _f("")
    mvc_window_s: float = _f(0.5, minimum=0.05, maximum=10.0)
    block_s: float = _f(0.25, minimum=0.05, maximum=2.0)
    quiet_factor: float = _f(1.5, minimum=1.0, exclusive_minimum=True)
    give_up_s: float = _f(60.0, minimum=5.0, maximum=3600.0)
    progress_every_s: float = _f(1.0, minimum=0.1, maximum=60.0)
    min_rest_uv: float = _f(0.5, minimum=0.0)


@dataclass(frozen=True)
class BaselineConfig:
    """The rest baseline after calibration, kept up to date in quiet stretches."""

    adapt: bool = _f(True)
    time_constant_s: float = _f(2.0, minimum=0.25, maximum=600.0)
    quiet_before_s: float = _f(0.5, minimum=0.0, maximum=30.0)
    quiet_after_s: float = _f(0.5, minimum=0.0, maximum=30.0)
    max_rate_per_s: float = _f(0.2, minimum=0.0, maximum=1.0)
    quiet_factor: float = _f(1.5, minimum=1.0, exclusive_minimum=True)
    report_share: float = _f(0.1, minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class GradingConfig:
    """Provisional 0-4 grade after Woods & Teuber (no validated EMG mapping exists)."""

    cut_points: tuple[float, ...] = _f((0.05, 0.20, 0.50))


#: An ECG beat's peak is sought this long after its detection (s; detection.ecg uses it).
ECG_PEAK_S = 0.04


@dataclass(frozen=True)
class EcgConfig:
    """Settings of the ECG canceller.

    Attributes
    ----------
    mode : {"auto", "off"}
        ``auto``: find and cancel ECG wherever it is; ``off``: pass the envelopes through.
    domain : {"signal", "power"}
        ``signal``: learn each beat's waveform in the band signal and give the envelopes of the
        signal minus it, exactly, from the detection on (needs the band signal and the
        envelopes' window: sliding RMS and TKEO, the pipeline's defaults). ``power``: subtract
        a learned template of the envelope power a beat adds (any envelope). Measured at rest
        with 150 uV R peaks (SD over the SD without ECG): detection envelope 1.02 in the
        signal domain, 1.1-1.18 in the power domain; amplitude envelope 2.2 and 4 (36
        uncorrected). The power domain cannot remove the product of ECG and noise in the
        window; what the signal domain leaves is mostly the 10 ms before each detection. The
        default is ``power``: in the live pipeline the signal domain's waveforms still learn
        EMG from beats at the start of a contraction (on the realistic stroke patient it made
        4 false mirror calls and 12 spurious activations a minute, the power domain none).
    band_hz : tuple of float
        Band the beats are detected in, on the raw signal (before the EMG high-pass).
    detect_fraction : float
        A beat is detected on its rising edge when the band's magnitude crosses this fraction
        of the learned R amplitude (lower: earlier, but closer to the noise).
    min_snr : float
        R amplitude over the band's noise level for a channel to count as carrying ECG (only
        such channels detect beats) and height of a pair's first beats over it. The noise level
        is the 99th percentile of the band's magnitude between beats (2.6 SD for Gaussian
        noise), tracked robustly, so at 4 a pair's first beats stand 10 SD above the noise and
        the detection level at ``detect_fraction`` 0.35 is 3.6 SD: a contraction that raises
        the band's noise takes its side out of detection.
    refractory_s : float
        Shortest time between two beats of a pair.
    template_s : float
        How long after a detection the beat's waveform (signal domain) or its envelope power
        (power domain) is modelled; in the signal domain the correction lasts one envelope
        window longer. At most ``refractory_s``.
    learn_rate : float
        Per-beat LMS rate of the templates, the R amplitude and the peak profile after the
        first beats (which are averaged): 0.1 follows a change within about ten beats.
    significant_ratio : float
        Template peak power over the channel's rest power above which its ECG is significant;
        only then do corrections count as ``acted``.
    """

    mode: str = _f("auto", choices=("auto", "off"))
    domain: str = _f("power", choices=("signal", "power"))
    band_hz: tuple[float, float] = _f((10.0, 40.0), minimum=0.0, exclusive_minimum=True)
    detect_fraction: float = _f(0.35, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    min_snr: float = _f(4.0, minimum=0.0, exclusive_minimum=True)
    refractory_s: float = _f(0.25, minimum=0.05, maximum=2.0)
    template_s: float = _f(0.15, minimum=0.01, maximum=2.0)
    learn_rate: float = _f(0.1, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    significant_ratio: float = _f(10.0, minimum=0.0)

    def check(self, fs_hz: float) -> list[str]:
        """Describe every impossible value at a sampling rate (empty when all are fine)."""
        problems = []
        if self.mode not in ("auto", "off"):
            problems.append(f"mode must be 'auto' or 'off', got {self.mode!r}")
        if self.domain not in ("signal", "power"):
            problems.append(f"domain must be 'signal' or 'power', got {self.domain!r}")
        low, high = self.band_hz
        if not 0.0 < low < high < 0.5 * fs_hz:
            problems.append(
                f"band_hz must be 0 < low < high < {0.5 * fs_hz:g} (Nyquist), got {self.band_hz!r}"
            )
        if not 0.0 < self.detect_fraction < 1.0:
            problems.append(f"detect_fraction must be in (0, 1), got {self.detect_fraction!r}")
        if not self.min_snr > 0.0:
            problems.append(f"min_snr must be above 0, got {self.min_snr!r}")
        if not ECG_PEAK_S < self.template_s <= self.refractory_s:
            problems.append(
                f"template_s must be above {ECG_PEAK_S:g} and at most refractory_s "
                f"({self.refractory_s!r}), got {self.template_s!r}"
            )
        if not 0.0 < self.learn_rate <= 1.0:
            problems.append(f"learn_rate must be in (0, 1], got {self.learn_rate!r}")
        if not self.significant_ratio >= 0.0:
            problems.append(f"significant_ratio must be >= 0, got {self.significant_ratio!r}")
        return problems


@dataclass(frozen=True)
class QualityConfig:
    """Channel quality checks; an excluded channel never makes a mirror call."""

    clip_min_uv: float = _f(1000.0, minimum=0.0, exclusive_minimum=True)
    clipping_fraction: float = _f(0.001, minimum=0.0, maximum=1.0)
    saturation_run_s: float = _f(0.05, minimum=0.001, maximum=10.0)
    flat_ratio: float = _f(0.5, minimum=0.0, maximum=1.0)
    flat_s: float = _f(0.2, minimum=0.01, maximum=60.0)
    settle_s: float = _f(0.3, minimum=0.0, maximum=10.0)
    motion_uv: float = _f(50.0, minimum=0.0, exclusive_minimum=True)
    motion_low_hz: float = _f(3.0, minimum=3.0, maximum=15.0)
    mains_residual_ratio: float = _f(0.5, minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class CuesConfig:
    """Optional LSL marker stream telling which side is meant to move."""

    stream: str = _f("")


@dataclass(frozen=True)
class OutputConfig:
    """LSL outlets the monitor publishes."""

    events_stream: str = _f("MirrorScope-Events")
    envelope_stream: str = _f("MirrorScope-Envelopes")
    envelope_rate_hz: float = _f(100.0, minimum=1.0, maximum=1000.0)


@dataclass(frozen=True)
class AcquisitionConfig:
    """How the live runner reads the stream."""

    clock_sync: bool = _f(True)
    dejitter: bool = _f(True)
    gap_tolerance_s: float = _f(0.05, minimum=0.0, maximum=10.0, exclusive_minimum=True)
    lost_after_s: float = _f(2.0, minimum=0.1, maximum=60.0)
    display_s: float = _f(30.0, minimum=1.0, maximum=600.0)


@dataclass(frozen=True)
class Config:
    """A whole MirrorScope configuration."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    pairs: tuple[PairConfig, ...] = field(
        default_factory=lambda: (PairConfig(name="FDI", left="FDI-L", right="FDI-R"),)
    )
    filter: FilterConfig = field(default_factory=FilterConfig)
    envelope: EnvelopeConfig = field(default_factory=EnvelopeConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    mirror: MirrorConfig = field(default_factory=MirrorConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    ecg: EcgConfig = field(default_factory=EcgConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)

    def replace(self, section: str, **changes: Any) -> Config:
        """Return a copy with keys of one section changed (validated like a file).

        Parameters
        ----------
        section : str
            Section name, e.g. ``"detector"``.
        **changes
            Keys of that section and their new values.

        Returns
        -------
        Config
            The new, validated config.
        """
        data = to_dict(self)
        data.setdefault(section, {}).update(changes)
        return parse_config(data, source=f"<replace {section}>")

    def with_pairs(self, pairs: Sequence[PairConfig]) -> Config:
        """Return a copy with other homologous pairs (validated like a file).

        Parameters
        ----------
        pairs : sequence of PairConfig
            The new ``[[pairs]]``.

        Returns
        -------
        Config
            The new, validated config.
        """
        data = to_dict(self)
        data["pairs"] = [{"name": p.name, "left": p.left, "right": p.right} for p in pairs]
        return parse_config(data, source="<with_pairs>")


_SECTIONS: dict[str, type] = {
    "stream": StreamConfig,
    "filter": FilterConfig,
    "envelope": EnvelopeConfig,
    "detector": DetectorConfig,
    "mirror": MirrorConfig,
    "calibration": CalibrationConfig,
    "baseline": BaselineConfig,
    "grading": GradingConfig,
    "quality": QualityConfig,
    "ecg": EcgConfig,
    "cues": CuesConfig,
    "output": OutputConfig,
    "acquisition": AcquisitionConfig,
}
_REQUIRED_SECTIONS = ("stream", "pairs")


def _type_name(annotation: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) is tuple:
        return "a list of numbers"
    args = typing.get_args(annotation)
    return " or ".join(_type_name(a) for a in args)


def _matches(annotation: Any, value: Any) -> bool:
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if typing.get_origin(annotation) is tuple:
        return isinstance(value, (list, tuple)) and all(_matches(float, v) for v in value)
    if isinstance(annotation, types.UnionType):
        return any(_matches(a, value) for a in typing.get_args(annotation))
    raise TypeError(f"unsupported config annotation {annotation!r}")


def _convert(annotation: Any, value: Any) -> Any:
    if annotation is float:
        return float(value)
    if typing.get_origin(annotation) is tuple:
        return tuple(float(v) for v in value)
    return value


def _check_field(key: str, fld: dataclasses.Field, value: Any, problems: list[str]) -> Any:
    annotation = _HINTS.get(fld.name)
    meta = fld.metadata
    choices = meta.get("choices")
    if choices is not None:
        if not any(type(value) is type(c) and value == c for c in choices):
            expected = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
            problems.append(f"{key} = {value!r}: expected one of {expected}")
            return dataclasses.MISSING
        return value
    if annotation is None or not _matches(annotation, value):
        problems.append(f"{key} = {value!r}: expected {_type_name(annotation)}")
        return dataclasses.MISSING
    value = _convert(annotation, value)
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{key} = {value!r}: expected a finite number")
        return dataclasses.MISSING
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if minimum is not None:
            too_low = value <= minimum if meta.get("exclusive_minimum") else value < minimum
            if too_low:
                rel = "above" if meta.get("exclusive_minimum") else "at least"
                problems.append(f"{key} = {value!r}: expected a value {rel} {minimum}")
                return dataclasses.MISSING
        if maximum is not None and value > maximum:
            problems.append(f"{key} = {value!r}: expected a value at most {maximum}")
            return dataclasses.MISSING
    return value


def _all_hints() -> dict[str, Any]:
    hints: dict[str, Any] = {}
    for cls in (*_SECTIONS.values(), PairConfig):
        for name, hint in typing.get_type_hints(cls, globalns=globals()).items():
            hints.setdefault(name, hint)
            if hints[name] != hint:
                raise TypeError(f"config field {name} has two types")
    return hints


_HINTS = _all_hints()


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}expected one of {', '.join(known)}"


def _parse_section(prefix: str, cls: type, raw: Any, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{prefix} = {raw!r}: expected a table ([{prefix}])")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            problems.append(f"{prefix}.{key}: unknown key; {_suggest(key, list(fields))}")
            continue
        checked = _check_field(f"{prefix}.{key}", fields[key], value, problems)
        if checked is not dataclasses.MISSING:
            values[key] = checked
    return cls(**values)


def _parse_pairs(raw: Any, problems: list[str]) -> tuple[PairConfig, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"pairs = {raw!r}: expected at least one [[pairs]] table")
        return ()
    pairs = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        key = f"pairs[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{key} = {item!r}: expected a table with name, left and right")
            continue
        for required in ("name", "left", "right"):
            if required not in item:
                problems.append(f"{key}.{required}: missing; expected a value")
        pair = _parse_section(key, PairConfig, item, problems)
        if not pair.name and "name" in item:
            problems.append(f"{key}.name = '': expected a non-empty name")
        for side in ("left", "right"):
            ref = getattr(pair, side)
            if isinstance(ref, int) and ref < 0:
                problems.append(f"{key}.{side} = {ref}: expected a 0-based index (>= 0)")
            if isinstance(ref, str) and not ref and side in item:
                problems.append(f"{key}.{side} = '': expected a channel label or index")
        if "left" in item and "right" in item and pair.left == pair.right:
            problems.append(
                f"{key}.right = {pair.right!r}: names the same channel as {key}.left;"
                " expected two different channels"
            )
        if pair.name in names:
            problems.append(f"{key}.name = {pair.name!r}: expected a name not used by another pair")
        names.add(pair.name)
        pairs.append(pair)
    used: dict[ChannelRef, str] = {}
    for i, pair in enumerate(pairs):
        for side in ("left", "right"):
            ref = getattr(pair, side)
            if ref in used and ref != "" and not used[ref].startswith(f"pairs[{i}]."):
                problems.append(
                    f"pairs[{i}].{side} = {ref!r}: already used by {used[ref]};"
                    " expected each channel in one pair only"
                )
            used[ref] = f"pairs[{i}].{side}"
    return tuple(pairs)


def _cross_checks(cfg: Config, problems: list[str]) -> None:
    flt = cfg.filter
    if flt.highpass_hz >= flt.lowpass_hz:
        problems.append(
            f"filter.highpass_hz = {flt.highpass_hz}: expected a value below "
            f"filter.lowpass_hz ({flt.lowpass_hz})"
        )
    cuts = cfg.grading.cut_points
    if len(cuts) != 3 or any(not 0 < c < 10 for c in cuts) or list(cuts) != sorted(set(cuts)):
        problems.append(
            f"grading.cut_points = {list(cuts)}: expected three increasing ratios above 0,"
            " e.g. [0.05, 0.2, 0.5]"
        )
    det = cfg.detector
    if det.warmup_s >= cfg.calibration.rest_s:
        problems.append(
            f"detector.warmup_s = {det.warmup_s}: expected a value below calibration.rest_s "
            f"({cfg.calibration.rest_s}) so that some rest is left to measure"
        )
    if cfg.envelope.method == "lowpass" and cfg.envelope.lowpass_hz >= flt.highpass_hz:
        problems.append(
            f"envelope.lowpass_hz = {cfg.envelope.lowpass_hz}: expected a value below "
            f"filter.highpass_hz ({flt.highpass_hz})"
        )


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a validated :class:`Config` from already-parsed TOML data.

    Parameters
    ----------
    data : dict
        The TOML document as a dict (as :func:`tomllib.loads` returns it).
    source : str
        Name used in error messages.

    Returns
    -------
    Config
        The validated configuration.

    Raises
    ------
    ConfigError
        If any key is unknown, of the wrong type or holds an impossible value.
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"top level = {data!r}: expected a table of sections"], source)
    known = (*_SECTIONS, "pairs")
    for key in data:
        if key not in known:
            problems.append(f"{key}: unknown section; {_suggest(key, list(known))}")
    for key in _REQUIRED_SECTIONS:
        if key not in data:
            what = "[[pairs]] tables" if key == "pairs" else f"a [{key}] table"
            problems.append(f"{key}: missing; expected {what}")
    sections = {
        name: _parse_section(name, cls, data.get(name, {}), problems)
        for name, cls in _SECTIONS.items()
    }
    pairs = _parse_pairs(data["pairs"], problems) if "pairs" in data else ()
    cfg = Config(pairs=pairs, **sections) if pairs else Config(**sections)
    _cross_checks(cfg, problems)
    if problems:
        raise ConfigError(problems, source)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file.

    Parameters
    ----------
    path : str | Path
        The file to read.

    Returns
    -------
    Config
        The validated configuration.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or fails validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read the file: {err.strerror or err}"], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], str(path)) from None
    return loads_config(text, source=str(path))


def loads_config(text: str, source: str = "<string>") -> Config:
    """Parse and validate TOML text.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Name used in error messages.

    Returns
    -------
    Config
        The validated configuration.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"not valid TOML: {err}"], source) from None
    return parse_config(data, source)


def to_dict(cfg: Config) -> dict[str, Any]:
    """Return the config as plain TOML-able data (for sidecar files and round trips).

    Parameters
    ----------
    cfg : Config
        The config.

    Returns
    -------
    dict
        Sections as dicts, pairs as a list of dicts.
    """
    out: dict[str, Any] = {}
    for name in _SECTIONS:
        section = dataclasses.asdict(getattr(cfg, name))
        out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}
    out["pairs"] = [dataclasses.asdict(p) for p in cfg.pairs]
    return out


def check_for_rate(cfg: Config, fs_hz: float) -> None:
    """Check the parts of a config that depend on the stream's sampling rate.

    Parameters
    ----------
    cfg : Config
        The config.
    fs_hz : float
        The stream's nominal sampling rate.

    Raises
    ------
    ConfigError
        If a cut-off cannot work at this rate.
    """
    problems = []
    nyquist = fs_hz / 2.0
    if cfg.filter.highpass_hz >= 0.9 * nyquist:
        problems.append(
            f"filter.highpass_hz = {cfg.filter.highpass_hz}: expected a value below "
            f"{0.9 * nyquist:g} Hz (90 % of Nyquist for a {fs_hz:g} Hz stream)"
        )
    if cfg.envelope.window_s * fs_hz < 2:
        problems.append(
            f"envelope.window_s = {cfg.envelope.window_s}: expected at least 2 samples "
            f"at {fs_hz:g} Hz"
        )
    problems += [f"ecg.{problem}" for problem in cfg.ecg.check(fs_hz)]
    if problems:
        raise ConfigError(problems, f"<config at {fs_hz:g} Hz>")
