"""The onset detector on hand-made envelopes: hysteresis, debouncing, holds, chunk invariance."""

from __future__ import annotations

import numpy as np
import pytest

from detection.config import DetectorConfig
from detection.history import History
from detection.onset import OnsetDetector

FS_HZ = 1000.0


def _envelope_and_hold(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two channels of bursts (envelope units: rest 1 +- 0.1) with holds placed to bite."""
    rng = np.random.default_rng(seed)
    n = 6000
    env = 1.0 + 0.1 * rng.standard_normal((n, 2))
    hold = np.zeros((n, 2), dtype=bool)
    for start, length, channel in ((500, 400, 0), (1500, 25, 0), (2500, 800, 1), (4000, 60, 1)):
        env[start : start + length, channel] += 8.0
    # A hold that starts while an activation is confirmed (it must freeze, not end it) ...
    hold[700:760, 0] = True
    # ... one that starts right after a rise, before the onset is confirmed (no onset in it) ...
    hold[2510:2600, 1] = True
    # ... one that starts the moment an offset is confirmed, while the envelope is still high ...
    hold[955:1000, 0] = True
    # ... and a short burst that only a hold interrupts.
    hold[4020:4030, 1] = True
    return env, hold


def _run(env: np.ndarray, hold: np.ndarray, sizes: list[int]) -> list[tuple]:
    detector = OnsetDetector(FS_HZ, 2, DetectorConfig(), envelope_delay_ms=5.0)
    detector.set_thresholds(np.ones(2), np.full(2, 0.1))
    history = History(len(env), 2)
    out, start = [], 0
    for size in sizes:
        piece = slice(start, start + size)
        history.push(env[piece])
        _, transitions = detector.process(start, env[piece], hold[piece], history)
        out += [(t.channel, t.onset, t.index, t.decided_index) for t in transitions]
        start += size
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunking_never_changes_the_decisions_even_around_holds(seed):
    env, hold = _envelope_and_hold(seed)
    whole = _run(env, hold, [len(env)])
    assert whole, "the signal has activations to find"
    assert _run(env, hold, [1] * len(env)) == whole, "sample by sample"
    rng = np.random.default_rng(seed + 10)
    sizes = []
    while sum(sizes) < len(env):
        sizes.append(int(rng.integers(1, 300)))
    sizes[-1] -= sum(sizes) - len(env)
    assert _run(env, hold, sizes) == whole


def test_a_hold_freezes_an_activation_and_blocks_a_new_onset():
    env, hold = _envelope_and_hold(0)
    decisions = _run(env, hold, [len(env)])
    channel0 = [d for d in decisions if d[0] == 0]
    # One activation around the 500-900 burst: the hold at 700 does not split it.
    onsets = [d for d in channel0 if d[1]]
    assert 480 <= onsets[0][2] <= 510
    offsets = [d for d in channel0 if not d[1]]
    assert 890 <= offsets[0][2] <= 910
    # Channel 1: the rise at 2500 is held before it could be confirmed, so the onset comes
    # after the hold, dated no earlier than the hold's end.
    channel1_onsets = [d for d in decisions if d[0] == 1 and d[1]]
    assert channel1_onsets[0][3] >= 2600
