"""Mirror logic per homologous pair: trials, the active side, mirror calls, ratios and grades.

A pair tracker turns the confirmed onsets and offsets of its two channels into the events of
DESIGN.md. It is driven in decision order by the pipeline and asks the pipeline (through a
:class:`PairContext`) for timestamps, envelope means and quality flags.

Rules (the numbers are config values; see configs/default.toml):

- Active side: the cued side when a cue is in force; otherwise the side that rises first,
  unless the other side is also above threshold with a larger normalised level (then that one).
- Mirror: the other side's onset falls within [active onset - pre_onset_s,
  active offset + tail_s] and is confirmed (it stayed on for min_on_s).
- Ratio: baseline-subtracted envelope of the mirror side over the active window divided by
  that of the active side; ``ratio_norm`` divides each side by its own MVC first. The rest
  baseline is subtracted in power (RMS envelope squared), because noise adds to EMG in power,
  not in amplitude: subtracting amplitudes under-states a 10 uV mirror on 3 uV of noise by 25 %.
- Lag: ``mirror_onset.lag_ms`` is the difference of the detected onsets, known at once. A weak
  signal is detected later on the same ramp than a strong one (+20 ms at 10 dB SNR on a 50 ms
  ramp), so the trial's ``lag_ms`` is measured again, once half a second of both sides is in:
  the delay between the times each side's envelope reaches half of its own early level, which
  does not depend on how strong each side is.
- Bimanual: without a cue, both sides strongly active (MVC rule, or ratio and threshold rule);
  a bimanual trial is not called a mirror.
- A channel excluded by quality checks during the trial makes no mirror call; the trial says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from detection import events
from detection.config import GradingConfig, MirrorConfig
from detection.onset import ChannelTransition
from detection.quality import EXCLUDING_FLAGS, SILENT_FLAGS

__all__ = ["CueBook", "PairContext", "PairTracker", "grade_for"]

log = logging.getLogger(__name__)

SIDES = ("left", "right")
#: The trial's lag is measured over this much of each side's rise (s).
LAG_WINDOW_S = 0.5


class PairContext(Protocol):
    """What a pair tracker needs to know about the stream."""

    def t(self, index: int) -> float:
        """Timestamp of an absolute sample index."""
        ...

    def cumulative_power(self, channel: int, index: int) -> float:
        """Sum of the squared amplitude envelope from the start up to and including ``index``."""
        ...

    def rest_power(self, channel: int) -> float:
        """Mean squared amplitude envelope at rest."""
        ...

    def rest_sd_uv(self, channel: int) -> float:
        """Rest SD of the amplitude envelope."""
        ...

    def threshold_height_uv(self, channel: int) -> float:
        """Height of the on threshold above the rest mean, in amplitude-envelope units."""
        ...

    def mvc_uv(self, channel: int) -> float | None:
        """MVC level, if calibrated."""
        ...

    def flags_since(self, channel: int, index: int, until: int) -> list[str]:
        """Quality flags active at some sample from ``index`` to ``until`` (inclusive)."""
        ...

    def raw_rise_at(self, channel: int, index: int) -> int | None:
        """Where the channel's raw state last turned on, if it is on at sample ``index``."""
        ...

    def half_level_time(self, channel: int, onset: int, stop: int) -> float | None:
        """When the envelope, rising near ``onset``, reaches half its level up to ``stop``."""
        ...

    def backdate(self, channel: int, rise_index: int) -> int:
        """Back-dated onset for a raw rise."""
        ...


def _excess(power: float, rest_power: float) -> float:
    """Envelope level above the rest baseline, with the baseline removed in power."""
    return max(0.0, power - rest_power) ** 0.5


def _mvc_span(channel: int, ctx: PairContext) -> float | None:
    """The MVC level above rest (same power subtraction), or None without an MVC."""
    mvc = ctx.mvc_uv(channel)
    if mvc is None:
        return None
    span = _excess(mvc * mvc, ctx.rest_power(channel))
    return span if span > 0 else None


def grade_for(ratio: float, cut_points: tuple[float, ...]) -> int:
    """Provisional grade 1-4 of a mirror movement from its ratio.

    Parameters
    ----------
    ratio : float
        Normalised ratio when available, else raw.
    cut_points : tuple of float
        Upper bounds of grades 1, 2 and 3.

    Returns
    -------
    int
        1 to 4 (0 is for trials without mirror activity and is not decided here).
    """
    for grade, cut in enumerate(cut_points, start=1):
        if ratio <= cut:
            return grade
    return len(cut_points) + 1


@dataclass
class _Cue:
    t: float
    side: str  # "left", "right" or "rest"
    pair: str | None
    last_use_t: float


