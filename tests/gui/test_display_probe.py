"""The display probe: whether a window can open, and the one line that says why not.

The probe's child is a real Qt process every time; only the parser tests read recorded
``QT_DEBUG_PLUGINS`` output, so the messages of a machine without the libraries are checked on
any machine. The Xvfb tests run when Xvfb is installed and skip otherwise.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from live_helpers import unused_x_display
from PyQt6 import QtCore

from gui.display_probe import (
    WindowCheck,
    check_window,
    diagnose,
    install_hint,
    missing_libraries,
)

pytestmark = pytest.mark.gui

ROOT = Path(__file__).parents[2]
XCB_PLUGIN = (
    Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
    / "platforms"
    / "libqxcb.so"
)

# Recorded on Debian 12 with PyQt6-Qt6 6.11 and DISPLAY=:99, libxcb-icccm4 not installed
# (metadata dumps left out).
MISSING_LIBS_STDERR = """\
qt.core.plugin.factoryloader: checking directory path "/venv/PyQt6/Qt6/plugins/platforms" ...
qt.core.plugin.factoryloader: looking at "libqxcb.so"
qt.core.plugin.factoryloader: Got keys from plugin meta data QList("xcb")
qt.core.library: "/venv/PyQt6/Qt6/plugins/platforms/libqxcb.so" cannot load: Cannot load \
library /venv/PyQt6/Qt6/plugins/platforms/libqxcb.so: libxcb-icccm.so.4: cannot open shared \
object file: No such file or directory
qt.core.plugin.loader: QLibraryPrivate::loadPlugin failed on \
"/venv/PyQt6/Qt6/plugins/platforms/libqxcb.so" : "Cannot load library \
/venv/PyQt6/Qt6/plugins/platforms/libqxcb.so: libxcb-icccm.so.4: cannot open shared object \
file: No such file or directory"
qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform \
plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
This application failed to start because no Qt platform plugin could be initialized. \
Reinstalling the application may fix this problem.

Available platform plugins are: minimal, linuxfb, offscreen, xcb, wayland, eglfs, vnc.
"""

# Recorded with the libraries present and no X server on :99.
NO_X_SERVER_STDERR = """\
qt.core.library: "/venv/PyQt6/Qt6/plugins/platforms/libqxcb.so" loaded library
qt.qpa.xcb: could not connect to display :99
qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform \
plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
"""

# Recorded with QT_QPA_PLATFORM=wayland, libwayland-cursor0 present, no compositor.
NO_COMPOSITOR_STDERR = """\
qt.core.library: "/venv/PyQt6/Qt6/plugins/platforms/libqwayland.so" loaded library
Failed to create wl_display (No such file or directory)
qt.qpa.plugin: Could not load the Qt platform plugin "wayland" in "" even though it was found.
"""


def _env(**changes: str) -> dict[str, str]:
    """This process's environment without any display, with ``changes``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")
    }
    env.update(changes)
    return env


def _xcb_libraries_present() -> bool:
    return XCB_PLUGIN.is_file() and not missing_libraries(XCB_PLUGIN)


# --- the parser, on recorded output --------------------------------------------------------


def test_missing_libraries_are_named_with_their_packages():
    reason = diagnose(MISSING_LIBS_STDERR, {"DISPLAY": ":99"}, -6, "xcb")
    assert reason == (
        "Qt's xcb platform plugin could not be loaded: it needs libxcb-icccm.so.4 "
        "(Debian/Ubuntu: sudo apt-get install libxcb-icccm4; Fedora: sudo dnf install xcb-util-wm)"
    )


def test_a_display_that_does_not_answer_is_named():
    assert diagnose(NO_X_SERVER_STDERR, {"DISPLAY": ":99"}, -6, "xcb") == (
        "the X display ':99' does not answer"
    )
    wayland = {"WAYLAND_DISPLAY": "wayland-1"}
    assert diagnose(NO_COMPOSITOR_STDERR, wayland, -6, "wayland") == (
        "the Wayland display 'wayland-1' does not answer"
    )


def test_install_hint_covers_both_distributions_and_says_what_it_does_not_know():
    hint = install_hint(
        ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-randr.so.0", "libxcb-shape.so.0"]
    )
    assert hint == (
        "Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-randr0 "
        "libxcb-shape0; Fedora: sudo dnf install xcb-util-wm xcb-util-keysyms libxcb"
    )
    assert "libfoo.so.3 with apt-file search or dnf provides" in install_hint(["libfoo.so.3"])


# --- the probe, with a real Qt child ---------------------------------------------------------


