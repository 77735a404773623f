"""Whether a Qt window can open here, asked of a child process before Qt starts in this one.

Qt does not fail politely when it cannot open a window: a platform plugin whose shared libraries
are missing, or a display that does not answer, ends the process with SIGABRT and a message that
names neither the library nor the display. So before the first window, a child process tries
the platform plugin against the display (``QGuiApplication`` and nothing else) with
``QT_DEBUG_PLUGINS=1``; from its exit status and the loader's messages :func:`check_window`
says, in one line, whether a window can open and if not why: the display that does not answer,
or the libraries the plugin could not load with the command that installs them.

This module imports nothing from Qt (only the child does), so asking costs this process nothing
and a failure cannot take it down.
"""

from __future__ import annotations

import functools
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PROBE_TIMEOUT_S",
    "WindowCheck",
    "check_window",
    "diagnose",
    "install_hint",
    "missing_libraries",
    "need_window",
    "use_platform",
    "window_check",
]

#: How long the display may take to answer the child's QGuiApplication (s). A desktop answers
#: in a tenth of that; a half-dead one (an ssh -X tunnel whose client went away) never does.
PROBE_TIMEOUT_S = 2.0
#: How long the child may take to import PyQt6 (s): a cold disk, not the display's fault, so it
#: has its own, generous limit.
IMPORT_TIMEOUT_S = 30.0
#: How long connecting to a display's socket may take (s).
CONNECT_TIMEOUT_S = 1.0

#: Qt platforms that never put a window on a screen.
NO_SCREEN_PLATFORMS = ("offscreen", "minimal", "minimalegl")

#: Shared library (soname) -> (Debian/Ubuntu package, Fedora package), for the libraries Qt's
#: xcb and wayland platform plugins (and the Qt libraries under them) load from the system.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl"),
}

# "Cannot load library /x/libqxcb.so: libxcb-icccm.so.4: cannot open shared object file: ..."
# (Qt 6; Qt 5 put the loader's part in parentheses).
_MISSING = re.compile(
    r"Cannot load library (?P<plugin>\S+?): \(?(?P<lib>[^\s:()]+): "
    r"cannot open shared object file"
)
_CANNOT_LOAD = re.compile(r"Cannot load library (?P<plugin>\S+?): \(?(?P<why>[^\")]+)")
_NOT_FOUND = re.compile(
    r'Could not find the Qt platform plugin "(?P<name>[^"]*)" in "(?P<dir>[^"]*)"'
)
_NOT_LOADED = re.compile(
    r'Could not load the Qt platform plugin "(?P<name>[^"]*)" in "(?P<dir>[^"]*)"'
)
_AVAILABLE = re.compile(r"Available platform plugins are: (?P<names>.*?)\.?$", re.MULTILINE)
_X_DISPLAY = re.compile(r"(?P<host>.*?):(?P<number>\d+)(?:\.\d+)?")

# The child: import PyQt6 (not timed against the display), then start Qt's platform plugin.
# os._exit skips Qt's teardown, which has nothing to tell us and could wait on a dying display.
_CHILD = """
import os, sys
from PyQt6.QtGui import QGuiApplication
sys.stdout.write("imported\\n")
sys.stdout.flush()
app = QGuiApplication(["mirrorscope-display-probe"])
sys.stdout.write("platform " + app.platformName() + "\\n")
sys.stdout.flush()
os._exit(0)
"""


@dataclass(frozen=True)
class WindowCheck:
    """Whether a window can open, and if not why.

    Attributes
    ----------
    can_open : bool
        A window can be shown on a screen.
    reason : str
        Why not, one clause without a full stop (empty when ``can_open``).
    platform : str
        The Qt platform the window would use (e.g. ``"xcb"``; empty when not known).
    """

    can_open: bool
    reason: str = ""
    platform: str = ""

    @property
    def message(self) -> str:
        """``"no window: <reason>"`` (empty when a window can open)."""
        return "" if self.can_open else f"no window: {self.reason}"


