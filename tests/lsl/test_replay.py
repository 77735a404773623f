"""Replaying recordings as LSL streams: metadata, timing, markers, and the monitor on a replay.

A real recording (``../shared/data``) replayed and monitored live gives exactly the trials that
the offline analysis of the same file gives.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
from live_helpers import DEFAULT_CONFIG, unique

from acquisition.replay import ReplayError, SessionPlayer
from acquisition.runner import LiveMonitor
from acquisition.session_analysis import analyze, plan_analysis
from acquisition.streams import describe
from acquisition.xdf_session import load_session
from detection.config import parse_config, to_dict

pytestmark = pytest.mark.lsl

DATA = Path("/work/shared/data")
HANDSHAKING = DATA / "uci_physaction_s04_handshaking.npz"
needs_data = pytest.mark.skipif(not HANDSHAKING.exists(), reason="../shared/data not present")


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@needs_data
def test_npz_replay_keeps_metadata_and_timing():
    session = load_session(HANDSHAKING)
    name = unique("NpzReplay")
    player = SessionPlayer(session, name=name, speed=10.0)
    info = pylsl.resolve_byprop("source_id", player.source_id, timeout=5.0)[0]
    inlet = pylsl.StreamInlet(info)
    summary = describe(inlet.info(timeout=5.0))
    assert summary.labels == session.emg.labels
    assert set(summary.units) == {"microvolts"}
    assert summary.nominal_srate == 1000.0
    inlet.open_stream(timeout=5.0)
    player.start()
    data, stamps = [], []

    def got_all() -> bool:
        chunk, ts = inlet.pull_chunk(timeout=0.05)
        data.extend(chunk)
        stamps.extend(ts)
        return len(stamps) >= len(session.emg.data)

    _wait(got_all, 10.0, "every sample")
    player.stop()
    assert np.array_equal(np.array(data, dtype=np.float32), session.emg.data)
    steps = np.diff(stamps)
    assert np.allclose(steps, 1e-3, atol=1e-9), "timestamps are t0 + the original offsets"
    assert abs(stamps[0] - player.t0) < 1e-9


def test_replay_refuses_nonsense_speed():
    session = load_session(HANDSHAKING) if HANDSHAKING.exists() else None
    if session is None:
        pytest.skip("../shared/data not present")
    with pytest.raises(ReplayError, match="speed"):
        SessionPlayer(session, speed=0.0)


@needs_data
def test_monitoring_a_replayed_real_recording_gives_the_offline_trials():
    """Replay + live monitor on real EMG: the right biceps' handshakes, exactly as offline."""
    session = load_session(HANDSHAKING)
    plan = plan_analysis(session, config=None, default_config=DEFAULT_CONFIG)
    offline = [e.payload for e in analyze(session, plan).run.events if e.kind == "trial"]
    name = unique("RealReplay")
    player = SessionPlayer(session, name=name, speed=5.0)
    data = to_dict(plan.config)
    data["stream"].update(name=name, source_id=player.source_id, type="EMG")
    data["output"].update(events_stream=unique("Ev"), envelope_stream="")
    data["acquisition"]["clock_sync"] = False  # one machine: exact timestamps
    monitor = LiveMonitor(parse_config(data), calibration=plan.calibration)
    monitor.start()
    player.start()
    _wait(player.finished.is_set, 10.0, "the replay")
    last = [-1, time.monotonic()]

    def caught_up() -> bool:
        if monitor.pipeline.index != last[0]:
            last[:] = [monitor.pipeline.index, time.monotonic()]
        return time.monotonic() - last[1] > 0.3

    _wait(caught_up, 10.0, "the monitor to catch up")
    monitor.stop()
    player.stop()
    monitor.raise_if_failed()
    assert monitor.health().samples == len(session.emg.data)
    live = []
    while not monitor.events.empty():
        event = monitor.events.get_nowait()
        if event.kind == "trial":
            live.append(event.payload)
    bic = [t for t in offline if t["pair"] == "Bic"]
    assert sum(t["active_side"] == "right" for t in bic) >= 8, "the right biceps' handshakes"
    assert not any(t["bimanual"] for t in bic), "the left arm rests: nothing bimanual"
    assert len(live) == len(offline)
    shift = monitor.first_timestamp - float(session.emg.timestamps[0])
    for a, b in zip(live, offline, strict=True):
        assert abs(a.pop("t_onset") - shift - b.pop("t_onset")) < 2e-6
        assert abs(a.pop("t_offset") - shift - b.pop("t_offset")) < 2e-6
        assert a == b  # whatever chunks the network delivered
