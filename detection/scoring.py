"""Scoring detected trials against the simulator's ground truth.

Both sides are plain dicts: detected ``trial`` events (DESIGN.md) and truth records (the
``<name>-Truth`` markers, ``TrialTruth.to_dict``), with times in the same EMG time base. The
definitions of a true onset, lag and ratio are those of ``TrialTruth.to_dict``.

- **Movements.** Each burst of a truth trial is one movement (a tapping trial has several). A
  detected trial matches a movement when its onset is within ``match_s`` plus the movement's
  rise time (a detection late on a slow ramp is still that movement). A match on the wrong side
  is not a found movement (``active_side_errors``), except for a severe symmetric mirror without
  cues (gain above ``symmetric_gain``, lag within +-``symmetric_lag_ms``): no detector can tell
  its leader, so either side counts.
- **Mirrors.** A true mirror is *clear* when its amplitude is at least ``clear_snr`` times the
  passive channel's noise floor and its burst lasts ``clear_ms`` or longer; the others are
  counted apart (the physiological preset's 0.5-5 % mirrors are often below the noise). A found
  mirror is a matched trial called ``mirror`` (or ``uncued_symmetric``).
- **False calls.** A mirror call on a movement whose truth has no mirror, or on a detected trial
  that matches no movement. Detected trials that match no movement are also counted as
  ``extra_activations`` (twitches, posture, fragments of a trial, activity from drift or ECG).
- **Errors** are signed (detected minus true) and kept per ramp class: ``fast`` for rises up to
  ``slow_ramp_ms``, ``slow`` above (for lags, the slower of the two sides' rises decides).
  Ratio errors are relative, on clear mirrors, against the burst's true ratio.
- A movement during which its channel was saturated or lifted off (``excluding`` artefacts) is
  not scored: the quality checks exclude such a channel on purpose (``movements_unscorable``); a
  mirror whose channel was so affected is not counted either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["RAMP_CLASSES", "ErrorStats", "Score", "error_stats", "score_trials"]

#: Ramp classes of the signed errors.
RAMP_CLASSES = ("fast", "slow")


@dataclass(frozen=True)
class ErrorStats:
    """Signed errors summarised: median (the bias), IQR and median absolute error."""

    n: int
    median: float | None
    iqr: float | None
    median_abs: float | None


def error_stats(values: list[float]) -> ErrorStats:
    """Summarise signed errors.

    Parameters
    ----------
    values : list of float
        Detected minus true.

    Returns
    -------
    ErrorStats
        Median, interquartile range and median absolute value (None without values).
    """
    if not values:
        return ErrorStats(0, None, None, None)
    array = np.asarray(values, dtype=float)
    q25, q50, q75 = np.percentile(array, [25, 50, 75])
    return ErrorStats(array.size, float(q50), float(q75 - q25), float(np.median(np.abs(array))))


def _by_class() -> dict[str, list[float]]:
    return {name: [] for name in RAMP_CLASSES}


@dataclass
class Score:
    """How detected trials compare with the truth (counts add up over sessions: :meth:`add`)."""

    minutes: float
    movements_unscorable: int = 0
    movements: int = 0
    movements_found: int = 0
    #: Matched movements whose active side could be checked (not severe symmetric mirrors).
    side_checked: int = 0
    active_side_errors: int = 0
    clear_mirrors: int = 0
    clear_mirrors_found: int = 0
    other_mirrors: int = 0
    other_mirrors_found: int = 0
    false_mirror_calls: int = 0
    extra_activations: int = 0
    onset_errors_ms: dict[str, list[float]] = field(default_factory=_by_class)
    lag_errors_ms: dict[str, list[float]] = field(default_factory=_by_class)
    provisional_lag_errors_ms: dict[str, list[float]] = field(default_factory=_by_class)
    ratio_errors: list[float] = field(default_factory=list)

    def add(self, other: Score) -> Score:
        """Return the sum of two scores (of different sessions)."""
        merged: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, dict):
                merged[f.name] = {k: a[k] + b[k] for k in a}
            else:
                merged[f.name] = a + b
        return Score(**merged)

    # -- the figures ---------------------------------------------------------------------------
    @property
    def detectable_mirrors(self) -> int:
        """True mirrors of any size on a usable channel."""
        return self.clear_mirrors + self.other_mirrors

    @property
    def detectable_mirrors_found(self) -> int:
        """Of those, called mirror."""
        return self.clear_mirrors_found + self.other_mirrors_found

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def movement_sensitivity(self) -> float | None:
        """Share of true movements found as trials with the right active side."""
        return self._share(self.movements_found, self.movements)

    @property
    def mirror_sensitivity(self) -> float | None:
        """Share of true mirrors (clear or not) called mirror."""
        return self._share(self.detectable_mirrors_found, self.detectable_mirrors)

    @property
    def clear_mirror_sensitivity(self) -> float | None:
        """Share of clear mirrors called mirror."""
        return self._share(self.clear_mirrors_found, self.clear_mirrors)

    @property
    def other_mirror_sensitivity(self) -> float | None:
        """Share of the other (small or short) mirrors called mirror."""
        return self._share(self.other_mirrors_found, self.other_mirrors)

    @property
    def active_side_accuracy(self) -> float | None:
        """Share of matched movements given the right active side."""
        if not self.side_checked:
            return None
        return 1.0 - self.active_side_errors / self.side_checked

    def _per_minute(self, count: int) -> float:
        return count / self.minutes if self.minutes > 0 else 0.0

    @property
    def false_mirrors_per_minute(self) -> float:
        """Mirror calls where the truth has none, per minute of session."""
        return self._per_minute(self.false_mirror_calls)

    @property
    def extra_activations_per_minute(self) -> float:
        """Detected trials that match no movement, per minute."""
        return self._per_minute(self.extra_activations)

    def onset(self, ramp: str) -> ErrorStats:
        """Signed onset errors (ms) of one ramp class."""
        return error_stats(self.onset_errors_ms[ramp])

    def lag(self, ramp: str) -> ErrorStats:
        """Signed errors of the trial's final ``lag_ms`` (ms) of one ramp class."""
        return error_stats(self.lag_errors_ms[ramp])

    def provisional_lag(self, ramp: str) -> ErrorStats:
        """Signed errors of the live ``mirror_onset.lag_ms`` (ms) of one ramp class."""
        return error_stats(self.provisional_lag_errors_ms[ramp])

    @property
    def ratio(self) -> ErrorStats:
        """Relative signed errors of the ratio of clear mirrors."""
        return error_stats(self.ratio_errors)

    @property
    def median_onset_error_ms(self) -> float | None:
        """Median absolute onset error over all ramps."""
        return error_stats([e for v in self.onset_errors_ms.values() for e in v]).median_abs

    @property
    def median_lag_error_ms(self) -> float | None:
        """Median absolute error of the trial lag over all ramps."""
        return error_stats([e for v in self.lag_errors_ms.values() for e in v]).median_abs

    @property
    def median_ratio_error(self) -> float | None:
        """Median absolute relative error of the ratio of clear mirrors."""
        return self.ratio.median_abs

    def as_dict(self) -> dict[str, Any]:
        """The figures, for reports and JSON."""
        out: dict[str, Any] = {
            "minutes": round(self.minutes, 3),
            "movements": self.movements,
            "movements_unscorable": self.movements_unscorable,
            "movement_sensitivity": self.movement_sensitivity,
            "active_side_accuracy": self.active_side_accuracy,
            "clear_mirrors": self.clear_mirrors,
            "clear_mirror_sensitivity": self.clear_mirror_sensitivity,
            "other_mirrors": self.other_mirrors,
            "other_mirror_sensitivity": self.other_mirror_sensitivity,
            "false_mirror_calls": self.false_mirror_calls,
            "false_mirrors_per_minute": self.false_mirrors_per_minute,
            "extra_activations_per_minute": self.extra_activations_per_minute,
            "ratio": self.ratio.__dict__,
        }
        for ramp in RAMP_CLASSES:
            out[f"onset_{ramp}"] = self.onset(ramp).__dict__
            out[f"lag_{ramp}"] = self.lag(ramp).__dict__
            out[f"provisional_lag_{ramp}"] = self.provisional_lag(ramp).__dict__
        return out


