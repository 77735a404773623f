"""Per-channel onset detection: threshold with hysteresis, minimum on-duration, minimum gap.

The raw state is computed for all samples and channels at once: it turns on where the detection
envelope reaches ``mean + h * SD`` of rest and off where it falls below
``mean + off_ratio * h * SD``, and holds in between (and wherever quality says hold). Raw
transitions are rare, so the debouncing that follows (an onset counts once the raw state has
stayed on for ``min_on_s``; an activation ends once it has stayed off for ``min_gap_s``) walks
through them one by one.

Onset times are back-dated to where the envelope left baseline (``mean + baseline_sd * SD``),
which undoes the envelope's delay; offsets are back-dated by the envelope's group delay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from detection.config import DetectorConfig
from detection.history import History

__all__ = ["ChannelTransition", "OnsetDetector", "Thresholds", "hysteresis"]


@dataclass(frozen=True)
class ChannelTransition:
    """A confirmed onset or offset of one channel."""

    channel: int
    onset: bool
    #: Absolute sample index the event is dated to (back-dated).
    index: int
    #: Absolute sample index at which it was decided.
    decided_index: int


@dataclass(frozen=True)
class Thresholds:
    """Detection-envelope levels per channel, shape (n_channels,) each."""

    on: np.ndarray
    off: np.ndarray
    baseline: np.ndarray


@dataclass
class _Pending:
    rise_index: int | None = None
    fall_index: int | None = None


class OnsetDetector:
    """Onsets and offsets of every channel from its detection envelope.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    config : DetectorConfig
        Threshold and timing settings.
    envelope_delay_ms : float
        Group delay of the detection envelope (used to back-date offsets).
    """

    def __init__(
        self, fs_hz: float, n_channels: int, config: DetectorConfig, envelope_delay_ms: float
    ) -> None:
        self.cfg = config
        self.n_channels = n_channels
        self._on_n = max(1, round(config.min_on_s * fs_hz))
        self._gap_n = max(1, round(config.min_gap_s * fs_hz))
        self._backdate_n = max(0, round(config.max_backdate_s * fs_hz))
        self._delay_n = round(envelope_delay_ms * fs_hz / 1000.0)
        self.thresholds: Thresholds | None = None
        #: Samples of detection-envelope history the detector needs besides the current chunk.
        self.lookback_n = self._backdate_n + self._on_n + self._gap_n + 1
        self.reset()

    def reset(self) -> None:
        """Forget the state of every channel (all off)."""
        self.raw = np.zeros(self.n_channels, dtype=bool)
        #: A channel may start an activation only once it has been seen below the off
        #: threshold since the last reset: after a gap, a contraction already in progress
        #: has no onset we could date.
        self.armed = np.zeros(self.n_channels, dtype=bool)
        self.last_rise = np.full(self.n_channels, -1, dtype=np.int64)
        self._piece_first = 0
        self._piece_raw = np.zeros((0, self.n_channels), dtype=bool)
        self._raw_before = self.raw.copy()
        self._rise_before = self.last_rise.copy()
        self.confirmed = np.zeros(self.n_channels, dtype=bool)
        self._pending = [_Pending() for _ in range(self.n_channels)]
        #: Channels with a pending rise or fall (kept by _expire, which every change of a
        #: _Pending is followed by): most channels have none, and a set avoids asking them all.
        self._waiting: set[int] = set()
        #: Back-dated index of the current activation's onset, per channel (-1 when off).
        self.onset_index = np.full(self.n_channels, -1, dtype=np.int64)
        #: Dated index of each channel's last offset: a later onset is never dated before it.
        self.offset_index = np.full(self.n_channels, -1, dtype=np.int64)

    def set_thresholds(self, mean: np.ndarray, sd: np.ndarray) -> None:
        """Set thresholds from the rest statistics of the detection envelope.

        Parameters
        ----------
        mean, sd : ndarray, shape (n_channels,)
            Rest mean and standard deviation.
        """
        mean = np.asarray(mean, dtype=float)
        height = self.cfg.threshold_sd * np.asarray(sd, dtype=float)
        self.thresholds = Thresholds(
            on=mean + height,
            off=mean + self.cfg.off_ratio * height,
            baseline=mean + self.cfg.baseline_sd * np.asarray(sd, dtype=float),
        )

    def raw_rise_at(self, channel: int, index: int) -> int | None:
        """Where the raw state last turned on, if it is on at sample ``index``.

        Parameters
        ----------
        channel : int
            Channel.
        index : int
            Absolute index inside the chunk last processed.

        Returns
        -------
        int | None
            Absolute index of the rise, or None if the raw state is off at ``index``.
        """
        row = index - self._piece_first
        column = self._piece_raw[: row + 1, channel]
        if not column[-1]:
            return None
        previous = np.concatenate(([self._raw_before[channel]], column[:-1]))
        rises = np.nonzero(column & ~previous)[0]
        if len(rises):
            return self._piece_first + int(rises[-1])
        return int(self._rise_before[channel])

    def process(
        self,
        first_index: int,
        envelope: np.ndarray,
        hold: np.ndarray,
        history: History,
        disarm: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[ChannelTransition]]:
        """Detect in one chunk.

        Parameters
        ----------
        first_index : int
            Absolute index of the chunk's first sample.
        envelope : ndarray, shape (n_samples, n_channels)
            Detection envelope.
        hold : ndarray of bool, same shape
            Where the state must not change (bad samples, warm-up).
        history : History
            Detection-envelope history that already includes this chunk.
        disarm : ndarray of bool | None, same shape
            Where a channel must be seen resting again before it may start an activation (a
            channel excluded for saturation or lift-off: the filters and the mains canceller
            take a moment to recover, and what they leave behind is no onset).

        Returns
        -------
        raw : ndarray of bool, shape (n_samples, n_channels)
            Raw (hysteresis) state per sample.
        transitions : list of ChannelTransition
            Confirmed onsets and offsets decided in this chunk, in decision order.
        """
        if self.thresholds is None:
            raise RuntimeError("set_thresholds() must be called before process()")
        n = len(envelope)
        if n == 0:
            return np.zeros((0, self.n_channels), dtype=bool), []
        th = self.thresholds
        last_index = first_index + n - 1
        # Hold means nothing new is decided: an activation in progress cannot end (its state is
        # frozen), and a channel that is not active cannot start one (it is kept off, so a
        # transient at the start of a hold cannot be confirmed during it). Which of the two
        # applies depends on the confirmed state, which the debouncing below may change
        # mid-chunk; it then redoes the rest of that channel's column, so the result does not
        # depend on how the signal was cut into chunks.
        shape = (n, self.n_channels)
        raw, rise, resting = (np.empty(shape, dtype=bool) for _ in range(3))
        changed = np.zeros(self.n_channels, dtype=bool)
        quiet = _raw_states(
            np.ascontiguousarray(envelope, dtype=np.float64),
            np.ascontiguousarray(hold, dtype=bool),
            _NO_DISARM if disarm is None else np.ascontiguousarray(disarm, dtype=bool),
            th.on,
            th.off,
            self.armed,
            self.confirmed,
            self.raw,
            raw,
            rise,
            resting,
            changed,
        )
        self._piece_first, self._piece_raw = first_index, raw
        self._raw_before, self._rise_before = self.raw, self.last_rise.copy()
        if quiet:
            # Nothing rose and nothing was on (the usual case at rest): only pending
            # decisions can come due.
            transitions = []
            for c in sorted(self._waiting):
                transitions.extend(self._expire(c, last_index, history))
            return raw, transitions
        channels = sorted(self._waiting.union(np.flatnonzero(changed).tolist()))
        transitions: list[ChannelTransition] = []
        for c in channels:
            transitions.extend(
                self._debounce(
                    c,
                    first_index,
                    raw=raw,
                    rise=rise[:, c],
                    resting=resting[:, c],
                    hold=hold[:, c],
                    history=history,
                )
            )
        self.raw = raw[-1].copy()
        transitions.sort(key=lambda t: (t.decided_index, t.channel))
        return raw, transitions

    def _debounce(
        self,
        c: int,
        first_index: int,
        *,
        raw: np.ndarray,
        rise: np.ndarray,
        resting: np.ndarray,
        hold: np.ndarray,
        history: History,
    ) -> list[ChannelTransition]:
        """Walk channel ``c``'s raw transitions in one chunk; ``raw[:, c]`` may be redone."""
        pending = self._pending[c]
        n = len(raw)
        last_index = first_index + n - 1
        out: list[ChannelTransition] = []
        start = 0  # rows before it are final
        while True:
            column = raw[start:, c]
            previous = raw[start - 1, c] if start else self._raw_before[c]
            shifted = np.concatenate(([previous], column[:-1]))
            redo_from = None
            for r in (start + np.nonzero(column != shifted)[0]).tolist():
                index = first_index + r
                decided = self._expire(c, index - 1, history)
                out.extend(decided)
                redo_from = self._redo_row(decided, first_index, hold)
                if redo_from is not None:
                    break
                if raw[r, c]:
                    self.last_rise[c] = index
                    if self.confirmed[c]:
                        pending.fall_index = None  # a short silence: same activation
                    else:
                        pending.rise_index = index
                elif self.confirmed[c]:
                    pending.fall_index = index
                else:
                    pending.rise_index = None  # too short to count
            if redo_from is None:
                decided = self._expire(c, last_index, history)
                out.extend(decided)
                redo_from = self._redo_row(decided, first_index, hold)
            if redo_from is None:
                return out
            # The confirmed state changed at a row followed by a hold: the rows after it are
            # computed again with the new state.
            idle_hold = hold[redo_from:] & ~self.confirmed[c]
            raw[redo_from:, c] = hysteresis(
                rise[redo_from:, None],
                (resting[redo_from:] | idle_hold)[:, None],
                raw[redo_from - 1, c : c + 1],
            )[:, 0]
            start = redo_from

    @staticmethod
    def _redo_row(
        decided: list[ChannelTransition], first_index: int, hold: np.ndarray
    ) -> int | None:
        """The row to redo from, if a decision changed the state with a hold still to come."""
        if not decided:
            return None
        row = decided[-1].decided_index - first_index + 1
        return row if row < len(hold) and hold[row:].any() else None

    def _expire(self, c: int, up_to: int, history: History) -> list[ChannelTransition]:
        pending = self._pending[c]
        out = []
        if pending.rise_index is not None and not self.confirmed[c]:
            decided = pending.rise_index + self._on_n - 1
            if decided <= up_to:
                onset = self.backdate(c, pending.rise_index, history)
                out.append(ChannelTransition(c, True, onset, decided))
                self.confirmed[c] = True
                self.onset_index[c] = onset
                pending.rise_index = None
        if pending.fall_index is not None and self.confirmed[c]:
            decided = pending.fall_index + self._gap_n - 1
            if decided <= up_to:
                offset = max(int(self.onset_index[c]) + 1, pending.fall_index - self._delay_n)
                out.append(ChannelTransition(c, False, offset, decided))
                self.confirmed[c] = False
                self.onset_index[c] = -1
                self.offset_index[c] = offset
                pending.fall_index = None
        if pending.rise_index is None and pending.fall_index is None:
            self._waiting.discard(c)
        else:
            self._waiting.add(c)
        return out

    def backdate(self, channel: int, rise_index: int, history: History) -> int:
        """Index where the envelope left baseline before a rise.

        Parameters
        ----------
        channel : int
            Channel.
        rise_index : int
            Absolute index where the envelope crossed the on threshold.
        history : History
            Detection-envelope history holding ``rise_index``.

        Returns
        -------
        int
            The back-dated onset index: never more than ``max_backdate_s`` before the rise, and
            never before the channel's previous offset.
        """
        assert self.thresholds is not None
        earliest = max(rise_index - self._backdate_n, int(self.offset_index[channel]) + 1)
        start = max(history.start, min(earliest, rise_index))
        stretch = history.get(start, rise_index + 1, channel)
        at_baseline = np.nonzero(stretch <= self.thresholds.baseline[channel])[0]
        if len(at_baseline):
            return start + int(at_baseline[-1]) + 1
        return max(start, rise_index - self._delay_n)