class CueBook:
    """Cues received, by time; a cue stays in force while its trials continue.

    Parameters
    ----------
    window_s : float
        A cue decides the active side of onsets up to this long after it (or after the end of
        the last activation it decided).
    rest_grace_s : float
        A rest cue takes effect this long after it appears: people need a reaction time to
        stop, and a movement begun in that time still belongs to the cue before.
    """

    _KEEP = 64

    def __init__(self, window_s: float, rest_grace_s: float = 0.5) -> None:
        self.window_s = window_s
        self.rest_grace_s = rest_grace_s
        self._cues: list[_Cue] = []

    def add(self, t: float, side: str, pair: str | None) -> None:
        """Record a cue (``side`` is ``"left"``, ``"right"`` or ``"rest"``)."""
        self._cues.append(_Cue(t, side, pair, t))
        self._cues.sort(key=lambda c: c.t)
        del self._cues[: -self._KEEP]

    def lookup(self, pair: str, t: float) -> _Cue | None:
        """The cue in force for a pair at time ``t``, if any."""
        for cue in reversed(self._cues):
            if cue.t > t or (cue.pair is not None and cue.pair != pair):
                continue
            if cue.side == "rest" and t - cue.t < self.rest_grace_s:
                continue
            return cue if t - cue.last_use_t <= self.window_s else None
        return None

    def clear(self) -> None:
        """Forget all cues."""
        self._cues.clear()


@dataclass
class _Trial:
    active: int  # 0 left, 1 right
    onset_index: int
    onset_t: float
    onset_cumulative: tuple[float, float]
    cue: _Cue | None
    quality: set[str] = field(default_factory=set)
    offset_index: int | None = None
    offset_t: float | None = None
    offset_cumulative: tuple[float, float] | None = None
    finalize_at: int | None = None
    first_lag_ms: float | None = None
    mirror_onset_index: int | None = None
    lag_probe_at: int | None = None
    lag_refined: bool = False

    @property
    def mirror_side(self) -> int:
        return 1 - self.active


