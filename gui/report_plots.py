"""Small self-contained SVG charts for the session report (no files, no fonts, no scripts).

A :class:`Chart` maps data to pixels, draws lines, spans, bars and points, and writes axes with
round-number ticks. Long traces are reduced to a min/max envelope per pixel column, so a
ten-minute recording stays a small page without hiding a spike.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["COLORS", "Chart", "nice_ticks"]

#: Colour-blind-safe palette (Okabe-Ito) by role.
COLORS = {
    "active": "#0072B2",
    "mirror": "#D55E00",
    "left": "#0072B2",
    "right": "#D55E00",
    "neutral": "#555555",
    "limit": "#333333",
    "window": "#0072B2",
    "mirror_window": "#D55E00",
    "masked": "#BBBBBB",
    "band": "#009E73",
    "grid": "#E5E5E5",
}
_FONT = "font-family:Helvetica,Arial,sans-serif"
#: Clip-path ids must be unique in a page (object ids are reused after garbage collection).
_IDS = itertools.count(1)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number ticks covering ``[low, high]``."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _text(
    x: float, y: float, text: str, *, size: int = 11, anchor: str = "start", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="#222" '
        f'style="{_FONT}"{extra}>{html.escape(text)}</text>'
    )


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:g}"


@dataclass
class Chart:
    """One chart: axes in data units, drawn as SVG.

    Parameters
    ----------
    xlim, ylim : (float, float)
        Data ranges shown.
    width, height : int
        Size in pixels.
    title, xlabel, ylabel : str
        Texts (plain; escaped here).
    """

    xlim: tuple[float, float]
    ylim: tuple[float, float]
    width: int = 520
    height: int = 220
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    left: int = 58
    right: int = 14
    top: int = 44
    bottom: int = 40
    #: Draw y tick labels and grid (off for strip plots, whose y is only jitter).
    yticks: bool = True
    _items: list[str] = field(default_factory=list)
    _legend: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        lo, hi = self.ylim
        if not hi > lo:
            self.ylim = (lo - 1.0, lo + 1.0)
        lo, hi = self.xlim
        if not hi > lo:
            self.xlim = (lo - 1.0, lo + 1.0)

    # ---- coordinates -----------------------------------------------------------------------

    def px(self, x: np.ndarray | float) -> np.ndarray | float:
        """Data x to pixels."""
        lo, hi = self.xlim
        return self.left + (np.asarray(x, dtype=float) - lo) / (hi - lo) * self._plot_w

    def py(self, y: np.ndarray | float) -> np.ndarray | float:
        """Data y to pixels."""
        lo, hi = self.ylim
        y = np.clip(np.asarray(y, dtype=float), lo, hi)
        return self.top + (1 - (y - lo) / (hi - lo)) * self._plot_h

    @property
    def _plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def _plot_h(self) -> float:
        return self.height - self.top - self.bottom

    # ---- marks -----------------------------------------------------------------------------

    def line(
        self,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        color: str,
        *,
        width: float = 1.4,
        dash: str = "",
        label: str = "",
    ) -> None:
        """A polyline (broken at NaN; reduced to min/max per pixel column when long)."""
        xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        inside = (xs >= self.xlim[0]) & (xs <= self.xlim[1])
        xs, ys = xs[inside], ys[inside]
        finite = np.isfinite(ys)
        edges = np.diff(np.concatenate(([0], finite.astype(np.int8), [0])))
        style = f' stroke-dasharray="{dash}"' if dash else ""
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            px, py = xs[a:b], ys[a:b]
            if len(px) < 2:
                continue
            if len(px) > 2 * self._plot_w:
                px, py = self._reduce(px, py)
            points = " ".join(
                f"{u:.1f},{v:.1f}" for u, v in zip(self.px(px), self.py(py), strict=True)
            )
            self._items.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" '
                f'stroke-width="{width}" stroke-linejoin="round"{style}/>'
            )
        if label:
            self._legend.append(("line", color, label))

    def _reduce(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        columns = int(self._plot_w)
        bins = np.clip(
            ((xs - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * columns), 0, columns - 1
        )
        bins = bins.astype(int)
        starts = np.flatnonzero(np.r_[True, np.diff(bins) != 0])
        lows = np.minimum.reduceat(ys, starts)
        highs = np.maximum.reduceat(ys, starts)
        centres = xs[starts]
        return np.repeat(centres, 2), np.column_stack((lows, highs)).ravel()

    def span(
        self, x0: float, x1: float, color: str, *, opacity: float = 0.15, label: str = ""
    ) -> None:
        """A shaded vertical span (a time window)."""
        a, b = float(self.px(max(x0, self.xlim[0]))), float(self.px(min(x1, self.xlim[1])))
        if b <= a:
            return
        self._items.append(
            f'<rect x="{a:.1f}" y="{self.top}" width="{b - a:.1f}" height="{self._plot_h:.1f}" '
            f'fill="{color}" fill-opacity="{opacity}"/>'
        )
        if label:
            self._legend.append(("box", color, label))

    def hline(self, y: float, color: str, *, dash: str = "5,3", label: str = "") -> None:
        """A horizontal reference line."""
        if not self.ylim[0] <= y <= self.ylim[1]:
            return
        yy = float(self.py(y))
        self._items.append(
            f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="{color}" stroke-width="1.2" stroke-dasharray="{dash}"/>'
        )
        if label:
            self._legend.append(("dash", color, label))

    def vline(self, x: float, color: str, *, dash: str = "", label: str = "") -> None:
        """A vertical reference line."""
        if not self.xlim[0] <= x <= self.xlim[1]:
            return
        xx = float(self.px(x))
        style = f' stroke-dasharray="{dash}"' if dash else ""
        self._items.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{self.top}" y2="{self.height - self.bottom}" '
            f'stroke="{color}" stroke-width="1.5"{style}/>'
        )
        if label:
            self._legend.append(("dash" if dash else "line", color, label))

    def points(
        self,
        x: Sequence[float],
        y: Sequence[float],
        color: str,
        *,
        radius: float = 3.5,
        label: str = "",
    ) -> None:
        """Scatter points."""
        for a, b in zip(
            self.px(np.asarray(x, dtype=float)), self.py(np.asarray(y, dtype=float)), strict=True
        ):
            self._items.append(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{radius}" fill="{color}" '
                'fill-opacity="0.75"/>'
            )
        if label:
            self._legend.append(("dot", color, label))

    def note(self, text: str) -> None:
        """A short text in the plot's top-left corner (further notes go below it)."""
        y = self.top + 14 * (1 + sum(1 for item in self._items if 'class="note"' in item))
        self._items.append(
            f'<text class="note" x="{self.left + 6}" y="{y}" font-size="11" fill="#555" '
            f'style="{_FONT}">{html.escape(text)}</text>'
        )

    # ---- output ----------------------------------------------------------------------------

    def _axes(self) -> list[str]:
        out = []
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.top, self.height - self.bottom
        for t in nice_ticks(*self.ylim, count=4) if self.yticks else []:
            yy = float(self.py(t))
            out.append(
                f'<line x1="{x0}" x2="{x1}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{COLORS["grid"]}"/>'
            )
            out.append(
                f'<text x="{x0 - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" '
                f'fill="#333" style="{_FONT}">{_fmt(t)}</text>'
            )
        for t in nice_ticks(*self.xlim, count=6):
            xx = float(self.px(t))
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y1}" y2="{y1 + 4}" stroke="#333"/>')
            out.append(
                f'<text x="{xx:.1f}" y="{y1 + 16}" font-size="11" text-anchor="middle" '
                f'fill="#333" style="{_FONT}">{_fmt(t)}</text>'
            )
        out.append(
            f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
            'stroke="#999"/>'
        )
        if self.title:
            out.append(_text(x0, 16, self.title, size=13, extra=' font-weight="bold"'))
        if self.xlabel:
            out.append(_text((x0 + x1) / 2, self.height - 6, self.xlabel, anchor="middle"))
        if self.ylabel:
            cy = (y0 + y1) / 2
            turn = f' transform="rotate(-90 13 {cy:.0f})"'
            out.append(_text(13, cy, self.ylabel, anchor="middle", extra=turn))
        return out

    def _legend_svg(self) -> list[str]:
        out = []
        x = self.width - self.right
        y = self.top - 8  # the row between the title and the plot
        for kind, color, label in reversed(self._legend):
            text_w = 5.7 * len(label)
            out.append(_text(x, y, label, anchor="end"))
            mx = x - text_w - 20
            if kind == "box":
                out.append(
                    f'<rect x="{mx:.0f}" y="{y - 9}" width="16" height="10" fill="{color}" '
                    'fill-opacity="0.45"/>'
                )
            elif kind == "dot":
                out.append(f'<circle cx="{mx + 8:.0f}" cy="{y - 4}" r="4" fill="{color}"/>')
            else:
                dash = ' stroke-dasharray="5,3"' if kind == "dash" else ""
                out.append(
                    f'<line x1="{mx:.0f}" x2="{mx + 16:.0f}" y1="{y - 4}" y2="{y - 4}" '
                    f'stroke="{color}" stroke-width="2"{dash}/>'
                )
            x = mx - 12
        return out

    def svg(self) -> str:
        """The chart as an inline ``<svg>`` element."""
        clip = f"clip{next(_IDS)}"
        body = "".join(self._items)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{html.escape(self.title)}">'
            f'<defs><clipPath id="{clip}"><rect x="{self.left}" y="{self.top}" '
            f'width="{self._plot_w:.1f}" height="{self._plot_h:.1f}"/></clipPath></defs>'
            + "".join(self._axes())
            + f'<g clip-path="url(#{clip})">{body}</g>'
            + "".join(self._legend_svg())
            + "</svg>"
        )
