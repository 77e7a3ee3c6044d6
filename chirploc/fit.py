"""The physical fit: from the dense head's maps to the chirp's labels, kind and confidence.

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
    |f1 - f0| <= max_sweep_hz), refined twice on finer grids around the best pair. The kind is the
    law with the largest S_k (a likelihood ratio); f_start = f0 and f_end = f1 of its best pair.
    The confidence is the mean per-column log-probability of the chosen curve.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law
from chirploc.dense import DenseGrid

EDGE_HALF_WIDTH = 2  # sub-column bins either side of an edge's peak in its weighted mean
EDGE_CANDIDATES = 8  # most likely bins of each edge map tried as onset/offset pairs
COARSE_STEP_HZ = 2.0  # first grid over the band, scored on log-probabilities max-pooled over +-1 Hz
REFINE = ((1.25, 0.125), (0.125, 1 / 32))  # (half width, step) in Hz of the two finer grids
CHUNK = 16  # images per search step (bounds memory: CHUNK x candidates x columns)


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

    @classmethod
    def from_frame(cls, frame: GenConfig, fallback_p_chirp: float = 0.0, presence_logit_offset: float = 0.0) -> FitPriors:
        sig = frame.signal
        return cls(tuple(sig.t_start_s), tuple(sig.duration_s), tuple(sig.freq_hz), float(sig.max_sweep_hz),
                   fallback_p_chirp, presence_logit_offset)

    def middle(self) -> dict[str, float]:
        """The middle of each label range: the answer with the least expected squared error when the
        image says nothing about the chirp."""
        f_mid = sum(self.freq_hz) / 2
        return {"t_start_s": sum(self.t_start_s) / 2, "duration_s": sum(self.duration_s) / 2,
                "f_start_hz": f_mid, "f_end_hz": f_mid}


def apply_fallback(pred: dict[str, np.ndarray], priors: FitPriors) -> dict[str, np.ndarray]:
    """``pred`` with the labels of unsure images (0.5 <= p_chirp < priors.fallback_p_chirp) replaced by
    the middle of the frame's ranges, and a boolean ``fallback`` array saying which."""
    unsure = (pred["p_chirp"] >= 0.5) & (pred["p_chirp"] < priors.fallback_p_chirp)
    out = dict(pred)
    for k, middle in priors.middle().items():
        out[k] = np.where(unsure, middle, pred[k])
    out["fallback"] = unsure
    return out


@functools.lru_cache(maxsize=8)
def band_pairs(priors: FitPriors, step_hz: float) -> torch.Tensor:
    """(C, 2) grid of (f0, f1) pairs over the band with |f1 - f0| <= max_sweep_hz (built once per priors)."""
    lo, hi = priors.freq_hz
    f = torch.arange(lo, hi + 1e-9, step_hz, dtype=torch.float32)
    f0, f1 = torch.meshgrid(f, f, indexing="ij")
    keep = (f1 - f0).abs() <= priors.max_sweep_hz + 1e-6
    return torch.stack([f0[keep], f1[keep]], dim=1)


def _refine_edge(prob: torch.Tensor, peak: torch.Tensor, subbin_s: float) -> torch.Tensor:
    """(B,) times of edge bins ``peak`` of the (B, T) distributions ``prob``, by a local weighted mean."""
    offsets = torch.arange(-EDGE_HALF_WIDTH, EDGE_HALF_WIDTH + 1)
    idx = (peak[:, None] + offsets[None, :]).clamp(0, prob.shape[1] - 1)  # (B, 5)
    w = prob.gather(1, idx)
    pos = (w * idx.float()).sum(1) / w.sum(1).clamp_min(1e-12)
    return (pos + 0.5) * subbin_s


