"""Faults the live monitor must survive, each over real loopback LSL (issue 8)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl
import pytest
import pyxdf
from live_helpers import DEFAULT_CONFIG, file_size, live_session, unique

from acquisition.monitor_recording import MonitorRecording
from acquisition.runner import LiveMonitor
from acquisition.sim_outlet import FaultPlan
from benchmarks.soak import soak
from detection.config import parse_config, to_dict
from detection.scoring import score_trials

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from emg_signals import Burst, emg

pytestmark = pytest.mark.lsl
FS = 2000.0


def _outlet(name, source_id, n_channels=2, rate=FS, fmt=pylsl.cf_float32):
    info = pylsl.StreamInfo(name, "EMG", n_channels, rate, fmt, source_id)
    channels = info.desc().append_child("channels")
    for label in ("FDI-L", "FDI-R", "APB-L", "APB-R")[:n_channels]:
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
    return pylsl.StreamOutlet(info, max_buffered=60)


def _monitor(name, source_id="", cues=""):
    data = to_dict(DEFAULT_CONFIG)
    data["stream"].update(name=name, source_id=source_id, timeout_s=5.0)
    data["cues"]["stream"] = cues
    data["output"].update(events_stream=unique("Ev"), envelope_stream="")
    monitor = LiveMonitor(parse_config(data))
    monitor.start()
    return monitor


def _collect(monitor, until, timeout_s):
    """Drain events until ``until(events)`` or the deadline; re-raise thread errors."""
    events = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        while not monitor.events.empty():
            events.append(monitor.events.get_nowait().payload)
        monitor.raise_if_failed()
        if until(events):
            break
        time.sleep(0.02)
    while not monitor.events.empty():
        events.append(monitor.events.get_nowait().payload)
    return events


def _states(events):
    return [e["state"] for e in events if e["event"] == "status"]


def _push(outlet, data, t0, start=0, chunk=20):
    """Push samples ``start`` onwards with timestamps t0 + n / FS, as fast as possible."""
    for a in range(0, len(data), chunk):
        n = start + a + np.arange(min(chunk, len(data) - a))
        outlet.push_chunk(data[a : a + chunk], (t0 + n / FS).tolist())


def _wait_processed(monitor, count, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and monitor.health().samples < count:
        monitor.raise_if_failed()
        time.sleep(0.02)
    return monitor.health().samples


def test_repeated_outages_are_each_reported_and_trials_go_on():
    faults = FaultPlan(outage_every_s=25.0, outage_s=12.0)
    with live_session("stroke", speed=4.0, seed=6, faults=faults) as session:
        session.wait_stream_time(100.0, timeout_s=60)
        patient, done = session.streams.patient, session.streams.samples_done
        truth = [t.to_dict(session.streams.t0) for t in patient.completed_trials(0, done)]
    states = _states([e.payload for e in session.events])
    losses = [s for s in states if s in ("stream_lost", "stream_resumed")]
    # Each of the three outages is lost, then resumed. The simulator stopping at the end is a
    # loss too when the teardown takes over 2 s (a loaded machine): never a resumption.
    assert losses[:6] == ["stream_lost", "stream_resumed"] * 3
    assert losses[6:] in ([], ["stream_lost"])
    assert "error" not in states
    trials = session.payloads("trial")
    last_loss = session.payloads("status", "stream_resumed")[-1]["t"]
    assert [t for t in trials if t["t_onset"] > last_loss], "trials after the last return"
    assert score_trials(trials, truth, minutes=1.4).false_mirror_calls == 0


@pytest.mark.parametrize(("channels", "rate"), [(4, FS), (2, 1000.0)])
def test_a_stream_that_returns_changed_is_refused_clearly(channels, rate):
    name, source_id = unique("Changed"), uuid.uuid4().hex
    outlet = _outlet(name, source_id)
    monitor = _monitor(name, source_id)
    t0 = pylsl.local_clock()
    _push(outlet, emg(3.0, []), t0)
    assert _wait_processed(monitor, 6000) == 6000
    del outlet  # the amplifier goes away ...
    changed = _outlet(name, source_id, n_channels=channels, rate=rate)  # ... and comes back odd
    rng = np.random.default_rng(0)
    events = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "stream_changed" not in _states(events):
        changed.push_chunk(rng.standard_normal((20, channels)).astype(np.float32))
        events += _collect(monitor, lambda e: "stream_changed" in _states(e), 0.05)
    events += _collect(monitor, lambda e: False, 2.5)
    monitor.stop()
    monitor.raise_if_failed()
    assert _states(events).count("stream_changed") == 1
    message = next(e["message"] for e in events if e.get("state") == "stream_changed")
    assert f"{channels} channels at {rate:g} Hz" in message
    assert "was 2 at 2000 Hz" in message
    assert monitor.health().samples == 6000  # nothing of the changed stream was read
    assert not [e for e in events if e["event"] != "status"]


def test_a_backlog_is_processed_in_full_and_the_lag_recovers():
    """Samples that arrive late (a network hiccup) are all processed; the lag shows it."""
    name = unique("Backlog")
    outlet = _outlet(name, uuid.uuid4().hex)
    monitor = _monitor(name)
    x = emg(
        20.0,
        [Burst(0, 9.0, 2.0, 150.0), Burst(0, 16.0, 2.0, 150.0)],
        mirror_of={1: (0, 0.3, 0.02)},
        seed=31,
    )
    t0 = pylsl.local_clock() - 20.0  # every sample is already due: 20 s of backlog
    _push(outlet, x[: 12 * 2000], t0)
    assert _wait_processed(monitor, 24000) == 24000
    lag_behind_s = monitor.health().lag_s
    _push(outlet, x[12 * 2000 :], t0, start=12 * 2000, chunk=5 * 2000)  # 5 s per chunk
    processed = _wait_processed(monitor, len(x))
    events = _collect(monitor, lambda e: any(p["event"] == "trial" for p in e), 10)
    lag_caught_up_s = monitor.health().lag_s
    monitor.stop()
    monitor.raise_if_failed()
    assert processed == len(x)  # every sample pushed was processed
    assert lag_behind_s > 5.0
    # Caught up: the 8 s of backlog are gone from the lag (what remains is the test's own time).
    assert lag_caught_up_s < lag_behind_s - 6.0
    assert "gap" not in _states(events)
    onsets = [p["t_onset"] for p in events if p["event"] == "trial"]
    assert onsets == [pytest.approx(t0 + 9.0, abs=0.05), pytest.approx(t0 + 16.0, abs=0.05)]


def test_a_clock_jump_is_reported_and_detection_recovers():
    name = unique("Jump")
    outlet = _outlet(name, uuid.uuid4().hex)
    monitor = _monitor(name)
    x = emg(24.0, [Burst(0, 8.0, 2.0, 150.0), Burst(0, 19.0, 2.0, 150.0)], seed=32)
    t0 = pylsl.local_clock()
    half = 13 * 2000
    _push(outlet, x[:half], t0)
    _push(outlet, x[half:], t0 - 30.0, start=half)  # the amplifier's clock steps back 30 s
    _wait_processed(monitor, len(x))
    events = _collect(monitor, lambda e: any(p["event"] == "trial" for p in e), 10)
    monitor.stop()
    monitor.raise_if_failed()
    jumps = [e for e in events if e.get("state") == "clock_jump"]
    assert len(jumps) == 1
    assert jumps[0]["gap_s"] == pytest.approx(-30.0, abs=0.01)
    onsets = [p["t_onset"] for p in events if p["event"] == "trial"]  # in decision order
    assert onsets == [
        pytest.approx(t0 + 8.0, abs=0.05),
        pytest.approx(t0 - 30.0 + 19.0, abs=0.05),  # dated in the stream's new clock
    ]


def test_jittered_timestamps_are_smoothed_without_false_gaps():
    faults = FaultPlan(jitter_ms=4.0)
    with live_session("congenital", speed=8.0, seed=8, faults=faults) as session:
        session.wait_stream_time(60.0, timeout_s=40)
        patient, done = session.streams.patient, session.streams.samples_done
        truth = [t.to_dict(session.streams.t0) for t in patient.completed_trials(0, done)]
    states = _states([e.payload for e in session.events])
    assert "gap" not in states
    assert "clock_jump" not in states
    score = score_trials(session.payloads("trial"), truth, minutes=0.9)
    assert score.movement_sensitivity >= 0.9
    assert score.median_onset_error_ms <= 20


def test_hostile_cue_markers_are_ignored_with_a_warning(caplog):
    name = unique("Hostile")
    outlet = _outlet(name, uuid.uuid4().hex)
    cues = pylsl.StreamOutlet(
        pylsl.StreamInfo(f"{name}-Cues", "Markers", 1, 0.0, pylsl.cf_string, uuid.uuid4().hex)
    )
    caplog.set_level(logging.WARNING)
    monitor = _monitor(name, cues=f"{name}-Cues")
    x = emg(12.0, [Burst(0, 8.0, 2.0, 150.0)], mirror_of={1: (0, 0.3, 0.02)}, seed=33)
    t0 = pylsl.local_clock()
    for garbage in (
        "not json",
        "x" * 200_000,
        '["left"]',
        '{"cue": 7}',
        '{"cue": "up"}',
        '{"cue": "left", "pair": ["FDI"]}',
        "\u0000\u00ff",
        "{" * 5000,
        "",
    ):
        cues.push_sample([garbage], t0 + 7.5)
    _push(outlet, x, t0)
    _wait_processed(monitor, len(x))
    events = _collect(monitor, lambda e: any(p["event"] == "trial" for p in e), 10)
    monitor.stop()
    monitor.raise_if_failed()
    (trial,) = [p for p in events if p["event"] == "trial"]
    assert trial["active_side"] == "left"  # decided by the signal, not by the garbage
    assert trial["mirror"]
    warnings = [r.getMessage() for r in caplog.records if "cue marker" in r.getMessage()]
    assert len(warnings) >= 7
    assert all(len(w) < 300 for w in warnings)  # a huge marker is not echoed into the log


def test_a_pinned_monitor_ignores_a_stream_with_the_same_name(caplog):
    name = unique("Pinned")
    mine, other = _outlet(name, "amp-mine"), _outlet(name, "amp-other")
    caplog.set_level(logging.WARNING)
    monitor = _monitor(name, source_id="amp-mine")
    monitor.stop()
    assert monitor.summary.source_id == "amp-mine"
    assert any("amp-other" in r.getMessage() for r in caplog.records)
    del mine, other


def test_short_soak_with_outages_loses_nothing_silently():
    # Outages of 6 s at 15, 30 and 45 s of stream time; the run ends after the last return.
    report = soak(stream_s=55.0, speed=2.0, n_pairs=2, outage_every_s=15.0)
    assert report.losses == 3
    assert report.resumptions == 3
    assert report.errors == 0
    assert report.false_mirror_calls == 0
    # What was not processed is what liblsl missed while reconnecting after each outage.
    missed = report.samples_pushed - report.samples_processed
    assert 0 <= missed < 2 * 4 * 2000 * 2.0
    # ... and it is inside the gaps reported on resuming (rounding: a sample per gap).
    assert report.samples_unaccounted is not None
    assert abs(report.samples_unaccounted) <= report.resumptions


def _flags(events):
    return {(e["channel"], e["flag"]) for e in events if e.get("state") == "channel_flagged"}


def test_bad_samples_are_flagged_excluded_and_make_no_events():
    """NaN and inf bursts, a channel stuck at the rail and a lifted electrode, over LSL."""
    name = unique("BadSamples")
    outlet = _outlet(name, uuid.uuid4().hex)
    monitor = _monitor(name)
    x = emg(30.0, [Burst(0, 24.0, 2.0, 150.0)], mirror_of={1: (0, 0.3, 0.02)}, seed=33)
    x[round(9.0 * FS) : round(9.05 * FS), 0] = np.nan
    x[round(10.0 * FS) : round(10.01 * FS), 1] = np.inf
    x[round(11.0 * FS) : round(11.002 * FS), 1] = -np.inf
    x[round(13.0 * FS) : round(14.0 * FS), 0] = 5000.0  # stuck at the rail for 1 s
    x[round(16.0 * FS) : round(19.0 * FS), 1] = 0.0  # lifted electrode: flat line
    t0 = pylsl.local_clock()
    _push(outlet, x[: round(22.0 * FS)], t0)
    _wait_processed(monitor, round(22.0 * FS))
    faults = _collect(monitor, lambda e: False, 0.5)
    _push(outlet, x[round(22.0 * FS) :], t0, start=round(22.0 * FS))
    processed = _wait_processed(monitor, len(x))
    after = _collect(monitor, lambda e: any(p["event"] == "trial" for p in e), 10)
    monitor.stop()
    monitor.raise_if_failed()
    assert processed == len(x), "every sample, bad ones included, went through"
    assert {("FDI-L", "nan"), ("FDI-R", "nan"), ("FDI-L", "saturated"), ("FDI-R", "flat")} <= (
        _flags(faults)
    )
    made = [e["event"] for e in faults if e["event"] != "status"]
    assert made == [], "bad samples make no activation, mirror or trial"
    cleared = {
        (e["channel"], e["flag"]) for e in faults + after if e.get("state") == "channel_cleared"
    }
    assert {("FDI-L", "nan"), ("FDI-L", "saturated"), ("FDI-R", "flat")} <= cleared
    (trial,) = [e for e in after if e["event"] == "trial"]
    assert trial["mirror"], "after the faults, a mirror movement is found again"
    assert trial["t_onset"] == pytest.approx(t0 + 24.0, abs=0.05)


def test_a_clipped_int16_stream_is_flagged_not_mistaken():
    """An int16 amplifier driven into its rails during a strong contraction."""
    name = unique("Clipped")
    info = pylsl.StreamInfo(name, "EMG", 2, FS, pylsl.cf_int16, uuid.uuid4().hex)
    channels = info.desc().append_child("channels")
    for label in ("FDI-L", "FDI-R"):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
    outlet = pylsl.StreamOutlet(info, max_buffered=60)
    monitor = _monitor(name)
    x = emg(20.0, [Burst(0, 9.0, 2.0, 40_000.0), Burst(0, 15.0, 2.0, 150.0)], seed=34)
    counts = np.clip(np.round(x), -32768, 32767).astype(np.int16)  # the rails clip the burst
    t0 = pylsl.local_clock()
    _push(outlet, counts, t0)
    processed = _wait_processed(monitor, len(x))
    events = _collect(monitor, lambda e: any(p["event"] == "trial" for p in e), 10)
    monitor.stop()
    monitor.raise_if_failed()
    assert processed == len(x)
    assert ("FDI-L", "clipping") in _flags(events)
    # Mostly rail samples: the detector holds through the clipped burst (nothing it measured
    # there could be trusted) and finds the clean contraction after it.
    (trial,) = [e for e in events if e["event"] == "trial"]
    assert (trial["active_side"], trial["mirror"]) == ("left", False)
    assert trial["t_onset"] == pytest.approx(t0 + 15.0, abs=0.05)
    assert not [e for e in events if e["event"] == "mirror_onset"]


def test_a_killed_labrecorder_is_a_clear_error_and_detection_goes_on(tmp_path):
    with live_session("congenital", speed=4.0, seed=9) as session:
        recording = MonitorRecording(tmp_path / "killed.xdf")
        recording.attach(session.monitor)
        assert recording.error is None, recording.error
        recorder = recording.recorder
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and file_size(recording.path) < 64_000:
            time.sleep(0.05)
        os.kill(recorder.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and recorder.error is None:
            time.sleep(0.05)
        before = session.monitor.health().samples
        session.drain()
        trials_before = sum(e.kind == "trial" for e in session.events)
        assert session.wait_for(
            lambda ev: sum(e.kind == "trial" for e in ev) > trials_before, 30
        ), "a trial decided after the recorder died"
        after = session.monitor.health().samples
        assert session.monitor.running
        recording.finish(session.monitor)
    assert "LabRecorderCLI stopped unexpectedly" in recorder.error
    assert recording.error == recorder.error
    assert after > before, "acquisition carried on"
    streams, _ = pyxdf.load_xdf(str(recording.path))
    assert any(len(s["time_stamps"]) > 1000 for s in streams), "what was written still loads"
