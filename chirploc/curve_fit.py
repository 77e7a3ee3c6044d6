"""A chirp law evaluated on normalised time, and its robust fit to ridge points (both estimators use it).

Notes:
    With u = (t - t0) / T the normalised time, every kind's law is chirpgen's
    ``instantaneous_frequency(kind, u, f0, f1, 1.0)``: f(u) = f0 + (f1 - f0) g(u) with g(u) = u
    (linear) or u^2 (quadratic), and f(u) = f0 (f1 / f0)^u (exponential).

    :func:`fit_curve` fits one kind's law to points (u_i, f_i) with weights w_i by Huber-weighted
    iteratively reweighted least squares. The linear and quadratic laws are linear in (f0, f1):
    f = [1 - g(u), g(u)] (f0, f1). The exponential law is linear in (log f0, log(f1 / f0)) after
    taking logs, log f = log f0 + u log(f1 / f0); its rows are weighted by the fitted f so that a
    residual in log f approximates one in Hz (d log f = df / f). Each round reweights the points by
    Huber's weight min(1, k s / |r|), k = 1.345, s = 1.4826 median(|r|) (the MAD scale of Gaussian
    residuals), for ``IRLS_ROUNDS`` rounds, or for the linear and quadratic laws until a round leaves
    the weights as they were (a fixed point: every further round would repeat it). The robust residual is sum(w h r^2) / sum(w h), h the final Huber weights.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from chirpgen.signal import instantaneous_frequency

MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation, for Gaussian values
HUBER_K = 1.345  # Huber's constant: 95 % efficiency on Gaussian residuals
IRLS_ROUNDS = 8
_SCALE_FLOOR = 1e-9  # keeps the robust scale positive when most residuals are zero
_MIN_EXP_CURVE_HZ = 1e-6  # an exponential law needs f0, f1 > 0: fitted values below are clamped
_MIN_EXP_FIT_HZ = 0.25  # points and fitted values below this are clamped before taking logs


class KindFit(NamedTuple):
    """One kind's law fitted to ridge points."""

    f_start_hz: float
    f_end_hz: float
    residual: float  # robust weighted mean square residual (see module Notes)


def curve_hz(kind: str, u: np.ndarray, f_start_hz: float, f_end_hz: float) -> np.ndarray:
    """The kind's frequency at normalised times ``u`` (chirpgen's law; an exponential's f0, f1 clamped > 0)."""
    if kind == "exponential":
        f_start_hz, f_end_hz = max(f_start_hz, _MIN_EXP_CURVE_HZ), max(f_end_hz, _MIN_EXP_CURVE_HZ)
    return instantaneous_frequency(kind, u, f_start_hz, f_end_hz, 1.0)


def _median(values: np.ndarray) -> np.floating:
    """np.median of a 1-D array, in its dtype, without the generic machinery (the fits call it
    thousands of times per image)."""
    n = len(values)
    if n == 0:
        return np.median(values)
    half = n // 2
    if n % 2:
        return np.partition(values, half)[half]
    part = np.partition(values, (half - 1, half))
    return (part[half - 1] + part[half]) / 2


def robust_sigma(deviations: np.ndarray) -> float:
    """MAD estimate of the standard deviation of ``deviations`` (already centred), kept > 0."""
    return MAD_TO_SIGMA * _median(np.abs(deviations)) + _SCALE_FLOOR


def _weighted_solve(x: np.ndarray, y: np.ndarray, ww: np.ndarray) -> np.ndarray:
    """Least squares of (x * ww) beta = y * ww for two columns, by the 2 x 2 normal equations
    (lstsq's minimum-norm answer when they are singular)."""
    xw, yw = x * ww[:, None], y * ww
    a, b, c = xw[:, 0] @ xw[:, 0], xw[:, 0] @ xw[:, 1], xw[:, 1] @ xw[:, 1]
    det = a * c - b * b
    if det <= 1e-6 * max(a * c, 1e-300):  # ill-conditioned: squaring the condition number would cost digits
        return np.linalg.lstsq(xw, yw, rcond=None)[0]
    r0, r1 = xw[:, 0] @ yw, xw[:, 1] @ yw
    return np.array([(c * r0 - b * r1) / det, (a * r1 - b * r0) / det])


def huber_weights(resid: np.ndarray) -> np.ndarray:
    """Huber's IRLS weights of residuals ``resid``: 1 inside k sigma, k sigma / |r| outside."""
    a = np.abs(resid) / (HUBER_K * robust_sigma(resid))
    return np.where(a <= 1.0, 1.0, 1.0 / np.maximum(a, 1e-12))


def fit_curve(kind: str, u: np.ndarray, f: np.ndarray, w: np.ndarray, n_iter: int = IRLS_ROUNDS) -> KindFit:
    """Huber IRLS fit of one kind's law to the points (u, f) with weights w (see module Notes)."""
    robust = np.ones_like(f)
    if kind == "exponential":
        y = np.log(np.maximum(f, _MIN_EXP_FIT_HZ))
        x = np.stack([np.ones_like(u), u], axis=1)  # (N, 2): log f = b0 + b1 u
        fit = f
        for _ in range(n_iter):
            ww = np.sqrt(w * robust) * np.maximum(fit, _MIN_EXP_FIT_HZ)
            beta = _weighted_solve(x, y, ww)
            fit = np.exp(x @ beta)
            robust = huber_weights(f - fit)
        f0, f1 = float(np.exp(beta[0])), float(np.exp(beta[0] + beta[1]))
    else:
        g = instantaneous_frequency(kind, u, 0.0, 1.0, 1.0)  # the unit law g(u)
        x = np.stack([1.0 - g, g], axis=1)  # (N, 2): f = x @ (f0, f1)
        for _ in range(n_iter):
            ww = np.sqrt(w * robust)
            beta = _weighted_solve(x, f, ww)
            fit = x @ beta
            robust, previous = huber_weights(f - fit), robust
            if np.array_equal(robust, previous):  # a fixed point: further rounds repeat this one exactly
                break
        f0, f1 = float(beta[0]), float(beta[1])
    resid = f - fit
    return KindFit(f0, f1, float(np.sum(w * robust * resid**2) / max(np.sum(w * robust), 1e-12)))