def install_hint(libraries: Sequence[str]) -> str:
    """The commands that install ``libraries`` (sonames) on Debian/Ubuntu and Fedora.

    Parameters
    ----------
    libraries : sequence of str
        Sonames such as ``"libxcb-icccm.so.4"``.

    Returns
    -------
    str
        For example ``"Debian/Ubuntu: sudo apt-get install libxcb-icccm4; Fedora: sudo dnf
        install xcb-util-wm"``; sonames without a known package are named for a search instead.
    """
    debian: list[str] = []
    fedora: list[str] = []
    unknown: list[str] = []
    for lib in libraries:
        if lib not in PACKAGES:
            unknown.append(lib)
            continue
        deb, rpm = PACKAGES[lib]
        debian += [deb] if deb not in debian else []
        fedora += [rpm] if rpm not in fedora else []
    parts = []
    if debian:
        parts.append(f"Debian/Ubuntu: sudo apt-get install {' '.join(debian)}")
        parts.append(f"Fedora: sudo dnf install {' '.join(fedora)}")
    if unknown:
        names = " ".join(unknown)
        parts.append(f"find the package of {names} with apt-file search or dnf provides")
    return "; ".join(parts)


def missing_libraries(plugin: str | Path) -> list[str]:
    """The shared libraries ``ldd`` reports "not found" for a plugin (empty without ``ldd``).

    The dynamic loader stops at the first library it cannot find; ``ldd`` lists them all, so one
    install command covers everything.

    Parameters
    ----------
    plugin : str or Path
        A shared library, e.g. Qt's ``libqxcb.so``.

    Returns
    -------
    list of str
        Sonames in the order ``ldd`` lists them, each once.
    """
    ldd = shutil.which("ldd")
    if ldd is None or not Path(plugin).is_file():
        return []
    try:
        out = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE)
    return list(dict.fromkeys(found))


def _first_platform(spec: str) -> str:
    """The first platform Qt tries: ``wayland`` in ``wayland;xcb``, ``vnc`` in ``vnc:size=9x9``."""
    return spec.partition(";")[0].partition(":")[0]


def _plugin_name(path: str) -> str:
    """``.../platforms/libqxcb.so`` -> ``"xcb"``."""
    stem = Path(path).name.split(".")[0]
    return stem.removeprefix("libq").removeprefix("q")


def _display_name(platform: str, env: Mapping[str, str]) -> str:
    """How a person names the display a platform talks to."""
    if platform.startswith("wayland"):
        return f"the Wayland display {env.get('WAYLAND_DISPLAY', 'wayland-0')!r}"
    if platform == "xcb":
        return f"the X display {env.get('DISPLAY', '')!r}"
    return f"Qt's {platform!r} platform"


def diagnose(stderr: str, env: Mapping[str, str], returncode: int, platform: str = "") -> str:
    """Why the child's QGuiApplication failed, read from its ``QT_DEBUG_PLUGINS`` output.

    Parameters
    ----------
    stderr : str
        The child's standard error.
    env : mapping
        The child's environment (names the display and the plugin folder).
    returncode : int
        The child's exit status (negative: the signal that ended it).
    platform : str
        The platform the child was asked for (used when Qt's output does not name it).

    Returns
    -------
    str
        One clause, e.g. ``"Qt's xcb platform plugin could not be loaded: it needs
        libxcb-icccm.so.4 (Debian/Ubuntu: ...; Fedora: ...)"``.
    """
    asked = [m.group("name") for m in _NOT_LOADED.finditer(stderr)]
    asked += [m.group("name") for m in _NOT_FOUND.finditer(stderr)]
    first = asked[0] if asked else (_first_platform(platform) or "xcb")

    missing: dict[str, list[str]] = {}  # plugin path -> sonames
    for m in _MISSING.finditer(stderr):
        if "/platforms/" in m.group("plugin"):
            missing.setdefault(m.group("plugin"), []).append(m.group("lib"))
    if missing:
        libs: list[str] = []
        for path, first_missing in missing.items():
            libs += first_missing + missing_libraries(path)
        libs = list(dict.fromkeys(libs))
        names = " and ".join(_plugin_name(path) for path in missing)
        plugins = "plugins" if len(missing) > 1 else "plugin"
        folder = env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
        if folder and not any(Path(path).parent == Path(folder) for path in missing):
            # Qt looked there first, found nothing and fell back on its own copy.
            plugins += f" (none in QT_QPA_PLATFORM_PLUGIN_PATH {folder!r}, so Qt's own)"
        return (
            f"Qt's {names} platform {plugins} could not be loaded: it needs {', '.join(libs)} "
            f"({install_hint(libs)})"
        )
    if "could not connect to display" in stderr:
        if "Authorization required" in stderr or "No protocol specified" in stderr:
            return f"{_display_name('xcb', env)} refused the connection (not authorised)"
        return f"{_display_name('xcb', env)} does not answer"
    if "wl_display" in stderr or "Failed to connect to Wayland" in stderr:
        return f"{_display_name('wayland', env)} does not answer"
    available = _AVAILABLE.search(stderr)
    has = f" (Qt has: {available.group('names')})" if available else ""
    folder = env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
    where = f" in {folder!r} or in Qt's own plugin folder" if folder else ""
    if _NOT_FOUND.search(stderr):
        return f"Qt's platform plugin {first!r} could not be loaded: it is not{where}{has}"
    if _NOT_LOADED.search(stderr):
        whys = [
            m.group("why").strip()
            for m in _CANNOT_LOAD.finditer(stderr)
            if "/platforms/" in m.group("plugin")
        ]
        why = f": {whys[0]}" if whys else ""
        return f"Qt's {first} platform plugin could not be loaded{why}"
    status = f"signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and not line.startswith(("qt.core.", " ", "{", "}"))
    ]
    last = f": {lines[-1]}" if lines else ""
    return f"Qt could not start its {first} platform ({status}){last}"