@dataclass(frozen=True)
class _Rules:
    match_s: float
    clear_snr: float
    clear_ms: float
    slow_ramp_ms: float
    symmetric_gain: float
    symmetric_lag_ms: float
    cued: bool
    excluding: tuple[str, ...]


def score_trials(
    detected: Iterable[Mapping[str, Any]],
    truth: Iterable[Mapping[str, Any]],
    *,
    minutes: float,
    mirror_onsets: Iterable[Mapping[str, Any]] = (),
    cued: bool = True,
    match_s: float = 0.3,
    clear_snr: float = 3.0,
    clear_ms: float = 150.0,
    slow_ramp_ms: float = 300.0,
    symmetric_gain: float = 0.8,
    symmetric_lag_ms: float = 2.0,
    excluding: tuple[str, ...] = ("saturation", "lift_off"),
) -> Score:
    """Compare detected trial events with truth records.

    Parameters
    ----------
    detected : iterable of dict
        ``trial`` event payloads.
    truth : iterable of dict
        Truth records of the trials that finished; detections after the end of the last one's
        span are not scored.
    minutes : float
        Session length scored (for false calls per minute).
    mirror_onsets : iterable of dict
        ``mirror_onset`` payloads, to score their provisional ``lag_ms``.
    cued : bool
        Whether the detector had the cues (without them a severe symmetric mirror may be named
        from either side).
    match_s : float
        Largest onset difference for a match, plus the movement's own rise time.
    clear_snr, clear_ms : float
        A mirror at least this many times its channel's noise floor and this long is clear.
    slow_ramp_ms : float
        Rises longer than this are the ``slow`` ramp class.
    symmetric_gain, symmetric_lag_ms : float
        A mirror above this gain and within this lag has no identifiable leader without cues.
    excluding : tuple of str
        Artefact kinds that make a channel unusable while they last.

    Returns
    -------
    Score
        The figures.
    """
    rules = _Rules(
        match_s, clear_snr, clear_ms, slow_ramp_ms, symmetric_gain, symmetric_lag_ms, cued,
        excluding,
    )  # fmt: skip
    truth = list(truth)
    trials = [dict(t) for t in detected]
    onsets = [dict(m) for m in mirror_onsets]
    if truth:
        # Detections after the last finished trial have no truth to be compared with yet.
        end_t = max(record["span_t"][1] for record in truth)
        trials = [t for t in trials if t["t_onset"] < end_t]
    session = _Session(trials, onsets, rules, Score(minutes=minutes))
    for record in truth:
        for k, burst in enumerate(record["bursts"]):
            session.movement(record, k, burst)
    result = session.result
    for i, trial in enumerate(trials):
        if i in session.used:
            continue
        result.extra_activations += 1
        if _called_mirror(trial):
            result.false_mirror_calls += 1
    return result


