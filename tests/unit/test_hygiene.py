"""Project-wide guards: no unsafe deserialisation, one-line errors for wrong arguments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gui.cli import build_parser, main

ROOT = Path(__file__).parents[2]
SOURCES = [
    path
    for package in ("acquisition", "detection", "gui", "benchmarks")
    for path in sorted((ROOT / package).rglob("*.py"))
]
# Built-in eval/exec only (Qt's ``app.exec()`` is its event loop, not code execution).
UNSAFE = re.compile(
    r"\bimport pickle\b|\bpickle\.|(?<![.\w])eval\(|(?<![.\w])exec\(|allow_pickle\s*=\s*True"
)
INSTALLED = sorted(build_parser()._subparsers._group_actions[0].choices)  # argparse has no API


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_eval_or_exec(path):
    text = path.read_text(encoding="utf-8")
    assert not UNSAFE.search(text), f"{path.name}: files from users are parsed, never executed"


def test_every_command_of_the_contract_is_installed():
    wanted = {"demo", "streams", "simulate", "monitor", "record", "replay", "analyze", "bench"}
    assert wanted | {"export"} == set(INSTALLED)


@pytest.mark.parametrize("command", INSTALLED)
def test_help_of_every_command_renders(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: mirrorscope {command}")


@pytest.mark.parametrize("command", INSTALLED)
def test_a_wrong_argument_is_one_line_and_exit_2(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--no-such-option"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--no-such-option" in err[0]


def test_no_command_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
