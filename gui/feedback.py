"""The biofeedback controller: from the display buffer and events to what the patient sees.

Once per frame it takes the newest samples of each pair, decides which side is moving, computes
the live mirror ratio and effort (:func:`gui.feedback_logic.live_levels`), checks whether the
ratio has stayed above the patient's threshold for >= 100 ms, and sounds the tone on the way
up. Trials feed the threshold shaper. It holds no widget, so the window only paints.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from acquisition.display import DisplaySnapshot
from detection.calibration import Calibration
from detection.onset import Thresholds
from gui.feedback_logic import ExceedanceTimer, LiveLevels, ThresholdShaper, live_levels
from gui.live_state import LiveState
from gui.settings import FeedbackSettings
from gui.tone import Tone

__all__ = ["BIOFEEDBACK_WINDOW_S", "FeedbackController", "PairFeedback"]

log = logging.getLogger(__name__)

#: Envelope averaged for the bar. The 50 ms RMS envelope already lags ~25 ms; another 50 ms
#: of averaging (~25 ms) keeps muscle-to-screen latency near DOMAIN.md's 50 ms target.
BIOFEEDBACK_WINDOW_S = 0.05
#: Effort target without an MVC: multiples of the on-threshold, as percent (3x to 8x).
NO_MVC_TARGET_PERCENT = (300.0, 800.0)

SIDES = ("left", "right")


@dataclass(frozen=True)
class PairFeedback:
    """What one pair's bar shows now."""

    name: str
    #: The moving side, or None at rest before any movement.
    active_side: str | None
    levels: LiveLevels
    threshold: float
    #: The ratio has stayed above the threshold for >= the hold time.
    over: bool
    target_percent: tuple[float, float]


class FeedbackController:
    """Per-pair biofeedback state.

    Parameters
    ----------
    pairs : sequence of (name, left_index, right_index)
        The pairs, as the pipeline lists them.
    labels : sequence of str
        Channel labels.
    fs_hz : float
        Sampling rate.
    settings : FeedbackSettings
        The therapist's choices.
    tone : Tone | None
        Sound for threshold crossings (None: silent).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, int, int]],
        labels: Sequence[str],
        fs_hz: float,
        settings: FeedbackSettings,
        tone: Tone | None = None,
    ) -> None:
        self.pairs = list(pairs)
        self.labels = list(labels)
        self.window_n = max(1, round(BIOFEEDBACK_WINDOW_S * fs_hz))
        self.tone = tone
        self.settings = settings
        self.shapers = {
            name: ThresholdShaper(
                settings.threshold, shaping=settings.shaping, block_trials=settings.block_trials
            )
            for name, _, _ in self.pairs
        }
        self._timers = {name: ExceedanceTimer() for name, _, _ in self.pairs}
        self._was_over = dict.fromkeys(self.shapers, False)
        self._side: dict[str, str | None] = dict.fromkeys(self.shapers)
        self.current: dict[str, PairFeedback] = {}

    def apply_settings(self, settings: FeedbackSettings) -> None:
        """Use new therapist settings (the threshold is reset for every pair)."""
        self.settings = settings
        for shaper in self.shapers.values():
            shaper.shaping = settings.shaping
            shaper.block_trials = settings.block_trials
            shaper.set_threshold(settings.threshold)

    def on_event(self, payload: dict[str, Any]) -> None:
        """Let a trial count towards its pair's shaping block."""
        if payload.get("event") != "trial" or payload.get("bimanual"):
            return
        shaper = self.shapers.get(str(payload.get("pair")))
        if shaper is None:
            return
        ratio = payload.get("ratio_norm")
        new = shaper.add(ratio if ratio is not None else payload.get("ratio"))
        if new is not None:
            log.info("biofeedback threshold of %s shaped to %.3f", payload["pair"], new)

    def update(
        self,
        snap: DisplaySnapshot,
        state: LiveState,
        thresholds: Thresholds | None,
        calibration: Calibration | None,
    ) -> dict[str, PairFeedback]:
        """Compute every pair's feedback from the newest samples.

        Parameters
        ----------
        snap : DisplaySnapshot
            Ends with the newest samples (at least ``window_n`` of them for a full window).
        state : LiveState
            The event-derived pair states (active side).
        thresholds : Thresholds | None
            The detector's levels; None while calibrating (nothing is shown then).
        calibration : Calibration | None
            Rest and MVC levels.

        Returns
        -------
        dict
            Pair name to :class:`PairFeedback`; empty while uncalibrated.
        """
        self.current = {}
        if thresholds is None or calibration is None or len(snap.t) == 0:
            return self.current
        t_now = float(snap.t[-1])
        tail = slice(max(0, len(snap.t) - self.window_n), len(snap.t))
        for name, left, right in self.pairs:
            channels = {"left": left, "right": right}
            side = self._active_side(name, snap.above[-1, [left, right]], state)
            shaper = self.shapers[name]
            if side is None:
                levels = LiveLevels(False, 0.0, 0.0, False)
            else:
                a_ch, m_ch = channels[side], channels[_other(side)]
                cal = [calibration.channels[self.labels[ch]] for ch in (a_ch, m_ch)]
                rest = [c.rest_mean_uv**2 + c.rest_sd_uv**2 for c in cal]
                spans = [
                    None if c.mvc_uv is None else max(c.mvc_uv**2 - r, 0.0) ** 0.5
                    for c, r in zip(cal, rest, strict=True)
                ]
                levels = live_levels(
                    snap.envelope_uv[tail][:, [a_ch, m_ch]],
                    snap.detection[tail, a_ch],
                    bool(snap.above[-1, a_ch]),
                    rest_power_uv2=rest,
                    on_threshold=float(thresholds.on[a_ch]),
                    mvc_span_uv=None if None in spans else spans,  # type: ignore[arg-type]
                )
            over = self._timers[name].update(levels.ratio, shaper.threshold, t_now)
            if over and not self._was_over[name] and self.settings.tone and self.tone:
                self.tone.play()
            self._was_over[name] = over
            target = (
                (self.settings.target_low_percent, self.settings.target_high_percent)
                if levels.normalised
                else NO_MVC_TARGET_PERCENT
            )
            self.current[name] = PairFeedback(name, side, levels, shaper.threshold, over, target)
        return self.current

    def _active_side(self, name: str, above: np.ndarray, state: LiveState) -> str | None:
        """The moving side: the event's while an activation is on, else the detector's.

        Activation events are decided ~30 ms after the detector rises, so between the two the
        side that is above threshold alone is taken; with both or neither above, the last
        known side stays.
        """
        view = state.pairs[name]
        if view.active_on and view.active_side is not None:
            self._side[name] = view.active_side
        elif above.sum() == 1:
            self._side[name] = SIDES[int(np.argmax(above))]
        elif not above.any():
            return self._side[name] if view.active_on else None
        return self._side[name]


def _other(side: str) -> str:
    return "right" if side == "left" else "left"
