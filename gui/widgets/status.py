"""Small status widgets: the mirror indicator, the alert banner and the stream-health panel."""

from __future__ import annotations

import math
import time

from PyQt6 import QtCore, QtWidgets

from acquisition.runner import StreamHealth
from gui import palette
from gui.live_state import PairView

__all__ = ["Banner", "HealthPanel", "MirrorIndicator"]

#: The indicator stays lit at least this long after a mirror onset, so a brief one is seen.
INDICATOR_HOLD_S = 1.0
#: Informational banners disappear after this long; alerts stay until resolved.
BANNER_INFO_S = 8.0


def _style(background: str, foreground: str = palette.BLACK, border: str | None = None) -> str:
    edge = f"border: 3px solid {border};" if border else "border: 3px solid transparent;"
    return (
        f"QLabel {{ background: {background}; color: {foreground}; {edge} "
        "border-radius: 6px; padding: 4px 10px; }"
    )


class MirrorIndicator(QtWidgets.QLabel):
    """One pair's state; lights (orange, a diamond and the word MIRROR) on a mirror onset.

    Parameters
    ----------
    pair : str
        The pair's name.
    """

    def __init__(self, pair: str) -> None:
        super().__init__()
        self.pair = pair
        self.lit = False
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        font = self.font()
        font.setPointSize(13)
        font.setBold(True)
        self.setFont(font)
        self.setMinimumWidth(190)
        self._shown: tuple[str, str] | None = None
        self.refresh(PairView(pair))

    def refresh(self, view: PairView) -> None:
        """Show the pair's state now (called every frame and at once on a mirror onset)."""
        held = (
            view.mirror_wall_s is not None
            and time.monotonic() - view.mirror_wall_s < INDICATOR_HOLD_S
        )
        self.lit = view.mirror_on or held
        if self.lit:
            lag = "" if view.last_lag_ms is None else f"  {view.last_lag_ms:.0f} ms"
            text = f"◆ {self.pair}: MIRROR{lag}"
            style = _style(palette.MIRROR, palette.BLACK, border=palette.BLACK)
        elif view.active_on:
            text = f"▶ {self.pair}: active {view.active_side}"
            style = _style(palette.SKY_BLUE)
        else:
            text = f"○ {self.pair}: rest"
            style = _style(palette.LIGHT_GREY)
        if self._shown != (text, style):
            self._shown = (text, style)
            self.setText(text)
            self.setStyleSheet(style)


class Banner(QtWidgets.QLabel):
    """A wide message across the window: alerts stay until cleared, information fades."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        font = self.font()
        font.setPointSize(14)
        font.setBold(True)
        self.setFont(font)
        self.kind: str | None = None
        self._expires: float | None = None
        self.hide()

    def alert(self, text: str) -> None:
        """Show a problem (white on vermillion, with a warning sign) until cleared."""
        self._show("alert", f"⚠  {text}", _style(palette.VERMILLION, "#FFFFFF"), None)

    def info(self, text: str) -> None:
        """Show good news (white on blue, with a check mark) for a few seconds."""
        self._show("info", f"✓  {text}", _style(palette.BLUE, "#FFFFFF"), BANNER_INFO_S)

    def clear(self) -> None:
        """Hide the banner."""
        self.kind = None
        self._expires = None
        self.hide()

    def tick(self) -> None:
        """Hide an informational banner whose time is up."""
        if self._expires is not None and time.monotonic() >= self._expires:
            self.clear()

    def _show(self, kind: str, text: str, style: str, lasts_s: float | None) -> None:
        self.kind = kind
        self._expires = None if lasts_s is None else time.monotonic() + lasts_s
        self.setText(text)
        self.setStyleSheet(style)
        self.show()


class HealthPanel(QtWidgets.QGroupBox):
    """Stream health: rate, lag, gaps, flagged channels, pipeline latency, calibration."""

    _ROWS = ("stream", "rate", "lag", "gaps", "flagged", "pipeline", "calibration")

    def __init__(self) -> None:
        super().__init__("Stream health")
        layout = QtWidgets.QFormLayout(self)
        layout.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values: dict[str, QtWidgets.QLabel] = {}
        for key in self._ROWS:
            label = QtWidgets.QLabel("–")
            label.setWordWrap(True)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[key] = label
            layout.addRow(f"{key}:", label)

    def show_health(self, health: StreamHealth, calibration: str) -> None:
        """Show a health snapshot and a calibration description."""
        low = health.nominal_rate_hz > 0 and health.measured_rate_hz < 0.95 * (
            health.nominal_rate_hz
        )
        rate = f"{health.measured_rate_hz:.0f} / {health.nominal_rate_hz:g} Hz"
        lag = f"{1000 * health.lag_s:.0f} ms" if math.isfinite(health.lag_s) else "–"
        texts = {
            "stream": f"{health.name}  ({'LOST' if health.lost else 'receiving'})",
            "rate": ("⚠ " if low and health.samples else "") + rate + " (measured / nominal)",
            "lag": lag,
            "gaps": f"{health.gaps} ({health.gap_total_s:.2f} s missing)",
            "flagged": ", ".join(health.flagged) or "none",
            "pipeline": f"{health.chunk_ms_p50:.2f} ms p50, {health.chunk_ms_p99:.2f} ms p99 "
            "per chunk",
            "calibration": calibration,
        }
        for key, text in texts.items():
            if self.values[key].text() != text:
                self.values[key].setText(text)
