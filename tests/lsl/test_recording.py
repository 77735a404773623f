"""Recording sessions to XDF over loopback LSL, and analysing them with the live code path.

One simulated session is recorded (simulator + monitor + LabRecorderCLI) and shared by the
tests of this module: the file loads with every stream and sample, the offline analysis gives
exactly the events the live monitor gave, and the BDF export reads back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
import pyxdf
from live_helpers import DEFAULT_CONFIG, unique

from acquisition.monitor_recording import MonitorRecording
from acquisition.recorder import RecorderError, SessionRecorder, StreamSpec
from acquisition.replay import SessionPlayer
from acquisition.runner import LiveMonitor
from acquisition.session_analysis import analyze, plan_analysis
from acquisition.sidecar import read_sidecar
from acquisition.sim_outlet import SimulatorStreams
from acquisition.simulator import SimulatedPatient
from acquisition.xdf_session import load_session
from detection.config import parse_config, to_dict
from gui.cli import main

pytestmark = pytest.mark.lsl

STREAM_S = 36.0
SPEED = 4.0


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def session_config(name: str, source_id: str, *, clock_sync: bool):
    data = to_dict(DEFAULT_CONFIG)
    data["pairs"] = [{"name": "FDI", "left": "FDI-L", "right": "FDI-R"}]
    data["stream"].update(name=name, source_id=source_id, timeout_s=10.0)
    data["cues"]["stream"] = f"{name}-Cues"
    data["output"]["events_stream"] = unique("Events")
    data["output"]["envelope_stream"] = unique("Envelopes")
    data["acquisition"]["clock_sync"] = clock_sync
    return parse_config(data)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A simulated session recorded by ``MonitorRecording``, as ``monitor --record`` does."""
    name, source_id = unique("Rec"), unique("rec-src")
    patient = SimulatedPatient("congenital", fs_hz=2000.0, n_pairs=1, seed=4, initial_rest_s=7.0)
    # A fixed duration: the simulator stops pushing but keeps its outlets open until the
    # recorder has stopped, so LabRecorderCLI is never cut off before it pulled the last chunk.
    streams = SimulatorStreams(
        patient, name=name, source_id=source_id, speed=SPEED, duration_s=STREAM_S
    )
    # One machine, one clock: LSL's clock correction would only add its estimation noise.
    monitor = LiveMonitor(session_config(name, source_id, clock_sync=False))
    path = tmp_path_factory.mktemp("rec") / "session.xdf"
    recording = MonitorRecording(path)
    started = time.monotonic()
    recording.start_monitor(monitor)
    assert recording.error is None, recording.error
    streams.start()  # both the monitor and LabRecorderCLI are listening from the first sample
    assert streams.wait(30.0), "the simulated session did not finish"
    last = [-1, time.monotonic()]

    def caught_up() -> bool:
        if monitor.pipeline.index != last[0]:
            last[:] = [monitor.pipeline.index, time.monotonic()]
        return time.monotonic() - last[1] > 0.3

    _wait(caught_up, 10.0, "the monitor to process everything")
    monitor.stop()
    monitor.raise_if_failed()
    live = []
    while not monitor.events.empty():
        live.append(monitor.events.get_nowait())
    recording.finish(monitor)
    streams.stop()
    assert recording.error is None, recording.error
    done = streams.samples_done
    return {
        "path": path,
        "live": live,
        "pushed": done,
        "cues": len(patient.cues_between(0, done)),
        "truth": len(patient.completed_trials(0, done)),
        "processed": monitor.health().samples,
        "name": name,
        "wall_s": time.monotonic() - started,
    }


