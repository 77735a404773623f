"""``mirrorscope streams``: a table of the LSL streams visible from here."""

from __future__ import annotations

import argparse
import sys

from gui.commands import positive_seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope streams``."""
    parser.add_argument(
        "--wait",
        type=positive_seconds,
        default=2.0,
        metavar="S",
        help="how long to listen for streams (default %(default)g s)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the table; 0 even when nothing is visible (that is an answer too)."""
    from acquisition.streams import list_streams

    streams = list_streams(args.wait)
    if not streams:
        sys.stdout.write(f"no LSL streams visible after {args.wait:g} s\n")
        return 0
    header = ("name", "type", "channels", "rate (Hz)", "format", "source_id", "host")
    rows = [
        (
            s.name,
            s.type,
            str(s.channel_count),
            "irregular" if s.nominal_srate == 0 else f"{s.nominal_srate:g}",
            s.channel_format,
            s.source_id or "-",
            s.hostname,
        )
        for s in streams
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        sys.stdout.write("\n")
    return 0
