"""Compile the signal core's numba kernels before a live session needs them.

The first run on a new installation compiles them (several seconds) and numba caches the result
next to the modules; later runs load them in a fraction of a second. Compiling inside the live
monitor would stall the first seconds of acquisition, so ``make setup`` and the ``monitor`` and
``demo`` commands call :func:`compile_kernels` first. ``python -m detection.warmup`` does it by
hand (for an installation made without ``make``).
"""

from __future__ import annotations

import time

import numpy as np

from detection.config import Config, parse_config, to_dict
from detection.onset import hysteresis
from detection.pipeline import Pipeline

__all__ = ["compile_kernels"]

_FS_HZ = 1000.0
_SECONDS = 12.0


def compile_kernels() -> float:
    """Run a small pipeline over synthetic EMG, compiling or loading every kernel.

    Returns
    -------
    float
        Seconds it took (well under one when the kernels were cached).
    """
    start = time.perf_counter()
    data = to_dict(Config())
    data["pairs"] = [{"name": "FDI", "left": "FDI-L", "right": "FDI-R"}]
    pipeline = Pipeline(parse_config(data), _FS_HZ, ["FDI-L", "FDI-R"])
    rng = np.random.default_rng(0)
    n = round(_SECONDS * _FS_HZ)
    t = np.arange(n) / _FS_HZ
    signal = 3.0 * rng.standard_normal((n, 2)) + 5.0 * np.sin(2 * np.pi * 50.0 * t)[:, None]
    # A contraction on the left with a small mirror on the right, after the rest calibration,
    # and one bad sample: every stage, the event logic included, runs at least once.
    burst = slice(round(9.5 * _FS_HZ), round(10.5 * _FS_HZ))
    signal[burst, 0] *= 40.0
    signal[burst, 1] *= 8.0
    signal[n - 10, 1] = np.nan
    chunk_n = 32
    for first in range(0, n, chunk_n):
        pipeline.process(signal[first : first + chunk_n], t[first : first + chunk_n])
    # The onset detector's rarest path (a decision followed by a hold in the same chunk).
    column = np.zeros((1, 1), dtype=bool)
    hysteresis(column, column, np.zeros(1, dtype=bool))
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"signal core ready in {compile_kernels():.1f} s")  # noqa: T201
