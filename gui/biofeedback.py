"""The patient's biofeedback window: one big bar per pair, nothing else.

Each pair shows the other (mirror) hand's activity as a large bar against the patient's limit,
and a narrower bar for the moving hand's effort with its target band, so the effort stays
constant while the patient learns to keep the other hand still. Over the limit for >= 100 ms
the bar turns orange and hatched and the words change; under it, it is blue and solid. Colour
is never the only cue, and the palette is safe for colour-blind viewers. Text is sized from the
window's height so it reads from two metres on a second screen or full screen (F11).
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from gui import palette
from gui.feedback import PairFeedback

__all__ = ["BiofeedbackWindow", "FeedbackBar"]

BACKGROUND = "#111111"
TEXT = "#FFFFFF"
#: The limit sits at this fraction of the mirror bar's height (room to show overshoot).
LIMIT_AT = 0.5


class FeedbackBar(QtWidgets.QWidget):
    """One pair's bars, painted by hand (a few rectangles and words)."""

    def __init__(self, pair: str) -> None:
        super().__init__()
        self.pair = pair
        self.feedback: PairFeedback | None = None
        self.waiting = "calibrating: please relax"
        self._shown: object = None
        self.setMinimumSize(260, 360)

    @property
    def colour(self) -> str:
        """The mirror bar's colour now (what tests check)."""
        if self.feedback is not None and self.feedback.over:
            return palette.ORANGE
        return palette.SKY_BLUE

    def show_feedback(self, feedback: PairFeedback | None, waiting: str = "") -> None:
        """Show new values (None with a ``waiting`` message while there are none).

        The bar is repainted only when what it shows changes at the resolution it is drawn
        with (1 % of ratio and effort), so a resting patient costs no painting.
        """
        self.feedback = feedback
        self.waiting = waiting
        key = (waiting, None if feedback is None else _quantised(feedback))
        if key != self._shown:
            self._shown = key
            self.update()

    # ---- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QtGui.QPaintEvent | None) -> None:  # noqa: N802 - Qt API
        """Paint the bars and words."""
        p = QtGui.QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, QtGui.QColor(BACKGROUND))
        big = max(24, round(h * 0.09))
        small = max(16, round(h * 0.045))
        title = QtCore.QRectF(0, 0, w, big * 1.4)
        _text(p, title, self.pair, big, bold=True)
        message = QtCore.QRectF(0, h - big * 1.5, w, big * 1.4)
        headers = QtCore.QRectF(0, title.bottom(), w, small * 1.5)
        body = QtCore.QRectF(w * 0.05, headers.bottom() + small * 0.3, w * 0.9, 0)
        body.setBottom(message.top() - small * 1.8)
        fb = self.feedback
        if fb is None:
            _text(p, QtCore.QRectF(0, body.top(), w, body.height()), self.waiting, small)
            p.end()
            return
        mirror_rect = QtCore.QRectF(body.left(), body.top(), body.width() * 0.6, body.height())
        effort_rect = QtCore.QRectF(
            body.left() + body.width() * 0.72, body.top(), body.width() * 0.28, body.height()
        )
        _text(p, _column(headers, mirror_rect), "OTHER HAND", small, bold=True)
        moving = f"{fb.active_side.upper()} HAND" if fb.active_side else "MOVING"
        _text(p, _column(headers, effort_rect), moving, small)
        self._mirror_bar(p, mirror_rect, fb, small)
        self._effort_bar(p, effort_rect, fb, small)
        if fb.over:
            words, colour = "▲ OTHER HAND MOVED", palette.ORANGE
        elif fb.active_side and fb.levels.active_on:
            words, colour = "✓ other hand still", palette.SKY_BLUE
        else:
            words, colour = "rest", TEXT
        _text(p, message.adjusted(w * 0.03, 0, -w * 0.03, 0), words, big, bold=True, colour=colour)
        p.end()

    def _mirror_bar(self, p: QtGui.QPainter, rect: QtCore.QRectF, fb: PairFeedback, small: int):
        p.setPen(QtGui.QPen(QtGui.QColor(TEXT), 3))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        top_ratio = fb.threshold / LIMIT_AT
        fill = min(1.0, fb.levels.ratio / top_ratio) if top_ratio > 0 else 0.0
        bar = QtCore.QRectF(
            rect.left(), rect.bottom() - fill * rect.height(), rect.width(), fill * rect.height()
        )
        p.fillRect(bar, QtGui.QColor(self.colour))
        if fb.over:
            # Hatching as well as colour: the change must not rely on hue alone.
            hatch = QtGui.QBrush(QtGui.QColor(palette.BLACK), QtCore.Qt.BrushStyle.BDiagPattern)
            p.fillRect(bar, hatch)
        limit_y = rect.bottom() - LIMIT_AT * rect.height()
        p.setPen(QtGui.QPen(QtGui.QColor(TEXT), 6, QtCore.Qt.PenStyle.DashLine))
        p.drawLine(
            QtCore.QPointF(rect.left() - 12, limit_y), QtCore.QPointF(rect.right() + 12, limit_y)
        )
        label = QtCore.QRectF(rect.left(), limit_y - small * 1.3, rect.width(), small * 1.2)
        limit_colour = palette.BLACK if fill > LIMIT_AT + 0.05 else TEXT
        _text(p, label, f"limit {100 * fb.threshold:.0f} %", small, bold=True, colour=limit_colour)
        if fb.levels.active_on:
            value = QtCore.QRectF(rect.left(), rect.bottom() - small * 1.4, rect.width(), small)
            _text(
                p,
                value,
                f"{100 * fb.levels.ratio:.0f} %",
                small,
                bold=True,
                colour=palette.BLACK if fill > 0.1 else TEXT,
            )

    def _effort_bar(self, p: QtGui.QPainter, rect: QtCore.QRectF, fb: PairFeedback, small: int):
        low, high = fb.target_percent
        top = high * 1.5
        p.setPen(QtGui.QPen(QtGui.QColor(TEXT), 2))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        band = QtCore.QRectF(
            rect.left(),
            rect.bottom() - high / top * rect.height(),
            rect.width(),
            (high - low) / top * rect.height(),
        )
        pattern = QtGui.QBrush(QtGui.QColor(palette.YELLOW), QtCore.Qt.BrushStyle.Dense6Pattern)
        p.fillRect(band, pattern)
        p.setPen(QtGui.QPen(QtGui.QColor(palette.YELLOW), 2))
        p.drawRect(band)
        effort = fb.levels.effort_percent if fb.levels.active_on else 0.0
        fill = min(1.0, max(0.0, effort / top))
        bar = QtCore.QRectF(
            rect.left() + rect.width() * 0.25,
            rect.bottom() - fill * rect.height(),
            rect.width() * 0.5,
            fill * rect.height(),
        )
        in_band = low <= effort <= high
        p.fillRect(bar, QtGui.QColor(palette.BLUISH_GREEN if in_band else palette.GREY))
        target = (
            f"target {low:.0f}-{high:.0f} % MVC"
            if fb.levels.normalised
            else f"target {low / 100:.0f}-{high / 100:.0f} × threshold"
        )
        # Centred under the bar, as wide as the space to the window's right edge allows.
        half = min(rect.center().x(), self.width() - rect.center().x()) - 4
        below = QtCore.QRectF(
            rect.center().x() - half, rect.bottom() + small * 0.2, 2 * half, small * 1.2
        )
        _text(p, below, target, round(small * 0.75))


