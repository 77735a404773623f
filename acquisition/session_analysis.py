"""``mirrorscope analyze``'s engine: plan, run, measure and write a session's analysis.

:func:`plan_analysis` decides what the live monitor would have used (config, calibration, first
sample, cues) from the sidecar when there is one; :func:`analyze` runs the session through the
live code path (:mod:`acquisition.session_run`) and computes the report's measures;
:func:`write_outputs` writes ``events.jsonl``, ``trials.csv`` and ``summary.json`` (the records of
:mod:`acquisition.session_summary`).

Without a sidecar: an XDF file is treated as live (the first ``rest_s`` seconds are rest); an
NPZ file, whose recordings have no rest block, is calibrated on each channel's quietest second
(:func:`detection.offline.quiet_calibration`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.session_run import OfflineRun, run_session
from acquisition.session_summary import (
    CalibrationSummary,
    ChannelRest,
    PairReport,
    RecordingSummary,
    Reproduction,
    SessionSummary,
    Software,
)
from acquisition.sidecar import software_version, utc_now
from acquisition.streams import select_channels
from acquisition.xdf_session import RecordedSession
from detection.calibration import Calibration
from detection.config import Config, parse_config, to_dict
from detection.errors import MirrorScopeError
from detection.metrics import Coherence, Correlogram, coherence, cross_correlogram, segment_starts
from detection.offline import (
    TRIAL_COLUMNS,
    PairSummary,
    QuietCalibration,
    TrialRow,
    pair_summary,
    quiet_calibration,
    signatures,
    trial_table,
)

__all__ = [
    "Analysis",
    "AnalysisError",
    "PairAnalysis",
    "Plan",
    "analyze",
    "plan_analysis",
    "write_outputs",
]

log = logging.getLogger(__name__)

SEGMENT_S = 1.0
#: Live and offline trial times this close count as the same (see :func:`_reproduction`).
MATCH_TOLERANCE_S = 1e-4


class AnalysisError(MirrorScopeError):
    """An analysis that cannot be done as asked, and why."""


@dataclass
class Plan:
    """How a session is to be analysed."""

    config: Config
    calibration: Calibration | None
    start_index: int
    use_cues: bool
    #: In plain words, where the calibration comes from.
    calibration_source: str
    quiet: QuietCalibration | None = None
    #: True when the file holds what the live monitor processed from its first sample.
    reproduces_live: bool = False


@dataclass
class PairAnalysis:
    """One homologous pair's measures."""

    name: str
    left: str
    right: str
    rows: list[TrialRow]
    summary: PairSummary
    signatures: list[str]
    coherence_emg: Coherence
    coherence_rectified: Coherence
    correlogram: Correlogram
    #: Which side the correlogram's lags count from ("left" or "right").
    reference_side: str
    #: "active windows" or "whole recording" (what the synchrony measures used).
    synchrony_data: str


@dataclass
class Analysis:
    """A session's analysis, ready to write and to report."""

    session: RecordedSession
    plan: Plan
    run: OfflineRun
    pairs: list[PairAnalysis]
    summary: SessionSummary
    notes: list[str] = field(default_factory=list)


def _with_file_pairs(session: RecordedSession, config: Config) -> Config:
    if not session.pairs:
        try:
            select_channels(session.emg.summary(), config)
        except MirrorScopeError:
            labels = ", ".join(session.emg.labels) or f"{session.emg.data.shape[1]} channels"
            raise AnalysisError(
                f"{session.path.name} declares no homologous pairs and the default config's "
                f"pairs are not among its channels ({labels}); give --config with [[pairs]] "
                "naming a left and a right channel"
            ) from None
        return config
    data = to_dict(config)
    data["pairs"] = [dataclasses.asdict(p) for p in session.pairs]
    return parse_config(data, source=f"<pairs of {session.path.name}>")


def _calibration_from(doc: Any, where: str) -> Calibration | None:
    if not isinstance(doc, dict):
        return None
    return Calibration.from_json(json.dumps(doc), where)


