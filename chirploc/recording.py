"""Recordings into the model's frame: read a .wav or .npy file, make it mono, resample, crop or pad.

Only :func:`load_recording` touches a file; everything else is a pure function of its arguments
and returns, besides its result, notes saying what it did to the recording.

Notes:
    Integer PCM samples x of b bits are scaled to [-1, 1) by (x - offset) / 2^(b-1), where the
    offset is 0 for signed and 2^(b-1) for unsigned samples. Resampling by the rational
    p / q ~ target / rate (denominator at most 1000) uses ``scipy.signal.resample_poly``. The
    robust noise level is 1.4826 * median(|x - median(x)|), the standard deviation for Gaussian
    noise.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from chirpgen.config import GenConfig
from chirpgen.plumbing import UserError
from chirpgen.spectrogram import render_image

RECORDING_SUFFIXES = (".wav", ".npy")
SCALES = ("raw", "noise")
MAD_TO_STD = 1.4826


class InputError(UserError):
    """An input file that cannot be described (phrased for the user, with the fix)."""


def check_scale(scale: str) -> None:
    """Raise InputError unless ``scale`` is one of SCALES."""
    if scale not in SCALES:
        raise InputError(f"scale={scale!r} must be one of {list(SCALES)}")


def pcm_to_float(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer PCM samples scaled to [-1, 1) as float64 (see Notes); float samples unchanged."""
    if data.dtype.kind not in "iu":
        return data, []
    info = np.iinfo(data.dtype)
    data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    return data, [f"{info.bits}-bit integer WAV scaled to [-1, 1)"]


def _read_wav(path: Path) -> tuple[np.ndarray, float, list[str]]:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks are skipped
            rate, data = wavfile.read(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, EOFError or struct.error on bad files
        raise InputError(f"{path} is not a readable WAV file ({exc}); give a PCM or float WAV") from None
    data, notes = pcm_to_float(data)
    return data, float(rate), notes


def _read_npy(path: Path, sample_rate_hz: float | None) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable .npy array ({exc}); save the recording with numpy.save"
        ) from None
    if data.dtype.kind not in "iuf":
        raise InputError(f"{path} holds {data.dtype} values; give a numeric 1-D recording")
    if sample_rate_hz is None:
        raise InputError(f"{path}: a .npy file has no sample rate; pass it (--rate HZ)")
    if sample_rate_hz <= 0:
        raise InputError(f"sample rate {sample_rate_hz:g} Hz of {path} must be > 0")
    return data


def to_mono(data: np.ndarray, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """A finite, non-empty float64 (N,) signal from (N,) or (N, channels) samples (channels averaged).

    Raises:
        InputError: no samples, more than two dimensions, or NaN / infinite samples in ``name``.
    """
    data = np.asarray(data, dtype=np.float64)
    notes = []
    if data.ndim == 2:
        notes.append(f"{data.shape[1]} channels averaged to mono")
        data = data.mean(axis=1)
    if data.ndim != 1 or data.size == 0:
        raise InputError(
            f"{name} holds no samples (shape {data.shape}); give a non-empty mono or multi-channel recording"
        )
    if not np.all(np.isfinite(data)):
        raise InputError(f"{name} holds NaN or infinite samples; clean the recording first")
    return data, notes


def load_recording(path: Path, sample_rate_hz: float | None = None) -> tuple[np.ndarray, float, list[str]]:
    """A mono float64 signal and its rate from a .wav or .npy file, with notes on what was done.

    Args:
        path: a .wav file (which carries its rate) or anything else, read as a .npy array.
        sample_rate_hz: the rate of a .npy recording; required for one.
    """
    if path.suffix.lower() == ".wav":
        data, rate, notes = _read_wav(path)
    else:
        data, rate, notes = _read_npy(path, sample_rate_hz), sample_rate_hz, []
    signal, mono_notes = to_mono(data, path)
    return signal, rate, notes + mono_notes


def resample(signal: np.ndarray, rate_hz: float, target_hz: float) -> tuple[np.ndarray, list[str]]:
    """``signal`` at ``rate_hz`` resampled to ``target_hz`` (polyphase, see Notes)."""
    if rate_hz == target_hz:
        return signal, []
    from scipy.signal import resample_poly

    ratio = Fraction(target_hz / rate_hz).limit_denominator(1000)
    signal = resample_poly(signal, ratio.numerator, ratio.denominator)
    return signal, [f"resampled from {rate_hz:g} Hz to {target_hz:g} Hz"]


def fit_to_frame(signal: np.ndarray, rate_hz: float, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """Resample ``signal`` to the frame's rate, then crop or zero-pad it to the record length."""
    target_hz = frame.signal.sample_rate_hz
    signal, notes = resample(signal, rate_hz, target_hz)
    n = frame.signal.n_samples
    have_s = len(signal) / target_hz
    if len(signal) > n:
        notes.append(f"cropped from {have_s:.3g} s to the first {frame.signal.record_s:g} s")
        signal = signal[:n]
    elif len(signal) < n:
        notes.append(f"zero-padded from {have_s:.3g} s to {frame.signal.record_s:g} s")
        signal = np.pad(signal, (0, n - len(signal)))
    return signal, notes


def robust_std(signal: np.ndarray) -> float:
    """Noise level estimate 1.4826 * median absolute deviation (the std for Gaussian noise)."""
    return float(MAD_TO_STD * np.median(np.abs(signal - np.median(signal))))


def scale_to_noise(signal: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``signal`` divided by its robust noise level (unchanged when that level is 0)."""
    level = robust_std(signal)
    if level <= 0:
        return signal, []
    return signal / level, [f"divided by its robust noise level {level:.3g}"]


def recording_image(
    signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "raw"
) -> tuple[np.ndarray, list[str]]:
    """The uint8 (H, W) spectrogram of a mono recording rendered in the model's frame, with notes.

    Args:
        signal: float (N,) samples.
        rate_hz: their sample rate.
        frame: the model's frame: its rate, record length and STFT.
        scale: 'raw' keeps the amplitude (the frame's grey levels assume unit-variance noise);
            'noise' divides the fitted record by its robust noise level first.
    """
    check_scale(scale)
    signal, notes = fit_to_frame(signal, rate_hz, frame)
    if scale == "noise":
        signal, scale_notes = scale_to_noise(signal)
        notes += scale_notes
    return render_image(signal, frame), notes
