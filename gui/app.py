"""Entry points for the Qt windows: :func:`run_window` and :func:`ensure_app`.

The command line (``mirrorscope monitor``, ``mirrorscope demo``) starts the monitor, then hands
it to :func:`run_window`, which shows the experimenter window until it is closed (or
``duration_s`` passes, or Ctrl-C) and returns an exit status. The monitor is left running:
whoever started it stops it.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from acquisition.runner import LiveMonitor
from gui.experimenter import ExperimenterWindow

__all__ = ["ensure_app", "run_window"]

log = logging.getLogger(__name__)

#: How often Python gets control back from Qt's loop, so Ctrl-C is noticed (ms).
SIGNAL_POLL_MS = 200
#: Longest the Qt thread may hold the GIL while the acquisition thread waits for it (s).
#: Python's default (5 ms) lets a busy display starve acquisition: each time acquisition
#: released the GIL for liblsl, it waited up to 5 ms to get it back, and a 2 s freeze of
#: Python-heavy drawing cut it to a third of 8x real time (tests/gui/test_frozen_display.py).
GIL_SWITCH_INTERVAL_S = 0.001


def ensure_app() -> QtWidgets.QApplication:
    """Return the running QApplication, creating it (and setting pyqtgraph up) if needed."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(["mirrorscope"])
        app.setApplicationName("MirrorScope")
        app.setOrganizationName("MirrorScope")
    # Antialiasing triples the cost of thick scrolling traces; the data are dense anyway.
    pg.setConfigOptions(antialias=False, foreground="k", background="w")
    assert isinstance(app, QtWidgets.QApplication)
    return app


def run_window(
    monitor: LiveMonitor,
    *,
    duration_s: float | None = None,
    record: Callable[[Path], object] | None = None,
    note: Callable[[str], object] | None = None,
) -> int:
    """Show the experimenter window for a started monitor until it is closed.

    Parameters
    ----------
    monitor : LiveMonitor
        Started by the caller, who also stops it; the window only reads it and sends commands.
    duration_s : float | None
        Close the window after this long (None: when the user closes it, or Ctrl-C).
    record : callable | None
        ``record(path)`` starts recording the session to ``path``; if it returns an object
        with ``stop()``, the Record button (and closing the window) stops it. None disables
        recording.
    note : callable | None
        ``note(text)`` publishes a typed note, e.g. as an LSL marker.

    Returns
    -------
    int
        0, or 1 if the acquisition thread stopped on an error.
    """
    app = ensure_app()
    window = ExperimenterWindow(monitor, record=record, note=note)
    window.show()
    if duration_s is not None:
        QtCore.QTimer.singleShot(round(1000 * duration_s), window.close)
    # Qt's loop runs in C++; a periodic no-op timer lets Python's SIGINT handler run.
    poll = QtCore.QTimer()
    poll.timeout.connect(lambda: None)
    poll.start(SIGNAL_POLL_MS)

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        log.info("interrupted: closing the window")
        window.close()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if in_main_thread else None
    # A local event loop, not app.exec()/app.quit(): quitting the application makes every
    # nested event loop return at once until the next app.exec(), which would break a caller
    # (or a test) that goes on using Qt after the window closed.
    loop = QtCore.QEventLoop()
    window.closed.connect(loop.quit)
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    try:
        loop.exec()
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        poll.stop()
        window.close()
        window.deleteLater()
    return 1 if monitor.error is not None else 0
