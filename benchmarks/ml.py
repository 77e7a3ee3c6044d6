"""Dechirping maximum likelihood: the chirp's kind, edges and frequencies from the raw signal.

Notes:
    For a real chirp of unknown amplitude and phase in white noise, the log-likelihood,
    concentrated over the amplitude and phase, is (up to the image term at -2f) the energy of the
    matched filter J = 2 |S|^2 / N, S = sum_n x[n] exp(-j phi(t_n - t0; f0, f1)) over the N samples
    of the chirp, phi being chirpgen's ``chirp_phase``. Started from the ridge tracker's fit of each
    kind (:mod:`chirploc.ridge`): a grid over the sweep f1 - f0 (steps of 0.5 / T Hz) and an FFT
    over f0 of the dechirped, block-averaged signal find the main lobe (the grid keeps the shape of
    the law fixed: for the exponential kind, that of the starting f1 / f0); Nelder-Mead on the exact
    J refines (f0, f1); the onset and end are the change points that maximise
    2 |S(a, b)|^2 / (b - a + 1) over windows [a, b] within one column of the current edges
    (cumulative sums of the dechirped signal, the curve held fixed in absolute time). This is done
    twice (the law's shape is anchored at the onset), then (f0, f1) are refined once more on the
    final window. The kind with the largest J wins (generalised likelihood ratio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import chirp_phase
from chirploc.curve_fit import curve_hz
from chirploc.ridge import Estimate, ImageGrid, ridge_core

HALF_RANGE_HZ = 2.0  # default half width of the (f0, sweep) grid around the ridge estimate
_ROUNDS = 2  # grid search, refinement and change points this many times before the final refinement
_MIN_EXP_PHASE_HZ = 1e-3  # an exponential law needs f0, f1 > 0: trial values below are clamped
_GRID_STEP_CYCLES = 0.5  # sweep grid step, in cycles over the chirp (0.5 / T Hz)
_LOBE_MARGIN_HZ = 2.0  # block averaging keeps offsets up to the half range plus this
_SAMPLES_PER_HZ_KEPT = 4  # ... sampled this many times faster than needed (rate / 4 per Hz kept)
_MIN_BLOCKS = 4  # fewer blocks than this: no block averaging
_FFT_ZERO_PAD = 4  # the FFT over f0 is this many times (at least) longer than the signal
_NM_STEP_CYCLES = 0.3  # Nelder-Mead's initial simplex step, in cycles over the chirp
_NM_XATOL_CYCLES = 1e-3  # ... and its tolerance on (f0, f1)
_NM_FATOL = 1e-6
_NM_MAXITER = 200
_MIN_CHIRP_SAMPLES = 4.0  # change points closer than this many samples are not taken
_RATIO_ONE = 1e-9  # |f1 / f0 - 1| below this: the exponential law is taken as linear
_MIN_SHAPE_HZ = 0.25  # f0, f1 are clamped to this when taking the exponential's shape f1 / f0


class Segment(NamedTuple):
    """The record's samples under one hypothesis of the chirp's span [t0, t0 + T]."""

    x: np.ndarray  # (N,) samples
    tau_s: np.ndarray  # (N,) their time since t0
    duration_s: float  # T


@dataclass(frozen=True)
class DechirpProblem:
    """One record and how far the search may move from where it starts."""

    signal: np.ndarray  # (n_samples,) float64 record
    sample_rate_hz: float
    half_range_hz: float  # half width of the grid over f0 and the sweep f1 - f0
    search_s: float  # how far the change points may move from the current edges

    def segment(self, t_start_s: float, duration_s: float) -> Segment:
        """The samples n / fs in [t_start_s, t_start_s + duration_s] (as chirpgen places a chirp)."""
        fs, x = self.sample_rate_hz, self.signal
        first = max(int(np.ceil(t_start_s * fs - 1e-9)), 0)
        last = min(int(np.floor((t_start_s + duration_s) * fs + 1e-9)), len(x) - 1)
        return Segment(x[first : last + 1], np.arange(first, last + 1) / fs - t_start_s, duration_s)


def _clamped_phase(kind: str, tau_s: np.ndarray, f0: float, f1: float, duration_s: float) -> np.ndarray:
    """chirpgen's ``chirp_phase``, with an exponential's f0, f1 clamped > 0 (the search may wander)."""
    if kind == "exponential":
        f0, f1 = max(f0, _MIN_EXP_PHASE_HZ), max(f1, _MIN_EXP_PHASE_HZ)
    return chirp_phase(kind, tau_s, f0, f1, duration_s)


def _neg_j(params: np.ndarray, kind: str, seg: Segment) -> float:
    """-J at (f0, f1) = params, for the minimiser."""
    s = np.sum(seg.x * np.exp(-1j * _clamped_phase(kind, seg.tau_s, params[0], params[1], seg.duration_s)))
    return -2.0 * (s.real**2 + s.imag**2) / len(seg.x)


def unit_sweep_phase(kind: str, tau_s: np.ndarray, duration_s: float, ratio: float) -> np.ndarray:
    """The phase per Hz of sweep f1 - f0, with f0's own term 2 pi f0 tau taken out (rad / Hz).

    From chirpgen's law: phi(tau; f0, f1) = 2 pi f0 tau + (f1 - f0) * this. For the exponential
    kind it depends on f1 / f0, held at ``ratio``; near 1 its limit is the linear one.
    """
    if kind != "exponential":
        return chirp_phase(kind, tau_s, 0.0, 1.0, duration_s)
    if abs(ratio - 1.0) < _RATIO_ONE:
        return chirp_phase("linear", tau_s, 0.0, 1.0, duration_s)
    return (chirp_phase(kind, tau_s, 1.0, ratio, duration_s) - 2 * np.pi * tau_s) / (ratio - 1.0)


def _grid_search(problem: DechirpProblem, seg: Segment, kind: str, f0: float, f1: float) -> tuple[float, float]:
    """Best (f0, f1) over a sweep grid x FFT over f0, both within +-half_range_hz of the start."""
    fs, half_range, dur = problem.sample_rate_hz, problem.half_range_hz, seg.duration_s
    per_hz = unit_sweep_phase(kind, seg.tau_s, dur, max(f1, _MIN_SHAPE_HZ) / max(f0, _MIN_SHAPE_HZ))
    sweeps = (f1 - f0) + np.arange(-half_range, half_range + 1e-9, _GRID_STEP_CYCLES / dur)
    base = seg.x * np.exp(-2j * np.pi * f0 * seg.tau_s)  # (N,)
    z = base[None, :] * np.exp(-1j * sweeps[:, None] * per_hz[None, :])  # (S, N)
    dec = max(int(fs / (_SAMPLES_PER_HZ_KEPT * (half_range + _LOBE_MARGIN_HZ))), 1)
    n_blocks = z.shape[1] // dec
    if n_blocks >= _MIN_BLOCKS:
        z = z[:, : n_blocks * dec].reshape(len(sweeps), n_blocks, dec).sum(axis=2)  # (S, N / dec)
        fs_dec = fs / dec
    else:
        fs_dec = fs
    nfft = 1 << int(np.ceil(np.log2(_FFT_ZERO_PAD * z.shape[1])))
    spec = np.abs(np.fft.fft(z, nfft, axis=1)) ** 2  # (S, nfft)
    offsets = np.fft.fftfreq(nfft, 1.0 / fs_dec)
    spec[:, np.abs(offsets) > half_range] = 0.0
    s_i, k_i = np.unravel_index(int(np.argmax(spec)), spec.shape)
    f0_best = f0 + offsets[k_i]
    return float(f0_best), float(f0_best + sweeps[s_i])


def _refine(seg: Segment, kind: str, f0: float, f1: float) -> tuple[float, float]:
    """Nelder-Mead on -J from (f0, f1)."""
    dur = seg.duration_s
    step = _NM_STEP_CYCLES / dur
    res = minimize(_neg_j, np.array([f0, f1]), args=(kind, seg), method="Nelder-Mead",
                   options={"initial_simplex": [[f0, f1], [f0 + step, f1], [f0, f1 + step]],
                            "xatol": _NM_XATOL_CYCLES / dur, "fatol": _NM_FATOL, "maxiter": _NM_MAXITER})
    return float(res.x[0]), float(res.x[1])


def _change_points(problem: DechirpProblem, kind: str, t0: float, t1: float, f0: float,
                   f1: float) -> tuple[float, float]:
    """(onset, end) maximising 2 |S(a, b)|^2 / (b - a + 1) for the chirp curve fixed in absolute time."""
    fs, x, search_s = problem.sample_rate_hz, problem.signal, problem.search_s
    lo = max(int(np.floor((t0 - search_s) * fs)), 0)
    hi = min(int(np.ceil((t1 + search_s) * fs)), len(x) - 1)
    t = np.arange(lo, hi + 1) / fs
    dur = t1 - t0
    u = (t - t0) / dur
    # the phase continued past the edges with the edge frequencies (f constant outside [0, 1])
    inside = np.clip(u, 0.0, 1.0)
    phi = _clamped_phase(kind, inside * dur, f0, f1, dur)
    phi += 2 * np.pi * np.where(u < 0, f0 * (u * dur), np.where(u > 1, f1 * (u - 1) * dur, 0.0))
    c = np.concatenate([[0.0], np.cumsum(x[lo : hi + 1] * np.exp(-1j * phi))])
    a_idx = np.arange(0, min(int(2 * search_s * fs) + 1, len(c) - 1))
    b_idx = np.arange(max(len(c) - 1 - int(2 * search_s * fs), 1), len(c))
    s = c[b_idx][None, :] - c[a_idx][:, None]  # (A, B): sum over samples [a, b)
    length = b_idx[None, :] - a_idx[:, None]
    score = np.where(length > 0, 2 * np.abs(s) ** 2 / np.maximum(length, 1), -np.inf)
    ia, ib = np.unravel_index(int(np.argmax(score)), score.shape)
    return (lo + a_idx[ia]) / fs, (lo + b_idx[ib] - 1) / fs


def _ml_kind(problem: DechirpProblem, kind: str, *, t_start_s: float, duration_s: float, f_start_hz: float,
             f_end_hz: float) -> tuple[float, Estimate]:
    """J and the estimate of one kind, searched from the given start (see module Notes)."""
    t0, dur, f0, f1 = t_start_s, duration_s, f_start_hz, f_end_hz
    for _ in range(_ROUNDS):
        seg = problem.segment(t0, dur)
        f0, f1 = _grid_search(problem, seg, kind, f0, f1)
        f0, f1 = _refine(seg, kind, f0, f1)
        t0_new, t1_new = _change_points(problem, kind, t0, t0 + dur, f0, f1)
        if t1_new - t0_new <= _MIN_CHIRP_SAMPLES / problem.sample_rate_hz:
            break
        f_edges = curve_hz(kind, (np.array([t0_new, t1_new]) - t0) / dur, f0, f1)  # the law anchored at t0
        t0, dur = t0_new, t1_new - t0_new
        f0, f1 = float(f_edges[0]), float(f_edges[1])
    seg = problem.segment(t0, dur)
    f0, f1 = _refine(seg, kind, f0, f1)
    s = np.sum(seg.x * np.exp(-1j * _clamped_phase(kind, seg.tau_s, f0, f1, dur)))
    j = 2.0 * abs(s) ** 2 / len(seg.x)
    return j, Estimate(kind=KIND_NAMES.index(kind), t_start_s=float(t0), f_start_hz=f0, f_end_hz=f1,
                       duration_s=float(dur))


def ml_core(signal: np.ndarray, image: np.ndarray, grid: ImageGrid, half_range_hz: float = HALF_RANGE_HZ) -> Estimate:
    """The ML estimator on one record (unchecked), started from the ridge tracker on its image."""
    ridge = ridge_core(image, grid)
    problem = DechirpProblem(signal, grid.sample_rate_hz, half_range_hz, search_s=grid.column_s)
    best, best_j = None, -np.inf
    for kind in KIND_NAMES:
        fit = ridge.fits[kind]
        j, est = _ml_kind(problem, kind, t_start_s=ridge.estimate.t_start_s, duration_s=ridge.estimate.duration_s,
                          f_start_hz=fit.f_start_hz, f_end_hz=fit.f_end_hz)
        if j > best_j:
            best, best_j = est, j
    return best


def ml_estimate(signal: np.ndarray, config: GenConfig, image: np.ndarray | None = None,
                half_range_hz: float = HALF_RANGE_HZ) -> dict[str, float]:
    """Dechirping maximum-likelihood estimate from the raw signal, started from the ridge tracker.

    Args:
        signal: (n_samples,) float record of ``config``'s frame.
        config: the generation config.
        image: the sample's uint8 image, to skip recomputing it from ``signal``.
        half_range_hz: half width of the (f0, f1 - f0) grid around the ridge estimate.

    Returns:
        dict with ``kind`` (int), ``t_start_s``, ``f_start_hz``, ``f_end_hz``, ``duration_s``.

    Raises:
        ValueError: a signal of another length, or half_range_hz <= 0.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.shape != (config.signal.n_samples,):
        raise ValueError(f"signal of shape {signal.shape} must have shape ({config.signal.n_samples},)")
    if half_range_hz <= 0:
        raise ValueError(f"half_range_hz={half_range_hz} must be > 0")
    if image is None:
        from chirpgen.spectrogram import render_image

        image = render_image(signal, config)
    return ml_core(signal, image, ImageGrid(config), half_range_hz)._asdict()
