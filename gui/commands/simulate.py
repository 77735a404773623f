"""``mirrorscope simulate``: a synthetic bilateral EMG patient on LSL, with cues and ground truth.

Only the standard library is imported here; the simulator and pylsl are imported in :func:`run`,
after :mod:`gui.cli` has chosen the LSL configuration.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from gui.commands import bounded_number

if TYPE_CHECKING:
    from acquisition.sim_outlet import SimulatorStreams

#: Kept in step with acquisition.simulator (FS_RANGE_HZ, MAX_PAIRS, PRESETS) by a test; not
#: imported from there because that would load numpy and scipy just to build --help.
PRESET_NAMES = ("physiological", "congenital", "stroke", "demanding", "artefacts", "clinic")
REALISM_NAMES = ("clean", "real")
FS_RANGE_HZ = (500.0, 10000.0)
MAX_PAIRS = 64
#: After --duration, the outlets stay open this long so consumers can fetch the last chunk.
_LINGER_S = 0.5
#: How often the main thread looks for a stop request.
_POLL_S = 0.1
_CUE_EXAMPLE = '{"cue":"left","pair":"FDI"} / {"cue":"rest"}'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope simulate``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    """
    parser.add_argument(
        "--preset", choices=PRESET_NAMES, default="congenital", help="patient (default %(default)s)"
    )
    parser.add_argument(
        "--fs",
        type=bounded_number(float, *FS_RANGE_HZ),
        default=2000.0,
        metavar="HZ",
        help="sampling rate, 500-10000 (default %(default)g)",
    )
    parser.add_argument(
        "--pairs",
        type=bounded_number(int, 1, MAX_PAIRS),
        default=1,
        metavar="N",
        help=f"homologous muscle pairs, 1-{MAX_PAIRS} (default %(default)s)",
    )
    parser.add_argument(
        "--mains", type=int, choices=(50, 60), default=50, help="mains frequency (default 50)"
    )
    parser.add_argument(
        "--seed", type=bounded_number(int, 0, None), default=0, metavar="N", help="random seed"
    )
    parser.add_argument(
        "--duration",
        type=bounded_number(float, 0.0, None, strict_low=True),
        default=None,
        metavar="S",
        help="stop after S seconds of stream time (default: run until Ctrl-C)",
    )
    parser.add_argument("--name", default="MirrorScope-Sim", help="EMG stream name")
    parser.add_argument(
        "--source-id",
        default=None,
        metavar="ID",
        help="EMG source_id (default mirrorscope-sim-NAME)",
    )
    parser.add_argument(
        "--speed",
        type=bounded_number(float, 0.0, None, strict_low=True),
        default=1.0,
        metavar="X",
        help="stream time per real time; time stamps stay exact (default 1)",
    )
    parser.add_argument(
        "--realism",
        choices=REALISM_NAMES,
        default="clean",
        help="clean: the kind signal; real: ECG by muscle, drift, unequal and wandering noise "
        "floors, graded contractions, mirrors with their own shape (default %(default)s)",
    )
    parser.add_argument(
        "--no-cues",
        action="store_true",
        help="a session without a cue stream (the detector must find the active side itself)",
    )
    parser.add_argument(
        "--wait-for-monitor",
        metavar="EVENTS_STREAM",
        default=None,
        help="hold the patient at rest until the monitor publishing EVENTS_STREAM (e.g. "
        "MirrorScope-Events) has calibrated",
    )
    parser.add_argument(
        "--initial-rest",
        type=bounded_number(float, 0.0, None),
        default=6.0,
        metavar="S",
        help="pure rest before the first cue (default 6)",
    )
    faults = parser.add_argument_group("faults (for testing consumers)")
    faults.add_argument(
        "--jitter-ms",
        type=bounded_number(float, 0.0, None),
        default=0.0,
        metavar="MS",
        help="SD of Gaussian time-stamp jitter",
    )
    faults.add_argument(
        "--gap-every",
        type=bounded_number(float, 0.0, None),
        default=0.0,
        metavar="S",
        help="gap period",
    )
    faults.add_argument(
        "--gap",
        type=bounded_number(float, 0.0, None),
        default=0.0,
        metavar="S",
        help="samples skipped",
    )
    faults.add_argument(
        "--outage-every",
        type=bounded_number(float, 0.0, None),
        default=0.0,
        metavar="S",
        help="outlet outage period",
    )
    faults.add_argument(
        "--outage",
        type=bounded_number(float, 0.0, None),
        default=0.0,
        metavar="S",
        help="time without an EMG outlet (same source_id after)",
    )