def plan_analysis(
    session: RecordedSession,
    *,
    config: Config | None,
    default_config: Config,
    rest: str | None = None,
) -> Plan:
    """Decide config, calibration, first sample and cue use for a session.

    Parameters
    ----------
    session : RecordedSession
        The loaded session.
    config : Config | None
        A config given by the person (overrides the sidecar's).
    default_config : Config
        Used when neither is there; its pairs are replaced by those the file declares.
    rest : str | None
        ``"start"`` (the rest is collected from the quiet stretches as they come, as live),
        ``"quietest"`` (each channel's quietest moments of the whole recording: it looks ahead,
        which the live monitor cannot) or None (as recorded: the sidecar's calibration, else
        ``"start"`` for XDF and ``"quietest"`` for NPZ).

    Returns
    -------
    Plan
        The plan.
    """
    sidecar = session.sidecar or {}
    if config is None and sidecar.get("config"):
        config = parse_config(sidecar["config"], source=f"sidecar of {session.path.name}")
    if config is None:
        config = _with_file_pairs(session, default_config)
    reproduces = session.first_index is not None
    if rest is None and sidecar:
        use_cues = bool(config.cues.stream)
        name = session.path.name
        if reproduces:
            calibration = _calibration_from(sidecar.get("calibration"), f"sidecar of {name}")
            source = (
                "as live: the saved calibration the monitor started with"
                if calibration
                else (
                    f"as live: {config.calibration.rest_s:g} s of rest collected from the quiet "
                    "stretches as they came"
                )
            )
            return Plan(config, calibration, session.first_index or 0, use_cues, source, None, True)
        doc = sidecar.get("calibration") or sidecar.get("calibration_measured")
        calibration = _calibration_from(doc, f"sidecar of {name}")
        if calibration is not None:
            return Plan(
                config, calibration, 0, use_cues, "the monitor's calibration (from the sidecar)"
            )
    rest = rest or ("quietest" if session.kind == "npz" else "start")
    use_cues = session.cues is not None and (bool(config.cues.stream) or not sidecar)
    if rest == "quietest":
        quiet = _quiet(session, config)
        source = (
            "no rest block at the start: each channel's baseline was measured on its quiet "
            f"moments ({quiet.block_s * 1000:.0f} ms blocks near its quietest level, at least "
            "1 s per channel). This looks ahead over the whole recording, which the live "
            "monitor cannot: live, the rest is collected from quiet stretches as they come, "
            f"{config.calibration.rest_s:g} s of them"
        )
        return Plan(config, quiet.calibration, 0, use_cues, source, quiet)
    cal_file = config.calibration.file
    if cal_file and Path(cal_file).exists():
        return Plan(
            config, Calibration.load(cal_file), 0, use_cues, f"saved calibration {cal_file}"
        )
    source = (
        f"{config.calibration.rest_s:g} s of rest collected from the quiet stretches as they "
        "came (as live)"
    )
    return Plan(config, None, 0, use_cues, source)


def _quiet(session: RecordedSession, config: Config) -> QuietCalibration:
    emg = session.emg
    selection = select_channels(emg.summary(), config)
    data = emg.data[:, list(selection.columns)].astype(np.float32)
    data *= np.array(selection.scale_to_uv, dtype=np.float32)
    return quiet_calibration(config, emg.fs_hz, selection.labels, data)


