"""``mirrorscope demo``: a simulated patient and the live monitor together, local only."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from gui.commands import positive_seconds
from gui.commands.simulate import PRESET_NAMES, REALISM_NAMES

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope demo``."""
    parser.add_argument("--headless", action="store_true", help="terminal view, no window")
    parser.add_argument(
        "--preset", choices=PRESET_NAMES, default="congenital", help="patient (default %(default)s)"
    )
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="S", help="stop after this many seconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="the patient's random seed")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="let the patient start moving on its own schedule, whether or not the monitor "
        "has calibrated",
    )
    parser.add_argument(
        "--realism",
        choices=REALISM_NAMES,
        default="clean",
        help="clean: the kind signal; real: as real electrodes record it (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the simulator in the background and monitor it."""
    from acquisition.runner import LiveMonitor
    from acquisition.sim_outlet import SimulatorStreams
    from acquisition.simulator import SimulatedPatient
    from detection.config import load_config
    from gui.commands.monitor import prepare_signal_core, run_session

    prepare_signal_core()  # before the simulated patient starts: it would not wait
    config_path = CONFIGS / f"{args.preset}.toml"
    config = load_config(config_path if config_path.exists() else CONFIGS / "default.toml")
    # Our own stream names, so a demo never picks up (or disturbs) another simulator.
    name = f"MirrorScope-Demo-{uuid.uuid4().hex[:6]}"
    source_id = f"mirrorscope-demo-{uuid.uuid4().hex}"
    config = config.replace("stream", name=name, source_id=source_id, type="EMG")
    config = config.replace("cues", stream=f"{name}-Cues")
    # The patient rests until the monitor says it has calibrated, however late it starts;
    # without waiting, well past the calibration, since the monitor joins a moment later.
    wait = None if args.no_wait else config.output.events_stream
    rest_s = 2.0 if wait else config.calibration.rest_s + 6.0
    patient = SimulatedPatient(
        args.preset,
        fs_hz=2000.0,
        n_pairs=1,
        seed=args.seed,
        initial_rest_s=rest_s,
        realism=args.realism,
    )
    streams = SimulatorStreams(patient, name=name, source_id=source_id, wait_for_monitor=wait)
    sys.stdout.write(
        f"demo: simulated {args.preset!r} patient on {name!r} (this machine only); "
        "the first 5 s are the rest calibration\n"
    )
    streams.start()
    try:
        monitor = LiveMonitor(config)
        monitor.start()
        return run_session(monitor, args)
    finally:
        streams.stop()
