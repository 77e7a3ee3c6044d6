"""Describe the chirp in spectrogram images and recordings, in a sentence with units.

    chirploc describe img.png rec.wav rec.npy --model runs/exp1 [--json] [--plot out.png]

Images must have the model's geometry. Recordings are rendered with the model's own frame via
chirpgen's ``render_image`` (see :mod:`chirploc.recording`): resampled to the frame's rate,
multi-channel audio averaged to mono, then cropped or zero-padded to the frame's record length.
Every such step is reported in the result's ``notes``. The sentences and records are made in
:mod:`chirploc.text`, the ``--plot`` figure in :mod:`chirploc.plot`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chirpgen.config import KIND_NAMES, TARGETS, GenConfig
from chirploc.plot import plot_results
from chirploc.recording import RECORDING_SUFFIXES, InputError, check_scale, load_recording, recording_image
from chirploc.text import result_record

if TYPE_CHECKING:
    from chirploc.inference import Predictor

__all__ = [
    "InputError",
    "describe_files",
    "describe_images",
    "grey_pixels",
    "load_image",
    "load_input",
]


def grey_pixels(
    pixels: np.ndarray, mode: str, frame: GenConfig, name: str | Path
) -> tuple[np.ndarray, list[str]]:
    """The uint8 (H, W) pixels of an image of PIL ``mode``, checked against the frame, with notes.

    RGB(A) images whose three colour channels are equal are accepted (first channel used).

    Raises:
        InputError: a colour image, pixels other than 8-bit, or another (H, W) than the frame's.
    """
    notes = []
    if pixels.ndim == 3:
        channels = pixels[..., :3]
        if not (
            np.array_equal(channels[..., 0], channels[..., 1])
            and np.array_equal(channels[..., 0], channels[..., 2])
        ):
            raise InputError(
                f"{name} is a colour ({mode}) image; give the 8-bit grey spectrogram (chirpgen export writes mode 'L')"
            )
        pixels = channels[..., 0]
        notes.append(f"grey {mode} image: first channel used")
    if pixels.dtype != np.uint8:
        raise InputError(f"{name} has {pixels.dtype} pixels (mode {mode}); give an 8-bit grey PNG (mode 'L')")
    if pixels.shape != tuple(frame.image_shape):
        raise InputError(
            f"{name} is {pixels.shape[0]}x{pixels.shape[1]} (H x W) but the model expects "
            f"{frame.image_shape[0]}x{frame.image_shape[1]}; give an image of the model's frame or the recording itself"
        )
    return pixels, notes


def load_image(path: Path, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """An 8-bit grey image of the frame's (H, W) read from ``path``, with notes (see :func:`grey_pixels`)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            pixels = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(
            f"{path} is not a readable image ({type(exc).__name__}); give a PNG from chirpgen export, a .wav or a .npy"
        ) from None
    return grey_pixels(pixels, mode, frame, path)


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
    check_scale(scale)
    if not path.is_file():
        raise InputError(f"{path} does not exist; give an image, .wav or .npy file")
    if path.suffix.lower() not in RECORDING_SUFFIXES:
        return load_image(path, frame)
    notes = []
    if path.suffix.lower() == ".npy" and sample_rate_hz is None:
        sample_rate_hz = frame.signal.sample_rate_hz
        notes.append(
            f"no sample rate in a .npy file: taken as the model's {sample_rate_hz:g} Hz (pass --rate to change)"
        )
    signal, rate_hz, load_notes = load_recording(path, sample_rate_hz)
    image, image_notes = recording_image(signal, rate_hz, frame, scale)
    return image, notes + load_notes + image_notes


def describe_images(
    images: list[np.ndarray], files: list[str], notes: list[list[str]], predictor: Predictor
) -> list[dict[str, Any]]:
    """One record per prepared uint8 (H, W) image (see :func:`chirploc.text.result_record`)."""
    pred = predictor.predict(np.stack(images))  # (B,) per key
    p_chirp = pred.get("p_chirp")
    for i in np.flatnonzero(pred.get("fallback", np.zeros(len(images), bool))):
        notes[i] = [*notes[i], f"the image hardly shows the chirp (p_chirp {p_chirp[i]:.2f}): the labels are the "
                    "middle of the model's ranges, not a fit"]
    return [
        result_record(
            file,
            {k: pred[k][i] for k in TARGETS},
            KIND_NAMES[int(pred["kind"][i])],
            notes[i],
            None if p_chirp is None else float(p_chirp[i]),
        )
        for i, file in enumerate(files)
    ]


def describe_files(
    paths: list[str | Path],
    predictor: Predictor,
    sample_rate_hz: float | None = None,
    scale: str = "raw",
    plot: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One result per input: the predicted labels, the kind name, a sentence and notes.

    Args:
        paths: images, .wav or .npy recordings (see :func:`load_input`).
        predictor: the model; its ``frame`` decides how recordings are rendered.
        sample_rate_hz: the rate of .npy recordings (default: the model's).
        scale: 'raw' or 'noise', see :func:`load_input`.
        plot: where to write a PNG with the predicted chirp over each spectrogram, if anywhere.
    """
    prepared = [load_input(path, predictor.frame, sample_rate_hz, scale) for path in paths]
    images = [image for image, _ in prepared]
    results = describe_images(
        images, [str(path) for path in paths], [notes for _, notes in prepared], predictor
    )
    if plot is not None:
        plot_results(images, results, predictor.frame, plot)
    return results
