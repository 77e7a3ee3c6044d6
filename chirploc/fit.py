"""The physical fit: from the dense head's maps (and the image's pixels) to the chirp's labels, kind and confidence.

Notes:
    Onset and offset: of the ``EDGE_CANDIDATES`` most likely bins of each edge distribution, the
    pair (t0, t1) with a duration in the frame's range (give or take a column) that maximises

        log p_on(t0) + log p_off(t1) + sum_m log P(column m present iff t0 <= t_m <= t1)

    (the column presence map settles which peak is the real edge), each refined below one bin by
    the probability-weighted mean of the bins within ``EDGE_HALF_WIDTH`` of it; the start is kept
    inside the frame's start range and the duration inside its duration range.

    Curve: for the columns m whose centre t_m lies between onset and offset, with u_m = (t_m - t0) / T
    and log p_m(f) the column's frequency log-probability (linear between bins), each kind k's
    law f_k(u; f0, f1) (chirpgen.signal.frequency_law) is scored by

        S_k(f0, f1) = sum_m log p_m(f_k(u_m; f0, f1))

    and maximised over (f0, f1) by a grid search over the frame's band (pairs with
    |f1 - f0| <= max_sweep_hz), refined twice on finer grids around the best pair. Without the
    images, the kind is the law with the largest S_k (a likelihood ratio); f_start = f0 and
    f_end = f1 of its best pair. The confidence is the mean per-column log-probability of the
    chosen curve.

    Pixels: given the images, each law's (f0, f1) then moves (at most 0.625 rows each) to the curve
    of that law and the edges whose mean pixel value X_k = mean_m x_m(f_k(u_m; f0, f1)) (a parabola
    between rows, in grey levels) is largest (:func:`refine_on_pixels`), and the kind is the law
    with the largest S_k / M + w X_k (M the columns; w is model.kind_pixel_weight, chosen on a val split): the maps place the curve
    robustly, the pixels finely, and the pixels tell the laws apart better than the maps do
    (benchmarks/README.md has what each gains). With model.kind_track_weight v > 0, the kind is then
    chosen again by S_k / M + w X_k + v L_k, L_k the law's likelihood given the peak track read
    around the first choice's curve (:mod:`chirploc.track`).
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law
from chirploc.grid import DenseGrid

EDGE_HALF_WIDTH = 2  # sub-column bins either side of an edge's peak in its weighted mean
EDGE_CANDIDATES = 8  # most likely bins of each edge map tried as onset/offset pairs
# Grid steps in image rows (the frame's bin_hz; 1 Hz on the default frame), so that every frame is searched alike.
COARSE_STEP_BINS = 2.0  # first grid over the band, scored on log-probabilities max-pooled over +-1 row
REFINE_BINS = ((1.25, 0.125), (0.125, 1 / 32))  # (half width, step) of the two finer grids
CHUNK = 16  # images per curve search step (bounds memory: CHUNK x candidates x columns)
EDGE_CHUNK = 256  # images per edge decoding step
FIT_THREADS = min(4, os.cpu_count() or 1)
RIDGE_GATE_Z = 30.0  # evidence below which the ridge tracker gives a second opinion (chirploc.decode)
RIDGE_GATE_SHARE = 0.8  # ... or share of the best path's evidence below which it does
RIDGE_GATE_COLUMNS = 8.5  # ... or fitted duration, in image columns, below which it does (short chirps: few, smeared columns)
FALLBACK_EVIDENCE_OFF = -1e9  # model.fallback_evidence that never pulls an answer to the middle
CALIBRATED = ("fallback_p_chirp", "presence_logit_offset", "kind_pixel_weight", "ridge_gate_z",
              "ridge_gate_share", "ridge_gate_columns", "fallback_evidence", "kind_track_weight")  # decode settings a model config may carry
PULLED = ("t_start_s", "f_start_hz", "f_end_hz")  # labels a weak curve's answer pulls towards the middle
LAW_KEYS = ("law_f_hz", "law_score")  # each law's (f0, f1) (B, K, 2) and S_k / M (B, K): the fit's, for the pixels


@dataclass(frozen=True)
class FitPriors:
    """What the frame says about the labels: ranges the fit keeps its answers inside, and the
    presence probability below which it answers their middle instead (``fallback_p_chirp``)."""

    t_start_s: tuple[float, float]
    duration_s: tuple[float, float]
    freq_hz: tuple[float, float]
    max_sweep_hz: float
    fallback_p_chirp: float = 0.0
    presence_logit_offset: float = 0.0  # p_chirp = sigmoid(logit - offset), calibrated on noise-only images
    kind_pixel_weight: float = 1.0  # w of the kind choice (module Notes)
    ridge_gate_z: float = RIDGE_GATE_Z  # when the ridge tracker is asked (chirploc.decode)
    ridge_gate_share: float = RIDGE_GATE_SHARE
    bin_hz: float = 1.0  # the frame's row spacing: the unit of the search grids
    fallback_evidence: float = FALLBACK_EVIDENCE_OFF  # Z where a curve's answer is half fit, half middle
    kind_track_weight: float = 0.0  # weight of the peak track's law likelihoods in the kind choice (chirploc.track)
    ridge_gate_columns: float = RIDGE_GATE_COLUMNS

    @classmethod
    def from_frame(cls, frame: GenConfig, **calibrated: float) -> FitPriors:
        """The priors of a frame, with any of the ``CALIBRATED`` settings given by name (else their defaults)."""
        sig = frame.signal
        return cls(tuple(sig.t_start_s), tuple(sig.duration_s), tuple(sig.freq_hz), float(sig.max_sweep_hz),
                   bin_hz=float(frame.bin_hz), **calibrated)

    @classmethod
    def from_model(cls, frame: GenConfig, model: dict[str, Any]) -> FitPriors:
        """The priors of a frame with the calibrated values of a model config (section ``model``)."""
        return cls.from_frame(frame, **{k: float(model[k]) for k in CALIBRATED if k in model})

    def middle(self) -> dict[str, float]:
        """The middle of each label range: the answer with the least expected squared error when the
        image says nothing about the chirp."""
        f_mid = sum(self.freq_hz) / 2
        return {"t_start_s": sum(self.t_start_s) / 2, "duration_s": sum(self.duration_s) / 2,
                "f_start_hz": f_mid, "f_end_hz": f_mid}


def apply_fallback(pred: dict[str, np.ndarray], priors: FitPriors) -> dict[str, np.ndarray]:
    """``pred`` with the labels of unsure images (0.5 <= p_chirp < priors.fallback_p_chirp) replaced by
    the middle of the frame's ranges, flagged in a boolean ``fallback`` array; and, when ``pred`` has the
    curves' ``evidence`` Z (chirploc.decode), the start time and frequencies (``PULLED``) of weak curves
    pulled towards the middle: each answer is ``trust`` x fit + (1 - trust) x middle with

        trust = 1 / (1 + exp(fallback_evidence - Z)),

    the weight that, on a val split, brings the least squared error (benchmarks/calibrate.py): a curve
    with Z a few units above what the search finds in noise alone is nearly always the chirp, one
    below it nearly never. The duration keeps the fit's (the presence map's length is nearer the
    truth than the middle even there). ``trust`` (float64 (B,)) is added with the evidence."""
    unsure = (pred["p_chirp"] >= 0.5) & (pred["p_chirp"] < priors.fallback_p_chirp)
    out = {k: v for k, v in pred.items() if k not in LAW_KEYS}
    middle = priors.middle()
    if "evidence" in pred:
        trust = np.where(unsure, 1.0, _sigmoid(np.asarray(pred["evidence"], np.float64) - priors.fallback_evidence))
        for k in PULLED:
            out[k] = trust * pred[k] + (1.0 - trust) * middle[k]
        out["trust"] = trust
    for k, value in middle.items():
        out[k] = np.where(unsure, value, out[k])
    out["fallback"] = unsure
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@functools.lru_cache(maxsize=8)
def band_pairs(priors: FitPriors, step_hz: float) -> np.ndarray:
    """(C, 2) grid of (f0, f1) pairs over the band with |f1 - f0| <= max_sweep_hz (built once per priors)."""
    lo, hi = priors.freq_hz
    f = np.arange(lo, hi + 1e-9, step_hz, dtype=np.float32)
    f0, f1 = np.meshgrid(f, f, indexing="ij")
    keep = np.abs(f1 - f0) <= priors.max_sweep_hz + 1e-6
    pairs = np.stack([f0[keep], f1[keep]], axis=1)
    pairs.flags.writeable = False  # shared by every call
    return pairs


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _topk(x: np.ndarray, k: int) -> np.ndarray:
    """Indices (B, k) of the k largest values of each row of ``x`` (B, T), largest first."""
    idx = np.argpartition(-x, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(x, idx, 1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1)


def _refine_edge(prob: np.ndarray, peak: np.ndarray, subbin_s: float) -> np.ndarray:
    """(B,) times of edge bins ``peak`` of the (B, T) distributions ``prob``, by a local weighted mean."""
    offsets = np.arange(-EDGE_HALF_WIDTH, EDGE_HALF_WIDTH + 1)
    idx = np.clip(peak[:, None] + offsets[None, :], 0, prob.shape[1] - 1)  # (B, 5)
    w = np.take_along_axis(prob, idx, 1)
    pos = (w * idx).sum(1) / np.maximum(w.sum(1), 1e-12)
    return (pos + 0.5) * subbin_s


def _edges(out: dict[str, np.ndarray], grid: DenseGrid, priors: FitPriors) -> tuple[np.ndarray, np.ndarray]:
    """Onset and duration (B,): the pair of edge candidates that the edge maps and the column
    presence map together find most likely (see the module Notes), each refined below one bin."""
    p_on = np.exp(_log_softmax(out["onset"]))  # (B, T)
    p_off = np.exp(_log_softmax(out["offset"]))
    on, off = _topk(p_on, EDGE_CANDIDATES), _topk(p_off, EDGE_CANDIDATES)  # (B, K)
    t0 = (on + 0.5) * grid.subbin_s  # (B, K)
    t1 = (off + 0.5) * grid.subbin_s
    t_m = grid.column_times_s  # (W,)
    inside = (t_m >= t0[:, :, None, None]) & (t_m <= t1[:, None, :, None])  # (B, K, K, W)
    pres = out["presence"][:, None, None, :]
    score = np.where(inside, _log_sigmoid(pres), _log_sigmoid(-pres)).sum(-1)  # (B, K, K)
    with np.errstate(divide="ignore"):
        score = score + np.log(np.take_along_axis(p_on, on, 1))[:, :, None]
        score = score + np.log(np.take_along_axis(p_off, off, 1))[:, None, :]
    dur = t1[:, None, :] - t0[:, :, None]
    lo, hi = priors.duration_s
    score = np.where((dur < lo - grid.column_s) | (dur > hi + grid.column_s), -np.inf, score)
    best = score.reshape(len(score), -1).argmax(1)  # (B,); an all -inf row falls back to the two top peaks
    i, j = best // EDGE_CANDIDATES, best % EDGE_CANDIDATES
    rows = np.arange(len(best))
    start = np.clip(_refine_edge(p_on, on[rows, i], grid.subbin_s), *priors.t_start_s)
    end = _refine_edge(p_off, off[rows, j], grid.subbin_s)
    return start, np.clip(end - start, *priors.duration_s)


def _parabolas(logp: np.ndarray) -> np.ndarray:
    """(3, B, M, F) coefficients (a, b, c) of the parabola a + b d + c d^2 through bins k - 1, k, k + 1
    of each column's log p, at every bin k (the band's first and last bins repeat their neighbours')."""
    left, mid, right = logp[..., :-2], logp[..., 1:-1], logp[..., 2:]
    coef = np.stack([mid, 0.5 * (right - left), 0.5 * (right - 2 * mid + left)], 0)  # (3, B, M, F - 2)
    return np.concatenate([coef[..., :1], coef, coef[..., -1:]], -1)


