"""``mirrorscope export``: a recording as BDF+ for clinical EEG/EMG readers (edfio).

Every EMG channel becomes a 24-bit BDF signal in microvolts under its own label; cue markers,
the live monitor's trials and gaps in the recording become annotations. BDF stores samples back
to back, so the time after a gap is shifted by the gap; each gap is annotated with its length.
Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

#: BDF labels are at most 16 characters.
_LABEL_CHARS = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mirrorscope export``."""
    # Optional for argparse only, so that a mistyped option is the error reported first.
    parser.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="an .xdf recording (or .npz)"
    )
    parser.add_argument("--bdf", type=Path, metavar="OUT.bdf", help="the BDF+ file to write")
    parser.add_argument("--stream", metavar="NAME", help="the EMG stream, if the file has several")


def _trial_text(p: dict[str, Any]) -> str:
    verdict = "bimanual" if p.get("bimanual") else ("mirror" if p.get("mirror") else "no mirror")
    ratio = "" if p.get("ratio") is None else f" ratio {p['ratio']:.2f}"
    lag = "" if p.get("lag_ms") is None else f" lag {p['lag_ms']:.0f} ms"
    return f"trial {p.get('pair')} active {p.get('active_side')} {verdict}{ratio}{lag}"


def _annotations(session: Any, t0: float, gaps: list[tuple[float, float]]) -> list[Any]:
    from edfio import EdfAnnotation

    def shifted(t: float) -> float:
        return t - t0 - sum(length for at, length in gaps if at <= t)

    out = []
    if session.cues is not None:
        for t, value in zip(session.cues.timestamps, session.cues.values, strict=True):
            out.append(EdfAnnotation(max(0.0, shifted(float(t))), None, f"cue {value}"[:200]))
    if session.events is not None:
        for value in session.events.values:
            payload = json.loads(value)
            if payload.get("event") == "trial":
                onset = shifted(payload["t_onset"])
                duration = payload["t_offset"] - payload["t_onset"]
                out.append(EdfAnnotation(max(0.0, onset), duration, _trial_text(payload)))
    for at, length in gaps:
        out.append(EdfAnnotation(max(0.0, shifted(at)), None, f"gap {length:.3f} s"))
    return sorted(out, key=lambda a: a.onset)


def run(args: argparse.Namespace) -> int:
    """Write the BDF+ file.

    Returns
    -------
    int
        0 on success.
    """
    if args.file is None or args.bdf is None:
        sys.stderr.write(
            f"mirrorscope {args.command}: error: FILE with --bdf OUT.bdf is required "
            f"(see mirrorscope {args.command} --help)\n"
        )
        return 2
    import numpy as np
    from edfio import Bdf, BdfSignal, EdfAnnotation, Recording

    from acquisition.streams import microvolts_per_unit
    from acquisition.xdf_session import load_session

    session = load_session(args.file, stream=args.stream)
    emg = session.emg
    if len(emg.timestamps) == 0:
        sys.stderr.write(f"mirrorscope export: {args.file} holds no EMG samples\n")
        return 1
    step = np.diff(emg.timestamps)
    gap_at = np.flatnonzero(step > 1.5 / emg.fs_hz)
    gaps = [(float(emg.timestamps[i + 1]), float(step[i] - 1.0 / emg.fs_hz)) for i in gap_at]
    labels = emg.labels or tuple(f"ch{i}" for i in range(emg.data.shape[1]))
    units = emg.units or ("",) * len(labels)
    # BDF holds whole data records (1 s): the last one is filled with the last value.
    record_n = round(emg.fs_hz) if float(emg.fs_hz).is_integer() else len(emg.data)
    pad = -len(emg.data) % record_n
    signals = []
    for column, (label, unit) in enumerate(zip(labels, units, strict=True)):
        values = emg.data[:, column].astype(np.float64) * (microvolts_per_unit(unit) or 1.0)
        values = np.concatenate((values, np.full(pad, values[-1])))
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if not high > low:
            low, high = low - 1.0, high + 1.0
        signals.append(
            BdfSignal(
                np.nan_to_num(values),
                emg.fs_hz,
                label=label[:_LABEL_CHARS],
                transducer_type="surface EMG",
                physical_dimension="uV",
                physical_range=(np.floor(low), np.ceil(high)),
            )
        )
    started = (session.sidecar or {}).get("started_utc")
    start = datetime.fromisoformat(started) if started else None
    notes = _annotations(session, float(emg.timestamps[0]), gaps)
    if pad:
        notes.append(EdfAnnotation(len(emg.data) / emg.fs_hz, None, "end of recording"))
    bdf = Bdf(
        signals,
        data_record_duration=record_n / emg.fs_hz,
        recording=Recording(startdate=start.date()) if start else None,
        starttime=start.time().replace(tzinfo=None) if start else None,
        annotations=notes,
    )
    args.bdf.parent.mkdir(parents=True, exist_ok=True)
    bdf.write(args.bdf)
    sys.stdout.write(
        f"wrote {args.bdf}: {len(signals)} channels, {emg.duration_s:.1f} s at {emg.fs_hz:g} Hz, "
        f"{len(bdf.annotations)} annotations"
        + (f"; {len(gaps)} gap(s) closed up and annotated" if gaps else "")
        + "\n"
    )
    return 0
