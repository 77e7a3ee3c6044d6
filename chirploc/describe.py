"""Describe the chirps in spectrogram images and recordings, in a sentence with units.

    chirploc describe img.png rec.wav recordings/ 'clips/*.npy' [--model RUN] [--json | --csv] [--plot OUT]

    >>> import chirploc
    >>> chirploc.describe("rec.wav").sentence
    'A linear chirp sweeping from 12.0 Hz to 30.2 Hz, starting at 81.4 s and lasting 9.7 s.'

Images must have the model's geometry and are described as they are. Recordings are prepared by
:mod:`chirploc.recording`: made mono, time-expanded if asked (``expand``: read as if played that
many times slower, for calls far above the model's band; the answers are given back in the
recording's own seconds and hertz), resampled to the model's rate, divided by their noise level,
then scanned in overlapping frames (padded with the frame's noise where they reach past it); every
step is in the result's ``notes``. A chirp is reported where the model's presence probability is at least 0.5.

The model reports one chirp per frame. Where it finds one, the frame is read again with that
chirp's pixels covered by noise (:func:`cover_chirp`), until it finds no more: so a frame gives
every chirp in it, also two at the same time in different frequency bands. A chirp found once
another is covered is reported only where the pixels plainly back its curve (its ``evidence`` Z at
least ``LATER_EVIDENCE``, chirploc.decode; the search finds up to about 11 in noise alone, and a
model's own presence probability may be uncalibrated): each further look is another chance for noise to
pass for a chirp. A chirp read while others were still in its frame is read once more with all of
them covered (:func:`_read_alone`): a neighbour a few seconds away can pull its edges, and the
model may join calls repeated at one pitch into one; where the new reading is shorter than what was
covered, the frame is covered anew and looked at again there. A model
without a presence output (a global regression head) cannot say that a frame holds no more chirps:
it reads each frame once, one chirp per frame. Where frames
overlap, or a covered chirp left something uncovered, one chirp found twice is reported once
(:func:`merge_frames`).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chirpgen.config import KIND_NAMES, NO_CHIRP_NAME, TARGETS, GenConfig
from chirpgen.signal import NOISE_FUNCTIONS, frequency_law
from chirpgen.spectrogram import image_axes, render_image
from chirploc.recording import (
    PAD_SEED,
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
DUPLICATE_OVERLAP = 0.5  # two chirps overlapping this much of the shorter one's duration are one (see merge_frames)
IN_RECORDING = 0.5  # a chirp found with less than this share of its duration inside the recording lies in its padding
LOOKS_PER_FRAME = 16  # a frame is read again with each chirp found covered by noise, up to this many times in all
COVER_MARGIN_BINS = 2.0  # rows covered past a found chirp's curve, beyond its window's main lobe
COVER_MARGIN_COLUMNS = 1  # columns covered before a found chirp's start and after its end
LATER_EVIDENCE = 15.0  # a chirp found once another is covered is reported only if its curve's evidence Z is at least this


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
    expand: float = 1.0  # time expansion: rate_hz, length_s and the frames are in expanded time


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


def _prepare_path(path: Path, frame: GenConfig, sample_rate_hz: float | None, scale: str, expand: float) -> _Prepared:
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
    prepared = _prepare_signal(str(path), signal, rate_hz, frame, scale, expand)
    prepared.notes[:0] = notes + load_notes
    return prepared


def _prepare_signal(source: str, signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str,
                    expand: float = 1.0) -> _Prepared:
    """A recording cut into frames; time-expanded ``expand`` times, it is read as if recorded at
    ``rate_hz / expand`` (see the module docstring)."""
    notes = []
    if expand != 1.0:
        sig = frame.signal
        rate_hz /= expand
        (lo, hi), (d0, d1) = sig.freq_hz, sig.duration_s
        notes.append(f"time-expanded {expand:g} times (read as if recorded at {rate_hz:.6g} Hz): the model's chirps "
                     f"are {lo * expand:.4g}-{hi * expand:.4g} Hz and {d0 / expand:.4g}-{d1 / expand:.4g} s long "
                     "here; times and frequencies are the recording's own")
    segments, frame_notes = recording_segments(signal, rate_hz, frame, scale, source)
    long = len(segments) > 1
    return _Prepared(source, segments, notes + frame_notes, signal=signal if long else None, rate_hz=rate_hz,
                     length_s=len(signal) / rate_hz, expand=expand)


def _prepare(item: Any, frame: GenConfig, sample_rate_hz: float | None, scale: str, expand: float = 1.0) -> _Prepared:
    """Read one input (a path, a uint8 (H, W) image or a 1-D / 2-D recording array); errors are kept."""
    source = str(item) if isinstance(item, (str, Path)) else f"<array {np.shape(item)}>"
    try:
        if isinstance(item, (str, Path)):
            return _prepare_path(Path(item), frame, sample_rate_hz, scale, expand)
        array = np.asarray(item)
        if array.dtype == np.uint8 and array.ndim == 2 and array.shape == tuple(frame.image_shape):
            return _Prepared(source, [Segment(0.0, array)], [])
        if array.dtype.kind not in "iuf":
            raise InputError(f"{source} holds {array.dtype} values; give a recording or a uint8 spectrogram image")
        signal, notes = to_mono(array, source)
        if sample_rate_hz is None:
            raise InputError(f"{source}: a recording array needs its sample rate (sample_rate_hz=...)")
        prepared = _prepare_signal(source, signal, sample_rate_hz, frame, scale, expand)
        prepared.notes[:0] = notes
        return prepared
    except InputError as exc:
        return _Prepared(source, error=str(exc))


# --- from frame predictions to chirps -------------------------------------------------------------


def _read_frame(pred: dict[str, np.ndarray], row: int) -> Chirp | None:
    """The chirp the model found in frame ``row`` of a prediction, in frame time (None if its presence
    probability is below MIN_P_CHIRP)."""
    p = None if "p_chirp" not in pred else float(pred["p_chirp"][row])
    if p is not None and p < MIN_P_CHIRP:
        return None
    extra = {k: float(pred[k][row]) for k in ("confidence", "evidence", "trust") if k in pred}
    flags = {k: bool(pred[k][row]) for k in ("fallback", "ridge") if k in pred}
    return Chirp(KIND_NAMES[int(pred["kind"][row])], **{k: float(pred[k][row]) for k in TARGETS}, p_chirp=p,
                 **extra, **flags)


def _in_input(chirp: Chirp, n: int, segments: list[Segment], frame: GenConfig,
              length_s: float | None = None) -> tuple[Chirp, bool] | None:
    """A chirp found in frame ``n`` of an input's ``segments``, in the input's time, with whether it
    touches an inner frame edge (so may be cut off there) or starts at the latest start the model
    knows with a frame after it (so may start later, where the next frame can say so). Of a
    recording of ``length_s`` seconds, a chirp that lies mostly in the padding past its ends is None."""
    edge = frame.column_s
    lo, hi = frame.signal.t_start_s
    later = n < len(segments) - 1
    cut = (n > 0 and chirp.t_start_s <= lo + edge) or (later and (
        chirp.t_start_s >= hi - edge or chirp.t_end_s >= frame.signal.record_s - edge))
    placed = replace(chirp, t_start_s=chirp.t_start_s + segments[n].offset_s)
    if length_s is not None:
        inside = min(placed.t_end_s, length_s) - max(placed.t_start_s, 0.0)
        if inside < IN_RECORDING * placed.duration_s:
            return None
    return placed, cut


def cover_half_hz(frame: GenConfig) -> float:
    """How far from a chirp's curve :func:`cover_chirp` covers: its window's main lobe (two of its
    frequency resolutions, for a Hann window) and COVER_MARGIN_BINS rows (6 Hz on the default frame)."""
    return 2.0 * frame.signal.sample_rate_hz / frame.stft.window_len + COVER_MARGIN_BINS * frame.bin_hz


def cover_chirp(image: np.ndarray, chirp: Chirp, frame: GenConfig, noise: np.ndarray) -> np.ndarray:
    """``image`` with the pixels of ``chirp`` (in frame time) replaced by those of ``noise`` (an image
    of the frame's noise alone): every column whose window meets the chirp, COVER_MARGIN_COLUMNS more
    on each side, and in each the rows its curve passes through within the window, widened by
    :func:`cover_half_hz` on either side."""
    freqs, times = image_axes(frame)
    half_window = frame.stft.window_len / 2 / frame.signal.sample_rate_hz
    margin = COVER_MARGIN_COLUMNS * frame.column_s
    cols = np.flatnonzero((times + half_window + margin > chirp.t_start_s) & (times - half_window - margin < chirp.t_end_s))
    if not len(cols):
        return image
    edges = times[cols, None] + np.linspace(-half_window, half_window, 5)[None]  # (C, 5) times across each window
    u = np.clip((edges - chirp.t_start_s) / chirp.duration_s, 0.0, 1.0)
    f = frequency_law(chirp.kind, u, chirp.f_start_hz, chirp.f_end_hz)
    half_hz = cover_half_hz(frame)
    inside = (freqs[:, None] >= f.min(1)[None] - half_hz) & (freqs[:, None] <= f.max(1)[None] + half_hz)  # (H, C)
    out = image.copy()
    out[:, cols] = np.where(inside, noise[:, cols], image[:, cols])
    return out


def curve_distance_hz(a: Chirp, b: Chirp, n: int = 16) -> float:
    """The median distance in Hz between two chirps' curves over the time both span (inf if none)."""
    lo, hi = max(a.t_start_s, b.t_start_s), min(a.t_end_s, b.t_end_s)
    if hi <= lo:
        return float("inf")
    t = np.linspace(lo, hi, n)
    f = [frequency_law(c.kind, (t - c.t_start_s) / c.duration_s, c.f_start_hz, c.f_end_hz) for c in (a, b)]
    return float(np.median(np.abs(f[0] - f[1])))


def overlap_s(a: Chirp, b: Chirp) -> float:
    """How long two chirps overlap in time, in seconds (negative: the gap between them)."""
    return min(a.t_end_s, b.t_end_s) - max(a.t_start_s, b.t_start_s)


def same_event(a: Chirp, b: Chirp, same_hz: float) -> bool:
    """Whether two chirps are one seen twice: they overlap by ``DUPLICATE_OVERLAP`` of the shorter
    one's duration, with curves there within ``same_hz`` of each other (:func:`curve_distance_hz`)."""
    return overlap_s(a, b) > DUPLICATE_OVERLAP * min(a.duration_s, b.duration_s) and curve_distance_hz(a, b) <= same_hz


def merge_frames(found: list[tuple[Chirp, bool, int]], same_hz: float = float("inf")) -> tuple[Chirp, ...]:
    """One chirp per event, in time order, from (chirp, cut, look) triples.

    Chirps whole in their frame come first, those of a frame's first look first, then the most
    confident; one that overlaps a chirp already kept by ``DUPLICATE_OVERLAP`` of the shorter one's
    duration, with curves there within ``same_hz`` of each other (:func:`curve_distance_hz`), is the
    same chirp seen again (in an overlapping frame, or what a covered chirp left uncovered); farther
    apart, it is another chirp at the same time. A chirp that touches an inner frame edge runs on
    into the next frame, which holds it whole (frames overlap by the longest chirp, see
    chirploc.recording), and one found at the latest start the model knows may start later, where
    the next frame can say so: such a chirp is kept only where it overlaps no chirp kept before it.
    """
    def score(chirp: Chirp) -> float:
        return chirp.confidence if chirp.confidence is not None else (chirp.p_chirp or 0.0)

    kept: list[Chirp] = []
    for chirp, cut, _ in sorted(found, key=lambda item: (item[1], item[2], -score(item[0]))):
        if not any(overlap_s(chirp, k) > 0.0 if cut else same_event(chirp, k, same_hz) for k in kept):
            kept.append(chirp)
    return tuple(sorted(kept, key=lambda c: c.t_start_s))


def noise_images(frame: GenConfig, n: int) -> np.ndarray:
    """``n`` uint8 images of the frame's noise alone (read-only), the same on every call (drawn from
    PAD_SEED; the first k of them whatever ``n``), made once per frame and ``n``."""
    key = (frame.signal, frame.stft, n)
    if key not in _NOISE_IMAGES:
        rng = np.random.default_rng([PAD_SEED, 1])
        draw = NOISE_FUNCTIONS[frame.signal.noise]
        images = render_image(np.stack([draw(rng, frame.signal.n_samples) for _ in range(n)]), frame)
        images.setflags(write=False)
        _NOISE_IMAGES[key] = images
    return _NOISE_IMAGES[key]


_NOISE_IMAGES: dict[tuple[Any, Any, int], np.ndarray] = {}


@dataclass(eq=False)  # each frame is itself: hashed by identity
class _Frame:
    """A frame being read: what it looks like now (the chirps found in it covered) and those chirps."""

    input: int  # its input's place in the batch
    n: int  # its place among the input's frames
    original: np.ndarray
    image: np.ndarray
    chirps: list[tuple[Chirp, int | None]] = field(default_factory=list)  # (chirp in frame time, its index in found)
    looks: int = 0
    exposed: list[tuple[float, float]] | None = None  # once covered anew: the times no longer covered


def _newly_shown(chirp: Chirp, f: _Frame, frame: GenConfig) -> bool:
    """Whether a chirp found in a frame covered anew lies mostly where a cover no longer lies (the
    rest was read before) and a column or more apart in time from every chirp of the frame (what
    touches or overlaps one of them is mostly a piece of it that its new reading left out)."""
    shown = sum(max(0.0, min(chirp.t_end_s, hi) - max(chirp.t_start_s, lo)) for lo, hi in f.exposed or [])
    apart = all(-overlap_s(chirp, other) >= frame.column_s for other, _ in f.chirps)
    return apart and shown >= DUPLICATE_OVERLAP * chirp.duration_s


def _look(frames: list[_Frame], batch: list[_Prepared], found: list[list[tuple[Chirp, bool, int]]],
          p_max: list[float | None], predictor: Predictor, noise: np.ndarray) -> None:
    """Read ``frames`` as they look now; where a chirp is found, cover it and read that frame again,
    until none is found or a frame has had LOOKS_PER_FRAME looks."""
    frame = predictor.frame
    todo = [f for f in frames if f.looks < LOOKS_PER_FRAME]
    while todo:
        pred = predictor.predict(np.stack([f.image for f in todo]))
        again = []
        for row, f in enumerate(todo):
            first, f.looks = f.looks == 0, f.looks + 1
            if first and "p_chirp" in pred:
                p_max[f.input] = max(p_max[f.input] or 0.0, float(pred["p_chirp"][row]))
            chirp = _read_frame(pred, row)
            if chirp is None or (not first and chirp.evidence is not None and chirp.evidence < LATER_EVIDENCE):
                continue
            if f.exposed is not None and not _newly_shown(chirp, f, frame):
                continue
            placed = _in_input(chirp, f.n, batch[f.input].segments, frame, batch[f.input].length_s)
            slot = None
            if placed is not None:
                slot = len(found[f.input])
                found[f.input].append((*placed, f.looks - 1))
            if "p_chirp" in pred and not chirp.fallback and f.looks < LOOKS_PER_FRAME:  # see the module docstring
                f.image = cover_chirp(f.image, chirp, frame, noise[len(f.chirps)])
                f.chirps.append((chirp, slot))
                again.append(f)
        todo = again


def _read_alone(frames: list[_Frame], batch: list[_Prepared], found: list[list[tuple[Chirp, bool, int]]],
                predictor: Predictor, noise: np.ndarray) -> list[_Frame]:
    """In a frame that gave several chirps, each was first read with the others still there: read
    each again in the frame with all the others covered, and take that reading where it is the same
    chirp (:func:`same_event`); ``found`` is updated in place. Returns the frames where a chirp came
    out shorter than it was covered by room for another chirp (a neighbour had drawn it out, as calls
    repeated at one pitch do), their images covered anew from the new readings, with the times so
    exposed: a chirp there is to be looked for again (and only there: the rest of the frame has been)."""
    frame = predictor.frame
    jobs = [(f, k) for f in frames if len(f.chirps) > 1 for k, (_, slot) in enumerate(f.chirps) if slot is not None]
    if not jobs:
        return []
    alone = []
    for f, k in jobs:
        image = f.original
        for j, (other, _) in enumerate(f.chirps):
            if j != k:
                image = cover_chirp(image, other, frame, noise[j])
        alone.append(image)
    pred = predictor.predict(np.stack(alone))
    shrunk = []
    for row, (f, k) in enumerate(jobs):
        first, slot = f.chirps[k]
        chirp = _read_frame(pred, row)
        if chirp is None or chirp.fallback or not same_event(chirp, first, cover_half_hz(frame)):
            continue
        placed = _in_input(chirp, f.n, batch[f.input].segments, frame, batch[f.input].length_s)
        if placed is None:
            continue
        found[f.input][slot] = (*placed, found[f.input][slot][2])
        f.chirps[k] = (chirp, slot)
        room = frame.signal.duration_s[0] + 2 * frame.column_s  # the shortest chirp and a column either side
        spans = [(lo, hi) for lo, hi in ((first.t_start_s, chirp.t_start_s), (chirp.t_end_s, first.t_end_s))
                 if hi - lo >= room]
        if spans:
            f.exposed = (f.exposed or []) + spans
            shrunk.append(f)
    shrunk = list(dict.fromkeys(shrunk))  # each once
    for f in shrunk:
        f.image = f.original
        for j, (chirp, _) in enumerate(f.chirps):
            f.image = cover_chirp(f.image, chirp, frame, noise[j])
    return shrunk


def _describe_batch(batch: list[_Prepared], predictor: Predictor) -> list[Description]:
    """Each frame is read; where the model finds a chirp, the frame is read again with that chirp
    covered by noise (:func:`cover_chirp`), until it finds none or LOOKS_PER_FRAME reads: so a frame
    can give several chirps, each then read alone (:func:`_read_alone`); where one comes out shorter
    than it was covered, the frame is looked at again where that cover no longer lies (a chirp found
    there is read with all the others covered already: it is not read alone again)."""
    frames = [_Frame(b, n, seg.image, seg.image) for b, p in enumerate(batch) for n, seg in enumerate(p.segments)]
    found: list[list[tuple[Chirp, bool, int]]] = [[] for _ in batch]
    p_max: list[float | None] = [None] * len(batch)
    noise = noise_images(predictor.frame, LOOKS_PER_FRAME) if frames else np.zeros(0)
    _look(frames, batch, found, p_max, predictor, noise)
    _look(_read_alone(frames, batch, found, predictor, noise), batch, found, p_max, predictor, noise)
    same_hz = cover_half_hz(predictor.frame)
    return [Description(p.source, error=p.error) if p.error is not None
            else Description(p.source, _unexpand(merge_frames(found[b], same_hz), p.expand), p_max[b], tuple(p.notes))
            for b, p in enumerate(batch)]


def _unexpand(chirps: tuple[Chirp, ...], expand: float) -> tuple[Chirp, ...]:
    """Chirps found in a time-expanded recording, in the recording's own seconds and hertz."""
    if expand == 1.0:
        return chirps
    return tuple(replace(c, t_start_s=c.t_start_s / expand, duration_s=c.duration_s / expand,
                         f_start_hz=c.f_start_hz * expand, f_end_hz=c.f_end_hz * expand) for c in chirps)


# --- the API ----------------------------------------------------------------------------------------


def describe_many(
    inputs: Iterable[Any],
    predictor: Predictor | None = None,
    *,
    model: str | Path | None = None,
    sample_rate_hz: float | None = None,
    scale: str = "noise",
    keep_images: bool = False,
    expand: float = 1.0,
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
        expand: time expansion of recordings: each is read as if recorded ``expand`` times slower
            (at its rate / ``expand``), so that calls far above the model's band and far shorter
            than its chirps (bats, birds) come into them; the chirps are given in the recording's
            own seconds and hertz. Images are read as they are.
    """
    from chirploc.recording import check_expand, check_rate

    check_scale(scale)
    check_expand(expand)
    if sample_rate_hz is not None:
        check_rate(sample_rate_hz)
    if predictor is None:
        from chirploc.inference import load_predictor

        predictor = load_predictor(model)
    if sample_rate_hz is not None:
        check_rate(sample_rate_hz / expand, predictor.frame.signal.sample_rate_hz)
    batch: list[_Prepared] = []
    n_frames = 0

    def flush() -> Iterator[Any]:
        for d, p in zip(_describe_batch(batch, predictor), batch, strict=True):
            yield (d, p) if keep_images else d

    for item in inputs:
        prepared = _prepare(item, predictor.frame, sample_rate_hz, scale, expand)
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
    expand: float = 1.0,
) -> Description:
    """Describe the chirps in one image or recording (a path or an array); see :func:`describe_many`.

    Raises:
        InputError: the input cannot be read (the message names it and the fix).
    """
    (result,) = describe_many([source], predictor, model=model, sample_rate_hz=sample_rate_hz, scale=scale,
                              expand=expand)
    if result.error is not None:
        raise InputError(result.error)
    return result
