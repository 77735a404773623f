"""The Record button of the window that `mirrorscope monitor` opens (real LabRecorderCLI)."""

from __future__ import annotations

import pytest
from live_helpers import file_size, live_session

pytestmark = pytest.mark.gui


def test_record_button_records_the_running_session_with_its_notes(
    qtbot, recording_window, tmp_path
):
    """The Record button of a window opened by `monitor` writes an XDF with EMG and events."""
    import pyxdf

    from acquisition.sidecar import read_sidecar

    path = tmp_path / "button.xdf"
    with live_session("congenital", speed=2.0, seed=6) as session:
        monitor = session.monitor
        window = recording_window(monitor, note=monitor.add_note)
        window.start_recording(path)
        assert window._recording is not None, window.banner.text()
        qtbot.waitUntil(lambda: monitor.health().samples > 4000, timeout=20_000)
        window.add_note("patient yawned")
        qtbot.waitUntil(lambda: file_size(path) > 50_000, timeout=20_000)
        window.stop_recording()
        window.close()
    streams, _ = pyxdf.load_xdf(str(path))
    (emg,) = [s for s in streams if s["info"]["type"] == ["EMG"]]
    assert len(emg["time_stamps"]) > 1000
    markers = [s for s in streams if s["info"]["type"] == ["Markers"]]
    notes = [m[0] for s in markers for m in s["time_series"] if '"note"' in m[0]]
    assert any("patient yawned" in n for n in notes), "the note is in the recorded events"
    assert read_sidecar(path)["recorder"] == "monitor"


def test_a_recording_that_dies_is_announced_and_detection_goes_on(
    qtbot, recording_window, tmp_path
):
    """LabRecorderCLI killed mid-session: the banner says so, Record is offered again."""
    import os
    import signal

    path = tmp_path / "dies.xdf"
    with live_session("congenital", speed=2.0, seed=8) as session:
        monitor = session.monitor
        window = recording_window(monitor)
        window.start_recording(path)
        recording = window._recording
        assert recording is not None, window.banner.text()
        qtbot.waitUntil(lambda: file_size(path) > 20_000, timeout=20_000)
        os.kill(recording._recording.recorder.pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: "Recording stopped" in window.banner.text(), timeout=10_000)
        assert "LabRecorderCLI stopped unexpectedly" in window.banner.text()
        assert window._recording is None
        assert window.record_action.text() == "Record (R)"
        samples = monitor.health().samples
        qtbot.waitUntil(lambda: monitor.health().samples > samples + 2000, timeout=10_000)
        assert monitor.running
        window.close()
