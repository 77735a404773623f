"""The experimenter window: traces, detector state, trials, summaries, health and controls.

Everything the window shows comes from the monitor's display buffer, event queue and health,
read on one Qt timer; every change to the detection travels as a ``monitor.command``. The
window never calls pylsl, never blocks on the acquisition thread, and stops nothing it did not
start: closing it leaves the monitor to whoever started it.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from acquisition.runner import LiveMonitor
from detection.events import Event, State
from gui import palette
from gui.biofeedback import BiofeedbackWindow
from gui.controls import DisplayControls, FeedbackControls
from gui.feedback import FeedbackController
from gui.live_state import LiveState
from gui.messages import banner_for, calibration_text
from gui.session_actions import SessionActions
from gui.settings import Settings
from gui.terminal import describe_event
from gui.tone import Tone
from gui.widgets.status import Banner, HealthPanel, MirrorIndicator
from gui.widgets.tables import SummaryTable, TrialTable
from gui.widgets.traces import TracePanel
from gui.wizard import DEFAULT_MVC_S, CalibrationWizard

__all__ = ["ExperimenterWindow"]

log = logging.getLogger(__name__)

#: Redraw period (ms): 50 Hz asked for, so that >= 30 fps holds with some slack.
FRAME_MS = 20
#: Health and summaries change slowly: refreshed every this many frames.
SLOW_EVERY = 10
#: Events handled per frame at most, so a burst never freezes the window.
MAX_EVENTS_PER_FRAME = 500

Recorder = Callable[[Path], object]
NoteSink = Callable[[str], object]


class ExperimenterWindow(SessionActions, QtWidgets.QMainWindow):
    """The live display for a started monitor.

    Parameters
    ----------
    monitor : LiveMonitor
        A started monitor (the window reads it; it never stops it).
    record : callable | None
        ``record(path)`` starts a recording; if what it returns has ``stop()``, the Record
        button stops it again (and closing the window does). None disables the button.
    note : callable | None
        ``note(text)`` publishes a typed note (e.g. as an LSL marker).
    settings : Settings | None
        Remembered settings (the user's QSettings by default).
    """

    closed = QtCore.pyqtSignal()

    def __init__(
        self,
        monitor: LiveMonitor,
        *,
        record: Recorder | None = None,
        note: NoteSink | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.settings = settings or Settings()
        self._record = record
        self._note = note
        self._recording: object | None = None
        self._pending: list[tuple[Future[Any], Callable[[Future[Any]], None]]] = []
        self.paused = False
        self.frames = 0
        self.state = LiveState(monitor.pair_names)
        self.wizard: CalibrationWizard | None = None
        self.tone = Tone()
        self.feedback = FeedbackController(
            monitor.pipeline.pairs,
            monitor.labels,
            monitor.fs_hz,
            self.settings.feedback,
            self.tone,
        )
        self.biofeedback = BiofeedbackWindow(monitor.pair_names)
        self._error_shown = False
        self.setWindowTitle(f"MirrorScope: {monitor.summary.name}")
        self._build()
        self._actions()
        geometry = self.settings.geometry
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 900)
        self._offer_last_calibration()
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.frame)
        self.timer.start()

    # ---- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        m = self.monitor
        capacity = m.display.capacity
        max_window_s = capacity / m.fs_hz
        self.controls = DisplayControls(
            self.settings.window_s, self.settings.scale_uv, max_window_s
        )
        self.controls.changed.connect(self._display_changed)
        self.traces = TracePanel(m.labels, m.pipeline.pairs)
        self.traces.set_scale(self.controls.scale_uv)
        self.traces.set_window(self.controls.window_s)
        self.banner = Banner()
        self.offer = QtWidgets.QWidget()
        self.indicators = {name: MirrorIndicator(name) for name in m.pair_names}
        row = QtWidgets.QHBoxLayout()
        for indicator in self.indicators.values():
            row.addWidget(indicator)
        row.addStretch(1)
        legend = QtWidgets.QLabel(_LEGEND)
        legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        left = QtWidgets.QVBoxLayout()
        for widget in (self.banner, self.offer):
            left.addWidget(widget)
        left.addLayout(row)
        left.addWidget(self.traces, 1)
        left.addWidget(legend)

        self.health = HealthPanel()
        self.summary = SummaryTable(m.pair_names)
        self.summary.setMaximumHeight(60 + 30 * len(m.pair_names))
        self.trials = TrialTable()
        self.feedback_controls = FeedbackControls(self.settings.feedback, self.tone.available)
        self.feedback_controls.changed.connect(self._feedback_changed)
        self.feedback_controls.open_window.connect(self.show_biofeedback)
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        tabs = QtWidgets.QTabWidget()
        tabs.addTab(self.trials, "Trials")
        tabs.addTab(self.log_view, "Log")
        tabs.addTab(self.feedback_controls, "Biofeedback")
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.health)
        right.addWidget(QtWidgets.QLabel("<b>Session summary</b> (grade: provisional)"))
        right.addWidget(self.summary)
        right.addWidget(tabs, 1)

        splitter = QtWidgets.QSplitter()
        for layout in (left, right):
            holder = QtWidgets.QWidget()
            holder.setLayout(layout)
            splitter.addWidget(holder)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([960, 640])
        self.setCentralWidget(splitter)

    def _actions(self) -> None:
        bar = self.addToolBar("actions")
        bar.setMovable(False)
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.pause_action = self._action(bar, "Pause (Space)", "Space", self.toggle_pause)
        self.pause_action.setCheckable(True)
        self._action(bar, "Biofeedback (B)", "B", self.show_biofeedback)
        self._action(bar, "Calibrate (C)", "C", self.open_wizard)
        self._action(bar, "Load calibration… (L)", "L", self.load_calibration_dialog)
        self.record_action = self._action(bar, "Record (R)", "R", self.toggle_record)
        if self._record is None:
            self.record_action.setEnabled(False)
            self.record_action.setToolTip("Recording is not available in this session")
        self._action(bar, "Note (N)", "N", self.note_dialog)
        bar.addSeparator()
        bar.addWidget(self.controls)
        for keys, handler in (
            (("+", "="), lambda: self.controls.step_window(+1)),
            (("-",), lambda: self.controls.step_window(-1)),
            (("Up",), lambda: self.controls.step_scale(+1)),
            (("Down",), lambda: self.controls.step_scale(-1)),
        ):
            for key in keys:
                QtGui.QShortcut(QtGui.QKeySequence(key), self, handler)

    def _action(
        self, bar: QtWidgets.QToolBar, text: str, key: str, handler: Callable[[], object]
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        action.setShortcut(QtGui.QKeySequence(key))
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: handler())
        bar.addAction(action)
        return action

    # ---- the frame -------------------------------------------------------------------------

    def frame(self) -> None:
        """Handle new events, redraw, refresh health (the timer calls this)."""
        self._drain_events()
        self._poll_futures()
        m = self.monitor
        window_n = round(self.controls.window_s * m.fs_hz)
        snap = m.display.snapshot(self.feedback.window_n if self.paused else window_n)
        thresholds = m.pipeline.thresholds
        calibrated = m.pipeline.calibration is not None
        if self.trials.t0 is None and len(snap.t):
            self.trials.t0 = float(snap.t[0])
        if not self.paused:
            self.traces.redraw(snap, thresholds if calibrated else None, self.state)
        for name, indicator in self.indicators.items():
            indicator.refresh(self.state.pairs[name])
        current = self.feedback.update(snap, self.state, thresholds, m.pipeline.calibration)
        if self.biofeedback.isVisible():
            waiting = "calibrating: please relax" if not calibrated else "waiting for data"
            self.biofeedback.show_feedback(current, waiting)
        if self.frames % SLOW_EVERY == 0:
            self._slow_refresh()
        self.banner.tick()
        self.frames += 1

    def _slow_refresh(self) -> None:
        m = self.monitor
        health = m.health()
        text = calibration_text(
            health, m.config.calibration.rest_s, m.pipeline.calibration, m.labels
        )
        self.health.show_health(health, text)
        for stats in self.state.stats.pairs.values():
            self.summary.update_pair(stats)
        self.feedback_controls.show_current(self.feedback)
        self.check_recording()
        if m.error is not None and not self._error_shown:
            self._error_shown = True
            self.banner.alert(f"Acquisition stopped: {type(m.error).__name__}: {m.error}")

    def _drain_events(self) -> None:
        for _ in range(MAX_EVENTS_PER_FRAME):
            try:
                event = self.monitor.events.get_nowait()
            except queue.Empty:
                return
            self.handle_event(event)

    def handle_event(self, event: Event) -> None:
        """Take one event into every view (public so that tests can inject events)."""
        payload = event.payload
        self.state.add(payload)
        self.feedback.on_event(payload)
        if self.wizard is not None:
            self.wizard.on_event(event)
        kind = event.kind
        if kind == "mirror_onset":
            # At once, not at the next frame: this is the moment the experimenter waits for.
            self.indicators[payload["pair"]].refresh(self.state.pairs[payload["pair"]])
        elif kind == "trial":
            self.trials.add_trial(payload)
        banner = banner_for(payload)
        if banner is not None:
            kind_, text = banner
            if kind_ == "alert":
                self.banner.alert(text)
            elif self.banner.kind != "alert" or payload.get("state") in (
                State.STREAM_RESUMED,
                State.CALIBRATED,
            ):
                self.banner.info(text)
        line = describe_event(payload)
        if line is not None:
            self._log(line)

    def _log(self, line: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")
        self.statusBar().showMessage(line, 10000)

    def _poll_futures(self) -> None:
        done = [(f, cb) for f, cb in self._pending if f.done()]
        if not done:
            return
        self._pending = [(f, cb) for f, cb in self._pending if not f.done()]
        for future, callback in done:
            callback(future)

    # ---- actions ---------------------------------------------------------------------------

    def toggle_pause(self) -> None:
        """Freeze or resume the traces (acquisition and detection carry on)."""
        self.paused = not self.paused
        self.pause_action.setChecked(self.paused)
        self.pause_action.setText("Resume (Space)" if self.paused else "Pause (Space)")
        self._log("display paused (acquisition continues)" if self.paused else "display resumed")

    def show_biofeedback(self) -> None:
        """Open (or raise) the patient's window, on a second screen if there is one."""
        screens = QtGui.QGuiApplication.screens()
        mine = self.screen()
        others = [s for s in screens if s is not mine]
        if others and not self.biofeedback.isVisible():
            self.biofeedback.setGeometry(others[0].availableGeometry())
        self.biofeedback.show()
        self.biofeedback.raise_()

    def open_wizard(self, mvc_s: float = DEFAULT_MVC_S) -> CalibrationWizard:
        """Open the calibration wizard (or raise the open one).

        Parameters
        ----------
        mvc_s : float
            Length of each MVC contraction.
        """
        if self.wizard is None:
            self.wizard = CalibrationWizard(self.monitor, self.settings, mvc_s=mvc_s, parent=self)
            self.wizard.restarted.connect(self.state.restart)
            self.wizard.saved.connect(lambda path: self._log(f"calibration saved to {path}"))
            self.wizard.finished.connect(self._wizard_closed)
        self.wizard.show()
        self.wizard.raise_()
        return self.wizard

    def _wizard_closed(self) -> None:
        self.wizard = None

    # ---- settings and closing ------------------------------------------------------------

    def _display_changed(self) -> None:
        self.traces.set_scale(self.controls.scale_uv)
        self.traces.set_window(self.controls.window_s)
        self.settings.window_s = self.controls.window_s
        self.settings.scale_uv = self.controls.scale_uv

    def _feedback_changed(self) -> None:
        values = self.feedback_controls.values()
        self.feedback.apply_settings(values)
        self.settings.feedback = values

    def closeEvent(self, event: QtGui.QCloseEvent | None) -> None:  # noqa: N802 - Qt API
        """Stop the timers, close the other windows, stop our recording, remember settings."""
        self.timer.stop()
        if self.wizard is not None:
            self.wizard.close()
        self.biofeedback.close()
        self.stop_recording()
        self.tone.close()
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.closed.emit()
        super().closeEvent(event)


_LEGEND = (
    f'<span style="color:{palette.TRACE}">━</span> filtered &nbsp; '
    f'<span style="color:{palette.ENVELOPE}"><b>━</b></span> detection envelope &nbsp; '
    f'<span style="color:{palette.ON_LINE}"><b>╍ on</b></span> / '
    f'<span style="color:{palette.OFF_LINE}"><b>┈ off</b></span> thresholds &nbsp; '
    f'<span style="background:{palette.ACTIVE}">&nbsp;&nbsp;&nbsp;</span> active (solid) &nbsp; '
    f'<span style="background:{palette.MIRROR}">&nbsp;╱╱&nbsp;</span> mirror (hatched)'
)
