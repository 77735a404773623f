"""Connecting to a stream from the window: pick one, map pairs, start (real loopback LSL)."""

from __future__ import annotations

import pytest
from live_helpers import DEFAULT_CONFIG, unique

from acquisition.sim_outlet import SimulatorStreams
from acquisition.simulator import SimulatedPatient
from acquisition.streams import list_streams
from detection.calibration import Calibration, ChannelCalibration, calibration_settings
from detection.config import PairConfig
from gui.connect import PairMapDialog, guess_pairs, open_monitor
from gui.settings import Settings

pytestmark = pytest.mark.gui


def test_guess_pairs_reads_side_suffixes_and_prefixes():
    labels = ["FDI-L", "FDI-R", "APB_L", "APB_R", "Left BB", "Right BB", "ECG"]
    assert guess_pairs(labels) == [
        PairConfig(name="FDI", left="FDI-L", right="FDI-R"),
        PairConfig(name="APB", left="APB_L", right="APB_R"),
        PairConfig(name="BB", left="Left BB", right="Right BB"),
    ]


def test_guess_pairs_without_sides_takes_channels_two_by_two():
    assert guess_pairs(["EMG1", "EMG2", "EMG3", "EMG4", "EMG5"]) == [
        PairConfig(name="P1", left="EMG1", right="EMG2"),
        PairConfig(name="P2", left="EMG3", right="EMG4"),
    ]


def test_pair_dialog_refuses_a_channel_used_twice(qtbot, app):
    labels = ["a", "b", "c", "d"]
    dialog = PairMapDialog("labels do not match", labels, [PairConfig("X", "a", "b")])
    qtbot.addWidget(dialog)
    assert dialog.pairs() == [PairConfig(name="X", left="a", right="b")]
    assert dialog.ok_button.isEnabled()
    dialog.add_row(PairConfig("Y", "b", "c"))
    assert "used by two pairs" in dialog.problem.text()
    assert not dialog.ok_button.isEnabled()
    dialog.table.cellWidget(1, 1).setCurrentText("d")
    assert dialog.check() == ""
    assert dialog.ok_button.isEnabled()
    dialog.table.cellWidget(1, 0).setText("X")
    assert "same name" in dialog.check()


def _find(name: str, deadline_listings: int = 10):
    for _ in range(deadline_listings):
        found = [s for s in list_streams(1.0) if s.name == name]
        if found:
            return found[0]
    raise AssertionError(f"{name} never listed")


def test_missing_stream_is_picked_and_unknown_labels_are_mapped(app):
    """A config naming neither this stream nor its labels still ends in a running monitor."""
    name = unique("Connect")
    patient = SimulatedPatient("congenital", fs_hz=1000.0, n_pairs=2, seed=1)
    streams = SimulatorStreams(patient, name=name, source_id=unique("connect-src"))
    config = DEFAULT_CONFIG.replace("stream", name=unique("NotThere"), timeout_s=0.5)
    config = config.with_pairs([PairConfig("XYZ", "XYZ-left", "XYZ-right")])
    config = config.replace("cues", stream="")
    config = config.replace("output", events_stream=unique("Events"), envelope_stream=unique("Env"))
    # A calibration made for other channels: set aside, rest measured again.
    rest = ChannelCalibration(3.0, 1.0, 3.0, 1.0)
    stale = Calibration(
        {"XYZ-left": rest, "XYZ-right": rest}, 1000.0, 50, calibration_settings(config)
    )
    asked: dict[str, object] = {}

    def pick(message: str):
        asked["pick"] = message
        return _find(name)

    def map_pairs(message, stream, labels, pairs):
        asked["map"] = (message, stream, list(labels), list(pairs))
        return guess_pairs(labels)

    try:
        monitor = open_monitor(config, stale, pick=pick, map_pairs=map_pairs)
        assert monitor is not None
        try:
            assert monitor.running
            assert monitor.summary.name == name
            assert monitor.pair_names == list(patient.pair_names)
            assert list(monitor.labels) == list(patient.labels)
            assert monitor.pipeline.calibrating, "the stale calibration was set aside"
        finally:
            monitor.stop()
    finally:
        streams.stop()
    assert "NotThere" in asked["pick"], "the picker says which stream was missing"
    message, stream, labels, _pairs = asked["map"]
    assert "XYZ-left" in message
    assert stream == name
    assert labels == list(patient.labels)
    assert Settings().last_stream == name, "remembered for the next run"
    assert [p["name"] for p in Settings().pairs_for(name)] == list(patient.pair_names)


def test_cancelling_the_picker_gives_up(app):
    config = DEFAULT_CONFIG.replace("stream", name=unique("Absent"), timeout_s=0.3)
    assert open_monitor(config, None, pick=lambda _m: None) is None


def test_monitor_command_opens_the_window_when_a_display_exists(monkeypatch, tmp_path):
    """`mirrorscope monitor` without --headless shows the experimenter window (offscreen)."""
    import gui.app
    from gui import cli
    from gui.commands import monitor as monitor_command
    from gui.display_probe import WindowCheck

    # Offscreen Qt stands in for a display (the probe says offscreen shows no window).
    monkeypatch.setattr(monitor_command, "display_available", lambda: WindowCheck(True))
    shown = []
    real = gui.app.run_window

    def spy(monitor, **kwargs):
        shown.append(kwargs)
        return real(monitor, **kwargs)

    monkeypatch.setattr(gui.app, "run_window", spy)
    name = unique("Window")
    patient = SimulatedPatient("congenital", fs_hz=1000.0, n_pairs=1, seed=2)
    streams = SimulatorStreams(patient, name=name, source_id=unique("window-src"))
    config = tmp_path / "c.toml"
    config.write_text(
        f'[stream]\nname = "{name}"\n\n[[pairs]]\nname = "FDI"\nleft = "FDI-L"\nright = "FDI-R"\n'
        f'[output]\nevents_stream = "{unique("Ev")}"\nenvelope_stream = ""\n'
    )
    streams.start()
    try:
        status = cli.main(["monitor", "--config", str(config), "--duration", "1.5"])
    finally:
        streams.stop()
    assert status == 0
    assert len(shown) == 1
    assert callable(shown[0]["record"])
    assert callable(shown[0]["note"])
