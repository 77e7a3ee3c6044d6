"""Chirp waveforms and background noise: pure functions of their arguments.

Notes:
    With tau = t - t_start in [0, T] (T the duration), f0 the start and f1 the end frequency:

    - linear:      f(tau) = f0 + (f1 - f0) tau / T
                   phi(tau) = 2 pi (f0 tau + (f1 - f0) tau^2 / (2 T))
    - quadratic:   f(tau) = f0 + (f1 - f0) (tau / T)^2
                   phi(tau) = 2 pi (f0 tau + (f1 - f0) tau^3 / (3 T^2))
    - exponential: f(tau) = f0 (f1 / f0)^(tau / T)
                   phi(tau) = 2 pi f0 T ((f1 / f0)^(tau / T) - 1) / ln(f1 / f0)

    phi is the exact integral of 2 pi f, so the instantaneous frequency of cos(phi0 + phi) is f.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chirpgen.config import KIND_NAMES


def _check(kind: str, f_start_hz: float, f_end_hz: float, duration_s: float) -> None:
    if kind not in KIND_NAMES:
        raise ValueError(f"kind={kind!r} must be one of {list(KIND_NAMES)}")
    if duration_s <= 0:
        raise ValueError(f"duration_s={duration_s} must be > 0")
    if kind == "exponential" and (f_start_hz <= 0 or f_end_hz <= 0):
        raise ValueError(
            f"an exponential chirp needs f_start_hz > 0 and f_end_hz > 0, got "
            f"{f_start_hz} and {f_end_hz}; use positive frequencies"
        )


def instantaneous_frequency(
    kind: str, tau_s: np.ndarray, f_start_hz: float, f_end_hz: float, duration_s: float
) -> np.ndarray:
    """Instantaneous frequency f(tau) in Hz of a chirp ``tau_s`` seconds after its start."""
    _check(kind, f_start_hz, f_end_hz, duration_s)
    return frequency_law(kind, np.asarray(tau_s, dtype=np.float64) / duration_s, f_start_hz, f_end_hz)


def frequency_law(kind: str, u: Any, f_start_hz: Any, f_end_hz: Any) -> Any:
    """f at normalised time u = tau / T (0 at the start, 1 at the end); see Notes.

    Unchecked and written with arithmetic only, so it broadcasts over numpy arrays and torch
    tensors alike (e.g. candidate (f0, f1) pairs against columns in a curve search). An
    exponential law needs f_start_hz, f_end_hz > 0.
    """
    if kind == "linear":
        return f_start_hz + (f_end_hz - f_start_hz) * u
    if kind == "quadratic":
        return f_start_hz + (f_end_hz - f_start_hz) * u**2
    if kind == "exponential":
        return f_start_hz * (f_end_hz / f_start_hz) ** u
    raise ValueError(f"kind={kind!r} must be one of {list(KIND_NAMES)}")


def chirp_phase(
    kind: str, tau_s: np.ndarray, f_start_hz: float, f_end_hz: float, duration_s: float
) -> np.ndarray:
    """Phase phi(tau) in radians, the exact integral of 2 pi f from 0 to tau (see Notes)."""
    _check(kind, f_start_hz, f_end_hz, duration_s)
    tau = np.asarray(tau_s, dtype=np.float64)
    df = f_end_hz - f_start_hz
    if kind == "linear":
        cycles = f_start_hz * tau + df * tau**2 / (2 * duration_s)
    elif kind == "quadratic":
        cycles = f_start_hz * tau + df * tau**3 / (3 * duration_s**2)
    else:
        log_ratio = np.log(f_end_hz / f_start_hz)
        x = log_ratio * tau / duration_s
        # f0 * tau * expm1(x) / x, written to stay exact as f1 -> f0 (x -> 0)
        safe_x = np.where(x == 0, 1.0, x)
        cycles = f_start_hz * tau * np.where(x == 0, 1.0, np.expm1(safe_x) / safe_x)
    return 2 * np.pi * cycles


def chirp_waveform(
    kind: str,
    n_samples: int,
    sample_rate_hz: float,
    t_start_s: float,
    duration_s: float,
    f_start_hz: float,
    f_end_hz: float,
    amplitude: float,
    phase0_rad: float,
) -> np.ndarray:
    """A real chirp ``amplitude * cos(phase0 + phi(t - t_start))`` on [t_start, t_start + T], else 0.

    Sample n sits at t = n / sample_rate_hz. The envelope is rectangular (an abrupt onset).
    """
    nyquist = sample_rate_hz / 2
    if max(f_start_hz, f_end_hz) >= nyquist:
        raise ValueError(
            f"chirp frequency {max(f_start_hz, f_end_hz):g} Hz is at or above Nyquist "
            f"({nyquist:g} Hz); lower it or raise sample_rate_hz"
        )
    if t_start_s < 0 or t_start_s + duration_s > n_samples / sample_rate_hz:
        raise ValueError(
            f"chirp [{t_start_s:g}, {t_start_s + duration_s:g}] s does not fit the "
            f"{n_samples / sample_rate_hz:g} s record; shorten it or move its start"
        )
    out = np.zeros(n_samples)
    first = int(np.ceil(t_start_s * sample_rate_hz - 1e-9))
    last = min(n_samples - 1, int(np.floor((t_start_s + duration_s) * sample_rate_hz + 1e-9)))
    tau = np.arange(first, last + 1) / sample_rate_hz - t_start_s
    tau = np.clip(tau, 0.0, duration_s)
    out[first : last + 1] = amplitude * np.cos(
        phase0_rad + chirp_phase(kind, tau, f_start_hz, f_end_hz, duration_s)
    )
    return out


def white_noise(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Unit-variance white Gaussian noise (float32: the STFT runs in float32)."""
    return rng.standard_normal(n_samples, dtype=np.float32)


def pink_noise(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Gaussian 1/f noise (power spectral density proportional to 1/f), scaled to unit variance.

    White noise is shaped in the frequency domain by 1/sqrt(f); the DC bin is zeroed. The scale
    uses the exact variance of the shaping filter, so it is a fixed factor, not a per-draw one.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    k = np.arange(spectrum.size, dtype=np.float64)
    gain = np.zeros_like(k)
    gain[1:] = 1.0 / np.sqrt(k[1:])
    # variance of irfft(gain * rfft(w)) for unit white w: sum over the two-sided spectrum / n^2 * n
    two_sided = 2 * np.sum(gain[1:] ** 2) - (gain[-1] ** 2 if n_samples % 2 == 0 else 0.0)
    scale = np.sqrt(n_samples / two_sided)
    return np.fft.irfft(spectrum * gain * scale, n=n_samples)


NOISE_FUNCTIONS = {"white": white_noise, "pink": pink_noise}