class PairTracker:
    """Trials and mirror calls of one homologous pair.

    Parameters
    ----------
    name : str
        Pair name (e.g. ``"FDI"``).
    channels : tuple of int
        Channel indices of the left and right side.
    fs_hz : float
        Sampling rate.
    mirror : MirrorConfig
        Mirror settings.
    grading : GradingConfig
        Grade cut points.
    cues : CueBook
        Shared cue book.
    """

    def __init__(
        self,
        name: str,
        channels: tuple[int, int],
        fs_hz: float,
        *,
        mirror: MirrorConfig,
        grading: GradingConfig,
        cues: CueBook,
    ) -> None:
        self.name = name
        self.channels = channels
        self.cfg = mirror
        self.grading = grading
        self.cues = cues
        self._tail_n = round(mirror.tail_s * fs_hz)
        self._pre_n = round(mirror.pre_onset_s * fs_hz)
        self._min_active_n = round(mirror.min_active_s * fs_hz)
        self._lag_window_n = round(LAG_WINDOW_S * fs_hz)
        self.reset()

    def reset(self) -> None:
        """Drop any trial in progress (after a gap or recalibration)."""
        self.trial: _Trial | None = None
        self._mirror_open: int | None = None  # active side of an unfinished mirror_onset
        #: Back-dated onset of each side's confirmed activation (None when off), kept from the
        #: transitions themselves so it is right at every decision, whatever the chunking.
        self._onset_of: list[int | None] = [None, None]

    def side_of(self, channel: int) -> int:
        """0 for the left channel, 1 for the right one."""
        return self.channels.index(channel)

    # ---- driving ---------------------------------------------------------------------------

    def on_transition(self, tr: ChannelTransition, ctx: PairContext) -> list[tuple[dict, int]]:
        """Handle one confirmed onset or offset of one of the pair's channels.

        Returns
        -------
        list of (payload, decided_index)
            Events decided by it.
        """
        out: list[tuple[dict, int]] = []
        side = self.side_of(tr.channel)
        self._onset_of[side] = tr.index if tr.onset else None
        trial = self.trial
        if tr.onset:
            if trial is None:
                self._open_from(side, tr, ctx, out)
            elif side == trial.mirror_side:
                self._mirror_on(tr.index, tr.decided_index, ctx, out)
            elif trial.offset_index is not None:
                # The active side moves again before the tail is over: a new trial.
                self._finalize(tr.decided_index, ctx, out)
                self._open_from(side, tr, ctx, out)
            return out
        if trial is not None and side == trial.active and trial.offset_index is None:
            self._close_active(tr, ctx, out)
        elif self._mirror_open is not None and side == 1 - self._mirror_open:
            payload = events.mirror_offset(
                self.name, SIDES[side], SIDES[self._mirror_open], ctx.t(tr.index)
            )
            out.append((payload, tr.decided_index))
            self._mirror_open = None
        return out

    def advance(self, up_to: int, ctx: PairContext) -> list[tuple[dict, int]]:
        """Refine the lag and publish a trial whose tail has ended, up to sample ``up_to``."""
        out: list[tuple[dict, int]] = []
        trial = self.trial
        if trial is None:
            return out
        if trial.lag_probe_at is not None and trial.lag_probe_at <= up_to:
            self._refine_lag(trial.lag_probe_at, ctx)
        if trial.finalize_at is not None and trial.finalize_at <= up_to:
            self._finalize(trial.finalize_at, ctx, out)
        return out

    def _refine_lag(self, stop: int, ctx: PairContext) -> None:
        trial = self.trial
        assert trial is not None
        trial.lag_probe_at = None
        if trial.lag_refined or trial.mirror_onset_index is None:
            return
        trial.lag_refined = True
        a_ch, m_ch = self.channels[trial.active], self.channels[trial.mirror_side]
        active_t = ctx.half_level_time(a_ch, trial.onset_index, stop)
        mirror_t = ctx.half_level_time(m_ch, trial.mirror_onset_index, stop)
        if active_t is not None and mirror_t is not None:
            trial.first_lag_ms = 1000.0 * (mirror_t - active_t)

    # ---- trial life ------------------------------------------------------------------------

    def _open_from(
        self, side: int, tr: ChannelTransition, ctx: PairContext, out: list[tuple[dict, int]]
    ) -> None:
        cue = self.cues.lookup(self.name, ctx.t(tr.index))
        quality: set[str] = set()
        if cue is not None and cue.side in SIDES:
            active = SIDES.index(cue.side)
            if side != active:
                return  # the uncued side moved first; the trial opens when the cued side moves
            onset = tr.index
        else:
            if cue is not None:
                quality.add("uncued")  # moved during a rest cue
            active, onset = self._first_and_larger(side, tr, ctx)
        a_ch, m_ch = self.channels[active], self.channels[1 - active]
        trial = _Trial(
            active=active,
            onset_index=onset,
            onset_t=ctx.t(onset),
            onset_cumulative=(
                ctx.cumulative_power(a_ch, onset - 1),
                ctx.cumulative_power(m_ch, onset - 1),
            ),
            cue=cue if cue is not None and cue.side in SIDES else None,
            quality=quality,
        )
        self.trial = trial
        out.append(
            (events.activation_onset(self.name, SIDES[active], trial.onset_t), tr.decided_index)
        )
        mirror_onset = self._onset_of[1 - active]
        if mirror_onset is not None:
            if mirror_onset >= onset - self._pre_n:
                self._mirror_on(mirror_onset, tr.decided_index, ctx, out)
            else:
                trial.quality.add("mirror_side_active_before")

    def _first_and_larger(
        self, side: int, tr: ChannelTransition, ctx: PairContext
    ) -> tuple[int, int]:
        other = 1 - side
        other_ch = self.channels[other]
        other_onset = self._onset_of[other]
        if other_onset is not None and other_onset < tr.index - self._pre_n:
            # The other side was already on before this movement began: not a joint start,
            # so the side that moves now is the active one (the trial notes the other side).
            return side, tr.index
        if other_onset is None:
            other_rise = ctx.raw_rise_at(other_ch, tr.decided_index)
            if other_rise is None:
                return side, tr.index
            other_onset = ctx.backdate(other_ch, other_rise)
        start = min(tr.index, other_onset)
        stop = tr.decided_index
        if stop <= start:
            return side, tr.index
        mine = self._normalised_level(self.channels[side], start, stop, ctx)
        theirs = self._normalised_level(other_ch, start, stop, ctx)
        if theirs > mine:
            return other, other_onset
        return side, tr.index

    def _normalised_level(self, channel: int, start: int, stop: int, ctx: PairContext) -> float:
        power = (ctx.cumulative_power(channel, stop) - ctx.cumulative_power(channel, start - 1)) / (
            stop - start + 1
        )
        excess = _excess(power, ctx.rest_power(channel))
        span = _mvc_span(channel, ctx)
        return excess / (span if span is not None else ctx.rest_sd_uv(channel))

    def _mirror_on(
        self, index: int, decided: int, ctx: PairContext, out: list[tuple[dict, int]]
    ) -> None:
        trial = self.trial
        assert trial is not None
        if index < trial.onset_index - self._pre_n:
            trial.quality.add("mirror_side_active_before")
            return
        if trial.offset_index is not None and index > trial.offset_index + self._tail_n:
            return
        m_ch = self.channels[trial.mirror_side]
        if EXCLUDING_FLAGS.intersection(ctx.flags_since(m_ch, index, decided)):
            return  # an excluded channel never makes a mirror call; the trial will say why
        t = ctx.t(index)
        lag_ms = 1000.0 * (t - trial.onset_t)
        if trial.first_lag_ms is None:
            trial.first_lag_ms = lag_ms
            trial.mirror_onset_index = index
            trial.lag_probe_at = max(trial.onset_index, index) + self._lag_window_n
        payload = events.mirror_onset(
            self.name, SIDES[trial.mirror_side], SIDES[trial.active], t, lag_ms
        )
        out.append((payload, decided))
        self._mirror_open = trial.active

    def _close_active(
        self, tr: ChannelTransition, ctx: PairContext, out: list[tuple[dict, int]]
    ) -> None:
        trial = self.trial
        assert trial is not None
        a_ch, m_ch = self.channels[trial.active], self.channels[trial.mirror_side]
        trial.offset_index = tr.index
        trial.offset_t = ctx.t(tr.index)
        trial.offset_cumulative = (
            ctx.cumulative_power(a_ch, tr.index),
            ctx.cumulative_power(m_ch, tr.index),
        )
        trial.finalize_at = max(tr.decided_index, tr.index + self._tail_n)
        if trial.cue is not None:
            trial.cue.last_use_t = max(trial.cue.last_use_t, trial.offset_t)
        out.append(
            (
                events.activation_offset(self.name, SIDES[trial.active], trial.offset_t),
                tr.decided_index,
            )
        )

    def _finalize(self, decided: int, ctx: PairContext, out: list[tuple[dict, int]]) -> None:
        trial = self.trial
        self.trial = None
        assert trial is not None
        assert trial.offset_index is not None
        assert trial.offset_cumulative is not None
        assert trial.offset_t is not None
        if trial.offset_index - trial.onset_index < self._min_active_n:
            log.debug("pair %s: activation shorter than min_active_s, no trial", self.name)
            return
        if not trial.lag_refined:
            self.trial = trial
            self._refine_lag(decided, ctx)
            self.trial = None
        active, mirror_side = trial.active, trial.mirror_side
        a_ch, m_ch = self.channels[active], self.channels[mirror_side]
        n = trial.offset_index - trial.onset_index + 1
        power_a = (trial.offset_cumulative[0] - trial.onset_cumulative[0]) / n
        power_m = (trial.offset_cumulative[1] - trial.onset_cumulative[1]) / n
        above_a = _excess(power_a, ctx.rest_power(a_ch))
        above_m = _excess(power_m, ctx.rest_power(m_ch))

        quality = set(trial.quality)
        excluded = False
        for side, ch in ((active, a_ch), (mirror_side, m_ch)):
            flags = ctx.flags_since(ch, trial.onset_index, decided)
            # The ECG mask acts on both sides at once: one "ecg" for the trial.
            quality.update(
                flag if flag in SILENT_FLAGS else f"{flag}:{SIDES[side]}" for flag in flags
            )
            if EXCLUDING_FLAGS.intersection(flags):
                quality.add(f"excluded:{SIDES[side]}")
                excluded = True

        ratio = above_m / above_a if above_a > 0 and not excluded else None
        ratio_norm = None
        span_a, span_m = _mvc_span(a_ch, ctx), _mvc_span(m_ch, ctx)
        if ratio is not None and span_a is not None and span_m is not None:
            ratio_norm = (above_m / span_m) / (above_a / span_a)

        mirror = trial.first_lag_ms is not None and not excluded
        bimanual = self._bimanual(trial, above_a, above_m, ratio, ctx)
        if bimanual:
            mirror = False
        if ratio is None or bimanual:
            grade = None
        elif not mirror:
            grade = 0
        else:
            graded = ratio_norm if ratio_norm is not None else ratio
            grade = grade_for(graded, self.grading.cut_points)
        payload = events.trial(
            pair=self.name,
            active_side=SIDES[active],
            t_onset=trial.onset_t,
            t_offset=trial.offset_t,
            mirror=mirror,
            ratio=ratio,
            ratio_norm=ratio_norm,
            lag_ms=trial.first_lag_ms if not excluded else None,
            grade=grade,
            bimanual=bimanual,
            quality=sorted(quality),
        )
        out.append((payload, decided))

    def _bimanual(
        self,
        trial: _Trial,
        above_a: float,
        above_m: float,
        ratio: float | None,
        ctx: PairContext,
    ) -> bool:
        if trial.cue is not None or ratio is None:
            return False  # a unimanual cue: activity on the other side is what we look for
        a_ch, m_ch = self.channels[trial.active], self.channels[trial.mirror_side]
        span_a, span_m = _mvc_span(a_ch, ctx), _mvc_span(m_ch, ctx)
        if span_a is not None and span_m is not None:
            fraction = self.cfg.bimanual_mvc_fraction
            return bool(above_a >= fraction * span_a and above_m >= fraction * span_m)
        return bool(
            ratio >= self.cfg.bimanual_min_ratio
            and above_m >= self.cfg.bimanual_threshold_factor * ctx.threshold_height_uv(m_ch)
        )
