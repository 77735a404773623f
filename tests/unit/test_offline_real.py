"""Offline analysis of files: the real recordings of ../shared/data, hand-made XDF files, the
``analyze`` command's outputs and refusals. No LSL streams (acquisition modules are imported,
but nothing is published or resolved).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest

from acquisition.session_analysis import AnalysisError, analyze, plan_analysis
from acquisition.simulator import SimulatedPatient
from acquisition.streams import select_channels
from acquisition.xdf_session import SessionFileError, load_session
from detection.config import load_config, parse_config, to_dict
from detection.pipeline import Pipeline
from gui.cli import main

DATA = Path("/work/shared/data")
DEFAULT = load_config(Path(__file__).parents[2] / "configs" / "default.toml")
needs_data = pytest.mark.skipif(not DATA.exists(), reason="../shared/data not present")


def _analysis(name: str, config=None):
    session = load_session(DATA / name)
    plan = plan_analysis(session, config=config, default_config=DEFAULT)
    return analyze(session, plan)


def _pair(analysis, name: str):
    return next(p for p in analysis.pairs if p.name == name)


# ---- the real recordings --------------------------------------------------------------------


@needs_data
def test_unimanual_handshaking_finds_the_right_biceps_and_a_quiet_left():
    analysis = _analysis("uci_physaction_s04_handshaking.npz")
    assert "no rest block" in analysis.plan.calibration_source
    bic = _pair(analysis, "Bic")
    right = [r for r in bic.rows if r.active_side == "right"]
    assert len(right) >= 8
    assert not any(r.bimanual for r in bic.rows)
    assert np.median([r.ratio for r in right]) < 0.05, "the left arm stays at rest"
    calibration = analysis.summary.calibration
    left, right = calibration.channel("L-Bic"), calibration.channel("R-Bic")
    assert left.rest_mean_uv < 30 < right.rest_mean_uv


@needs_data
def test_bimanual_clapping_is_reported_as_bimanual_not_mirror():
    bic = _pair(_analysis("uci_physaction_s04_clapping.npz"), "Bic")
    assert sum(r.bimanual for r in bic.rows) >= 5
    assert bic.summary.with_mirror <= 1


@needs_data
def test_hugging_runs_and_describes_without_error():
    analysis = _analysis("uci_physaction_s04_hugging.npz")
    assert len(analysis.pairs) == 4
    for pair in analysis.pairs:
        assert pair.signatures[-1].startswith("These are descriptions")


@needs_data
def test_one_sided_recording_needs_pairs_from_a_config(tmp_path):
    with pytest.raises(AnalysisError, match="declares no homologous pairs"):
        _analysis("uci_lowerlimb_5Npie.npz")
    data = to_dict(DEFAULT)
    data["pairs"] = [{"name": "quiet-vs-active", "left": "RF", "right": "BF"}]
    analysis = _analysis("uci_lowerlimb_5Npie.npz", parse_config(data))
    rows = _pair(analysis, "quiet-vs-active").rows
    assert sum(r.active_side == "right" for r in rows) >= 3, "the hamstring contractions"


@needs_data
def test_analyze_command_writes_events_trials_summary_and_report(tmp_path, capsys):
    out = tmp_path / "out"
    source = DATA / "uci_physaction_s04_handshaking.npz"
    assert main(["analyze", str(source), "--out", str(out)]) == 0
    assert "Bic:" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "events.jsonl",
        "report.html",
        "summary.json",
        "trials.csv",
    ]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    trials = [e for e in events if e["event"] == "trial"]
    lines = (out / "trials.csv").read_text().splitlines()
    assert len(lines) == 1 + len(trials)
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, len(trials) + 1))
    summary = json.loads((out / "summary.json").read_text())
    assert [p["pair"] for p in summary["pairs"]] == ["Bic", "Tri", "Thi", "Ham"]
    page = (out / "report.html").read_text()
    for heading in ("At a glance", "What the signals show", "Trials", "Synchrony", "Methods"):
        assert heading in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


@needs_data
def test_detection_on_real_emg_does_not_depend_on_chunk_size():
    session = load_session(DATA / "uci_physaction_s04_handshaking.npz")
    plan = plan_analysis(session, config=None, default_config=DEFAULT)
    selection = select_channels(session.emg.summary(), plan.config)
    data = session.emg.data[:, list(selection.columns)].astype(np.float32)
    t = session.emg.timestamps

    def trials(chunk: int) -> list[dict]:
        config = dataclasses.replace(plan.config, pairs=selection.pairs)
        pipe = Pipeline(config, 1000.0, selection.labels, calibration=plan.calibration)
        out = []
        for a in range(0, len(data), chunk):
            out += [e.payload for e in pipe.process(data[a : a + chunk], t[a : a + chunk]).events]
        return [p for p in out if p["event"] == "trial"]

    assert trials(7) == trials(500)


# ---- hand-made XDF files --------------------------------------------------------------------


def _chunk(tag: int, content: bytes) -> bytes:
    return b"\x08" + struct.pack("<QH", len(content) + 2, tag) + content


def _stream_header(stream_id: int, info: dict, labels: tuple[str, ...], pairs: list) -> bytes:
    fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in info.items())
    channels = "".join(
        f"<channel><label>{escape(lb)}</label><unit>microvolts</unit></channel>" for lb in labels
    )
    pair_xml = "".join(
        f"<pair><name>{n}</name><left>{lf}</left><right>{rt}</right></pair>" for n, lf, rt in pairs
    )
    desc = f"<desc><channels>{channels}</channels><pairs>{pair_xml}</pairs></desc>"
    xml = f'<?xml version="1.0"?><info>{fields}{desc}</info>'.encode()
    return _chunk(2, struct.pack("<I", stream_id) + xml)


def write_xdf(path: Path, streams: list[dict]) -> None:
    """A minimal XDF file: header, one stream header and one samples chunk per stream."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, s in enumerate(streams, start=1):
        values, stamps = s["values"], s["stamps"]
        is_string = s["info"]["channel_format"] == "string"
        out += _stream_header(sid, s["info"], s.get("labels", ()), s.get("pairs", []))
        body = bytearray(struct.pack("<I", sid) + b"\x04" + struct.pack("<I", len(stamps)))
        for row, stamp in zip(values, stamps, strict=True):
            body += b"\x08" + struct.pack("<d", stamp)
            if is_string:
                text = row.encode()
                body += b"\x04" + struct.pack("<I", len(text)) + text
            else:
                body += np.asarray(row, dtype="<f4").tobytes()
        out += _chunk(3, bytes(body))
    path.write_bytes(bytes(out))


