"""From a dense head's maps and the image's pixels to the labels: the fit, the pixel refinement, a
second opinion from the ridge tracker where the pixels hardly support the fitted curve, and the
fallback (:func:`decode`).

Notes:
    Evidence of a curve (:func:`curve_evidence`). With P the image's power relative to its noise
    (grey levels back to power, divided by the noise mean, taken as median / ln 2 as for
    exponentially distributed power, minus 1: zero mean where there is only noise), a_m the share
    of column m's window energy (sum w^2) inside [t0, t0 + T] and f_m the curve's frequency at the
    centre of the covered part of the window,

        Z = sum_m a_m sum_{|j| <= 1} P[row(f_m) + j, m] / sqrt(3 sum_m a_m^2),

    a matched statistic: about N(0, 1) for a curve through noise alone, and the larger the more
    chirp energy lies under the curve, whatever its length.

    Second opinion (:func:`second_opinion`). The maps miss some chirps the pixels show plainly:
    short steep ones, whose per-column frequency maps are smeared, and chirps the presence map
    does not find at all. Where the fitted curve's evidence Z is below ``RIDGE_GATE_Z`` (about one
    image in ten of the benchmark frame, from -10 to 10 dB), the ridge tracker (:mod:`chirploc.ridge`)
    also reads the image, and its answer replaces the fit's when its curve has more evidence. The
    output says which answered (``ridge``) and with what evidence (``evidence``).
"""

from __future__ import annotations

import functools

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law
from chirpgen.spectrogram import grey_to_db
from chirploc.fit import RIDGE_GATE_Z, FitPriors, apply_fallback, fit_maps, refine_on_pixels
from chirploc.grid import DenseGrid

EVIDENCE_HALF_ROWS = 1  # rows either side of the curve summed in each column


_GRIDS: dict[str, object] = {}  # the ridge tracker's ImageGrid of each frame, by the frame's repr


def _image_grid(frame: GenConfig):
    from chirploc.ridge import ImageGrid  # scipy.signal: imported only when an image needs it

    key = repr(frame)
    if key not in _GRIDS:
        _GRIDS[key] = ImageGrid(frame)
    return _GRIDS[key]


@functools.lru_cache(maxsize=4)
def _power_table(db_range: tuple[float, float]) -> np.ndarray:
    """Linear power of each of the 256 grey levels."""
    return 10.0 ** (grey_to_db(np.arange(256), db_range) / 10.0)


def curve_evidence(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig) -> np.ndarray:
    """(B,) evidence Z (module Notes) of each image's curve: ``pred``'s kind, edges and frequencies."""
    n = len(images)
    if n == 0:
        return np.zeros(0)
    h, n_columns = frame.image_shape
    table = _power_table(tuple(frame.stft.db_range))
    median_grey = np.median(images.reshape(n, -1), axis=1).astype(np.intp)
    noise = table[median_grey] / np.log(2)  # (B,)
    t0 = np.asarray(pred["t_start_s"], dtype=np.float64)
    dur = np.maximum(np.asarray(pred["duration_s"], dtype=np.float64), 1e-6)
    share, centre = _image_grid(frame).coverage(t0, t0 + dur, energy=True)  # (B, W) each
    u = np.clip((centre - t0[:, None]) / dur[:, None], 0.0, 1.0)
    f = np.zeros_like(u)
    for k, kind in enumerate(KIND_NAMES):
        rows = np.flatnonzero(pred["kind"] == k)
        f[rows] = frequency_law(kind, u[rows], pred["f_start_hz"][rows, None], pred["f_end_hz"][rows, None])
    row = np.rint((h - 1) - f / frame.bin_hz).astype(np.intp)  # (B, W)
    cols = np.arange(n_columns)[None, :]
    under = np.zeros_like(u)
    for j in range(-EVIDENCE_HALF_ROWS, EVIDENCE_HALF_ROWS + 1):
        grey = images[np.arange(n)[:, None], np.clip(row + j, 0, h - 1), cols]
        under += table[grey]
    under = under / noise[:, None] - (2 * EVIDENCE_HALF_ROWS + 1)
    norm = np.sqrt(np.maximum((2 * EVIDENCE_HALF_ROWS + 1) * (share**2).sum(1), 1e-12))
    return (share * under).sum(1) / norm


def second_opinion(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig,
                   gate_z: float = RIDGE_GATE_Z) -> dict[str, np.ndarray]:
    """``pred`` with the ridge tracker's answer where the fitted curve's evidence is below ``gate_z``
    and the ridge's curve has more; adds ``evidence`` (float64 (B,)) and ``ridge`` (bool (B,))."""
    from chirploc.ridge import ridge_core

    evidence = curve_evidence(images, pred, frame)
    ridge = np.zeros(len(images), dtype=bool)
    out = {**pred}
    asked = np.flatnonzero(evidence < gate_z)
    if len(asked):
        grid = _image_grid(frame)
        answers = [ridge_core(images[i], grid).estimate for i in asked]
        other = {k: np.array([getattr(a, k) for a in answers]) for k in answers[0]._fields}
        other["kind"] = other["kind"].astype(np.int64)
        lo, hi = frame.signal.freq_hz
        for key in ("f_start_hz", "f_end_hz"):
            other[key] = np.clip(other[key], lo, hi)
        other["t_start_s"] = np.clip(other["t_start_s"], *frame.signal.t_start_s)
        other["duration_s"] = np.clip(other["duration_s"], *frame.signal.duration_s)
        their = curve_evidence(images[asked], other, frame)
        better = their > evidence[asked]
        taken = asked[better]
        for key, values in other.items():
            out[key] = np.asarray(out[key]).copy()
            out[key][taken] = values[better]
        evidence = evidence.copy()
        evidence[taken] = their[better]
        ridge[taken] = True
    out["evidence"] = evidence
    out["ridge"] = ridge
    return out


def decode(maps: dict[str, np.ndarray], images: np.ndarray | None, grid: DenseGrid, priors: FitPriors,
           frame: GenConfig) -> dict[str, np.ndarray]:
    """Labels from a batch's dense maps (float32 numpy) and, when given, its uint8 images: the fit
    (:func:`chirploc.fit.fit_maps`), then on the pixels the refinement and kind choice
    (:func:`chirploc.fit.refine_on_pixels`) and the second opinion, then the fallback."""
    pred = fit_maps(maps, grid, priors)
    if images is not None:
        pred = refine_on_pixels(images, pred, frame, priors.kind_pixel_weight)
        pred = second_opinion(images, pred, frame, priors.ridge_gate_z)
    return apply_fallback(pred, priors)
