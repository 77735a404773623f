"""The experimenter window's session actions: calibration files, recording, notes.

A mixin of :class:`gui.experimenter.ExperimenterWindow`, kept apart so that each module reads
in one sitting; it uses the window's monitor, settings, banner, log, tables and pending
futures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6 import QtWidgets

from detection.calibration import Calibration, CalibrationError
from gui import palette

if TYPE_CHECKING:
    from PyQt6 import QtGui

    from acquisition.runner import LiveMonitor
    from gui.live_state import LiveState
    from gui.settings import Settings
    from gui.widgets.status import Banner
    from gui.widgets.tables import TrialTable

__all__ = ["SessionActions"]

log = logging.getLogger(__name__)


class SessionActions:
    """Calibration files, recording and notes (mixed into the experimenter window)."""

    monitor: LiveMonitor
    settings: Settings
    banner: Banner
    state: LiveState
    trials: TrialTable
    offer: QtWidgets.QWidget
    record_action: QtGui.QAction
    _record: Callable[[Path], object] | None
    _note: Callable[[str], object] | None
    _recording: object | None
    _pending: list[tuple[Future[Any], Callable[[Future[Any]], None]]]

    def _log(self, line: str) -> None:
        raise NotImplementedError

    def load_calibration_dialog(self) -> None:
        """Ask for a calibration file and use it."""
        start = self.settings.last_calibration or self.settings.last_folder
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Load calibration", str(start), "Calibration (*.json)"
        )
        if name:
            self.load_calibration(Path(name))

    def load_calibration(self, path: Path) -> Future[Any] | None:
        """Use a saved calibration; problems are shown on the banner.

        Returns
        -------
        Future | None
            The pipeline command, or None when the file could not be read.
        """
        try:
            calibration = Calibration.load(path)
        except CalibrationError as err:
            self.banner.alert(f"Calibration not loaded: {err}")
            return None
        future = self.monitor.command(lambda p: p.set_calibration(calibration))

        def done(f: Future[Any]) -> None:
            if f.exception() is not None:
                self.banner.alert(f"Calibration not used: {f.exception()}")
                return
            self.settings.last_calibration = path
            self.banner.info(f"Using calibration {path.name} ({calibration.created_utc})")
            self._log(f"calibration loaded from {path}")

        self._pending.append((future, done))
        self.offer.hide()
        return future

    def _offer_last_calibration(self) -> None:
        path = self.settings.last_calibration
        self.offer.hide()
        if path is None or not path.is_file() or self.monitor.config.calibration.file:
            return
        layout = QtWidgets.QHBoxLayout(self.offer)
        layout.setContentsMargins(0, 0, 0, 0)
        text = QtWidgets.QLabel(f"Last calibration: <b>{path.name}</b>. Use it for this session?")
        use = QtWidgets.QPushButton("Use it")
        dismiss = QtWidgets.QPushButton("No, measure rest")
        use.clicked.connect(lambda: self.load_calibration(path))
        dismiss.clicked.connect(self.offer.hide)
        layout.addWidget(text, 1)
        layout.addWidget(use)
        layout.addWidget(dismiss)
        self.offer.setStyleSheet(f"background: {palette.LIGHT_GREY};")
        self.offer.show()

    def toggle_record(self) -> None:
        """Start a recording (asking where) or stop the one this window started."""
        if self._record is None:
            return
        if self._recording is not None:
            self.stop_recording()
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        default = self.settings.last_folder / f"session-{stamp}.xdf"
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Record session", str(default), "XDF (*.xdf)"
        )
        if name:
            self.start_recording(Path(name))

    def start_recording(self, path: Path) -> None:
        """Call the recorder with ``path``."""
        if self._record is None:
            return
        try:
            self._recording = self._record(path)
        except Exception as err:  # any recorder failure is shown, not fatal
            log.exception("recording to %s failed", path)
            self.banner.alert(f"Recording failed: {err}")
            return
        self.settings.last_folder = path.parent
        if not callable(getattr(self._recording, "stop", None)):
            self._recording = None  # nothing to stop: the recorder runs on its own
        else:
            self.record_action.setText("Stop recording (R)")
        self._log(f"recording to {path}")

    def check_recording(self) -> None:
        """Say so when the recording this window started stopped on its own (disk full, ...)."""
        error = getattr(self._recording, "error", None)
        if self._recording is None or not error:
            return
        recording, self._recording = self._recording, None  # Record starts a new one
        recording.stop()  # completes the sidecar of what was written
        self.record_action.setText("Record (R)")
        self.banner.alert(f"Recording stopped: {error}. Detection goes on.")
        self._log(f"recording stopped: {error}")

    def stop_recording(self) -> None:
        """Stop the recording this window started."""
        recording, self._recording = self._recording, None
        if recording is not None:
            recording.stop()  # type: ignore[attr-defined]
            self.record_action.setText("Record (R)")
            self._log("recording stopped")

    def note_dialog(self) -> None:
        """Ask for a note and add it."""
        text, ok = QtWidgets.QInputDialog.getText(
            self,
            "Note",
            "Note for this moment:",
        )
        if ok and text.strip():
            self.add_note(text.strip())

    def add_note(self, text: str) -> None:
        """Add a note to the trial table and log, and publish it through ``note``."""
        snap = self.monitor.display.snapshot(1)
        t = float(snap.t[-1]) if len(snap.t) else None
        self.trials.add_note(self.state.add_note(text, t))
        if self._note is None:
            self._log(f"note: {text}")
        else:  # logged when it comes back as an event, i.e. once it is published
            try:
                self._note(text)
            except Exception as err:  # a marker that fails must not close us
                log.exception("publishing the note failed")
                self.banner.alert(f"Note not published: {err}")
