"""The biofeedback bar: blue under the limit, orange and hatched after >= 100 ms above it."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.display import DisplaySnapshot
from detection.calibration import Calibration, ChannelCalibration
from detection.onset import Thresholds
from gui import palette
from gui.biofeedback import BiofeedbackWindow
from gui.feedback import FeedbackController
from gui.live_state import LiveState
from gui.settings import FeedbackSettings

pytestmark = pytest.mark.gui

FS_HZ = 2000.0
REST = ChannelCalibration(rest_mean_uv=3.0, rest_sd_uv=1.0, detect_mean=3.0, detect_sd=1.0)


class CountingTone:
    available = True

    def __init__(self):
        self.played = 0

    def play(self):
        self.played += 1


def _snapshot(t0: float, seconds: float, active_uv: float, mirror_uv: float) -> DisplaySnapshot:
    n = round(seconds * FS_HZ)
    t = t0 + np.arange(n) / FS_HZ
    envelope = np.column_stack([np.full(n, active_uv), np.full(n, mirror_uv)]).astype(np.float32)
    above = np.column_stack([np.full(n, active_uv > 20), np.full(n, mirror_uv > 20)])
    return DisplaySnapshot(
        t=t,
        filtered_uv=envelope,
        envelope_uv=envelope,
        detection=envelope,
        above=above,
        excluded=np.zeros((n, 2), bool),
    )


def test_bar_turns_orange_after_100_ms_over_the_limit_and_sounds_once(qtbot, app):
    calibration = Calibration(
        channels={"FDI-L": REST, "FDI-R": REST}, fs_hz=FS_HZ, mains_hz=50, settings={}
    )
    thresholds = Thresholds(on=np.array([8.0, 8.0]), off=np.array([5.5, 5.5]), baseline=np.zeros(2))
    tone = CountingTone()
    controller = FeedbackController(
        [("FDI", 0, 1)],
        ["FDI-L", "FDI-R"],
        FS_HZ,
        FeedbackSettings(threshold=0.2, tone=True),
        tone,  # type: ignore[arg-type]
    )
    state = LiveState(["FDI"])
    window = BiofeedbackWindow(["FDI"])
    qtbot.addWidget(window)
    window.show()
    bar = window.bars["FDI"]

    def show(t0, active_uv, mirror_uv):
        current = controller.update(
            _snapshot(t0, 0.06, active_uv, mirror_uv), state, thresholds, calibration
        )
        window.show_feedback(current, "")
        return current["FDI"]

    quiet = show(100.0, 200.0, 12.0)  # left moves, right a little: ratio ~0.05
    assert quiet.active_side == "left"
    assert quiet.levels.ratio == pytest.approx(0.05, abs=0.01)
    assert bar.colour == palette.SKY_BLUE
    first = show(100.1, 200.0, 100.0)  # ratio ~0.5 over the 0.2 limit: not yet 100 ms
    assert not first.over
    assert bar.colour == palette.SKY_BLUE
    show(100.15, 200.0, 100.0)
    assert bar.colour == palette.SKY_BLUE
    over = show(100.2, 200.0, 100.0)
    assert over.over
    assert bar.colour == palette.ORANGE
    show(100.25, 200.0, 100.0)
    assert tone.played == 1, "the tone sounds on the way up, not on every frame"
    image = bar.grab().toImage()
    assert image.width() > 0
    assert show(100.3, 200.0, 10.0).over is False
    assert bar.colour == palette.SKY_BLUE
    window.close()


def test_shaping_moves_the_limit_after_a_block_of_trials():
    controller = FeedbackController(
        [("FDI", 0, 1)],
        ["FDI-L", "FDI-R"],
        FS_HZ,
        FeedbackSettings(threshold=0.5, shaping=True, block_trials=3),
    )
    for ratio in (0.2, 0.4, 0.3):
        controller.on_event(
            {"event": "trial", "pair": "FDI", "bimanual": False, "ratio": ratio, "ratio_norm": None}
        )
    assert controller.shapers["FDI"].threshold == pytest.approx(0.24)