def _info(name: str, kind: str, count: int, rate: float, fmt: str) -> dict:
    return {
        "name": name,
        "type": kind,
        "channel_count": count,
        "nominal_srate": rate,
        "channel_format": fmt,
        "source_id": f"{name}-src",
    }


def test_a_file_without_emg_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "markers.xdf"
    markers = {"info": _info("Cues", "Markers", 1, 0, "string"), "values": ["a"], "stamps": [1.0]}
    write_xdf(path, [markers])
    with pytest.raises(SessionFileError, match="holds no EMG stream"):
        load_session(path)
    assert main(["analyze", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "holds no EMG stream" in err[0]
    assert "'Cues'" in err[0]
    npz = tmp_path / "empty.npz"
    np.savez(npz, fs=np.float64(1000.0))
    assert main(["analyze", str(npz)]) == 1
    assert "has no EMG" in capsys.readouterr().err


def test_xdf_without_sidecar_is_analysed_as_live_with_its_declared_pairs(tmp_path):
    """A simulated patient written as XDF: labels, pairs and cues come from the file itself."""
    patient = SimulatedPatient("stroke", fs_hz=1000.0, n_pairs=1, seed=7, initial_rest_s=7.0)
    n = 45_000
    emg = patient.generate(n)
    t0 = 5000.0
    cues = patient.cues_between(0, n)
    path = tmp_path / "sim.xdf"
    write_xdf(
        path,
        [
            {
                "info": _info("Sim", "EMG", emg.shape[1], 1000.0, "float32"),
                "labels": patient.labels,
                "pairs": [(p, patient.labels[0], patient.labels[1]) for p in patient.pair_names],
                "values": emg,
                "stamps": t0 + np.arange(n) / 1000.0,
            },
            {
                "info": _info("Sim-Cues", "Markers", 1, 0, "string"),
                "values": [c.to_json() for c in cues],
                "stamps": [t0 + c.index / 1000.0 for c in cues],
            },
        ],
    )
    session = load_session(path)
    assert session.emg.labels == patient.labels
    assert session.cues is not None
    plan = plan_analysis(session, config=None, default_config=DEFAULT)
    assert plan.use_cues
    assert "5 s of rest collected" in plan.calibration_source
    analysis = analyze(session, plan)
    truth = [tr.to_dict(t0) for tr in patient.completed_trials(0, n)]
    found = [r for r in analysis.pairs[0].rows if not r.bimanual]
    assert len(found) >= len(truth) - 1 >= 3
    assert sum(r.mirror for r in found) >= len(found) - 1, "stroke: mirror activity"
    doc = analysis.summary.to_dict()
    assert list(doc) == [
        "file",
        "kind",
        "analyzed_utc",
        "software",
        "recording",
        "calibration",
        "events",
        "pairs",
        "reproduction",
        "config",
        "notes",
    ]
    assert json.loads(json.dumps(doc)) == doc, "plain JSON types only: lists, not tuples"
    assert doc["pairs"][0] == {
        **analysis.pairs[0].summary.to_dict(),
        "signatures": analysis.pairs[0].signatures,
    }
    assert list(doc["calibration"]["channels"]) == list(patient.labels)
    assert "measured_on_s" not in doc["calibration"]["channels"][patient.labels[0]]
    assert doc["reproduction"] is None, "no live events in this file"
    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.summary.recording.fs_hz = 1.0  # type: ignore[misc]
