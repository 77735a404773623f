"""The live monitor over real loopback LSL: simulator -> monitor -> events, scored on truth."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl
import pytest
from live_helpers import DEFAULT_CONFIG, live_session, unique

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from emg_signals import Burst, emg

from acquisition.runner import LiveMonitor
from acquisition.sim_outlet import FaultPlan
from acquisition.streams import (
    AmbiguousStreamError,
    StreamNotFoundError,
    describe,
    find_stream,
)
from detection.config import StreamConfig, parse_config, to_dict
from detection.pipeline import ChannelMapError
from detection.scoring import score_trials

pytestmark = pytest.mark.lsl

SECONDS = 100.0  # of stream time per preset (about 10 s of wall time at speed 10)


def _score(session):
    patient = session.streams.patient
    done = session.streams.samples_done
    truth = [t.to_dict(session.streams.t0) for t in patient.completed_trials(0, done)]
    trials = session.payloads("trial")
    minutes = (done / patient.fs_hz - DEFAULT_CONFIG.calibration.rest_s) / 60
    return score_trials(trials, truth, minutes=minutes), truth


@pytest.mark.parametrize("preset", ["congenital", "stroke", "demanding", "physiological"])
def test_presets_are_detected_as_the_truth_says(preset):
    with live_session(preset, speed=10.0, seed=1) as session:
        session.wait_stream_time(SECONDS, timeout_s=60)
        score, truth = _score(session)
    assert len(truth) >= 8
    assert score.movement_sensitivity >= 0.9, score.as_dict()
    assert score.false_mirror_calls == 0, score.as_dict()
    assert score.median_onset_error_ms <= 20, score.as_dict()
    if preset != "physiological":  # its mirrors are mostly below the noise
        assert score.detectable_mirrors >= 5
        assert score.mirror_sensitivity >= 0.9, score.as_dict()
    calibrated = session.payloads("status", "calibrated")
    assert len(calibrated) == 1
    assert calibrated[0]["mains_hz"] == 50


def test_artefacts_preset_makes_no_mirror_call():
    """ECG, drifting mains, motion, saturation and lift-off: none of it is a mirror movement."""
    with live_session("artefacts", speed=10.0, seed=1) as session:
        session.wait_stream_time(SECONDS, timeout_s=60)
        score, _ = _score(session)
    assert session.payloads("trial"), "the voluntary movements are still there"
    assert not [t for t in session.payloads("trial") if t["mirror"]]
    assert not session.payloads("mirror_onset")
    assert score.movement_sensitivity >= 0.7, score.as_dict()
    flags = {(p["channel"], p["flag"]) for p in session.payloads("status", "channel_flagged")}
    assert {flag for _, flag in flags} >= {"saturated", "flat"}, flags


def test_events_and_envelopes_are_published_on_lsl():
    with live_session("congenital", speed=4.0, seed=2) as session:
        cfg = session.monitor.config.output
        events = pylsl.StreamInlet(find_stream(_named(cfg.events_stream)))
        envelopes = pylsl.StreamInlet(find_stream(_named(cfg.envelope_stream)))
        events.open_stream(timeout=5)
        envelopes.open_stream(timeout=5)
        received, stamps = [], []
        started = pylsl.local_clock()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            json.loads(m)["event"] == "trial" for m in received
        ):
            markers, times = events.pull_chunk(timeout=0.1)
            received.extend(m[0] for m in markers)
            stamps.extend(times)
        finished = pylsl.local_clock()
        env, _ = envelopes.pull_chunk(timeout=1.0, max_samples=5000)
        summary = describe(envelopes.info())
    payloads = [json.loads(m) for m in received]
    assert all("event" in p for p in payloads)
    trial_index = next(i for i, p in enumerate(payloads) if p["event"] == "trial")
    trial = payloads[trial_index]
    assert set(trial) == {
        "event",
        "pair",
        "active_side",
        "t_onset",
        "t_offset",
        "mirror",
        "ratio",
        "ratio_norm",
        "lag_ms",
        "grade",
        "bimanual",
        "quality",
    }
    # Each marker is stamped with the LSL clock when it was decided (at speed 4 the stream's
    # own times run ahead of the clock, so compare with the clock, not with "t").
    assert started <= stamps[0] <= stamps[trial_index] <= finished
    assert stamps == sorted(stamps)
    assert trial["t_offset"] > trial["t_onset"]
    assert len(env) > 50
    assert summary.nominal_srate == pytest.approx(100.0)
    assert summary.labels == ("FDI-L", "FDI-R")
    assert summary.units == ("microvolts", "microvolts")


def test_a_note_is_published_in_order_with_the_events():
    with live_session("congenital", speed=4.0, seed=5) as session:
        cfg = session.monitor.config.output
        events = pylsl.StreamInlet(find_stream(_named(cfg.events_stream)))
        events.open_stream(timeout=5)
        assert session.wait_for(lambda ev: any(e.kind == "activation_onset" for e in ev), 30)
        published = session.monitor.add_note("  patient coughed  " + "x" * 1000).result(5)
        received: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(p.get("state") == "note" for p in received):
            markers, _ = events.pull_chunk(timeout=0.1)
            received.extend(json.loads(m[0]) for m in markers)
        with pytest.raises(TypeError, match="text must be a str"):
            session.monitor.add_note(42)
        session.drain()
    note = next(p for p in received if p.get("state") == "note")
    assert note == published
    assert note["event"] == "status"
    assert note["text"].startswith("patient coughed  x"), "only the ends are stripped"
    assert len(note["text"]) == 500, "cut to a line"
    assert note["t"] >= session.events[0].payload.get("t", 0.0)
    assert any(e.payload.get("state") == "note" for e in session.events), "in the queue too"


def _named(name):
    return StreamConfig(name=name, type="", timeout_s=5.0)


def test_stream_lost_is_reported_and_resumed_without_false_events():
    # Speed 4: an outage of 12 s of stream time is 3 s of silence for the monitor.
    faults = FaultPlan(outage_every_s=30.0, outage_s=12.0)
    with live_session("stroke", speed=4.0, seed=3, faults=faults) as session:
        assert session.wait_for(
            lambda evs: any(e.payload.get("state") == "stream_resumed" for e in evs), 40
        ), [e.payload for e in session.events if e.kind == "status"]
        lost = session.payloads("status", "stream_lost")[0]
        resumed_at = session.streams.samples_done
        session.wait_stream_time(resumed_at / 2000.0 + 25.0, timeout_s=30)
        score, _ = _score(session)
    assert lost["silent_s"] <= 2.5
    resumed = session.payloads("status", "stream_resumed")[0]
    # 12 s of outage plus what passed (at speed 4) before liblsl reconnected to the outlet.
    assert 12.0 <= resumed["gap_s"] < 60.0
    trials = session.payloads("trial")
    outage_start = lost["t"]
    after = [t for t in trials if t["t_onset"] > outage_start + 12.0]
    assert after, "trials after the stream came back are detected"
    assert score.false_mirror_calls == 0
    # Nothing is dated inside the outage: the discontinuity made no event.
    for kind in ("activation_onset", "mirror_onset"):
        for p in session.payloads(kind):
            assert not outage_start < p["t"] < outage_start + 12.0


def test_gap_in_timestamps_is_reported_with_its_length():
    faults = FaultPlan(gap_every_s=15.0, gap_s=0.5)
    with live_session("congenital", speed=8.0, seed=4, faults=faults) as session:
        assert session.wait_for(lambda evs: any(e.payload.get("state") == "gap" for e in evs), 30)
    gap = session.payloads("status", "gap")[0]
    assert gap["gap_s"] == pytest.approx(0.5, abs=0.01)


def _outlet(
    name,
    *,
    fmt=pylsl.cf_float32,
    unit="microvolts",
    labels=("FDI-L", "FDI-R"),
    source_id=None,
    rate=2000.0,
):
    info = pylsl.StreamInfo(name, "EMG", len(labels), rate, fmt, source_id or uuid.uuid4().hex)
    channels = info.desc().append_child("channels")
    for label in labels:
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
    return pylsl.StreamOutlet(info)


def test_two_matching_streams_are_an_error_that_lists_both():
    name = unique("Twin")
    first, second = _outlet(name, source_id="amp-A"), _outlet(name, source_id="amp-B")
    cfg = StreamConfig(name=name, type="EMG", timeout_s=5.0)
    with pytest.raises(AmbiguousStreamError) as info:
        find_stream(cfg)
    message = str(info.value)
    assert "amp-A" in message
    assert "amp-B" in message
    assert "source_id" in message
    pinned = StreamConfig(name=name, source_id="amp-B", timeout_s=5.0)
    assert find_stream(pinned).source_id() == "amp-B"
    del first, second


def test_missing_stream_lists_what_is_visible():
    visible = _outlet(unique("Visible"))
    cfg = StreamConfig(name=unique("Nowhere"), timeout_s=1.0)
    with pytest.raises(StreamNotFoundError, match=r"Visible-"):
        find_stream(cfg)
    del visible


def _config_for(name, **pairs):
    data = to_dict(DEFAULT_CONFIG)
    data["stream"].update(name=name, source_id="", timeout_s=5.0)
    data["output"].update(events_stream=unique("Ev"), envelope_stream="")
    if pairs:
        data["pairs"] = [pairs]
    return parse_config(data)


def test_a_wrong_channel_label_names_the_labels_that_exist():
    name = unique("Labels")
    outlet = _outlet(name, labels=("APB-L", "APB-R"))
    monitor = LiveMonitor(_config_for(name))
    with pytest.raises(ChannelMapError, match=r"'FDI-L'.*the stream has APB-L, APB-R"):
        monitor.start()
    monitor.stop()
    del outlet


def _play(outlet, data, fs_hz, speed=10.0):
    """Push a recording as a paced stream (explicit timestamps), in a thread."""
    t0 = pylsl.local_clock()

    def run():
        chunk = round(0.01 * fs_hz)
        for start in range(0, len(data), chunk):
            due = t0 + start / fs_hz / speed
            while pylsl.local_clock() < due:
                time.sleep(0.001)
            stamps = t0 + np.arange(start, min(start + chunk, len(data))) / fs_hz
            outlet.push_chunk(data[start : start + chunk], stamps.tolist())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return t0, thread


def _burst_recording(seed=0):
    return emg(16.0, [Burst(0, 8.0, 2.0, 200.0, 0.05)], mirror_of={1: (0, 0.3, 0.02)}, seed=seed)


@pytest.mark.parametrize(
    ("fmt", "dtype", "unit", "per_uv"),
    [
        (pylsl.cf_int16, np.int16, "uV", 1.0),
        (pylsl.cf_double64, np.float64, "V", 1e-6),
        (pylsl.cf_int32, np.int32, "nV", 1e3),
    ],
    ids=["int16-uV", "double-V", "int32-nV"],
)
def test_integer_and_double_streams_are_converted_to_microvolts(fmt, dtype, unit, per_uv):
    name = unique("Fmt")
    x = _burst_recording() * per_uv
    values = (np.round(x) if np.issubdtype(dtype, np.integer) else x).astype(dtype)
    outlet = _outlet(name, fmt=fmt, unit=unit)
    monitor = LiveMonitor(_config_for(name))
    monitor.start()
    _, thread = _play(outlet, values, 2000.0)
    deadline = time.monotonic() + 20
    trials = []
    while time.monotonic() < deadline and not trials:
        while not monitor.events.empty():
            event = monitor.events.get()
            if event.kind == "trial":
                trials.append(event.payload)
        time.sleep(0.02)
    thread.join()
    monitor.stop()
    monitor.raise_if_failed()
    assert trials, "the burst must be found"
    assert trials[0]["ratio"] == pytest.approx(0.3, rel=0.2)
    rest = monitor.pipeline.calibration.channels["FDI-L"].rest_mean_uv
    assert 1.0 < rest < 6.0  # microvolts, whatever the wire format


def test_a_cue_stream_decides_the_active_side():
    """Both sides start together, the left one larger; the cue says the right hand moves."""
    name = unique("Cued")
    x = _burst_recording()
    x[round(8.0 * 2000) : round(10.0 * 2000), 1] *= 2.4  # right a bit weaker than left
    outlet = _outlet(name)
    cues = pylsl.StreamOutlet(
        pylsl.StreamInfo(f"{name}-Cues", "Markers", 1, 0.0, pylsl.cf_string, uuid.uuid4().hex)
    )
    cfg = _config_for(name)
    cfg = cfg.replace("cues", stream=f"{name}-Cues")
    monitor = LiveMonitor(cfg)
    monitor.start()
    t0, thread = _play(outlet, x, 2000.0, speed=4.0)
    cues.push_sample([json.dumps({"cue": "right", "pair": "FDI"})], t0 + 7.7)
    deadline = time.monotonic() + 20
    trials = []
    while time.monotonic() < deadline and not trials:
        while not monitor.events.empty():
            event = monitor.events.get()
            if event.kind == "trial":
                trials.append(event.payload)
        time.sleep(0.02)
    thread.join()
    monitor.stop()
    monitor.raise_if_failed()
    assert trials
    assert trials[0]["active_side"] == "right"
    assert trials[0]["mirror"]
    assert not trials[0]["bimanual"]