def test_offscreen_and_no_display_are_answered_without_a_child():
    offscreen = check_window(_env(QT_QPA_PLATFORM="offscreen"))
    assert offscreen == WindowCheck(
        False, "QT_QPA_PLATFORM is 'offscreen' (Qt draws no window)", "offscreen"
    )
    assert check_window(_env()).message == (
        "no window: there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    )


def test_an_x_display_that_does_not_exist_is_named():
    display = unused_x_display()
    check = check_window(_env(DISPLAY=display))
    assert not check.can_open
    assert check.reason.startswith(f"the X display '{display}' does not answer (no X server on ")
    if not _xcb_libraries_present():
        # Fixing the display would only lead to the next abort: the line says that too.
        assert "; and Qt's xcb platform plugin could not be loaded: it needs " in check.reason
        assert "sudo apt-get install" in check.reason


def test_a_wayland_display_that_does_not_exist_is_named(tmp_path):
    check = check_window(_env(WAYLAND_DISPLAY="mirrorscope-none", XDG_RUNTIME_DIR=str(tmp_path)))
    assert not check.can_open
    assert check.platform == "wayland"
    assert check.reason.startswith(
        f"the Wayland display 'mirrorscope-none' does not answer (no compositor on {tmp_path}"
    )


def test_a_platform_plugin_that_is_in_no_folder_could_not_be_loaded(tmp_path):
    # directfb is a Qt platform that PyQt6's wheels do not carry: Qt really fails to load it.
    env = _env(QT_QPA_PLATFORM="directfb", QT_QPA_PLATFORM_PLUGIN_PATH=str(tmp_path))
    check = check_window(env)
    assert not check.can_open
    assert check.reason.startswith(
        f"Qt's platform plugin 'directfb' could not be loaded: it is not in '{tmp_path}' "
        "or in Qt's own plugin folder (Qt has: "
    )
    assert "xcb" in check.reason


def test_a_display_that_accepts_but_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        if port <= 6000:
            pytest.skip(f"the free port {port} is below X's 6000 + display number")
        display = f"127.0.0.1:{port - 6000}"
        check = check_window(_env(DISPLAY=display), timeout_s=0.5)
    assert not check.can_open
    if _xcb_libraries_present():
        assert check.reason == f"the X display '{display}' did not answer within 0.5 s"
    else:
        # The plugin fails before it connects; the line names the libraries.
        assert "could not be loaded: it needs" in check.reason


def test_a_window_only_script_says_it_needs_a_window():
    env = _env(DISPLAY=unused_x_display(), LSLAPICFG=str(ROOT / "acquisition" / "lsl_local.cfg"))
    result = subprocess.run(
        [sys.executable, "docs/make_screenshots.py", "--out", "/nonexistent"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("docs/make_screenshots.py needs a window (no window: the X display")
    assert lines[0].endswith("); run it under xvfb-run (see its docstring)")


# --- under Xvfb -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xvfb():
    """``DISPLAY`` of an Xvfb server started for these tests."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        # Xvfb writes its display number once it accepts connections.
        ready, _, _ = select.select([read_end], [], [], 30.0)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not start within 30 s")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(timeout=10)


def _window_env(display: str, **changes: str) -> dict[str, str]:
    return _env(DISPLAY=display, LSLAPICFG=str(ROOT / "acquisition" / "lsl_local.cfg"), **changes)


def _require_window(env: dict[str, str]) -> None:
    check = check_window(env)
    if not check.can_open and "could not be loaded: it needs" in check.reason:
        # The product may not rely on libraries installed by hand; the line says which.
        pytest.skip(f"Xvfb runs, but {check.reason}")
    assert check.can_open, check.reason
    assert check.platform == "xcb"


def test_probe_opens_a_window_under_xvfb(xvfb):
    _require_window(_window_env(xvfb))


def test_an_empty_plugin_folder_under_xvfb(xvfb, tmp_path):
    """Qt looks in QT_QPA_PLATFORM_PLUGIN_PATH first, then falls back on its own plugins."""
    check = check_window(_window_env(xvfb, QT_QPA_PLATFORM_PLUGIN_PATH=str(tmp_path)))
    if _xcb_libraries_present():
        assert check.can_open, check.reason
    else:
        assert check.reason.startswith(
            f"Qt's xcb platform plugin (none in QT_QPA_PLATFORM_PLUGIN_PATH '{tmp_path}', so "
            "Qt's own) could not be loaded: it needs "
        )


def test_demo_opens_the_window_under_xvfb(xvfb):
    env = _window_env(xvfb)
    _require_window(env)
    result = subprocess.run(
        [sys.executable, "-m", "gui.cli", "demo", "--duration", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no window" not in result.stdout
    assert "terminal view" not in result.stdout
    assert "Traceback" not in result.stderr


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.timeout(240)
def test_screenshots_are_taken_under_xvfb(xvfb, tmp_path):
    env = _window_env(xvfb)
    _require_window(env)
    result = subprocess.run(
        [sys.executable, "docs/make_screenshots.py", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    width, height = _png_size(tmp_path / "experimenter.png")
    assert (width, height) == (1600, 940)
    assert _png_size(tmp_path / "biofeedback.png") == (1000, 700)
