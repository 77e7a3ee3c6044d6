"""Real STFT spectrograms and their fixed mapping to 8-bit grey images.

Notes:
    Column m has its window centred on sample c_m = m * hop + hop // 2, i.e. at time
    t_m = c_m / fs; the signal is taken as zero outside the record. Row r of the image holds rfft
    bin k = H - 1 - r (row 0 is the highest frequency), at f_k = k * fs / nfft. The power
    |X[k, m]|^2 / sum(w^2) is 1 (0 dB) on average for unit-variance white noise; see
    ``chirpgen.config.GREY_DEFINITION`` for the grey mapping.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from chirpgen.config import GenConfig, StftConfig
from chirpgen.plumbing import one_line


@lru_cache(maxsize=16)
def _window(name: str, length: int) -> np.ndarray:
    from scipy.signal import get_window  # scipy.signal takes a second to import: only when needed

    w = get_window(name, length).astype(np.float32)  # periodic: its peak is at index length // 2
    w.setflags(write=False)
    return w


def stft_window(stft: StftConfig) -> np.ndarray:
    """The (cached, read-only) window of ``stft``, shape (window_len,).

    Raises:
        ValueError: naming ``stft.window`` if scipy.signal.get_window cannot make it from its name alone.
    """
    try:
        return _window(stft.window, stft.window_len)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"stft.window={stft.window!r} is not a window scipy.signal.get_window makes from its name alone "
            f"({one_line(exc, limit=100)}); choose one such as hann, hamming or blackman"
        ) from None


def warm_up(stft: StftConfig) -> None:
    """Import the FFT and compute the window now, so that processes forked afterwards start warm."""
    from scipy import fft  # noqa: F401

    stft_window(stft)


def column_centres(n_samples: int, stft: StftConfig) -> np.ndarray:
    """Sample index at the centre of each column's window, shape (W,)."""
    n_columns = n_samples // stft.hop
    return np.arange(n_columns) * stft.hop + stft.hop // 2


def image_axes(config: GenConfig) -> tuple[np.ndarray, np.ndarray]:
    """Physical axes of the image: (freqs_hz per row, descending; times_s per column)."""
    fs = config.signal.sample_rate_hz
    freqs_hz = np.arange(config.stft.freq_bins)[::-1] * fs / config.stft.nfft
    times_s = column_centres(config.signal.n_samples, config.stft) / fs
    return freqs_hz.astype(np.float64), times_s.astype(np.float64)


def stft_power(signal: np.ndarray, stft: StftConfig) -> np.ndarray:
    """Normalised STFT power, shape (freq_bins, W), row 0 = bin 0 (lowest frequency).

    Works on a batch too: ``signal`` of shape (..., n_samples) gives (..., freq_bins, W). The
    transform runs in float32: the result feeds an 8-bit image, whose steps are 0.24 dB. scipy's
    FFT is faster than numpy's on these short float32 frames.
    """
    from scipy import fft  # imported on first use: describing an image needs no STFT

    signal = np.asarray(signal, dtype=np.float32)
    w = stft_window(stft)
    half = stft.window_len // 2
    pad = [(0, 0)] * (signal.ndim - 1) + [(half, stft.window_len)]
    padded = np.pad(signal, pad)
    starts = column_centres(signal.shape[-1], stft)  # window start in padded = centre - half + half
    frames = np.lib.stride_tricks.sliding_window_view(padded, stft.window_len, axis=-1)
    frames = frames[..., starts, :] * w  # (..., W, L)
    spectrum = fft.rfft(frames, n=stft.nfft, axis=-1)[..., : stft.freq_bins]  # (..., W, F)
    power = (spectrum.real**2 + spectrum.imag**2) * np.float32(1.0 / np.sum(w.astype(np.float64) ** 2))
    return np.swapaxes(power, -1, -2)  # (..., F, W)


def power_to_grey(power: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """Map normalised power to uint8 with the fixed dB window ``db_range``."""
    lo, hi = db_range
    db = np.float32(10.0) * np.log10(power + np.float32(1e-12))
    scaled = np.clip((db - np.float32(lo)) * np.float32(255.0 / (hi - lo)), 0.0, 255.0)
    return np.rint(scaled).astype(np.uint8)


def grey_to_db(grey: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """Inverse of the grey mapping (up to quantisation and clipping), in dB."""
    lo, hi = db_range
    return lo + np.asarray(grey, dtype=np.float64) * (hi - lo) / 255.0


@lru_cache(maxsize=8)
def grey_power_table(db_range: tuple[float, float]) -> np.ndarray:
    """Linear power of each of the 256 grey levels (float64, read-only): :func:`grey_to_db` as a table,
    so that ``grey_power_table(r)[image]`` is an image's power without a power per pixel."""
    table = 10.0 ** (grey_to_db(np.arange(256), db_range) / 10.0)
    table.setflags(write=False)
    return table


def render_image(signal: np.ndarray, config: GenConfig) -> np.ndarray:
    """The uint8 spectrogram image of a record, shape (H, W), row 0 = highest frequency.

    ``signal`` must hold exactly ``config.signal.n_samples`` samples at the config's rate (or a
    batch of them, shape (B, n_samples), giving (B, H, W)).
    """
    signal = np.asarray(signal)
    if signal.shape[-1] != config.signal.n_samples:
        raise ValueError(
            f"signal has {signal.shape[-1]} samples but the frame needs "
            f"{config.signal.n_samples} ({config.signal.record_s:g} s at "
            f"{config.signal.sample_rate_hz:g} Hz)"
        )
    power = stft_power(signal, config.stft)
    return power_to_grey(power, config.stft.db_range)[..., ::-1, :].copy()
