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
    does not find at all. Where the fitted curve's evidence Z is below ``ridge_gate_z`` (30), or
    below ``ridge_gate_share`` (0.8) of the evidence of the best path under the same edges (in each
    column the three rows with the most power: a bound on any curve's Z, so a fit that runs beside
    part of a plain chirp falls below it), or where the fitted chirp is shorter than
    ``ridge_gate_columns`` image columns (8.5, 4 s on the benchmark frame: its few columns are
    smeared by the sweep within the window, and the maps' edges and law are least sure there), the
    ridge tracker (:mod:`chirploc.ridge`) also reads the image, and its answer replaces the fit's
    when its curve has more evidence. On the benchmark frame from -10 to 10 dB about one image in
    four is asked, one in five or six answered by the ridge (benchmarks/README.md, decode steps).
    The output says which answered (``ridge``) and with what evidence (``evidence``).

    Fallback (:func:`chirploc.fit.apply_fallback`). A curve whose evidence stays weak (Z near what
    the search finds in noise alone) is hardly the chirp: its start time and frequencies are then
    answered mostly from the middle of the frame's ranges (``model.fallback_evidence``), flagged by
    ``trust``, the weight of the fit.
"""

from __future__ import annotations

import functools

import numpy as np

from chirpgen.config import GenConfig, StftConfig
from chirpgen.spectrogram import grey_power_table, stft_window
from chirploc.fit import (
    RIDGE_GATE_COLUMNS,
    RIDGE_GATE_SHARE,
    RIDGE_GATE_Z,
    FitPriors,
    apply_fallback,
    fit_maps,
    law_curves,
    refine_on_pixels,
)
from chirploc.grid import DenseGrid

EVIDENCE_HALF_ROWS = 1  # rows either side of the curve summed in each column


_GRIDS: dict[str, object] = {}  # the ridge tracker's ImageGrid of each frame, by the frame's repr


def _image_grid(frame: GenConfig):
    from chirploc.ridge import ImageGrid  # scipy.signal: imported only when an image needs the ridge

    key = repr(frame)
    if key not in _GRIDS:
        _GRIDS[key] = ImageGrid(frame)
    return _GRIDS[key]


@functools.lru_cache(maxsize=8)
def _cumulative_energy(stft: StftConfig) -> np.ndarray:
    """Cumulative sum of w^2 (window_len + 1,), from 0, of the frame's window; a Hann window without
    scipy (a one-image describe then never imports scipy.signal)."""
    length = stft.window_len
    if stft.window == "hann":
        w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)  # periodic, as scipy's get_window
    else:
        w = stft_window(stft).astype(np.float64)
    return np.concatenate([[0.0], np.cumsum(w**2)])


def _coverage(frame: GenConfig, t0: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image and column (B, W): the share of the window's energy inside [t0, t1], and the centre
    time of the covered part of the window."""
    rate, length, hop = frame.signal.sample_rate_hz, frame.stft.window_len, frame.stft.hop
    cum = _cumulative_energy(frame.stft)
    first = (np.arange(frame.image_shape[1]) * hop + hop // 2 - length // 2)[None, :]  # first sample of each window
    a = np.clip(t0[:, None] * rate - first, 0, length)
    b = np.clip(t1[:, None] * rate - first + 1, 0, length)
    pos = np.arange(length + 1, dtype=np.float64)
    share = (np.interp(b, pos, cum) - np.interp(a, pos, cum)) / cum[-1]
    return share, (first + 0.5 * (a + b - 1)) / rate


def _relative_power(images: np.ndarray, frame: GenConfig) -> np.ndarray:
    """(B, H, W) float32 power relative to each image's noise, minus 1 (module Notes)."""
    table = grey_power_table(tuple(frame.stft.db_range)).astype(np.float32)
    median = np.median(images[:, ::2, ::2].reshape(len(images), -1), axis=1)  # every fourth pixel is plenty
    noise = table[median.astype(np.intp)] / np.float32(np.log(2))
    power = table[images]
    power /= noise[:, None, None]
    power -= 1
    return power


def _matched(share: np.ndarray, under: np.ndarray) -> np.ndarray:
    """Z of per-column sums ``under`` (B, W) over 2 EVIDENCE_HALF_ROWS + 1 rows, weighted by ``share``."""
    norm = np.sqrt(np.maximum((2 * EVIDENCE_HALF_ROWS + 1) * (share**2).sum(1), 1e-12))
    return (share * under).sum(1) / norm


def curve_evidence(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig,
                   power: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B,) evidence Z (module Notes) of each image's curve (``pred``'s kind, edges and frequencies), and
    (B,) the evidence of the best path under the same edges: in each column the rows where the
    sum is largest (an upper bound on any curve's Z). ``power``: the images' :func:`_relative_power`."""
    n = len(images)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    power = _relative_power(images, frame) if power is None else power
    h, n_columns = frame.image_shape
    t0 = np.asarray(pred["t_start_s"], dtype=np.float64)
    dur = np.maximum(np.asarray(pred["duration_s"], dtype=np.float64), 1e-6)
    share, centre = _coverage(frame, t0, t0 + dur)  # (B, W) each
    u = np.clip((centre - t0[:, None]) / dur[:, None], 0.0, 1.0)
    row = np.rint((h - 1) - law_curves(pred, u) / frame.bin_hz).astype(np.intp)  # (B, W)
    cols = np.arange(n_columns)[None, :]
    width = 2 * EVIDENCE_HALF_ROWS + 1
    sums = power[:, : h - width + 1].copy()  # (B, H - width + 1, W): sums over ``width`` rows from each
    for j in range(1, width):
        sums += power[:, j : h - width + 1 + j]
    top = np.clip(row - EVIDENCE_HALF_ROWS, 0, h - width)  # first of the curve's rows
    under = sums[np.arange(n)[:, None], top, cols]
    lo, hi = frame.signal.freq_hz  # the band's rows: row r holds (h - 1 - r) bin_hz
    first = int(np.clip(np.floor((h - 1) - hi / frame.bin_hz) - EVIDENCE_HALF_ROWS, 0, h - width))
    last = int(np.clip(np.ceil((h - 1) - lo / frame.bin_hz) - EVIDENCE_HALF_ROWS, first, h - width))
    best = sums[:, first : last + 1].max(1)  # (B, W)
    return _matched(share, under), _matched(share, best)


def second_opinion(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig,
                   gate_z: float = RIDGE_GATE_Z, gate_share: float = RIDGE_GATE_SHARE,
                   gate_columns: float = RIDGE_GATE_COLUMNS) -> dict[str, np.ndarray]:
    """``pred`` with the ridge tracker's answer where the fitted curve's evidence is below ``gate_z``
    or below ``gate_share`` times the best path's, or its duration below ``gate_columns`` image columns, and the
    ridge's curve has more evidence; adds ``evidence`` (float64 (B,)) and ``ridge`` (bool (B,))."""
    power = _relative_power(images, frame)
    evidence, bound = curve_evidence(images, pred, frame, power)
    ridge = np.zeros(len(images), dtype=bool)
    out = {**pred}
    asked = np.flatnonzero((evidence < gate_z) | ((gate_share > 0) & (evidence < gate_share * bound))
                           | (np.asarray(pred["duration_s"]) < gate_columns * frame.column_s))
    if len(asked):
        from chirploc.ridge import ridge_core  # scipy.signal: imported only when an image needs it

        grid = _image_grid(frame)
        answers = [ridge_core(images[i], grid).estimate for i in asked]
        other = {k: np.array([getattr(a, k) for a in answers]) for k in answers[0]._fields}
        other["kind"] = other["kind"].astype(np.int64)
        lo, hi = frame.signal.freq_hz
        for key in ("f_start_hz", "f_end_hz"):
            other[key] = np.clip(other[key], lo, hi)
        other["t_start_s"] = np.clip(other["t_start_s"], *frame.signal.t_start_s)
        other["duration_s"] = np.clip(other["duration_s"], *frame.signal.duration_s)
        their, _ = curve_evidence(images[asked], other, frame, power[asked])
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
        pred = refine_on_pixels(images, pred, frame, priors.kind_pixel_weight, priors.kind_track_weight)
        pred = second_opinion(images, pred, frame, priors.ridge_gate_z, priors.ridge_gate_share,
                              priors.ridge_gate_columns)
    return apply_fallback(pred, priors)
