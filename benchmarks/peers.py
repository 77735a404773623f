"""CPU cost against a peer: mne-lsl's ``StreamLSL`` filtering the same stream.

A simulated 16-channel, 2 kHz stream runs in this process. Each consumer runs in a process of
its own, one after the other, and reports the CPU time it used while the stream flowed (start-up
and imports excluded):

- MirrorScope's ``LiveMonitor``: band-pass, adaptive mains canceller, envelopes, quality,
  onsets, mirror logic, events and envelope outlets;
- mne-lsl's ``StreamLSL`` (acquisition every 10 ms, about the cadence data arrive at) with the
  same Butterworth band-pass and a notch at 50 Hz and its harmonics below 450 Hz.

The ratio below 1 means MirrorScope does more work for less CPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from acquisition import LOCAL_LSL_CONFIG
from acquisition.lsl_scope import with_local_known_peer
from benchmarks.results import Result

__all__ = ["run"]

_OURS = """
import json, sys, time
from acquisition.runner import LiveMonitor
from detection.config import Config, parse_config, to_dict
name, source_id, seconds, labels = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
data = to_dict(Config())
labels = labels.split(",")
data["pairs"] = [{"name": labels[i][:-2], "left": labels[i], "right": labels[i + 1]}
                 for i in range(0, len(labels), 2)]
data["stream"].update(name=name, source_id=source_id)
data["output"].update(events_stream=name + "-Ev", envelope_stream=name + "-Env")
monitor = LiveMonitor(parse_config(data))
monitor.start()
cpu = time.process_time()
time.sleep(seconds)
cpu = time.process_time() - cpu
samples = monitor.health().samples
monitor.stop()
print(json.dumps({"cpu_s": cpu, "samples": samples}))
"""

_MNE = """
import json, sys, time
from mne_lsl.stream import StreamLSL
name, source_id, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
stream = StreamLSL(bufsize=5.0, name=name, source_id=source_id)
stream.connect(acquisition_delay=0.01, processing_flags="all")
stream.filter(20.0, 450.0, iir_params=dict(order=4, ftype="butter", output="sos"))
for k in range(1, 9):  # this mne-lsl takes one frequency per notch
    stream.notch_filter(50.0 * k)
cpu = time.process_time()
time.sleep(seconds)
cpu = time.process_time() - cpu
samples = stream.n_new_samples
stream.disconnect()
print(json.dumps({"cpu_s": cpu, "samples": samples}))
"""


def _consume(script: str, args: list[str], timeout_s: float) -> dict[str, float]:
    # mne-lsl's own liblsl needs 127.0.0.1 as a known peer to find every outlet here.
    config = with_local_known_peer(str(LOCAL_LSL_CONFIG))
    env = dict(os.environ, LSLAPICFG=config or str(LOCAL_LSL_CONFIG), MNE_LSL_LOG_LEVEL="ERROR")
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    finally:
        if config:
            Path(config).unlink(missing_ok=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"consumer failed: {done.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def run(*, quick: bool) -> list[Result]:
    """Peer CPU ratio (needs the ``bench`` extra: mne-lsl)."""
    name = "peer_cpu_ratio_vs_mne_lsl"
    if importlib.util.find_spec("mne_lsl") is None:
        return [Result(name, None, "x", "< 1", "mne-lsl not installed (pip install -e .[bench])")]
    from acquisition.sim_outlet import SimulatorStreams
    from acquisition.simulator import SimulatedPatient

    seconds = 15.0 if quick else 60.0
    stream = f"Bench-Peer-{uuid.uuid4().hex[:6]}"
    source_id = uuid.uuid4().hex
    patient = SimulatedPatient("stroke", fs_hz=2000.0, n_pairs=8, seed=3, initial_rest_s=7.0)
    streams = SimulatorStreams(patient, name=stream, source_id=source_id)
    streams.start()
    try:
        args = [stream, source_id, str(seconds)]
        ours = _consume(_OURS, [*args, ",".join(patient.labels)], seconds + 60)
        theirs = _consume(_MNE, args, seconds + 90)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        return [Result(name, None, "x", "< 1", f"could not measure: {err}")]
    finally:
        streams.stop()
    note = (
        f"CPU over {seconds:g} s of a 16-channel 2 kHz stream: MirrorScope "
        f"{ours['cpu_s']:.2f} s (full pipeline, {ours['samples']:.0f} samples), mne-lsl "
        f"{theirs['cpu_s']:.2f} s (band-pass + 8 notches)"
    )
    return [Result(name, ours["cpu_s"] / theirs["cpu_s"], "x", "< 1", note)]
