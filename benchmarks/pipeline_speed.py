"""Throughput and per-chunk latency of the detection pipeline, and the scipy batch limit."""

from __future__ import annotations

import time

import numpy as np
from scipy import signal

from acquisition.simulator import SimulatedPatient
from benchmarks.results import Result
from detection.config import Config, parse_config, to_dict
from detection.filters import BandpassFilter
from detection.pipeline import Pipeline

__all__ = ["run"]

FS_HZ = 2000.0
CALIBRATION_S = 6.0


def _session(n_channels: int, seconds: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    # The simulator has up to 64 pairs; wider sessions repeat its columns under new labels.
    pairs = max(1, n_channels // 2)
    patient = SimulatedPatient(
        "stroke", fs_hz=FS_HZ, n_pairs=min(pairs, 64), seed=seed, initial_rest_s=7.0
    )
    data = patient.generate(round((CALIBRATION_S + seconds) * FS_HZ))
    copies = -(-pairs // 64)
    data = np.tile(data, (1, copies))[:, : 2 * pairs]
    labels = [
        f"{label[:-2]}{'' if copy == 0 else f'x{copy}'}{label[-2:]}"
        for copy in range(copies)
        for label in patient.labels
    ][: 2 * pairs]
    return np.ascontiguousarray(data), labels


def _pipeline(labels: list[str]) -> Pipeline:
    data = to_dict(Config())
    data["pairs"] = [
        {"name": labels[i][:-2], "left": labels[i], "right": labels[i + 1]}
        for i in range(0, len(labels), 2)
    ]
    return Pipeline(parse_config(data), FS_HZ, labels)


def measure(n_channels: int, chunk_n: int, seconds: float) -> tuple[float, np.ndarray]:
    """Realtime factor (signal s per CPU s) and per-chunk wall times (ms) of the pipeline."""
    data, labels = _session(n_channels, seconds)
    stamps = np.arange(len(data)) / FS_HZ
    pipe = _pipeline(labels)
    warm = round(CALIBRATION_S * FS_HZ)
    pipe.process(data[:warm], stamps[:warm])  # calibration, not timed
    chunk_ms = []
    cpu0 = time.process_time()
    for start in range(warm, len(data), chunk_n):
        t = time.perf_counter()
        pipe.process(data[start : start + chunk_n], stamps[start : start + chunk_n])
        chunk_ms.append(1000 * (time.perf_counter() - t))
    cpu = time.process_time() - cpu0
    return (len(data) - warm) / FS_HZ / cpu, np.array(chunk_ms)


def filter_overhead(n_channels: int, chunk_n: int, seconds: float) -> tuple[float, float]:
    """Chunked band-pass time over scipy's sosfilt of the whole array; and that batch RF."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((round(seconds * FS_HZ), n_channels)).astype(np.float32)
    stage = BandpassFilter(FS_HZ, n_channels)
    t = time.process_time()
    for start in range(0, len(x), chunk_n):
        stage.process(x[start : start + chunk_n])
    streaming = time.process_time() - t
    t = time.process_time()
    signal.sosfilt(stage.sos, x, axis=0)
    batch = time.process_time() - t
    return streaming / batch, seconds / batch


def run(*, quick: bool) -> list[Result]:
    """Measure throughput at several widths and chunk sizes, latency and filter overhead."""
    seconds = 10.0 if quick else 60.0
    results = []
    rf, chunk_ms = measure(64, 32, seconds)
    results += [
        Result(
            "pipeline_realtime_factor_64ch_2khz",
            rf,
            "x realtime",
            ">= 100",
            "chunks of 32 samples; signal seconds per CPU second",
        ),
        Result(
            "chunk_latency_ms_p99_64ch_2khz",
            float(np.percentile(chunk_ms, 99)),
            "ms",
            "<= 5",
            "per-chunk processing time, chunks of 32 samples",
        ),
        Result("chunk_latency_ms_median_64ch_2khz", float(np.median(chunk_ms)), "ms"),
    ]
    for n_channels in (4, 16, 256):
        rf, _ = measure(n_channels, 32, seconds / (4 if n_channels == 256 else 1))
        results.append(
            Result(
                f"pipeline_realtime_factor_{n_channels}ch_2khz",
                rf,
                "x realtime",
                "",
                "chunks of 32 samples",
            )
        )
    for chunk_n in (1, 10, 128):
        rf, _ = measure(64, chunk_n, seconds / (10 if chunk_n == 1 else 1))
        results.append(
            Result(
                f"pipeline_realtime_factor_64ch_2khz_chunk{chunk_n}",
                rf,
                "x realtime",
                "",
                f"chunks of {chunk_n} samples",
            )
        )
    overhead, batch_rf = filter_overhead(64, 32, seconds)
    results += [
        Result(
            "pipeline_overhead_vs_batch_64ch_2khz",
            overhead,
            "x",
            "<= 3",
            "streaming band-pass in chunks of 32 over scipy sosfilt of the whole array",
        ),
        Result(
            "scipy_batch_realtime_factor_64ch_2khz",
            batch_rf,
            "x realtime",
            "",
            "the practical limit: sosfilt of the band-pass over the whole array at once",
        ),
    ]
    return results
