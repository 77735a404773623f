"""The mains canceller's per-sample work, compiled with numba.

:class:`detection.filters.MainsCanceller` describes the method and owns the state; this module
only runs it. Written in numpy, one 32-sample chunk of 64 channels cost about 90 small array
calls (a quarter of a millisecond, nearly all of it call overhead); compiled, the chunk is one
call. The loops follow the numpy formulation step by step, so the two agree to rounding.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["CancellerSettings", "CancellerState", "cancel_chunk", "fill_reference"]

# Indices into CancellerState.counts (the kernels update them in place, so the integer scalars
# travel in one small array).
OFFSET_IN_BLOCK = 0
BLOCKS_SINCE_CHECK = 1
BLOCKS_DONE = 2
LEVELS_READY = 3  # 1 once the quiet level has been seeded from a first block
RING_POS = 4  # next row of the squared-input ring to overwrite
# Indices into CancellerState.phase.
BLOCK_PHASE_RAD = 0  # phase of the fundamental at the first sample of the block
OMEGA_RAD = 1  # current fundamental, radians per sample
OMEGA_VAR = 2  # variance of that estimate


class CancellerSettings(NamedTuple):
    """Constants of one canceller, fixed at construction (see MainsCanceller for meanings).

    A named tuple, so that numba passes it to the kernels as one argument.
    """

    harmonics: np.ndarray
    block_n: int
    step: float
    floor_growth: float
    boost_blocks: float
    freeze_blocks: int
    accept_blocks: int
    drift_var: float
    omega_lo: float
    omega_hi: float
    check_blocks: int
    max_gain: float
    quiet_margin: float
    power_smoothing: float
    start_boost: float
    calm_blocks: int
    gate_fraction: float
    flat_fraction: float


class CancellerState(NamedTuple):
    """Everything the canceller learns; arrays are updated in place by :func:`cancel_chunk`.

    Mains of channel c is ``reference[j] @ weights[:, c]`` at sample j of the block, the weights
    being a_1..a_K then b_1..b_K of ``sum_k a_k cos(k phase) + b_k sin(k phase)``.
    """

    weights: np.ndarray  # (2K, n_channels)
    gradient: np.ndarray  # (2K, n_channels), accumulated over the current block
    reference: np.ndarray  # (block_n, 2K): cos and sin of k * phase for this block
    phasors_at_last_check: np.ndarray  # complex (K, n_channels)
    block_power: np.ndarray  # sum of squared input over the current block, per channel
    block_error_power: np.ndarray  # sum of squared (ungated) output, per channel
    step_sq_power_sum: np.ndarray  # sum over blocks since the last check of step**2 * power
    smooth_power: np.ndarray  # block power smoothed over about ten blocks (once LEVELS_READY)
    power_floor: np.ndarray  # slowly rising minimum of smooth_power: the quiet level
    mains_rms: np.ndarray  # RMS of the mains being removed, per channel
    calm_blocks: np.ndarray  # int: blocks in a row each channel adapted at full speed
    gated_blocks: np.ndarray  # int: blocks in a row the input was far below its quiet level
    calm_at_collapse: np.ndarray  # int: calm_blocks when that last began
    squares_ring: np.ndarray  # (gate_n, n_channels): the last mains period of squared input
    squares_sum: np.ndarray  # its column sums
    counts: np.ndarray  # int64, see OFFSET_IN_BLOCK ... RING_POS
    phase: np.ndarray  # float64, see BLOCK_PHASE_RAD ... OMEGA_VAR

    @classmethod
    def zeros(cls, n_channels: int, n_harmonics: int, block_n: int, gate_n: int) -> CancellerState:
        """A state that has learned nothing."""
        per_channel = np.zeros(n_channels)
        counters = np.zeros(n_channels, dtype=np.int64)
        return cls(
            weights=np.zeros((2 * n_harmonics, n_channels)),
            gradient=np.zeros((2 * n_harmonics, n_channels)),
            reference=np.zeros((block_n, 2 * n_harmonics)),
            phasors_at_last_check=np.zeros((n_harmonics, n_channels), dtype=complex),
            block_power=per_channel.copy(),
            block_error_power=per_channel.copy(),
            step_sq_power_sum=per_channel.copy(),
            smooth_power=per_channel.copy(),
            power_floor=per_channel.copy(),
            mains_rms=per_channel.copy(),
            calm_blocks=counters.copy(),
            gated_blocks=counters.copy(),
            calm_at_collapse=counters.copy(),
            squares_ring=np.zeros((gate_n, n_channels)),
            squares_sum=per_channel.copy(),
            counts=np.zeros(5, dtype=np.int64),
            phase=np.zeros(3),
        )


def cancel_chunk(
    chunk: np.ndarray, state: CancellerState, settings: CancellerSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Remove mains from ``chunk`` (n_samples, n_channels) and learn from it.

    Returns the cleaned chunk and, per sample, the fraction of the mains estimate that was
    subtracted (1 unless the input fell below it).
    """
    data = np.ascontiguousarray(chunk, dtype=np.float64)
    out = np.empty_like(data)
    gate = np.empty_like(data)
    _cancel(data, out, gate, state, settings)
    return out, gate


