"""The events of ../shared/DESIGN.md, built in one place so their keys never drift.

Other programs parse these, so every builder returns exactly the documented keys, in the
documented order. Times are in the EMG stream's own time base (seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

__all__ = [
    "EVENT_KINDS",
    "STATUS_STATES",
    "ActivationOffset",
    "ActivationOnset",
    "Event",
    "EventKind",
    "EventPayload",
    "MirrorOffset",
    "MirrorOnset",
    "Side",
    "State",
    "Status",
    "StatusState",
    "Trial",
    "activation_offset",
    "activation_onset",
    "mirror_offset",
    "mirror_onset",
    "status",
    "trial",
]

#: The ``event`` field: what kind of event a payload is.
EventKind = Literal[
    "activation_onset", "activation_offset", "mirror_onset", "mirror_offset", "trial", "status"
]
EVENT_KINDS: Final[tuple[str, ...]] = get_args(EventKind)

#: The ``state`` of a ``status`` event. Every state any part of MirrorScope publishes is here;
#: code names them through :class:`State`, never by typing the string.
StatusState = Literal[
    "calibrating",  # rest collected for the calibration so far (rest_s_so_far, rest_s), ~1/s
    "calibrated",  # the rest calibration is done: thresholds in force (mains_hz, rest_uv)
    "calibration_failed",  # an explicit rest held movement, or no usable rest for long (reason,
    # channels); the calibration goes on looking
    "baseline_updated",  # the rest baseline followed the noise floor (channels moved, rest_uv)
    "channel_flagged",  # a quality flag was raised on a channel (channel, flag)
    "channel_cleared",  # ... and cleared again (channel, flag)
    "gap",  # the timestamps jumped forward (gap_s): the filters restart
    "clock_jump",  # the timestamps jumped backwards (gap_s < 0): the filters restart
    "stream_lost",  # no data for lost_after_s (silent_s)
    "stream_resumed",  # data again after a loss (gap_s: the samples missed)
    "stream_changed",  # the stream came back as something else, or not at its rate (message)
    "note",  # the experimenter's note (text)
    "error",  # the acquisition stopped on an error (message)
]
STATUS_STATES: Final[tuple[str, ...]] = get_args(StatusState)

#: A side of a homologous pair.
Side = Literal["left", "right"]


class State:
    """The status states by name: import these instead of typing a state out."""

    CALIBRATING: Final = "calibrating"
    CALIBRATED: Final = "calibrated"
    CALIBRATION_FAILED: Final = "calibration_failed"
    BASELINE_UPDATED: Final = "baseline_updated"
    CHANNEL_FLAGGED: Final = "channel_flagged"
    CHANNEL_CLEARED: Final = "channel_cleared"
    GAP: Final = "gap"
    CLOCK_JUMP: Final = "clock_jump"
    STREAM_LOST: Final = "stream_lost"
    STREAM_RESUMED: Final = "stream_resumed"
    STREAM_CHANGED: Final = "stream_changed"
    NOTE: Final = "note"
    ERROR: Final = "error"

    #: Statuses after which the signal starts again (the filters re-warm).
    RESTARTS: Final = frozenset({"gap", "clock_jump", "stream_resumed", "stream_lost"})


class ActivationOnset(TypedDict):
    """A voluntary activation started (``t``: its back-dated onset)."""

    event: Literal["activation_onset"]
    pair: str
    side: Side
    t: float | None


class ActivationOffset(TypedDict):
    """A voluntary activation ended."""

    event: Literal["activation_offset"]
    pair: str
    side: Side
    t: float | None


class MirrorOnset(TypedDict):
    """Involuntary activity started on the homologous side (``lag_ms`` is provisional)."""

    event: Literal["mirror_onset"]
    pair: str
    side: Side
    active_side: Side
    t: float | None
    lag_ms: float | None


class MirrorOffset(TypedDict):
    """The involuntary activity ended."""

    event: Literal["mirror_offset"]
    pair: str
    side: Side
    active_side: Side
    t: float | None


class Trial(TypedDict):
    """One finished trial: the call, its measures and what shaped them (``quality``)."""

    event: Literal["trial"]
    pair: str
    active_side: Side
    t_onset: float | None
    t_offset: float | None
    mirror: bool
    ratio: float | None
    ratio_norm: float | None
    lag_ms: float | None
    grade: int | None
    bimanual: bool
    quality: list[str]


class Status(TypedDict):
    """Something about the stream or the detector; ``state`` says what, extras say more."""

    event: Literal["status"]
    state: StatusState
    t: NotRequired[float]
    stream: NotRequired[str]
    message: NotRequired[str]
    reason: NotRequired[str]
    channel: NotRequired[str]
    channels: NotRequired[list[str]]
    flag: NotRequired[str]
    gap_s: NotRequired[float]
    silent_s: NotRequired[float]
    text: NotRequired[str]
    mains_hz: NotRequired[int | None]
    rest_uv: NotRequired[dict[str, float]]
    rest_s_so_far: NotRequired[float]
    rest_s: NotRequired[float]


#: Any event payload.
EventPayload = ActivationOnset | ActivationOffset | MirrorOnset | MirrorOffset | Trial | Status

_T_DECIMALS = 6
_RATIO_DECIMALS = 4
_LAG_DECIMALS = 2


def _round(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(float(value), decimals)


@dataclass(frozen=True)
class Event:
    """One event and when it was decided.

    Attributes
    ----------
    payload : EventPayload
        Exactly the JSON object of DESIGN.md.
    decided_index : int
        Absolute index of the sample whose arrival decided it.
    decided_t : float
        That sample's timestamp (stream time base). The live runner stamps the published
        marker with the LSL clock instead; offline analysis uses this.
    """

    payload: EventPayload
    decided_index: int
    decided_t: float

    @property
    def kind(self) -> str:
        """The ``event`` field."""
        return str(self.payload["event"])

    def to_json(self) -> str:
        """The payload as compact JSON."""
        return json.dumps(self.payload, separators=(",", ":"))


def activation_onset(pair: str, side: Side, t: float) -> ActivationOnset:
    """Onset of a voluntary activation."""
    return {"event": "activation_onset", "pair": pair, "side": side, "t": _round(t, _T_DECIMALS)}


def activation_offset(pair: str, side: Side, t: float) -> ActivationOffset:
    """Offset of a voluntary activation."""
    return {"event": "activation_offset", "pair": pair, "side": side, "t": _round(t, _T_DECIMALS)}


def mirror_onset(pair: str, side: Side, active_side: Side, t: float, lag_ms: float) -> MirrorOnset:
    """Onset of involuntary activity on the homologous side."""
    return {
        "event": "mirror_onset",
        "pair": pair,
        "side": side,
        "active_side": active_side,
        "t": _round(t, _T_DECIMALS),
        "lag_ms": _round(lag_ms, _LAG_DECIMALS),
    }


def mirror_offset(pair: str, side: Side, active_side: Side, t: float) -> MirrorOffset:
    """Offset of involuntary activity on the homologous side."""
    return {
        "event": "mirror_offset",
        "pair": pair,
        "side": side,
        "active_side": active_side,
        "t": _round(t, _T_DECIMALS),
    }


def trial(
    *,
    pair: str,
    active_side: Side,
    t_onset: float,
    t_offset: float,
    mirror: bool,
    ratio: float | None,
    ratio_norm: float | None,
    lag_ms: float | None,
    grade: int | None,
    bimanual: bool,
    quality: list[str],
) -> Trial:
    """One finished trial (published once the active side's activation and its tail are over)."""
    return {
        "event": "trial",
        "pair": pair,
        "active_side": active_side,
        "t_onset": _round(t_onset, _T_DECIMALS),
        "t_offset": _round(t_offset, _T_DECIMALS),
        "mirror": bool(mirror),
        "ratio": _round(ratio, _RATIO_DECIMALS),
        "ratio_norm": _round(ratio_norm, _RATIO_DECIMALS),
        "lag_ms": _round(lag_ms, _LAG_DECIMALS),
        "grade": grade,
        "bimanual": bool(bimanual),
        "quality": list(quality),
    }


def status(state: StatusState, t: float | None = None, **extra: Any) -> Status:
    """A status event (calibrated, stream_lost, channel_flagged, ...).

    Raises
    ------
    ValueError
        For a state that :data:`StatusState` does not list (consumers could not know it).
    """
    if state not in STATUS_STATES:
        raise ValueError(f"unknown status state {state!r}; the states are {STATUS_STATES}")
    payload: dict[str, Any] = {"event": "status", "state": state}
    if t is not None:
        payload["t"] = _round(t, _T_DECIMALS)
    payload.update(extra)
    return payload  # type: ignore[return-value]
