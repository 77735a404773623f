"""The session report: one self-contained HTML page (inline SVG, no external files).

Written for the person who ran the session and for a clinician reading it later: what was
measured and how sure it is, figure by figure, in plain words. It describes; it never
diagnoses. The numbers are those of ``summary.json`` and ``trials.csv`` next to it.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detection.events import State
from detection.offline import BETA_BAND_HZ, DISCLAIMER, MIN_SYNCHRONY_S, TrialRow
from detection.summary import MIN_TRIALS_FOR_CI
from gui.report_plots import COLORS, Chart
from gui.terminal import describe_event

if TYPE_CHECKING:
    from acquisition.session_analysis import Analysis, PairAnalysis

__all__ = ["build_report", "write_report"]

#: At most this many trials get their own trace panel, spread evenly over the session (all are
#: in trials.csv).
MAX_TRIAL_PANELS = 12
PRE_S, POST_S = 0.5, 0.8

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:1140px;margin:24px auto;
 padding:0 18px;line-height:1.45;font-size:14px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid
 #ddd;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#555;font-size:13px}.banner{background:#f4f7fb;border-left:4px solid #0072B2;
 padding:8px 12px;margin:12px 0}table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right}.grid{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #e3e3e3;border-radius:4px;padding:4px}.cap{font-size:12px;color:#333;
 margin:2px 4px}.muted{color:#666;font-size:12px}ul.sig li{margin-bottom:6px}
.mirror{color:#D55E00;font-weight:bold}figure{margin:0}.card svg{display:block}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _when(iso: str) -> str:
    return iso.replace("T", " ").replace("+00:00", " UTC")


def _num(value: Any, pattern: str = "{:.2f}", missing: str = "–") -> str:
    return missing if value is None else pattern.format(value)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


# ---- sections --------------------------------------------------------------------------------


def _header(a: Analysis) -> str:
    s, summary = a.session, a.summary
    rec = summary.recording
    started = (s.sidecar or {}).get("started_utc")
    started = _when(started) if started else None
    pairs = ", ".join(f"{p.name} ({_e(p.left)} / {_e(p.right)})" for p in a.pairs)
    lines = [
        f"<b>File</b> {_e(s.path.name)} · <b>EMG</b> {_e(rec.emg_stream)}, "
        f"{rec.fs_hz:g} Hz · <b>analysed</b> {rec.processed_s:.1f} s"
        + (f" from {rec.processed_from_s:.2f} s" if rec.processed_from_s else ""),
        f"<b>Pairs</b> {pairs}",
        (f"<b>Recorded</b> {_e(started)} · " if started else "")
        + f"<b>Analysed</b> {_e(_when(summary.analyzed_utc))} · MirrorScope "
        f"{_e(summary.software.version)}",
    ]
    return (
        "<h1>MirrorScope session report</h1>"
        + "".join(f'<div class="meta">{line}</div>' for line in lines)
        + f'<div class="banner">This report describes muscle activity measured with surface EMG. '
        f"{_e(DISCLAIMER)} Grades are provisional (Woods &amp; Teuber 1978 has no validated "
        "EMG mapping).</div>"
    )


def _glance(a: Analysis) -> str:
    rows = []
    for p in a.pairs:
        s = p.summary
        share = "–"
        if s.mirror_fraction is not None:
            scored = s.trials - s.bimanual - s.excluded
            espay = (
                f"Espay {_e(s.espay_bin)}"
                if scored >= MIN_TRIALS_FOR_CI
                else f"Espay bin needs ≥ {MIN_TRIALS_FOR_CI} trials"
            )
            share = f"{s.with_mirror} of {scored} ({100 * s.mirror_fraction:.0f} %, {espay})"
        lag = _num(s.median_lag_ms, "{:.0f} ms")
        if s.lag_ci_ms:
            lag += f" (95 % CI {s.lag_ci_ms[0]:.0f} to {s.lag_ci_ms[1]:.0f})"
        elif s.median_lag_ms is not None:
            lag += f" (CI needs ≥ {MIN_TRIALS_FOR_CI} trials)"
        rows.append(
            [
                f"<b>{_e(p.name)}</b>",
                str(s.trials),
                str(s.bimanual),
                str(s.excluded),
                share,
                _num(s.median_ratio),
                lag,
                _num(s.median_grade, "{}")
                + (" (provisional)" if s.median_grade is not None else ""),
            ]
        )
    header = [
        "pair",
        "trials",
        "bimanual",
        "excluded",
        "with mirror activity",
        "median ratio",
        "median onset lag",
        "grade",
    ]
    explain = (
        '<p class="muted">Trials: movements of one side detected by the live detector\'s rules. '
        "Bimanual trials (both sides strongly active) are not counted as mirror movements; "
        "excluded trials had a channel that was saturated, lifted or unusable. The ratio is the "
        "mirror side's activity over the active side's during the movement (baseline removed); "
        "the lag is the mirror onset minus the voluntary onset. Espay et al. 2005 bins the share "
        "of trials with mirror activity into &lt; 1/3, 1/3–2/3 and &gt; 2/3.</p>"
    )
    return "<h2>At a glance</h2>" + _table(header, rows, {1, 2, 3, 5}) + explain


def _signatures(a: Analysis) -> str:
    parts = ["<h2>What the signals show</h2>"]
    parts.append(
        '<p class="muted">The tri-layer model (Sebastianelli et al. 2026) links mirror movements '
        "with three kinds of mechanism, each with a typical signature: near-simultaneous onset "
        "and a shared drive (Layer I, fast ipsilateral corticospinal projections); onset lags of "
        "roughly 10–60 ms and growth with force (Layer II, deficient transcallosal inhibition); "
        "long, variable lags depending on the task (Layer III, bilateral premotor/SMA "
        "overactivation). Statements below need at least "
        f"{MIN_TRIALS_FOR_CI} trials (or {MIN_SYNCHRONY_S:.0f} s of contraction) and give their "
        "confidence interval.</p>"
    )
    for p in a.pairs:
        lines = [line for line in p.signatures if line != DISCLAIMER]
        items = "".join(f"<li>{_e(line)}</li>" for line in lines)
        parts.append(f'<h3>{_e(p.name)}</h3><ul class="sig">{items}</ul>')
    parts.append(f'<p class="banner">{_e(DISCLAIMER)}</p>')
    return "".join(parts)


def _mirror_windows(a: Analysis) -> dict[str, list[tuple[float, float]]]:
    windows: dict[str, list[tuple[float, float]]] = {}
    opened: dict[str, float] = {}
    for event in a.run.events:
        p = event.payload
        if p["event"] == "mirror_onset":
            opened[p["pair"]] = p["t"]
        elif p["event"] == "mirror_offset" and p["pair"] in opened:
            windows.setdefault(p["pair"], []).append((opened.pop(p["pair"]), p["t"]))
    return windows


def _trial_panel(a: Analysis, pair: PairAnalysis, row: TrialRow, windows: list) -> str:
    run = a.run
    t0 = float(run.times[0])
    start, stop = row.t_onset - PRE_S, row.t_offset + POST_S
    lo, hi = np.searchsorted(run.times, [start, stop])
    t = run.times[lo:hi] - t0
    left = run.labels.index(pair.left)
    right = run.labels.index(pair.right)
    active, mirror = (left, right) if row.active_side == "left" else (right, left)
    verdict = "bimanual" if row.bimanual else ("MIRROR" if row.mirror else "no mirror")
    cls = ' class="mirror"' if verdict == "MIRROR" else ""
    caption = (
        f"#{row.trial} · {_e(pair.name)} · active {row.active_side} · "
        f"<span{cls}>{verdict}</span> · ratio {_num(row.ratio)}"
        + ("" if row.bimanual else f" · lag {_num(row.lag_ms, '{:.0f} ms')}")
    )
    charts = []
    for channel, role in ((active, "active"), (mirror, "other side")):
        env = run.envelope_uv[lo:hi, channel]
        top = float(np.max(env)) * 1.1 if len(env) else 1.0
        rest = (
            a.run.calibration.channels[run.labels[channel]].rest_mean_uv
            if run.calibration
            else None
        )
        chart = Chart(
            (start - t0, stop - t0),
            (0.0, max(top, (rest or 0) * 2, 1.0)),
            width=352,
            height=112 if role == "active" else 134,
            left=52,
            top=8,
            bottom=8 if role == "active" else 38,
            ylabel="µV",
            xlabel="" if role == "active" else "s from session start",
        )
        chart.span(row.t_onset_s, row.t_offset_s, COLORS["window"], opacity=0.12)
        if role != "active":
            tail_s = a.plan.config.mirror.tail_s
            for on, off in windows:  # this trial's own mirror activity, not its neighbours'
                if off >= row.t_onset and on <= row.t_offset + tail_s:
                    chart.span(on - t0, off - t0, COLORS["mirror_window"], opacity=0.22)
        if rest is not None:
            chart.hline(rest, "#777", dash="2,3")
        chart.line(t, env, COLORS["active" if role == "active" else "mirror"], width=1.2)
        chart.note(f"{run.labels[channel]} ({role})")
        charts.append(chart.svg())
    return f'<figure class="card"><div class="cap">{caption}</div>{"".join(charts)}</figure>'


def _trials(a: Analysis) -> str:
    rows = [(p, r) for p in a.pairs for r in p.rows]
    rows.sort(key=lambda item: item[1].trial)
    if not rows:
        return "<h2>Trials</h2><p>No trials were detected.</p>"
    windows = _mirror_windows(a)
    picks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), MAX_TRIAL_PANELS)).round())
    shown = [rows[int(k)] for k in picks]
    panels = "".join(_trial_panel(a, p, r, windows.get(p.name, [])) for p, r in shown)
    more = (
        f"<p class='muted'>{len(shown)} of {len(rows)} trials are shown, spread evenly over the "
        "session; all are in trials.csv.</p>"
        if len(rows) > len(shown)
        else ""
    )
    return (
        "<h2>Trials</h2><p class='muted'>Amplitude envelope (50 ms RMS) of the active side (top) "
        "and of the other side (bottom). Blue: the detected voluntary activation; orange: "
        "detected mirror activity; dotted: the side's rest level.</p>"
        f'<div class="grid">{panels}</div>{more}'
    )


def _strip(
    values: np.ndarray, mirror: np.ndarray, xlim: tuple[float, float], **chart: Any
) -> Chart:
    """One dot per trial along x (jittered in y so that equal values stay visible)."""
    out = Chart(xlim, (0.0, 1.0), width=540, height=150, yticks=False, **chart)
    jitter = 0.2 + 0.6 * np.random.default_rng(0).random(len(values))
    shown = np.clip(values, *xlim)
    if (~mirror).any():
        out.points(shown[~mirror], jitter[~mirror], "#8C8C8C", label="no mirror")
    if mirror.any():
        out.points(shown[mirror], jitter[mirror], COLORS["mirror"], label="mirror")
    return out


def _distributions(a: Analysis) -> str:
    parts = [
        (
            "<h2>Ratios and lags</h2><p class='muted'>Each dot is a unimanual trial (orange: with "
            "mirror activity). Left: the mirror ratio, with the provisional grade cut points "
            "(dashed); values beyond the axis sit on its edge. Right: the onset lag of the trials "
            "with mirror activity, their median (line) and the bootstrap 95 % confidence interval "
            f"of the median (shaded; from {MIN_TRIALS_FOR_CI} trials on).</p>"
        )
    ]
    cuts = a.plan.config.grading.cut_points
    for p in a.pairs:
        rows = [r for r in p.rows if not r.bimanual and r.ratio is not None]
        if not rows:
            parts.append(f"<p>{_e(p.name)}: no unimanual trial with a ratio.</p>")
            continue
        ratios = np.array([r.ratio for r in rows], dtype=float)
        mirror = np.array([r.mirror for r in rows], dtype=bool)
        top = float(min(max(1.0, ratios.max() * 1.05), 2.0))
        chart = _strip(
            ratios,
            mirror,
            (0.0, top),
            title=f"{p.name}: mirror ratio ({len(rows)} trials)",
            xlabel="ratio (mirror side / active side)",
        )
        for cut in cuts:
            chart.vline(cut, "#444", dash="4,3")
        over = int((ratios > top).sum())
        if over:
            chart.note(f"{over} trial(s) above {top:g}")
        lag_rows = [r for r in rows if r.mirror and r.lag_ms is not None]
        lags = np.array([r.lag_ms for r in lag_rows], dtype=float)
        lo = min(-20.0, float(lags.min()) - 10) if len(lags) else -20.0
        hi = max(100.0, float(lags.max()) + 10) if len(lags) else 100.0
        lag_chart = _strip(
            lags,
            np.ones(len(lags), dtype=bool),
            (lo, hi),
            title=f"{p.name}: onset lag ({len(lags)} trials with mirror activity)",
            xlabel="mirror onset − voluntary onset (ms)",
        )
        ci = p.summary.lag_ci_ms
        if ci:
            lag_chart.span(ci[0], ci[1], COLORS["mirror"], opacity=0.18, label="95 % CI of median")
        if p.summary.median_lag_ms is not None:
            lag_chart.vline(p.summary.median_lag_ms, "#222", label="median")
        lag_chart.vline(0.0, "#999", dash="2,3")
        if len(lags) and not ci:
            lag_chart.note(f"CI needs ≥ {MIN_TRIALS_FOR_CI} trials")
        parts.append(f'<div class="grid">{chart.svg()}{lag_chart.svg()}</div>')
    return "".join(parts)


def _synchrony(a: Analysis) -> str:
    parts = [
        (
            "<h2>Synchrony between the two sides</h2><p class='muted'>EMG–EMG coherence "
            "(Welch, 1 s Hann segments without overlap) of the band-passed EMG (blue) and of the "
            "rectified EMG (green), with the 95 % confidence limit 1 − 0.05^(1/(L−1)) for L "
            "segments (dashed; Rosenberg et al. 1989). Grey bands: mains frequency and "
            "harmonics, excluded; light green: 15–30 Hz. A narrow 15–30 Hz peak suggests a common "
            "drive; coherence across all frequencies means crosstalk or a shared reference. "
            "Right: cross-correlogram of the rectified EMG; dashed lines give the level reached "
            "by chance (each segment paired with the next one of the other side). Statements "
            f"need ≥ {MIN_SYNCHRONY_S:.0f} s of sustained contraction.</p>"
        )
    ]
    top_hz = min(250.0, a.plan.config.filter.lowpass_hz, a.run.fs_hz / 2)
    for p in a.pairs:
        coh, rect, cc = p.coherence_emg, p.coherence_rectified, p.correlogram
        shown = coh.freqs_hz <= top_hz
        peak = float(
            max(
                np.max(coh.values[shown & ~coh.masked], initial=0),
                np.max(rect.values[shown & ~rect.masked], initial=0),
            )
        )
        chart = Chart(
            (0, top_hz),
            (0, min(1.0, max(peak, coh.limit) * 1.25 + 0.02)),
            width=540,
            title=f"{p.name}: coherence ({coh.segments} one-second segments, {p.synchrony_data})",
            xlabel="frequency (Hz)",
            ylabel="coherence",
        )
        chart.span(*BETA_BAND_HZ, COLORS["band"], opacity=0.12)
        for f in coh.freqs_hz[coh.masked & shown]:
            chart.span(f - 0.5, f + 0.5, COLORS["masked"], opacity=0.5)
        values = np.where(coh.masked, np.nan, coh.values)
        chart.line(coh.freqs_hz, values, COLORS["left"], width=1.1, label="EMG")
        chart.line(
            rect.freqs_hz,
            np.where(rect.masked, np.nan, rect.values),
            COLORS["band"],
            width=1.1,
            label="rectified",
        )
        chart.hline(coh.limit, COLORS["limit"], label=f"95 % limit {coh.limit:.3f}")
        span = (
            max(abs(float(cc.r.min(initial=0))), float(cc.r.max(initial=0)), cc.chance, 0.05) * 1.2
        )
        reference = p.reference_side
        other = "right" if reference == "left" else "left"
        cchart = Chart(
            (float(cc.lags_ms[0]), float(cc.lags_ms[-1])),
            (-span, span),
            width=540,
            title=f"{p.name}: cross-correlogram of rectified EMG",
            xlabel=f"lag (ms); positive: {other} after {reference}",
            ylabel="r",
        )
        cchart.vline(0.0, "#999", dash="2,3")
        cchart.hline(cc.chance, COLORS["limit"], label="chance level")
        cchart.hline(-cc.chance, COLORS["limit"])
        cchart.line(cc.lags_ms, cc.r, COLORS["neutral"], width=1.3)
        if cc.segments:
            cchart.note(f"peak r = {cc.peak_r:.2f} at {cc.peak_lag_ms:+.0f} ms")
        parts.append(f'<div class="grid">{chart.svg()}{cchart.svg()}</div>')
        if p.synchrony_data != "active windows":
            parts.append(
                f"<p class='muted'>{_e(p.name)}: the detected movements gave fewer than two whole "
                "seconds of contraction, so these figures use the whole recording (rest "
                "included) and are for orientation only.</p>"
            )
    return "".join(parts)


def _force(a: Analysis) -> str:
    parts = []
    for p in a.pairs:
        rows = [r for r in p.rows if not r.bimanual and r.ratio is not None and r.active_uv]
        if len(rows) < 3:
            continue
        x = np.array([r.active_uv for r in rows], dtype=float)
        y = np.array([r.ratio for r in rows], dtype=float)
        mirror = np.array([r.mirror for r in rows])
        top = float(np.clip(1.3 * np.percentile(y, 90), 0.1, 2.0))
        over = int((y > top).sum())
        y = np.minimum(y, top)
        chart = Chart(
            (0, float(x.max()) * 1.1),
            (0, top),
            width=540,
            title=f"{p.name}: ratio against the strength of the voluntary contraction",
            xlabel="active side, mean envelope above rest (µV)",
            ylabel="ratio",
        )
        chart.points(x[~mirror], y[~mirror], "#999999", label="no mirror")
        chart.points(x[mirror], y[mirror], COLORS["mirror"], label="mirror")
        force = p.summary.force_dependence
        if force:
            low, high = force.ci
            chart.note(f"Spearman rho {force.rho:+.2f} (95 % CI {low:+.2f} to {high:+.2f})")
        else:
            chart.note(f"rho needs ≥ {MIN_TRIALS_FOR_CI} trials")
        if over:
            chart.note(f"{over} trial(s) above {top:.2g} drawn at the top edge")
        parts.append(chart.svg())
    if not parts:
        return ""
    return (
        "<h2>Force dependence</h2><p class='muted'>Each point is a unimanual trial. Mirror "
        "activity that grows with the force of the voluntary movement is the Layer II signature; "
        "Spearman's rho with a bootstrap 95 % interval.</p>"
        f'<div class="grid">{"".join(parts)}</div>'
    )


def _events(a: Analysis) -> str:
    statuses = [e.payload for e in a.run.events if e.kind == "status"]
    flags = Counter(
        (p["channel"], p["flag"]) for p in statuses if p.get("state") == State.CHANNEL_FLAGGED
    )
    rows = [[_e(ch), _e(flag), str(n)] for (ch, flag), n in sorted(flags.items())]
    flag_states = (State.CHANNEL_FLAGGED, State.CHANNEL_CLEARED)
    other = [p for p in statuses if p.get("state") not in flag_states]
    t0 = float(a.run.times[0])
    listing = "".join(
        f"<li>{_num(p['t'] - t0 if p.get('t') is not None else None, '{:.2f} s')}: "
        f"{_e((describe_event(p) or str(p.get('state'))).removeprefix('!! '))}</li>"
        for p in other[:40]
    )
    table = (
        _table(["channel", "flag", "times raised"], rows, {2})
        if rows
        else "<p>No channel was flagged.</p>"
    )
    return (
        "<h2>Session events</h2><p class='muted'>Quality flags hold a channel out of detection "
        "while they last (motion, clipping, saturation, lifted electrode, mains); a trial during "
        "which a flag was raised lists it in trials.csv.</p>"
        f"{table}<ul>{listing}</ul>"
    )


def _methods(a: Analysis) -> str:
    cfg, s = a.plan.config, a.summary
    cal = s.calibration
    cal_rows = [
        [_e(ch.label), _num(ch.rest_mean_uv, "{:.1f}"), _num(ch.rest_sd_uv, "{:.1f}")]
        for ch in cal.channels
    ]
    peak = a.plan.quiet.peak_normalised if a.plan.quiet else ()
    items = [
        f"Calibration: {_e(cal.source)}. Mains: {_e(cal.mains_hz or 'off')} Hz.",
        (
            f"Filters: causal Butterworth band-pass {cfg.filter.highpass_hz:g}–"
            f"{cfg.filter.lowpass_hz:g} Hz (order {cfg.filter.order}), adaptive mains canceller; "
            f"envelope {cfg.envelope.method} {cfg.envelope.window_s * 1000:.0f} ms; onset "
            f"threshold rest mean + {cfg.detector.threshold_sd:g} SD with hysteresis, minimum "
            f"on-time {cfg.detector.min_on_s * 1000:.0f} ms."
        ),
        "Detection ran with the live monitor's own code (same filters, timestamps and rules"
        + (", same cue markers" if a.plan.use_cues else "")
        + ").",
    ]
    if peak:
        items.append(
            "No MVC was measured: for "
            + ", ".join(_e(p) for p in peak)
            + " the largest 0.5 s of this recording stands in for the MVC (peak-task "
            "normalisation); bimanual trials are those with both sides above "
            f"{cfg.mirror.bimanual_mvc_fraction:.0%} of it, and the normalised ratio refers to it."
        )
    rep = s.reproduction
    if rep:
        items.append(
            f"Reproduction: the live detector published {rep.live_trials} trials during the "
            f"recording; this analysis found {rep.matching} of them again with every value "
            f"equal ({rep.identical} to the microsecond; times at most "
            f"{rep.max_time_difference_ms:.3f} ms apart, the difference between two "
            "estimates of the LSL clock offset)."
        )
    items.extend(_e(note) for note in a.notes)
    return (
        "<h2>Methods and data</h2><ul>"
        + "".join(f"<li>{item}</li>" for item in items)
        + "</ul>"
        + _table(["channel", "rest mean (µV)", "rest SD (µV)"], cal_rows, {1, 2})
        + "<p class='muted'>Files next to this report: events.jsonl (every event, in the live "
        "format), trials.csv (one row per trial), summary.json (these numbers).</p>"
    )


def build_report(analysis: Analysis) -> str:
    """The report as one HTML document."""
    body = "".join(
        (
            _header(analysis),
            _glance(analysis),
            _signatures(analysis),
            _trials(analysis),
            _distributions(analysis),
            _synchrony(analysis),
            _force(analysis),
            _events(analysis),
            _methods(analysis),
        )
    )
    title = f"MirrorScope report: {analysis.session.path.name}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_report(analysis: Analysis, path: str | Path) -> Path:
    """Write the report to ``path``."""
    path = Path(path)
    path.write_text(build_report(analysis), encoding="utf-8")
    return path
