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

import torch
import torch.nn as nn
import torch.nn.functional as F

from chirploc.grid import DenseGrid, split_maps


class DenseHead(nn.Module):
    """Per-token MLP to per-column maps; a linear image-level presence logit on the class token.

    With ``pixel_dim > 0`` each column's MLP also reads the column's own pixels, projected to
    ``pixel_dim`` values (a skip past the patch embedding, which squeezes a strip of pw columns
    into one token): the MLP then runs per column on [its token's features, its pixels].
    """

    def __init__(
        self, in_features: int, grid: DenseGrid, columns_per_token: int, hidden: int = 256, pixel_dim: int = 0,
        image_height: int = 0,
    ) -> None:
        super().__init__()
        self.grid, self.pw, self.pixel_dim = grid, columns_per_token, pixel_dim
        per_column = grid.maps_per_column
        if pixel_dim:
            self.pixel_proj = nn.Linear(image_height, pixel_dim)
            self.mlp = nn.Sequential(nn.Linear(in_features + pixel_dim, hidden), nn.GELU(), nn.Linear(hidden, per_column))
        else:
            self.mlp = nn.Sequential(
                nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, columns_per_token * per_column)
            )
        self.any_chirp = nn.Linear(in_features, 1)

    def forward(self, tokens: torch.Tensor, pixels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """(B, 1 + N, D) tokens (class token first, the N strips last), and with a pixel skip the
        (B, 1, H, W) input images, to the maps, all float32 logits."""
        g = self.grid
        cls, strips = tokens[:, 0], tokens[:, -(g.n_columns // self.pw) :]  # (B, D), (B, N, D)
        b = strips.shape[0]
        if self.pixel_dim:
            columns = pixels[:, 0].transpose(1, 2).to(strips.dtype)  # (B, W, H)
            per_column = torch.cat([strips.repeat_interleave(self.pw, dim=1), self.pixel_proj(columns)], -1)
            out = self.mlp(per_column).float()  # (B, W, F + 1 + 2 S)
        else:
            out = self.mlp(strips).float().reshape(b, g.n_columns, -1)  # (B, W, F + 1 + 2 S)
        return split_maps(out, self.any_chirp(cls).float().squeeze(1), g)


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
