"""The stream picker lists what LSL sees (in a worker thread) and returns the chosen stream."""

from __future__ import annotations

import threading

import pytest
from live_helpers import unique

from acquisition.sim_outlet import SimulatorStreams
from acquisition.simulator import SimulatedPatient
from gui.stream_picker import StreamPickerDialog

pytestmark = pytest.mark.gui


def test_picker_lists_a_simulated_stream_and_returns_it(qtbot, app):
    name = unique("Picker")
    before = set(threading.enumerate())
    streams = SimulatorStreams(SimulatedPatient("congenital"), name=name)  # outlets exist now
    try:
        dialog = StreamPickerDialog(wait_s=1.0)
        qtbot.addWidget(dialog)

        def listed() -> bool:
            if dialog.busy:
                return False
            if any(s.name == name for s in dialog.streams):
                return True
            dialog.refresh()  # LSL answers may take more than one listing to arrive
            return False

        qtbot.waitUntil(listed, timeout=10_000)
        assert dialog.select_name(name)
        assert dialog.ok_button.isEnabled()
        dialog.accept()
        chosen = dialog.selected()
        assert chosen is not None
        assert chosen.name == name
        assert chosen.channel_count == 2
    finally:
        streams.stop()
    qtbot.waitUntil(lambda: set(threading.enumerate()) <= before, timeout=5_000)


def test_picker_shows_a_listing_error(qtbot, app):
    def broken(_wait_s):
        raise RuntimeError("no network")

    dialog = StreamPickerDialog(lister=broken)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5_000)
    assert "no network" in dialog.status.text()
    dialog.reject()
