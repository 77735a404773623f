"""Helpers for live-monitor tests over real loopback LSL: a simulated patient, a monitor,
deadline loops that collect events, and scoring against the simulator's truth."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition.runner import LiveMonitor
from acquisition.sim_outlet import FaultPlan, SimulatorStreams
from acquisition.simulator import SimulatedPatient
from detection.config import Config, load_config, parse_config, to_dict
from detection.events import Event

DEFAULT_CONFIG = load_config(Path(__file__).parents[2] / "configs" / "default.toml")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unused_x_display() -> str:
    """An X display name no server uses (no socket, no lock file)."""
    for number in range(150, 400):
        paths = (f"/tmp/.X11-unix/X{number}", f"/tmp/.X{number}-lock")
        if not any(Path(p).exists() for p in paths):
            return f":{number}"
    raise RuntimeError("no free X display number")


@dataclass
class Session:
    """A simulator and a monitor that watches it."""

    streams: SimulatorStreams
    monitor: LiveMonitor
    events: list[Event] = field(default_factory=list)

    def drain(self) -> None:
        while not self.monitor.events.empty():
            self.events.append(self.monitor.events.get_nowait())

    def wait_for(self, condition: Callable[[list[Event]], bool], timeout_s: float) -> bool:
        """Collect events until ``condition(events)`` holds or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.drain()
            if condition(self.events):
                return True
            self.monitor.raise_if_failed()
            time.sleep(0.02)
        self.drain()
        return condition(self.events)

    def wait_stream_time(self, seconds: float, timeout_s: float) -> None:
        """Run the simulator ``seconds`` into the stream, stop it, and let the monitor catch up."""
        fs = self.streams.patient.fs_hz
        target = round(seconds * fs)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.streams.samples_done < target:
            self.drain()
            self.monitor.raise_if_failed()
            time.sleep(0.02)
        if self.streams.samples_done < target:
            raise AssertionError(
                f"only {self.streams.samples_done / fs:.1f} s of stream time after {timeout_s} s"
            )
        self.streams.stop()
        # Caught up: nothing new processed for a little while.
        last, still_since = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - still_since < 0.3:
            index = self.monitor.pipeline.index
            if index != last:
                last, still_since = index, time.monotonic()
            time.sleep(0.02)
        self.drain()

    def payloads(self, kind: str, state: str | None = None) -> list[dict[str, Any]]:
        return [
            e.payload
            for e in self.events
            if e.kind == kind and (state is None or e.payload.get("state") == state)
        ]


@contextlib.contextmanager
def live_session(
    preset: str = "congenital",
    *,
    speed: float = 8.0,
    seed: int = 0,
    n_pairs: int = 1,
    faults: FaultPlan | None = None,
    config: Config | None = None,
    cues: bool = True,
    initial_rest_s: float = 7.0,
    fs_hz: float = 2000.0,
) -> Iterator[Session]:
    """Run a simulated patient and a monitor pinned to it; stop both and re-raise errors."""
    name = unique(f"Live-{preset}")
    source_id = unique("live-src")
    patient = SimulatedPatient(
        preset, fs_hz=fs_hz, n_pairs=n_pairs, seed=seed, initial_rest_s=initial_rest_s
    )
    streams = SimulatorStreams(patient, name=name, source_id=source_id, speed=speed, faults=faults)
    cfg = config or DEFAULT_CONFIG
    pairs = [
        {"name": pn, "left": patient.labels[2 * i], "right": patient.labels[2 * i + 1]}
        for i, pn in enumerate(patient.pair_names)
    ]
    data = to_dict(cfg)
    data["pairs"] = pairs
    data["stream"].update(name=name, source_id=source_id, timeout_s=10.0)
    data["cues"]["stream"] = f"{name}-Cues" if cues else ""
    data["output"]["events_stream"] = unique("Events")
    data["output"]["envelope_stream"] = unique("Envelopes")
    monitor = LiveMonitor(parse_config(data))
    session = Session(streams, monitor)
    monitor.start()  # the inlet is open before the first sample is pushed
    streams.start()
    try:
        yield session
    finally:
        monitor.stop()
        streams.stop()
    monitor.raise_if_failed()


def file_size(path) -> int:
    """Bytes in ``path`` so far; 0 while the recorder has not created it yet."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
