"""Per-pair traces: filtered signal, detection envelope with its thresholds, shaded periods.

Two plots, left side and right side, share one time axis (0 = now), so what happens on both
sides lines up. Within a plot every pair has a band for its filtered trace and one below it for
its detection envelope, stacked like an EEG montage; values are scaled into their band (and
clipped to it) here, so the plots never change their ranges while scrolling and their axes
paint from cache.

Speed (>= 30 fps with 8 pairs at 2 kHz on two cores): all channels of a plot are scaled and
peak-decimated to the plot's pixel width in one numpy pass (:func:`gui.decimate.peak_decimate`,
pyqtgraph's ``peak`` method done for every channel at once), then drawn as ONE curve per plot
and kind with ``setData`` from preallocated arrays (``connect`` breaks the line between
channels). With 32 separate curves, pyqtgraph's per-curve bookkeeping cost more than the
drawing itself (measured: 8 fps); pyqtgraph's own downsampling and clip-to-view assume one
ascending x per curve, so they are off for these concatenated curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from acquisition.display import DisplaySnapshot
from detection.onset import Thresholds
from gui import palette
from gui.decimate import peak_decimate
from gui.live_state import Interval, LiveState

__all__ = ["TracePanel"]

SIDES = ("left", "right")
#: Heights in plot units of a pair's trace band, envelope band and the gap below them.
TRACE_H, ENV_H, GAP_H = 1.0, 0.9, 0.25
PAIR_H = TRACE_H + ENV_H + GAP_H
#: A band's content fills this fraction of it (the rest keeps neighbours apart).
FILL = 0.92
#: The envelope's range never falls below this many on-thresholds (thresholds stay in view).
MIN_ENV_RANGE_THRESHOLDS = 2.5
#: The envelope range shrinks by this factor per frame at most (it grows at once), so it
#: does not jump as a contraction ends.
ENV_RANGE_DECAY = 0.98
#: Widest plot drawn at full resolution (pixels).
MAX_BINS = 4096


def _band(pair_index: int) -> tuple[float, float, float, float]:
    """(top, trace centre, envelope base, bottom) of a pair in plot units; pair 0 on top."""
    top = -pair_index * PAIR_H
    env_base = top - TRACE_H - ENV_H + (1 - FILL) * ENV_H / 2
    return top, top - TRACE_H / 2, env_base, top - TRACE_H - ENV_H


def _bins(count: float) -> int:
    return min(MAX_BINS, max(25, int(count)))


def _region(kind: str) -> QtWidgets.QGraphicsRectItem:
    item = QtWidgets.QGraphicsRectItem()
    if kind == "mirror":
        item.setBrush(QtGui.QBrush(QtGui.QColor(*palette.rgba(palette.MIRROR, 90))))
        # Hatching on top of the tint: the two kinds differ in pattern, not only in colour.
        hatch = QtWidgets.QGraphicsRectItem(item)
        hatch.setBrush(
            QtGui.QBrush(QtGui.QColor(palette.MIRROR), QtCore.Qt.BrushStyle.BDiagPattern)
        )
        hatch.setPen(pg.mkPen(None))
        item.setData(0, hatch)
    else:
        item.setBrush(QtGui.QBrush(QtGui.QColor(*palette.rgba(palette.ACTIVE, 80))))
    item.setPen(pg.mkPen(None))
    item.setZValue(-10)
    return item


class _Channel:
    """The labels and shaded periods of one channel (one side of one pair)."""

    def __init__(self, plot: pg.PlotItem, pair_index: int, column: int, label: str) -> None:
        self.plot = plot
        self.column = column
        self.top, self.centre, self.env_base, self.bottom = _band(pair_index)
        self.name = pg.TextItem(label, color=palette.BLACK, anchor=(0, 0))
        self.range_text = pg.TextItem("", color=palette.BLUE, anchor=(1, 0))
        self.excluded = pg.TextItem("⚠ EXCLUDED", color=palette.VERMILLION, anchor=(1, 0))
        self.excluded.setVisible(False)
        for item in (self.name, self.range_text, self.excluded):
            plot.addItem(item, ignoreBounds=True)
        self.regions: dict[int, QtWidgets.QGraphicsRectItem] = {}

    def place_labels(self, x_left: float) -> None:
        """Channel name at the left edge; envelope range and exclusion at the right edge."""
        self.name.setPos(x_left, self.top)
        self.range_text.setPos(0, self.env_base + ENV_H * FILL)
        self.excluded.setPos(0, self.top)

    def show_range(self, top: float) -> None:
        text = f"envelope 0-{top:.0f}" if top >= 10 else f"envelope 0-{top:.2g}"
        if self.range_text.textItem.toPlainText() != text:
            self.range_text.setText(text)

    def sync_regions(self, intervals: Sequence[Interval], t_now: float, window_s: float) -> None:
        """Shade the intervals in view; drop the items of those that scrolled out."""
        seen = set()
        for interval in intervals:
            end = 0.0 if interval.end_t is None else interval.end_t - t_now
            if end < -window_s:
                continue
            seen.add(interval.uid)
            item = self.regions.get(interval.uid)
            if item is None:
                item = _region(interval.kind)
                self.plot.addItem(item, ignoreBounds=True)
                self.regions[interval.uid] = item
            start = max(interval.start_t - t_now, -window_s)
            rect = QtCore.QRectF(start, self.bottom, max(end - start, 0.0), self.top - self.bottom)
            item.setRect(rect)
            hatch = item.data(0)
            if hatch is not None:
                hatch.setRect(rect)
        for uid in [u for u in self.regions if u not in seen]:
            self.plot.removeItem(self.regions.pop(uid))


class _SidePlot:
    """One plot (a side) with its four merged curves."""

    def __init__(self, plot: pg.PlotItem, columns: list[int]) -> None:
        self.plot = plot
        self.columns = np.array(columns)
        dash, dot = QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine
        self.trace = plot.plot(pen=pg.mkPen(palette.TRACE, width=1))
        self.env = plot.plot(pen=pg.mkPen(palette.ENVELOPE, width=1))
        self.on = plot.plot(pen=pg.mkPen(palette.ON_LINE, width=1, style=dash))
        self.off = plot.plot(pen=pg.mkPen(palette.OFF_LINE, width=1, style=dot))
        for curve in (self.on, self.off):
            curve.setSkipFiniteCheck(True)
        # One row per channel and a NaN column that breaks the line between channels
        # (connect="finite" has a fast path in pyqtgraph; a boolean connect array has not).
        self._xs = np.full((len(columns), 2 * MAX_BINS + 1), np.nan)
        self._ys = np.full((len(columns), 2 * MAX_BINS + 1), np.nan)
        self._threshold_keys: dict[int, tuple[float, bytes] | None] = {}

    def set_curve(self, curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
        """Draw channels ``y`` (channels x points, all at times ``x``) as one broken line."""
        m = len(x)
        xs, ys = self._xs[:, : m + 1], self._ys[:, : m + 1]
        xs[:, :m] = x
        ys[:, :m] = y[self.columns]
        xs[:, m] = ys[:, m] = np.nan
        curve.setData(xs.ravel(), ys.ravel(), connect="finite")

    def set_thresholds(self, curve: pg.PlotDataItem, levels: np.ndarray | None, x0: float):
        """Horizontal segments, one per channel, across the window."""
        # Thresholds change only on calibration: redrawing them every frame cost 1.4 ms.
        key = None if levels is None else (x0, levels[self.columns].tobytes())
        if self._threshold_keys.get(id(curve), ()) == key:
            return
        self._threshold_keys[id(curve)] = key
        if levels is None:
            curve.setData([], [])
            return
        ys = np.repeat(levels[self.columns], 2)
        xs = np.tile([x0, 0.0], len(self.columns))
        curve.setData(xs, ys, connect="pairs")


class TracePanel(pg.GraphicsLayoutWidget):
    """Traces and envelopes of every pair.

    Parameters
    ----------
    labels : sequence of str
        Channel labels, in the display buffer's column order.
    pairs : sequence of (name, left_index, right_index)
        The homologous pairs.
    """

    def __init__(self, labels: Sequence[str], pairs: Sequence[tuple[str, int, int]]) -> None:
        super().__init__()
        self.setBackground("w")
        self.labels = list(labels)
        self.pairs = list(pairs)
        self.scale_uv = 200.0
        self.window_s = 10.0
        #: Stream time of the newest sample drawn.
        self.t_now: float | None = None
        n_ch = len(self.labels)
        self.env_top = np.ones(n_ch)
        self._centres = np.zeros(n_ch, np.float32)
        self._env_bases = np.zeros(n_ch, np.float32)
        for p, (_, left, right) in enumerate(self.pairs):
            _, centre, env_base, _ = _band(p)
            self._centres[[left, right]] = centre
            self._env_bases[[left, right]] = env_base
        self.sides: dict[str, _SidePlot] = {}
        self.channels: list[dict[str, _Channel]] = [{} for _ in self.pairs]
        self._build()

    def _build(self) -> None:
        bottom = -len(self.pairs) * PAIR_H + GAP_H
        for col, side in enumerate(SIDES):
            plot = self.ci.addPlot(row=0, col=col)
            plot.setTitle(f"<b>{side.upper()}</b>", size="12pt")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            # plot.showGrid(x=True, y=False, alpha=0.2)
            plot.setLabel("bottom", "time (s, 0 = now)")
            plot.hideAxis("left")
            plot.setYRange(bottom, 0.05, padding=0)
            plot.setXRange(-self.window_s, 0, padding=0.0)
            columns = [left if side == "left" else right for _, left, right in self.pairs]
            self.sides[side] = _SidePlot(plot, columns)
            for p, (name, left, right) in enumerate(self.pairs):
                column = left if side == "left" else right
                label = f"{name}  {self.labels[column]}"
                self.channels[p][side] = _Channel(plot, p, column, label)
        self.sides["right"].plot.setXLink(self.sides["left"].plot)
        self._place_labels()

    def _place_labels(self) -> None:
        for channels in self.channels:
            for channel in channels.values():
                channel.place_labels(-self.window_s)

    # ---- settings --------------------------------------------------------------------------

    def set_scale(self, scale_uv: float) -> None:
        """Height of the filtered traces' bands: +- ``scale_uv`` microvolts."""
        self.scale_uv = float(scale_uv)

    def set_window(self, window_s: float) -> None:
        """Time shown."""
        if window_s != self.window_s:
            self.window_s = float(window_s)
            self.sides["left"].plot.setXRange(-self.window_s, 0, padding=0.0)
            self._place_labels()

    def curve_points(self, side: str) -> int:
        """How many points the side's trace curve holds (tests check that it draws)."""
        x, _ = self.sides[side].trace.getData()
        return 0 if x is None else len(x)

    # ---- drawing ---------------------------------------------------------------------------

    def redraw(self, snap: DisplaySnapshot, thresholds: Thresholds | None, state: LiveState):
        """Draw the newest ``window_s`` seconds of ``snap``.

        Parameters
        ----------
        snap : DisplaySnapshot
            The newest samples, oldest first.
        thresholds : Thresholds | None
            The detector's levels (None while calibrating).
        state : LiveState
            Periods to shade.
        """
        if len(snap.t) < 2:
            return
        self.t_now = t_now = float(snap.t[-1])
        start = int(np.searchsorted(snap.t, t_now - self.window_s))
        x = snap.t[start:] - t_now
        width_px = self.sides["left"].plot.vb.width()
        # Decimate first (samples x channels, all channels in one pass), scale after. The
        # trace keeps a min and a max per 2 pixels; the envelope is smooth (a 50 ms window),
        # so its maximum per 2 pixels draws the same line at a quarter of the points.
        x_trace, filtered = peak_decimate(x, snap.filtered_uv[start:], _bins(width_px / 2))
        x_env, detection = peak_decimate(
            x, snap.detection[start:], _bins(width_px / 2), upper_only=True
        )
        half = FILL * TRACE_H / 2
        trace_d = np.clip(filtered.T * (half / self.scale_uv), -half, half)
        trace_d += self._centres[:, None]
        on = None if thresholds is None else np.asarray(thresholds.on, float)
        tops = self._fit_envelopes(detection.max(axis=0) if len(x) else np.zeros(1), on)
        gain = FILL * ENV_H / tops
        env_d = np.clip(detection.T * gain[:, None], 0.0, 1.05 * FILL * ENV_H)
        env_d += self._env_bases[:, None]
        levels = None
        if thresholds is not None:
            levels = {
                kind: self._env_bases + np.minimum(np.asarray(values) * gain, 1.05 * FILL * ENV_H)
                for kind, values in (("on", thresholds.on), ("off", thresholds.off))
            }
        for sp in self.sides.values():
            sp.set_curve(sp.trace, x_trace, trace_d)
            sp.set_curve(sp.env, x_env, env_d)
            sp.set_thresholds(sp.on, None if levels is None else levels["on"], -self.window_s)
            sp.set_thresholds(sp.off, None if levels is None else levels["off"], -self.window_s)
        excluded = snap.excluded[-1]
        for (name, _, _), channels in zip(self.pairs, self.channels, strict=True):
            view = state.pairs[name]
            for side, c in channels.items():
                c.sync_regions(view.intervals[side], t_now, self.window_s)
                c.excluded.setVisible(bool(excluded[c.column]))

    def _fit_envelopes(self, peaks: np.ndarray, on: np.ndarray | None) -> np.ndarray:
        """Each channel's envelope range: grows at once, shrinks slowly, keeps thresholds in."""
        wanted = peaks.astype(float) * 1.1
        if on is not None:
            wanted = np.maximum(wanted, MIN_ENV_RANGE_THRESHOLDS * on)
        wanted = np.maximum(wanted, 1e-3)
        decayed = np.maximum(wanted, self.env_top * ENV_RANGE_DECAY)
        self.env_top = np.where(wanted > self.env_top, wanted, decayed)
        for channels in self.channels:
            for c in channels.values():
                c.show_range(float(self.env_top[c.column]))
        return self.env_top
