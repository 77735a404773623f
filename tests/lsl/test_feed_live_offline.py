"""Live and offline feed the pipeline through the one feeder: the same chunks, the same events.

A recorded-like stream with a gap and a clock that steps back goes once through a real LSL
outlet into the live monitor, and once, as a recording in memory, through offline analysis;
the two event lists must be identical, event for event.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
from live_helpers import DEFAULT_CONFIG, unique

from acquisition.runner import LiveMonitor
from acquisition.session_run import run_session
from acquisition.simulator import SimulatedPatient
from acquisition.xdf_session import EmgRecording, RecordedSession
from detection.config import parse_config, to_dict
from detection.events import State

pytestmark = pytest.mark.lsl

FS_HZ = 1000.0
SECONDS = 40.0
GAP_AT_S, GAP_S = 18.0, 0.8
JUMP_AT_S, JUMP_S = 28.0, -30.0


def _recording() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Samples and timestamps of a session with a gap and a clock step back."""
    patient = SimulatedPatient("congenital", fs_hz=FS_HZ, seed=6, initial_rest_s=7.0)
    n = round(SECONDS * FS_HZ)
    data = patient.generate(n)
    stamps = 1000.0 + np.arange(n) / FS_HZ
    stamps[round(JUMP_AT_S * FS_HZ) :] += JUMP_S
    keep = np.ones(n, dtype=bool)
    keep[round(GAP_AT_S * FS_HZ) : round((GAP_AT_S + GAP_S) * FS_HZ)] = False
    return data[keep], stamps[keep], patient.labels


def _outlet(name: str, source_id: str, labels: tuple[str, ...]) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, "EMG", len(labels), FS_HZ, pylsl.cf_float32, source_id)
    channels = info.desc().append_child("channels")
    for label in labels:
        channel = channels.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", "microvolts")
        channel.append_child_value("type", "EMG")
    return pylsl.StreamOutlet(info, chunk_size=20, max_buffered=120)


def test_live_and_offline_give_the_same_events_across_gaps_and_clock_jumps() -> None:
    data, stamps, labels = _recording()
    name, source_id = unique("Feed"), unique("feed-src")
    settings = to_dict(DEFAULT_CONFIG)
    settings["stream"].update(name=name, source_id=source_id, timeout_s=10.0)
    settings["cues"]["stream"] = ""
    settings["acquisition"]["clock_sync"] = False  # the raw stamps, exactly as pushed
    settings["output"].update(events_stream=unique("Events"), envelope_stream="")
    config = parse_config(settings)

    outlet = _outlet(name, source_id, labels)
    monitor = LiveMonitor(config)
    monitor.start()  # the inlet is open before the first sample is pushed
    try:
        # The monitor's own time stamps are its clock's, so the offset to local_clock is 0; push
        # in 20 ms chunks with their recorded time stamps.
        for a in range(0, len(stamps), 20):
            outlet.push_chunk(data[a : a + 20], stamps[a : a + 20].tolist())
        deadline = time.monotonic() + 60.0
        while monitor.health().samples < len(stamps) and time.monotonic() < deadline:
            monitor.raise_if_failed()
            time.sleep(0.02)
        assert monitor.health().samples == len(stamps)
    finally:
        monitor.stop()
        del outlet
    live = []
    while not monitor.events.empty():
        live.append(monitor.events.get_nowait().payload)
    # Silence after the last push makes the monitor call the stream lost: not in the recording.
    live = [p for p in live if p.get("state") != State.STREAM_LOST]

    emg = EmgRecording(
        name=name,
        type="EMG",
        source_id=source_id,
        hostname="",
        fs_hz=FS_HZ,
        channel_format="float32",
        labels=labels,
        units=("microvolts",) * len(labels),
        data=data,
        timestamps=stamps,
    )
    session = RecordedSession(path=Path("memory.xdf"), kind="xdf", emg=emg)
    offline = [e.payload for e in run_session(session, config, use_cues=False).events]

    states = [p["state"] for p in live if p["event"] == "status"]
    assert states.count(State.GAP) == 1
    assert states.count(State.CLOCK_JUMP) == 1
    assert sum(p["event"] == "trial" for p in live) >= 3
    assert offline == live