def _connects(address: str | bytes | tuple[str, int]) -> bool:
    """Whether something accepts connections at a Unix socket path or a (host, port)."""
    try:
        if isinstance(address, tuple):
            socket.create_connection(address, timeout=CONNECT_TIMEOUT_S).close()
            return True
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(address)
    except OSError:
        return False
    return True


def _x_display_problem(display: str) -> str | None:
    """Why the X display ``display`` does not answer (None: something accepts connections)."""
    match = _X_DISPLAY.fullmatch(display)
    if match is None:
        return f"DISPLAY={display!r} is not an X display name (host:number)"
    host, number = match.group("host"), int(match.group("number"))
    if host and host != "unix" and not host.startswith("/"):
        if _connects((host.strip("[]"), 6000 + number)):
            return None
        return f"the X display {display!r} does not answer (nothing on {host} port {6000 + number})"
    path = host if host.startswith("/") else f"/tmp/.X11-unix/X{number}"
    # Linux X servers also listen on an abstract socket of the same name (no file needed).
    if sys.platform.startswith("linux") and _connects(b"\0" + path.encode()):
        return None
    if _connects(path):
        return None
    return f"the X display {display!r} does not answer (no X server on {path})"


def _wayland_problem(env: Mapping[str, str]) -> str | None:
    """Why the Wayland display does not answer (None: its socket accepts connections)."""
    name = env.get("WAYLAND_DISPLAY") or "wayland-0"
    if os.path.isabs(name):
        path = name
    elif env.get("XDG_RUNTIME_DIR"):
        path = os.path.join(env["XDG_RUNTIME_DIR"], name)
    else:
        return f"the Wayland display {name!r} cannot be found (XDG_RUNTIME_DIR is not set)"
    if _connects(path):
        return None
    return f"the Wayland display {name!r} does not answer (no compositor on {path})"


def _run_child(env: dict[str, str], timeout_s: float) -> tuple[str | None, str, int | None, bool]:
    """Run the child.

    Returns
    -------
    tuple
        The platform it opened (None if it failed), its stderr, its exit status (None: killed
        after a timeout) and whether it got as far as importing PyQt6.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
        )
        assert proc.stdout is not None

        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line.strip())
            lines.put(None)

        threading.Thread(target=read, name="display-probe-reader", daemon=True).start()
        opened: str | None = None
        returncode: int | None = None
        imported = False
        try:
            imported = lines.get(timeout=IMPORT_TIMEOUT_S) == "imported"
            # Not imported: the child is on its way out with a traceback.
            returncode = proc.wait(timeout=timeout_s if imported else IMPORT_TIMEOUT_S)
        except (queue.Empty, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        proc.stdout.close()
        while not lines.empty():
            line = lines.get()
            if line and line.startswith("platform "):
                opened = line.removeprefix("platform ")
        err.seek(0)
        return (opened if returncode == 0 else None), err.read(), returncode, imported


def _display_problem(platform: str, env: Mapping[str, str]) -> str | None:
    """Why the display ``platform`` talks to does not answer (None: it does, or not known)."""
    if platform == "xcb":
        if not env.get("DISPLAY"):
            return "DISPLAY is not set"
        return _x_display_problem(env["DISPLAY"])
    if platform.startswith("wayland"):
        return _wayland_problem(env)
    return None


def _choose_platform(env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The platform(s) to try when QT_QPA_PLATFORM is not set, and the displays that failed.

    Qt's own order (wayland first in a Wayland session, else xcb), but only among the displays
    that answer: with WAYLAND_DISPLAY alone Qt would try xcb and abort. When none answers, the
    first one set is still tried, so the line also names a plugin that cannot load and fixing
    the display does not lead straight to the next abort.
    """
    order = ["xcb", "wayland"]
    if env.get("XDG_SESSION_TYPE") == "wayland" or not env.get("DISPLAY"):
        order.reverse()
    variables = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}
    present = [platform for platform in order if env.get(variables[platform])]
    answering: list[str] = []
    problems: list[str] = []
    for platform in present:
        problem = _display_problem(platform, env)
        if problem is None:
            answering.append(platform)
        else:
            problems.append(problem)
    if answering:
        return ";".join(answering), []
    return (present[0] if present else ""), problems


