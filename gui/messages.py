"""What the experimenter window says about status events (pure functions, no Qt)."""

from __future__ import annotations

from typing import Any

from acquisition.runner import StreamHealth
from detection.calibration import Calibration
from detection.events import State

__all__ = ["banner_for", "calibration_text"]


def banner_for(payload: dict[str, Any]) -> tuple[str, str] | None:
    """The banner a status event calls for: ``("alert" | "info" | "clear", text)`` or None."""
    if payload.get("event") != "status":
        return None
    state = payload.get("state")
    if state == State.STREAM_LOST:
        silent = payload.get("silent_s")
        after = f" for {silent:.1f} s" if isinstance(silent, (int, float)) else ""
        return "alert", f"Stream lost: no data{after}. Waiting for it to come back."
    if state == State.STREAM_RESUMED:
        gap = payload.get("gap_s")
        missing = f"; {gap:.2f} s of signal missing" if isinstance(gap, (int, float)) else ""
        return "info", f"Stream resumed{missing}. Detection restarts after a short warm-up."
    if state == State.CALIBRATION_FAILED:
        channels = ", ".join(payload.get("channels", []))
        return (
            "alert",
            f"Calibration failed: {payload.get('reason', 'unknown reason')}"
            + (f" ({channels})" if channels else "")
            + ". Ask the patient to relax and keep still: rest is collected as it comes.",
        )
    if state == State.CALIBRATED:
        return "info", "Calibrated: thresholds set from the rest just measured."
    if state == State.STREAM_CHANGED:
        return "alert", str(payload.get("message", "the stream changed"))
    if state == State.ERROR:
        return "alert", f"Acquisition stopped: {payload.get('message', 'unknown error')}"
    return None


def calibration_text(
    health: StreamHealth, rest_s: float, calibration: Calibration | None, labels: list[str]
) -> str:
    """One line on the calibration: progress while measuring, else what it holds."""
    if health.calibrating or calibration is None:
        so_far = min(rest_s, health.rest_progress * rest_s)
        return f"waiting for rest: {so_far:.1f} of {rest_s:g} s (patient relaxed)"
    with_mvc = [
        lb for lb in labels if lb in calibration.channels and calibration.channels[lb].mvc_uv
    ]
    mvc = f"MVC {', '.join(with_mvc)}" if with_mvc else "no MVC (raw ratios only)"
    mains = "mains off" if calibration.mains_hz is None else f"mains {calibration.mains_hz} Hz"
    return f"rest calibrated ({mains}); {mvc}"