def fill_reference(state: CancellerState, harmonics: np.ndarray) -> None:
    """Recompute the block's reference from the phase and frequency in ``state``."""
    _fill_reference(
        state.reference, harmonics, state.phase[OMEGA_RAD], state.phase[BLOCK_PHASE_RAD]
    )


@njit(cache=True)
def _fill_reference(reference, harmonics, omega_rad, block_phase_rad):
    n_harmonics = len(harmonics)
    for j in range(reference.shape[0]):
        for k in range(n_harmonics):
            angle = harmonics[k] * (omega_rad * j + block_phase_rad)
            reference[j, k] = math.cos(angle)
            reference[j, n_harmonics + k] = math.sin(angle)


# error_model="numpy": a division by zero gives inf or nan as numpy would, never an exception in
# the acquisition thread.
@njit(cache=True, error_model="numpy")
def _cancel(data, out, gate_out, state, settings):
    weights, gradient, reference = state.weights, state.gradient, state.reference
    block_power, block_error_power = state.block_power, state.block_error_power
    squares_ring, squares_sum = state.squares_ring, state.squares_sum
    mains_rms, counts, phase = state.mains_rms, state.counts, state.phase
    gate_fraction = settings.gate_fraction
    n_samples, n_channels = data.shape
    n_weights = weights.shape[0]
    ring_n = squares_ring.shape[0]
    # Loops run over channels innermost: each channel's sums are independent, so they
    # vectorise, where a sum over the weights would be one long chain of dependent additions.
    mains = np.empty(n_channels)
    residual = np.empty(n_channels)
    for i in range(n_samples):
        offset = counts[OFFSET_IN_BLOCK]
        pos = counts[RING_POS]
        mains[:] = 0.0
        for j in range(n_weights):
            r = reference[offset, j]
            for ch in range(n_channels):
                mains[ch] += r * weights[j, ch]
        for ch in range(n_channels):
            x = data[i, ch]
            # Never remove more mains than the input holds: where the input's RMS over one
            # mains period falls below the mains being removed (a lifted electrode), the
            # subtraction shrinks with it instead of writing the estimate into a flat channel.
            square = x * x
            squares_sum[ch] += square - squares_ring[pos, ch]
            squares_ring[pos, ch] = square
            input_power = max(squares_sum[ch] / ring_n, 0.0)
            limit = max(gate_fraction * mains_rms[ch], 1e-12)
            # Compared in power first: the square root is needed only where the gate closes.
            gate = 1.0 if input_power >= limit * limit else math.sqrt(input_power) / limit
            gate_out[i, ch] = gate
            out[i, ch] = x - gate * mains[ch]
            # Learn from the ungated error, so the weights follow what really is there.
            residual[ch] = x - mains[ch]
            block_power[ch] += square
            block_error_power[ch] += residual[ch] * residual[ch]
        for j in range(n_weights):
            r = reference[offset, j]
            for ch in range(n_channels):
                gradient[j, ch] += r * residual[ch]
        counts[RING_POS] = (pos + 1) % ring_n
        counts[OFFSET_IN_BLOCK] = offset + 1
        if offset + 1 == settings.block_n:
            _end_block(state, settings)
            _fill_reference(reference, settings.harmonics, phase[OMEGA_RAD], phase[BLOCK_PHASE_RAD])


