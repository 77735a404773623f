"""``mirrorscope bench``: the measured figures, against their goals, in one run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

#: Benchmark groups in the order they run; ``--only`` picks some by these names.
GROUPS = ("pipeline", "accuracy", "latency", "gui", "peers", "soak")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope bench``."""
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        metavar="GROUP",
        help=f"run only these groups ({', '.join(GROUPS)})",
    )


def _group(name: str, quick: bool) -> list:
    from benchmarks.results import Result

    if name == "pipeline":
        from benchmarks import pipeline_speed as module
    elif name == "accuracy":
        from benchmarks import accuracy as module
    elif name == "latency":
        from benchmarks import latency as module
    elif name == "peers":
        from benchmarks import peers as module
    elif name == "soak":
        from benchmarks import soak as module
    else:
        from benchmarks import gui_speed as module
    try:
        return module.run(quick=quick)
    except Exception as err:  # noqa: BLE001 - one group failing must not hide the others
        return [Result(f"{name}_failed", None, "", "", f"{type(err).__name__}: {err}")]


def _table(results: list) -> str:
    rows = [("name", "value", "unit", "goal", "meets")]
    for r in results:
        value = "-" if r.value is None else f"{r.value:.4g}"
        meets = {True: "yes", False: "NO", None: ""}[r.meets]
        rows.append((r.name, value, r.unit, r.goal, meets))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks, print the table, write JSON if asked."""
    from benchmarks.results import machine

    started = time.monotonic()
    results = []
    for name in args.only or GROUPS:
        sys.stderr.write(f"bench: {name} ...\n")
        sys.stderr.flush()
        results += _group(name, args.quick)
    sys.stdout.write(_table(results) + "\n")
    for r in results:
        if r.note:
            sys.stdout.write(f"  {r.name}: {r.note}\n")
    elapsed = time.monotonic() - started
    sys.stdout.write(f"{len(results)} figures in {elapsed:.0f} s\n")
    if args.json:
        doc = {
            "machine": machine(),
            "quick": bool(args.quick),
            "elapsed_s": round(elapsed, 1),
            "results": [r.as_dict() for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
