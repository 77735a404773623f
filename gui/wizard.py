"""The calibration wizard: rest, then MVC of each side of each pair, then save.

Every step is started by the experimenter (so the patient is ready) and counts down on screen.
The rest step asks the pipeline to measure rest again and waits for its ``calibrated`` (or
``calibration_failed``: the pipeline then measures again, and the wizard says why). An MVC step
measures one channel while the patient contracts as hard as possible. All pipeline calls travel
through ``monitor.command`` and are waited for by polling their futures on the Qt timer, so the
window never blocks. The thresholds drawn in the experimenter window change as soon as the new
rest is in.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from acquisition.runner import LiveMonitor
from detection.events import Event, State
from gui import palette
from gui.settings import Settings

__all__ = ["CalibrationWizard", "Step"]

log = logging.getLogger(__name__)

#: How long the patient contracts for one MVC (s).
DEFAULT_MVC_S = 5.0
#: How often the wizard checks its futures and countdowns (ms).
TICK_MS = 100


@dataclass(frozen=True)
class Step:
    """One wizard step: ``rest``, ``mvc`` (with pair, side and channel label) or ``save``."""

    kind: str
    pair: str = ""
    side: str = ""
    label: str = ""

    @property
    def title(self) -> str:
        """A heading for the step."""
        if self.kind == "rest":
            return "Rest"
        if self.kind == "mvc":
            return f"Maximum contraction: {self.pair}, {self.side} ({self.label})"
        return "Save the calibration"


class CalibrationWizard(QtWidgets.QDialog):
    """Guide a calibration on a running monitor.

    Parameters
    ----------
    monitor : LiveMonitor
        A started monitor.
    settings : Settings
        Where the last calibration path is remembered.
    mvc_s : float
        Duration of each MVC contraction.
    parent : QWidget | None
        Owner window.
    """

    #: Emitted with a saved calibration's path.
    saved = QtCore.pyqtSignal(Path)
    #: Emitted when rest is measured again (the detector restarts: open periods end).
    restarted = QtCore.pyqtSignal()

    def __init__(
        self,
        monitor: LiveMonitor,
        settings: Settings,
        *,
        mvc_s: float = DEFAULT_MVC_S,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("MirrorScope calibration")
        self.monitor = monitor
        self.settings = settings
        self.mvc_s = mvc_s
        self.steps = [Step("rest")]
        for name, left, right in monitor.pipeline.pairs:
            for side, ch in (("left", left), ("right", right)):
                self.steps.append(Step("mvc", name, side, monitor.labels[ch]))
        self.steps.append(Step("save"))
        self.index = 0
        #: "ready" (waiting for Start), "running", or "finished" (all steps done).
        self.phase = "ready"
        self.results: list[str] = []
        self.mvc_uv: dict[str, float] = {}
        self._future: Future[Any] | None = None
        self._rest_from: int | None = None
        self._ends_at: float | None = None
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._show_step()

    # ---- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        self.heading = QtWidgets.QLabel()
        self.instruction = QtWidgets.QLabel()
        self.countdown = QtWidgets.QLabel()
        self.progress = QtWidgets.QProgressBar()
        self.log_view = QtWidgets.QLabel()
        for label, size, bold in (
            (self.heading, 16, True),
            (self.instruction, 13, False),
            (self.countdown, 30, True),
        ):
            font = label.font()
            font.setPointSize(size)
            font.setBold(bold)
            label.setFont(font)
            label.setWordWrap(True)
        self.countdown.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.countdown.setStyleSheet(f"color: {palette.BLUE};")
        self.log_view.setWordWrap(True)
        self.log_view.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setDefault(True)
        self.skip_button = QtWidgets.QPushButton("Skip")
        self.save_button = QtWidgets.QPushButton("Save calibration…")
        close = QtWidgets.QPushButton("Close")
        self.start_button.clicked.connect(self.start_step)
        self.skip_button.clicked.connect(self.skip_step)
        self.save_button.clicked.connect(self.save_dialog)
        close.clicked.connect(self.close)
        for button in (self.start_button, self.skip_button, self.save_button, close):
            buttons.addWidget(button)
        for widget in (self.heading, self.instruction, self.countdown, self.progress):
            layout.addWidget(widget)
        layout.addWidget(self.log_view, 1)
        layout.addLayout(buttons)
        self.resize(560, 420)

    @property
    def step(self) -> Step:
        """The current step (the save step once everything else is done)."""
        return self.steps[min(self.index, len(self.steps) - 1)]

    def _show_step(self) -> None:
        step = self.step
        n = len(self.steps)
        self.heading.setText(f"Step {min(self.index + 1, n)} of {n}: {step.title}")
        running = self.phase == "running"
        if step.kind == "rest":
            text = (
                "Ask the patient to relax both sides completely and keep still. Press Start; "
                f"rest is measured for {self.monitor.config.calibration.rest_s:g} s."
            )
        elif step.kind == "mvc":
            text = (
                f"Ask the patient to contract {step.pair} on the {step.side.upper()} side as "
                f"hard as possible for {self.mvc_s:g} s, the other side relaxed. Press Start, "
                "then encourage them until the countdown ends."
            )
        else:
            text = "Save the calibration to reuse it in the next session with this patient."
        self.instruction.setText(text)
        self.start_button.setEnabled(not running and step.kind != "save")
        self.skip_button.setEnabled(not running and step.kind == "mvc")
        self.save_button.setEnabled(step.kind == "save" and self._calibrated())
        if not running:
            self.countdown.setText("")
            self.progress.setValue(0)
        self.log_view.setText("\n".join(self.results[-8:]))

    def _calibrated(self) -> bool:
        return self.monitor.pipeline.calibration is not None

    # ---- steps -----------------------------------------------------------------------------

    def start_step(self) -> None:
        """Start the current step (the Start button)."""
        if self.phase == "running" or self.step.kind == "save":
            return
        step = self.step
        self.phase = "running"
        if step.kind == "rest":
            self._future = self.monitor.command(_recalibrate)
            self._rest_from = None
            self.countdown.setText("RELAX")
            self.restarted.emit()
        else:
            label = step.label
            self._future = self.monitor.command(lambda p: p.begin_mvc([label]))
            self._ends_at = time.monotonic() + self.mvc_s
        self._show_step()

    def skip_step(self) -> None:
        """Skip an MVC step (the patient cannot do it, or it is not wanted)."""
        if self.phase == "running" or self.step.kind != "mvc":
            return
        self.results.append(f"{self.step.label}: MVC skipped")
        self._next()

    def on_event(self, event: Event) -> None:
        """Take an event from the monitor (the window forwards all of them)."""
        if self.phase != "running" or self.step.kind != "rest" or self._rest_from is None:
            return
        payload = event.payload
        if payload.get("event") != "status" or event.decided_index < self._rest_from:
            return  # an older calibration's event, still in the queue
        state = payload.get("state")
        if state == State.CALIBRATED:
            rest = ", ".join(f"{k} {v:.1f} µV" for k, v in payload.get("rest_uv", {}).items())
            self.results.append(f"rest measured: {rest}; mains {payload.get('mains_hz')} Hz")
            self._next()
        elif state == State.CALIBRATION_FAILED:
            channels = ", ".join(payload.get("channels", []))
            self.results.append(
                f"rest refused ({payload.get('reason')}: {channels}); measuring again, keep still"
            )
            self._show_step()

    def tick(self) -> None:
        """Advance countdowns and collect finished commands (on the wizard's timer)."""
        if self.phase != "running":
            return
        step = self.step
        future = self._future
        if future is not None and future.done():
            self._future = None
            error = future.exception()
            if error is not None:
                self._fail(f"{step.title}: {error}")
                return
            if step.kind == "rest":
                self._rest_from = int(future.result())
            elif self._ends_at is None:  # the end_mvc command came back
                self._mvc_done(future.result())
                return
        if step.kind == "rest":
            progress = self.monitor.pipeline.rest_progress
            left_s = (1 - progress) * self.monitor.config.calibration.rest_s
            self.countdown.setText(f"RELAX  {left_s:.0f} s")
            self.progress.setValue(round(100 * progress))
        elif self._ends_at is not None:
            left_s = max(0.0, self._ends_at - time.monotonic())
            self.countdown.setText(f"SQUEEZE  {left_s:.0f} s")
            self.progress.setValue(round(100 * (1 - left_s / self.mvc_s)))
            if left_s <= 0 and self._future is None:
                self._ends_at = None
                self._future = self.monitor.command(lambda p: p.end_mvc())

    def _mvc_done(self, result: dict[str, float]) -> None:
        label = self.step.label
        if label not in result:
            self._fail(f"{label}: no MVC measured (is the rest calibrated?)")
            return
        self.mvc_uv[label] = result[label]
        self.results.append(f"{label}: MVC {result[label]:.0f} µV")
        self._next()

    def _fail(self, message: str) -> None:
        log.warning("calibration: %s", message)
        self.results.append(f"⚠ {message}")
        self.phase = "ready"
        self._show_step()

    def _next(self) -> None:
        self.index += 1
        self.phase = "finished" if self.index >= len(self.steps) - 1 else "ready"
        self._show_step()

    # ---- saving ----------------------------------------------------------------------------

    def default_path(self) -> Path:
        """A file name in the last folder used, dated."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        return self.settings.last_folder / f"calibration-{stamp}.json"

    def save_dialog(self) -> None:
        """Ask where to save, then save."""
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save calibration", str(self.default_path()), "Calibration (*.json)"
        )
        if name:
            self.save_to(Path(name))

    def save_to(self, path: Path) -> bool:
        """Save the pipeline's calibration (rest and any MVC) to ``path``; True on success."""
        calibration = self.monitor.pipeline.calibration
        if calibration is None:
            self.results.append("⚠ nothing to save: rest is not calibrated")
            self._show_step()
            return False
        try:
            calibration.save(path)
        except OSError as err:
            self.results.append(f"⚠ could not save {path}: {err}")
            self._show_step()
            return False
        self.settings.last_calibration = path
        self.settings.last_folder = path.parent
        self.results.append(f"saved to {path}")
        self.index = len(self.steps)
        self.phase = "finished"
        self._show_step()
        self.saved.emit(path)
        return True

    def closeEvent(self, event: QtGui.QCloseEvent | None) -> None:  # noqa: N802 - Qt API
        """Stop the timer; an MVC measurement in progress is ended (what it saw is kept)."""
        self._timer.stop()
        if self.phase == "running" and self.step.kind == "mvc":
            self.monitor.command(lambda p: p.end_mvc())
        self.phase = "ready" if self.phase == "running" else self.phase
        super().closeEvent(event)


def _recalibrate(pipeline: Any) -> int:
    """Measure rest again; return the index from which the new rest is measured."""
    pipeline.recalibrate()
    return int(pipeline.index)
