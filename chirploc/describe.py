"""Describe the chirp in spectrogram images and recordings, in a sentence with units.

    chirploc describe img.png rec.wav rec.npy --model runs/exp1 [--json] [--plot out.png]

Images must have the model's geometry. Recordings are rendered with the model's own frame via
chirpgen's ``render_image``: resampled to the frame's rate (``scipy.signal.resample_poly``),
multi-channel audio averaged to mono, then cropped or zero-padded to the frame's record length.
Every such step is reported in the result's ``notes``.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.spectrogram import image_axes, render_image
from chirploc.inference import Predictor

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif", ".jpg", ".jpeg", ".webp")
SCALES = ("raw", "noise")


class InputError(ValueError):
    """An input file that cannot be described (phrased for the user, with the fix)."""


def _hz(f: float) -> str:
    return f"{f / 1000:.2f} kHz" if f >= 1000 else f"{f:.1f} Hz"


def _s(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.1f} s"


def sentence(kind: str, f_start_hz: float, f_end_hz: float, t_start_s: float, duration_s: float) -> str:
    """E.g. 'An exponential chirp sweeping from 14.6 Hz to 36.8 Hz, starting at 38.9 s and lasting 10.8 s.'

    Frequencies of 1 kHz and more are given in kHz, times under 1 s in ms (audio-rate frames).
    """
    article = "An" if kind[0] in "aeiou" else "A"
    return (
        f"{article} {kind} chirp sweeping from {_hz(f_start_hz)} to {_hz(f_end_hz)}, "
        f"starting at {_s(t_start_s)} and lasting {_s(duration_s)}."
    )


def load_image(path: Path, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """An 8-bit grey image of the frame's (H, W); RGB images with equal channels are accepted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            pixels = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(
            f"{path} is not a readable image ({type(exc).__name__}); give a PNG from chirpgen export, a .wav or a .npy"
        ) from None
    notes = []
    if pixels.ndim == 3:
        channels = pixels[..., :3]
        if not (
            np.array_equal(channels[..., 0], channels[..., 1])
            and np.array_equal(channels[..., 0], channels[..., 2])
        ):
            raise InputError(
                f"{path} is a colour ({mode}) image; give the 8-bit grey spectrogram (chirpgen export writes mode 'L')"
            )
        pixels = channels[..., 0]
        notes.append(f"grey {mode} image: first channel used")
    if pixels.dtype != np.uint8:
        raise InputError(f"{path} has {pixels.dtype} pixels (mode {mode}); give an 8-bit grey PNG (mode 'L')")
    if pixels.shape != tuple(frame.image_shape):
        raise InputError(
            f"{path} is {pixels.shape[0]}x{pixels.shape[1]} (H x W) but the model expects "
            f"{frame.image_shape[0]}x{frame.image_shape[1]}; give an image of the model's frame or the recording itself"
        )
    return pixels, notes


def load_recording(path: Path, sample_rate_hz: float | None = None) -> tuple[np.ndarray, float, list[str]]:
    """A mono float64 signal and its rate from a .wav or .npy file, with notes on what was done."""
    notes: list[str] = []
    if path.suffix.lower() == ".wav":
        from scipy.io import wavfile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks are skipped
                rate, data = wavfile.read(path)
        except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, EOFError or struct.error on bad files
            raise InputError(f"{path} is not a readable WAV file ({exc}); give a PCM or float WAV") from None
        if data.dtype.kind in "iu":
            info = np.iinfo(data.dtype)
            data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
            notes.append(f"{info.bits}-bit integer WAV scaled to [-1, 1)")
        rate = float(rate)
    else:
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(
                f"{path} is not a readable .npy array ({exc}); save the recording with numpy.save"
            ) from None
        if data.dtype.kind not in "iuf":
            raise InputError(f"{path} holds {data.dtype} values; give a numeric 1-D recording")
        rate = sample_rate_hz
        if rate is None:
            raise InputError(f"{path}: a .npy file has no sample rate; pass it (--rate HZ)")
        if rate <= 0:
            raise InputError(f"sample rate {rate:g} Hz of {path} must be > 0")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 2:
        notes.append(f"{data.shape[1]} channels averaged to mono")
        data = data.mean(axis=1)
    if data.ndim != 1 or data.size == 0:
        raise InputError(
            f"{path} holds no samples (shape {data.shape}); give a non-empty mono or multi-channel recording"
        )
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path} holds NaN or infinite samples; clean the recording first")
    return data, rate, notes