def check_window(
    env: Mapping[str, str] | None = None, *, timeout_s: float = PROBE_TIMEOUT_S
) -> WindowCheck:
    """Whether a Qt window can open with this environment (asked of a child process).

    Parameters
    ----------
    env : mapping | None
        The environment Qt will start with (None: this process's).
    timeout_s : float
        How long the display may take to answer.

    Returns
    -------
    WindowCheck
        ``can_open`` and the platform to start Qt with, or the one-clause reason.
    """
    env = dict(os.environ if env is None else env)
    spec = env.get("QT_QPA_PLATFORM", "")
    first = _first_platform(spec)
    if first in NO_SCREEN_PLATFORMS:
        return WindowCheck(False, f"QT_QPA_PLATFORM is {spec!r} (Qt draws no window)", first)
    if not spec and sys.platform in ("darwin", "win32"):
        # Qt's cocoa and windows plugins come with PyQt6's wheel and use the system's own
        # window server: nothing can be missing, and a second GUI process would flash a Dock icon.
        return WindowCheck(True, platform="cocoa" if sys.platform == "darwin" else "windows")
    if spec:
        if first == "xcb" and not env.get("DISPLAY"):
            return WindowCheck(False, f"QT_QPA_PLATFORM is {spec!r} but DISPLAY is not set", first)
        problem = _display_problem(first, env)
        problems = [problem] if problem else []
    else:
        spec, problems = _choose_platform(env)
        if not spec:
            reason = "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
            return WindowCheck(False, reason)
        env["QT_QPA_PLATFORM"] = spec
    first = _first_platform(spec)
    env["QT_DEBUG_PLUGINS"] = "1"
    opened, stderr, returncode, imported = _run_child(env, timeout_s)
    if opened is not None:
        # Qt itself opened the platform: that outweighs a socket this module could not reach.
        return WindowCheck(True, platform=opened)
    if returncode is None and not imported:
        cause = f"PyQt6 did not import within {IMPORT_TIMEOUT_S:g} s"
    elif returncode is None:
        cause = f"{_display_name(first, env)} did not answer within {timeout_s:g} s"
    else:
        cause = diagnose(stderr, env, returncode, spec)
    if problems:
        # The display's problem was known before the child ran; the child can only add a plugin
        # that cannot load (its "could not connect" repeats the display's problem).
        extra = f"; and {cause}" if "could not be loaded" in cause else ""
        return WindowCheck(False, "; ".join(problems) + extra, first)
    return WindowCheck(False, cause, first)


@functools.cache
def window_check() -> WindowCheck:
    """:func:`check_window` for this process's environment, asked once per process."""
    return check_window()


def use_platform(check: WindowCheck) -> None:
    """Start this process's Qt on the platform the probe opened, unless QT_QPA_PLATFORM is set.

    Qt's default can be a display that does not answer (xcb, with WAYLAND_DISPLAY alone) while
    the probe found one that does.
    """
    if check.can_open and check.platform in ("xcb", "wayland"):
        os.environ.setdefault("QT_QPA_PLATFORM", check.platform)


def need_window(what: str, alternative: str = "use --headless") -> str | None:
    """For a command that only works in a window: None if one can open, else its error line.

    Parameters
    ----------
    what : str
        Who needs the window, e.g. ``"mirrorscope wizard"``.
    alternative : str
        What to do instead.

    Returns
    -------
    str | None
        ``"<what> needs a window (no window: <reason>); <alternative>"``, or None.
    """
    check = window_check()
    if check.can_open:
        return None
    return f"{what} needs a window ({check.message}); {alternative}"
