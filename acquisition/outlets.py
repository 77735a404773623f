"""What the live monitor publishes on LSL: events and envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pylsl

from detection.events import Event

__all__ = ["EnvelopeOutlet", "EventOutlet"]


def _source_id(kind: str, name: str) -> str:
    return f"mirrorscope-{kind}-{name}-{uuid.uuid4().hex[:8]}"


class EventOutlet:
    """The events stream: one JSON object per string sample (type ``Markers``).

    Each sample's LSL timestamp is the moment the event was decided (``local_clock()`` when
    it is published, right after the chunk that decided it was processed), so that latency is
    the timestamp minus the event's ``t``.

    Parameters
    ----------
    name : str
        Stream name (``[output] events_stream``).
    emg_stream : str
        Name of the EMG stream being monitored (recorded in the metadata).
    """

    def __init__(self, name: str, emg_stream: str) -> None:
        info = pylsl.StreamInfo(
            name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, _source_id("events", name)
        )
        desc = info.desc()
        desc.append_child_value("format", "MirrorScope events, JSON (see DESIGN.md)")
        desc.append_child_value("emg_stream", emg_stream)
        self.outlet = pylsl.StreamOutlet(info)

    def publish(self, event: Event, timestamp: float | None = None) -> None:
        """Push one event, stamped with ``timestamp`` or the current LSL time."""
        stamp = pylsl.local_clock() if timestamp is None else timestamp
        self.outlet.push_sample([event.to_json()], stamp)


class EnvelopeOutlet:
    """Per-side amplitude envelopes of every pair at about ``rate_hz`` (type ``EMG-Envelope``).

    Each output sample is the RMS of the envelope over its block of input samples, stamped with
    the block's last input timestamp; channels keep the EMG labels, unit microvolts.

    Parameters
    ----------
    name : str
        Stream name (``[output] envelope_stream``).
    labels : sequence of str
        Channel labels (those the pipeline processes).
    fs_hz : float
        Input sampling rate.
    rate_hz : float
        Output rate (the block length is rounded to whole input samples).
    """

    def __init__(self, name: str, labels: Sequence[str], fs_hz: float, rate_hz: float) -> None:
        self.block_n = max(1, round(fs_hz / rate_hz))
        out_rate = fs_hz / self.block_n
        info = pylsl.StreamInfo(
            name,
            "EMG-Envelope",
            len(labels),
            out_rate,
            pylsl.cf_float32,
            _source_id("envelopes", name),
        )
        channels = info.desc().append_child("channels")
        for label in labels:
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "microvolts")
            ch.append_child_value("type", "EMG-Envelope")
        self.outlet = pylsl.StreamOutlet(info)
        self._pending_sq = np.zeros((0, len(labels)))
        self._pending_t = np.zeros(0)

    def push(self, envelope_uv: np.ndarray, timestamps: np.ndarray) -> None:
        """Feed envelope samples; whole blocks are published."""
        sq = np.concatenate((self._pending_sq, np.square(envelope_uv, dtype=float)))
        stamps = np.concatenate((self._pending_t, timestamps))
        whole = len(sq) // self.block_n * self.block_n
        if whole:
            blocks = sq[:whole].reshape(-1, self.block_n, sq.shape[1]).mean(axis=1)
            values = np.sqrt(blocks).astype(np.float32)
            self.outlet.push_chunk(values, stamps[self.block_n - 1 : whole : self.block_n])
        self._pending_sq = sq[whole:]
        self._pending_t = stamps[whole:]

    def reset(self) -> None:
        """Drop a partial block (after a gap)."""
        self._pending_sq = self._pending_sq[:0]
        self._pending_t = self._pending_t[:0]
