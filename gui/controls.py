"""The experimenter window's controls: display settings and the biofeedback settings."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from gui.feedback import FeedbackController
from gui.settings import FeedbackSettings

__all__ = ["DisplayControls", "FeedbackControls"]

#: Steps of the time window (s) that the +/- keys move through.
WINDOW_STEPS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class DisplayControls(QtWidgets.QWidget):
    """Time window and trace scale.

    Parameters
    ----------
    window_s : float
        Initial time window.
    scale_uv : float
        Initial trace range (+- microvolts).
    max_window_s : float
        The display buffer's length.
    """

    changed = QtCore.pyqtSignal()

    def __init__(self, window_s: float, scale_uv: float, max_window_s: float) -> None:
        super().__init__()
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.max_window_s = max_window_s
        self.window = QtWidgets.QDoubleSpinBox()
        self.window.setRange(0.5, max_window_s)
        self.window.setDecimals(1)
        self.window.setSuffix(" s")
        self.window.setValue(min(window_s, max_window_s))
        self.window.setToolTip("Time shown (keys + and -)")
        self.scale = QtWidgets.QDoubleSpinBox()
        self.scale.setRange(5.0, 10000.0)
        self.scale.setDecimals(0)
        self.scale.setPrefix("± ")
        self.scale.setSuffix(" µV")
        self.scale.setValue(scale_uv)
        self.scale.setToolTip("Range of the filtered traces (keys Up and Down)")
        for text, box in (("window", self.window), ("scale", self.scale)):
            layout.addWidget(QtWidgets.QLabel(text))
            layout.addWidget(box)
            box.valueChanged.connect(self.changed)

    @property
    def window_s(self) -> float:
        """The time window."""
        return float(self.window.value())

    @property
    def scale_uv(self) -> float:
        """The trace range."""
        return float(self.scale.value())

    def step_window(self, direction: int) -> None:
        """Widen (+1) or narrow (-1) the time window to the next step."""
        now = self.window_s
        steps = [s for s in WINDOW_STEPS_S if s <= self.max_window_s]
        if direction > 0:
            bigger = [s for s in steps if s > now + 1e-6]
            self.window.setValue(bigger[0] if bigger else self.max_window_s)
        else:
            smaller = [s for s in steps if s < now - 1e-6]
            self.window.setValue(smaller[-1] if smaller else steps[0])

    def step_scale(self, direction: int) -> None:
        """Double (+1) or halve (-1) the trace range."""
        self.scale.setValue(self.scale_uv * (2.0 if direction > 0 else 0.5))


class FeedbackControls(QtWidgets.QGroupBox):
    """The therapist's biofeedback settings, and what the thresholds are now.

    Parameters
    ----------
    settings : FeedbackSettings
        Initial values.
    tone_available : bool
        Whether a tone can be played on this machine.
    """

    changed = QtCore.pyqtSignal()
    open_window = QtCore.pyqtSignal()

    def __init__(self, settings: FeedbackSettings, tone_available: bool) -> None:
        super().__init__("Biofeedback")
        form = QtWidgets.QFormLayout(self)
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(1.0, 300.0)
        self.threshold.setSuffix(" %")
        self.threshold.setValue(100 * settings.threshold)
        self.threshold.setToolTip(
            "The patient's limit: mirror-side activity as a percentage of the moving side's "
            "(MVC-normalised when both MVCs are calibrated)"
        )
        self.shaping = QtWidgets.QCheckBox("shape: next block's limit = 80 % of its median")
        self.shaping.setChecked(settings.shaping)
        self.block = QtWidgets.QSpinBox()
        self.block.setRange(1, 100)
        self.block.setSuffix(" trials per block")
        self.block.setValue(settings.block_trials)
        self.target_low = QtWidgets.QDoubleSpinBox()
        self.target_high = QtWidgets.QDoubleSpinBox()
        for box, value in (
            (self.target_low, settings.target_low_percent),
            (self.target_high, settings.target_high_percent),
        ):
            box.setRange(1.0, 100.0)
            box.setSuffix(" % MVC")
            box.setValue(value)
        self.tone = QtWidgets.QCheckBox("tone when over the limit")
        self.tone.setChecked(settings.tone and tone_available)
        if not tone_available:
            self.tone.setEnabled(False)
            self.tone.setToolTip("No sound on this machine (Qt Multimedia or audio missing)")
        target = QtWidgets.QHBoxLayout()
        target.addWidget(self.target_low)
        target.addWidget(QtWidgets.QLabel("to"))
        target.addWidget(self.target_high)
        self.current = QtWidgets.QLabel("–")
        self.current.setWordWrap(True)
        button = QtWidgets.QPushButton("Open biofeedback window (B)")
        button.clicked.connect(self.open_window)
        form.addRow("limit", self.threshold)
        form.addRow("", self.shaping)
        form.addRow("block", self.block)
        form.addRow("effort target", target)
        form.addRow("", self.tone)
        form.addRow("now", self.current)
        form.addRow(button)
        for box in (self.threshold, self.block, self.target_low, self.target_high):
            box.valueChanged.connect(self.changed)
        for check in (self.shaping, self.tone):
            check.toggled.connect(self.changed)

    def values(self) -> FeedbackSettings:
        """The settings as shown."""
        low, high = sorted((self.target_low.value(), self.target_high.value()))
        return FeedbackSettings(
            threshold=self.threshold.value() / 100,
            shaping=self.shaping.isChecked(),
            block_trials=self.block.value(),
            target_low_percent=low,
            target_high_percent=high,
            tone=self.tone.isChecked(),
        )

    def show_current(self, controller: FeedbackController) -> None:
        """Show each pair's limit now (it moves when shaping)."""
        parts = []
        for name, shaper in controller.shapers.items():
            text = f"{name}: limit {100 * shaper.threshold:.0f} %"
            if shaper.shaping:
                text += (
                    f" (block {shaper.blocks + 1}, {shaper.trials_in_block}/"
                    f"{shaper.block_trials} trials)"
                )
            parts.append(text)
        text = "; ".join(parts)
        if self.current.text() != text:
            self.current.setText(text)
