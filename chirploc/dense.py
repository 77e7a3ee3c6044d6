"""The dense head: per-column outputs of a strip-token ViT, their targets and their loss.

"Predict locally, fit globally": the network says, for every image column, how likely the chirp is
present and where its frequency lies; and for every quarter column, how likely the chirp starts or
ends there. A physical fit (chirploc.fit) turns these maps into the labels.

Notes:
    Tokens are full-frequency strips of ``pw`` columns (``patch_size = (H, pw)``), so token j sees
    columns [j pw, (j + 1) pw). Per column m (centre time t_m = (m + 1/2) dt, dt the hop) the head
    gives

    - ``freq``: logits over F bins of width df (bin i centred at i df), trained by cross-entropy
      against a Gaussian of width sigma_f around the true f(t_m), where the chirp covers t_m;
    - ``presence``: one logit, trained by binary cross-entropy against t_start <= t_m <= t_end;
    - ``onset``/``offset``: S logits each (sub-column bins, bin p centred at (p + 1/2) dt / S);
      softmax over all W S bins of the image, cross-entropy against a Gaussian of width sigma_t
      (in bins) around t_start (``onset``) or t_end (``offset``).

    One image-level logit (from the class token) says whether there is a chirp at all (binary
    cross-entropy). Records without a chirp train only presence and the image logit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law


@dataclass(frozen=True)
class DenseGrid:
    """The grids the dense head predicts on, from the frame and the head's settings."""

    n_columns: int  # W
    column_s: float  # dt
    n_freq_bins: int  # F
    freq_step_hz: float  # df
    time_subbins: int  # S
    freq_sigma_hz: float
    time_sigma_bins: float

    @classmethod
    def from_frame(
        cls, frame: GenConfig, freq_step_hz: float, time_subbins: int, freq_sigma_hz: float, time_sigma_bins: float
    ) -> DenseGrid:
        top_hz = frame.stft.freq_bins * frame.bin_hz
        n_freq = int(math.ceil(top_hz / freq_step_hz))
        return cls(frame.n_columns, frame.column_s, n_freq, freq_step_hz, time_subbins, freq_sigma_hz, time_sigma_bins)

    @property
    def column_times_s(self) -> np.ndarray:
        return (np.arange(self.n_columns) + 0.5) * self.column_s  # (W,)

    @property
    def subbin_s(self) -> float:
        return self.column_s / self.time_subbins


def column_frequencies(
    grid: DenseGrid, kind: int, t_start_s: float, duration_s: float, f_start_hz: float, f_end_hz: float
) -> np.ndarray:
    """f(t_m) of the chirp at every column centre it covers, NaN elsewhere (and for no chirp)."""
    out = np.full(grid.n_columns, np.nan)
    if not np.isfinite(t_start_s) or kind >= len(KIND_NAMES):
        return out
    u = (grid.column_times_s - t_start_s) / duration_s
    inside = (u >= 0) & (u <= 1)
    out[inside] = frequency_law(KIND_NAMES[kind], u[inside], f_start_hz, f_end_hz)
    return out


class DenseHead(nn.Module):
    """Per-token MLP to per-column maps; a linear image-level presence logit on the class token."""

    def __init__(self, in_features: int, grid: DenseGrid, columns_per_token: int, hidden: int = 256) -> None:
        super().__init__()
        self.grid, self.pw = grid, columns_per_token
        per_column = grid.n_freq_bins + 1 + 2 * grid.time_subbins
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, columns_per_token * per_column)
        )
        self.any_chirp = nn.Linear(in_features, 1)

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 1 + N, D) tokens (class token first, the N strips last) to the maps, all float32 logits."""
        g = self.grid
        cls, strips = tokens[:, 0], tokens[:, -(g.n_columns // self.pw) :]  # (B, D), (B, N, D)
        b = strips.shape[0]
        out = self.mlp(strips).float().reshape(b, g.n_columns, -1)  # (B, W, F + 1 + 2 S)
        f, s = g.n_freq_bins, g.time_subbins
        return {
            "freq": out[..., :f],  # (B, W, F)
            "presence": out[..., f],  # (B, W)
            "onset": out[..., f + 1 : f + 1 + s].reshape(b, -1),  # (B, W S)
            "offset": out[..., f + 1 + s :].reshape(b, -1),  # (B, W S)
            "any_chirp": self.any_chirp(cls).float().squeeze(1),  # (B,)
        }


def _gaussian_targets(centres: torch.Tensor, n_bins: int, sigma_bins: float) -> torch.Tensor:
    """(...,) centres in bin units to (..., n_bins) normalised Gaussian distributions."""
    bins = torch.arange(n_bins, dtype=torch.float32, device=centres.device)
    d = (bins - centres.unsqueeze(-1)) / sigma_bins
    w = torch.exp(-0.5 * d * d)
    return w / w.sum(-1, keepdim=True).clamp_min(1e-12)


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def dense_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], grid: DenseGrid) -> torch.Tensor:
    """Sum of the four map losses and the image-level presence loss (see the module Notes)."""
    col_f = batch["column_freq_hz"]  # (B, W), NaN where the chirp is absent
    present = torch.isfinite(col_f)
    has = batch["has_chirp"].float()  # (B,)
    loss = F.binary_cross_entropy_with_logits(out["any_chirp"], has)
    loss = loss + F.binary_cross_entropy_with_logits(out["presence"], present.float())
    if present.any():
        centres = torch.nan_to_num(col_f / grid.freq_step_hz)[present]  # (P,)
        target = _gaussian_targets(centres, grid.n_freq_bins, grid.freq_sigma_hz / grid.freq_step_hz)
        loss = loss + _soft_ce(out["freq"][present], target).mean()
    chirp = has > 0
    if chirp.any():
        n_t = grid.n_columns * grid.time_subbins
        for name, key in (("onset", "t_start_s"), ("offset", "t_end_s")):
            centres = batch[key][chirp].float() / grid.subbin_s - 0.5
            target = _gaussian_targets(centres, n_t, grid.time_sigma_bins)
            loss = loss + _soft_ce(out[name][chirp], target).mean()
    return loss
