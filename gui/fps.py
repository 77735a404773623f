"""Measure the experimenter window's frame rate on a simulated stream (the benchmark's figure).

A simulated patient streams ``n_pairs`` pairs at ``fs_hz`` in real time over loopback LSL; a
live monitor processes it in its own thread, as in a session; the window redraws on its timer
offscreen. The figure is frames completed (events handled, traces and bars redrawn, widgets
painted) per second, together with what the acquisition did meanwhile, to show that drawing
does not slow it down.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FrameRate", "measure_fps", "measure_frame_rate"]

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.toml"
LOCAL_LSL_CONFIG = Path(__file__).resolve().parents[1] / "acquisition" / "lsl_local.cfg"
#: A short rest calibration: the measurement should see thresholds and shading, soon.
REST_S = 2.0
#: Longest wait for the monitor to calibrate before measuring anyway (s).
CALIBRATE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class FrameRate:
    """One measurement."""

    fps: float
    frames: int
    seconds: float
    n_pairs: int
    fs_hz: float
    #: Samples per second the acquisition processed during the measurement.
    acquisition_rate_hz: float
    #: The acquisition's chunk processing time, 99th percentile (ms).
    chunk_ms_p99: float
    #: How far the acquisition was behind the stream at the end (ms).
    lag_ms: float


def measure_frame_rate(
    n_pairs: int = 8,
    fs_hz: float = 2000.0,
    seconds: float = 5.0,
    *,
    biofeedback: bool = True,
    separate_process: bool = True,
) -> FrameRate:
    """Run a simulated stream, a monitor and the window offscreen; count redraws.

    Parameters
    ----------
    n_pairs : int
        Homologous pairs (two channels each).
    fs_hz : float
        Sampling rate.
    seconds : float
        Measurement length (after calibration).
    biofeedback : bool
        Show the biofeedback window too (it redraws on the same frame).
    separate_process : bool
        Run the simulated patient in its own process, as an amplifier would be (it then
        competes for the CPU but not for this process's interpreter lock).

    Returns
    -------
    FrameRate
        The figures.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Benchmarks keep LSL on this machine (DESIGN.md); only effective before pylsl loads.
    os.environ.setdefault("LSLAPICFG", str(LOCAL_LSL_CONFIG))
    from PyQt6 import QtCore

    from acquisition.runner import LiveMonitor
    from acquisition.sim_presets import channel_labels, pair_names
    from detection.config import load_config, parse_config, to_dict
    from gui.app import ensure_app
    from gui.experimenter import ExperimenterWindow
    from gui.settings import Settings

    app = ensure_app()
    tag = uuid.uuid4().hex[:8]
    name = f"MirrorScope-FPS-{tag}"
    names = pair_names(n_pairs)
    labels = channel_labels(names)
    data = to_dict(load_config(DEFAULT_CONFIG))
    data["pairs"] = [
        {"name": pair, "left": labels[2 * i], "right": labels[2 * i + 1]}
        for i, pair in enumerate(names)
    ]
    data["stream"].update(name=name, source_id=f"fps-{tag}")
    data["calibration"]["rest_s"] = REST_S
    data["cues"]["stream"] = f"{name}-Cues"
    config = parse_config(data)
    simulator = _Simulator(n_pairs, fs_hz, name, f"fps-{tag}", separate=separate_process)
    monitor = LiveMonitor(config, publish=False)
    try:
        monitor.start()
    except BaseException:
        simulator.stop()
        raise
    simulator.start()
    with tempfile.TemporaryDirectory(prefix="mirrorscope-fps-") as folder:
        window = ExperimenterWindow(monitor, settings=Settings(Path(folder) / "settings.ini"))
        try:
            window.show()
            if biofeedback:
                window.show_biofeedback()
            deadline = time.monotonic() + CALIBRATE_TIMEOUT_S
            while monitor.pipeline.calibration is None and time.monotonic() < deadline:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            _run_loop(app, 1.0)  # warm-up: first paints, caches
            frames0, samples0 = window.frames, monitor.health().samples
            started = time.perf_counter()
            _run_loop(app, seconds)
            elapsed = time.perf_counter() - started
            frames = window.frames - frames0
            health = monitor.health()
        finally:
            window.close()
            monitor.stop()
            simulator.stop()
    result = FrameRate(
        fps=frames / elapsed,
        frames=frames,
        seconds=elapsed,
        n_pairs=n_pairs,
        fs_hz=fs_hz,
        acquisition_rate_hz=(health.samples - samples0) / elapsed,
        chunk_ms_p99=health.chunk_ms_p99,
        lag_ms=1000 * health.lag_s,
    )
    log.info("frame rate: %s", result)
    return result


def measure_fps(n_pairs: int = 8, fs_hz: float = 2000.0, seconds: float = 5.0) -> float:
    """Redraws per second of the experimenter window (see :func:`measure_frame_rate`)."""
    return measure_frame_rate(n_pairs, fs_hz, seconds).fps


class _Simulator:
    """The simulated patient, in this process or in a child process (``mirrorscope simulate``)."""

    def __init__(
        self, n_pairs: int, fs_hz: float, name: str, source_id: str, *, separate: bool
    ) -> None:
        from acquisition.sim_outlet import SimulatorStreams
        from acquisition.simulator import SimulatedPatient

        self._process: subprocess.Popen[bytes] | None = None
        self._streams: SimulatorStreams | None = None
        if not separate:
            patient = SimulatedPatient(
                "congenital", fs_hz=fs_hz, n_pairs=n_pairs, initial_rest_s=REST_S + 2.0
            )
            self._streams = SimulatorStreams(patient, name=name, source_id=source_id)
            return
        options = {
            "--preset": "congenital",
            "--fs": f"{fs_hz:g}",
            "--pairs": str(n_pairs),
            "--name": name,
            "--source-id": source_id,
            "--initial-rest": f"{REST_S + 2.0:g}",
        }
        command = [sys.executable, "-c", "from gui.cli import main; raise SystemExit(main())"]
        command += ["simulate", *(item for pair in options.items() for item in pair)]
        # The child inherits LSLAPICFG, so it stays on this machine like the monitor.
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        if self._streams is not None:
            self._streams.start()

    def stop(self) -> None:
        if self._streams is not None:
            self._streams.stop()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _run_loop(app: object, seconds: float) -> None:
    """Run Qt's event loop for ``seconds`` (the window's timer drives the frames)."""
    from PyQt6 import QtCore

    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(round(1000 * seconds), loop.quit)
    loop.exec()
