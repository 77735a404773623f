"""One benchmark figure, held against its goal."""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Result", "machine"]


@dataclass(frozen=True)
class Result:
    """A measured figure.

    Attributes
    ----------
    name : str
        Stable record name (other tools read it).
    value : float | None
        The figure (None when it could not be measured; ``note`` says why).
    unit : str
        Its unit.
    goal : str
        The goal it is held against, e.g. ``">= 100"``, or ``"+- 10"`` for a signed figure
        whose size must stay within 10; empty when there is none.
    note : str
        Conditions or the reason a figure is missing.
    """

    name: str
    value: float | None
    unit: str
    goal: str = ""
    note: str = ""

    @property
    def meets(self) -> bool | None:
        """Whether the value meets the goal (None without a goal or a value)."""
        if not self.goal or self.value is None or not math.isfinite(self.value):
            return None
        op, _, bound = self.goal.partition(" ")
        limit = float(bound)
        return {
            ">=": self.value >= limit,
            "<=": self.value <= limit,
            "<": self.value < limit,
            ">": self.value > limit,
            "+-": abs(self.value) <= limit,
        }[op]

    def as_dict(self) -> dict[str, Any]:
        """JSON record: name, value, unit, goal, meets (and note)."""
        out = asdict(self)
        out["meets"] = self.meets
        return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import numba
    import numpy as np
    import scipy

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
    }
