"""The experimenter window on a real simulated stream over loopback LSL (offscreen Qt)."""

from __future__ import annotations

import threading

import pytest
from live_helpers import live_session
from PyQt6 import QtCore

from gui import palette
from gui.app import run_window
from gui.experimenter import ExperimenterWindow

pytestmark = pytest.mark.gui


def _open(qtbot, monitor, settings, **kwargs):
    window = ExperimenterWindow(monitor, settings=settings, **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


def test_window_draws_lights_the_indicator_and_the_biofeedback_bar(qtbot, app, settings):
    with live_session("congenital", speed=6.0, seed=3) as session:
        window = _open(qtbot, session.monitor, settings)
        window.show_biofeedback()
        bar = window.biofeedback.bars["FDI"]
        qtbot.waitUntil(
            lambda: (
                window.traces.curve_points("left") > 0 and window.traces.curve_points("right") > 0
            ),
            timeout=10_000,
        )
        indicator = window.indicators["FDI"]
        qtbot.waitUntil(lambda: indicator.lit, timeout=20_000)
        assert "MIRROR" in indicator.text()
        # Congenital mirror ratios (~0.5) exceed the default limit (0.2): orange, hatched.
        qtbot.waitUntil(lambda: bar.colour == palette.ORANGE, timeout=20_000)
        assert bar.feedback is not None
        assert bar.feedback.over
        qtbot.waitUntil(lambda: bar.colour == palette.SKY_BLUE, timeout=20_000)
        onsets = [p for p in window.state.status if p.get("state") == "calibrated"]
        assert onsets, "the rest calibration came through the event queue"
        qtbot.waitUntil(lambda: window.trials.rowCount() > 0, timeout=20_000)
        window.frame()  # the summary refreshes on the slow cycle; force one
        window._slow_refresh()
        assert window.summary.item(0, 1).text() != "0"
        assert window.health.values["rate"].text().endswith("(measured / nominal)")
        assert window.monitor.pipeline.thresholds is not None
        window.close()


def test_pause_keeps_acquisition_running_and_notes_reach_the_table(qtbot, app, settings):
    published = []
    with live_session("congenital", speed=6.0, seed=4) as session:
        window = _open(qtbot, session.monitor, settings, note=published.append)
        qtbot.waitUntil(lambda: window.traces.t_now is not None, timeout=10_000)
        window.toggle_pause()
        frozen = window.traces.t_now
        index = session.monitor.pipeline.index
        qtbot.waitUntil(lambda: session.monitor.pipeline.index > index + 4000, timeout=10_000)
        assert window.traces.t_now == frozen
        window.toggle_pause()
        qtbot.waitUntil(lambda: window.traces.t_now != frozen, timeout=5_000)
        window.add_note("patient sneezed")
        assert published == ["patient sneezed"]
        assert window.trials.item(0, 8).text() == "patient sneezed"
        window.controls.step_window(-1)
        assert window.controls.window_s == 5.0
        window.close()
    # Remembered for the next run.
    assert settings.window_s == 5.0


def test_closing_stops_every_timer_and_leaves_the_monitor_to_its_owner(qtbot, app, settings):
    before = set(threading.enumerate())
    with live_session("congenital", speed=6.0, seed=5) as session:
        window = _open(qtbot, session.monitor, settings)
        window.show_biofeedback()
        window.open_wizard()
        qtbot.waitUntil(lambda: window.frames > 5, timeout=10_000)
        timers = window.findChildren(QtCore.QTimer)
        assert any(t.isActive() for t in timers)
        window.close()
        assert not [t for t in timers if t.isActive()]
        assert not window.biofeedback.isVisible()
        assert session.monitor.running, "the window must not stop a monitor it did not start"
        # run_window too: it shows the window for its duration and leaves the monitor running.
        assert run_window(session.monitor, duration_s=1.0, record=print) == 0
        assert session.monitor.running
    qtbot.waitUntil(lambda: set(threading.enumerate()) <= before, timeout=5_000)
