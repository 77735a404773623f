"""Recording a live monitor's session: ``monitor --record`` and the GUI's record button.

One XDF file gets the EMG stream, the cue and truth marker streams when they exist, and the
monitor's own events and envelope outlets; the sidecar gets the config, the calibration in force
and, at the end, the first timestamp the monitor processed.

For offline analysis to reproduce the live events, the file must hold every sample the monitor
processed: LabRecorderCLI has to be collecting before the monitor subscribes to the EMG stream,
yet the monitor's outlets (which the file must also hold) only exist once the monitor is set up.
:meth:`MonitorRecording.start_monitor` therefore starts the recorder from the monitor's
``before_open`` hook (outlets made, no inlet subscribed yet). A recording started later, from the
window's Record button (:meth:`MonitorRecording.attach`), begins mid-session
(``from_first_sample: false``). The sidecar always gets the monitor's first timestamp; the
analysis checks whether the file holds that sample.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LslTimeoutError

from acquisition.recorder import MIN_FREE_BYTES, RecorderError, SessionRecorder, StreamSpec
from acquisition.sidecar import new_sidecar
from detection.calibration import Calibration
from detection.config import to_dict

if TYPE_CHECKING:
    from acquisition.runner import LiveMonitor

__all__ = ["MonitorRecording", "monitor_streams", "streams_by_name"]

log = logging.getLogger(__name__)

#: How long to look for the optional companion streams (cues, truth, the monitor's outlets).
COMPANION_WAIT_S = 1.0


def _calibration_doc(calibration: Calibration | None) -> dict[str, Any] | None:
    return None if calibration is None else json.loads(calibration.to_json())


def _watches(info: pylsl.StreamInfo, emg_name: str) -> bool:
    """Whether an events outlet's description names ``emg_name`` as its EMG stream."""
    try:
        full = pylsl.StreamInlet(info).info(timeout=1.0)
    except (LslTimeoutError, LostError):
        return False
    return full.desc().child_value("emg_stream") == emg_name


def monitor_streams(monitor: LiveMonitor) -> list[StreamSpec]:
    """The streams of a set-up monitor's session: EMG, cues, truth, events, envelopes.

    Parameters
    ----------
    monitor : LiveMonitor
        A monitor whose stream is resolved and whose outlets exist.

    Returns
    -------
    list of StreamSpec
        The EMG stream first; companions only when visible.
    """
    summary, cfg = monitor.summary, monitor.config
    specs = [
        StreamSpec(
            summary.name,
            source_id=summary.source_id,
            hostname=summary.hostname,
            type=summary.type,
            role="emg",
        )
    ]
    wanted = {f"{summary.name}-Cues": "cues", f"{summary.name}-Truth": "truth"}
    if cfg.cues.stream:
        wanted[cfg.cues.stream] = "cues"
    wanted[cfg.output.events_stream] = "events"
    if cfg.output.envelope_stream:
        wanted[cfg.output.envelope_stream] = "envelopes"
    predicate = " or ".join(f"name='{name}'" for name in wanted if "'" not in name)
    found = pylsl.resolve_bypred(predicate, minimum=len(wanted), timeout=COMPANION_WAIT_S)
    by_name: dict[str, list[pylsl.StreamInfo]] = {}
    for info in found:
        by_name.setdefault(info.name(), []).append(info)
    for name, role in wanted.items():
        infos = {i.uid(): i for i in by_name.get(name, [])}.values()
        if role in ("events", "envelopes"):
            # Our own outlets: named mirrorscope-<kind>-<name>-<random> by acquisition.outlets.
            infos = [i for i in infos if i.source_id().startswith(f"mirrorscope-{role}-")]
        if not infos:
            if role in ("events", "envelopes"):
                log.warning(
                    "the monitor's %s stream %r is not visible; not recording it", role, name
                )
            continue
        infos = list(infos)
        if role == "events" and len(infos) > 1:
            # Several monitors publish this name: ours says which EMG stream it watches.
            infos = [i for i in infos if _watches(i, summary.name)] or infos
        pinned = infos[0].source_id() if len(infos) == 1 else ""
        specs.append(StreamSpec(name, source_id=pinned, type=infos[0].type(), role=role))
    return specs