def _quantised(fb: PairFeedback) -> tuple[object, ...]:
    levels = fb.levels
    return (
        fb.active_side,
        fb.over,
        round(fb.threshold, 3),
        fb.target_percent,
        levels.active_on,
        levels.normalised,
        round(100 * levels.ratio),
        round(levels.effort_percent),
    )


def _column(row: QtCore.QRectF, column: QtCore.QRectF) -> QtCore.QRectF:
    """The part of ``row`` above ``column``, a little wider than it."""
    margin = column.width() * 0.15
    return QtCore.QRectF(
        column.left() - margin, row.top(), column.width() + 2 * margin, row.height()
    )


def _text(
    p: QtGui.QPainter,
    rect: QtCore.QRectF,
    text: str,
    size_px: int,
    *,
    bold: bool = False,
    colour: str = TEXT,
) -> None:
    """One line of text centred in ``rect``, shrunk until it fits its width."""
    font = QtGui.QFont()
    font.setBold(bold)
    size = max(8, size_px)
    font.setPixelSize(size)
    width = QtGui.QFontMetricsF(font).horizontalAdvance(text)
    if width > rect.width() > 0:
        size = max(8, int(size * rect.width() / width))
        font.setPixelSize(size)
    p.setFont(font)
    p.setPen(QtGui.QColor(colour))
    p.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)


class BiofeedbackWindow(QtWidgets.QWidget):
    """The patient-facing window; F11 toggles full screen, Esc leaves it.

    Parameters
    ----------
    pair_names : list of str
        One bar per pair, in this order.
    """

    def __init__(self, pair_names: list[str]) -> None:
        super().__init__()
        self.setWindowTitle("MirrorScope biofeedback")
        self.setStyleSheet(f"background: {BACKGROUND};")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setSpacing(24)
        self.bars = {name: FeedbackBar(name) for name in pair_names}
        for bar in self.bars.values():
            layout.addWidget(bar)
        self.resize(min(1600, max(640, 300 * len(pair_names))), 720)
        QtGui.QShortcut(QtGui.QKeySequence("F11"), self, self.toggle_full_screen)
        QtGui.QShortcut(QtGui.QKeySequence("Esc"), self, self.showNormal)

    def toggle_full_screen(self) -> None:
        """Switch between full screen and a normal window."""
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def show_feedback(self, current: dict[str, PairFeedback], waiting: str) -> None:
        """Show every pair's feedback (or ``waiting`` where a pair has none yet)."""
        for name, bar in self.bars.items():
            bar.show_feedback(current.get(name), waiting)