def _called_mirror(trial: Mapping[str, Any]) -> bool:
    return bool(trial["mirror"]) or "uncued_symmetric" in trial.get("quality", [])


class _Session:
    """The detections of one session, matched to its movements one by one."""

    def __init__(
        self, trials: list[dict[str, Any]], onsets: list[dict[str, Any]], rules: _Rules,
        result: Score,
    ) -> None:  # fmt: skip
        self.trials = trials
        self.onsets = onsets
        self.rules = rules
        self.result = result
        self.used: set[int] = set()

    def movement(self, record: Mapping[str, Any], k: int, burst: list[float]) -> None:
        """Score burst ``k`` of a truth record."""
        rules, result, trials, used = self.rules, self.result, self.trials, self.used
        spoilt = _affected(record, burst, rules.excluding)
        if record["active_channel"] in spoilt:
            result.movements_unscorable += 1
            return
        result.movements += 1
        mirror_true = bool(record["mirror"])
        rise_ms = _rise_ms(record, k)
        symmetric = (
            not rules.cued
            and mirror_true
            and record["mirror_gain"] > rules.symmetric_gain
            and abs(record["mirror_lag_ms"]) <= rules.symmetric_lag_ms
        )
        mirror_usable = mirror_true and record["mirror_channel"] not in spoilt
        clear = mirror_usable and (
            record["mirror_amplitude_uv"] >= rules.clear_snr * record["baseline_uv"]
            and _mirror_ms(record, k) >= rules.clear_ms
        )
        if mirror_usable:
            if clear:
                result.clear_mirrors += 1
            else:
                result.other_mirrors += 1
        window_s = rules.match_s + rise_ms / 1000.0
        side = None if symmetric else record["active_side"]
        match = _closest(trials, used, burst[0], side, window_s)
        wrong_side = False
        if match is None and not symmetric:
            # A movement named from the wrong side is matched (it is no extra activation) but
            # not found.
            match = _closest(trials, used, burst[0], None, window_s)
            wrong_side = match is not None
        if match is None:
            return
        used.add(match)
        found = trials[match]
        if not symmetric:
            result.side_checked += 1
            result.active_side_errors += int(wrong_side)
        called = _called_mirror(found)
        if called and not mirror_true:
            result.false_mirror_calls += 1
        if wrong_side:
            return
        result.movements_found += 1
        ramp = "slow" if rise_ms > rules.slow_ramp_ms else "fast"
        result.onset_errors_ms[ramp].append(1000.0 * (found["t_onset"] - burst[0]))
        if not (mirror_usable and called):
            return
        if clear:
            result.clear_mirrors_found += 1
        else:
            result.other_mirrors_found += 1
        if not symmetric:
            self._lags(record, k, found, max(rise_ms, _mirror_rise_ms(record, k)))
        true_ratio = _burst_ratio(record, k)
        if clear and found.get("ratio") is not None and true_ratio > 0:
            result.ratio_errors.append((found["ratio"] - true_ratio) / true_ratio)

    def _lags(
        self, record: Mapping[str, Any], k: int, found: Mapping[str, Any], rise_ms: float
    ) -> None:
        ramp = "slow" if rise_ms > self.rules.slow_ramp_ms else "fast"
        true_lag = record["mirror_lag_ms"]
        if found.get("lag_ms") is not None:
            self.result.lag_errors_ms[ramp].append(found["lag_ms"] - true_lag)
        provisional = _provisional_lag(found, self.onsets)
        if provisional is not None:
            self.result.provisional_lag_errors_ms[ramp].append(provisional - true_lag)


