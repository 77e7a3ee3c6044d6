"""Describe the chirps in spectrogram images and recordings, in a sentence with units.

    chirploc describe img.png rec.wav recordings/ 'clips/*.npy' [--model RUN] [--json | --csv] [--plot OUT]

    >>> import chirploc
    >>> chirploc.describe("rec.wav").sentence
    'A linear chirp sweeping from 12.0 Hz to 30.2 Hz, starting at 81.4 s and lasting 9.7 s.'

Images must have the model's geometry and are described as they are. Recordings are prepared by
:mod:`chirploc.recording`: made mono, resampled to the model's rate, divided by their noise level,
then scanned in overlapping frames (padded with the frame's noise where they reach past it); every
step is in the result's ``notes``. A chirp is reported where the model's presence probability is at least 0.5.
Where frames overlap, one chirp found twice is reported once (:func:`merge_frames`).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chirpgen.config import KIND_NAMES, NO_CHIRP_NAME, TARGETS, GenConfig
from chirploc.recording import (
    RECORDING_SUFFIXES,
    InputError,
    Segment,
    check_scale,
    load_recording,
    recording_segments,
    to_mono,
)
from chirploc.text import no_chirp_sentence, sentence

if TYPE_CHECKING:
    from chirploc.inference import Predictor

__all__ = [
    "Chirp",
    "Description",
    "InputError",
    "describe",
    "describe_many",
    "expand_inputs",
    "grey_pixels",
    "load_image",
]

IMAGE_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")
FRAMES_PER_BATCH = 256  # frames predicted together (inputs are read until a batch is full)
MIN_P_CHIRP = 0.5  # presence probability from which a chirp is reported
WEAK_TRUST = 0.99  # below this weight of the fit, the JSON notes say how much of the answer is the middle
DUPLICATE_OVERLAP = 0.5  # two chirps overlapping this much of the shorter one's duration are one
IN_RECORDING = 0.5  # a chirp found with less than this share of its duration inside the recording lies in its padding


@dataclass(frozen=True)
class Chirp:
    """One chirp found: times in seconds from the start of the input, frequencies in Hz."""

    kind: str
    t_start_s: float
    duration_s: float
    f_start_hz: float
    f_end_hz: float
    p_chirp: float | None = None  # the model's presence probability (dense-head models)
    confidence: float | None = None  # mean log-probability of the fitted curve (dense-head models)
    fallback: bool = False  # labels are the middle of the model's ranges: the frame hardly shows the chirp
    evidence: float | None = None  # the curve's matched statistic on the pixels (chirploc.decode)
    ridge: bool = False  # the labels are the ridge tracker's (its curve had more evidence than the fit's)
    trust: float | None = None  # weight of the fit against the middle of the ranges (chirploc.fit.apply_fallback)

    @property
    def t_end_s(self) -> float:
        return self.t_start_s + self.duration_s

    @property
    def sentence(self) -> str:
        return sentence(self.kind, self.f_start_hz, self.f_end_hz, self.t_start_s, self.duration_s)


@dataclass(frozen=True)
class Description:
    """What one input holds: its chirps in time order (none: no chirp found), or the error that
    stopped it from being described."""

    source: str
    chirps: tuple[Chirp, ...] = ()
    p_chirp: float | None = None  # the highest presence probability over the input's frames
    notes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def sentence(self) -> str:
        if self.error is not None:
            return f"not described: {self.error}"
        if not self.chirps:
            return no_chirp_sentence(self.p_chirp)
        if len(self.chirps) == 1:
            return self.chirps[0].sentence
        return f"{len(self.chirps)} chirps. " + " ".join(f"({i + 1}) {c.sentence}" for i, c in enumerate(self.chirps))

    def records(self) -> list[dict[str, Any]]:
        """JSON records: one per chirp (with its index ``chirp``), or one saying there is none or the error."""
        base: dict[str, Any] = {"file": self.source}
        if self.error is not None:
            return [{**base, "error": self.error}]
        if not self.chirps:
            return [{**base, "chirp": None, **{k: None for k in TARGETS}, "kind": NO_CHIRP_NAME,
                     "description": self.sentence, "p_chirp": self.p_chirp, "notes": list(self.notes)}]
        notes = list(self.notes)
        return [
            {**base, "chirp": i, **{k: float(getattr(c, k)) for k in TARGETS}, "kind": c.kind,
             "description": c.sentence, "p_chirp": c.p_chirp, "confidence": c.confidence, "evidence": c.evidence,
             "trust": c.trust,
             "notes": notes + (["the frame hardly shows the chirp: the labels are the middle of the model's "
                                "ranges, not a fit"] if c.fallback else [])
             + ([f"weak evidence (Z = {c.evidence:.1f}): the start time and frequencies are {c.trust:.0%} the fit's "
                 f"and {1 - c.trust:.0%} the middle of the model's ranges"]
                if c.trust is not None and c.trust < WEAK_TRUST and not c.fallback else [])
             + (["the labels are the ridge tracker's: its curve has more support on the pixels than the "
                 "model's fit"] if c.ridge else [])}
            for i, c in enumerate(self.chirps)
        ]


@dataclass
class _Prepared:
    """An input read and cut into frames, waiting for the model."""

    source: str
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    signal: np.ndarray | None = None  # a recording described in more than one frame, for figures
    rate_hz: float = 0.0
    length_s: float | None = None  # a recording's length: its frames reach past it into padding


# --- reading inputs -------------------------------------------------------------------------------


def grey_pixels(pixels: np.ndarray, mode: str, frame: GenConfig, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """The uint8 (H, W) pixels of an image of PIL ``mode``, checked against the frame, with notes.

    Grey images with alpha ('LA') and RGB(A) images whose three colour channels are equal are
    accepted (the first channel is used) when they are opaque.

    Raises:
        InputError: a colour or transparent image, pixels other than 8-bit, or another (H, W) than the frame's.
    """
    notes = []
    if pixels.ndim == 3:
        colour, alpha = (pixels[..., :1], pixels[..., 1]) if mode == "LA" else (pixels[..., :3], None)
        if mode == "RGBA":
            alpha = pixels[..., 3]
        if alpha is not None and alpha.min() < 255:
            raise InputError(f"{name} is a {mode} image with transparent pixels; give the opaque 8-bit grey spectrogram")
        if not all(np.array_equal(colour[..., 0], colour[..., c]) for c in range(colour.shape[-1])):
            raise InputError(
                f"{name} is a colour ({mode}) image; give the 8-bit grey spectrogram (chirpgen export writes mode 'L')"
            )
        pixels = colour[..., 0]
        notes.append(f"grey {mode} image: first channel used")
    if pixels.dtype != np.uint8 or mode == "1":
        raise InputError(f"{name} has {pixels.dtype} pixels (mode {mode}); give an 8-bit grey PNG (mode 'L')")
    _check_size(pixels.shape[:2], frame, name)
    return np.ascontiguousarray(pixels), notes


def _check_size(shape: tuple[int, int], frame: GenConfig, name: str | Path) -> None:
    """InputError unless an image of (H, W) ``shape`` has the frame's size."""
    if tuple(shape) != tuple(frame.image_shape):
        raise InputError(
            f"{name} is {shape[0]}x{shape[1]} (H x W) but the model expects {frame.image_shape[0]}x"
            f"{frame.image_shape[1]}; give an image of the model's frame or the recording itself"
        )


