"""Fixtures for the Qt tests: isolated settings, a simulated patient with a live monitor."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PyQt6 import QtCore

sys.path.insert(0, str(Path(__file__).parents[1] / "lsl"))


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path):
    """No test reads or writes the user's real QSettings."""
    folder = tmp_path / "qsettings"
    folder.mkdir()
    QtCore.QSettings.setPath(
        QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(folder)
    )


@pytest.fixture
def settings(tmp_path):
    from gui.settings import Settings

    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def app(qapp):
    from gui.app import ensure_app

    return ensure_app()


@pytest.fixture
def recording_window(qtbot, app, settings):
    """``open(monitor, note=None)``: a shown experimenter window whose Record button works."""
    from gui.commands.monitor import _WindowRecording
    from gui.experimenter import ExperimenterWindow

    def open_window(monitor, *, note=None):
        window = ExperimenterWindow(
            monitor,
            settings=settings,
            record=lambda p: _WindowRecording(monitor, p, monitor.pipeline.calibration),
            note=note,
        )
        qtbot.addWidget(window)
        window.show()
        return window

    return open_window
