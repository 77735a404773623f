"""The ECG canceller's per-sample work, compiled with numba.

:class:`detection.ecg.EcgCanceller` describes the method and owns the state; this module only
runs it. Every decision is taken sample by sample from state carried in arrays, so a signal
processed in chunks of any size gives the same output.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["EcgSettings", "EcgState", "process_chunk", "restart"]

# Indices into EcgState.counts.
PRIMED = 0  # 1 once the ECG band-pass state is set from a first sample
SETTLED_AT = 1  # absolute index from which beats may be detected
RING_POS = 2  # next row of the pre-beat ring to overwrite
RING_FILLED = 3  # rows of the ring written since the last restart
NOISE_PRIMED = 4  # 1 once the noise levels have had their first settling
NEXT_INDEX = 5  # absolute index of the next sample expected
BAND_START = 6  # absolute index of the first band sample since the last restart

#: ``last_mark`` of a pair that has never seen a beat: far enough back for every gate.
NEVER = -(2**62)

# The periodicity gate, in units of the median R-R interval.
RR_LOW = 0.6  # an interval shorter than this is not a beat
RR_HIGH = 1.6  # up to this it is the next beat
MULTIPLE_TOLERANCE = 0.2  # beyond, within this of 2 or 3 intervals: beats were missed
ANY_AFTER = 3.5  # so many intervals without a beat: take the next crossing (re-acquire)
#: The side beats are looked for on changes when the other side's envelope over its R
#: amplitude is this many times lower.
SWITCH_MARGIN = 1.5
#: R-R intervals the median is taken over.
RR_N = 8
#: Bootstrap candidates that must agree before a pair locks on.
CONFIRM_N = 4
#: Largest ratio between the longest and the shortest bootstrap interval (heart rate
#: varies by a few per cent from beat to beat; noise peaks are not periodic).
INTERVAL_SPREAD = 1.3
#: Largest ratio between the largest and the smallest bootstrap peak (+-10 % beats and noise).
PEAK_SPREAD = 1.6
#: A beat's peak relative to the learned R amplitude is clipped to this range for its scale.
SCALE_LOW = 0.5
SCALE_HIGH = 2.0
#: A bootstrap candidate's band magnitude in its tail window (``tail_start_n`` to
#: ``tail_stop_n`` after its crossing) stays below this fraction of its peak: measured on the
#: simulator's QRS, 0.13 for a QRS of 20 ms to 0.37 for one of 60 ms (0.54 for 80 ms); a
#: burst of EMG (tapping, crosstalk) is as strong there as in its first 40 ms.
TAIL_FRACTION = 0.6
#: Beats averaged into a channel's waveform before it is used: subtracting a waveform adds
#: its own noise, the noise of the band over the number of beats averaged.
MIN_WAVE_BEATS = 4
#: Largest correction of a beat's alignment (samples); the waveform's support has room for it.
MAX_SHIFT = 1.5
#: The running peak predicts the beat's peak once it is expected at this fraction of it.
PROFILE_MIN = 0.5
#: The band's noise level is its 99th percentile of magnitude between beats, taken as this many
#: times the running median (the ratio for Gaussian noise: 2.576 / 0.6745). A level above
#: most of the noise, so that ``min_snr`` times it stands clear of noise peaks (4 times it is
#: 10 SD) and ``detect_fraction`` of an R amplitude that carries ECG is still 3.6 SD.
NOISE_PEAK = 3.82
#: A beat is confirmed when its peak comes to this range of the learned R amplitude; a crossing
#: that does not peak like a beat (EMG in the band) is dropped and its correction stops.
CONFIRM_LOW = 0.6
CONFIRM_HIGH = 2.0
#: ... and when its running peak rose as the learned profile says, to within this mean
#: absolute difference (relative to the peak). Measured on the simulator: beats at rest
#: 0.01-0.02, beats over a contraction up to 0.15, EMG crossings 0.04-0.5.
PROFILE_TOLERANCE = 0.1
#: Smallest noise level (uV): a flat channel must not make every sample an outlier.
NOISE_FLOOR_UV = 1e-6
#: The noise levels move this many times faster during the first settling.
NOISE_FAST = 10.0


class EcgSettings(NamedTuple):
    """Constants of one canceller, fixed at construction (see EcgCanceller for meanings)."""

    sos: np.ndarray  # (n_sections, 6) ECG band-pass, a0 = 1
    zi_step: np.ndarray  # (n_sections, 2) its steady state for a unit input
    pair_channels: np.ndarray  # (n_pairs, 2) int64
    detect_fraction: float
    min_snr: float
    refractory_n: int
    template_n: int
    wave: bool  # correct in the signal domain (needs the band signal and the window)
    window_n: int  # the RMS and TKEO window of the envelopes (signal domain)
    pre_n: int  # the waveform template starts this many samples before the detection
    corr_n: int  # a beat's correction lasts this many samples from its detection
    peak_n: int
    tail_start_n: int
    tail_stop_n: int
    learn_rate: float
    significant_ratio: float
    noise_step: float
    rest_rate: float
    settle_n: int
    lost_n: int
    rr_min_n: float
    rr_max_n: float
    activity_factor: float
    guard_n: int


class EcgState(NamedTuple):
    """Everything the canceller carries; arrays are updated in place by :func:`process_chunk`.

    Channel arrays have the channel last; pair arrays the pair first.
    """

    zi: np.ndarray  # (n_sections, 2, c) ECG band-pass state
    mag_prev: np.ndarray  # (c,) |ECG band| at the previous sample
    noise: np.ndarray  # (c,) running median of |ECG band| between beats
    r_amp: np.ndarray  # (c,) learned R amplitude in the ECG band (0: unknown)
    rest_amp: np.ndarray  # (c,) rest power of the amplitude envelope between beats
    rest_det: np.ndarray  # (c,) same, detection envelope
    rest_n: np.ndarray  # (c,) int64: samples in those rest powers (saturates)
    tpl_amp: np.ndarray  # (template_n, c) power one beat adds to the amplitude envelope
    tpl_det: np.ndarray  # (template_n, c) same, detection envelope
    tpl_n: np.ndarray  # (template_n, c) int64: beats learned at each offset
    buf_amp: np.ndarray  # (template_n, c) squared amplitude envelope of the current beat
    buf_det: np.ndarray  # (template_n, c) squared detection envelope of the current beat
    buf_ok: np.ndarray  # (template_n, c) uint8: that sample may teach the template
    wave: np.ndarray  # (pre_n + template_n + 2, c) the beat's waveform in the band signal,
    #                  from pre_n before the crossing, zero-padded at both ends
    wave_n: np.ndarray  # (c,) int64: beats in the waveform
    sums: np.ndarray  # (4, c) window sums of the waveform's effect (see _process)
    wbeat: np.ndarray  # (pre_n + template_n + 6, c) the waveform at the current beat's samples
    band_ring: np.ndarray  # (band_ring_n, c) the band signal, by absolute index modulo
    band_quiet: np.ndarray  # (band_ring_n, c) uint8: quiet flags of the same samples
    frac: np.ndarray  # (p,) where between the samples before and at detection it crossed
    exact: np.ndarray  # (c,) uint8: the current beat is corrected in the signal domain
    timed: np.ndarray  # (p,) uint8: the current beat was timed on a resting side
    rise: np.ndarray  # (p,) rise of the magnitude over the R amplitude in that sample
    frac_crossing: np.ndarray  # (p,) frac as measured at the crossing (before alignment)
    ring_amp: np.ndarray  # (ring_n, c) squared amplitude envelope of the last samples
    ring_det: np.ndarray  # (ring_n, c) squared detection envelope of the last samples
    ring_ok: np.ndarray  # (ring_n, c) uint8: that sample was quiet
    peak: np.ndarray  # (c,) largest |ECG band| so far in the current beat's peak window
    peak_quiet: np.ndarray  # (c,) uint8: quiet through the peak window so far
    learnable: np.ndarray  # (c,) uint8: the current beat may teach this channel
    significant: np.ndarray  # (c,) uint8: the channel's ECG is significant
    profile: np.ndarray  # (peak_n, c) running peak over final peak, by samples since detection
    profile_n: np.ndarray  # (c,) int64: beats in the profile
    locked: np.ndarray  # (p,) uint8: the pair's beats are known (else bootstrapping)
    last_mark: np.ndarray  # (p,) int64: latest beat or bootstrap candidate
    prev_mark: np.ndarray  # (p,) int64: the one before (restored when a beat is dropped)
    pending_rr: np.ndarray  # (p,) R-R interval the current beat adds once confirmed (-1: none)
    live: np.ndarray  # (p,) uint8: last_mark is a beat being corrected
    ref: np.ndarray  # (p,) int64: the channel the current beat was detected on
    look: np.ndarray  # (p,) int64: the channel beats are looked for on (-1: none)
    look_prev: np.ndarray  # (p,) its magnitude over its R amplitude at the previous sample
    run_max: np.ndarray  # (c,) running peak of the current beat over the R amplitude
    trace: np.ndarray  # (peak_n, c) that running peak, by samples since detection
    scale: np.ndarray  # (p,) the current beat's power scale ((peak / R) ** 2)
    rr: np.ndarray  # (p, RR_N) last R-R intervals (samples)
    rr_count: np.ndarray  # (p,) int64
    rr_median: np.ndarray  # (p,) 0 when unknown
    watch_n: np.ndarray  # (p,) int64: samples since the last beat with a clear view
    cand_t: np.ndarray  # (p, CONFIRM_N) int64: bootstrap candidates, oldest first
    cand_peak: np.ndarray  # (p, CONFIRM_N, 2) their peaks on each side
    cand_tail: np.ndarray  # (p, CONFIRM_N, 2) their largest magnitude in the tail window
    cand_count: np.ndarray  # (p,) int64
    cand_open: np.ndarray  # (p,) uint8: a candidate's peak is being measured
    counts: np.ndarray  # int64, see PRIMED ... NEXT_INDEX

    @classmethod
    def zeros(
        cls,
        n_channels: int,
        n_pairs: int,
        *,
        n_sections: int,
        template_n: int,
        pre_n: int,
        band_ring_n: int,
        peak_n: int,
        ring_n: int,
    ) -> EcgState:
        """A state that has learned nothing."""
        c, p = n_channels, n_pairs
        counts = np.zeros(7, dtype=np.int64)
        counts[NEXT_INDEX] = NEVER
        return cls(
            zi=np.zeros((n_sections, 2, c)),
            mag_prev=np.zeros(c),
            noise=np.full(c, NOISE_FLOOR_UV),
            r_amp=np.zeros(c),
            rest_amp=np.zeros(c),
            rest_det=np.zeros(c),
            rest_n=np.zeros(c, dtype=np.int64),
            tpl_amp=np.zeros((template_n, c)),
            tpl_det=np.zeros((template_n, c)),
            tpl_n=np.zeros((template_n, c), dtype=np.int64),
            buf_amp=np.zeros((template_n, c)),
            buf_det=np.zeros((template_n, c)),
            buf_ok=np.zeros((template_n, c), dtype=np.uint8),
            wave=np.zeros((pre_n + template_n + 2, c)),
            wave_n=np.zeros(c, dtype=np.int64),
            sums=np.zeros((4, c)),
            wbeat=np.zeros((pre_n + template_n + 6, c)),
            band_ring=np.zeros((band_ring_n, c)),
            band_quiet=np.zeros((band_ring_n, c), dtype=np.uint8),
            frac=np.ones(p),
            exact=np.zeros(c, dtype=np.uint8),
            timed=np.zeros(p, dtype=np.uint8),
            rise=np.zeros(p),
            frac_crossing=np.ones(p),
            ring_amp=np.zeros((ring_n, c)),
            ring_det=np.zeros((ring_n, c)),
            ring_ok=np.zeros((ring_n, c), dtype=np.uint8),
            peak=np.zeros(c),
            peak_quiet=np.zeros(c, dtype=np.uint8),
            learnable=np.zeros(c, dtype=np.uint8),
            significant=np.zeros(c, dtype=np.uint8),
            profile=np.zeros((peak_n, c)),
            profile_n=np.zeros(c, dtype=np.int64),
            locked=np.zeros(p, dtype=np.uint8),
            last_mark=np.full(p, NEVER, dtype=np.int64),
            prev_mark=np.full(p, NEVER, dtype=np.int64),
            pending_rr=np.full(p, -1.0),
            live=np.zeros(p, dtype=np.uint8),
            ref=np.zeros(p, dtype=np.int64),
            look=np.full(p, -1, dtype=np.int64),
            look_prev=np.full(p, np.inf),
            run_max=np.zeros(c),
            trace=np.zeros((peak_n, c)),
            scale=np.ones(p),
            rr=np.zeros((p, RR_N)),
            rr_count=np.zeros(p, dtype=np.int64),
            rr_median=np.zeros(p),
            watch_n=np.zeros(p, dtype=np.int64),
            cand_t=np.zeros((p, CONFIRM_N), dtype=np.int64),
            cand_peak=np.zeros((p, CONFIRM_N, 2)),
            cand_tail=np.zeros((p, CONFIRM_N, 2)),
            cand_count=np.zeros(p, dtype=np.int64),
            cand_open=np.zeros(p, dtype=np.uint8),
            counts=counts,
        )


def restart(state: EcgState) -> None:
    """Forget the filter state and the beats in progress; keep everything learned."""
    state.counts[PRIMED] = 0
    state.counts[RING_FILLED] = 0
    state.counts[NEXT_INDEX] = NEVER
    state.ring_ok[:] = 0
    state.live[:] = 0
    state.cand_open[:] = 0
    state.cand_count[:] = 0
    state.last_mark[:] = NEVER
    state.prev_mark[:] = NEVER
    state.watch_n[:] = 0
    state.look_prev[:] = np.inf


def process_chunk(  # noqa: PLR0917
    first_index: int,
    raw: np.ndarray,
    band: np.ndarray,
    amp: np.ndarray,
    det: np.ndarray,
    quiet: np.ndarray,
    state: EcgState,
    settings: EcgSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Correct one chunk; returns ``(amp, det, acted, beats)`` (beats: rows of index, pair).

    ``band`` is the signal the envelopes were computed from (read only in the signal domain).

    ``amp`` and ``det`` are corrected in place when they are C-contiguous float64 arrays (the
    kernel reads each sample before it writes it), else in a copy.
    """
    amp = np.ascontiguousarray(amp, dtype=np.float64)
    det = np.ascontiguousarray(det, dtype=np.float64)
    acted = np.zeros(amp.shape, dtype=np.bool_)
    n_pairs = settings.pair_channels.shape[0]
    capacity = n_pairs * (raw.shape[0] // max(settings.refractory_n, 1) + 1)
    beats = np.empty((capacity, 2), dtype=np.int64)
    n_beats = _process(
        first_index,
        np.ascontiguousarray(raw, dtype=np.float64),
        np.ascontiguousarray(band, dtype=np.float64),
        np.ascontiguousarray(quiet, dtype=np.bool_),
        amp,
        det,
        acted,
        beats,
        state,
        settings,
    )
    return amp, det, acted, beats[:n_beats]


# error_model="numpy": a division by zero gives inf or nan as numpy would, never an exception in
# the acquisition thread.
@njit(cache=True, error_model="numpy")
def _process(first, raw, band, quiet, amp, det, acted, beats, s, c):  # noqa: PLR0917
    # ``amp`` and ``det`` are corrected in place: each sample is read before it is written.
    # The per-sample path reads the state's arrays through locals and calls helpers only on
    # events (a beat, a candidate, the end of a beat): taken from the state tuple in every
    # call, each array costs reference counting, and that cost is most of a chunk's time.
    n_samples, n_channels = raw.shape
    pair_channels = c.pair_channels
    n_pairs = pair_channels.shape[0]
    sos, zi = c.sos, s.zi
    counts = s.counts
    mag_prev, noise, r_amp = s.mag_prev, s.noise, s.r_amp
    rest_amp, rest_det, rest_n = s.rest_amp, s.rest_det, s.rest_n
    tpl_amp, tpl_det = s.tpl_amp, s.tpl_det
    buf_amp, buf_det, buf_ok = s.buf_amp, s.buf_det, s.buf_ok
    ring_amp, ring_det, ring_ok = s.ring_amp, s.ring_det, s.ring_ok
    significant, learnable = s.significant, s.learnable
    locked, last_mark, live, scale = s.locked, s.last_mark, s.live, s.scale
    rr_median, watch_n, cand_open = s.rr_median, s.watch_n, s.cand_open
    look, look_prev = s.look, s.look_prev
    s_ref, run_max, trace, peak, peak_quiet = s.ref, s.run_max, s.trace, s.peak, s.peak_quiet
    profile, profile_n = s.profile, s.profile_n
    sums, band_ring, band_quiet, frac = s.sums, s.band_ring, s.band_quiet, s.frac
    exact, wbeat = s.exact, s.wbeat
    ring_n = ring_amp.shape[0]
    band_n = band_ring.shape[0]
    template_n, peak_n, refractory_n = c.template_n, c.peak_n, c.refractory_n
    corr_n, window_n, pre_n = c.corr_n, c.window_n, c.pre_n
    snr = c.min_snr * NOISE_PEAK
    mag = np.empty(n_channels)
    busy = np.zeros(n_channels, dtype=np.bool_)
    n_beats = 0
    for i in range(n_samples):
        t = first + i
        if counts[PRIMED] == 0:
            _prime(raw[i], s, c, t)
        # The ECG band, channels innermost (their recursions are independent).
        for ch in range(n_channels):
            mag[ch] = raw[i, ch]
        for sec in range(sos.shape[0]):
            b0, b1, b2, a1, a2 = sos[sec, 0], sos[sec, 1], sos[sec, 2], sos[sec, 4], sos[sec, 5]
            z0 = zi[sec, 0]
            z1 = zi[sec, 1]
            for ch in range(n_channels):
                x = mag[ch]
                y = b0 * x + z0[ch]
                z0[ch] = b1 * x - a1 * y + z1[ch]
                z1[ch] = b2 * x - a2 * y
                mag[ch] = y
        for ch in range(n_channels):
            mag[ch] = abs(mag[ch])
        row = t & (band_n - 1)
        settled = t >= counts[SETTLED_AT]
        pos = counts[RING_POS]
        ring_full = counts[RING_FILLED] == ring_n
        for p in range(n_pairs):
            left, right = pair_channels[p, 0], pair_channels[p, 1]
            d = t - last_mark[p]
            if d < 2 * peak_n:
                # The QRS itself is not noise.
                busy[left] = True
                busy[right] = True
            if live[p] and 0 < d < peak_n:
                # Follow the beat's peak; its scale is predicted from the running peak (once
                # that is expected at PROFILE_MIN of the peak or more), then known.
                for side in range(2):
                    ch = left if side == 0 else right
                    peak[ch] = max(peak[ch], mag[ch])
                    peak_quiet[ch] = peak_quiet[ch] != 0 and quiet[i, ch]
                    if r_amp[ch] > 0.0:
                        run_max[ch] = max(run_max[ch], mag[ch] / r_amp[ch])
                        trace[d, ch] = run_max[ch]
                ref = s_ref[p]
                run = run_max[ref]
                if d == peak_n - 1:
                    if _finish_peak(p, left, right, s, c):
                        beats[n_beats, 0] = last_mark[p]
                        beats[n_beats, 1] = p
                        n_beats += 1
                    d = t - last_mark[p]
                elif profile_n[ref] > 0 and profile[d, ref] >= PROFILE_MIN:
                    gain = min(max(run / profile[d, ref], SCALE_LOW), SCALE_HIGH)
                    scale[p] = gain * gain
                    if c.wave and (d == peak_n // 8 or d == peak_n // 4 or d == peak_n // 2):
                        _align(p, gain, t, left, right, s, c)
            if settled and locked[p]:
                # Detect on the side of the pair where the beats show best: of the sides that
                # carry ECG, the one whose envelope is lowest relative to its own ECG (during a
                # one-sided contraction, the resting side). The view changes only when the
                # other side is clearly better: at rest both are alike, and a switch between
                # them must not skip a rising edge.
                ref = look[p]
                if ref >= 0 and not (r_amp[ref] > 0.0 and r_amp[ref] >= snr * noise[ref]):
                    ref = -1
                best = amp[i, ref] / r_amp[ref] / SWITCH_MARGIN if ref >= 0 else np.inf
                for side in range(2):
                    ch = left if side == 0 else right
                    if ch != ref and r_amp[ch] > 0.0 and r_amp[ch] >= snr * noise[ch]:
                        ratio = amp[i, ch] / r_amp[ch]
                        if ratio < best:
                            best = ratio
                            ref = ch
                look[p] = ref
                if ref >= 0:
                    if quiet[i, ref]:
                        watch_n[p] += 1
                    rr = rr_median[p]
                    now = mag[ref] / r_amp[ref]
                    # The edge is taken on the pair's normalised magnitude, whichever side it
                    # came from at the sample before.
                    before = look_prev[p]
                    look_prev[p] = now
                    if watch_n[p] > max(c.lost_n, 4.0 * rr):
                        _unlock(p, s)
                    elif (
                        before < c.detect_fraction <= now and d >= refractory_n and _periodic(d, rr)
                    ):
                        s.pending_rr[p] = d if rr <= 0.0 or d <= RR_HIGH * rr else -1.0
                        # Where between the last sample and this one the edge crossed: the
                        # waveform is aligned to the crossing, not to the sample grid.
                        rise = now - before if np.isfinite(before) else 0.0
                        frac[p] = (c.detect_fraction - before) / rise if rise > 0.0 else 1.0
                        s.rise[p] = rise
                        s.frac_crossing[p] = frac[p]
                        _start_beat(p, t, i, ref, left, right, mag, quiet, s, c)
                        d = 0
                else:
                    look_prev[p] = np.inf
            elif settled:
                if cand_open[p]:
                    _follow_candidate(p, d, left, right, mag, s, c)
                elif d >= refractory_n:
                    for side in range(2):
                        ch = left if side == 0 else right
                        level = snr * noise[ch]
                        if quiet[i, ch] and mag_prev[ch] <= level < mag[ch]:
                            _open_candidate(p, t, left, right, mag, s)
                            break
            if not locked[p] and not live[p]:
                # Rest levels and templates serve only pairs with known beats: a pair still
                # looking for them (every pair without ECG) costs no more than that.
                continue
            # Both channels of the pair: rest level, correction, template.
            mark = last_mark[p]
            for side in range(2):
                ch = left if side == 0 else right
                a_sq = amp[i, ch] * amp[i, ch]
                e_sq = det[i, ch] * det[i, ch]
                # Rest power between beats, from the sample leaving the ring: by now it is
                # known whether a beat was detected within ``ring_n`` samples after it (its
                # QRS was already rising then).
                if ring_full and ring_ok[pos, ch]:
                    leaving = t - ring_n
                    # A sample far above the rest level is activity the quiet flag has not
                    # caught yet (it is decided a block at a time): it teaches nothing.
                    settled = rest_n[ch] > ring_n
                    calm = not settled or ring_amp[pos, ch] <= c.activity_factor * rest_amp[ch]
                    if calm and not mark - ring_n <= leaving < mark + corr_n:
                        rate = max(c.rest_rate, 1.0 / (rest_n[ch] + 1))
                        rest_amp[ch] += rate * (ring_amp[pos, ch] - rest_amp[ch])
                        rest_det[ch] += rate * (ring_det[pos, ch] - rest_det[ch])
                        rest_n[ch] = min(rest_n[ch] + 1, 2**40)
                ring_amp[pos, ch] = a_sq
                ring_det[pos, ch] = e_sq
                ring_ok[pos, ch] = quiet[i, ch]
                if c.wave:
                    # Kept for pairs with known beats only (a pair locks on at least a
                    # refractory period before its first beat: enough to fill what is read).
                    band_ring[row, ch] = band[i, ch]
                    band_quiet[row, ch] = quiet[i, ch]
                k = t - mark
                if not live[p] or k >= corr_n:
                    continue
                g_sq = scale[p]
                if exact[ch]:
                    # The envelopes of the band signal minus the beat's waveform, exactly: the
                    # window sums of what subtracting it changes (its pre-detection part
                    # included, which is already in the window), updated as samples enter and
                    # leave. RMS: sum (b - g w)**2 = sum b**2 - 2 g S0 + g**2 S1. TKEO, for
                    # psi(x)[n] = x[n]**2 - x[n-1] x[n+1]: psi(b - g w) = psi(b) - g S2 + g**2 S3.
                    g = math.sqrt(g_sq)
                    base = mark - pre_n - 3
                    lo = mark - pre_n - 2
                    hi = mark + template_n + 1
                    b_start = counts[BAND_START]
                    if t <= hi:
                        _rms_terms(sums, ch, 1.0, t, base, wbeat, band_ring, b_start)
                    if k > 0 and lo <= t - window_n <= hi:
                        _rms_terms(sums, ch, -1.0, t - window_n, base, wbeat, band_ring, b_start)
                    if lo <= t - 1 <= hi:
                        _tkeo_terms(sums, ch, 1.0, t - 1, base, wbeat, band_ring, b_start)
                    if k > 0 and lo <= t - window_n - 1 <= hi:
                        _tkeo_terms(sums, ch, -1.0, t - window_n - 1, base, wbeat, band_ring,
                                    b_start)  # fmt: skip
                    rms_change = (2.0 * g * sums[0, ch] - g_sq * sums[1, ch]) / window_n
                    tkeo_change = (g * sums[2, ch] - g_sq * sums[3, ch]) / window_n
                    amp[i, ch] = math.sqrt(max(a_sq - rms_change, 0.0))
                    det[i, ch] = math.sqrt(max(e_sq - tkeo_change, 0.0))
                    acted[i, ch] = significant[ch] != 0
                elif k < template_n and significant[ch] != 0:
                    # Only a significant ECG is removed: a small one stays in the rest
                    # statistics (and under the thresholds) as it always has, and a beat the
                    # canceller misses later cannot rise over thresholds lowered without it.
                    amp[i, ch] = math.sqrt(max(a_sq - g_sq * tpl_amp[k, ch], 0.0))
                    det[i, ch] = math.sqrt(max(e_sq - g_sq * tpl_det[k, ch], 0.0))
                    acted[i, ch] = True
                if c.wave and k == corr_n - 1:
                    # Only at the end: the sums must lose every term with the waveform that
                    # they were added with.
                    _learn_wave(ch, p, mark, math.sqrt(g_sq), s, c)
                if k < template_n:
                    # The power templates are learned in both domains: they say whether the
                    # channel's ECG is significant.
                    buf_amp[k, ch] = a_sq
                    buf_det[k, ch] = e_sq
                    buf_ok[k, ch] = learnable[ch] != 0 and quiet[i, ch]
                    if k == template_n - 1:
                        _learn_template(ch, g_sq, s, c)
        # Running median of each channel's ECG-band magnitude away from beats: equal steps up
        # and down in proportion to the level settle where half the samples are above,
        # whatever the scale, and a QRS now and then barely moves it.
        fast = counts[NOISE_PRIMED] == 0
        if fast and settled:
            counts[NOISE_PRIMED] = 1
        step = c.noise_step * (NOISE_FAST if fast else 1.0)
        for ch in range(n_channels):
            if not busy[ch]:
                factor = 1.0 + step if mag[ch] > noise[ch] else 1.0 - step
                noise[ch] = max(noise[ch] * factor, NOISE_FLOOR_UV)
            busy[ch] = False
            mag_prev[ch] = mag[ch]
        counts[RING_POS] = (pos + 1) % ring_n
        counts[RING_FILLED] = min(counts[RING_FILLED] + 1, ring_n)
    counts[NEXT_INDEX] = first + n_samples
    return n_beats


@njit(cache=True, inline="always")
def _w(wave, ch, pre_n, x):
    """The waveform template at ``x`` samples after the crossing (linear interpolation)."""
    position = x + pre_n + 1.0  # row 0 is the zero pad
    k = math.floor(position)
    if k < 0 or k + 1 >= wave.shape[0]:
        return 0.0
    f = position - k
    return wave[k, ch] * (1.0 - f) + wave[k + 1, ch] * f


@njit(cache=True, inline="always")
def _b(band_ring, ch, j, b_start):
    """The band signal at absolute index ``j`` (0 before the last restart)."""
    if j < b_start:
        return 0.0
    # The ring's length is a power of two: the mask is the modulo.
    return band_ring[j & (band_ring.shape[0] - 1), ch]


@njit(cache=True, inline="always")
def _wb(wbeat, ch, r):
    """The current beat's waveform at row ``r`` (its samples from ``base`` on; 0 outside)."""
    if r < 0 or r >= wbeat.shape[0]:
        return 0.0
    return wbeat[r, ch]


@njit(cache=True, inline="always")
def _rms_terms(sums, ch, sign, j, base, wbeat, band_ring, b_start):  # noqa: PLR0917
    w = _wb(wbeat, ch, j - base)
    sums[0, ch] += sign * _b(band_ring, ch, j, b_start) * w
    sums[1, ch] += sign * w * w


@njit(cache=True, inline="always")
def _tkeo_terms(sums, ch, sign, n, base, wbeat, band_ring, b_start):  # noqa: PLR0917
    r = n - base
    w_before = _wb(wbeat, ch, r - 1)
    w_now = _wb(wbeat, ch, r)
    w_after = _wb(wbeat, ch, r + 1)
    b_before = _b(band_ring, ch, n - 1, b_start)
    b_now = _b(band_ring, ch, n, b_start)
    b_after = _b(band_ring, ch, n + 1, b_start)
    sums[2, ch] += sign * (2.0 * b_now * w_now - b_before * w_after - w_before * b_after)
    sums[3, ch] += sign * (w_now * w_now - w_before * w_after)


@njit(cache=True)
def _start_sums(p, mark, now, left, right, s, c):  # noqa: PLR0917
    """A beat's window sums as the per-sample update would have them before sample ``now``.

    At the detection (``now == mark``) the waveform before it is already in the window; later
    the sums are made afresh when the beat's alignment is refined. The waveform is sampled at
    the beat's samples once here, so the per-sample update only looks it up.
    """
    b_start = s.counts[BAND_START]
    offset = 1.0 - s.frac[p]
    base = mark - c.pre_n - 3
    lo = mark - c.pre_n - 2
    hi = mark + c.template_n + 1
    # From the detection on, the update takes out the sample leaving the window: it must be in.
    first = now - c.window_n + (1 if now == mark else 0)
    for ch in (left, right):
        for r in range(s.wbeat.shape[0]):
            s.wbeat[r, ch] = _w(s.wave, ch, c.pre_n, base + r - mark + offset)
        for k in range(4):
            s.sums[k, ch] = 0.0
        # Samples up to now - 1 (RMS) and centres up to now - 2 (TKEO), within the window.
        for j in range(max(lo, first), min(hi + 1, now)):
            _rms_terms(s.sums, ch, 1.0, j, base, s.wbeat, s.band_ring, b_start)
        for n in range(max(lo, first - 1), min(hi + 1, now - 1)):
            _tkeo_terms(s.sums, ch, 1.0, n, base, s.wbeat, s.band_ring, b_start)


@njit(cache=True)
def _align(p, gain, now, left, right, s, c):  # noqa: PLR0917
    """Align the beat's waveform for its height ``gain`` (known or predicted) at ``now``.

    A beat ``gain`` times the usual crosses the detection level earlier on its rise, by
    ``detect_fraction * (gain - 1) / rise`` samples: its waveform belongs where the usual beat
    would have crossed (a 10 % larger beat crosses half a sample early, which would leave 1 %
    of its power, more than the rest power at 150 uV R peaks).
    """
    if s.rise[p] <= 0.0:
        return
    shift = c.detect_fraction * (gain - 1.0) / s.rise[p]
    s.frac[p] = s.frac_crossing[p] + min(max(shift, -MAX_SHIFT), MAX_SHIFT)
    _start_sums(p, s.last_mark[p], now, left, right, s, c)


@njit(cache=True)
def _learn_wave(ch, p, mark, g, s, c):  # noqa: PLR0917
    """LMS step of the channel's waveform towards the beat just over, per unit scale."""
    if not (s.learnable[ch] and s.timed[p]) or g <= 0.0:
        return
    if mark - c.pre_n - 1 < s.counts[BAND_START]:
        return
    phase = s.frac[p]
    ring = s.band_ring
    n = ring.shape[0]
    rate = max(c.learn_rate, 1.0 / (s.wave_n[ch] + 1))
    for x in range(-c.pre_n, c.template_n):
        # The crossing was at mark - 1 + phase: this point lies between these two samples.
        before = (mark - 1 + x) % n
        after = (mark + x) % n
        if not (s.band_quiet[before, ch] and s.band_quiet[after, ch]):
            continue
        value = ring[before, ch] * (1.0 - phase) + ring[after, ch] * phase
        row = x + c.pre_n + 1
        s.wave[row, ch] += rate * (value / g - s.wave[row, ch])
    s.wave_n[ch] += 1


@njit(cache=True)
def _prime(row, s, c, t):
    # Start as if the input had always been at its first value: a DC offset of the raw signal
    # (electrode potential, drift) must not ring through the band as fake beats.
    for sec in range(c.sos.shape[0]):
        for ch in range(row.shape[0]):
            s.zi[sec, 0, ch] = c.zi_step[sec, 0] * row[ch]
            s.zi[sec, 1, ch] = c.zi_step[sec, 1] * row[ch]
    s.counts[PRIMED] = 1
    s.counts[SETTLED_AT] = t + c.settle_n
    s.counts[BAND_START] = t


@njit(cache=True)
def _periodic(d, rr):
    """Whether a beat ``d`` samples after the previous one fits the rhythm."""
    if rr <= 0.0:
        return True
    x = d / rr
    if x < RR_LOW:
        return False
    if x <= RR_HIGH or x >= ANY_AFTER:
        return True
    return abs(x - round(x)) <= MULTIPLE_TOLERANCE


@njit(cache=True)
def _unlock(p, s):
    # A clear view and no beat for this long: the R amplitude changed (an electrode moved).
    # Find the beats again from scratch, keeping the templates.
    s.locked[p] = 0
    s.cand_count[p] = 0
    s.cand_open[p] = 0


@njit(cache=True)
def _finish_peak(p, left, right, s, c):
    """The peak window is over: confirm or drop the beat; scale it and learn from it.

    Returns True when the beat is confirmed.
    """
    # Either side may vouch for the beat (EMG in the band can spoil one side's peak): the one
    # whose peak came to the R amplitude the way its beats rise, best; it also scales the beat.
    best = -1
    best_mismatch = np.inf
    for ch in (left, right):
        run = s.run_max[ch]
        if s.r_amp[ch] <= 0.0 or not CONFIRM_LOW <= run <= CONFIRM_HIGH:
            continue
        mismatch = 0.0
        if s.profile_n[ch] > 0:
            for k in range(c.peak_n):
                mismatch += abs(s.trace[k, ch] / run - s.profile[k, ch])
            mismatch /= c.peak_n
        # Until a profile is learned only the side the beat was detected on counts.
        if s.profile_n[ch] == 0 and ch != s.ref[p]:
            continue
        if mismatch <= PROFILE_TOLERANCE and mismatch < best_mismatch:
            best = ch
            best_mismatch = mismatch
    if best < 0:
        # Not a beat: stop correcting, and let the rhythm continue from the beat before (the
        # true beat may be still to come).
        s.live[p] = 0
        s.last_mark[p] = s.prev_mark[p]
        return False
    if s.pending_rr[p] > 0.0:
        _push_interval(p, s.pending_rr[p], s)
    s.scale[p] = min(max(s.run_max[best], SCALE_LOW), SCALE_HIGH) ** 2
    if c.wave:
        _align(p, s.run_max[s.ref[p]], s.last_mark[p] + c.peak_n - 1, left, right, s, c)
    for ch in (left, right):
        if s.peak_quiet[ch] == 0 or s.learnable[ch] == 0:
            continue
        run = s.run_max[ch]
        if s.r_amp[ch] > 0.0 and run > 0.0:
            rate = max(c.learn_rate, 1.0 / (s.profile_n[ch] + 1))
            for k in range(c.peak_n):
                s.profile[k, ch] += rate * (s.trace[k, ch] / run - s.profile[k, ch])
            s.profile_n[ch] += 1
        if s.r_amp[ch] > 0.0:
            s.r_amp[ch] += c.learn_rate * (s.peak[ch] - s.r_amp[ch])
        elif s.peak[ch] >= c.min_snr * NOISE_PEAK * s.noise[ch]:
            # A side too weak to bootstrap on still learns its R amplitude from the beats
            # its partner finds.
            s.r_amp[ch] = s.peak[ch]
    return True


@njit(cache=True)
def _push_interval(p, interval, s):
    rr = s.rr[p]
    if s.rr_count[p] < RR_N:
        rr[s.rr_count[p]] = interval
        s.rr_count[p] += 1
    else:
        for k in range(RR_N - 1):
            rr[k] = rr[k + 1]
        rr[RR_N - 1] = interval
    s.rr_median[p] = np.median(rr[: s.rr_count[p]])


@njit(cache=True)
def _start_beat(p, t, i, ref, left, right, mag, quiet, s, c):  # noqa: PLR0917
    s.prev_mark[p] = s.last_mark[p]
    s.last_mark[p] = t
    s.live[p] = 1
    s.ref[p] = ref
    s.scale[p] = 1.0
    s.watch_n[p] = 0
    if c.wave:
        _start_sums(p, t, t, left, right, s, c)
    ring_n = s.ring_amp.shape[0]
    full = s.counts[RING_FILLED] == ring_n
    pos = s.counts[RING_POS]
    for ch in (left, right):
        s.peak[ch] = mag[ch]
        s.peak_quiet[ch] = quiet[i, ch]
        run = mag[ch] / s.r_amp[ch] if s.r_amp[ch] > 0.0 else 0.0
        s.run_max[ch] = run
        s.trace[0, ch] = run
        # Learn only from beats over a resting muscle: the pipeline's quiet flag, and the
        # envelope before the beat near the rest level (activity too weak to be detected as
        # such still must not pass for ECG). The QRS enters the envelope window before it
        # crosses the detection level, so the last ``guard_n`` samples do not count.
        ok = quiet[i, ch] and s.rest_n[ch] > 0 and full
        if ok:
            total = 0.0
            for age in range(c.guard_n + 1, ring_n + 1):
                row = (pos + ring_n - age) % ring_n
                total += s.ring_amp[row, ch]
                ok = ok and s.ring_ok[row, ch] != 0
            ok = ok and total <= c.activity_factor * s.rest_amp[ch] * (ring_n - c.guard_n)
        s.learnable[ch] = ok
    # The signal domain needs the beat timed to a fraction of a sample, which only a resting
    # side gives: EMG in the band on the side it is detected on shifts its crossing, and a
    # misplaced waveform adds power where it should take it away. Such beats, and channels
    # without a waveform yet, are corrected in the power domain.
    s.timed[p] = s.learnable[ref]
    for ch in (left, right):
        s.exact[ch] = c.wave and s.timed[p] != 0 and s.wave_n[ch] >= MIN_WAVE_BEATS


@njit(cache=True)
def _open_candidate(p, t, left, right, mag, s):  # noqa: PLR0917
    """A bootstrap candidate: an outlier of the ECG band on a resting side."""
    for k in range(CONFIRM_N - 1):  # newest last
        s.cand_t[p, k] = s.cand_t[p, k + 1]
        for side in range(2):
            s.cand_peak[p, k, side] = s.cand_peak[p, k + 1, side]
            s.cand_tail[p, k, side] = s.cand_tail[p, k + 1, side]
    s.cand_t[p, CONFIRM_N - 1] = t
    s.cand_peak[p, CONFIRM_N - 1, 0] = mag[left]
    s.cand_peak[p, CONFIRM_N - 1, 1] = mag[right]
    s.cand_tail[p, CONFIRM_N - 1, 0] = 0.0
    s.cand_tail[p, CONFIRM_N - 1, 1] = 0.0
    s.cand_count[p] = min(s.cand_count[p] + 1, CONFIRM_N)
    s.cand_open[p] = 1
    s.last_mark[p] = t
    s.live[p] = 0


@njit(cache=True)
def _follow_candidate(p, d, left, right, mag, s, c):  # noqa: PLR0917
    """Measure a candidate's peak, then its tail: a QRS is over by then, EMG is not."""
    last = CONFIRM_N - 1
    if d < c.peak_n:
        s.cand_peak[p, last, 0] = max(s.cand_peak[p, last, 0], mag[left])
        s.cand_peak[p, last, 1] = max(s.cand_peak[p, last, 1], mag[right])
    elif d >= c.tail_start_n:
        s.cand_tail[p, last, 0] = max(s.cand_tail[p, last, 0], mag[left])
        s.cand_tail[p, last, 1] = max(s.cand_tail[p, last, 1], mag[right])
    if d >= c.tail_stop_n - 1:
        s.cand_open[p] = 0
        _confirm(p, left, right, s, c)


@njit(cache=True)
def _confirm(p, left, right, s, c):
    """Lock on when the last candidates beat like a heart: regular, brief, of equal height."""
    if s.cand_count[p] < CONFIRM_N:
        return
    shortest = np.inf
    longest = 0.0
    for k in range(1, CONFIRM_N):
        interval = float(s.cand_t[p, k] - s.cand_t[p, k - 1])
        shortest = min(shortest, interval)
        longest = max(longest, interval)
    if shortest < c.rr_min_n or longest > c.rr_max_n or longest > INTERVAL_SPREAD * shortest:
        return
    carried = False
    for side in range(2):
        ch = left if side == 0 else right
        low = np.inf
        high = 0.0
        total = 0.0
        brief = True
        for k in range(CONFIRM_N):
            v = s.cand_peak[p, k, side]
            low = min(low, v)
            high = max(high, v)
            total += v
            brief = brief and s.cand_tail[p, k, side] <= TAIL_FRACTION * v
        mean = total / CONFIRM_N
        level = c.min_snr * NOISE_PEAK * s.noise[ch]
        if brief and high <= PEAK_SPREAD * low and mean >= level:
            s.r_amp[ch] = mean
            carried = True
        else:
            s.r_amp[ch] = 0.0
    if not carried:
        return
    s.locked[p] = 1
    # The ring was not written while the pair was looking for its beats.
    s.ring_ok[:, left] = 0
    s.ring_ok[:, right] = 0
    s.rr_count[p] = 0
    for k in range(1, CONFIRM_N):
        _push_interval(p, float(s.cand_t[p, k] - s.cand_t[p, k - 1]), s)
    s.cand_count[p] = 0
    s.watch_n[p] = 0
    # The last candidate is a beat, but it was found at the bootstrap level, not at
    # ``detect_fraction``: it times the next beat, nothing is corrected or learned from it.


@njit(cache=True)
def _learn_template(ch, scale, s, c):
    """LMS step of the channel's templates towards the beat just over, per unit scale."""
    # A beat far above what the channel's beats have held so far came with a contraction
    # (the quiet flag lags by up to a block): it teaches nothing.
    learned, peak, seen = 0, 0.0, 0.0
    for k in range(c.template_n):
        if s.tpl_n[k, ch] > 0:
            learned += 1
            peak = max(peak, s.tpl_amp[k, ch])
        if s.buf_ok[k, ch]:
            seen = max(seen, s.buf_amp[k, ch])
    if learned and seen > c.activity_factor * (s.rest_amp[ch] + scale * max(peak, 0.0)):
        return
    # A beat is over by the end of the window (the envelope has let go of the QRS); what is
    # still high there is a contraction that began during the beat.
    end = c.template_n - 1
    if s.buf_ok[end, ch] and s.buf_amp[end, ch] > c.activity_factor * s.rest_amp[ch]:
        return
    best = -np.inf
    for k in range(c.template_n):
        if s.buf_ok[k, ch] and scale > 0.0:
            # A running mean for the first beats, then an exponential one that follows slow
            # changes (respiration, electrode contact).
            rate = max(c.learn_rate, 1.0 / (s.tpl_n[k, ch] + 1))
            target_amp = (s.buf_amp[k, ch] - s.rest_amp[ch]) / scale
            target_det = (s.buf_det[k, ch] - s.rest_det[ch]) / scale
            s.tpl_amp[k, ch] += rate * (target_amp - s.tpl_amp[k, ch])
            s.tpl_det[k, ch] += rate * (target_det - s.tpl_det[k, ch])
            s.tpl_n[k, ch] += 1
        best = max(best, s.tpl_amp[k, ch])
    s.significant[ch] = s.rest_n[ch] > 0 and best >= c.significant_ratio * s.rest_amp[ch]
