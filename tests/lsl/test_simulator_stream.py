"""``mirrorscope simulate`` over loopback LSL: samples, time stamps, metadata, markers, faults."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pylsl
import pytest

from acquisition.sim_outlet import FaultPlan, SimulatorStreams
from acquisition.simulator import FS_RANGE_HZ, MAX_PAIRS, PRESETS, SimulatedPatient
from gui.commands import simulate as simulate_command

FS_HZ = 2000.0
SEED = 11


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _inlet(source_id: str, timeout_s: float = 10.0) -> pylsl.StreamInlet:
    found = pylsl.resolve_byprop("source_id", source_id, timeout=timeout_s)
    assert found, f"no stream with source_id {source_id}"
    inlet = pylsl.StreamInlet(found[0], max_buflen=360, recover=True)
    inlet.open_stream(timeout=timeout_s)
    return inlet


@dataclass
class Received:
    """What three inlets got from one simulator run."""

    streams: SimulatorStreams
    info: pylsl.StreamInfo
    data: np.ndarray
    stamps: np.ndarray
    cues: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    truths: list[tuple[dict[str, Any], float]] = field(default_factory=list)


def _pull_markers(inlet: pylsl.StreamInlet, into: list[tuple[dict[str, Any], float]]) -> None:
    values, stamps = inlet.pull_chunk(timeout=0.0)
    into.extend((json.loads(v[0]), t) for v, t in zip(values, stamps, strict=True))


def _collect(
    streams: SimulatorStreams, expected_samples: int, n_truths: int, n_cues: int
) -> Received:
    """Connect to all three streams, start them, and pull until everything came or time ran out."""
    emg = _inlet(streams.source_id)
    cues = _inlet(f"{streams.source_id}-cues")
    truth = _inlet(f"{streams.source_id}-truth")
    got = Received(streams, emg.info(timeout=5.0), np.empty((0, 0)), np.empty(0))
    chunks, stamps = [], []
    streams.start()
    n = 0
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        data, ts = emg.pull_chunk(timeout=0.05, max_samples=8192, as_numpy=True)
        if len(ts):
            chunks.append(data.copy())
            stamps.append(np.asarray(ts))
            n += len(ts)
        _pull_markers(cues, got.cues)
        _pull_markers(truth, got.truths)
        complete = len(got.truths) >= n_truths and len(got.cues) >= n_cues
        if streams.finished.is_set() and n >= expected_samples and complete:
            break
    got.data = np.vstack(chunks) if chunks else np.empty((0, 0))
    got.stamps = np.concatenate(stamps) if stamps else np.empty(0)
    for inlet in (emg, cues, truth):
        inlet.close_stream()
    return got


@pytest.fixture(scope="module")
def minute() -> Iterator[Received]:
    """One minute of stream time of a two-pair congenital patient, at 20x real time."""
    duration_s = 60.0
    total = round(duration_s * FS_HZ)
    reference = SimulatedPatient("congenital", fs_hz=FS_HZ, n_pairs=2, seed=SEED)
    n_truths = len(reference.completed_trials(0, total))
    n_cues = len(reference.cues_between(0, total))
    patient = SimulatedPatient("congenital", fs_hz=FS_HZ, n_pairs=2, seed=SEED)
    name = _unique("SimTest")
    streams = SimulatorStreams(patient, name=name, source_id=name, speed=20.0, duration_s=60.0)
    try:
        yield _collect(streams, total, n_truths, n_cues)
    finally:
        streams.stop()


@pytest.mark.lsl
def test_inlet_receives_every_sample(minute: Received) -> None:
    total = round(60.0 * FS_HZ)
    assert minute.stamps.size == total
    assert minute.streams.samples_done == total
    reference = SimulatedPatient("congenital", fs_hz=FS_HZ, n_pairs=2, seed=SEED)
    assert np.array_equal(minute.data, reference.generate(total))


@pytest.mark.lsl
def test_timestamps_stay_on_t0_plus_n_over_fs_for_a_minute(minute: Received) -> None:
    t0 = minute.streams.t0
    assert t0 is not None
    expected = t0 + np.arange(minute.stamps.size) / FS_HZ
    assert np.max(np.abs(minute.stamps - expected)) < 1e-3
    # The last samples, 60 s in, are as exact as the first.
    assert abs(minute.stamps[-1] - (t0 + (minute.stamps.size - 1) / FS_HZ)) < 1e-3


@pytest.mark.lsl
def test_metadata_names_channels_units_and_simulator(minute: Received) -> None:
    info = minute.info
    assert info.type() == "EMG"
    assert info.channel_format() == pylsl.cf_float32
    assert info.nominal_srate() == FS_HZ
    assert info.source_id() == minute.streams.source_id
    assert info.get_channel_labels() == ["FDI-L", "FDI-R", "APB-L", "APB-R"]
    assert info.get_channel_units() == ["microvolts"] * 4
    assert info.get_channel_types() == ["EMG"] * 4
    acquisition = info.desc().child("acquisition")
    assert acquisition.child_value("manufacturer") == "MirrorScope"
    assert acquisition.child_value("model") == "simulator"
    assert acquisition.child_value("preset") == "congenital"
    assert acquisition.child_value("seed") == str(SEED)


@pytest.mark.lsl
def test_cue_markers_come_before_each_movement(minute: Received) -> None:
    t0 = minute.streams.t0
    assert t0 is not None
    truths = {truth["trial"]: truth for truth, _ in minute.truths}
    moves = [(cue, stamp) for cue, stamp in minute.cues if cue["cue"] != "rest"]
    rests = [(cue, stamp) for cue, stamp in minute.cues if cue["cue"] == "rest"]
    assert len(moves) >= 5
    assert rests
    for cue, stamp in moves:
        assert cue["cue"] in {"left", "right"}
        assert cue["pair"] in {"FDI", "APB"}
        truth = truths.get(cue["trial"])
        if truth is None:
            continue  # the trial was still running when the minute ended
        assert cue["cue"] == truth["active_side"]
        assert stamp == pytest.approx(truth["cue_t"], abs=1e-5)
        assert 0.15 <= truth["onset_t"] - stamp <= 0.35


@pytest.mark.lsl
def test_truth_markers_describe_each_finished_trial(minute: Received) -> None:
    t0 = minute.streams.t0
    assert t0 is not None
    reference = SimulatedPatient("congenital", fs_hz=FS_HZ, n_pairs=2, seed=SEED)
    expected = reference.completed_trials(0, round(60.0 * FS_HZ))
    assert len(expected) >= 4
    assert [truth for truth, _ in minute.truths] == [
        json.loads(json.dumps(t.to_dict(t0))) for t in expected
    ]
    for truth, stamp in minute.truths:
        assert stamp == pytest.approx(truth["span_t"][1], abs=1e-5)
        assert truth["mirror"] is True
        assert truth["layer"] == "I"
        assert truth["onset_t"] < truth["offset_t"] < truth["span_t"][1]


@pytest.mark.lsl
def test_gaps_skip_samples_and_jump_the_timestamps() -> None:
    faults = FaultPlan(gap_every_s=4.0, gap_s=0.5, jitter_ms=0.5)
    patient = SimulatedPatient("stroke", fs_hz=FS_HZ, seed=3, initial_rest_s=1.0)
    name = _unique("SimGap")
    streams = SimulatorStreams(patient, name=name, speed=20.0, duration_s=10.0, faults=faults)
    try:
        got = _collect(streams, round(9.0 * FS_HZ), 0, 0)
    finally:
        streams.stop()
    assert streams.t0 is not None
    # Gaps at 4.0-4.5 s and 8.0-8.5 s: those 2 x 1000 samples never come.
    assert got.stamps.size == round(9.0 * FS_HZ)
    steps = np.diff(got.stamps)
    jumps = np.flatnonzero(steps > 0.25)
    assert jumps.size == 2
    assert steps[jumps] == pytest.approx(0.5 + 1.0 / FS_HZ, abs=0.005)
    kept = np.concatenate([np.arange(0, 8000), np.arange(9000, 16000), np.arange(17000, 20000)])
    residual_ms = 1000.0 * (got.stamps - (streams.t0 + kept / FS_HZ))
    assert 0.3 < float(np.std(residual_ms)) < 0.7
    record = streams.truth_record(patient.trials_between(0, 1)[0])
    assert any(a["kind"] == "gap" for a in record["artefacts"])


@pytest.mark.lsl
def test_outage_recreates_the_outlet_with_the_same_source_id() -> None:
    # One outage at 10-11 s of stream time (5.0-5.5 s real); the next would be at 20 s, which
    # leaves liblsl 4.5 s of real time to reconnect even on a loaded machine.
    faults = FaultPlan(outage_every_s=10.0, outage_s=1.0)
    patient = SimulatedPatient("physiological", fs_hz=FS_HZ, seed=4)
    name = _unique("SimOutage")
    streams = SimulatorStreams(patient, name=name, speed=2.0, faults=faults)
    emg = _inlet(streams.source_id)
    stamps: list[float] = []
    try:
        streams.start()
        assert streams.t0 is not None
        deadline = time.monotonic() + 20.0
        # The inlet finds the new outlet by its source_id and goes on receiving.
        while time.monotonic() < deadline and not (stamps and stamps[-1] > streams.t0 + 11.0):
            _, ts = emg.pull_chunk(timeout=0.1, max_samples=4096)
            stamps.extend(ts)
        assert streams.outlet_generation >= 2
        assert emg.info(timeout=5.0).source_id() == streams.source_id
    finally:
        emg.close_stream()
        streams.stop()
    n = (np.asarray(stamps) - streams.t0) * FS_HZ
    assert n[-1] > 11.0 * FS_HZ
    assert np.allclose(n, np.round(n), atol=1e-3)
    n = np.round(n).astype(int)
    before = n[n < 20_000]
    # Everything before the outage arrives in order, except possibly the chunk that was still
    # in flight when the outlet was destroyed (as when an amplifier is unplugged).
    chunk = round(0.01 * FS_HZ)
    assert np.array_equal(before, np.arange(len(before)))
    assert len(before) >= 20_000 - chunk
    assert not np.any((n >= 20_000) & (n < 22_000))


# -- the command line -------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gui.cli", "simulate", *args]


def _read_until(proc: subprocess.Popen[bytes], marker: str, timeout_s: float) -> str:
    """Read the process's stdout until it contains ``marker`` (raw reads: no hidden buffer)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