def load_image(path: Path, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """An 8-bit grey image of the frame's (H, W) read from ``path``, with notes (see :func:`grey_pixels`).

    A palette image is read through its palette (never as palette indices).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode, (width, height) = im.mode, im.size
            _check_size((height, width), frame, path)  # before decoding: a huge image is refused unread
            if mode in ("P", "PA"):
                im = im.convert("RGBA")
            pixels = np.asarray(im)
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise InputError(
            f"{path} is not a readable image ({type(exc).__name__}); give a PNG from chirpgen export, a .wav or a .npy"
        ) from None
    image, notes = grey_pixels(pixels, "RGBA" if mode in ("P", "PA") else mode, frame, path)
    return image, ["palette image read through its palette" if mode in ("P", "PA") else n for n in notes]


def expand_inputs(items: Iterable[str | Path]) -> Iterator[str]:
    """Paths of the inputs named by ``items``: files as given, folders as the images and recordings
    in them (recursively, sorted), and glob patterns ('*', '?', '[') as their sorted matches (folders
    among them expanded the same way). Names that match nothing, and folders holding no input, are
    passed on, to be reported as such."""
    for item in items:
        item = str(item)
        path = Path(item)
        if not path.exists() and glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            for match in matches or [item]:
                yield from _folder_inputs(Path(match)) if Path(match).is_dir() else [match]
        elif path.is_dir():
            yield from _folder_inputs(path)
        else:
            yield item


def _folder_inputs(folder: Path) -> list[str]:
    """The images and recordings in ``folder`` (recursively, sorted), or the folder itself if none."""
    suffixes = set(IMAGE_SUFFIXES) | set(RECORDING_SUFFIXES)
    found = [str(p) for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in suffixes]
    return found or [str(folder)]


def _prepare_path(path: Path, frame: GenConfig, sample_rate_hz: float | None, scale: str) -> _Prepared:
    if not path.exists():
        raise InputError(f"{path} does not exist; give an image, .wav or .npy file, a folder or a glob pattern")
    if path.is_dir():
        raise InputError(
            f"{path} is a folder with no images or recordings in it (looked for "
            f"{', '.join(IMAGE_SUFFIXES + RECORDING_SUFFIXES)}); give a folder that holds some"
        )
    if path.suffix.lower() not in RECORDING_SUFFIXES:
        image, notes = load_image(path, frame)
        return _Prepared(str(path), [Segment(0.0, image)], notes)
    notes = []
    if path.suffix.lower() == ".npy" and sample_rate_hz is None:
        sample_rate_hz = frame.signal.sample_rate_hz
        notes.append(f"no sample rate in a .npy file: taken as the model's {sample_rate_hz:g} Hz (pass --rate to change)")
    signal, rate_hz, load_notes = load_recording(path, sample_rate_hz)
    prepared = _prepare_signal(str(path), signal, rate_hz, frame, scale)
    prepared.notes[:0] = notes + load_notes
    return prepared


def _prepare_signal(source: str, signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str) -> _Prepared:
    segments, notes = recording_segments(signal, rate_hz, frame, scale, source)
    long = len(segments) > 1
    return _Prepared(source, segments, notes, signal=signal if long else None, rate_hz=rate_hz,
                     length_s=len(signal) / rate_hz)


def _prepare(item: Any, frame: GenConfig, sample_rate_hz: float | None, scale: str) -> _Prepared:
    """Read one input (a path, a uint8 (H, W) image or a 1-D / 2-D recording array); errors are kept."""
    source = str(item) if isinstance(item, (str, Path)) else f"<array {np.shape(item)}>"
    try:
        if isinstance(item, (str, Path)):
            return _prepare_path(Path(item), frame, sample_rate_hz, scale)
        array = np.asarray(item)
        if array.dtype == np.uint8 and array.ndim == 2 and array.shape == tuple(frame.image_shape):
            return _Prepared(source, [Segment(0.0, array)], [])
        if array.dtype.kind not in "iuf":
            raise InputError(f"{source} holds {array.dtype} values; give a recording or a uint8 spectrogram image")
        signal, notes = to_mono(array, source)
        if sample_rate_hz is None:
            raise InputError(f"{source}: a recording array needs its sample rate (sample_rate_hz=...)")
        prepared = _prepare_signal(source, signal, sample_rate_hz, frame, scale)
        prepared.notes[:0] = notes
        return prepared
    except InputError as exc:
        return _Prepared(source, error=str(exc))


# --- from frame predictions to chirps -------------------------------------------------------------


def _frame_chirps(pred: dict[str, np.ndarray], rows: range, segments: list[Segment], frame: GenConfig,
                  length_s: float | None = None) -> list[tuple[Chirp, bool]]:
    """The chirps found in an input's frames, in the input's time, each with whether it touches an
    inner frame edge (so may be cut off there) or starts at the latest start the model knows with a
    frame after it (so may start later, where the next frame can say so). Of a recording of
    ``length_s`` seconds, chirps that lie mostly in the padding past its ends are left out."""
    found = []
    edge = frame.column_s
    lo, hi = frame.signal.t_start_s
    for n, (row, seg) in enumerate(zip(rows, segments, strict=True)):
        p = None if "p_chirp" not in pred else float(pred["p_chirp"][row])
        if p is not None and p < MIN_P_CHIRP:
            continue
        values = {k: float(pred[k][row]) for k in TARGETS}
        later = n < len(segments) - 1
        cut = (n > 0 and values["t_start_s"] <= lo + edge) or (later and (
            values["t_start_s"] >= hi - edge or values["t_start_s"] + values["duration_s"] >= frame.signal.record_s - edge))
        confidence = float(pred["confidence"][row]) if "confidence" in pred else None
        values["t_start_s"] += seg.offset_s
        if length_s is not None:
            inside = min(values["t_start_s"] + values["duration_s"], length_s) - max(values["t_start_s"], 0.0)
            if inside < IN_RECORDING * values["duration_s"]:
                continue
        fallback = bool(pred["fallback"][row]) if "fallback" in pred else False
        evidence = float(pred["evidence"][row]) if "evidence" in pred else None
        ridge = bool(pred["ridge"][row]) if "ridge" in pred else False
        trust = float(pred["trust"][row]) if "trust" in pred else None
        found.append((Chirp(KIND_NAMES[int(pred["kind"][row])], **values, p_chirp=p, confidence=confidence,
                            fallback=fallback, evidence=evidence, ridge=ridge, trust=trust), cut))
    return found


def merge_frames(found: list[tuple[Chirp, bool]]) -> tuple[Chirp, ...]:
    """One chirp per event, in time order.

    Chirps whole in their frame come first, most confident first; one that overlaps a chirp already
    kept by ``DUPLICATE_OVERLAP`` of the shorter one's duration is the same chirp seen again. A chirp
    that touches an inner frame edge runs on into the next frame, which holds it whole (frames
    overlap by the longest chirp, see chirploc.recording), and one found at the latest start the
    model knows may start later, where the next frame can say so: such a chirp is kept only where it
    overlaps no chirp kept before it.
    """
    def overlap(a: Chirp, b: Chirp) -> float:
        return min(a.t_end_s, b.t_end_s) - max(a.t_start_s, b.t_start_s)

    def score(chirp: Chirp) -> float:
        return chirp.confidence if chirp.confidence is not None else (chirp.p_chirp or 0.0)

    kept: list[Chirp] = []
    for chirp, cut in sorted(found, key=lambda item: (item[1], -score(item[0]))):
        limit = 0.0 if cut else DUPLICATE_OVERLAP
        if all(overlap(chirp, k) <= limit * min(chirp.duration_s, k.duration_s) for k in kept):
            kept.append(chirp)
    return tuple(sorted(kept, key=lambda c: c.t_start_s))


def _describe_batch(batch: list[_Prepared], predictor: Predictor) -> list[Description]:
    images = [seg.image for p in batch for seg in p.segments]
    pred = predictor.predict(np.stack(images)) if images else {}
    out, row = [], 0
    for p in batch:
        if p.error is not None:
            out.append(Description(p.source, error=p.error))
            continue
        rows = range(row, row + len(p.segments))
        row += len(p.segments)
        chirps = merge_frames(_frame_chirps(pred, rows, p.segments, predictor.frame, p.length_s))
        p_max = float(np.max(pred["p_chirp"][rows.start : rows.stop])) if "p_chirp" in pred else None
        out.append(Description(p.source, chirps, p_max, tuple(p.notes)))
    return out


# --- the API ----------------------------------------------------------------------------------------


def describe_many(
    inputs: Iterable[Any],
    predictor: Predictor | None = None,
    *,
    model: str | Path | None = None,
    sample_rate_hz: float | None = None,
    scale: str = "noise",
    keep_images: bool = False,
) -> Iterator[Description] | Iterator[tuple[Description, _Prepared]]:
    """Describe many inputs, streaming: one :class:`Description` per input, in input order.

    Inputs are read a batch at a time, so any number of files can be described in bounded memory.
    An input that cannot be read gives a Description with ``error`` set; the others go on.

    Args:
        inputs: paths (images, .wav or .npy recordings) or arrays (a uint8 image of the model's
            (H, W), or a 1-D / 2-D recording, which needs ``sample_rate_hz``).
        predictor: a loaded model (chirploc.inference.load_predictor); else ``model`` is loaded.
        model: a run or packaged model directory; None is the packaged default model.
        sample_rate_hz: the rate of .npy files and arrays (default for .npy: the model's).
        scale: 'noise' (default) divides recordings by their noise level; 'raw' keeps the amplitude.
        keep_images: yield (Description, prepared input) pairs, for figures.
    """
    from chirploc.recording import check_rate

    check_scale(scale)
    if sample_rate_hz is not None:
        check_rate(sample_rate_hz)
    if predictor is None:
        from chirploc.inference import load_predictor

        predictor = load_predictor(model)
    if sample_rate_hz is not None:
        check_rate(sample_rate_hz, predictor.frame.signal.sample_rate_hz)
    batch: list[_Prepared] = []
    n_frames = 0

    def flush() -> Iterator[Any]:
        for d, p in zip(_describe_batch(batch, predictor), batch, strict=True):
            yield (d, p) if keep_images else d

    for item in inputs:
        prepared = _prepare(item, predictor.frame, sample_rate_hz, scale)
        batch.append(prepared)
        n_frames += len(prepared.segments)
        if n_frames >= FRAMES_PER_BATCH:
            yield from flush()
            batch, n_frames = [], 0
    if batch:
        yield from flush()


def describe(
    source: str | Path | np.ndarray,
    *,
    model: str | Path | None = None,
    sample_rate_hz: float | None = None,
    scale: str = "noise",
    predictor: Predictor | None = None,
) -> Description:
    """Describe the chirps in one image or recording (a path or an array); see :func:`describe_many`.

    Raises:
        InputError: the input cannot be read (the message names it and the fix).
    """
    (result,) = describe_many([source], predictor, model=model, sample_rate_hz=sample_rate_hz, scale=scale)
    if result.error is not None:
        raise InputError(result.error)
    return result
