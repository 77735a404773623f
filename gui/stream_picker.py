"""Choose an LSL stream when none is configured.

Listing streams blocks for about a second (LSL listens for answers), so it runs in a worker
thread and the dialog polls for the result on a timer; the Qt thread never calls pylsl. The
worker is joined before the dialog goes away, so no thread outlives it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from PyQt6 import QtCore, QtWidgets

from acquisition.streams import StreamSummary, list_streams

__all__ = ["StreamPickerDialog", "pick_stream"]

log = logging.getLogger(__name__)

COLUMNS = ("name", "type", "channels", "rate (Hz)", "format", "source_id", "host")
POLL_MS = 50

Lister = Callable[[float], list[StreamSummary]]


class StreamPickerDialog(QtWidgets.QDialog):
    """A table of the visible streams; the user picks one.

    Parameters
    ----------
    wait_s : float
        How long each listing listens.
    lister : callable
        ``lister(wait_s)`` returns the streams (:func:`acquisition.streams.list_streams`).
    reason : str
        Why a stream must be chosen (e.g. the configured one is not there), shown on top.
    preferred : str
        Highlight the stream of this name when it is listed (the one monitored last).
    parent : QWidget | None
        Owner window.
    """

    def __init__(
        self,
        *,
        wait_s: float = 1.0,
        lister: Lister = list_streams,
        reason: str = "",
        preferred: str = "",
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("MirrorScope: choose the EMG stream")
        self.wait_s = wait_s
        self.preferred = preferred
        self._lister = lister
        self.streams: list[StreamSummary] = []
        self._results: queue.Queue[list[StreamSummary] | BaseException] = queue.Queue()
        self._worker: threading.Thread | None = None
        layout = QtWidgets.QVBoxLayout(self)
        self.reason = QtWidgets.QLabel(reason)
        self.reason.setWordWrap(True)
        self.reason.setVisible(bool(reason))
        layout.addWidget(self.reason)
        self.status = QtWidgets.QLabel()
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self.accept)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.refresh_button = buttons.addButton(
            "Refresh", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole
        )
        self.refresh_button.clicked.connect(self.refresh)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(820, 360)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh()

    @property
    def busy(self) -> bool:
        """True while a listing runs."""
        return self._worker is not None

    def refresh(self) -> None:
        """List the streams again (in the background)."""
        if self._worker is not None:
            return
        self.status.setText("Looking for LSL streams …")
        self.refresh_button.setEnabled(False)
        self._worker = threading.Thread(target=self._list, name="stream-picker", daemon=True)
        self._worker.start()
        self._timer.start()

    def _list(self) -> None:
        try:
            self._results.put(self._lister(self.wait_s))
        except Exception as err:  # handed to the Qt thread, which shows it
            log.exception("listing LSL streams failed")
            self._results.put(err)

    def _poll(self) -> None:
        try:
            result = self._results.get_nowait()
        except queue.Empty:
            return
        self._timer.stop()
        self._join()
        self.refresh_button.setEnabled(True)
        if isinstance(result, BaseException):
            self.status.setText(f"Could not list streams: {result}")
            return
        self._show(result)

    def _show(self, streams: list[StreamSummary]) -> None:
        chosen = self.selected()
        self.streams = streams
        self.table.setRowCount(len(streams))
        for row, s in enumerate(streams):
            cells = (
                s.name,
                s.type,
                str(s.channel_count),
                f"{s.nominal_srate:g}",
                s.channel_format,
                s.source_id,
                s.hostname,
            )
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        emg = [i for i, s in enumerate(streams) if s.type.upper() == "EMG"]
        keep = [i for i, s in enumerate(streams) if chosen is not None and s.uid == chosen.uid]
        last = [i for i, s in enumerate(streams) if self.preferred and s.name == self.preferred]
        if keep or last or emg:
            self.table.selectRow((keep or last or emg)[0])
        n = len(streams)
        self.status.setText(
            f"{n} stream{'s' if n != 1 else ''} visible; choose the EMG stream to monitor."
            if n
            else "No LSL stream visible. Start the amplifier's LSL app, then Refresh."
        )

    def _selection_changed(self) -> None:
        self.ok_button.setEnabled(self.selected() is not None)

    def selected(self) -> StreamSummary | None:
        """The highlighted stream."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.streams):
            return None
        return self.streams[rows[0].row()]

    def select_name(self, name: str) -> bool:
        """Highlight the first stream called ``name``; True if there is one."""
        for row, s in enumerate(self.streams):
            if s.name == name:
                self.table.selectRow(row)
                return True
        return False

    def _join(self) -> None:
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def done(self, result: int) -> None:
        """Close; a listing still running is waited for (at most ``wait_s``)."""
        self._timer.stop()
        self._join()
        super().done(result)


def pick_stream(
    *, wait_s: float = 1.0, parent: QtWidgets.QWidget | None = None
) -> StreamSummary | None:
    """Show the stream picker and return the chosen stream (None if cancelled).

    Parameters
    ----------
    wait_s : float
        How long each listing listens for streams.
    parent : QWidget | None
        Owner window.

    Returns
    -------
    StreamSummary | None
        The stream; pass its ``name`` and ``source_id`` to the ``[stream]`` config.
    """
    from gui.app import ensure_app

    ensure_app()
    dialog = StreamPickerDialog(wait_s=wait_s, parent=parent)
    accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted.value
    return dialog.selected() if accepted else None
