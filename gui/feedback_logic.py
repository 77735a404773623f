"""The biofeedback rules, free of Qt so that they can be tested directly.

- :class:`ThresholdShaper`: the patient's mirror-ratio threshold, set by the therapist or
  shaped block by block (the next block's threshold is ``factor`` x the previous block's median
  ratio, DOMAIN.md section 6).
- :class:`ExceedanceTimer`: says when a level has stayed above its threshold long enough
  (>= 100 ms) to change the bar's colour and sound the tone; shorter excursions are noise.
- :func:`live_levels`: the live mirror ratio and the active side's effort from the last few
  samples of the amplitude envelope, computed the way the detector computes a trial's ratio
  (rest removed in power, each side divided by its own MVC span when there is one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ExceedanceTimer", "LiveLevels", "ThresholdShaper", "excess_uv", "live_levels"]

#: Shaping: next block's threshold as a fraction of the previous block's median ratio.
DEFAULT_SHAPING_FACTOR = 0.8
#: Trials per shaping block.
DEFAULT_BLOCK_TRIALS = 10
#: The threshold never shapes below this ratio: below it the bar would flicker on noise.
DEFAULT_FLOOR_RATIO = 0.02
#: How long a level must stay above threshold before the feedback says so (DOMAIN.md 6).
DEFAULT_HOLD_S = 0.1


class ThresholdShaper:
    """The biofeedback threshold (a mirror ratio), fixed or shaped block by block.

    Parameters
    ----------
    threshold : float
        The starting threshold (ratio, > 0).
    shaping : bool
        Shape automatically; otherwise the threshold stays where the therapist put it.
    factor : float
        Next threshold = ``factor`` x median ratio of the block just finished.
    block_trials : int
        Trials per block.
    floor : float
        Lowest threshold shaping may reach.
    """

    def __init__(
        self,
        threshold: float,
        *,
        shaping: bool = False,
        factor: float = DEFAULT_SHAPING_FACTOR,
        block_trials: int = DEFAULT_BLOCK_TRIALS,
        floor: float = DEFAULT_FLOOR_RATIO,
    ) -> None:
        if not threshold > 0 or not factor > 0 or block_trials < 1 or floor < 0:
            raise ValueError(
                f"threshold {threshold!r} and factor {factor!r} must be > 0, block_trials "
                f"{block_trials!r} >= 1 and floor {floor!r} >= 0"
            )
        self.threshold = float(threshold)
        self.shaping = shaping
        self.factor = float(factor)
        self.block_trials = int(block_trials)
        self.floor = float(floor)
        #: Blocks completed so far.
        self.blocks = 0
        self._block: list[float] = []

    @property
    def trials_in_block(self) -> int:
        """Trials counted in the current block."""
        return len(self._block)

    def set_threshold(self, threshold: float) -> None:
        """Set the threshold by hand; the current block starts again.

        Parameters
        ----------
        threshold : float
            The new threshold (ratio, > 0).
        """
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold!r}")
        self.threshold = float(threshold)
        self._block.clear()

    def add(self, ratio: float | None) -> float | None:
        """Count one trial's ratio.

        Parameters
        ----------
        ratio : float | None
            The trial's mirror ratio; None (an excluded trial) does not count.

        Returns
        -------
        float | None
            The new threshold when this trial completed a block and shaping changed it.
        """
        if ratio is None or not math.isfinite(ratio) or not self.shaping:
            return None
        self._block.append(float(ratio))
        if len(self._block) < self.block_trials:
            return None
        median = float(np.median(self._block))
        self._block.clear()
        self.blocks += 1
        self.threshold = max(self.floor, self.factor * median)
        return self.threshold


class ExceedanceTimer:
    """Whether a level has been above its threshold for at least ``hold_s``.

    Parameters
    ----------
    hold_s : float
        Required time above threshold.
    """

    def __init__(self, hold_s: float = DEFAULT_HOLD_S) -> None:
        self.hold_s = hold_s
        self._since: float | None = None

    def reset(self) -> None:
        """Forget the current excursion."""
        self._since = None

    def update(self, level: float, threshold: float, t_s: float) -> bool:
        """Feed the level at time ``t_s``; True once it has stayed above for ``hold_s``.

        Parameters
        ----------
        level, threshold : float
            The value and its threshold (same units).
        t_s : float
            The time of the value (seconds, any monotonic clock).
        """
        if not level > threshold:
            self._since = None
            return False
        if self._since is None or t_s < self._since:
            self._since = t_s
        return t_s - self._since >= self.hold_s - 1e-9


@dataclass(frozen=True)
class LiveLevels:
    """One pair's biofeedback quantities right now."""

    #: The active side is on (its detector is above threshold).
    active_on: bool
    #: Mirror side over active side, rest removed in power; MVC-normalised when ``normalised``.
    ratio: float
    #: The active side's effort: % MVC when ``normalised``, else % of its on-threshold.
    effort_percent: float
    normalised: bool


def excess_uv(envelope_uv: np.ndarray, rest_power_uv2: float) -> float:
    """Mean envelope above rest over a window, with the rest removed in power.

    Parameters
    ----------
    envelope_uv : ndarray, shape (n,)
        Amplitude envelope samples (microvolts).
    rest_power_uv2 : float
        Rest mean squared plus rest variance.
    """
    if len(envelope_uv) == 0:
        return 0.0
    power = float(np.mean(np.square(envelope_uv, dtype=np.float64)))
    return max(0.0, power - rest_power_uv2) ** 0.5


def live_levels(
    envelope_uv: np.ndarray,
    detection: np.ndarray,
    active_on: bool,
    *,
    rest_power_uv2: Sequence[float],
    on_threshold: float,
    mvc_span_uv: Sequence[float] | None,
) -> LiveLevels:
    """Live ratio and effort of one pair over a short window.

    Parameters
    ----------
    envelope_uv : ndarray, shape (n, 2)
        Amplitude envelope of (active side, mirror side) over the window.
    detection : ndarray, shape (n,)
        The active side's detection envelope over the window.
    active_on : bool
        The active side's detector state.
    rest_power_uv2 : pair of float
        Rest power of (active, mirror).
    on_threshold : float
        The active side's on-threshold (detection-envelope units).
    mvc_span_uv : pair of float | None
        MVC level above rest of (active, mirror); None without an MVC calibration.

    Returns
    -------
    LiveLevels
        The ratio is 0 while the active side is off: without a voluntary movement there is
        nothing for the mirror side to mirror.
    """
    active = excess_uv(envelope_uv[:, 0], rest_power_uv2[0])
    mirror = excess_uv(envelope_uv[:, 1], rest_power_uv2[1])
    normalised = mvc_span_uv is not None and min(mvc_span_uv) > 0
    if normalised:
        assert mvc_span_uv is not None
        active_level = active / mvc_span_uv[0]
        mirror_level = mirror / mvc_span_uv[1]
        effort = 100.0 * active_level
    else:
        active_level, mirror_level = active, mirror
        level = float(np.mean(detection)) if len(detection) else 0.0
        effort = 100.0 * level / on_threshold if on_threshold > 0 else 0.0
    ratio = mirror_level / active_level if active_on and active_level > 0 else 0.0
    return LiveLevels(active_on, ratio, effort, normalised)