def _rise_ms(record: Mapping[str, Any], k: int) -> float:
    rises = record.get("burst_rise_ms") or []
    return float(rises[k]) if k < len(rises) else 0.0


def _mirror_rise_ms(record: Mapping[str, Any], k: int) -> float:
    rises = record.get("mirror_burst_rise_ms") or []
    return float(rises[k]) if k < len(rises) else _rise_ms(record, k)


def _mirror_ms(record: Mapping[str, Any], k: int) -> float:
    lengths = record.get("mirror_burst_ms") or []
    if k < len(lengths):
        return float(lengths[k])
    start, stop = record["mirror_bursts"][k]
    return 1000.0 * (stop - start)


def _burst_ratio(record: Mapping[str, Any], k: int) -> float:
    ratios = record.get("burst_ratios") or []
    return float(ratios[k]) if k < len(ratios) else float(record["mirror_gain"])


def _provisional_lag(trial: Mapping[str, Any], onsets: list[dict[str, Any]]) -> float | None:
    """The ``lag_ms`` of the first live mirror onset inside a detected trial."""
    for onset in onsets:
        if (
            onset["pair"] == trial["pair"]
            and onset["active_side"] == trial["active_side"]
            and trial["t_onset"] - 0.1 <= onset["t"] <= trial["t_offset"] + 0.5
            and onset.get("lag_ms") is not None
        ):
            return float(onset["lag_ms"])
    return None


def _affected(
    record: Mapping[str, Any], burst: list[float], kinds: tuple[str, ...], margin_s: float = 0.5
) -> set[str]:
    """Channels with an excluding artefact overlapping a burst (with a margin)."""
    start, stop = burst[0] - margin_s, burst[1] + margin_s
    return {
        channel
        for artefact in record["artefacts"]
        if artefact["kind"] in kinds and artefact["t_start"] < stop and artefact["t_end"] > start
        for channel in artefact["channels"]
    }


def _closest(
    trials: list[dict[str, Any]],
    used: set[int],
    onset_t: float,
    side: str | None,
    within_s: float,
) -> int | None:
    best, best_gap = None, within_s
    for i, trial in enumerate(trials):
        if i in used or (side is not None and trial["active_side"] != side):
            continue
        gap = abs(trial["t_onset"] - onset_t)
        if gap <= best_gap:
            best, best_gap = i, gap
    return best