class MonitorRecording:
    """Record a monitor's session into one XDF file with its sidecar.

    A recording that cannot start or stops on its own never stops the monitor: the reason is in
    :attr:`error`.

    Parameters
    ----------
    path : str | Path
        The XDF file.
    calibration : Calibration | None
        The saved calibration the monitor starts with (None: it measures rest at the start).
    overwrite : bool
        Replace an existing file.
    min_free_bytes : int
        Stop recording when the disk has less free space than this.
    """

    def __init__(
        self,
        path: str | Path,
        calibration: Calibration | None = None,
        *,
        overwrite: bool = False,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.path = Path(path)
        self.calibration = calibration
        self.overwrite = overwrite
        self.min_free_bytes = min_free_bytes
        self.recorder: SessionRecorder | None = None
        self.error: str | None = None
        self.from_first_sample = False

    @property
    def running(self) -> bool:
        """True while the file is being written."""
        return self.recorder is not None and self.recorder.running

    def start_monitor(self, monitor: LiveMonitor) -> None:
        """Start the monitor and the recording, so that the file holds what the monitor sees.

        Errors of the monitor itself (stream not found, ...) are raised as usual; a recording
        error is kept in :attr:`error`.
        """
        monitor.start(before_open=lambda m: self._begin(m, from_first_sample=True))

    def attach(self, monitor: LiveMonitor) -> None:
        """Start recording a monitor that is already running (the GUI's record button)."""
        self._begin(monitor, from_first_sample=False)

    def finish(self, monitor: LiveMonitor) -> None:
        """Complete the sidecar from the (stopped) monitor and close the file."""
        if self.recorder is None:
            return
        calibration = getattr(getattr(monitor, "pipeline", None), "calibration", None)
        # Written even when the recorder started after the monitor: the analysis checks whether
        # the file holds this sample (it does when no data flowed before the recorder started).
        fields: dict[str, Any] = {
            "calibration_measured": _calibration_doc(calibration),
            "first_timestamp": monitor.first_timestamp,
            "samples_processed": monitor.health().samples if monitor.first_timestamp else 0,
        }
        try:
            self.recorder.update_sidecar(**fields)
        except RecorderError as err:
            self.error = self.error or str(err)
        self.recorder.stop()
        self.error = self.error or self.recorder.error

    def _begin(self, monitor: LiveMonitor, *, from_first_sample: bool) -> None:
        self.from_first_sample = from_first_sample
        in_force = self.calibration if from_first_sample else monitor.pipeline.calibration
        specs = monitor_streams(monitor)
        sidecar = new_sidecar(
            self.path,
            recorder="monitor",
            streams=[spec.as_dict() for spec in specs],
            config=to_dict(monitor.config),
            calibration=_calibration_doc(in_force),
            clock_sync=monitor.config.acquisition.clock_sync,
        )
        sidecar["from_first_sample"] = from_first_sample
        recorder = SessionRecorder(
            self.path,
            specs,
            sidecar=sidecar,
            overwrite=self.overwrite,
            min_free_bytes=self.min_free_bytes,
        )
        try:
            recorder.start()
        except RecorderError as err:
            self.error = str(err)
            return
        self.recorder = recorder


def _role(info: pylsl.StreamInfo, events_stream: str) -> str:
    name, kind = info.name(), info.type().lower()
    if kind == "emg":
        return "emg"
    if kind == "emg-envelope":
        return "envelopes"
    if name == events_stream or info.source_id().startswith("mirrorscope-events-"):
        return "events"
    if name.endswith("-Cues"):
        return "cues"
    if name.endswith("-Truth"):
        return "truth"
    return "other"


def streams_by_name(
    names: list[str], *, required: int, events_stream: str = "", wait_s: float = 3.0
) -> list[StreamSpec]:
    """Find visible streams by name, each pinned to its source_id.

    Parameters
    ----------
    names : list of str
        Stream names; the first ``required`` must be visible, the others are taken if they are.
    required : int
        How many of ``names`` (from the start) must be found.
    events_stream : str
        Name of the MirrorScope events stream (to give it its role).
    wait_s : float
        How long to look.

    Returns
    -------
    list of StreamSpec
        In the order of ``names``.

    Raises
    ------
    RecorderError
        A required stream is not visible, or a name is taken by several streams.
    """
    unique = list(dict.fromkeys(n for n in names if n and "'" not in n))
    predicate = " or ".join(f"name='{name}'" for name in unique)
    found = pylsl.resolve_bypred(predicate, minimum=len(unique), timeout=wait_s) if unique else []
    by_name: dict[str, dict[str, pylsl.StreamInfo]] = {}
    for info in found:
        by_name.setdefault(info.name(), {})[info.uid()] = info
    specs = []
    for index, name in enumerate(unique):
        infos = list(by_name.get(name, {}).values())
        if not infos:
            if index < required:
                visible = sorted({i.name() for i in pylsl.resolve_streams(wait_time=1.0)})
                raise RecorderError(
                    f"no LSL stream named {name!r} is visible; visible streams: "
                    f"{', '.join(visible) or 'none'}"
                )
            continue
        if len(infos) > 1:
            ids = ", ".join(sorted(i.source_id() for i in infos))
            raise RecorderError(
                f"{len(infos)} LSL streams are named {name!r} (source_id {ids}); stop all but "
                "one so the recording is unambiguous"
            )
        info = infos[0]
        specs.append(
            StreamSpec(
                name,
                source_id=info.source_id(),
                type=info.type(),
                role=_role(info, events_stream),
            )
        )
    return specs