def _edges(out: dict[str, torch.Tensor], grid: DenseGrid, priors: FitPriors) -> tuple[torch.Tensor, torch.Tensor]:
    """Onset and duration (B,): the pair of edge candidates that the edge maps and the column
    presence map together find most likely (see the module Notes), each refined below one bin."""
    p_on = torch.softmax(out["onset"].float(), -1)  # (B, T)
    p_off = torch.softmax(out["offset"].float(), -1)
    on, off = p_on.topk(EDGE_CANDIDATES, -1).indices, p_off.topk(EDGE_CANDIDATES, -1).indices  # (B, K)
    t0 = (on.float() + 0.5) * grid.subbin_s  # (B, K)
    t1 = (off.float() + 0.5) * grid.subbin_s
    t_m = torch.as_tensor(grid.column_times_s, dtype=torch.float32)  # (W,)
    inside = (t_m >= t0[:, :, None, None]) & (t_m <= t1[:, None, :, None])  # (B, K, K, W)
    pres = out["presence"].float()[:, None, None, :]
    score = torch.where(inside, F.logsigmoid(pres), F.logsigmoid(-pres)).sum(-1)  # (B, K, K)
    score = score + p_on.gather(1, on).log()[:, :, None] + p_off.gather(1, off).log()[:, None, :]
    dur = t1[:, None, :] - t0[:, :, None]
    lo, hi = priors.duration_s
    score = score.masked_fill((dur < lo - grid.column_s) | (dur > hi + grid.column_s), -torch.inf)
    best = score.flatten(1).argmax(1)  # (B,); an all -inf row falls back to the two top peaks
    i, j = best // EDGE_CANDIDATES, best % EDGE_CANDIDATES
    rows = torch.arange(len(best))
    start = _refine_edge(p_on, on[rows, i], grid.subbin_s).clamp(*priors.t_start_s)
    end = _refine_edge(p_off, off[rows, j], grid.subbin_s)
    return start, (end - start).clamp(*priors.duration_s)


def _curve_scores(
    logp: torch.Tensor, u: torch.Tensor, w: torch.Tensor, kind: str, pairs: torch.Tensor, df: float,
    interpolate: bool = True,
) -> torch.Tensor:
    """S_k of candidate pairs. logp (B, M, F), u and w (B, M), pairs (B or 1, C, 2) -> (B, C).

    log p is read at the nearest bin k, or with ``interpolate`` from the parabola through bins
    k - 1, k, k + 1 (exact for a Gaussian, whose log is a parabola; a straight line between two bins
    would put every maximum on a bin centre).
    """
    b, m, n_bins = logp.shape
    f = frequency_law(kind, u[:, None, :], pairs[..., 0:1], pairs[..., 1:2])  # (B, C, M)
    pos = (f / df).clamp(0, n_bins - 1)
    flat = logp.reshape(b, m * n_bins)
    row = (torch.arange(m) * n_bins)[None, None, :]  # offset of each column in flat
    c = f.shape[1]
    k = pos.round().clamp(1, n_bins - 2)
    idx = (k.long() + row).reshape(b, -1)
    mid = flat.gather(1, idx).reshape(b, c, m)
    if interpolate:
        d = pos - k  # in [-0.5, 0.5] away from the band edges
        left = flat.gather(1, idx - 1).reshape(b, c, m)
        right = flat.gather(1, idx + 1).reshape(b, c, m)
        mid = mid + d * 0.5 * (right - left) + d * d * 0.5 * (right - 2 * mid + left)
    return (mid * w[:, None, :]).sum(-1)


@functools.cache
def _offsets(half_hz: float, step_hz: float) -> torch.Tensor:
    """(C', 2) offsets (d0, d1) of a square grid of half width ``half_hz`` and step ``step_hz``."""
    d = torch.arange(-half_hz, half_hz + 1e-9, step_hz)
    d0, d1 = torch.meshgrid(d, d, indexing="ij")
    return torch.stack([d0.reshape(-1), d1.reshape(-1)], 1)