def hysteresis(rise: np.ndarray, fall: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """A latch per column: on at ``rise``, off at ``fall``, else as before (``initial`` first).

    Parameters
    ----------
    rise, fall : ndarray of bool, shape (n_samples, n_channels)
        Where the state turns on / off (``rise`` wins where both are set).
    initial : ndarray of bool, shape (n_channels,)
        The state before the first sample.

    Returns
    -------
    ndarray of bool, shape (n_samples, n_channels)
    """
    out = np.empty(rise.shape, dtype=bool)
    _latch(
        np.ascontiguousarray(rise),
        np.ascontiguousarray(fall),
        np.array(initial, dtype=bool),  # a copy: the kernel walks it forward
        out,
    )
    return out


@njit(cache=True)
def _latch(rise, fall, state, out):
    for i in range(rise.shape[0]):
        for ch in range(rise.shape[1]):
            if rise[i, ch]:
                state[ch] = True
            elif fall[i, ch]:
                state[ch] = False
            out[i, ch] = state[ch]


_NO_DISARM = np.zeros((0, 0), dtype=bool)


@njit(cache=True)
def _raw_states(  # noqa: PLR0917
    envelope, hold, disarm, on, off, armed, confirmed, raw_before, raw, rise, resting, changed
):
    """The raw (hysteresis) state of every sample, with the rises and rests that drive it.

    ``armed`` is advanced in place (a channel arms once seen resting); ``changed`` marks the
    channels whose raw state changes in the chunk. Returns True for a quiet chunk: nothing at
    or above the on threshold and nothing on before it.
    """
    quiet = not raw_before.any()
    state = raw_before.copy()
    check_disarm = disarm.shape[0] > 0
    for i in range(envelope.shape[0]):
        for ch in range(envelope.shape[1]):
            held = hold[i, ch]
            if check_disarm and disarm[i, ch]:
                armed[ch] = False
            above = envelope[i, ch] >= on[ch]
            rest = envelope[i, ch] < off[ch] and not held
            quiet = quiet and not above
            armed[ch] = armed[ch] or rest
            up = above and not held and armed[ch]
            if up:
                now = True
            elif rest or (held and not confirmed[ch]):
                now = False
            else:
                now = state[ch]
            changed[ch] = changed[ch] or now != state[ch]
            state[ch] = now
            raw[i, ch] = now
            rise[i, ch] = up
            resting[i, ch] = rest
    return quiet
