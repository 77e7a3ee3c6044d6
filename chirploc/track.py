"""The chirp's ridge read column by column off the pixels, and how well each law fits it: a third
voice in the kind choice (chirploc.fit.choose_law), beside the maps and the brightest curves.

Notes:
    Track. In each column m whose window the chirp fills, the brightest of the rows within
    ``TRACK_HALF_ROWS`` of the chosen curve, moved below one row to the vertex of the parabola
    through it and its neighbours (grey levels are dB, in which a Hann window's main lobe is close
    to a parabola): a frequency y_m, with the weight w_m = 10^(e_m / 10) of its excess e_m in dB over
    the image's median grey level (the power above the noise: the variance of y_m falls as it grows).

    Fit. Each law k is fitted to (u_m, y_m) by weighted least squares over (f0, f1) (exact for the
    linear and quadratic laws, whose curves are linear in them; Gauss-Newton in (log f0, log f1) for
    the exponential law, started from the fit in log frequency), leaving the weighted residual sum
    R_k. With Gaussian track errors of one unknown variance, the law's log-likelihood is

        L_k = -(M / 2) log(R_k / M)

    over M columns (0 for every law with fewer than ``MIN_COLUMNS`` columns: a short track cannot
    tell the laws apart). The kind choice adds ``kind_track_weight`` x L_k to its score.
"""

from __future__ import annotations

import math

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law
from chirploc.fit import filled_columns, law_curves

TRACK_HALF_ROWS = 2  # rows either side of the chosen curve searched for each column's peak
MIN_COLUMNS = 4  # fewest track points that say anything about a law: two parameters and two degrees of freedom
GAUSS_NEWTON_STEPS = 8
RESIDUAL_FLOOR = 1e-6  # (rows^2 per column): keeps log R finite on a noiseless track


def peak_track(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig) -> tuple[np.ndarray, ...]:
    """(u, y, w), each (B, M): the position in the chirp (0 to 1), the peak's frequency (Hz) and its
    weight of each column whose window the chirp fills near ``pred``'s curve (its kind, edges and
    frequencies); w is 0 in the columns beyond the chirp."""
    n = len(images)
    h = frame.image_shape[0]
    t0 = np.asarray(pred["t_start_s"], dtype=np.float64)
    dur = np.maximum(np.asarray(pred["duration_s"], dtype=np.float64), 1e-6)
    n_max = int(math.ceil(frame.signal.duration_s[1] / frame.column_s)) + 2
    cols, t_m, inside = filled_columns(t0, dur, frame, n_max)
    u = np.clip((t_m - t0[:, None]) / dur[:, None], 0.0, 1.0)
    centre = np.rint((h - 1) - law_curves(pred, u) / frame.bin_hz).astype(np.intp)
    offsets = np.arange(-TRACK_HALF_ROWS, TRACK_HALF_ROWS + 1)
    rows = np.clip(centre[..., None] + offsets, 1, h - 2)  # (B, M, R), off the image's first and last rows
    b = np.arange(n)[:, None, None]
    grey = images[b, rows, cols[..., None]].astype(np.float64)
    peak = np.take_along_axis(rows, grey.argmax(-1)[..., None], -1)[..., 0]  # (B, M)
    bm = np.arange(n)[:, None]
    up, mid, down = (images[bm, peak + j, cols].astype(np.float64) for j in (-1, 0, 1))
    curvature = up - 2 * mid + down
    vertex = np.where(curvature < 0, 0.5 * (up - down) / np.where(curvature < 0, curvature, -1.0), 0.0)
    y = ((h - 1) - (peak + vertex)) * frame.bin_hz
    db_per_grey = (frame.stft.db_range[1] - frame.stft.db_range[0]) / 255.0
    median = np.median(images[:, ::2, ::2].reshape(n, -1), axis=1)
    excess = np.clip(mid - median[:, None], 0.0, None) * db_per_grey
    w = np.where(inside, 10.0 ** (excess / 10.0), 0.0)
    return u, y, w


def _weighted_lines(g: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of y = f0 (1 - g) + f1 g per row: (f0, f1) (B, 2) and the residual sum (B,)."""
    a, c = 1.0 - g, g
    saa, sac, scc = (w * a * a).sum(1), (w * a * c).sum(1), (w * c * c).sum(1)
    say, scy = (w * a * y).sum(1), (w * c * y).sum(1)
    det = saa * scc - sac**2
    ok = np.abs(det) > 1e-12 * np.maximum(saa * scc, 1e-300)
    det = np.where(ok, det, 1.0)
    f0 = np.where(ok, (scc * say - sac * scy) / det, 0.0)
    f1 = np.where(ok, (saa * scy - sac * say) / det, 0.0)
    residual = (w * (f0[:, None] * a + f1[:, None] * c - y) ** 2).sum(1)
    return np.stack([f0, f1], 1), residual


def law_residuals(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B, K) weighted residual sum of each law's least-squares fit to the track (module Notes)."""
    out = np.zeros((len(u), len(KIND_NAMES)))
    for k, kind in enumerate(KIND_NAMES):
        if kind == "exponential":
            start, _ = _weighted_lines(u, np.log(np.maximum(y, 1e-3)), w)  # log f is a line in u
            alpha, beta = start[:, 0], start[:, 1]
            for _ in range(GAUSS_NEWTON_STEPS):
                f = np.exp((1.0 - u) * alpha[:, None] + u * beta[:, None])
                ja, jb, r = f * (1.0 - u), f * u, y - f
                saa, sab, sbb = (w * ja * ja).sum(1), (w * ja * jb).sum(1), (w * jb * jb).sum(1)
                sar, sbr = (w * ja * r).sum(1), (w * jb * r).sum(1)
                det = saa * sbb - sab**2
                ok = det > 1e-12 * np.maximum(saa * sbb, 1e-300)
                det = np.where(ok, det, 1.0)
                alpha = alpha + np.where(ok, np.clip((sbb * sar - sab * sbr) / det, -0.5, 0.5), 0.0)
                beta = beta + np.where(ok, np.clip((saa * sbr - sab * sar) / det, -0.5, 0.5), 0.0)
            f = np.exp((1.0 - u) * alpha[:, None] + u * beta[:, None])
            out[:, k] = (w * (y - f) ** 2).sum(1)
        else:
            out[:, k] = _weighted_lines(frequency_law(kind, u, 0.0, 1.0), y, w)[1]
    return out


def track_likelihoods(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig) -> np.ndarray:
    """(B, K) log-likelihood L_k of each law given the peak track around ``pred``'s curve (module Notes)."""
    u, y, w = peak_track(images, pred, frame)
    m = (w > 0).sum(1)
    w = w / np.maximum(w.sum(1, keepdims=True) / np.maximum(m[:, None], 1), 1e-300)  # mean weight 1 over the track
    residual = law_residuals(u, y, w)
    floor = RESIDUAL_FLOOR * frame.bin_hz**2 * np.maximum(m, 1)[:, None]
    likelihood = -0.5 * m[:, None] * np.log((residual + floor) / np.maximum(m, 1)[:, None])
    return np.where((m >= MIN_COLUMNS)[:, None], likelihood, 0.0)
