"""The rest baseline of a real session: found in quiet stretches, kept up to date in them.

Everything here works on **blocks** of ``block_s`` (a quarter second by default) counted from the
pipeline's start or its last reset, so the result does not depend on how the stream was chunked.
For each block and channel the pipeline hands over the amplitude and detection envelopes, which
samples were usable (no quality hold, filters settled) and which were busy (the onset detector's
state on). A block's **level** is the median of its amplitude envelope: ECG beats and twitches
fill a few per cent of a block and leave the median alone, a contraction lifts it many times.

- :class:`RestCalibrator`, automatic (a session's start): a block is rest when both channels of
  its pair are usable and within ``quiet_factor`` of the quietest level seen on that channel so
  far (a level seen in the last half of ``rest_s`` or shared by that many blocks: one old
  block of a fading electrode is no rest level) and not below it by as much; blocks below
  ``min_rest_uv`` never count; rest blocks are collected as they come, wherever they fall,
  until every pair has ``rest_s`` of them. A patient who is moving when monitoring starts is
  calibrated from the rests between movements. Later, quieter blocks push out blocks that turn
  out not to be rest.
- :class:`RestCalibrator`, explicit (the calibration wizard's "relax now"): the next ``rest_s``
  are rest; movement in them (a block above ``max_rest_ratio`` x the quietest one) or too few
  usable samples fails, and it measures again.
- :class:`AdaptiveBaseline`: after calibration, each channel's rest mean and SD follow a noise
  floor that changes (impedance settling, temperature): a block counts only when the whole pair
  was quiet for ``quiet_before_s`` before it and stays quiet for ``quiet_after_s`` after it, and
  its level is rest-like; the estimate moves with a time constant and never faster than
  ``max_rate_per_s``. It never adapts during activity.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from detection.config import BaselineConfig, CalibrationConfig

__all__ = ["AdaptiveBaseline", "BlockAccumulator", "RestBlock", "RestCalibrator", "RestStats"]

#: A block counts only when at least this share of its samples is usable on the channel.
MIN_USABLE_SHARE = 0.9
#: An explicit rest fails when less than this share of it (after warm-up) was usable.
MIN_USABLE_REST_FRACTION = 0.5
#: A channel whose quietest level falls below 1/RELAXED_DROP of what it was had been busy all
#: along (a patient moving when monitoring started).
RELAXED_DROP = 3.0
#: A channel's quietest level is one that this share of ``rest_s`` of blocks lie within
#: ``quiet_factor`` of.
CONFIRM_SHARE = 0.5


@dataclass(frozen=True)
class RestBlock:
    """One block's statistics, per channel (arrays of shape (n_channels,))."""

    #: Absolute index of the block's last sample.
    end_index: int
    #: Samples in the block, and how many were usable on each channel.
    size: int
    usable_n: np.ndarray
    #: Median of the amplitude envelope over the usable samples (NaN without any).
    level_uv: np.ndarray
    #: Sums over the usable samples: amplitude, its square, detection envelope, its square.
    amp_sum: np.ndarray
    amp_sq: np.ndarray
    det_sum: np.ndarray
    det_sq: np.ndarray
    #: The detector's state was on somewhere in the block.
    busy: np.ndarray
    #: A level below this is no rest: the electrode reads the amplifier's own noise only.
    floor_uv: float = 0.0

    @property
    def usable(self) -> np.ndarray:
        """Channels with enough usable samples for the block to count, and skin contact."""
        with np.errstate(invalid="ignore"):
            contact = ~(self.level_uv < self.floor_uv)
        return (self.usable_n >= MIN_USABLE_SHARE * self.size) & contact


@dataclass(frozen=True)
class RestStats:
    """Rest statistics per channel (arrays of shape (n_channels,))."""

    amp_mean: np.ndarray
    amp_sd: np.ndarray
    det_mean: np.ndarray
    det_sd: np.ndarray


