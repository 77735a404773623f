"""The calibration wizard drives a live pipeline: rest, MVC per side, save, load, offer;
a broken calibration file is refused with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from live_helpers import live_session
from pytestqt.exceptions import TimeoutError as WaitTimeout

from detection.calibration import Calibration
from gui.experimenter import ExperimenterWindow

pytestmark = pytest.mark.gui


def test_wizard_recalibrates_measures_mvc_saves_and_the_file_is_offered_next_time(
    qtbot, app, settings, tmp_path
):
    # A long initial rest: the whole wizard runs while the simulated patient is relaxed.
    with live_session("congenital", speed=8.0, seed=7, initial_rest_s=90.0) as session:
        monitor = session.monitor
        window = ExperimenterWindow(monitor, settings=settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: monitor.pipeline.calibration is not None, timeout=15_000)
        before = np.array(monitor.pipeline.thresholds.on)

        wizard = window.open_wizard(mvc_s=0.3)
        assert [s.kind for s in wizard.steps] == ["rest", "mvc", "mvc", "save"]
        wizard.start_step()
        try:
            qtbot.waitUntil(lambda: wizard.index == 1, timeout=15_000)
        except WaitTimeout:
            pytest.fail(f"rest step did not finish: {wizard.results}, {window.state.status}")
        after = np.array(monitor.pipeline.thresholds.on)
        assert not np.allclose(before, after), "a new rest gives new thresholds"
        for expected_index in (2, 3):
            wizard.start_step()
            qtbot.waitUntil(lambda i=expected_index: wizard.index == i, timeout=10_000)
        assert set(wizard.mvc_uv) == {"FDI-L", "FDI-R"}
        assert wizard.save_button.isEnabled()

        path = tmp_path / "patient.json"
        assert wizard.save_to(path)
        saved = Calibration.load(path)
        assert saved.channels["FDI-L"].mvc_uv == pytest.approx(wizard.mvc_uv["FDI-L"])
        assert settings.last_calibration == path
        wizard.close()

        future = window.load_calibration(path)
        assert future is not None
        qtbot.waitUntil(future.done, timeout=5_000)
        assert future.exception() is None
        qtbot.waitUntil(lambda: window.banner.kind == "info", timeout=2_000)
        window.close()

        again = ExperimenterWindow(monitor, settings=settings)
        qtbot.addWidget(again)
        again.show()
        assert again.offer.isVisible(), "the saved calibration is offered next time"
        again.close()

        bad = tmp_path / "bad.json"
        bad.write_text("{}", encoding="utf-8")
        assert again.load_calibration(bad) is None
        assert again.banner.kind == "alert"
        assert "not a MirrorScope calibration" in again.banner.text()
