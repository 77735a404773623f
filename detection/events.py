"""The events of ../shared/DESIGN.md, built in one place so their keys never drift.

Other programs parse these, so every builder returns exactly the documented keys, in the
documented order. Times are in the EMG stream's own time base (seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Event",
    "activation_offset",
    "activation_onset",
    "mirror_offset",
    "mirror_onset",
    "status",
    "trial",
]

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
    payload : dict
        Exactly the JSON object of DESIGN.md.
    decided_index : int
        Absolute index of the sample whose arrival decided it.
    decided_t : float
        That sample's timestamp (stream time base). The live runner stamps the published
        marker with the LSL clock instead; offline analysis uses this.
    """

    payload: dict[str, Any]
    decided_index: int
    decided_t: float

    @property
    def kind(self) -> str:
        """The ``event`` field."""
        return str(self.payload["event"])

    def to_json(self) -> str:
        """The payload as compact JSON."""
        return json.dumps(self.payload, separators=(",", ":"))


def activation_onset(pair: str, side: str, t: float) -> dict[str, Any]:
    """Onset of a voluntary activation."""
    return {"event": "activation_onset", "pair": pair, "side": side, "t": _round(t, _T_DECIMALS)}


def activation_offset(pair: str, side: str, t: float) -> dict[str, Any]:
    """Offset of a voluntary activation."""
    return {"event": "activation_offset", "pair": pair, "side": side, "t": _round(t, _T_DECIMALS)}


def mirror_onset(pair: str, side: str, active_side: str, t: float, lag_ms: float) -> dict[str, Any]:
    """Onset of involuntary activity on the homologous side."""
    return {
        "event": "mirror_onset",
        "pair": pair,
        "side": side,
        "active_side": active_side,
        "t": _round(t, _T_DECIMALS),
        "lag_ms": _round(lag_ms, _LAG_DECIMALS),
    }


def mirror_offset(pair: str, side: str, active_side: str, t: float) -> dict[str, Any]:
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
    active_side: str,
    t_onset: float,
    t_offset: float,
    mirror: bool,
    ratio: float | None,
    ratio_norm: float | None,
    lag_ms: float | None,
    grade: int | None,
    bimanual: bool,
    quality: list[str],
) -> dict[str, Any]:
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


def status(state: str, t: float | None = None, **extra: Any) -> dict[str, Any]:
    """A status event (calibrated, stream_lost, channel_flagged, ...)."""
    payload: dict[str, Any] = {"event": "status", "state": state}
    if t is not None:
        payload["t"] = _round(t, _T_DECIMALS)
    payload.update(extra)
    return payload