def _pooled(logp: torch.Tensor, df: float) -> torch.Tensor:
    """log p max-pooled over +-COARSE_STEP_HZ / 2, so that no curve falls between coarse grid points."""
    half = int(round(0.5 * COARSE_STEP_HZ / df))
    return torch.nn.functional.max_pool1d(logp.flatten(0, 1)[:, None], 2 * half + 1, 1, half).view_as(logp)


def _search(logp: torch.Tensor, pooled: torch.Tensor, u: torch.Tensor, w: torch.Tensor, kind: str,
            priors: FitPriors, df: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Best (f0, f1) (B, 2) and score (B,) of one law: the coarse grid on ``pooled``, then the finer ones."""
    coarse = band_pairs(priors, COARSE_STEP_HZ)
    scores = _curve_scores(pooled, u, w, kind, coarse[None].expand(len(logp), -1, -1), df, interpolate=False)
    best = coarse[scores.argmax(1)]  # (B, 2)
    lo, hi = priors.freq_hz
    for half, step in REFINE:
        pairs = (best[:, None, :] + _offsets(half, step)[None]).clamp(lo, hi)  # (B, C', 2)
        scores = _curve_scores(logp, u, w, kind, pairs, df)
        best = pairs[torch.arange(len(best)), scores.argmax(1)]
    return best, scores.max(1).values


def fit_maps(out: dict[str, torch.Tensor], grid: DenseGrid, priors: FitPriors) -> dict[str, np.ndarray]:
    """Labels from the dense maps of a batch (see the module Notes).

    Returns:
        ``t_start_s, f_start_hz, f_end_hz, duration_s`` float64 (B,), ``kind`` int64 (B,),
        ``p_chirp`` (the image-level presence probability) and ``confidence`` float64 (B,).
    """
    results = [_fit_chunk({k: v[i : i + CHUNK] for k, v in out.items()}, grid, priors)
               for i in range(0, len(out["any_chirp"]), CHUNK)]
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}


def _fit_chunk(out: dict[str, torch.Tensor], grid: DenseGrid, priors: FitPriors) -> dict[str, np.ndarray]:
    t0, dur = _edges(out, grid, priors)
    # the columns whose centre lies in [t0, t0 + dur]: at most n_max of them from the first
    dt = grid.column_s
    first = torch.ceil(t0 / dt - 0.5).long().clamp(0, grid.n_columns - 1)  # (B,)
    n_max = int(math.ceil(priors.duration_s[1] / dt)) + 1
    cols = (first[:, None] + torch.arange(n_max)[None]).clamp(max=grid.n_columns - 1)  # (B, M)
    t_m = (cols.float() + 0.5) * dt
    u = (t_m - t0[:, None]) / dur[:, None]
    w = ((u >= 0) & (u <= 1)).float()
    w[:, 0] = 1.0  # at least one column
    logp = torch.log_softmax(out["freq"].float(), dim=-1)  # (B, W, F)
    logp = logp.gather(1, cols[..., None].expand(-1, -1, logp.shape[-1]))  # (B, M, F)
    pooled = _pooled(logp, grid.freq_step_hz)  # the same for every law
    fits = [_search(logp, pooled, u.clamp(0, 1), w, kind, priors, grid.freq_step_hz) for kind in KIND_NAMES]
    scores = torch.stack([s for _, s in fits], 1)  # (B, K)
    kind = scores.argmax(1)
    pairs = torch.stack([p for p, _ in fits], 1)[torch.arange(len(kind)), kind]  # (B, 2)
    return {
        "t_start_s": t0.double().numpy(),
        "f_start_hz": pairs[:, 0].double().numpy(),
        "f_end_hz": pairs[:, 1].double().numpy(),
        "duration_s": dur.double().numpy(),
        "kind": kind.numpy().astype(np.int64),
        "p_chirp": torch.sigmoid(out["any_chirp"].float() - priors.presence_logit_offset).double().numpy(),
        "confidence": (scores.max(1).values / w.sum(1)).double().numpy(),
    }
