"""``mirrorscope analyze``: a recorded session through the live detector, then its report.

Writes ``events.jsonl``, ``trials.csv``, ``summary.json`` and ``report.html`` into ``--out``.
Only the standard library is imported here; the analysis is imported in :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

#: Files with more signal than this show their progress on standard error.
PROGRESS_ABOVE_S = 60.0
_PROGRESS_EVERY_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope analyze``."""
    # Optional for argparse only, so that a mistyped option is the error reported first.
    parser.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="an .xdf recording or an .npz file"
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML config (default: the recording's sidecar, else configs/default.toml with the "
        "file's own pairs)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: ./<file name>-analysis)"
    )
    parser.add_argument("--stream", metavar="NAME", help="the EMG stream, if the file has several")
    parser.add_argument(
        "--rest",
        choices=("start", "quietest"),
        help="how to find the rest baseline when the sidecar does not say: collected from the "
        "quiet stretches as they come, as live (XDF default), or each channel's quietest "
        "moments of the whole recording, looking ahead (NPZ default)",
    )


class _Progress:
    """Progress lines on standard error, at most one a second."""

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = fs_hz
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < _PROGRESS_EVERY_S and done < total:
            return
        self._last = now
        sys.stderr.write(
            f"analysing: {100 * done / max(total, 1):3.0f} % ({done / self.fs_hz:.0f} of "
            f"{total / self.fs_hz:.0f} s)\n"
        )
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """Analyse one file and write the outputs.

    Returns
    -------
    int
        0 on success.
    """
    if args.file is None:
        sys.stderr.write(
            f"mirrorscope {args.command}: error: FILE is required "
            f"(see mirrorscope {args.command} --help)\n"
        )
        return 2
    from acquisition.session_analysis import analyze, plan_analysis, write_outputs
    from acquisition.xdf_session import load_session
    from detection.config import load_config
    from gui.commands.monitor import DEFAULT_CONFIG
    from gui.report import write_report

    session = load_session(args.file, stream=args.stream)
    config = load_config(args.config) if args.config else None
    plan = plan_analysis(
        session, config=config, default_config=load_config(DEFAULT_CONFIG), rest=args.rest
    )
    progress = None
    if session.emg.duration_s > PROGRESS_ABOVE_S:
        progress = _Progress(session.emg.fs_hz)
    analysis = analyze(session, plan, progress=progress)
    out = args.out or Path(f"{args.file.stem}-analysis")
    paths = write_outputs(analysis, out)
    paths["report"] = write_report(analysis, out / "report.html")
    sys.stdout.write(f"{args.file.name}: {plan.calibration_source}\n")
    for pair in analysis.pairs:
        s = pair.summary
        share = "-" if s.mirror_fraction is None else f"{100 * s.mirror_fraction:.0f} %"
        lag = "-" if s.median_lag_ms is None else f"{s.median_lag_ms:.0f} ms"
        sys.stdout.write(
            f"  {pair.name}: {s.trials} trials ({s.bimanual} bimanual), mirror activity "
            f"in {share}, median lag {lag}\n"
        )
    reproduction = analysis.summary.reproduction
    if reproduction:
        sys.stdout.write(
            f"  live trials found again: {reproduction.matching} of "
            f"{reproduction.live_trials} ({reproduction.identical} identical to the "
            f"microsecond, times within {reproduction.max_time_difference_ms:.3f} ms)\n"
        )
    for name, path in paths.items():
        sys.stdout.write(f"  {name:<8} {path}\n")
    return 0
