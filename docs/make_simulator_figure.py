"""Draw one trial of each simulator preset into ``docs/simulator_presets.png``.

For each preset: the active and the mirror channel's raw EMG with their RMS envelopes, and the
ground truth (cue, active onset/offset, mirror onset/offset, artefact and activity intervals)
on top. ``--realism real`` draws the presets as real sessions look (``docs/simulator_real.png``).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_simulator_figure.py [--realism
clean|real] [OUT.png]``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets
from pyqtgraph.exporters import ImageExporter
from scipy import signal

from acquisition.simulator import PRESETS, REALISMS, SimulatedPatient, TrialTruth

FS_HZ = 2000.0
SEED = 1
WIDTH_PX, ROW_PX = 1800, 230
ENVELOPE_S = 0.1
FONT = "DejaVu Sans"
COLOURS = {
    "raw": (150, 170, 200),
    "envelope": (20, 40, 120),
    "onset": (0, 140, 60),
    "mirror": (200, 0, 140),
    "cue": (90, 90, 90),
    "artefact": (255, 170, 0, 70),
    "activity": (120, 0, 200, 45),
    "ecg": (220, 40, 0),
}
# Which trial each preset shows: the first one that scores highest in the first ten minutes.
SCORE = {
    # Physiological mirroring is usually invisible; show its largest.
    "physiological": lambda t: t.mirror_amplitude_uv if t.task == "hold" else -1.0,
    "congenital": lambda t: float(t.mirror and t.task == "hold"),
    "stroke": lambda t: float(t.mirror and t.task == "hold"),
    "demanding": lambda t: float(t.mirror and t.task == "tapping"),
    "artefacts": lambda t: float(
        len({"motion", "saturation", "lift_off"} & {a.kind for a in t.artefacts})
    ),
    # A clinic trial with a mirror, crosstalk and some other activity on the passive side.
    "clinic": lambda t: (
        float(t.mirror and t.task == "hold")
        + float(t.crosstalk_gain > 0)
        + float(any(a.channel == t.mirror_channel and a.kind != "twitch" for a in t.activity))
    ),
}


def _rms(x: np.ndarray, window: int, fs_hz: float) -> np.ndarray:
    """Centred moving RMS above 20 Hz (offline, for display only: drift is not EMG)."""
    sos = signal.butter(4, 20.0, "highpass", fs=fs_hz, output="sos")
    emg = signal.sosfiltfilt(sos, x.astype(np.float64))
    kernel = np.ones(window) / window
    return np.sqrt(np.convolve(emg**2, kernel, mode="same"))


def _pick(patient: SimulatedPatient, preset: str) -> TrialTruth:
    return max(patient.trials_between(0, round(600 * FS_HZ)), key=SCORE[preset])


def _font(size_pt: int, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont(FONT, size_pt)
    font.setBold(bold)
    return font


def _vline(plot: pg.PlotItem, x: float, colour: tuple[int, ...], dashed: bool = False) -> None:
    style = QtCore.Qt.PenStyle.DashLine if dashed else QtCore.Qt.PenStyle.SolidLine
    plot.addItem(pg.InfiniteLine(x, angle=90, pen=pg.mkPen(colour, width=2.5, style=style)))


def _channel_plot(
    plot: pg.PlotItem,
    *,
    t_s: np.ndarray,
    x: np.ndarray,
    trial: TrialTruth,
    role: str,
    label: str,
) -> None:
    """One channel: raw, envelope, truth markers; y range robust to saturation."""
    fs = trial.fs_hz
    origin = trial.cue_index
    envelope = _rms(x, round(ENVELOPE_S * fs), fs)
    plot.plot(t_s, x, pen=pg.mkPen(COLOURS["raw"], width=1))
    plot.plot(t_s, envelope, pen=pg.mkPen(COLOURS["envelope"], width=3))
    channel = trial.active_channel if role == "active" else trial.mirror_channel
    for episode in trial.artefacts:
        if episode.kind in {"ecg", "mains"} or channel not in episode.channels:
            continue
        region = pg.LinearRegionItem(
            ((episode.start - origin) / fs, (episode.stop - origin) / fs),
            movable=False,
            brush=pg.mkBrush(COLOURS["artefact"]),
            pen=pg.mkPen(None),
        )
        plot.addItem(region)
        text = episode.kind.replace("_", "-")
        if episode.kind == "saturation":
            text += f" (at the {episode.amplitude_uv:+.0f} µV rail, off scale)"
        tag = pg.TextItem(text, color=(150, 90, 0), anchor=(0, 0))
        tag.setFont(_font(11, bold=True))
        tag.setPos((episode.start - origin) / fs, 0)
        plot.addItem(tag)
        tag.setZValue(20)
        # Pin the tag to the top of the view once the range is known.
        plot.sigRangeChanged.connect(lambda _v, _r, tag=tag, plot=plot: _to_top(plot, tag))
    for activity in trial.activity:
        if activity.channel != channel:
            continue
        b = activity.burst
        plot.addItem(
            pg.LinearRegionItem(
                ((b.start - origin) / fs, (b.stop - origin) / fs),
                movable=False,
                brush=pg.mkBrush(COLOURS["activity"]),
                pen=pg.mkPen(None),
            )
        )
        tag = pg.TextItem(activity.kind.replace("_", " "), color=(90, 0, 160), anchor=(0, 1))
        tag.setFont(_font(11, bold=True))
        tag.setPos((b.start - origin) / fs, 0)
        plot.addItem(tag)
    _vline(plot, 0.0, COLOURS["cue"], dashed=True)
    _vline(plot, (trial.onset_index - origin) / fs, COLOURS["onset"])
    _vline(plot, (trial.offset_index - origin) / fs, COLOURS["onset"])
    if role == "mirror" and trial.mirror:
        _vline(plot, (trial.mirror_onset_index - origin) / fs, COLOURS["mirror"], dashed=True)
        _vline(plot, (trial.mirror_offset_index - origin) / fs, COLOURS["mirror"], dashed=True)
    unsaturated = np.abs(x) < 0.99 * 5000.0
    top = 1.15 * float(np.percentile(np.abs(x[unsaturated]), 99.7))
    top = max(top, 1.2 * float(envelope.max()))
    plot.setYRange(-top, top, padding=0)
    beats = [(e.start + e.stop) / 2 for e in trial.artefacts if e.kind == "ecg"]
    if beats:
        plot.addItem(
            pg.ScatterPlotItem(
                x=(np.asarray(beats) - origin) / fs,
                y=np.full(len(beats), -0.88 * top),
                symbol="t1",
                size=9,
                pen=None,
                brush=pg.mkBrush(COLOURS["ecg"]),
            )
        )
    plot.setXRange(float(t_s[0]), float(t_s[-1]), padding=0)
    plot.setLabel("left", label, units=None, **{"font-size": "12pt"})


def _to_top(plot: pg.PlotItem, tag: pg.TextItem) -> None:
    tag.setPos(tag.pos().x(), plot.viewRange()[1][1])


def _legend_html() -> str:
    def swatch(colour: tuple[int, ...], text: str) -> str:
        r, g, b = colour[:3]
        return f'<span style="color: rgb({r},{g},{b});">&#9632;</span>&nbsp;{text}'

    parts = [
        swatch(COLOURS["raw"], "raw EMG"),
        swatch(COLOURS["envelope"], f"RMS envelope ({ENVELOPE_S * 1000:.0f} ms)"),
        swatch(COLOURS["cue"], "cue (dashed)"),
        swatch(COLOURS["onset"], "true active onset / offset"),
        swatch(COLOURS["mirror"], "true mirror onset / offset (dashed)"),
        swatch((255, 170, 0), "artefact interval"),
        swatch((120, 0, 200), "posture / tonic / late / twitch"),
        '<span style="color: rgb(220,40,0);">&#9650;</span>&nbsp;ECG R peak',
    ]
    return "&nbsp;&nbsp;&nbsp;&nbsp;".join(parts)


def _title(trial: TrialTruth, preset: str) -> str:
    spec = PRESETS[preset]
    what = (
        f"trial {trial.trial}: {trial.active_side} {trial.pair} {trial.task}, "
        f"{trial.active_amplitude_uv:.0f} µV"
    )
    if trial.mirror:
        what += (
            f"; mirror gain {trial.mirror_gain:.3f} (ratio {trial.true_ratio:.3f}), "
            f"lag {trial.mirror_lag_ms:.1f} ms"
        )
        if trial.crosstalk_gain:
            what += f"; crosstalk {100 * trial.crosstalk_gain:.1f} %"
    else:
        kinds = sorted({a.kind for a in trial.artefacts})
        what += f"; no mirror; artefacts: {', '.join(kinds)}"
    return f"<b>{preset}</b> ({spec.description}) &mdash; {what}"


def main(out: Path, realism: str = "clean") -> None:
    """Render the figure to ``out``."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(WIDTH_PX, ROW_PX * 2 * len(PRESETS) + 60 * len(PRESETS) + 80)
    head = layout.addLabel(
        f"Simulated patients ({realism}, seed 1, 2 kHz): one trial per preset; time from the cue",
        size="16pt",
        bold=True,
    )
    head.setFont(_font(16, bold=True))
    layout.nextRow()
    layout.addLabel(_legend_html(), size="12pt")
    first: pg.PlotItem | None = None
    for preset in PRESETS:
        patient = SimulatedPatient(preset, fs_hz=FS_HZ, seed=SEED, realism=realism)  # type: ignore[arg-type]
        trial = _pick(patient, preset)
        lo = trial.cue_index - round(0.5 * FS_HZ)
        hi = round(trial.offset_index + abs(trial.mirror_lag_samples) + 1.5 * FS_HZ)
        if preset == "artefacts":
            hi = trial.span_stop  # its episodes may come any time before the next cue
        patient.generate(lo)
        x = patient.generate(hi - lo)
        t_s = (np.arange(lo, hi) - trial.cue_index) / FS_HZ
        layout.nextRow()
        layout.addLabel(_title(trial, preset), size="12pt")
        for role, channel, label in (
            ("active", trial.active_channel, f"{trial.active_label} active (µV)"),
            ("mirror", trial.mirror_channel, f"{trial.mirror_label} mirror side (µV)"),
        ):
            layout.nextRow()
            plot = layout.addPlot()
            plot.setMinimumHeight(ROW_PX)
            plot.showGrid(x=True, y=True, alpha=0.15)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTickFont(_font(11))
            plot.getAxis("left").setWidth(95)
            _channel_plot(plot, t_s=t_s, x=x[:, channel], trial=trial, role=role, label=label)
            if role == "mirror":
                plot.setLabel("bottom", "time from cue (s)", **{"font-size": "12pt"})
            if first is None:
                first = plot
    layout.show()
    app.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.parameters()["width"] = WIDTH_PX
    out.parent.mkdir(parents=True, exist_ok=True)
    exporter.export(str(out))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen = "clean"
    if arguments[:1] == ["--realism"] and len(arguments) >= 2 and arguments[1] in REALISMS:
        chosen, arguments = arguments[1], arguments[2:]
    default = "simulator_presets.png" if chosen == "clean" else f"simulator_{chosen}.png"
    main(Path(arguments[0]) if arguments else Path(__file__).with_name(default), chosen)
