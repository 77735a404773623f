r"""Screenshots of the experimenter and biofeedback windows on a simulated patient.

Run on a display (or a virtual one)::

    LSLAPICFG=acquisition/lsl_local.cfg xvfb-run -s "-screen 0 1920x1080x24" \\
        .venv/bin/python docs/make_screenshots.py

It starts a simulated congenital patient (two pairs) and a live monitor, opens both windows,
waits for a mirror movement that the biofeedback bar shows over the limit, and saves
``docs/experimenter.png`` and ``docs/biofeedback.png`` (``--out DIR``: in DIR instead). Without a
window (no display, or Qt's platform plugin cannot load) it says why in one line and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(ROOT / "acquisition" / "lsl_local.cfg"))
sys.path.insert(0, str(ROOT))

from PyQt6 import QtWidgets  # noqa: E402

from acquisition.runner import LiveMonitor  # noqa: E402 - after LSLAPICFG
from acquisition.sim_outlet import SimulatorStreams  # noqa: E402
from acquisition.simulator import SimulatedPatient  # noqa: E402
from detection.config import load_config, parse_config, to_dict  # noqa: E402
from gui.app import ensure_app  # noqa: E402
from gui.commands.monitor import _WindowRecording  # noqa: E402
from gui.display_probe import need_window, use_platform, window_check  # noqa: E402
from gui.experimenter import ExperimenterWindow  # noqa: E402
from gui.settings import Settings  # noqa: E402

log = logging.getLogger("screenshots")
SPEED = 1.0
TIMEOUT_S = 120.0


def main(argv: list[str] | None = None) -> int:
    """Take both screenshots; 0 on success, 2 without a window."""
    parser = argparse.ArgumentParser(description="Screenshots of both windows.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    problem = need_window("docs/make_screenshots.py", "run it under xvfb-run (see its docstring)")
    if problem is not None:
        sys.stderr.write(problem + "\n")
        return 2
    use_platform(window_check())
    app = ensure_app()
    name = f"Screenshot-{uuid.uuid4().hex[:6]}"
    patient = SimulatedPatient("congenital", n_pairs=2, seed=11, initial_rest_s=7.0)
    data = to_dict(load_config(ROOT / "configs" / "default.toml"))
    data["pairs"] = [
        {"name": pair, "left": patient.labels[2 * i], "right": patient.labels[2 * i + 1]}
        for i, pair in enumerate(patient.pair_names)
    ]
    data["stream"].update(name=name, source_id=name)
    data["cues"]["stream"] = f"{name}-Cues"
    streams = SimulatorStreams(patient, name=name, source_id=name, speed=SPEED)
    monitor = LiveMonitor(parse_config(data), publish=False)
    monitor.start()
    streams.start()
    with tempfile.TemporaryDirectory() as folder:
        # Record and Note enabled as `mirrorscope monitor` enables them (never pressed here).
        window = ExperimenterWindow(
            monitor,
            settings=Settings(Path(folder) / "s.ini"),
            record=lambda path: _WindowRecording(monitor, path, monitor.pipeline.calibration),
            note=monitor.add_note,
        )
        try:
            window.resize(1600, 940)
            window.controls.window.setValue(8.0)
            window.show()
            window.show_biofeedback()
            window.biofeedback.resize(1000, 700)
            shots = _wait_and_grab(app, window, args.out)
        finally:
            window.close()
            monitor.stop()
            streams.stop()
    if shots is None:
        log.error("no mirror movement over the limit within %.0f s", TIMEOUT_S)
        return 1
    for path, image in shots.items():
        image.save(str(path))
        log.info("saved %s", path)
    return 0


def _wait_and_grab(
    app: QtWidgets.QApplication, window: ExperimenterWindow, out: Path
) -> dict | None:
    """Wait for a bar over the limit with a few trials in; grab both windows then."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
        bars = window.biofeedback.bars
        over = [b for b in bars.values() if b.feedback is not None and b.feedback.over]
        if over and window.trials.rowCount() >= 3 and window.traces.t_now is not None:
            return {
                out / "experimenter.png": window.grab(),
                out / "biofeedback.png": window.biofeedback.grab(),
            }
    return None


if __name__ == "__main__":
    raise SystemExit(main())
