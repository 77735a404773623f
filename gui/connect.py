"""Connecting the window to a stream: pick one, map its channels to pairs, start the monitor.

When the configured stream is not there (or several match), the experimenter picks one from
what LSL sees instead of reading an error and editing a file; when the stream's channel labels
do not match the configured pairs, they map the pairs to its labels in a small table. Both
choices are remembered (QSettings) for the next run. A saved calibration that does not fit the
chosen stream is set aside, and rest is measured again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from PyQt6 import QtWidgets

from acquisition.monitor_recording import MonitorRecording
from acquisition.runner import LiveMonitor
from acquisition.streams import (
    AmbiguousStreamError,
    ChannelMapError,
    StreamNotFoundError,
    StreamSummary,
)
from detection.calibration import Calibration, CalibrationError
from detection.config import Config, PairConfig
from gui.settings import Settings
from gui.stream_picker import StreamPickerDialog

__all__ = ["PairMapDialog", "guess_pairs", "open_monitor"]

log = logging.getLogger(__name__)

#: Label patterns that name a side: "FDI-L", "FDI_R", "FDI left", "L-FDI", "Left FDI".
_SIDE_PATTERNS = (
    re.compile(r"^(?P<muscle>.+?)[\s_.-]*(?P<side>l|r|left|right)$", re.IGNORECASE),
    re.compile(r"^(?P<side>l|r|left|right)[\s_.-]+(?P<muscle>.+)$", re.IGNORECASE),
)

#: Resolve a stream the user just picked for at least this long (s).
PICKED_TIMEOUT_S = 5.0

Picker = Callable[[str], "StreamSummary | None"]
Mapper = Callable[[str, str, Sequence[str], Sequence[PairConfig]], "list[PairConfig]"]


def guess_pairs(labels: Sequence[str]) -> list[PairConfig]:
    """Pairs found in channel labels by their side suffix or prefix (``FDI-L``/``FDI-R``).

    Parameters
    ----------
    labels : sequence of str
        The stream's channel labels.

    Returns
    -------
    list of PairConfig
        One per muscle named on both sides, in the order of the labels; without any, the
        channels two by two (0 left of 1, 2 left of 3, ...).
    """
    sides: dict[str, dict[str, str]] = {}
    for label in labels:
        for pattern in _SIDE_PATTERNS:
            match = pattern.match(label.strip())
            if match:
                side = "left" if match["side"].lower().startswith("l") else "right"
                sides.setdefault(match["muscle"], {}).setdefault(side, label)
                break
    pairs = [
        PairConfig(name=muscle, left=found["left"], right=found["right"])
        for muscle, found in sides.items()
        if len(found) == 2
    ]
    if pairs:
        return pairs
    return [
        PairConfig(name=f"P{i // 2 + 1}", left=labels[i], right=labels[i + 1])
        for i in range(0, len(labels) - 1, 2)
    ]


class PairMapDialog(QtWidgets.QDialog):
    """A table of pairs: a name, and the left and right channel chosen from the stream's labels.

    Parameters
    ----------
    message : str
        Why the dialog is shown (e.g. the labels of the config that the stream lacks).
    labels : sequence of str
        The stream's channel labels.
    pairs : sequence of PairConfig
        The starting rows.
    parent : QWidget | None
        Owner window.
    """

    def __init__(
        self,
        message: str,
        labels: Sequence[str],
        pairs: Sequence[PairConfig],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("MirrorScope: homologous muscle pairs")
        self.labels = list(labels)
        layout = QtWidgets.QVBoxLayout(self)
        explain = QtWidgets.QLabel(
            f"{message}\n\nChoose, for each muscle pair, the stream's channel on each side."
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(("pair", "left channel", "right channel"))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        rows = QtWidgets.QHBoxLayout()
        add, remove = QtWidgets.QPushButton("Add pair"), QtWidgets.QPushButton("Remove pair")
        add.clicked.connect(lambda: self.add_row(guess_pairs(self.labels)[0]))
        remove.clicked.connect(self.remove_row)
        rows.addWidget(add)
        rows.addWidget(remove)
        rows.addStretch(1)
        layout.addLayout(rows)
        self.problem = QtWidgets.QLabel()
        self.problem.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.problem)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        layout.addWidget(buttons)
        known = [p for p in pairs if str(p.left) in self.labels and str(p.right) in self.labels]
        for pair in known or guess_pairs(self.labels):
            self.add_row(pair)
        self.resize(560, 320)
        self.check()

    def add_row(self, pair: PairConfig) -> None:
        """Append a row showing ``pair``."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        name = QtWidgets.QLineEdit(pair.name)
        name.textChanged.connect(self.check)
        self.table.setCellWidget(row, 0, name)
        for column, label in ((1, pair.left), (2, pair.right)):
            box = QtWidgets.QComboBox()
            box.addItems(self.labels)
            if str(label) in self.labels:
                box.setCurrentText(str(label))
            box.currentTextChanged.connect(self.check)
            self.table.setCellWidget(row, column, box)
        self.check()

    def remove_row(self) -> None:
        """Remove the selected row (or the last)."""
        row = self.table.currentRow()
        self.table.removeRow(row if row >= 0 else self.table.rowCount() - 1)
        self.check()

    def pairs(self) -> list[PairConfig]:
        """The pairs as shown."""
        out = []
        for row in range(self.table.rowCount()):
            name = self.table.cellWidget(row, 0)
            left, right = self.table.cellWidget(row, 1), self.table.cellWidget(row, 2)
            assert isinstance(name, QtWidgets.QLineEdit)
            assert isinstance(left, QtWidgets.QComboBox)
            assert isinstance(right, QtWidgets.QComboBox)
            out.append(
                PairConfig(
                    name=name.text().strip(), left=left.currentText(), right=right.currentText()
                )
            )
        return out

    def check(self) -> str:
        """Say what is wrong with the pairs as shown ("" when nothing), and allow OK if nothing."""
        problem = _problem(self.pairs())
        self.problem.setText(problem)
        if hasattr(self, "ok_button"):
            self.ok_button.setEnabled(not problem)
        return problem


