"""Recordings into the model's frame: read a .wav or .npy file, make it mono, resample, scale by its
noise level, then cut it into overlapping frames of the model's length, padded with the frame's noise
where they reach past it.

Only :func:`load_recording` touches a file; everything else is a pure function of its arguments
and returns, besides its result, notes saying what it did to the recording.

Notes:
    Integer PCM samples x of b bits are scaled to [-1, 1) by (x - offset) / 2^(b-1), where the
    offset is 0 for signed and 2^(b-1) for unsigned samples. Resampling by the rational
    p / q = target / rate uses ``scipy.signal.resample_poly``, exact for rates that are whole
    numbers (44100 Hz to 256 Hz is 64 / 11025); ratios whose terms pass ``MAX_RESAMPLE_FACTOR`` are
    rounded to factors up to 1000, and the note says by how much.

    Noise level: the frame's grey levels assume white noise of unit variance, whose normalised STFT
    power (chirpgen.spectrogram.stft_power) is exponentially distributed with mean 1 in every bin.
    The level of a recording is sigma = sqrt(median(P) / ln 2), the median over every bin but DC of
    the columns whose window lies wholly inside the recording: a chirp fills one bin in a column,
    so the median hardly sees it, and it is measured on the real samples before any padding.

    Frames: the model knows chirps that start between ``t_start_s = [lo, hi]`` seconds into its
    frame. A recording is described in frames of the frame's length; frame k starts at k (hi - lo) - lo
    seconds, so it holds the chirps that start k (hi - lo) to (k + 1) (hi - lo) seconds into the
    recording where the model knows them, and there are as many frames as it takes for every start
    up to the recording's end less the shortest chirp (``duration_s[0]``). Frames reach past the
    recording's ends: a chirp 50 s into a 60 s recording starts 5 s into the second frame, where
    the default model (lo, hi = 0, 45 s) can say so, and not 50 s into the first, where it cannot.
    Frames overlap by the frame's length less the start span, which is the longest chirp for the
    default frame.

    Padding: a recording is padded, at its frame's rate and in its units, with the frame's noise
    (chirpgen's, of unit variance: the recording's own level after the division by it), the same
    draw for every recording. Zeros would leave an edge the model never saw in training, where the recording
    stops, whose broadband step it can take for the end of a chirp.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from chirpgen.config import GenConfig
from chirpgen.plumbing import UserError
from chirpgen.signal import NOISE_FUNCTIONS
from chirpgen.spectrogram import column_centres, power_to_grey, render_image, stft_power

RECORDING_SUFFIXES = (".wav", ".npy")
SCALES = ("noise", "raw")
MAX_RESAMPLE_FACTOR = 100_000  # largest up or down factor of an exact resampling ratio
MAX_CHANNELS = 64  # a 2-D recording's shorter axis is its channels, up to this many


PAD_SEED = 0  # padding is the frame's noise drawn from this seed: the same for every recording
MAX_RAW_AMPLITUDE = 1e15  # with --scale raw: the float32 STFT's power stays far from overflow


class InputError(UserError):
    """An input file that cannot be described (phrased for the user, with the fix)."""


def check_scale(scale: str) -> None:
    """Raise InputError unless ``scale`` is one of SCALES."""
    if scale not in SCALES:
        raise InputError(f"scale={scale!r} must be one of {list(SCALES)}")


def check_rate(rate_hz: float, target_hz: float | None = None) -> None:
    """Raise InputError unless ``rate_hz`` is a finite sample rate > 0 (and, given the model's
    ``target_hz``, not over 1000 times below it: no recording is stretched a thousandfold)."""
    number = isinstance(rate_hz, (int, float, np.integer, np.floating)) and not isinstance(rate_hz, bool)
    if not (number and np.isfinite(rate_hz) and rate_hz > 0):
        raise InputError(f"sample rate {rate_hz!r} Hz must be a finite number > 0; pass e.g. --rate 256")
    if target_hz is not None and rate_hz * 1000 < target_hz:
        raise InputError(f"sample rate {rate_hz:g} Hz is over 1000 times below the model's {target_hz:g} Hz; "
                         "check --rate or the file's rate, or resample the recording nearer to it first")


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
    if rate <= 0:
        raise InputError(f"{path} says its sample rate is {rate} Hz; fix the WAV header (or save the samples as .npy "
                         "and pass --rate)")
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
    check_rate(sample_rate_hz)
    return data


def to_mono(data: np.ndarray, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """A finite, non-empty float64 (N,) signal from (N,), (N, channels) or (channels, N) samples
    (channels averaged; the shorter axis of a 2-D array is taken as the channels).

    Raises:
        InputError: no samples, more than two dimensions, a 2-D array with no clear channel axis,
            or NaN / infinite samples in ``name``.
    """
    data = np.asarray(data, dtype=np.float64)
    notes = []
    if data.size == 0:
        raise InputError(f"{name} holds no samples (shape {data.shape}); give a non-empty mono or multi-channel recording")
    if data.ndim == 2:
        axis = 0 if data.shape[0] < data.shape[1] else 1
        channels = data.shape[axis]
        if channels > MAX_CHANNELS:
            raise InputError(
                f"{name} has shape {data.shape}: neither axis looks like channels (at most {MAX_CHANNELS}); "
                "give a 1-D recording, or (samples, channels)"
            )
        notes.append(f"{channels} channels (axis {axis} of {data.shape}) averaged to mono")
        data = data.mean(axis=axis)
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
    check_rate(rate_hz, target_hz)
    if rate_hz == target_hz:
        return signal, []
    from scipy.signal import resample_poly

    ratio = Fraction(target_hz) / Fraction(rate_hz)  # exact for rates such as 44100 and 256: 64/11025
    notes = [f"resampled from {rate_hz:g} Hz to {target_hz:g} Hz"]
    if max(ratio.numerator, ratio.denominator) > MAX_RESAMPLE_FACTOR:
        ratio = ratio.limit_denominator(1000)
        if ratio == 0:
            raise InputError(f"sample rate {rate_hz:g} Hz is over 1000 times the model's {target_hz:g} Hz; resample "
                             "the recording nearer to it first")
        got_hz = rate_hz * ratio
        notes = [f"resampled from {rate_hz:g} Hz to {float(got_hz):.6g} Hz (the nearest ratio to {target_hz:g} Hz "
                 f"with factors up to 1000: times off by {abs(float(got_hz) / target_hz - 1):.2%})"]
    return resample_poly(signal, ratio.numerator, ratio.denominator), notes


def noise_level(signal: np.ndarray, frame: GenConfig) -> float:
    """The recording's noise standard deviation, from the median of its STFT power (see Notes).

    ``signal`` is at the frame's rate; for one shorter than a window, the sample standard deviation.
    """
    stft = frame.stft
    peak = float(np.max(np.abs(signal), initial=0.0))
    if peak == 0:
        return 0.0
    power = stft_power(signal / peak, stft)  # (F, W) of the signal scaled to a peak of 1: float32 never overflows
    first = column_centres(len(signal), stft) - stft.window_len // 2  # first sample of each column's window
    inside = (first >= 0) & (first + stft.window_len <= len(signal))
    if not inside.any():
        return float(np.std(signal))
    return peak * float(np.sqrt(np.median(power[1:, inside]) / np.log(2.0)))


def scale_to_noise(signal: np.ndarray, frame: GenConfig, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """``signal`` (at the frame's rate) divided by its noise level (:func:`noise_level`).

    Raises:
        InputError: a silent recording (noise level 0).
    """
    level = noise_level(signal, frame)
    if not level > 0:
        raise InputError(f"{name} is silent (noise level 0); nothing to describe (use --scale raw to render it as is)")
    return signal / level, [f"divided by its noise level {level:.3g}"]


@dataclass(frozen=True)
class Segment:
    """One frame of a recording: its start in the recording and its spectrogram image."""

    offset_s: float
    image: np.ndarray  # uint8 (H, W)


def frame_starts(n: int, frame: GenConfig) -> list[int]:
    """Start samples of the frames that describe a recording of ``n`` samples (see Notes); a start
    below 0 or a frame past ``n`` reaches into the padding."""
    sig = frame.signal
    lo, hi = (round(t * sig.sample_rate_hz) for t in sig.t_start_s)
    hop = hi - lo if hi > lo else sig.n_samples
    last_start = n - round(sig.duration_s[0] * sig.sample_rate_hz)  # the latest start of a whole chirp
    return [k * hop - lo for k in range(max(1, -(-last_start // hop)))]


def in_frame_units(
    signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise", name: str | Path = "recording"
) -> tuple[np.ndarray, list[str]]:
    """A recording resampled to the frame's rate and, for ``scale='noise'``, divided by its noise
    level (see :func:`recording_segments`), with notes."""
    check_scale(scale)
    try:
        signal, notes = resample(signal, rate_hz, frame.signal.sample_rate_hz)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    if scale == "noise":
        signal, scale_notes = scale_to_noise(signal, frame, name)
        notes += scale_notes
    elif np.max(np.abs(signal), initial=0.0) > MAX_RAW_AMPLITUDE:
        raise InputError(f"{name} has samples beyond {MAX_RAW_AMPLITUDE:.0e}, too loud for --scale raw; use --scale noise")
    return signal, notes


def pad_with_noise(signal: np.ndarray, before: int, after: int, frame: GenConfig) -> np.ndarray:
    """``signal`` (in the frame's units) with ``before`` and ``after`` samples of the frame's noise
    (chirpgen's, of unit variance) drawn from ``PAD_SEED`` (see Notes)."""
    fill = NOISE_FUNCTIONS[frame.signal.noise](np.random.default_rng(PAD_SEED), before + after)
    return np.concatenate([fill[:before], signal, fill[before:]])


def recording_segments(
    signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise", name: str | Path = "recording"
) -> tuple[list[Segment], list[str]]:
    """The frames of a mono recording rendered in the model's frame, with notes.

    Args:
        signal: float (N,) samples.
        rate_hz: their sample rate.
        frame: the model's frame: its rate, record length and STFT.
        scale: 'noise' divides the recording by its noise level first (see Notes); 'raw' keeps the
            amplitude (for data already in the frame's units: unit-variance noise).
        name: the recording's name in messages.
    """
    target_hz = frame.signal.sample_rate_hz
    signal, notes = in_frame_units(signal, rate_hz, frame, scale, name)
    size, have_s, record_s = frame.signal.n_samples, len(signal) / target_hz, frame.signal.record_s
    starts = frame_starts(len(signal), frame)
    before, after = max(0, -starts[0]), max(0, starts[-1] + size - len(signal))
    lo, hi = frame.signal.t_start_s
    if len(starts) == 1:
        if before or after:
            notes.append(f"padded with noise from {have_s:.3g} s to the model's {record_s:g} s frame")
    else:
        notes.append(f"{have_s:.4g} s long: scanned in {len(starts)} overlapping frames of {record_s:g} s "
                     f"(starts {(starts[1] - starts[0]) / target_hz:g} s apart, so that each chirp starts "
                     f"{lo:g}-{hi:g} s into one of them{'; padded with noise past the end' if after else ''})")
    signal = pad_with_noise(signal, before, after, frame)
    images = render_image(np.stack([signal[s + before : s + before + size] for s in starts]), frame)
    return [Segment(s / target_hz, image) for s, image in zip(starts, images, strict=True)], notes


def recording_spectrogram(signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise") -> np.ndarray:
    """The uint8 (H, W') image of a whole recording of any length in the frame's STFT and grey levels
    (for figures of long recordings; W' columns of ``frame.column_s``)."""
    signal, _ = in_frame_units(signal, rate_hz, frame, scale)
    return power_to_grey(stft_power(signal, frame.stft), frame.stft.db_range)[::-1].copy()