def test_recording_holds_every_stream_and_sample(recorded):
    streams, _ = pyxdf.load_xdf(str(recorded["path"]), dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    name = recorded["name"]
    assert {name, f"{name}-Cues", f"{name}-Truth"} <= set(by_name)
    types = sorted(s["info"]["type"][0] for s in streams)
    assert types == ["EMG", "EMG-Envelope", "Markers", "Markers", "Markers"]
    assert len(by_name[name]["time_stamps"]) == recorded["pushed"]
    assert len(by_name[f"{name}-Cues"]["time_stamps"]) == recorded["cues"]
    assert len(by_name[f"{name}-Truth"]["time_stamps"]) == recorded["truth"]
    events = next(s for s in streams if "events" in str(s["info"]["source_id"][0]))
    assert [json.loads(v[0]) for v in events["time_series"]] == [
        e.payload for e in recorded["live"]
    ]
    assert all(len(s["clock_times"]) >= 1 for s in streams), "LSL clock offsets are recorded"
    sidecar = read_sidecar(recorded["path"])
    assert sidecar["recorder"] == "monitor"
    assert sidecar["config"]["stream"]["name"] == name
    assert sidecar["calibration"] is None  # measured at the start, as the offline run will
    assert sidecar["calibration_measured"]["format"] == "mirrorscope-calibration"
    assert sidecar["samples_processed"] == recorded["processed"]
    assert sidecar["stopped_utc"]
    assert sidecar["software"]["version"]
    assert {s["role"] for s in sidecar["streams"]} == {
        "emg",
        "cues",
        "truth",
        "events",
        "envelopes",
    }


def test_offline_analysis_reproduces_the_live_events_exactly(recorded):
    session = load_session(recorded["path"])
    plan = plan_analysis(session, config=None, default_config=DEFAULT_CONFIG)
    assert plan.reproduces_live
    assert plan.use_cues
    analysis = analyze(session, plan)
    offline = [e.payload for e in analysis.run.events if e.decided_index < recorded["processed"]]
    live = [e.payload for e in recorded["live"]]
    assert len([p for p in live if p["event"] == "trial"]) >= 3
    assert offline == live  # same trials, same times, same ratios, in the same order


def test_analyze_command_writes_its_outputs(recorded, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", str(recorded["path"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "as live" in printed
    summary = json.loads((out / "summary.json").read_text())
    reproduction = summary["reproduction"]
    assert reproduction["identical"] == reproduction["matching"] == reproduction["live_trials"]
    assert reproduction["live_trials"] >= 3
    assert reproduction["max_time_difference_ms"] == 0
    lines = (out / "trials.csv").read_text().splitlines()
    assert lines[0].startswith("trial,pair,active_side,")
    assert len(lines) == 1 + reproduction["offline_trials"]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "trial" for e in events)
    page = (out / "report.html").read_text()
    assert "<svg" in page
    assert "src=" not in page
    assert "href=" not in page


def test_export_to_bdf_reads_back(recorded, tmp_path):
    from edfio import read_bdf

    from gui.commands import export

    parser = __import__("argparse").ArgumentParser()
    export.add_arguments(parser)
    out = tmp_path / "session.bdf"
    assert export.run(parser.parse_args([str(recorded["path"]), "--bdf", str(out)])) == 0
    bdf = read_bdf(out)
    assert bdf.labels == ("FDI-L", "FDI-R")
    assert bdf.signals[0].sampling_frequency == 2000.0
    assert abs(bdf.duration - recorded["pushed"] / 2000.0) < 1.0
    texts = [a.text for a in bdf.annotations]
    assert any(t.startswith("trial FDI") for t in texts)
    assert any(t.startswith("cue ") for t in texts)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped; only its entry remains


def _children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            out.append(int(status.parent.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_record_command_killed_takes_labrecorder_with_it_and_its_file_loads(tmp_path):
    name, path = unique("Killed"), tmp_path / "cut.xdf"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 4, 2000, pylsl.cf_float32, name))
    child = subprocess.Popen(
        [sys.executable, "-m", "gui.cli", "record", "--out", str(path), "--stream", name],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
        env=dict(os.environ),
    )
    try:
        assert child.stdout.readline().startswith(f"recording {name} (emg)")
        (recorder_pid,) = _children(child.pid)
        t0, pushed = pylsl.local_clock(), 0

        def recorded_enough() -> bool:
            nonlocal pushed
            due = int((pylsl.local_clock() - t0) * 2000)
            outlet.push_chunk(np.zeros((due - pushed, 4), dtype=np.float32))
            pushed = due
            return path.stat().st_size > 64_000  # LabRecorderCLI writes in 0.5 s pulls

        _wait(recorded_enough, 15.0, "data to reach the file")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    _wait(lambda: not _alive(recorder_pid), 5.0, "LabRecorderCLI to end with its parent")
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    (emg,) = streams
    assert emg["info"]["name"] == [name]
    assert len(emg["time_stamps"]) > 1000, "a cut-short file loads up to where it stopped"
    assert read_sidecar(path)["recorder"] == "record"


def test_unwritable_path_is_one_clear_line_and_the_monitor_goes_on(tmp_path, capsys):
    name, source_id = unique("Unwritable"), unique("unw-src")
    patient = SimulatedPatient("congenital", fs_hz=2000.0, n_pairs=1, seed=5, initial_rest_s=7.0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with SimulatorStreams(patient, name=name, source_id=source_id, speed=SPEED) as streams:
        streams.start()
        code = main(
            [
                "monitor",
                "--local",
                "--headless",
                "--stream",
                name,
                "--source-id",
                source_id,
                "--duration",
                "1.5",
                "--record",
                str(blocker / "session.xdf"),
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0
    problem = [line for line in err.splitlines() if "not recording" in line]
    assert len(problem) == 1, err
    assert "is a file, not a folder" in problem[0]
    processed = re.search(r"stream: (\d+) samples", out)
    assert processed, out
    assert int(processed.group(1)) > 2000, out  # acquisition went on


def test_disk_running_full_stops_the_recording_with_an_error(tmp_path):
    name = unique("Full")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 2, 1000, pylsl.cf_float32, name))
    recorder = SessionRecorder(
        tmp_path / "full.xdf", [StreamSpec(name, source_id=name)], min_free_bytes=2**62
    )
    recorder.start()
    try:
        _wait(lambda: recorder.error is not None, 5.0, "the free-space check")
        outlet.push_chunk(np.zeros((100, 2), dtype=np.float32))
        _wait(lambda: not recorder.running, 15.0, "the recording to close")
    finally:
        recorder.stop()
    assert recorder.error.startswith("disk nearly full")
    pyxdf.load_xdf(str(tmp_path / "full.xdf"))  # closed properly while there was room


def test_a_stream_that_is_not_there_is_a_clear_error(tmp_path):
    recorder = SessionRecorder(
        tmp_path / "x.xdf", [StreamSpec(unique("Absent"))], start_timeout_s=5
    )
    with pytest.raises(RecorderError, match="no visible LSL stream matches"):
        recorder.start()
    assert not recorder.running
    assert not (tmp_path / "x.xdf").exists(), "no empty file left behind"


def _collect(monitor: LiveMonitor, player: SessionPlayer, timeout_s: float) -> list:
    """Play to the end, let the monitor catch up, stop it; return its events."""
    _wait(player.finished.is_set, timeout_s, "the replay to finish")
    last = [-1, time.monotonic()]

    def caught_up() -> bool:
        if monitor.pipeline.index != last[0]:
            last[:] = [monitor.pipeline.index, time.monotonic()]
        return time.monotonic() - last[1] > 0.3

    _wait(caught_up, 10.0, "the monitor to process the replay")
    monitor.stop()
    player.stop()
    monitor.raise_if_failed()
    events = []
    while not monitor.events.empty():
        events.append(monitor.events.get_nowait().payload)
    return events


def _relative(trials: list[dict], first_t: float) -> list[dict]:
    return [
        {**t, "t_onset": t["t_onset"] - first_t, "t_offset": t["t_offset"] - first_t}
        for t in trials
    ]


def test_replayed_recording_gives_the_same_trials(recorded):
    session = load_session(recorded["path"])
    assert session.first_index == 0
    name = unique("Replay")
    player = SessionPlayer(session, name=name, speed=2 * SPEED)
    data = dict(session.sidecar["config"])
    data["stream"] = {**data["stream"], "name": name, "source_id": player.source_id}
    data["cues"] = {"stream": f"{name}-Cues"}
    data["output"] = {**data["output"], "events_stream": unique("Ev"), "envelope_stream": ""}
    monitor = LiveMonitor(parse_config(data))
    monitor.start()  # listening before the first sample is played
    player.start()
    events = _collect(monitor, player, 20.0)
    replayed = [p for p in events if p["event"] == "trial"]
    live = [e.payload for e in recorded["live"] if e.kind == "trial"]
    assert len(replayed) == len(live) >= 3
    first_live = session.sidecar["first_timestamp"]
    for a, b in zip(
        _relative(replayed, monitor.first_timestamp), _relative(live, first_live), strict=True
    ):
        assert abs(a.pop("t_onset") - b.pop("t_onset")) < 2e-6
        assert abs(a.pop("t_offset") - b.pop("t_offset")) < 2e-6
        assert a == b  # side, mirror, ratio, lag, grade, bimanual, quality


def test_monitor_record_on_a_flowing_stream_holds_everything_the_monitor_saw(tmp_path):
    """The usual case: the amplifier already streams when `monitor --record` starts."""
    name, source_id = unique("Flowing"), unique("flowing-src")
    patient = SimulatedPatient("congenital", fs_hz=2000.0, n_pairs=1, seed=8, initial_rest_s=7.0)
    streams = SimulatorStreams(patient, name=name, source_id=source_id, speed=SPEED)
    monitor = LiveMonitor(session_config(name, source_id, clock_sync=False))
    path = tmp_path / "flowing.xdf"
    streams.start()
    try:
        _wait(lambda: streams.samples_done > 2000, 10.0, "the stream to flow")
        recording = MonitorRecording(path)
        recording.start_monitor(monitor)  # LabRecorderCLI starts in the monitor's hook
        assert recording.error is None, recording.error
        _wait(lambda: monitor.health().samples > 60_000, 30.0, "30 s of stream time")
    finally:
        monitor.stop()
        streams.stop()
    monitor.raise_if_failed()
    recording.finish(monitor)
    assert recording.error is None, recording.error
    sidecar = read_sidecar(path)
    assert sidecar["from_first_sample"] is True
    session = load_session(path)
    plan = plan_analysis(session, config=None, default_config=DEFAULT_CONFIG)
    assert plan.reproduces_live, "the file holds the monitor's first sample"
