"""The display ring buffer: what the window reads is what the acquisition wrote, in order."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.display import DisplayBuffer


@pytest.mark.parametrize("chunk", [1, 7, 10, 64])
def test_snapshots_return_the_newest_samples_in_order_across_the_wrap(chunk):
    buffer = DisplayBuffer(capacity=50, n_channels=2)
    written = np.arange(230, dtype=float)
    for start in range(0, len(written), chunk):
        t = written[start : start + chunk]
        columns = np.stack([t, -t], axis=1).astype(np.float32)
        buffer.write(
            t,
            filtered_uv=columns,
            envelope_uv=columns,
            detection=columns,
            above=columns > 100,
            excluded=columns > 200,
        )
        held = min(len(written[: start + len(t)]), 50)
        for n in (None, 1, 13, 50, 80):
            snap = buffer.snapshot(n)
            expected = written[: start + len(t)][-min(held, n or held) :]
            np.testing.assert_array_equal(snap.t, expected)
            np.testing.assert_array_equal(snap.filtered_uv[:, 1], -expected)
            np.testing.assert_array_equal(snap.excluded[:, 0], expected > 200)