def _active_mask(rows: list[TrialRow], times: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for row in rows:
        if not row.bimanual:
            a, b = np.searchsorted(times, [row.t_onset, row.t_offset])
            mask[a:b] = True
    return mask


def _pair(
    run: OfflineRun, plan: Plan, pair: tuple[str, int, int], rows: list[TrialRow]
) -> PairAnalysis:
    name, left, right = pair
    fs = run.fs_hz
    seg_n = round(SEGMENT_S * fs)
    starts = segment_starts(_active_mask(rows, run.times), seg_n)
    data = "active windows"
    if len(starts) < 2:
        usable = np.ones(len(run.times), dtype=bool)
        settle = round(
            (
                plan.config.detector.warmup_s
                + (0 if plan.calibration else plan.config.calibration.rest_s)
            )
            * fs
        )
        usable[:settle] = False
        starts = segment_starts(usable, seg_n)
        data = "whole recording"
    sides = Counter(r.active_side for r in rows if not r.bimanual)
    reference = sides.most_common(1)[0][0] if sides else "left"
    x, y = (left, right) if reference == "left" else (right, left)
    mains = run.calibration.mains_hz if run.calibration else None
    f = run.filtered_uv
    coh = coherence(f[:, left], f[:, right], fs, starts, mains_hz=mains)
    rect = np.abs(f[:, [left, right]].astype(float))
    coh_rect = coherence(rect[:, 0], rect[:, 1], fs, starts, mains_hz=mains)
    cc = cross_correlogram(f[:, x], f[:, y], fs, starts)
    contraction_s = len(starts) * SEGMENT_S if data == "active windows" else 0.0
    summary = pair_summary(
        name,
        rows,
        contraction_s=contraction_s,
        coherence_emg=coh,
        coherence_rectified=coh_rect,
        correlogram=cc,
    )
    return PairAnalysis(
        name=name,
        left=run.labels[left],
        right=run.labels[right],
        rows=rows,
        summary=summary,
        signatures=signatures(summary),
        coherence_emg=coh,
        coherence_rectified=coh_rect,
        correlogram=cc,
        reference_side=reference,
        synchrony_data=data,
    )


def _reproduction(session: RecordedSession, run: OfflineRun, plan: Plan) -> Reproduction | None:
    """How the offline trials compare with the trials the live monitor published.

    ``identical``: the same JSON; ``matching``: identical but for times within
    ``MATCH_TOLERANCE_S`` (the live monitor's and LabRecorder's estimates of the same LSL clock
    offset differ by microseconds when clock synchronisation is on).
    """
    if session.events is None or not plan.reproduces_live:
        return None
    live = [json.loads(v) for v in session.events.values]
    live_trials = [p for p in live if p.get("event") == "trial"]
    offline = [e.payload for e in run.events if e.kind == "trial"]
    identical = matching = 0
    worst_s = 0.0
    for a, b in zip(live_trials, offline, strict=False):
        identical += a == b
        gaps = [abs(a[k] - b[k]) for k in ("t_onset", "t_offset")]
        rest_equal = {k: v for k, v in a.items() if not k.startswith("t_")} == {
            k: v for k, v in b.items() if not k.startswith("t_")
        }
        if rest_equal and max(gaps) <= MATCH_TOLERANCE_S:
            matching += 1
            worst_s = max(worst_s, *gaps)
    return Reproduction(
        live_trials=len(live_trials),
        offline_trials=len(offline),
        identical=identical,
        matching=matching,
        max_time_difference_ms=round(worst_s * 1000, 4),
    )


def analyze(
    session: RecordedSession, plan: Plan, *, progress: Callable[[int, int], None] | None = None
) -> Analysis:
    """Run the session through the live code path and compute the report's measures.

    Parameters
    ----------
    session : RecordedSession
        The loaded session.
    plan : Plan
        From :func:`plan_analysis`.
    progress : callable | None
        ``progress(done, total)`` in samples.

    Returns
    -------
    Analysis
        Everything the outputs and the report need.
    """
    run = run_session(
        session,
        plan.config,
        calibration=plan.calibration,
        start_index=plan.start_index,
        use_cues=plan.use_cues,
        progress=progress,
    )
    if len(run.times) == 0:
        raise AnalysisError(f"{session.path}: the EMG stream holds no samples to analyse")
    rest_power = None
    if run.calibration is not None:
        rest_power = [
            ch.rest_mean_uv**2 + ch.rest_sd_uv**2
            for ch in (run.calibration.channels[label] for label in run.labels)
        ]
    trials = [e.payload for e in run.events if e.kind == "trial"]
    t_start = float(run.times[0])
    rows = trial_table(
        trials, run.times, run.envelope_uv, run.pairs, rest_power=rest_power, t_start=t_start
    )
    pairs = [_pair(run, plan, pair, [r for r in rows if r.pair == pair[0]]) for pair in run.pairs]
    notes = list(session.notes)
    if run.calibration is None:
        notes.append("The rest calibration never succeeded: no trials could be detected.")
    reproduction = _reproduction(session, run, plan)
    summary = _summary(session, plan, run, pairs, notes=notes, reproduction=reproduction)
    return Analysis(session, plan, run, pairs, summary, notes)


def _summary(
    session: RecordedSession,
    plan: Plan,
    run: OfflineRun,
    pairs: list[PairAnalysis],
    *,
    notes: list[str],
    reproduction: Reproduction | None,
) -> SessionSummary:
    kinds = Counter(
        e.kind if e.kind != "status" else f"status:{e.payload.get('state')}" for e in run.events
    )
    cal = run.calibration
    channels = []
    if cal is not None:
        for label in run.labels:
            ch = cal.channels[label]
            channels.append(
                ChannelRest(
                    label=label,
                    rest_mean_uv=round(ch.rest_mean_uv, 3),
                    rest_sd_uv=round(ch.rest_sd_uv, 3),
                    measured_on_s=(
                        None if plan.quiet is None else round(plan.quiet.rest_s[label], 2)
                    ),
                )
            )
    emg = session.emg
    return SessionSummary(
        file=session.path.name,
        kind=session.kind,
        analyzed_utc=utc_now(),
        software=Software(name="mirrorscope", version=software_version()),
        recording=RecordingSummary(
            emg_stream=emg.name,
            fs_hz=emg.fs_hz,
            channels=tuple(emg.labels),
            duration_s=round(emg.duration_s, 3),
            processed_from_s=round(plan.start_index / emg.fs_hz, 3),
            processed_s=round(len(run.times) / run.fs_hz, 3),
            cue_markers=0 if session.cues is None else len(session.cues.values),
            cues_used=plan.use_cues,
            live_events=None if session.events is None else len(session.events.values),
            other_streams=tuple(session.other_streams),
        ),
        calibration=CalibrationSummary(
            source=plan.calibration_source,
            mains_hz=None if cal is None else cal.mains_hz,
            channels=tuple(channels),
        ),
        events=tuple(sorted(kinds.items())),
        pairs=tuple(PairReport(p.summary, tuple(p.signatures)) for p in pairs),
        reproduction=reproduction,
        config=plan.config,
        notes=tuple(notes),
    )


def write_outputs(analysis: Analysis, out_dir: str | Path) -> dict[str, Path]:
    """Write ``events.jsonl``, ``trials.csv`` and ``summary.json`` into ``out_dir``.

    Returns
    -------
    dict
        Output name to path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "events": out / "events.jsonl",
        "trials": out / "trials.csv",
        "summary": out / "summary.json",
    }
    with paths["events"].open("w", encoding="utf-8") as f:
        for event in analysis.run.events:
            f.write(event.to_json() + "\n")
    with paths["trials"].open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TRIAL_COLUMNS)
        writer.writeheader()
        rows = sorted((r for p in analysis.pairs for r in p.rows), key=lambda r: r.trial)
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.to_dict().items()})
    doc = analysis.summary.to_dict()
    paths["summary"].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return paths
