"""``mirrorscope record``: LSL streams to one XDF file (LabRecorderCLI), with a sidecar.

Without ``--stream``, records the config's EMG stream and, when visible, its cue and truth
markers and the monitor's events and envelopes. Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from gui.commands import positive_seconds

_POLL_S = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope record``."""
    # Checked in run(), not by argparse, so that a mistyped option is the error reported first.
    parser.add_argument("--out", type=Path, metavar="FILE.xdf", help="the XDF file to write")
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="S", help="stop after S seconds"
    )
    parser.add_argument(
        "--stream",
        action="append",
        metavar="NAME",
        help="a stream to record (repeat for more; default: the config's EMG stream and its "
        "companions)",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML config naming the streams"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")


class _StopRequest:
    """A signal handler that records that the person asked to stop."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run(args: argparse.Namespace) -> int:
    """Record until ``--duration``, Ctrl-C or SIGTERM.

    Returns
    -------
    int
        0 after a clean stop, 1 when the recording stopped on an error.
    """
    if args.out is None:
        sys.stderr.write(
            f"mirrorscope {args.command}: error: --out FILE.xdf is required "
            f"(see mirrorscope {args.command} --help)\n"
        )
        return 2
    from acquisition.monitor_recording import streams_by_name
    from acquisition.recorder import SessionRecorder
    from acquisition.sidecar import new_sidecar, sidecar_path
    from detection.config import load_config, to_dict
    from gui.commands.monitor import DEFAULT_CONFIG

    config = load_config(args.config or DEFAULT_CONFIG)
    if args.stream:
        names, required = list(args.stream), len(args.stream)
    else:
        emg = config.stream.name
        names = [
            emg,
            config.cues.stream,
            f"{emg}-Cues",
            f"{emg}-Truth",
            config.output.events_stream,
            config.output.envelope_stream,
        ]
        required = 1
    specs = streams_by_name(names, required=required, events_stream=config.output.events_stream)
    sidecar = new_sidecar(
        args.out,
        recorder="record",
        streams=[spec.as_dict() for spec in specs],
        config=to_dict(config) if args.config else None,
    )
    recorder = SessionRecorder(args.out, specs, sidecar=sidecar, overwrite=args.overwrite)
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        recorder.start()
        listing = ", ".join(f"{s.name} ({s.role})" for s in specs)
        until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        sys.stdout.write(f"recording {listing} to {args.out} {until}\n")
        sys.stdout.flush()
        started = time.monotonic()
        while not stop.requested and recorder.running:
            if args.duration and time.monotonic() - started >= args.duration:
                break
            time.sleep(_POLL_S)
        sys.stdout.write("closing the file ...\n")
        sys.stdout.flush()
    finally:
        recorder.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if recorder.error:
        sys.stderr.write(f"mirrorscope record: {recorder.error}\n")
        return 1
    size_mb = args.out.stat().st_size / 1e6 if args.out.exists() else 0.0
    sys.stdout.write(f"wrote {args.out} ({size_mb:.1f} MB) and {sidecar_path(args.out)}\n")
    return 0