def _stats(blocks: list[RestBlock], channels: np.ndarray, n: int) -> RestStats:
    """Pooled statistics of some blocks, each channel over the blocks given for it."""
    sums = {k: np.zeros(n) for k in ("n", "amp_sum", "amp_sq", "det_sum", "det_sq")}
    for block, use in zip(blocks, channels, strict=True):
        sums["n"] += np.where(use, block.usable_n, 0)
        for key in ("amp_sum", "amp_sq", "det_sum", "det_sq"):
            sums[key] += np.where(use, getattr(block, key), 0.0)
    count = np.maximum(sums["n"], 1)

    def mean_sd(total: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = total / count
        var = np.maximum(squares / count - mean**2, 0.0)
        return mean, np.maximum(np.sqrt(var), 1e-6)

    amp_mean, amp_sd = mean_sd(sums["amp_sum"], sums["amp_sq"])
    det_mean, det_sd = mean_sd(sums["det_sum"], sums["det_sq"])
    return RestStats(amp_mean, amp_sd, det_mean, det_sd)


class BlockAccumulator:
    """Cut per-sample envelopes into blocks of ``block_n`` samples and summarise each.

    Parameters
    ----------
    block_n : int
        Samples per block.
    n_channels : int
        Number of channels.
    floor_uv : float
        A block whose level is below this does not count as rest: an electrode without skin
        contact reads quieter than any rest, and rest judged against it would never be found
        again. (A block's level, not each sample: the ECG canceller can take an envelope
        sample near zero.)
    """

    def __init__(self, block_n: int, n_channels: int, floor_uv: float = 0.0) -> None:
        self.block_n = block_n
        self.floor_uv = floor_uv
        self.n_channels = n_channels
        self._amp = np.zeros((block_n, n_channels))
        self._det = np.zeros((block_n, n_channels))
        self._usable = np.zeros((block_n, n_channels), dtype=bool)
        self._busy = np.zeros((block_n, n_channels), dtype=bool)
        self._fill = 0

    @property
    def room(self) -> int:
        """Samples until the current block is complete."""
        return self.block_n - self._fill

    def reset(self) -> None:
        """Drop the partial block (after a gap: the next block starts with the next sample)."""
        self._fill = 0

    def push(
        self,
        first_index: int,
        amp: np.ndarray,
        det: np.ndarray,
        usable: np.ndarray,
        busy: np.ndarray | None,
    ) -> list[RestBlock]:
        """Add a chunk; return the blocks it completed.

        Parameters
        ----------
        first_index : int
            Absolute index of the chunk's first sample.
        amp, det : ndarray, shape (n_samples, n_channels)
            Amplitude and detection envelopes.
        usable : ndarray of bool, same shape
            Samples that count (no quality hold, filters settled).
        busy : ndarray of bool | None
            The detector's state (None: never busy).
        """
        out = []
        start, n = 0, len(amp)
        while start < n:
            take = min(n - start, self.block_n - self._fill)
            rows = slice(self._fill, self._fill + take)
            self._amp[rows] = amp[start : start + take]
            self._det[rows] = det[start : start + take]
            self._usable[rows] = usable[start : start + take]
            self._busy[rows] = False if busy is None else busy[start : start + take]
            self._fill += take
            start += take
            if self._fill == self.block_n:
                out.append(self._summary(first_index + start - 1))
                self._fill = 0
        return out

    def _summary(self, end_index: int) -> RestBlock:
        usable = self._usable
        count = usable.sum(axis=0)
        level = np.full(self.n_channels, np.nan)
        if count.all():
            level = np.median(self._amp, axis=0) if usable.all() else level
        if np.isnan(level).any():
            for ch in np.flatnonzero(count):
                level[ch] = np.median(self._amp[usable[:, ch], ch])
        amp = np.where(usable, self._amp, 0.0)
        det = np.where(usable, self._det, 0.0)
        return RestBlock(
            end_index=end_index,
            size=self.block_n,
            usable_n=count,
            level_uv=level,
            amp_sum=amp.sum(axis=0),
            amp_sq=(amp**2).sum(axis=0),
            det_sum=det.sum(axis=0),
            det_sq=(det**2).sum(axis=0),
            busy=self._busy.any(axis=0),
            floor_uv=self.floor_uv,
        )


def _pair_index(pairs: list[tuple[int, int]], n_channels: int) -> np.ndarray:
    """The pair of each channel (channels in no pair form their own group)."""
    group = np.arange(n_channels) + len(pairs)
    for k, (left, right) in enumerate(pairs):
        group[[left, right]] = k
    return group


class RestCalibrator:
    """Collect a rest baseline, automatically from quiet stretches or from an explicit rest.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of channels.
    pairs : list of (int, int)
        Channel indices of each homologous pair: a block is rest only when its whole pair rests.
    config : CalibrationConfig
        ``rest_s``, ``quiet_factor``, ``max_rest_ratio``, ``give_up_s``.
    explicit : bool
        The next ``rest_s`` are declared rest (the wizard); otherwise rest is found.
    """

    def __init__(
        self,
        fs_hz: float,
        n_channels: int,
        pairs: list[tuple[int, int]],
        config: CalibrationConfig,
        *,
        explicit: bool = False,
    ) -> None:
        self.cfg = config
        self.explicit = explicit
        self.block_s = config.block_s
        self.n_channels = n_channels
        self._group = _pair_index(pairs, n_channels)
        self._needed = max(1, round(config.rest_s / config.block_s))
        # Enough blocks to choose from, without keeping a long session that never rests.
        self._blocks: deque[RestBlock] = deque(maxlen=max(4 * self._needed, 480))
        self._quietest = np.full(n_channels, np.inf)
        self._confirm_n = max(1, round(CONFIRM_SHARE * self._needed))
        self.seen_s = 0.0
        self.gave_up = False
        del fs_hz  # blocks carry their own sizes

    @property
    def quietest_uv(self) -> np.ndarray:
        """The quietest block level seen on each channel (inf before any)."""
        return self._quietest.copy()

    def reset(self) -> None:
        """Start collecting again (the explicit rest restarts; found rest is kept)."""
        if self.explicit:
            self._blocks.clear()
            self._quietest[:] = np.inf
            self.seen_s = 0.0

    def add(self, block: RestBlock) -> np.ndarray:
        """Take one block into account.

        Returns
        -------
        ndarray of int
            Channels seen relaxed for the first time: their quietest level fell far below what
            it was (they had been busy since the start).
        """
        self.seen_s += self.block_s
        relaxed = np.zeros(0, dtype=np.int64)
        if not self.explicit and not block.usable.any():
            return relaxed
        self._blocks.append(block)
        if not self.explicit:
            quietest = self._confirmed_quietest()
            with np.errstate(invalid="ignore"):
                dropped = np.isfinite(self._quietest) & (quietest * RELAXED_DROP < self._quietest)
            relaxed = np.flatnonzero(dropped)
            self._quietest = quietest
        return relaxed

    def _confirmed_quietest(self) -> np.ndarray:
        """Per channel, the lowest level that recurs (or was just seen).

        Recurs: CONFIRM_SHARE of ``rest_s`` of blocks lie within ``quiet_factor`` of it; just
        seen: in the last CONFIRM_SHARE of ``rest_s``.

        One quiet block long ago is not enough: an electrode that fades out for a second (lifted
        during a contraction) reads far below any rest, and rest judged against it would never
        be found again. Rest recurs; such a dip does not. A quiet block just seen counts at
        once, so a patient who rests briefly between movements is calibrated from those rests.
        """
        blocks = self._blocks
        levels = np.array([np.where(b.usable, b.level_uv, np.inf) for b in blocks])
        ends = np.array([b.end_index for b in blocks])
        recent = ends > ends[-1] - self._confirm_n * blocks[-1].size
        out = np.full(self.n_channels, np.inf)
        for ch in range(self.n_channels):
            order = np.argsort(levels[:, ch], kind="stable")
            column = levels[order, ch]
            finite = np.isfinite(column)
            reach = np.searchsorted(column, self.cfg.quiet_factor * column, side="right")
            confirmed = reach - np.arange(len(column)) >= self._confirm_n
            ok = np.flatnonzero(finite & (confirmed | recent[order]))
            if len(ok):
                out[ch] = column[ok[0]]
        return out

    def _rest_mask(self, *, whole_pair: bool = True) -> np.ndarray:
        """Per block and channel: rest (the whole pair rest-like and usable) or not."""
        if not self._blocks:
            return np.zeros((0, self.n_channels), dtype=bool)
        levels = np.array([b.level_uv for b in self._blocks])
        usable = np.array([b.usable for b in self._blocks])
        with np.errstate(invalid="ignore"):
            quiet = (
                usable
                & (levels <= self.cfg.quiet_factor * self._quietest)
                & (levels * self.cfg.quiet_factor >= self._quietest)
            )
        if not whole_pair:
            return quiet
        # A pair rests only when both of its channels do.
        pair_ok = np.ones_like(quiet)
        for group in np.unique(self._group):
            members = self._group == group
            pair_ok[:, members] = quiet[:, members].all(axis=1, keepdims=True)
        return pair_ok

    @property
    def collected_s(self) -> float:
        """Rest collected so far: the least of any channel (seconds)."""
        if self.explicit:
            return min(self.seen_s, self.cfg.rest_s)
        mask = self._rest_mask()
        if not len(mask):
            return 0.0
        return float(mask.sum(axis=0).min()) * self.block_s

    @property
    def ready(self) -> bool:
        """Enough rest collected."""
        if self.explicit:
            return len(self._blocks) >= self._needed
        mask = self._rest_mask()
        return bool(len(mask)) and int(mask.sum(axis=0).min()) >= self._needed

    def lacking(self) -> np.ndarray:
        """Channels that do not have enough rest yet.

        Those without usable rest of their own; else every channel of a pair that never rests
        as a whole.
        """
        for whole_pair in (False, True):
            mask = self._rest_mask(whole_pair=whole_pair)
            have = mask.sum(axis=0) if len(mask) else np.zeros(self.n_channels)
            short = np.flatnonzero(have < self._needed)
            if len(short):
                return short
        return short

    def result(self) -> RestStats:
        """Return the rest statistics of the collected blocks (call when :attr:`ready`)."""
        blocks = list(self._blocks)
        if self.explicit:
            return _stats(blocks, np.array([b.usable_n > 0 for b in blocks]), self.n_channels)
        mask = self._rest_mask()
        # The most recent rest blocks: the patient's rest as it is now.
        keep = np.zeros_like(mask)
        for ch in range(self.n_channels):
            rows = np.flatnonzero(mask[:, ch])[-self._needed :]
            keep[rows, ch] = True
        return _stats(blocks, keep, self.n_channels)

    def explicit_problem(self) -> tuple[str, list[int]] | None:
        """Why an explicit rest cannot be used: (reason, channels), or None when it can."""
        blocks = list(self._blocks)
        usable_n = np.sum([b.usable_n for b in blocks], axis=0)
        total = sum(b.size for b in blocks)
        poor = np.flatnonzero(usable_n < MIN_USABLE_REST_FRACTION * total)
        levels = np.array([b.level_uv for b in blocks])
        with np.errstate(all="ignore"):
            silent = np.flatnonzero(np.nanmedian(levels, axis=0) < blocks[0].floor_uv)
        if len(silent):
            return "no signal (an electrode without skin contact?)", silent.tolist()
        if len(poor):
            return "too few usable rest samples", poor.tolist()
        levels = np.array([np.where(b.usable, b.level_uv, np.nan) for b in blocks])
        with np.errstate(all="ignore"):
            low, high = np.nanmin(levels, axis=0), np.nanmax(levels, axis=0)
            restless = np.flatnonzero(high > self.cfg.max_rest_ratio * low)
        if len(restless):
            return "movement during rest", restless.tolist()
        return None


class AdaptiveBaseline:
    """Each channel's rest mean and SD, kept up to date in the stretches where its pair rests.

    Parameters
    ----------
    n_channels : int
        Number of channels.
    pairs : list of (int, int)
        Channel indices of each homologous pair.
    block_s : float
        Length of a block.
    config : BaselineConfig
        Time constant, quiet times, largest rate of change, rest-like level.
    initial : RestStats
        The calibration's statistics.
    """

    def __init__(
        self,
        n_channels: int,
        pairs: list[tuple[int, int]],
        block_s: float,
        config: BaselineConfig,
        initial: RestStats,
    ) -> None:
        self.cfg = config
        self.n_channels = n_channels
        self._group = _pair_index(pairs, n_channels)
        self._alpha = min(1.0, block_s / config.time_constant_s)
        self._step = config.max_rate_per_s * block_s
        self._before_n = round(config.quiet_before_s / block_s)
        self._after_n = round(config.quiet_after_s / block_s)
        self.stats = initial
        self._m2_amp = initial.amp_sd**2 + initial.amp_mean**2
        self._m2_det = initial.det_sd**2 + initial.det_mean**2
        self._quiet_run = np.zeros(n_channels, dtype=np.int64)
        self._pending: deque[RestBlock] = deque()

    def restart(self) -> None:
        """Forget the quiet run (after a gap): the pair must be seen quiet again first."""
        self._quiet_run[:] = 0
        self._pending.clear()

    def add(self, block: RestBlock) -> bool:
        """Take one block into account; True when the statistics changed."""
        # Rest-like by level, whatever the detector says: when the floor has risen, noise
        # crosses a threshold that lags behind it, and waiting for the detector to be quiet
        # would stop the baseline from ever catching up. A contraction lifts the level far
        # above the floor (and the quiet time around a block drops its ramps).
        quiet = block.usable.copy()
        with np.errstate(invalid="ignore"):
            quiet &= block.level_uv <= self.cfg.quiet_factor * self.stats.amp_mean
        for group in np.unique(self._group):
            members = self._group == group
            quiet[members] = quiet[members].all()
        self._quiet_run = np.where(quiet, self._quiet_run + 1, 0)
        self._pending.append(block)
        # A pending block is committed once the pair has been quiet from quiet_before_s before
        # it to quiet_after_s after it; a busy block in between drops it.
        span = self._before_n + self._after_n + 1
        while len(self._pending) > self._after_n + 1:
            self._pending.popleft()
        if len(self._pending) < self._after_n + 1:
            return False
        candidate = self._pending[0]
        use = self._quiet_run >= span
        if not use.any():
            return False
        self._update(candidate, use)
        return True

    def _update(self, block: RestBlock, use: np.ndarray) -> None:
        count = np.maximum(block.usable_n, 1)
        a = self._alpha
        old = self.stats
        m1_amp = old.amp_mean + a * (block.amp_sum / count - old.amp_mean)
        m1_det = old.det_mean + a * (block.det_sum / count - old.det_mean)
        m2_amp = self._m2_amp + a * (block.amp_sq / count - self._m2_amp)
        m2_det = self._m2_det + a * (block.det_sq / count - self._m2_det)
        self._m2_amp = np.where(use, m2_amp, self._m2_amp)
        self._m2_det = np.where(use, m2_det, self._m2_det)
        sd_amp = np.sqrt(np.maximum(self._m2_amp - m1_amp**2, 1e-12))
        sd_det = np.sqrt(np.maximum(self._m2_det - m1_det**2, 1e-12))

        def bounded(new: np.ndarray, before: np.ndarray) -> np.ndarray:
            limited = np.clip(new, before * (1 - self._step), before * (1 + self._step))
            return np.where(use, limited, before)

        self.stats = RestStats(
            amp_mean=bounded(m1_amp, old.amp_mean),
            amp_sd=bounded(sd_amp, old.amp_sd),
            det_mean=bounded(m1_det, old.det_mean),
            det_sd=bounded(sd_det, old.det_sd),
        )
        # Keep the second moments consistent with the bounded estimates.
        self._m2_amp = np.where(use, self.stats.amp_sd**2 + self.stats.amp_mean**2, self._m2_amp)
        self._m2_det = np.where(use, self.stats.det_sd**2 + self.stats.det_mean**2, self._m2_det)