def _curve_scores(
    table: np.ndarray, u: np.ndarray, w: np.ndarray, kind: str, pairs: np.ndarray, df: float
) -> np.ndarray:
    """S_k of candidate pairs. u and w (B, M), pairs (B or 1, C, 2) -> (B, C).

    ``table`` is either log p (B, M, F), read at the nearest bin k, or its parabolas (3, B, M, F)
    (:func:`_parabolas`), read at the curve's offset d from bin k (exact for a Gaussian, whose log
    is a parabola; a straight line between two bins would put every maximum on a bin centre).
    """
    b, m, n_bins = table.shape[-3:]
    f = frequency_law(kind, u[:, None, :], pairs[..., 0:1], pairs[..., 1:2])  # (B, C, M)
    pos = f * np.float32(1 / df)
    np.clip(pos, 0, n_bins - 1, out=pos)
    k = np.rint(pos)
    idx = k.astype(np.int32)  # index of (image, column, bin k) in the table's rows
    idx += (np.arange(b, dtype=np.int32)[:, None, None] * m + np.arange(m, dtype=np.int32)[None, None, :]) * n_bins
    if table.ndim == 3:
        values = np.take(table.reshape(-1), idx)
    else:  # a + d (b + d c), in place
        d = pos - k
        values = np.take(table[2].reshape(-1), idx)
        values *= d
        values += np.take(table[1].reshape(-1), idx)
        values *= d
        values += np.take(table[0].reshape(-1), idx)
    return np.einsum("bcm,bm->bc", values, w)


