"""Cramér-Rao bounds for the chirp frequencies, and the quantisation floor of the image grid.

Notes:
    The model is the real chirp of one kind sampled at t_n = n / fs, n = 0 .. N - 1,
    N = round(T fs) (onset and duration known)::

        x[n] = A cos(phi0 + phi(t_n; f0, f1)) + w[n],    w[n] ~ N(0, sigma^2) white,

    with unknown theta = (A, phi0, f0, f1) and SNR = (A^2 / 2) / sigma^2 (the chirpgen definition).
    For Gaussian noise the Fisher information is

        I_ij = (1 / sigma^2) sum_n (dx[n] / dtheta_i) (dx[n] / dtheta_j),

    with dx/dA = cos(psi), dx/dphi0 = -A sin(psi) and dx/df = -A sin(psi) dphi/df, where
    psi = phi0 + phi. The bound on the standard deviation of f0 and f1 is the square root of the
    matching diagonal entry of I^-1. For a linear chirp it reduces to
    std(f0) = std(f1) = sqrt(192 / (N SNR)) / (2 pi T). The phase derivatives are analytic for the
    linear and quadratic kinds (phi is linear in f0, f1) and central differences of the exact
    phase for the exponential one. The bound scales exactly as 1 / sqrt(SNR).

    An estimator that reads an image of bin widths dt, df without interpolating has an error
    floor of dt / sqrt(12) and df / sqrt(12) (the standard deviation of a uniform error).
"""

from __future__ import annotations

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import chirp_phase

BOUND_TARGETS: tuple[str, ...] = ("f_start_hz", "f_end_hz")  # the targets the bound is computed for
_REL_STEP = 1e-6


def _phase_gradient(
    kind: str, tau_s: np.ndarray, f_start_hz: float, f_end_hz: float, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """(dphi/df0, dphi/df1) in rad/Hz at the times ``tau_s`` after the start."""
    u = tau_s / duration_s
    if kind in ("linear", "quadratic"):
        # phi = 2 pi (f0 tau + (f1 - f0) T G(u)), G = u^2/2 or u^3/3
        power = 2 if kind == "linear" else 3
        d_f1 = 2 * np.pi * duration_s * u**power / power
        return 2 * np.pi * tau_s - d_f1, d_f1
    grads = []
    for which in (0, 1):
        f = np.array([f_start_hz, f_end_hz], dtype=np.float64)
        h = _REL_STEP * f[which]
        up, down = f.copy(), f.copy()
        up[which] += h
        down[which] -= h
        grads.append(
            (chirp_phase(kind, tau_s, *up, duration_s) - chirp_phase(kind, tau_s, *down, duration_s)) / (2 * h)
        )
    return grads[0], grads[1]


def _fisher(kind: str, sample_rate_hz: float, duration_s: float, f_start_hz: float, f_end_hz: float,
            amplitude: float, phase0_rad: float = 0.0) -> np.ndarray:
    """4 x 4 Fisher information of (A, phi0, f0, f1) for unit noise variance."""
    n = max(int(round(duration_s * sample_rate_hz)), 4)
    tau = np.arange(n) / sample_rate_hz
    psi = phase0_rad + chirp_phase(kind, tau, f_start_hz, f_end_hz, duration_s)
    d_f0, d_f1 = _phase_gradient(kind, tau, f_start_hz, f_end_hz, duration_s)
    s = -amplitude * np.sin(psi)
    jac = np.stack([np.cos(psi), s, s * d_f0, s * d_f1])  # (4, N)
    return jac @ jac.T


def crb_f_hz(
    kind: str | int,
    sample_rate_hz: float,
    duration_s: float,
    f_start_hz: float,
    f_end_hz: float,
    snr_db: float,
) -> tuple[float, float]:
    """Cramér-Rao bound on the standard deviation of f_start and f_end (Hz), onset and duration known.

    Args:
        kind: a name in ``KIND_NAMES`` or its index.
        sample_rate_hz: sampling rate of the record.
        duration_s: chirp duration T.
        f_start_hz: frequency at the chirp start.
        f_end_hz: frequency at the chirp end.
        snr_db: SNR = (A^2 / 2) / sigma^2 in dB.

    Returns:
        (std_f_start_hz, std_f_end_hz), the square roots of the bound's diagonal (see module Notes).
    """
    if isinstance(kind, (int, np.integer)):
        if not 0 <= kind < len(KIND_NAMES):
            raise ValueError(f"kind={kind} must be an index into {list(KIND_NAMES)}")
        kind = KIND_NAMES[int(kind)]
    if kind not in KIND_NAMES:
        raise ValueError(f"kind={kind!r} must be one of {list(KIND_NAMES)}")
    if sample_rate_hz <= 0 or duration_s <= 0:
        raise ValueError(f"sample_rate_hz={sample_rate_hz} and duration_s={duration_s} must be > 0")
    if duration_s * sample_rate_hz < 4:
        raise ValueError(
            f"duration_s={duration_s} at sample_rate_hz={sample_rate_hz} gives fewer than 4 samples; "
            "four parameters need at least four"
        )
    amplitude = np.sqrt(2.0 * 10.0 ** (snr_db / 10.0))
    # The bound does not depend on phi0 beyond terms that average out; phi0 = 0 is used.
    cov = np.linalg.inv(_fisher(kind, sample_rate_hz, duration_s, f_start_hz, f_end_hz, amplitude))
    return float(np.sqrt(cov[2, 2])), float(np.sqrt(cov[3, 3]))


def crb_f_hz_batch(
    kind: np.ndarray,
    sample_rate_hz: float,
    duration_s: np.ndarray,
    f_start_hz: np.ndarray,
    f_end_hz: np.ndarray,
    snr_db: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crb_f_hz` over arrays of samples (kinds as indices or names); returns two (B,) arrays."""
    arrays = np.broadcast_arrays(np.asarray(kind), duration_s, f_start_hz, f_end_hz, snr_db)
    out = np.array([crb_f_hz(k.item() if hasattr(k, "item") else k, sample_rate_hz, t, f0, f1, s)
                    for k, t, f0, f1, s in zip(*(a.ravel() for a in arrays), strict=True)]).reshape(-1, 2)
    shape = arrays[0].shape
    return out[:, 0].reshape(shape), out[:, 1].reshape(shape)


def grid_floor(config: GenConfig) -> dict[str, float]:
    """Quantisation floor of the image grid: column spacing / sqrt(12) and bin width / sqrt(12)."""
    dt_s, df_hz = config.column_s, config.bin_hz
    return {"time_s": dt_s / np.sqrt(12.0), "freq_hz": df_hz / np.sqrt(12.0), "dt_s": dt_s, "df_hz": df_hz}
