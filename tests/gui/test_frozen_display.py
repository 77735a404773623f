"""A display that hangs for 2 s holds up nothing: acquisition, events and recording carry on."""

from __future__ import annotations

import time

import pytest
from live_helpers import file_size, live_session

pytestmark = pytest.mark.gui

#: 16 s of stream during the freeze: longer than a whole trial cycle (hold <= 5 s + rest <= 6 s),
#: so at least one activation is decided while the display is frozen.
SPEED = 8.0
FREEZE_S = 2.0


def test_a_frozen_display_holds_up_nothing(qtbot, recording_window, tmp_path):
    path = tmp_path / "frozen.xdf"
    with live_session("congenital", speed=SPEED, seed=7) as session:
        monitor = session.monitor
        window = recording_window(monitor)
        window.start_recording(path)
        assert window._recording is not None, window.banner.text()
        qtbot.waitUntil(lambda: file_size(path) > 50_000, timeout=20_000)
        qtbot.waitUntil(lambda: window.frames > 5, timeout=10_000)
        samples, size, frames = monitor.health().samples, file_size(path), window.frames
        queued = monitor.events.qsize()
        # The Qt thread hangs (a slow paint, a blocking dialog bug): busy, holding the GIL
        # whenever Python lets it, and processing no events, timers or redraws.
        hang_until = time.monotonic() + FREEZE_S
        while time.monotonic() < hang_until:
            pass
        assert window.frames == frames, "the display really was frozen"
        processed = monitor.health().samples - samples
        assert processed >= 0.7 * FREEZE_S * SPEED * 2000, "acquisition kept pace"
        assert monitor.health().lag_s < 1.0
        assert monitor.events.qsize() > queued, "events kept coming, queued for the display"
        assert file_size(path) > size, "the recording kept growing"
        # Thawed: the window catches up with everything that happened meanwhile.
        qtbot.waitUntil(lambda: monitor.events.empty() and window.frames > frames, timeout=5_000)
        window.stop_recording()
        window.close()