@njit(cache=True, error_model="numpy")
def _end_block(state, settings):
    s, c = state, settings
    counts, block_n = s.counts, c.block_n
    n_weights, n_channels = s.weights.shape
    levels_ready = counts[LEVELS_READY] == 1
    # Gear shifting: a large step right after a (re)start converges within the warm-up, then
    # it settles to the step that gives the configured notch width.
    boost = 1.0 + (c.start_boost - 1.0) * math.exp(-counts[BLOCKS_DONE] / c.boost_blocks)
    counts[BLOCKS_DONE] += 1
    for ch in range(n_channels):
        power = s.block_power[ch] / block_n
        floor = s.power_floor[ch] if levels_ready else power
        # A channel whose input collapsed far below its quiet level (a lifted electrode)
        # teaches nothing: its weights and quiet level are frozen, so when the electrode is
        # back the old estimate applies at once. After the freeze it learns again. Only a
        # channel that was calm when its input collapsed counts as lifted.
        gated = power < c.flat_fraction * floor
        if gated and s.gated_blocks[ch] == 0:
            s.calm_at_collapse[ch] = s.calm_blocks[ch]
        s.gated_blocks[ch] = s.gated_blocks[ch] + 1 if gated else 0
        frozen = (
            gated
            and s.gated_blocks[ch] <= c.freeze_blocks
            and s.calm_at_collapse[ch] >= c.calm_blocks
        )
        if not levels_ready:
            s.smooth_power[ch] = power
            s.power_floor[ch] = power
        elif not gated or s.gated_blocks[ch] > c.accept_blocks:
            # The quiet level does not follow a collapse (it is not a quieter rest), unless
            # the low level lasts long enough to be the new normal.
            s.smooth_power[ch] += c.power_smoothing * (power - s.smooth_power[ch])
            s.power_floor[ch] = min(s.smooth_power[ch], s.power_floor[ch] * c.floor_growth)
        # Strong EMG is noise to the canceller: adaptation slows in proportion to how far the
        # channel is above its quiet level. The block's own power counts at once (a burst must
        # not get full-speed blocks while the smoothed power catches up).
        loud = max(power, s.smooth_power[ch], 1e-30)
        ratio = c.quiet_margin * s.power_floor[ch] / loud
        channel_step = 0.0 if frozen else c.step * boost * min(ratio, 1.0)
        s.calm_blocks[ch] = s.calm_blocks[ch] + 1 if ratio >= 1.0 and not gated else 0
        weight_sq = 0.0
        for j in range(n_weights):
            s.weights[j, ch] += channel_step * s.gradient[j, ch]
            weight_sq += s.weights[j, ch] * s.weights[j, ch]
            s.gradient[j, ch] = 0.0
        s.mains_rms[ch] = math.sqrt(0.5 * weight_sq)
        s.step_sq_power_sum[ch] += channel_step * channel_step * s.block_error_power[ch] / block_n
        s.block_power[ch] = 0.0
        s.block_error_power[ch] = 0.0
    counts[LEVELS_READY] = 1
    phase = s.phase
    phase[BLOCK_PHASE_RAD] = (phase[BLOCK_PHASE_RAD] + phase[OMEGA_RAD] * block_n) % (2 * math.pi)
    counts[OFFSET_IN_BLOCK] = 0
    counts[BLOCKS_SINCE_CHECK] += 1
    if counts[BLOCKS_SINCE_CHECK] == c.check_blocks:
        _correct_frequency(s, c)


@njit(cache=True, error_model="numpy")
def _correct_frequency(state, settings):
    s, c = state, settings
    counts, phase, harmonics = s.counts, s.phase, c.harmonics
    n_channels = s.weights.shape[1]
    n_harmonics = len(harmonics)
    blocks = counts[BLOCKS_SINCE_CHECK]
    elapsed = blocks * c.block_n
    counts[BLOCKS_SINCE_CHECK] = 0
    weighted_sum = 0.0
    inverse_var_sum = 0.0
    for k in range(n_harmonics):
        # Rotation of this harmonic's phasor since the last check, pooled over the channels
        # that have been quiet for a while (a contraction or a saturated rail turns the
        # weights for reasons other than frequency), and how much of it is LMS noise.
        turn = 0j
        pooled = 0.0
        noise = 0.0
        for ch in range(n_channels):
            phasor = complex(s.weights[k, ch], -s.weights[n_harmonics + k, ch])
            if s.calm_blocks[ch] >= c.calm_blocks:
                previous = s.phasors_at_last_check[k, ch]
                magnitude_sq = previous.real**2 + previous.imag**2
                turn += phasor * previous.conjugate()
                pooled += magnitude_sq
                noise += magnitude_sq * elapsed * s.step_sq_power_sum[ch] / blocks
            s.phasors_at_last_check[k, ch] = phasor
        if pooled > 0 and abs(turn) > 0:
            # Harmonic k turns k times as fast: each measures the fundamental's error with a
            # variance; combine them by inverse variance.
            scale = harmonics[k] * elapsed
            angle_var = noise / (2 * pooled**2)
            inverse_var = 1.0 / max(angle_var / scale**2, 1e-30)
            weighted_sum += math.atan2(turn.imag, turn.real) / scale * inverse_var
            inverse_var_sum += inverse_var
    for ch in range(n_channels):
        s.step_sq_power_sum[ch] = 0.0
    if inverse_var_sum == 0.0:
        return
    measured_var = 1.0 / inverse_var_sum
    measured = weighted_sum * measured_var
    # Scalar Kalman filter on the frequency: a random walk at the fastest plausible drift.
    phase[OMEGA_VAR] += c.drift_var
    gain = min(c.max_gain, phase[OMEGA_VAR] / (phase[OMEGA_VAR] + measured_var))
    phase[OMEGA_VAR] *= 1 - gain
    phase[OMEGA_RAD] = min(max(phase[OMEGA_RAD] + gain * measured, c.omega_lo), c.omega_hi)
