"""STFT ridge tracker: the chirp's kind, edges and frequencies read from the uint8 spectrogram.

Notes:
    The grey levels are mapped back to power P[k, m] (rfft bin k, column m; unit-variance noise
    sits at 1). A short oriented average Q[k, m] = mean_j P[k + s j, m + j], j in {-1, 0, 1},
    maximised over slopes s, raises the ridge out of the noise; the column statistic
    c_m = max_k Q[k, m] is thresholded at median(c) + 4 * 1.4826 * MAD(c) (the chirp covers a
    minority of columns) and the run with the largest excess is the support. Per column the peak
    bin is refined by parabolic interpolation of log P (exact for a Gaussian main lobe):
    delta = (l - r) / (2 (l - 2 c + r)). Each kind's law is fitted to the peaks, in Hz, by robust
    least squares (:mod:`chirploc.curve_fit`) at the window-weighted centroid time of each
    column; the peaks are then searched again around the fitted curve. The onset t0 and end t1 are
    refined below one column by fitting the profile of the column energy sum_k (P - 1) around the
    curve (relative to its plateau) with the fraction of sum w^2 inside [t0, t1]. The kind is the
    one with the smallest robust residual.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.signal import get_window

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.spectrogram import column_centres, grey_power_table, image_axes
from chirploc.curve_fit import KindFit, curve_hz, fit_curve, robust_sigma

# The search: which rows and slopes are looked at, and what stands out of the noise.
_BAND_MARGIN_BINS = 2  # rows searched: the label band widened by this many bins each side
_MAX_SLOPE_BINS = 4  # steepest ridge slope the oriented mean tries, bins per column
_SUPPORT_SIGMAS = 4.0  # a column belongs to the chirp when its statistic is this many sigmas above the median
# Tracking: after a first fit, the peaks are searched again around the fitted curve.
_TRACK_ROUNDS = 2  # fit, track and refine the edges this many times
_PEAK_HALF_WIDTH_BINS = 1  # first peak search: +- this many bins around the oriented-mean maximum
_TRACK_HALF_WIDTH_BINS = 3  # tracking peak search: +- this many bins around the fitted curve
_TRACK_EXTRA_COLUMNS = 1  # tracking looks this many columns beyond each edge of the support
_TRACK_U_MARGIN = 0.2  # ... where the curve is extrapolated at most this fraction of T beyond [0, 1]
_MIN_POINT_WEIGHT = 0.05  # a column's weight in the fit: its window coverage, at least this
_MIN_COVERAGE = 0.3  # columns whose window is less covered by [t0, t1] are dropped from the fit
_MIN_POINTS = 2  # ... unless fewer remain: then the best covered ones are kept
_MIN_FIT_DURATION_S = 1e-3  # floor of t1 - t0 when normalising time for a fit
# Edges: the column energy along the curve, relative to its plateau, against the window coverage.
_ENERGY_MARGIN_BINS = 2  # the curve's band in a column, widened by this many bins each side
_MIN_PLATEAU = 1e-3  # floor of the plateau energy the column energies are divided by
_MAX_RELATIVE_ENERGY = 1.5  # relative column energies are clipped to [0, this]
_EDGE_SEARCH_COLUMNS = 1.5  # an edge moves at most this many columns
_EDGE_GRID_POINTS = 61  # candidate edge times on that span
_EDGE_COST_TOL = 0.01  # costs within this of the minimum count as "near-minimal"
_MIN_REFINED_COLUMNS = 0.25  # refined edges closer than this many columns apart are not taken
# The answer is kept inside the label ranges, loosely.
_LOW_HZ_FACTOR = 0.5  # frequencies are clipped at this fraction of the band's bottom
_HIGH_HZ_MARGIN_BINS = 2  # ... and at the band's top plus this many bins


class Estimate(NamedTuple):
    """One estimator's answer for one sample, in physical units (the targets in chirpgen's order)."""

    kind: int  # index into KIND_NAMES
    t_start_s: float
    f_start_hz: float
    f_end_hz: float
    duration_s: float


class RidgeResult(NamedTuple):
    estimate: Estimate
    fits: dict[str, KindFit]  # each kind's law on the final support, where the ML search starts


class ImageGrid:
    """Where an image's pixels sit in time and frequency, and the STFT window behind each column.

    Computed once per config: the row and column steps, each column's first sample and centre
    time, the window (for the share of a column's window that [t0, t1] covers), the rfft bins the
    ridge is searched in and the slopes the oriented mean tries.
    """

    def __init__(self, config: GenConfig):
        sig, stft = config.signal, config.stft
        self.config = config
        self.sample_rate_hz = sig.sample_rate_hz
        self.bin_hz = config.bin_hz
        self.column_s = config.column_s
        self.window = get_window(stft.window, stft.window_len)  # (L,) float64, analytic coverage
        self.cum_window = np.concatenate([[0.0], np.cumsum(self.window)])
        self.cum_window_sq = np.concatenate([[0.0], np.cumsum(self.window**2)])
        self.first_sample = column_centres(sig.n_samples, stft) - stft.window_len // 2  # (W,)
        self.times_s = image_axes(config)[1]  # (W,) column centre times
        self.n_cols = len(self.times_s)
        lo = max(int(np.floor(sig.freq_hz[0] / self.bin_hz)) - _BAND_MARGIN_BINS, 1)
        hi = min(int(np.ceil(sig.freq_hz[1] / self.bin_hz)) + _BAND_MARGIN_BINS, stft.freq_bins - 2)
        self.rows = np.arange(lo, hi + 1)  # rfft bins searched
        max_rate = sig.max_sweep_hz / sig.duration_s[0] * self.column_s / self.bin_hz  # bins per column
        steepest = min(int(np.ceil(max_rate)), _MAX_SLOPE_BINS)
        self.slopes = np.arange(-steepest, steepest + 1)

    def row_hz(self, row: np.ndarray) -> np.ndarray:
        """Frequency (Hz) of a sub-row position in the searched band (row 0 = rfft bin ``rows[0]``)."""
        return (row + self.rows[0]) * self.bin_hz

    def hz_row(self, f_hz: np.ndarray) -> np.ndarray:
        """Sub-row position in the searched band of a frequency (Hz): the inverse of :meth:`row_hz`."""
        return f_hz / self.bin_hz - self.rows[0]

    def coverage(self, t0_s: float | np.ndarray, t1_s: float | np.ndarray,
                 energy: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per column (G, W): fraction of the window sum (of w^2 if ``energy``) inside [t0, t1], and
        the centre time of the covered part (its midpoint, an approximation of the centroid)."""
        fs = self.sample_rate_hz
        t0 = np.atleast_1d(np.asarray(t0_s, dtype=np.float64))[:, None] * fs - self.first_sample  # (G, W)
        t1 = np.atleast_1d(np.asarray(t1_s, dtype=np.float64))[:, None] * fs - self.first_sample
        pos = np.arange(len(self.cum_window), dtype=np.float64)
        a = np.clip(t0, 0, len(self.window))
        b = np.clip(t1 + 1, 0, len(self.window))
        cum = self.cum_window_sq if energy else self.cum_window
        frac = (np.interp(b, pos, cum) - np.interp(a, pos, cum)) / cum[-1]
        mid = self.first_sample + 0.5 * (a + b - 1)
        return frac, mid / fs


def _image_power(image: np.ndarray, grid: ImageGrid) -> np.ndarray:
    """Linear power (bins, W) of a uint8 image, row 0 = bin 0; unit-variance noise sits at 1."""
    return grey_power_table(tuple(grid.config.stft.db_range))[image[::-1]]


def _oriented_mean(p: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """max over slopes s of the mean of p[k + s j, m + j], j = -1, 0, 1 (edges padded with 1)."""
    pad = int(np.max(np.abs(slopes))) + 1
    padded = np.pad(p, ((pad, pad), (1, 1)), constant_values=1.0)
    k, w = p.shape
    best = np.zeros_like(p)
    for s in slopes:
        acc = padded[pad : pad + k, 1 : 1 + w].copy()
        acc += padded[pad - s : pad - s + k, 0:w]
        acc += padded[pad + s : pad + s + k, 2 : 2 + w]
        np.maximum(best, acc / 3.0, out=best)
    return best


def _support_run(stat: np.ndarray) -> tuple[int, int]:
    """Columns [a, b] of the run of ``stat`` above a robust noise threshold with the largest excess."""
    med = np.median(stat)
    mask = stat > med + _SUPPORT_SIGMAS * robust_sigma(stat - med)
    mask[1:-1] |= mask[:-2] & mask[2:]  # bridge one-column gaps
    if not mask.any():
        m = int(np.argmax(stat))
        return m, m
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    excess = np.array([np.sum(stat[a:b] - med) for a, b in zip(starts, stops, strict=True)])
    i = int(np.argmax(excess))
    return int(starts[i]), int(stops[i] - 1)


def _peak_rows(p: np.ndarray, centre: np.ndarray, half_width: int) -> np.ndarray:
    """Per column of ``p`` (rows, n), the sub-row peak position within centre +- half_width."""
    n_rows = p.shape[0]
    offsets = np.arange(-half_width, half_width + 1)
    idx = np.clip(np.rint(centre).astype(int)[None, :] + offsets[:, None], 1, n_rows - 2)  # (O, n)
    cols = np.arange(p.shape[1])
    k = idx[np.argmax(p[idx, cols], axis=0), cols]
    lg = np.log(np.maximum(p[np.stack([k - 1, k, k + 1]), cols], 1e-12))
    den = lg[0] - 2 * lg[1] + lg[2]
    delta = np.where(den < 0, 0.5 * (lg[0] - lg[2]) / np.where(den < 0, den, -1.0), 0.0)
    return k + np.clip(delta, -0.5, 0.5)


def _band_energy(grid: ImageGrid, p: np.ndarray, cols: np.ndarray, kind: str, fit: KindFit,
                 t0: float, dur: float) -> np.ndarray:
    """Per column, the power above the noise (mean 1) summed over the bins the curve crosses in
    that column's window, +- a margin: the chirp energy in the column whatever its sweep rate."""
    half = 0.5 * len(grid.window) / grid.sample_rate_hz
    t = grid.times_s[cols]
    ends = np.stack([curve_hz(kind, np.clip((t + d - t0) / dur, 0.0, 1.0), fit.f_start_hz, fit.f_end_hz)
                     for d in (-half, 0.0, half)])
    lo = grid.hz_row(np.min(ends, axis=0)) - _ENERGY_MARGIN_BINS
    hi = grid.hz_row(np.max(ends, axis=0)) + _ENERGY_MARGIN_BINS
    k = np.arange(p.shape[0])[:, None]
    band = (k >= np.floor(lo)) & (k <= np.ceil(hi))
    return np.sum(np.where(band, p[:, cols] - 1.0, 0.0), axis=0)


def _refine_edge(grid: ImageGrid, amp: np.ndarray, cols: np.ndarray, t_other_s: float, start: bool,
                 guess_s: float) -> float:
    """Onset (start=True) or end time whose energy coverage profile best matches ``amp`` (the
    column energies relative to the plateau)."""
    candidates = guess_s + grid.column_s * np.linspace(-_EDGE_SEARCH_COLUMNS, _EDGE_SEARCH_COLUMNS,
                                                       _EDGE_GRID_POINTS)
    other = np.full_like(candidates, t_other_s)
    t0_s, t1_s = (candidates, other) if start else (other, candidates)
    frac, _ = grid.coverage(t0_s, t1_s, energy=True)
    cost = np.sum((frac[:, cols] - amp[None, :]) ** 2, axis=1)
    # the Hann tails carry little weight, so the cost is flat over part of a column: take the
    # middle of the near-minimal stretch around the minimum
    i = int(np.argmin(cost))
    near = cost <= cost[i] + _EDGE_COST_TOL
    lo = i - np.argmin(near[i::-1]) + 1 if not near[: i + 1].all() else 0
    hi = i + np.argmin(near[i:]) - 1 if not near[i:].all() else len(candidates) - 1
    return float(0.5 * (candidates[lo] + candidates[hi]))


def _fit_kinds(grid: ImageGrid, cols: np.ndarray, peaks_hz: np.ndarray, t0: float,
               t1: float) -> dict[str, KindFit]:
    """Every kind's law fitted to the peaks ``peaks_hz`` of columns ``cols`` at their coverage centroids."""
    frac, centre_s = grid.coverage(t0, t1)
    dur = max(t1 - t0, _MIN_FIT_DURATION_S)
    u = (centre_s[0, cols] - t0) / dur
    return {k: fit_curve(k, u, peaks_hz, np.maximum(frac[0, cols], _MIN_POINT_WEIGHT)) for k in KIND_NAMES}


def _best_kind(fits: dict[str, KindFit]) -> str:
    return min(fits, key=lambda k: fits[k].residual)


def _track(grid: ImageGrid, power: np.ndarray, support: tuple[int, int], cols: np.ndarray,
           peaks_hz: np.ndarray, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """One tracking round: fit the peaks ``peaks_hz`` of ``cols``, search the peaks again around the best
    curve one column past the ``support``, refine the edges and keep the well-covered columns."""
    fits = _fit_kinds(grid, cols, peaks_hz, t0, t1)
    kind = _best_kind(fits)
    fit = fits[kind]
    a, b = support
    cols = np.arange(max(a - _TRACK_EXTRA_COLUMNS, 0), min(b + _TRACK_EXTRA_COLUMNS, grid.n_cols - 1) + 1)
    _, centre_s = grid.coverage(t0, t1)
    dur = max(t1 - t0, _MIN_FIT_DURATION_S)
    u = np.clip((centre_s[0, cols] - t0) / dur, -_TRACK_U_MARGIN, 1 + _TRACK_U_MARGIN)
    curve_rows = grid.hz_row(curve_hz(kind, u, fit.f_start_hz, fit.f_end_hz))
    tracked_hz = grid.row_hz(_peak_rows(power[:, cols], curve_rows, _TRACK_HALF_WIDTH_BINS))
    energy = _band_energy(grid, power, cols, kind, fit, t0, dur)
    inner = energy[1:-1] if len(energy) > 2 else energy
    amp = np.clip(energy / max(np.median(inner), _MIN_PLATEAU), 0.0, _MAX_RELATIVE_ENERGY)
    t0_new = _refine_edge(grid, amp, cols, t1, True, t0)
    t1_new = _refine_edge(grid, amp, cols, t0_new, False, t1)
    if t1_new - t0_new > _MIN_REFINED_COLUMNS * grid.column_s:
        t0, t1 = t0_new, t1_new
    frac, _ = grid.coverage(t0, t1)
    keep = frac[0, cols] > _MIN_COVERAGE
    if keep.sum() < _MIN_POINTS:
        keep = np.argsort(frac[0, cols])[-_MIN_POINTS:]
    return cols[keep], tracked_hz[keep], t0, t1


def ridge_core(image: np.ndarray, grid: ImageGrid) -> RidgeResult:
    """The ridge tracker on one image (unchecked); also returns each kind's fit."""
    power = _image_power(image, grid)[grid.rows]  # (K, W), row i = bin grid.rows[i]
    q = _oriented_mean(power, grid.slopes)
    a, b = _support_run(q.max(axis=0))
    t0 = grid.times_s[a] - 0.5 * grid.column_s
    t1 = grid.times_s[b] + 0.5 * grid.column_s
    cols = np.arange(a, b + 1)
    centre = np.argmax(q[:, cols], axis=0).astype(np.float64)
    peaks_hz = grid.row_hz(_peak_rows(power[:, cols], centre, _PEAK_HALF_WIDTH_BINS))
    for _ in range(_TRACK_ROUNDS):
        cols, peaks_hz, t0, t1 = _track(grid, power, (a, b), cols, peaks_hz, t0, t1)
    fits = _fit_kinds(grid, cols, peaks_hz, t0, t1)
    kind = _best_kind(fits)
    sig = grid.config.signal
    lo, hi = _LOW_HZ_FACTOR * sig.freq_hz[0], sig.freq_hz[1] + _HIGH_HZ_MARGIN_BINS * grid.bin_hz
    fits = {k: KindFit(float(np.clip(v.f_start_hz, lo, hi)), float(np.clip(v.f_end_hz, lo, hi)), v.residual)
            for k, v in fits.items()}
    t0 = float(np.clip(t0, 0.0, sig.record_s))
    dur = float(np.clip(t1 - t0, 1.0 / grid.sample_rate_hz, sig.record_s - t0))
    estimate = Estimate(kind=KIND_NAMES.index(kind), t_start_s=t0, f_start_hz=fits[kind].f_start_hz,
                        f_end_hz=fits[kind].f_end_hz, duration_s=dur)
    return RidgeResult(estimate, fits)


def ridge_estimate(image: np.ndarray, config: GenConfig) -> dict[str, float]:
    """STFT ridge tracker on one uint8 spectrogram (see module Notes).

    Args:
        image: (H, W) uint8 image of ``config``'s geometry, row 0 = highest frequency.
        config: the generation config the image was made with.

    Returns:
        dict with ``kind`` (int), ``t_start_s``, ``f_start_hz``, ``f_end_hz``, ``duration_s``.

    Raises:
        ValueError: an image of another shape or dtype.
    """
    image = np.asarray(image)
    if image.shape != config.image_shape or image.dtype != np.uint8:
        raise ValueError(
            f"image of shape {image.shape} and dtype {image.dtype} must be uint8 of shape {config.image_shape}"
        )
    return ridge_core(image, ImageGrid(config)).estimate._asdict()