def _problem(pairs: Sequence[PairConfig]) -> str:
    if not pairs:
        return "At least one pair is needed."
    names = [p.name for p in pairs]
    if any(not name for name in names):
        return "Every pair needs a name."
    if len(set(names)) < len(names):
        return "Two pairs have the same name."
    used = [label for p in pairs for label in (p.left, p.right)]
    if any(p.left == p.right for p in pairs):
        return "A pair's left and right channels must differ."
    if len(set(used)) < len(used):
        return "A channel is used by two pairs."
    return ""


def _pick(message: str) -> StreamSummary | None:
    dialog = StreamPickerDialog(reason=message, preferred=Settings().last_stream)
    accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted.value
    return dialog.selected() if accepted else None


def _map(
    message: str, stream: str, labels: Sequence[str], pairs: Sequence[PairConfig]
) -> list[PairConfig]:
    remembered = [
        PairConfig(name=p["name"], left=p["left"], right=p["right"])
        for p in Settings().pairs_for(stream)
    ]
    dialog = PairMapDialog(message, labels, remembered or pairs)
    accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted.value
    return dialog.pairs() if accepted else []


def open_monitor(
    config: Config,
    calibration: Calibration | None,
    *,
    pick: Picker = _pick,
    map_pairs: Mapper = _map,
    recording: MonitorRecording | None = None,
) -> LiveMonitor | None:
    """Start a monitor, asking for a stream or a pair mapping when the config does not fit.

    Parameters
    ----------
    config : Config
        The config; its ``[stream]`` and ``[[pairs]]`` are the first try.
    calibration : Calibration | None
        A saved calibration; set aside (with a log line) if it does not fit the stream.
    pick : callable
        ``pick(message)`` returns the chosen stream, or None to give up.
    map_pairs : callable
        ``map_pairs(message, stream_name, labels, pairs)`` returns the pairs to use, or an
        empty list to give up.
    recording : MonitorRecording | None
        Record the session from the start (it starts the monitor its own way).

    Returns
    -------
    LiveMonitor | None
        Started; None if the user cancelled.
    """
    found = None  # once found, the stream is not looked for again (that takes seconds)
    while True:
        monitor = LiveMonitor(config, calibration=calibration, stream=found)
        try:
            if recording is None:
                monitor.start()
            else:
                recording.calibration = calibration  # what the sidecar says is in force
                recording.start_monitor(monitor)
        except (StreamNotFoundError, AmbiguousStreamError) as err:
            monitor.stop()
            chosen = pick(str(err))
            if chosen is None:
                return None
            config = config.replace(
                "stream",
                name=chosen.name,
                source_id=chosen.source_id,
                type=chosen.type,
                # It was just listed: a short timeout would only make it look missing again.
                timeout_s=max(config.stream.timeout_s, PICKED_TIMEOUT_S),
            )
            continue
        except ChannelMapError as err:
            found = monitor.stream_info
            labels = list(monitor.summary.labels) or [
                f"{i}" for i in range(monitor.summary.channel_count)
            ]
            monitor.stop()
            pairs = map_pairs(str(err), monitor.summary.name, labels, config.pairs)
            if not pairs:
                return None
            if not monitor.summary.labels:  # no labels: the table shows indices
                pairs = [
                    PairConfig(name=p.name, left=int(p.left), right=int(p.right)) for p in pairs
                ]
            config = config.with_pairs(pairs)
            mapped = [{"name": p.name, "left": str(p.left), "right": str(p.right)} for p in pairs]
            Settings().set_pairs_for(monitor.summary.name, mapped)
            continue
        except CalibrationError as err:
            found = monitor.stream_info
            monitor.stop()
            log.warning("the saved calibration does not fit this stream (%s); measuring rest", err)
            calibration = None
            continue
        _remember(config)
        return monitor


def _remember(config: Config) -> None:
    settings = Settings()
    settings.last_stream = config.stream.name
