"""``mirrorscope replay``: an XDF recording or an NPZ file played as LSL streams.

Only the standard library is imported here; pylsl and the player are imported in :func:`run`,
after :mod:`gui.cli` has chosen the LSL configuration (local only unless ``--lan``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from gui.commands import bounded_number

_POLL_S = 0.1
#: After the end, the outlets stay open this long so consumers can fetch the last chunk.
_LINGER_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope replay``."""
    # Optional for argparse only, so that a mistyped option is the error reported first.
    parser.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="an .xdf recording or an .npz file"
    )
    parser.add_argument("--loop", action="store_true", help="start over at the end, until Ctrl-C")
    parser.add_argument(
        "--speed",
        type=bounded_number(float, 0.0, None, strict_low=True),
        default=1.0,
        metavar="X",
        help="stream time per real time; timestamps stay those of the recording (default 1)",
    )
    parser.add_argument("--name", help="EMG stream name (default: the recorded one)")
    parser.add_argument("--source-id", metavar="ID", help="EMG source_id")
    parser.add_argument("--stream", metavar="NAME", help="the EMG stream, if the file has several")


class _StopRequest:
    """A signal handler that records that the person asked to stop."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run(args: argparse.Namespace) -> int:
    """Play the file until its end (or Ctrl-C with ``--loop``).

    Returns
    -------
    int
        0 after a clean stop.
    """
    if args.file is None:
        sys.stderr.write(
            f"mirrorscope {args.command}: error: FILE is required "
            f"(see mirrorscope {args.command} --help)\n"
        )
        return 2
    from acquisition.replay import SessionPlayer
    from acquisition.xdf_session import load_session

    session = load_session(args.file, stream=args.stream)
    player = SessionPlayer(
        session, name=args.name, source_id=args.source_id, speed=args.speed, loop=args.loop
    )
    emg = session.emg
    labels = ", ".join(emg.labels) if emg.labels else f"{emg.data.shape[1]} unlabelled channels"
    scope = "LAN (visible on the network)" if args.lan else "local only (this machine)"
    sys.stdout.write(
        f"replaying {args.file.name}: {emg.duration_s:.1f} s at {args.speed:g}x"
        f"{', looping' if args.loop else ''}; LSL {scope}\n"
        f"  EMG    {player.name}: {emg.fs_hz:g} Hz, {labels}, source_id {player.source_id}\n"
        + "".join(f"  marker {name}\n" for name in player.marker_names)
    )
    sys.stdout.flush()
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        player.start()
        while not stop.requested and not player.wait(_POLL_S):
            pass
        linger_until = time.monotonic() + _LINGER_S
        while not stop.requested and time.monotonic() < linger_until:
            time.sleep(_POLL_S)
    finally:
        player.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    played = player.samples_done / emg.fs_hz
    sys.stdout.write(
        f"{'interrupted' if stop.requested else 'done'}: {played:.1f} s of signal played\n"
    )
    return 0
