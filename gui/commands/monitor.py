"""``mirrorscope monitor``: the live detector on an LSL EMG stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gui.commands import positive_seconds

if TYPE_CHECKING:
    from acquisition.monitor_recording import MonitorRecording
    from acquisition.runner import LiveMonitor
    from detection.calibration import Calibration
    from detection.config import Config
    from gui.display_probe import WindowCheck

#: The config used when --config is not given.
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope monitor``."""
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML config (default: configs/default.toml)"
    )
    parser.add_argument("--stream", metavar="NAME", help="stream name (overrides [stream] name)")
    parser.add_argument("--source-id", metavar="ID", help="pin the stream's source_id")
    parser.add_argument("--headless", action="store_true", help="terminal view, no window")
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="S", help="stop after this many seconds"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE.xdf",
        help="record the session: streams to FILE.xdf, settings to FILE.session.json",
    )


def display_available() -> WindowCheck:
    """Whether a window can be shown, and why not (asked of a child process once per run)."""
    from gui.display_probe import window_check

    return window_check()


def _window_or_why(args: argparse.Namespace) -> WindowCheck | None:
    """The window check (None with --headless); a window that can open gets Qt's platform."""
    if args.headless:
        return None
    check = display_available()
    if check.can_open:
        from gui.display_probe import use_platform

        use_platform(check)
    return check


def load_settings(args: argparse.Namespace) -> tuple[Config, Calibration | None]:
    """The config file with command-line overrides applied, and a saved calibration if any."""
    from detection.calibration import Calibration
    from detection.config import load_config

    config = load_config(args.config or DEFAULT_CONFIG)
    if getattr(args, "stream", None):
        config = config.replace("stream", name=args.stream)
    if getattr(args, "source_id", None):
        config = config.replace("stream", source_id=args.source_id)
    calibration = None
    path = config.calibration.file
    if path and Path(path).exists():
        calibration = Calibration.load(path)
    return config, calibration


class _WindowRecording:
    """What the window's Record button gets back: a recording of the running session."""

    def __init__(self, monitor: LiveMonitor, path: Path, calibration: Calibration | None) -> None:
        from acquisition.monitor_recording import MonitorRecording
        from acquisition.recorder import RecorderError

        self._monitor = monitor
        self._recording = MonitorRecording(path, calibration)
        self._recording.attach(monitor)
        if self._recording.error:
            raise RecorderError(self._recording.error)

    @property
    def error(self) -> str | None:
        """Why the recording stopped on its own (None while it runs or after a normal stop)."""
        recorder = self._recording.recorder
        return self._recording.error or (recorder.error if recorder is not None else None)

    def stop(self) -> None:
        """Complete the sidecar and close the file."""
        self._recording.finish(self._monitor)


def run_session(monitor: LiveMonitor, args: argparse.Namespace, *, can_record: bool = True) -> int:
    """Show a started monitor in a window if possible, else in the terminal; then stop it.

    Parameters
    ----------
    monitor : LiveMonitor
        Started; stopped here on the way out.
    args : argparse.Namespace
        ``headless`` and ``duration``.
    can_record : bool
        Offer the window's Record button (off while ``--record`` already records).
    """
    check = _window_or_why(args)
    try:
        if check is not None and check.can_open:
            from gui.app import run_window

            def record(path: Path) -> _WindowRecording:
                return _WindowRecording(monitor, path, monitor.pipeline.calibration)

            return run_window(
                monitor,
                duration_s=args.duration,
                record=record if can_record else None,
                note=monitor.add_note,
            )
        from gui.terminal import TerminalView

        if check is not None:
            sys.stdout.write(f"{check.message}: showing the terminal view instead\n")
        TerminalView(monitor).run(args.duration)
    finally:
        monitor.stop()
        if monitor.error is not None:
            sys.stderr.write(f"acquisition stopped on an error: {monitor.error}\n")
    return 1 if monitor.error is not None else 0


def _start_headless(
    config: Config, calibration: Calibration | None, recording: MonitorRecording | None
) -> LiveMonitor:
    """Start the monitor (and recording); a saved calibration that does not fit is set aside."""
    from acquisition.runner import LiveMonitor
    from detection.calibration import CalibrationError

    def start(calibration: Calibration | None) -> LiveMonitor:
        monitor = LiveMonitor(config, calibration=calibration)
        if recording is None:
            monitor.start()
        else:
            recording.calibration = calibration  # what the sidecar says is in force
            recording.start_monitor(monitor)
        return monitor

    try:
        return start(calibration)
    except CalibrationError as err:
        sys.stdout.write(f"saved calibration set aside ({err}); measuring rest instead\n")
        return start(None)


def prepare_signal_core() -> None:
    """Compile (first run) or load the detection kernels before acquisition starts."""
    from detection.warmup import compile_kernels

    seconds = compile_kernels()
    if seconds > 1.0:
        sys.stdout.write(f"signal core compiled in {seconds:.0f} s (once per installation)\n")


def run(args: argparse.Namespace) -> int:
    """Monitor until --duration, Ctrl-C or the window is closed."""
    config, calibration = load_settings(args)
    prepare_signal_core()
    check = _window_or_why(args)
    windowed = check is not None and check.can_open
    sys.stdout.write(f"looking for stream {config.stream.name!r} ...\n")
    sys.stdout.flush()
    recording = None
    if getattr(args, "record", None):
        from acquisition.monitor_recording import MonitorRecording

        recording = MonitorRecording(args.record)  # a recording that fails never stops the monitor
    if windowed:
        from gui.app import ensure_app
        from gui.connect import open_monitor

        ensure_app()
        # A stream that is not there, or labels that do not fit, are asked for, not fatal.
        found = open_monitor(config, calibration, recording=recording)
        if found is None:
            sys.stderr.write("no stream chosen: nothing to monitor\n")
            return 1
        monitor = found
    else:
        monitor = _start_headless(config, calibration, recording)
    if recording is None:
        return run_session(monitor, args)
    if recording.error:
        sys.stderr.write(f"not recording: {recording.error}\n")
    try:
        return run_session(monitor, args, can_record=False)
    finally:
        recording.finish(monitor)
        if recording.recorder is not None and recording.error:
            sys.stderr.write(f"recording stopped: {recording.error}\n")
        elif recording.recorder is not None:
            sys.stdout.write(f"recorded to {args.record}\n")
