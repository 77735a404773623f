"""The terminal view of a live session (``mirrorscope monitor --headless``).

Every trial and every status change is printed as a line when it happens. On a terminal, a
small block at the bottom (per pair: state, last ratio, trials, mirror share; stream health) is
redrawn in place a few times a second; when the output is a file or a pipe, a status line is
printed every ten seconds instead.
"""

from __future__ import annotations

import math
import queue
import shutil
import sys
import time
from typing import Any, TextIO

from acquisition.runner import LiveMonitor
from detection.events import State
from detection.summary import SessionStats

__all__ = ["TerminalView", "describe_event"]

REFRESH_S = 0.25
PLAIN_STATUS_EVERY_S = 10.0
_CLEAR_LINE = "\x1b[2K"


def _fmt(value: float | None, pattern: str, missing: str = "-") -> str:
    return missing if value is None else pattern.format(value)


def describe_event(payload: dict[str, Any]) -> str | None:
    """One human line for an event worth printing (None for the ones the block shows)."""
    kind = payload.get("event")
    if kind == "trial":
        verdict = "MIRROR" if payload["mirror"] else "no mirror"
        if payload["bimanual"]:
            verdict = "bimanual"
        grade = payload["grade"]
        quality = f"  [{', '.join(payload['quality'])}]" if payload["quality"] else ""
        return (
            f"trial  {payload['pair']:<6} active {payload['active_side']:<5}  {verdict:<9} "
            f"ratio {_fmt(payload['ratio'], '{:.2f}')}  "
            f"norm {_fmt(payload['ratio_norm'], '{:.2f}')}  "
            f"lag {_fmt(payload['lag_ms'], '{:.0f} ms')}  "
            f"grade {'-' if grade is None else grade} (provisional){quality}"
        )
    if kind != "status":
        return None
    state = payload.get("state")
    if state == State.CALIBRATED:
        rest = ", ".join(f"{k} {v:.1f} uV" for k, v in payload.get("rest_uv", {}).items())
        mains = payload.get("mains_hz")
        return f"calibrated: mains {mains or 'off'} Hz; rest {rest}"
    if state == State.CALIBRATING:
        return f"waiting for rest: {payload['rest_s_so_far']:.1f} of {payload['rest_s']:g} s"
    if state == State.BASELINE_UPDATED:
        rest = ", ".join(f"{k} {v:.1f} uV" for k, v in payload.get("rest_uv", {}).items())
        return f"baseline updated ({', '.join(payload.get('channels', []))}): rest {rest}"
    if state == State.NOTE:
        return f"note: {payload.get('text', '')}"
    if state in (State.CHANNEL_FLAGGED, State.CHANNEL_CLEARED):
        verb = "flagged" if state == State.CHANNEL_FLAGGED else "cleared"
        return f"{payload['channel']} {verb}: {payload['flag']}"
    details = {k: v for k, v in payload.items() if k not in ("event", "state", "t", "stream")}
    extra = "  " + ", ".join(f"{k}={v}" for k, v in details.items()) if details else ""
    return f"!! {str(state).replace('_', ' ')}{extra}"