def fit_to_frame(signal: np.ndarray, rate_hz: float, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """Resample ``signal`` to the frame's rate, then crop or zero-pad it to the record length."""
    from scipy.signal import resample_poly

    notes = []
    target_hz = frame.signal.sample_rate_hz
    if rate_hz != target_hz:
        ratio = Fraction(target_hz / rate_hz).limit_denominator(1000)
        signal = resample_poly(signal, ratio.numerator, ratio.denominator)
        notes.append(f"resampled from {rate_hz:g} Hz to {target_hz:g} Hz")
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
    return float(1.4826 * np.median(np.abs(signal - np.median(signal))))


def load_input(
    path: str | Path, frame: GenConfig, sample_rate_hz: float | None = None, scale: str = "raw"
) -> tuple[np.ndarray, list[str]]:
    """The uint8 (H, W) image of an input file in the model's frame, and notes on how it was made.

    Args:
        path: a grey image, a .wav or a .npy recording.
        frame: the model's frame.
        sample_rate_hz: the rate of a .npy recording (WAV files carry their own).
        scale: 'raw' keeps the recording's amplitude (the frame's grey levels assume unit-variance
            noise); 'noise' divides it by its robust noise level first.
    """
    path = Path(path)
    if scale not in SCALES:
        raise InputError(f"scale={scale!r} must be one of {list(SCALES)}")
    if not path.is_file():
        raise InputError(f"{path} does not exist; give an image, .wav or .npy file")
    if path.suffix.lower() not in (".wav", ".npy"):
        return load_image(path, frame)
    notes = []
    if path.suffix.lower() == ".npy" and sample_rate_hz is None:
        sample_rate_hz = frame.signal.sample_rate_hz
        notes.append(
            f"no sample rate in a .npy file: taken as the model's {sample_rate_hz:g} Hz (pass --rate to change)"
        )
    signal, rate, load_notes = load_recording(path, sample_rate_hz)
    notes += load_notes
    signal, fit_notes = fit_to_frame(signal, rate, frame)
    notes += fit_notes
    if scale == "noise":
        level = robust_std(signal)
        if level > 0:
            signal = signal / level
            notes.append(f"divided by its robust noise level {level:.3g}")
    return render_image(signal, frame), notes


def describe_files(
    paths: list[str | Path],
    predictor: Predictor,
    sample_rate_hz: float | None = None,
    scale: str = "raw",
    plot: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One result per input: the predicted labels, the kind name, a sentence and notes."""
    images, notes = [], []
    for path in paths:
        image, note = load_input(path, predictor.frame, sample_rate_hz, scale)
        images.append(image)
        notes.append(note)
    pred = predictor.predict(np.stack(images))
    results = []
    for i, path in enumerate(paths):
        kind = KIND_NAMES[int(pred["kind"][i])]
        values = {k: float(pred[k][i]) for k in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s")}
        results.append(
            {
                "file": str(path),
                **values,
                "kind": kind,
                "description": sentence(
                    kind, values["f_start_hz"], values["f_end_hz"], values["t_start_s"], values["duration_s"]
                ),
                "notes": notes[i],
            }
        )
    if plot is not None:
        plot_results(images, results, predictor.frame, plot)
    return results


def plot_results(
    images: list[np.ndarray], results: list[dict[str, Any]], frame: GenConfig, out: str | Path
) -> Path:
    """Draw each spectrogram with the predicted chirp's frequency curve on top (one row per input)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chirpgen.signal import instantaneous_frequency

    freqs_hz, times_s = image_axes(frame)
    dt, df = (
        times_s[1] - times_s[0] if len(times_s) > 1 else 1.0,
        abs(freqs_hz[0] - freqs_hz[1]) if len(freqs_hz) > 1 else 1.0,
    )
    extent = (times_s[0] - dt / 2, times_s[-1] + dt / 2, freqs_hz[-1] - df / 2, freqs_hz[0] + df / 2)
    fig, axes = plt.subplots(len(images), 1, figsize=(8, 3.2 * len(images)), squeeze=False)
    for ax, image, r in zip(axes[:, 0], images, results, strict=True):
        ax.imshow(image, cmap="gray", aspect="auto", extent=extent, origin="upper")
        tau = np.linspace(0.0, max(r["duration_s"], 1e-6), 200)
        f0, f1 = max(r["f_start_hz"], 1e-3), max(r["f_end_hz"], 1e-3)
        curve = instantaneous_frequency(r["kind"], tau, f0, f1, max(r["duration_s"], 1e-6))
        ax.plot(r["t_start_s"] + tau, curve, color="tab:red", lw=1.5, label="predicted chirp")
        ax.set_title(f"{Path(r['file']).name}: {r['description']}", fontsize=8)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