@contextlib.contextmanager
def _running(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start a command; kill it on the way out if a failed test left it running."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10.0)


def test_cli_constants_match_the_simulator() -> None:
    assert tuple(PRESETS) == simulate_command.PRESET_NAMES
    assert simulate_command.FS_RANGE_HZ == FS_RANGE_HZ
    assert simulate_command.MAX_PAIRS == MAX_PAIRS


@pytest.mark.lsl
def test_cli_streams_for_its_duration_and_exits_zero() -> None:
    name = _unique("SimCli")
    command = _cli("--duration", "6", "--speed", "2", "--name", name, "--pairs", "2")
    with _running(command) as proc:
        banner = _read_until(proc, f"{name}-Truth", 20.0)
        # While it streams, the EMG outlet is visible under its default source_id.
        found = pylsl.resolve_byprop("source_id", f"mirrorscope-sim-{name}", timeout=10.0)
        out, err = (text.decode() for text in proc.communicate(timeout=30.0))
    assert proc.returncode == 0, err
    assert found
    assert found[0].name() == name
    for expected in (name, f"{name}-Cues", f"{name}-Truth", "2000 Hz", "FDI-L", "congenital"):
        assert expected in banner
    assert "local only" in banner
    assert f"mirrorscope-sim-{name}" in banner
    assert "stopped after 6.0 s" in out
    assert "Traceback" not in err


@pytest.mark.lsl
def test_cli_stops_cleanly_on_ctrl_c() -> None:
    name = _unique("SimCtrlC")
    with _running(_cli("--name", name)) as proc:
        banner = _read_until(proc, f"{name}-Truth", 20.0)
        assert name in banner
        proc.send_signal(signal.SIGINT)
        out, err = (text.decode() for text in proc.communicate(timeout=20.0))
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped after" in out


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--fs", "100"], "--fs"),
        (["--pairs", "65"], "--pairs"),
        (["--speed", "0"], "--speed"),
        (["--mains", "55"], "--mains"),
        (["--preset", "healthy"], "--preset"),
        (["--gap-every", "1", "--gap", "2"], "gap"),
    ],
)
def test_cli_bad_argument_gives_one_line_and_fails(args: list[str], mentions: str) -> None:
    result = subprocess.run(
        _cli(*args, "--duration", "1"), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert result.stdout == ""
    message = result.stderr.strip()
    assert "\n" not in message
    assert mentions in message


def test_a_patient_waits_at_rest_for_its_monitor_to_calibrate() -> None:
    """The simulator holds its patient at rest until the monitor says "calibrated"."""
    from acquisition.runner import LiveMonitor
    from detection.config import Config, PairConfig

    name, events_name = _unique("Waiting"), _unique("WaitEvents")
    patient = SimulatedPatient("congenital", fs_hz=FS_HZ, seed=SEED, initial_rest_s=1.0)
    streams = SimulatorStreams(
        patient, name=name, source_id=_unique("wait-src"), speed=8.0, wait_for_monitor=events_name
    )
    cues = _inlet(f"{streams.source_id}-cues")
    received: list[tuple[dict[str, Any], float]] = []
    streams.start()
    monitor = None
    try:
        # 20 s of stream time with no monitor: the patient only rests.
        deadline = time.monotonic() + 30.0
        while streams.samples_done < round(20 * FS_HZ) and time.monotonic() < deadline:
            _pull_markers(cues, received)
            time.sleep(0.02)
        _pull_markers(cues, received)
        assert streams.samples_done >= round(20 * FS_HZ)
        assert received == []
        assert streams.held_samples > 0
        config = (
            Config()
            .replace("stream", name=name, source_id=streams.source_id)
            .replace("output", events_stream=events_name, envelope_stream="")
            .with_pairs([PairConfig("FDI", "FDI-L", "FDI-R")])
        )
        monitor = LiveMonitor(config)
        monitor.start()
        calibrated_at = None
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not received:
            _pull_markers(cues, received)
            while not monitor.events.empty():
                event = monitor.events.get_nowait()
                if event.payload.get("state") == "calibrated" and calibrated_at is None:
                    calibrated_at = event.payload["t"]
            time.sleep(0.02)
        assert calibrated_at is not None
        assert received, "the patient moves once the monitor has calibrated"
        first_cue_t = received[0][1]
        assert first_cue_t > calibrated_at
    finally:
        if monitor is not None:
            monitor.stop()
        streams.stop()
