"""The typed events: one definition of every event kind and status state, used everywhere."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_type_hints

import pytest

from detection import events
from detection.events import EVENT_KINDS, STATUS_STATES, State

ROOT = Path(__file__).parents[2]
PRODUCT = [
    p for d in ("acquisition", "detection", "gui", "benchmarks") for p in (ROOT / d).rglob("*.py")
]


def test_state_names_are_exactly_the_literal_states() -> None:
    named = {v for k, v in vars(State).items() if k.isupper() and isinstance(v, str)}
    assert named == set(STATUS_STATES)
    assert set(State.RESTARTS) <= set(STATUS_STATES)


def test_a_status_the_literal_does_not_list_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown status state 'calibratd'"):
        events.status("calibratd")  # type: ignore[arg-type]


def test_every_builder_returns_its_typed_dict_keys_in_order() -> None:
    built = {
        "activation_onset": events.activation_onset("FDI", "left", 1.0),
        "activation_offset": events.activation_offset("FDI", "left", 2.0),
        "mirror_onset": events.mirror_onset("FDI", "right", "left", 1.01, 10.0),
        "mirror_offset": events.mirror_offset("FDI", "right", "left", 2.0),
        "trial": events.trial(
            pair="FDI",
            active_side="left",
            t_onset=1.0,
            t_offset=2.0,
            mirror=True,
            ratio=0.2,
            ratio_norm=None,
            lag_ms=10.0,
            grade=2,
            bimanual=False,
            quality=[],
        ),
    }
    types = {
        "activation_onset": events.ActivationOnset,
        "activation_offset": events.ActivationOffset,
        "mirror_onset": events.MirrorOnset,
        "mirror_offset": events.MirrorOffset,
        "trial": events.Trial,
    }
    assert set(built) | {"status"} == set(EVENT_KINDS)
    for kind, payload in built.items():
        assert payload["event"] == kind
        assert list(payload) == list(get_type_hints(types[kind]))
    status = events.status(State.GAP, 3.0, gap_s=0.5)
    assert set(status) <= set(get_type_hints(events.Status))


def _literal_state_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants compared with a status's state (``state == "x"``, ``in ("x", ...)``)."""

    def is_state(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id == "state"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr == "get" and any(
                isinstance(a, ast.Constant) and a.value == "state" for a in node.args
            )
        if isinstance(node, ast.Subscript):
            return isinstance(node.slice, ast.Constant) and node.slice.value == "state"
        return False

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            is_state(n) for n in [node.left, *node.comparators]
        ):
            for side in [node.left, *node.comparators]:
                for c in ast.walk(side):
                    if (
                        isinstance(c, ast.Constant)
                        and isinstance(c.value, str)
                        and c.value != "state"
                    ):
                        found.append((node.lineno, c.value))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in (
            "status",
            "_emit_status",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def test_no_product_code_types_a_status_state_out() -> None:
    typed_out = []
    for path in PRODUCT:
        if path.name == "events.py" and path.parent.name == "detection":
            continue
        for line, value in _literal_state_uses(ast.parse(path.read_text())):
            typed_out.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert not typed_out, "use detection.events.State: " + "; ".join(typed_out)


def test_every_state_named_in_product_code_is_listed() -> None:
    # State.X for an X the Literal does not list would be an AttributeError at run time; this
    # finds it without running the code.
    names = {k for k in vars(State) if k.isupper()}
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "State"
            ):
                assert node.attr in names, (
                    f"{path.relative_to(ROOT)}:{node.lineno}: State.{node.attr}"
                )
