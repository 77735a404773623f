"""The trial table (one row per ``trial`` event or typed note) and the per-pair summary."""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from detection.summary import MIN_TRIALS_FOR_CI, PairStats, espay_bin
from gui import palette

__all__ = ["SummaryTable", "TrialTable", "fmt"]

#: The table keeps this many rows; older ones go (the session report keeps everything).
MAX_ROWS = 1000

TRIAL_COLUMNS = (
    "t (s)",
    "pair",
    "active",
    "mirror",
    "ratio",
    "norm",
    "lag ms",
    "grade (prov.)",
    "quality / note",
)
SUMMARY_COLUMNS = (
    "pair",
    "trials",
    "mirror (Espay bin)",
    "lag ms (95 % CI)",
    "ratio",
    "grade (prov.)",
)
#: Columns are fitted to their contents while the table is this short (fitting is O(rows)).
FIT_ROWS = 30


def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    """Format a number, or a dash when it is missing."""
    return "–" if value is None else pattern.format(value)


def _item(text: str, *, bold: bool = False) -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(text)
    item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable)
    if bold:
        font = item.font()
        font.setBold(True)
        item.setFont(font)
    return item


class TrialTable(QtWidgets.QTableWidget):
    """Trials and notes, newest on top; times relative to :attr:`t0` once it is set."""

    def __init__(self) -> None:
        super().__init__(0, len(TRIAL_COLUMNS))
        self.setHorizontalHeaderLabels(TRIAL_COLUMNS)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        #: Stream time shown as 0 (the first sample drawn).
        self.t0: float | None = None

    def _time(self, t: float | None) -> str:
        if t is None:
            return "–"
        return f"{t - self.t0:.1f}" if self.t0 is not None else f"{t:.1f}"

    def add_trial(self, trial: dict[str, Any]) -> None:
        """Add a ``trial`` event payload as the top row."""
        verdict = "◆ MIRROR" if trial["mirror"] else "no"
        if trial["bimanual"]:
            verdict = "bimanual"
        cells = (
            self._time(trial.get("t_onset")),
            str(trial["pair"]),
            str(trial["active_side"]),
            verdict,
            fmt(trial.get("ratio")),
            fmt(trial.get("ratio_norm")),
            fmt(trial.get("lag_ms"), "{:.0f}"),
            "–" if trial.get("grade") is None else str(trial["grade"]),
            ", ".join(trial.get("quality") or []),
        )
        self._insert(cells, mirror=bool(trial["mirror"]) and not trial["bimanual"])

    def add_note(self, note: dict[str, Any]) -> None:
        """Add a typed note as the top row."""
        cells = (self._time(note.get("t")), "", "", "NOTE", "", "", "", "", note["text"])
        self._insert(cells, note=True)

    def _insert(self, cells: tuple[str, ...], *, mirror: bool = False, note: bool = False):
        self.insertRow(0)
        for col, text in enumerate(cells):
            item = _item(text, bold=(mirror and col == 3) or note)
            if mirror and col == 3:
                item.setBackground(QtGui.QColor(*palette.rgba(palette.MIRROR, 110)))
            self.setItem(0, col, item)
        if self.rowCount() > MAX_ROWS:
            self.removeRow(self.rowCount() - 1)
        if self.rowCount() <= FIT_ROWS:
            self.resizeColumnsToContents()


class SummaryTable(QtWidgets.QTableWidget):
    """Running summary per pair; the grade is labelled provisional (no validated mapping)."""

    def __init__(self, pair_names: list[str]) -> None:
        super().__init__(len(pair_names), len(SUMMARY_COLUMNS))
        self.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.setToolTip(
            "Lag and ratio: medians over the trials with mirror activity. Grade: provisional, "
            "after Woods & Teuber (1978) on the (normalised) ratio; no "
            "validated EMG mapping exists. The lag CI is a bootstrap over >= "
            f"{MIN_TRIALS_FOR_CI} trials with mirror activity."
        )
        self._rows = {name: i for i, name in enumerate(pair_names)}
        self._last: dict[str, tuple[str, ...]] = {}

    def update_pair(self, stats: PairStats) -> None:
        """Show one pair's figures (cells are rewritten only when they change)."""
        fraction = stats.mirror_fraction
        share = "–" if fraction is None else f"{100 * fraction:.0f} % ({espay_bin(fraction)})"
        lag = fmt(stats.median_lag_ms, "{:.0f}")
        ci = stats.lag_ci_ms
        if ci is not None:
            lag += f" ({ci[0]:.0f} to {ci[1]:.0f})"
        elif stats.lags_ms:
            lag += f" (CI from {MIN_TRIALS_FOR_CI})"
        grade = "–" if stats.median_grade is None else str(stats.median_grade)
        cells = (
            stats.name,
            str(stats.trials),
            share,
            lag,
            fmt(stats.median_ratio),
            grade,
        )
        if self._last.get(stats.name) == cells:
            return
        self._last[stats.name] = cells
        row = self._rows[stats.name]
        for col, text in enumerate(cells):
            self.setItem(row, col, _item(text, bold=col == 0))
