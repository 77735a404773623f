"""Record a simulated session, analyse it and render its report: docs/report_example.png.

A 'stroke' (Layer II) patient is simulated on this machine only, monitored live and recorded
with LabRecorderCLI exactly as ``mirrorscope monitor --record`` does; ``mirrorscope analyze``'s
engine then writes the analysis, and headless Chromium renders the page.

    LSLAPICFG=acquisition/lsl_local.cfg .venv/bin/python docs/make_report_example.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(ROOT / "acquisition" / "lsl_local.cfg"))

from acquisition.monitor_recording import MonitorRecording  # noqa: E402
from acquisition.runner import LiveMonitor  # noqa: E402
from acquisition.session_analysis import analyze, plan_analysis, write_outputs  # noqa: E402
from acquisition.sim_outlet import SimulatorStreams  # noqa: E402
from acquisition.simulator import SimulatedPatient  # noqa: E402
from acquisition.xdf_session import load_session  # noqa: E402
from detection.config import load_config  # noqa: E402
from gui.report import write_report  # noqa: E402

STREAM_S = 240.0
SPEED = 8.0
OUT = ROOT / "docs" / "report_example.png"


def record(path: Path) -> None:
    """Record one simulated session (monitor and recorder listening from the first sample)."""
    name = f"Example-{uuid.uuid4().hex[:6]}"
    config = load_config(ROOT / "configs" / "default.toml")
    config = config.replace("stream", name=name, source_id=name)
    config = config.replace("cues", stream=f"{name}-Cues")
    config = config.replace("output", events_stream=f"{name}-Events", envelope_stream="")
    patient = SimulatedPatient("stroke", fs_hz=2000.0, n_pairs=1, seed=11, initial_rest_s=8.0)
    streams = SimulatorStreams(patient, name=name, source_id=name, speed=SPEED)
    monitor = LiveMonitor(config)
    recording = MonitorRecording(path)
    recording.start_monitor(monitor)
    if recording.error:
        sys.exit(recording.error)
    streams.start()
    while streams.samples_done < STREAM_S * patient.fs_hz:
        time.sleep(0.1)
    streams.stop()
    time.sleep(1.0)  # let the monitor finish the last chunk
    monitor.stop()
    recording.finish(monitor)


def render(page: Path, png: Path) -> None:
    """Screenshot the page with headless Chromium and trim the white space below it."""
    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit(f"no Chromium found; open {page} in a browser instead")
    shot = png.with_suffix(".full.png")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,7000", page.as_uri()],
        check=True,
        capture_output=True,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    inked = np.flatnonzero(np.asarray(image).min(axis=(1, 2)) < 250)
    image = image.crop((0, 0, image.width, int(inked[-1]) + 30))
    image.save(png, optimize=True)
    shot.unlink()


def main() -> None:
    """Record, analyse, render."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "example.xdf"
        record(path)
        session = load_session(path)
        default = load_config(ROOT / "configs" / "default.toml")
        analysis = analyze(session, plan_analysis(session, config=None, default_config=default))
        write_outputs(analysis, Path(tmp) / "analysis")
        page = write_report(analysis, Path(tmp) / "analysis" / "report.html")
        render(page, OUT)
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
