"""The ``mirrorscope`` command line.

Each sub-command lives in its own module under :mod:`gui.commands` and provides two functions:
``add_arguments(parser)`` and ``run(args) -> int``. A command module imports only the standard
library at its top; pylsl, Qt and the rest are imported inside ``run``, after ``LSLAPICFG`` has
been set, because liblsl reads its configuration once, when it is first loaded.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from acquisition import LOCAL_LSL_CONFIG
from detection.errors import MirrorScopeError

log = logging.getLogger("mirrorscope")


@dataclass(frozen=True)
class Command:
    """One sub-command of ``mirrorscope``."""

    name: str
    module: str
    help: str
    #: True: LSL stays on this machine unless --lan; False: the user's LSL configuration unless
    #: --local; None: the command reads files only (no LSL option; kept on this machine).
    local_only_default: bool | None


#: The command line contract of ../shared/DESIGN.md. Order is the order of ``--help``.
COMMANDS: tuple[Command, ...] = (
    Command("demo", "gui.commands.demo", "simulated patient + live monitor, local only", True),
    Command("streams", "gui.commands.streams", "list visible LSL streams", False),
    Command(
        "simulate",
        "gui.commands.simulate",
        "synthetic EMG outlet + truth + cue markers",
        True,
    ),
    Command("monitor", "gui.commands.monitor", "the live detector (GUI unless headless)", False),
    Command("record", "gui.commands.record", "record LSL streams to XDF", False),
    Command("replay", "gui.commands.replay", "play an XDF or NPZ recording as LSL", True),
    Command("analyze", "gui.commands.analyze", "offline analysis, same code path as live", None),
    Command("export", "gui.commands.export", "a recording as BDF+ for clinical readers", None),
    Command("bench", "gui.commands.bench", "measure speed, latency and accuracy", True),
)


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _available(command: Command) -> bool:
    return importlib.util.find_spec(command.module) is not None


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command that is installed.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = _OneLineParser(
        prog="mirrorscope",
        description="Real-time surface-EMG mirror-movement detection over Lab Streaming Layer.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    sub.required = True
    for command in COMMANDS:
        if not _available(command):
            continue
        module = importlib.import_module(command.module)
        cmd_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.local_only_default is True:
            cmd_parser.add_argument(
                "--lan",
                action="store_true",
                help="make LSL streams visible on the network (default: this machine only)",
            )
        elif command.local_only_default is False:
            cmd_parser.add_argument(
                "--local",
                action="store_true",
                help="keep LSL on this machine (default: your own LSL configuration)",
            )
        module.add_arguments(cmd_parser)
        cmd_parser.set_defaults(_command=command)
    return parser


def _configure_lsl_scope(args: argparse.Namespace) -> None:
    command: Command = args._command
    if command.local_only_default is None:
        local = True
    elif command.local_only_default:
        local = not args.lan
    else:
        local = args.local
    if local:
        os.environ["LSLAPICFG"] = str(LOCAL_LSL_CONFIG)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mirrorscope``.

    Parameters
    ----------
    argv : sequence of str | None
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _configure_lsl_scope(args)
    module = importlib.import_module(args._command.module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except MirrorScopeError as err:
        sys.stderr.write(f"mirrorscope {args.command}: {err}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
