"""One module per ``mirrorscope`` sub-command (see :mod:`gui.cli`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded_number(
    kind: Callable[[str], float], low: float | None, high: float | None, *, strict_low: bool = False
) -> Callable[[str], float]:
    """Build an argparse ``type`` that parses a number and checks its range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        too_low = low is not None and (value <= low if strict_low else value < low)
        if too_low or (high is not None and value > high):
            if high is None:
                bound = f"> {low:g}" if strict_low else f">= {low:g}"
            else:
                bound = f"{low:g}-{high:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


#: ``--duration S``: any positive number of seconds.
positive_seconds = bounded_number(float, 0.0, None, strict_low=True)
