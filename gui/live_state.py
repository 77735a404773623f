"""What the windows know about a session, built from the monitor's events (no Qt here).

The Qt timer drains the monitor's event queue once per frame and hands every payload to
:meth:`LiveState.add`; the widgets then read this state. Keeping it apart from the widgets lets
the experimenter window and the biofeedback window share one reading of the event stream (the
queue has a single consumer) and keeps the rules testable without a display.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detection.events import State
from detection.summary import SessionStats

__all__ = ["Interval", "LiveState", "PairView"]

#: Intervals kept per side for shading (older ones have long left any time window).
MAX_INTERVALS = 200

_ids = itertools.count()


@dataclass
class Interval:
    """A shaded period in stream time; ``end_t`` is None while it is still going on."""

    kind: str  # "active" or "mirror"
    start_t: float
    end_t: float | None = None
    uid: int = field(default_factory=lambda: next(_ids))


@dataclass
class PairView:
    """The live state of one pair."""

    name: str
    #: Side of the current (or last) voluntary activation; None before the first one.
    active_side: str | None = None
    active_on: bool = False
    mirror_on: bool = False
    #: ``time.monotonic()`` of the last mirror onset, so the indicator can hold its light.
    mirror_wall_s: float | None = None
    last_lag_ms: float | None = None
    intervals: dict[str, deque[Interval]] = field(
        default_factory=lambda: {side: deque(maxlen=MAX_INTERVALS) for side in ("left", "right")}
    )

    def _open(self, side: str, kind: str, t: float) -> None:
        self._close(side, kind, t)
        self.intervals[side].append(Interval(kind, t))

    def _close(self, side: str, kind: str, t: float) -> None:
        for interval in reversed(self.intervals[side]):
            if interval.kind == kind and interval.end_t is None:
                interval.end_t = max(t, interval.start_t)

    def close_all(self, t: float | None) -> None:
        """End every open interval (at ``t``, or where it started when ``t`` is unknown)."""
        for side in self.intervals:
            for interval in self.intervals[side]:
                if interval.end_t is None:
                    interval.end_t = interval.start_t if t is None else max(t, interval.start_t)
        self.active_on = self.mirror_on = False


class LiveState:
    """Session state from the event stream.

    Parameters
    ----------
    pair_names : iterable of str
        Pairs, in display order.
    """

    def __init__(self, pair_names: Iterable[str]) -> None:
        names = list(pair_names)
        self.stats = SessionStats(names)
        self.pairs: dict[str, PairView] = {name: PairView(name) for name in names}
        #: Trials (and notes) in arrival order.
        self.trials: list[dict[str, Any]] = []
        #: Status payloads in arrival order.
        self.status: list[dict[str, Any]] = []
        self.calibrated = False

    def add(self, payload: dict[str, Any]) -> None:
        """Take one event payload (the DESIGN.md JSON object) into account."""
        self.stats.add(payload)
        kind = payload.get("event")
        if kind == "status":
            self._status(payload)
            return
        pair = self.pairs.get(str(payload.get("pair")))
        if pair is None:
            return
        t = payload.get("t")
        if kind == "activation_onset":
            pair.active_side, pair.active_on = payload["side"], True
            pair._open(payload["side"], "active", float(t))
        elif kind == "activation_offset":
            pair.active_on = False
            pair._close(payload["side"], "active", float(t))
        elif kind == "mirror_onset":
            pair.active_side, pair.mirror_on = payload["active_side"], True
            pair.mirror_wall_s = time.monotonic()
            pair.last_lag_ms = payload.get("lag_ms")
            pair._open(payload["side"], "mirror", float(t))
        elif kind == "mirror_offset":
            pair.mirror_on = False
            pair._close(payload["side"], "mirror", float(t))
        elif kind == "trial":
            self.trials.append(dict(payload))

    def add_note(self, text: str, t: float | None) -> dict[str, Any]:
        """Record a typed note; it is listed with the trials.

        Parameters
        ----------
        text : str
            The note.
        t : float | None
            Stream time of the note (the newest sample shown), if known.
        """
        note = {"event": "note", "text": text, "t": t}
        self.trials.append(note)
        return note

    def restart(self, t: float | None = None) -> None:
        """End every open period: the detector was restarted (a recalibration)."""
        for pair in self.pairs.values():
            pair.close_all(t)

    def _status(self, payload: dict[str, Any]) -> None:
        self.status.append(dict(payload))
        state = payload.get("state")
        if state == State.CALIBRATED:
            self.calibrated = True
        if state in State.RESTARTS:  # no open interval can close by itself now
            t = payload.get("t")
            self.restart(None if t is None else float(t))
