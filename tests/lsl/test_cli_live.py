"""The live commands as a person runs them: ``streams``, ``monitor --headless``, ``demo``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from live_helpers import unique, unused_x_display

from acquisition.sim_outlet import SimulatorStreams
from acquisition.simulator import SimulatedPatient

pytestmark = pytest.mark.lsl

ROOT = Path(__file__).parents[2]


def _mirrorscope(
    *args: str, timeout_s: float = 90, env_changes: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``mirrorscope``; ``env_changes`` sets variables (None: removes them)."""
    env = dict(os.environ, LSLAPICFG=str(ROOT / "acquisition" / "lsl_local.cfg"))
    env.pop("DISPLAY", None)
    for key, value in (env_changes or {}).items():
        env.pop(key, None)
        if value is not None:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "gui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture
def simulator():
    # The monitor process needs a few seconds to start; the patient rests long enough for its
    # 5 s calibration to fall inside the rest.
    name = unique("CliSim")
    patient = SimulatedPatient("congenital", fs_hz=2000.0, seed=5, initial_rest_s=14.0)
    streams = SimulatorStreams(patient, name=name, source_id=unique("cli-src"), speed=2.0)
    streams.start()
    yield streams
    streams.stop()


def test_streams_lists_the_simulator(simulator):
    result = _mirrorscope("streams", "--local", "--wait", "1.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name",
        "type",
        "channels",
        "rate",
        "(Hz)",
        "format",
        "source_id",
        "host",
    ]
    row = next(line for line in lines if line.startswith(simulator.name + " "))
    assert "EMG" in row
    assert "2000" in row
    assert simulator.source_id in row


def test_monitor_headless_shows_calibration_trials_and_a_summary(tmp_path):
    # The simulated patient rests until this monitor has calibrated, however late the monitor
    # process starts on a busy machine: nothing here depends on timing.
    events = unique("CliEvents")
    name = unique("CliSim")
    patient = SimulatedPatient("congenital", fs_hz=2000.0, seed=5, initial_rest_s=2.0)
    simulator = SimulatorStreams(
        patient, name=name, source_id=unique("cli-src"), speed=2.0, wait_for_monitor=events
    )
    simulator.start()
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[stream]\nname = "{simulator.name}"\n\n'
        '[[pairs]]\nname = "FDI"\nleft = "FDI-L"\nright = "FDI-R"\n\n'
        f'[cues]\nstream = "{simulator.cues_name}"\n\n'
        f'[output]\nevents_stream = "{events}"\nenvelope_stream = ""\n',
        encoding="utf-8",
    )
    try:
        result = _mirrorscope(
            "monitor", "--local", "--headless", "--config", str(config), "--duration", "14"
        )
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"monitoring {simulator.name!r}" in out
    assert "relax" in out
    assert "calibrated: mains 50 Hz" in out
    assert "trial  FDI" in out
    assert "MIRROR" in out
    assert "session summary" in out
    assert "FDI:" in out


def test_monitor_with_a_wrong_stream_name_lists_what_is_visible(simulator):
    result = _mirrorscope(
        "monitor", "--local", "--headless", "--stream", unique("NoSuchAmp"), "--duration", "1"
    )
    assert result.returncode == 1
    assert "no LSL stream with name=" in result.stderr
    assert simulator.name in result.stderr
    assert "Traceback" not in result.stderr


def test_monitor_with_a_broken_config_names_the_key(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('[stream]\nname = "x"\n[[pairs]]\nname="A"\nleft="a"\nright="a"\n')
    result = _mirrorscope("monitor", "--local", "--headless", "--config", str(config))
    assert result.returncode == 1
    assert "pairs[0].right = 'a': names the same channel as pairs[0].left" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--duration", "-1"], ["--duration", "x"], ["--bogus"]])
def test_monitor_rejects_bad_arguments_in_one_line(args):
    result = _mirrorscope("monitor", "--local", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def _no_window_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("no window: ")]
    assert len(lines) == 1, stdout
    assert lines[0].endswith(": showing the terminal view instead")
    return lines[0]


#: Long enough for the 5 s calibration and the first movements after it (the simulated patient
#: rests 9 s from its start, and the monitor joins a few seconds in).
DEMO_S = "10"
NO_DISPLAY = {"QT_QPA_PLATFORM": None, "WAYLAND_DISPLAY": None, "XDG_SESSION_TYPE": None}


def test_demo_with_a_display_that_does_not_exist_falls_back_to_the_terminal():
    display = unused_x_display()
    result = _mirrorscope(
        "demo", "--duration", DEMO_S, env_changes={**NO_DISPLAY, "DISPLAY": display}
    )
    assert result.returncode == 0, result.stderr
    line = _no_window_line(result.stdout)
    assert line.startswith(f"no window: the X display '{display}' does not answer")
    assert "calibrated" in result.stdout
    assert "trial  FDI" in result.stdout
    assert "session summary" in result.stdout
    assert "Traceback" not in result.stderr


def test_demo_with_a_platform_plugin_that_cannot_load_falls_back_to_the_terminal(tmp_path):
    # An empty QT_QPA_PLATFORM_PLUGIN_PATH alone does not stop Qt on a machine with the
    # libraries: Qt falls back on its own plugin folder. A platform in neither folder (directfb,
    # which PyQt6's wheels do not carry) is a plugin that really cannot load, on any machine.
    empty = tmp_path / "plugins"
    empty.mkdir()
    changes = {
        **NO_DISPLAY,
        "QT_QPA_PLATFORM_PLUGIN_PATH": str(empty),
        "QT_QPA_PLATFORM": "directfb",
    }
    result = _mirrorscope("demo", "--duration", DEMO_S, env_changes=changes)
    assert result.returncode == 0, result.stderr
    line = _no_window_line(result.stdout)
    assert line.startswith(
        f"no window: Qt's platform plugin 'directfb' could not be loaded: it is not in '{empty}'"
    )
    assert "trial  FDI" in result.stdout
    assert "Traceback" not in result.stderr