class TerminalView:
    """Drive a :class:`LiveMonitor` from the terminal.

    Parameters
    ----------
    monitor : LiveMonitor
        A started monitor.
    out : TextIO
        Where to write (standard output by default).
    """

    def __init__(self, monitor: LiveMonitor, out: TextIO | None = None) -> None:
        self.monitor = monitor
        self.out = out or sys.stdout
        self.stats = SessionStats(monitor.pair_names)
        self.live = hasattr(self.out, "isatty") and self.out.isatty()
        self._block_lines = 0
        self._last_plain = time.monotonic()
        self._said_relax = False

    def run(self, duration_s: float | None = None) -> None:
        """Show the session until ``duration_s`` passes or Ctrl-C; then print the summary."""
        self._header()
        deadline = math.inf if duration_s is None else time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline and self.monitor.running:
                self._drain()
                self._status()
                time.sleep(REFRESH_S)
        except KeyboardInterrupt:
            self._print("stopped (Ctrl-C)")
        finally:
            self._drain()
            self._erase_block()
            self._summary()

    def _header(self) -> None:
        m = self.monitor
        pairs = ", ".join(
            f"{name} ({m.labels[left]}/{m.labels[right]})" for name, left, right in m.pipeline.pairs
        )
        self._print(
            f"monitoring {m.summary.name!r}: {len(m.labels)} of {m.summary.channel_count} "
            f"channels at {m.fs_hz:g} Hz; pairs {pairs}"
        )
        out = m.config.output
        if m._events_out is not None:
            envelopes = f", envelopes on {out.envelope_stream!r}" if out.envelope_stream else ""
            self._print(f"events on {out.events_stream!r}{envelopes}")

    def _drain(self) -> None:
        while True:
            try:
                event = self.monitor.events.get_nowait()
            except queue.Empty:
                return
            self.stats.add(event.payload)
            line = describe_event(event.payload)
            if line is not None:
                self._print(line)

    def _status(self) -> None:
        health = self.monitor.health()
        if health.calibrating and not self._said_relax:
            self._print("relax: measuring rest for the calibration ...")
            self._said_relax = True
        lines = self._block(health)
        if self.live:
            self._erase_block()
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
            self._block_lines = len(lines)
        elif time.monotonic() - self._last_plain >= PLAIN_STATUS_EVERY_S:
            self._last_plain = time.monotonic()
            self._print(" | ".join(lines))

    def _block(self, health: Any) -> list[str]:
        lines = []
        if health.calibrating:
            rest_s = self.monitor.config.calibration.rest_s
            lines.append(
                f"  RELAX - waiting for rest: {health.rest_progress * rest_s:.1f} of {rest_s:g} s"
            )
        for p in self.stats.pairs.values():
            share = p.mirror_fraction
            last = p.last_trial["ratio"] if p.last_trial else None
            lines.append(
                f"  {p.name:<6} {p.state:<20} last ratio {_fmt(last, '{:.2f}')}  "
                f"trials {p.trials}  mirror {_fmt(share and 100 * share, '{:.0f} %')}"
            )
        lag_ms = 1000 * health.lag_s if math.isfinite(health.lag_s) else None
        lost = "  STREAM LOST" if health.lost else ""
        flags = f"  flagged: {', '.join(health.flagged)}" if health.flagged else ""
        lines.append(
            f"  stream {health.measured_rate_hz:.0f}/{health.nominal_rate_hz:g} Hz  "
            f"lag {_fmt(lag_ms, '{:.0f} ms')}  gaps {health.gaps}  "
            f"chunk p99 {health.chunk_ms_p99:.1f} ms{lost}{flags}"
        )
        width = shutil.get_terminal_size((120, 20)).columns
        return [line[: width - 1] for line in lines]

    def _erase_block(self) -> None:
        if self.live and self._block_lines:
            self.out.write(f"\x1b[{self._block_lines}F" + f"{_CLEAR_LINE}\n" * self._block_lines)
            self.out.write(f"\x1b[{self._block_lines}F")
            self._block_lines = 0

    def _print(self, line: str) -> None:
        self._erase_block()
        stamp = time.strftime("%H:%M:%S")
        self.out.write(f"{stamp}  {line}\n")
        self.out.flush()

    def _summary(self) -> None:
        health = self.monitor.health()
        self._print("session summary")
        for line in self.stats.summary_lines():
            self.out.write(f"  {line}\n")
        self.out.write(
            f"  stream: {health.samples} samples, {health.gaps} gaps "
            f"({health.gap_total_s:.2f} s), pipeline chunk p50 {health.chunk_ms_p50:.2f} ms, "
            f"p99 {health.chunk_ms_p99:.2f} ms\n"
        )
        self.out.flush()