def _banner(streams: SimulatorStreams, args: argparse.Namespace) -> str:
    p = streams.patient
    labels = ", ".join(p.labels) if len(p.labels) <= 8 else f"{', '.join(p.labels[:6])}, ..."
    scope = "LAN (visible on the network)" if args.lan else "local only (this machine)"
    layer = f"layer {p.spec.layer}" if p.spec.layer else "no mirroring"
    until = f"{args.duration:g} s of stream time" if args.duration else "until Ctrl-C"
    return "\n".join(
        (
            (
                f"MirrorScope simulator: preset {p.spec.name} ({layer}, {p.options.realism}), "
                f"seed {p.seed}; LSL {scope}"
            ),
            f"  {p.spec.description}",
            (
                f"  EMG    {streams.name}: {p.fs_hz:g} Hz, {p.n_channels} channels ({labels}), "
                f"float32 microvolts, source_id {streams.source_id}"
            ),
            f"  cues   {streams.cues_name}: markers like {_CUE_EXAMPLE}"
            if p.has_cue_stream
            else "  cues   none (--no-cues)",
            f"  truth  {streams.truth_name}: one JSON per finished trial",
            f"  mains {p.mains_hz} Hz, speed {args.speed:g}x, {until}",
            *(
                [f"  at rest until the monitor on {args.wait_for_monitor} has calibrated"]
                if args.wait_for_monitor
                else []
            ),
        )
    )


class _StopRequest:
    """A signal handler that records that the person asked to stop."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run(args: argparse.Namespace) -> int:
    """Stream until Ctrl-C or ``--duration``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options.

    Returns
    -------
    int
        0 after a clean stop.
    """
    import dataclasses

    from acquisition.sim_outlet import FaultPlan, SimulatorStreams
    from acquisition.simulator import SimulatedPatient, options_for

    faults = FaultPlan(
        jitter_ms=args.jitter_ms,
        gap_every_s=args.gap_every,
        gap_s=args.gap,
        outage_every_s=args.outage_every,
        outage_s=args.outage,
    )
    faults.check()
    patient = SimulatedPatient(
        args.preset,
        fs_hz=args.fs,
        n_pairs=args.pairs,
        mains_hz=args.mains,
        seed=args.seed,
        initial_rest_s=args.initial_rest,
        options=dataclasses.replace(
            options_for(args.preset, args.realism), cue_stream=not args.no_cues
        ),
    )
    streams = SimulatorStreams(
        patient,
        name=args.name,
        source_id=args.source_id,
        speed=args.speed,
        duration_s=args.duration,
        faults=faults,
        wait_for_monitor=args.wait_for_monitor,
    )
    # Ctrl-C, and a service manager's SIGTERM, stop cleanly even when the shell that started us
    # in the background told this process to ignore SIGINT. The handler only raises a flag: an
    # exception raised at an arbitrary point could leave the streaming thread's locks broken.
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        sys.stdout.write(_banner(streams, args) + "\n")
        sys.stdout.flush()
        streams.start()
        while not stop.requested and not streams.wait(_POLL_S):
            pass
        linger_until = time.monotonic() + _LINGER_S
        while not stop.requested and time.monotonic() < linger_until:
            time.sleep(_POLL_S)
    finally:
        streams.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.requested:
        sys.stdout.write("interrupted\n")
    seconds = streams.samples_done / patient.fs_hz
    trials = len(patient.completed_trials(0, streams.samples_done))
    sys.stdout.write(
        f"stopped after {seconds:.1f} s of stream time ({time.monotonic() - started:.1f} s real), "
        f"{trials} trials finished\n"
    )
    return 0
