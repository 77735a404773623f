"""``mirrorscope monitor``: the live detector on an LSL EMG stream."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gui.commands import positive_seconds

if TYPE_CHECKING:
    from acquisition.runner import LiveMonitor
    from detection.calibration import Calibration
    from detection.config import Config

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


def display_available() -> bool:
    """Whether a window can be shown (a display server, and not Qt's offscreen platform)."""
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


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


def run_session(monitor: LiveMonitor, args: argparse.Namespace) -> int:
    """Show a started monitor in a window if possible, else in the terminal; then stop it."""
    from gui.terminal import TerminalView

    try:
        if not args.headless and not display_available():
            sys.stdout.write("no display available: showing the terminal view instead\n")
        TerminalView(monitor).run(args.duration)
    finally:
        monitor.stop()
    if monitor.error is not None:
        sys.stderr.write(f"acquisition stopped on an error: {monitor.error}\n")
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Monitor until --duration or Ctrl-C."""
    from acquisition.runner import LiveMonitor

    config, calibration = load_settings(args)
    monitor = LiveMonitor(config, calibration=calibration)
    sys.stdout.write(f"looking for stream {config.stream.name!r} ...\n")
    sys.stdout.flush()
    if not getattr(args, "record", None):
        monitor.start()
        return run_session(monitor, args)
    from acquisition.monitor_recording import MonitorRecording

    recording = MonitorRecording(args.record, calibration)
    recording.start_monitor(monitor)  # a recording that fails never stops the monitor
    if recording.error:
        sys.stderr.write(f"not recording: {recording.error}\n")
    try:
        return run_session(monitor, args)
    finally:
        recording.finish(monitor)
        if recording.recorder is not None and recording.error:
            sys.stderr.write(f"recording stopped: {recording.error}\n")
        elif recording.recorder is not None:
            sys.stdout.write(f"recorded to {args.record}\n")
