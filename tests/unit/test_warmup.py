"""The warm-up compiles every kernel a live session uses, so acquisition never waits on numba."""

from __future__ import annotations

import numpy as np
from emg_signals import FS_HZ, LABELS, Burst, emg, timestamps
from numba.core.dispatcher import Dispatcher

from detection import filters, history, mains_kernel, onset, quality, windows
from detection.config import Config
from detection.pipeline import Pipeline
from detection.warmup import compile_kernels


def _kernels() -> dict[str, Dispatcher]:
    modules = (filters, history, mains_kernel, onset, quality, windows)
    return {
        f"{module.__name__}.{name}": obj
        for module in modules
        for name, obj in vars(module).items()
        if isinstance(obj, Dispatcher)
    }


#: Called only from other kernels: compiled into them, never on their own.
INNER_KERNELS = {
    "detection.mains_kernel._end_block",
    "detection.mains_kernel._correct_frequency",
    "detection.windows._sqrt_of_positive",
}


def test_after_the_warm_up_a_session_compiles_nothing_new():
    assert compile_kernels() > 0
    before = {name: len(kernel.signatures) for name, kernel in _kernels().items()}
    not_compiled = sorted(
        name for name, count in before.items() if count == 0 and name not in INNER_KERNELS
    )
    assert not_compiled == [], "the warm-up leaves these for the live session to compile"

    # A session as the live runner feeds it: float32 chunks of varying size, a contraction with
    # a mirror, a NaN burst, a railed stretch and a flat one, and the stream's own rate.
    x = emg(16.0, [Burst(0, 8.0, 2.0, 150.0, 0.05)], mirror_of={1: (0, 0.3, 0.02)}, seed=5)
    x[round(12.0 * FS_HZ) : round(12.1 * FS_HZ), 0] = np.nan
    x[round(13.0 * FS_HZ) : round(13.5 * FS_HZ), 1] = 6000.0
    x[round(14.0 * FS_HZ) :, 0] *= 0.01
    x = x.astype(np.float32)
    ts = timestamps(len(x))
    pipe = Pipeline(Config(), FS_HZ, LABELS)
    rng = np.random.default_rng(0)
    start, trials = 0, 0
    while start < len(x):
        stop = start + int(rng.integers(1, 200))
        result = pipe.process(x[start:stop], ts[start:stop])
        trials += sum(e.kind == "trial" for e in result.events)
        start = stop
    assert trials >= 1, "the session reached the event logic"
    after = {name: len(kernel.signatures) for name, kernel in _kernels().items()}
    assert after == before
