"""End-to-end latency over loopback LSL: a true mirror onset to its ``mirror_onset`` marker.

A simulated Layer I patient streams in real time; the live monitor publishes its events; an
inlet on the events stream reads each ``mirror_onset`` marker's LSL timestamp (the moment it
was decided) and compares it with the simulator's true mirror onset. The simulator stamps
samples t0 + n / fs on the same LSL clock, so the difference is the latency a biofeedback
display or a game would see (minus its own drawing time).
"""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pylsl

from acquisition.runner import LiveMonitor
from acquisition.sim_outlet import SimulatorStreams
from acquisition.simulator import SimulatedPatient
from acquisition.streams import find_stream
from benchmarks.results import Result
from detection.config import Config, StreamConfig, parse_config, to_dict

__all__ = ["run"]


def _config(name: str, source_id: str, events: str) -> Config:
    data = to_dict(Config())
    data["stream"].update(name=name, source_id=source_id)
    data["cues"]["stream"] = f"{name}-Cues"
    data["output"].update(events_stream=events, envelope_stream="")
    return parse_config(data)


def measure(seconds: float) -> tuple[list[float], float]:
    """Latencies (ms) of mirror onsets, and the monitor's 99th percentile chunk time (ms)."""
    name = f"Bench-Latency-{uuid.uuid4().hex[:6]}"
    source_id = uuid.uuid4().hex
    events_name = f"{name}-Events"
    patient = SimulatedPatient("congenital", fs_hz=2000.0, seed=11, initial_rest_s=7.0)
    streams = SimulatorStreams(patient, name=name, source_id=source_id, speed=1.0)
    monitor = LiveMonitor(_config(name, source_id, events_name))
    monitor.start()
    inlet = pylsl.StreamInlet(find_stream(StreamConfig(name=events_name, type="", timeout_s=5)))
    inlet.open_stream(timeout=5)
    streams.start()
    decided: list[tuple[float, float]] = []  # (event t, LSL time decided)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            markers, stamps = inlet.pull_chunk(timeout=0.2)
            for marker, stamp in zip(markers, stamps, strict=True):
                payload = json.loads(marker[0])
                if payload["event"] == "mirror_onset":
                    decided.append((payload["t"], stamp))
        chunk_p99_ms = monitor.health().chunk_ms_p99
    finally:
        inlet.close_stream()
        monitor.stop()
        streams.stop()
    truth = [t.to_dict(streams.t0) for t in patient.completed_trials(0, streams.samples_done)]
    true_onsets = [
        mirror[0] for record in truth if record["mirror"] for mirror in record["mirror_bursts"]
    ]
    latencies = []
    for event_t, stamp in decided:
        nearest = min(true_onsets, key=lambda t: abs(t - event_t), default=None)
        if nearest is not None and abs(nearest - event_t) < 0.3:
            latencies.append(1000.0 * (stamp - nearest))
    return latencies, chunk_p99_ms


def run(*, quick: bool) -> list[Result]:
    """Latency records."""
    seconds = 40.0 if quick else 180.0
    latencies, chunk_p99_ms = measure(seconds)
    note = f"{len(latencies)} mirror onsets, congenital preset in real time, {seconds:g} s"
    values = np.array(latencies) if latencies else np.array([np.nan])
    return [
        Result("e2e_event_latency_ms_median", float(np.median(values)), "ms", "<= 100", note),
        Result("e2e_event_latency_ms_p95", float(np.percentile(values, 95)), "ms", "", note),
        Result(
            "live_chunk_to_event_ms_p99",
            chunk_p99_ms,
            "ms",
            "<= 5",
            "chunk arrival to its events published, in the live monitor (2 channels)",
        ),
    ]