@functools.cache
def _offsets(half_hz: float, step_hz: float) -> np.ndarray:
    """(C', 2) offsets (d0, d1) of a square grid of half width ``half_hz`` and step ``step_hz``."""
    d = np.arange(-half_hz, half_hz + 1e-9, step_hz, dtype=np.float32)
    d0, d1 = np.meshgrid(d, d, indexing="ij")
    return np.stack([d0.reshape(-1), d1.reshape(-1)], 1)


def _pooled(logp: np.ndarray, df: float, step_hz: float) -> np.ndarray:
    """log p max-pooled over +-step_hz / 2 (the coarse grid's step), so that no curve falls between its points."""
    half = int(round(0.5 * step_hz / df))
    padded = np.pad(logp, ((0, 0), (0, 0), (half, half)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=-1).max(-1)


def _search(parabolas: np.ndarray, pooled: np.ndarray, u: np.ndarray, w: np.ndarray, kind: str,
            priors: FitPriors, df: float) -> tuple[np.ndarray, np.ndarray]:
    """Best (f0, f1) (B, 2) and score (B,) of one law: the coarse grid on ``pooled``, then the finer ones."""
    coarse = band_pairs(priors, COARSE_STEP_BINS * priors.bin_hz)
    scores = _curve_scores(pooled, u, w, kind, coarse[None], df)
    best = coarse[scores.argmax(1)]  # (B, 2)
    lo, hi = priors.freq_hz
    for half, step in REFINE_BINS:
        pairs = np.clip(best[:, None, :] + _offsets(half * priors.bin_hz, step * priors.bin_hz)[None], lo, hi)
        scores = _curve_scores(parabolas, u, w, kind, pairs, df)
        best = pairs[np.arange(len(best)), scores.argmax(1)]
    return best, scores.max(1)


def fit_maps(out: dict[str, np.ndarray], grid: DenseGrid, priors: FitPriors) -> dict[str, np.ndarray]:
    """Labels from the dense maps of a batch (float32 numpy arrays, see the module Notes).

    The curve search runs on chunks of ``CHUNK`` images of similar duration (so that a chunk reads
    only as many columns as its longest chirp covers), on up to ``FIT_THREADS`` threads.

    Returns:
        ``t_start_s, f_start_hz, f_end_hz, duration_s`` float64 (B,), ``kind`` int64 (B,),
        ``p_chirp`` (the image-level presence probability) and ``confidence`` float64 (B,); and
        ``LAW_KEYS``, each law's best pair and score, which :func:`refine_on_pixels` reads and
        :func:`apply_fallback` drops.
    """
    out = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    n = len(out["any_chirp"])
    edges = [_edges({k: v[i : i + EDGE_CHUNK] for k, v in out.items()}, grid, priors) for i in range(0, n, EDGE_CHUNK)]
    t0 = np.concatenate([e[0] for e in edges] or [np.zeros(0)]).astype(np.float32)
    dur = np.concatenate([e[1] for e in edges] or [np.zeros(0)]).astype(np.float32)
    order = np.argsort(dur, kind="stable")
    chunks = [order[i : i + CHUNK] for i in range(0, n, CHUNK)]

    def fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _fit_curves(out["freq"][rows], t0[rows], dur[rows], grid, priors)

    with ThreadPoolExecutor(max_workers=FIT_THREADS) as pool:  # numpy releases the GIL in its loops
        parts = list(pool.map(fit, chunks))
    law_f = np.zeros((n, len(KIND_NAMES), 2))
    law_score = np.zeros((n, len(KIND_NAMES)))
    for rows, (pairs, scores) in zip(chunks, parts, strict=True):
        law_f[rows], law_score[rows] = pairs, scores
    kind = law_score.argmax(1)
    best = law_f[np.arange(n), kind]
    any_chirp = out["any_chirp"].astype(np.float64) - priors.presence_logit_offset
    return {
        "t_start_s": t0.astype(np.float64),
        "f_start_hz": best[:, 0],
        "f_end_hz": best[:, 1],
        "duration_s": dur.astype(np.float64),
        "kind": kind.astype(np.int64),
        "p_chirp": 1.0 / (1.0 + np.exp(-any_chirp)),
        "confidence": law_score.max(1),
        "law_f_hz": law_f,
        "law_score": law_score,
    }


def _fit_curves(
    freq: np.ndarray, t0: np.ndarray, dur: np.ndarray, grid: DenseGrid, priors: FitPriors
) -> tuple[np.ndarray, np.ndarray]:
    """Each law's best (f0, f1) (B, K, 2) and its mean per-column log-probability S_k / M (B, K),
    under each image's edges (B,), from the frequency logits ``freq`` (B, W, F)."""
    # the columns whose centre lies in [t0, t0 + dur]: at most n_max of them from the first
    dt = grid.column_s
    first = np.clip(np.ceil(t0 / dt - 0.5).astype(np.int64), 0, grid.n_columns - 1)  # (B,)
    n_max = min(int(math.ceil(float(dur.max()) / dt)) + 1, grid.n_columns)
    cols = np.minimum(first[:, None] + np.arange(n_max)[None], grid.n_columns - 1)  # (B, M)
    t_m = ((cols + 0.5) * dt).astype(np.float32)
    u = (t_m - t0[:, None]) / dur[:, None]
    w = ((u >= 0) & (u <= 1)).astype(np.float32)
    w[:, 0] = 1.0  # at least one column
    logp = np.take_along_axis(_log_softmax(freq), cols[..., None], 1)  # (B, M, F)
    pooled = _pooled(logp, grid.freq_step_hz, COARSE_STEP_BINS * priors.bin_hz)  # the same for every law
    parabolas = _parabolas(logp)
    fits = [_search(parabolas, pooled, np.clip(u, 0, 1), w, kind, priors, grid.freq_step_hz) for kind in KIND_NAMES]
    scores = np.stack([s for _, s in fits], 1) / w.sum(1, keepdims=True)  # (B, K)
    return np.stack([p for p, _ in fits], 1).astype(np.float64), scores.astype(np.float64)


PIXEL_STAGES_BINS = ((0.5, 0.125), (0.125, 1 / 32))  # (half width, step) in rows of the pixel refinement's grids
PIXEL_CHUNK = 32


def refine_on_pixels(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig,
                     kind_pixel_weight: float = 1.0, kind_track_weight: float = 0.0) -> dict[str, np.ndarray]:
    """``pred`` with f_start and f_end moved, each by at most 0.625 rows (bin_hz), to the curve along which the
    image itself is brightest, and, when ``pred`` holds every law's fit (``LAW_KEYS``), the kind
    chosen by maps and pixels together (see the module Notes); else the kind stays.

    The maps place the curve robustly but coarsely (their bins are learned); the pixels, which peak
    on the chirp's instantaneous frequency in every column (a Hann window's main lobe is symmetric),
    place it finely once it is known to be near. The search runs on the grids ``PIXEL_STAGES_BINS``
    around the fit's (f0, f1), reading pixel values between rows from the parabola through the
    nearest three (row r holds the frequency (H - 1 - r) * bin_hz; a straight line between rows
    would pull the curve onto row centres), over the columns whose window the chirp fills.

    Args:
        images: uint8 (B, H, W) spectrograms of ``frame``.
        pred: the fit's labels (:func:`fit_maps`), (B,) each.
        frame: the images' frame.
        kind_pixel_weight: w of the kind choice.
        kind_track_weight: v of the kind choice: with v > 0, the kind is chosen again with the peak
            track's law likelihoods read around the curve of the first choice (:mod:`chirploc.track`).
    """
    law_f, brightness = refine_laws(images, pred, frame)
    chosen = choose_law(pred, law_f, brightness, kind_pixel_weight)
    if kind_track_weight > 0 and "law_f_hz" in pred:
        from chirploc.track import track_likelihoods

        track = track_likelihoods(images, chosen, frame)
        chosen = choose_law(pred, law_f, brightness, kind_pixel_weight, track, kind_track_weight)
    return chosen


def refine_laws(images: np.ndarray, pred: dict[str, np.ndarray], frame: GenConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each law's (f0, f1) of ``pred`` moved to its brightest nearby curve (B, K, 2), and that curve's
    mean pixel value X_k (B, K); with K = 1, the law of ``pred['kind']``, when ``pred`` lacks ``LAW_KEYS``."""
    n = len(images)
    every_law = "law_f_hz" in pred
    law_f = pred["law_f_hz"].copy() if every_law else np.stack([pred["f_start_hz"], pred["f_end_hz"]], 1)[:, None]
    brightness = np.zeros(law_f.shape[:2])
    n_max = int(math.ceil(frame.signal.duration_s[1] / frame.column_s)) + 2
    groups = ([(k, kind, np.arange(n)) for k, kind in enumerate(KIND_NAMES)] if every_law else
              [(0, kind, np.flatnonzero(pred["kind"] == k)) for k, kind in enumerate(KIND_NAMES)])
    chunks = [(law, kind, rows[i : i + PIXEL_CHUNK]) for law, kind, rows in groups for i in range(0, len(rows), PIXEL_CHUNK)]

    def refine(chunk: tuple[int, str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        law, kind, idx = chunk
        return _brightest_curve(images[idx], pred["t_start_s"][idx], pred["duration_s"][idx], law_f[idx, law],
                                kind, frame, n_max)

    with ThreadPoolExecutor(max_workers=FIT_THREADS) as pool:  # numpy releases the GIL in its loops
        results = list(pool.map(refine, chunks))
    for (law, _, idx), (best, value) in zip(chunks, results, strict=True):
        law_f[idx, law], brightness[idx, law] = best, value
    return law_f, brightness


def choose_law(pred: dict[str, np.ndarray], law_f: np.ndarray, brightness: np.ndarray,
               kind_pixel_weight: float, track: np.ndarray | None = None,
               kind_track_weight: float = 0.0) -> dict[str, np.ndarray]:
    """``pred`` with the kind, f_start and f_end of the law with the largest S_k / M + w X_k (+ v L_k
    with the track's likelihoods L (B, K), :mod:`chirploc.track`; the module Notes), from
    :func:`refine_laws`; with one law (no ``LAW_KEYS``), that law's."""
    every_law = "law_f_hz" in pred
    score = pred["law_score"] + kind_pixel_weight * brightness if every_law else None
    if every_law and track is not None:
        score = score + kind_track_weight * track
    kind = score.argmax(1) if every_law else pred["kind"]
    chosen = law_f[np.arange(len(law_f)), kind if every_law else 0]
    return {**pred, "f_start_hz": chosen[:, 0], "f_end_hz": chosen[:, 1], "kind": kind}


def filled_columns(t0: np.ndarray, dur: np.ndarray, frame: GenConfig,
                   n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n_max`` image columns from the first whose centre is at or after each onset t0 (B,):
    their indices and centre times (B, M), and whether the chirp [t0, t0 + dur] fills their whole
    window (B, M) (no edge leakage: the pixels there show the curve alone)."""
    n_columns = frame.image_shape[1]
    hop, rate = frame.stft.hop, frame.signal.sample_rate_hz
    first = np.clip(np.ceil((t0 * rate - hop // 2) / hop).astype(np.intp), 0, n_columns - 1)  # (B,)
    cols = np.minimum(first[:, None] + np.arange(n_max)[None], n_columns - 1)  # (B, M)
    t_m = (cols * hop + hop // 2) / rate
    half_window = frame.stft.window_len / 2 / rate
    filled = (t_m - half_window >= t0[:, None]) & (t_m + half_window <= (t0 + dur)[:, None])
    return cols, t_m, filled


def law_curves(pred: dict[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """(B, M) frequency of each row's curve (its ``kind``, ``f_start_hz`` and ``f_end_hz``) at
    normalised times u (B, M)."""
    f = np.zeros_like(u, dtype=np.float64)
    for k, kind in enumerate(KIND_NAMES):
        rows = np.flatnonzero(np.asarray(pred["kind"]) == k)
        f[rows] = frequency_law(kind, u[rows], np.asarray(pred["f_start_hz"])[rows, None],
                                np.asarray(pred["f_end_hz"])[rows, None])
    return f


def _brightest_curve(images: np.ndarray, t0: np.ndarray, dur: np.ndarray, pairs: np.ndarray, kind: str,
                     frame: GenConfig, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, 2) (f0, f1) near ``pairs`` whose curve of ``kind`` over [t0, t0 + dur] is brightest, and
    that curve's mean pixel value X (B,) (0 with fewer than two columns, where it says nothing)."""
    h, n_columns = frame.image_shape
    cols, t_m, filled = filled_columns(t0, dur, frame, n_max)
    u = (t_m - t0[:, None]) / dur[:, None]
    w = filled.astype(np.float32)
    original = pairs
    flat = images.reshape(len(images), -1).astype(np.float32)  # (B, H W)
    lo, hi = frame.signal.freq_hz
    for half, step in PIXEL_STAGES_BINS:
        d = np.arange(-half, half + 1e-9, step) * frame.bin_hz
        offsets = np.stack(np.meshgrid(d, d, indexing="ij"), -1).reshape(-1, 2)  # (C, 2)
        cand = np.clip(pairs[:, None, :] + offsets[None], lo, hi)  # (B, C, 2)
        f = frequency_law(kind, np.clip(u, 0, 1)[:, None, :], cand[..., 0:1], cand[..., 1:2])  # (B, C, M)
        row = np.clip((h - 1) - f / frame.bin_hz, 1, h - 2)
        k = np.rint(row)
        d = (row - k).astype(np.float32)  # in [-1/2, 1/2]
        at = (k.astype(np.intp) * n_columns + cols[:, None, :]).reshape(len(images), -1)
        mid = np.take_along_axis(flat, at, 1).reshape(d.shape)
        up = np.take_along_axis(flat, at - n_columns, 1).reshape(d.shape)  # the row above: higher frequency
        down = np.take_along_axis(flat, at + n_columns, 1).reshape(d.shape)
        value = mid + d * 0.5 * (down - up) + d * d * 0.5 * (down - 2 * mid + up)  # the parabola through 3 rows
        score = np.einsum("bcm,bm->bc", value, w)
        pairs = cand[np.arange(len(images)), score.argmax(1)]
    n_cols = w.sum(1)
    enough = n_cols >= 2  # one column says nothing about a sweep
    return np.where(enough[:, None], pairs, original), np.where(enough, score.max(1) / np.maximum(n_cols, 1), 0.0)
