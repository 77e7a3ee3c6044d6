"""The chirp localiser: a timm Vision Transformer backbone (1 input channel), LoRA adapters, a head.

LoRA targets are given as a regular expression over full module names, so that the patch embedding
(``patch_embed.proj``, a Conv2d whose name also ends in ``proj``) is never adapted by accident.
Where backbone weights come from is chirploc.weights; the timm factory is chirploc.backbone.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from chirpgen.config import TARGETS, GenConfig
from chirploc.backbone import BackboneError
from chirploc.config import ModelConfig
from chirploc.data import TargetNormalisation
from chirploc.decode import decode
from chirploc.dense import DenseHead, dense_loss
from chirploc.fit import FitPriors
from chirploc.grid import DenseGrid

log = logging.getLogger(__name__)
MAX_FREQ_BINS = 100_000  # dense head: frequency bins per column (the frame's band / model.freq_step_hz)
MAX_HEAD_WEIGHTS = 250_000_000  # 1 GB of float32 (and three times that for AdamW): larger is a typing mistake


def lora_target_regex(lora_mlp: bool) -> str:
    """Full-name regex of the modules LoRA adapts: attention qkv and proj, optionally the MLP."""
    attn = r"blocks\.\d+\.attn\.(qkv|proj)"
    return rf"({attn}|blocks\.\d+\.mlp\.(fc1|fc2))" if lora_mlp else attn


def prepare_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W) grey images to the float input of the backbone, (B, 1, H, W) in [-1, 1]."""
    return images.unsqueeze(1).float() / 127.5 - 1.0  # (B, 1, H, W)


class ChirpHead(nn.Module):
    """MLP from backbone features to 4 normalised regression targets and kind logits.

    For pooled features (B, D) it is a plain MLP. For all tokens (B, N, D) (``global_pool='flatten'``)
    each token is first projected to ``token_dim`` values and the (N * token_dim) result is flattened,
    which keeps each token's position at a small parameter cost.
    """

    def __init__(
        self, in_features: int, n_kinds: int, hidden: int = 256, n_tokens: int = 0, token_dim: int = 16
    ) -> None:
        super().__init__()
        self.n_targets = len(TARGETS)
        out = self.n_targets + n_kinds
        self.token_proj = nn.Linear(in_features, token_dim) if n_tokens else None
        width = n_tokens * token_dim if n_tokens else in_features
        if hidden:
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, out))
        else:
            self.mlp = nn.Linear(width, out)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.token_proj is not None:
            features = self.token_proj(features).flatten(1)  # (B, N, D) -> (B, N * token_dim)
        out = self.mlp(features)  # (B, 4 + K)
        return out[:, : self.n_targets], out[:, self.n_targets :]  # (B, 4), (B, K)

    def loss(self, out: tuple[torch.Tensor, torch.Tensor], batch: dict[str, torch.Tensor], kind_weight: float) -> torch.Tensor:
        """Smooth-L1 on normalised targets plus weighted kind cross-entropy."""
        reg, logits = out
        reg_loss = F.smooth_l1_loss(reg.float(), batch["target"], beta=0.05)  # (B, 4) vs (B, 4)
        kind_loss = F.cross_entropy(logits.float(), batch["kind"])  # (B, K) vs (B,)
        return reg_loss + kind_weight * kind_loss

    def decode(
        self, out: tuple[torch.Tensor, torch.Tensor], normalisation: TargetNormalisation, images: Any = None
    ) -> dict[str, np.ndarray]:
        """Physical labels (kept inside the frame's ranges) and kind indices of a batch (``images`` unused)."""
        reg, logits = out
        physical = normalisation.decode(reg.float().cpu().numpy(), clip=True)  # (B, 4)
        pred = {k: physical[:, i].astype(np.float64) for i, k in enumerate(TARGETS)}
        pred["kind"] = logits.argmax(1).cpu().numpy().astype(np.int64)
        return pred


class DenseChirpHead(DenseHead):
    """The dense head with the fit (chirploc.fit) as its decoder."""

    def __init__(self, in_features: int, grid: DenseGrid, columns_per_token: int, hidden: int, priors: FitPriors,
                 frame: GenConfig, pixel_dim: int = 0):
        super().__init__(in_features, grid, columns_per_token, hidden, pixel_dim, frame.image_shape[0])
        self.frame = frame
        self.priors = priors

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], kind_weight: float) -> torch.Tensor:
        return dense_loss(out, batch, self.grid)

    def decode(
        self, out: dict[str, torch.Tensor], normalisation: TargetNormalisation, images: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """The labels (chirploc.decode); with the uint8 ``images``, also read on their pixels."""
        return decode({k: v.detach().float().cpu().numpy() for k, v in out.items()}, images, self.grid, self.priors,
                      self.frame)


class ChirpLocModel(nn.Module):
    """Backbone (plain or LoRA-wrapped) plus head; ``forward`` takes (B, 1, H, W) floats.

    With ``global_pool='flatten'`` the backbone returns all tokens (B, N, D) and the head sees them
    flattened, so where a token sits stays explicit instead of being averaged away.
    """

    def __init__(self, backbone: nn.Module, head: ChirpHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> Any:
        features = self.backbone(x)  # (B, D) pooled, or (B, N, D) tokens
        if getattr(self.head, "pixel_dim", 0):
            return self.head(features, x)  # the dense maps, the head also reading each column's pixels
        return self.head(features)  # the head's outputs: (B, 4), (B, K) or the dense maps

    def loss(self, out: Any, batch: dict[str, torch.Tensor], kind_weight: float) -> torch.Tensor:
        return self.head.loss(out, batch, kind_weight)

    def decode(self, out: Any, normalisation: TargetNormalisation, images: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The head's labels of a batch; given its uint8 (B, H, W) ``images``, a dense head also refines on them."""
        return self.head.decode(out, normalisation, images)


def make_head(backbone: nn.Module, cfg: ModelConfig, frame: GenConfig, n_kinds: int) -> nn.Module:
    """The head ``cfg.head`` asks for, for ``backbone``'s output on images of ``frame``."""
    if cfg.head == "dense":
        return _dense_head(backbone, cfg, frame)
    n_tokens = 0
    if cfg.global_pool == "flatten":
        n_tokens = backbone.patch_embed.num_patches + getattr(backbone, "num_prefix_tokens", 0)
    width = n_tokens * 16 if n_tokens else backbone.num_features  # ChirpHead's token_dim is 16
    out = len(TARGETS) + n_kinds
    _check_head_size((width + out) * cfg.head_hidden if cfg.head_hidden else width * out, cfg)
    return ChirpHead(backbone.num_features, n_kinds, cfg.head_hidden, n_tokens=n_tokens)


def _check_head_size(n_weights: int, cfg: ModelConfig, other_fix: str = "") -> None:
    """BackboneError before a head of more than MAX_HEAD_WEIGHTS weights is allocated."""
    if n_weights > MAX_HEAD_WEIGHTS:
        raise BackboneError(
            f"model.head_hidden={cfg.head_hidden} makes a head of {n_weights:.3g} weights (at most "
            f"{MAX_HEAD_WEIGHTS:.1e}); lower model.head_hidden{other_fix}"
        )


def _dense_head(backbone: nn.Module, cfg: ModelConfig, frame: GenConfig) -> DenseChirpHead:
    patch = tuple(backbone.patch_embed.patch_size)  # the head is made before LoRA wraps the backbone
    height, width = frame.image_shape
    if patch[0] != height or width % patch[1]:
        raise BackboneError(
            f"model.head=dense needs full-frequency strip tokens: patch_size [{height}, w] with w dividing "
            f"{width}, got {list(patch)}; set model.model_kwargs.patch_size=[{height}, 2]"
        )
    grid = DenseGrid.from_frame(frame, cfg.freq_step_hz, int(cfg.time_subbins), cfg.freq_sigma_hz, cfg.time_sigma_bins)
    if grid.n_freq_bins > MAX_FREQ_BINS:
        top_hz = frame.stft.freq_bins * frame.bin_hz
        raise BackboneError(
            f"model.freq_step_hz={cfg.freq_step_hz!r} cuts the frame's 0-{top_hz:g} Hz into "
            f"{grid.n_freq_bins:.3g} bins (at most {MAX_FREQ_BINS}); set it to at least "
            f"{top_hz / MAX_FREQ_BINS:.3g} Hz"
        )
    inputs = backbone.num_features + cfg.pixel_skip
    outputs = grid.maps_per_column * (1 if cfg.pixel_skip else patch[1])
    _check_head_size(height * cfg.pixel_skip + cfg.head_hidden * (inputs + outputs), cfg,
                     " (or raise model.freq_step_hz, lower model.pixel_skip)")
    priors = FitPriors.from_model(frame, vars(cfg))
    return DenseChirpHead(backbone.num_features, grid, patch[1], cfg.head_hidden, priors, frame, int(cfg.pixel_skip))


def lora_config(cfg: ModelConfig) -> Any:
    """The peft LoraConfig of a model config (the adapter_config.json of its checkpoints)."""
    from peft import LoraConfig

    return LoraConfig(
        r=int(cfg.lora_r),
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_target_regex(cfg.lora_mlp),
        bias="none",
    )


def apply_lora(backbone: nn.Module, lora: Any) -> nn.Module:
    """Wrap ``backbone`` with peft LoRA adapters of config ``lora``; base weights freeze, lora_A/B train."""
    from peft import get_peft_model

    return get_peft_model(backbone, lora)


def build_model(
    cfg: ModelConfig, frame: GenConfig, n_kinds: int, seed: int = 0
) -> tuple[ChirpLocModel, dict[str, torch.Tensor], ModelConfig]:
    """The full model, ready to train, with the base backbone state (before adapters) and resolved config.

    Random initialisation (backbone when ``weights='none'``, head, LoRA) is drawn under ``seed``
    without touching the caller's global RNG state.
    """
    from chirploc.weights import load_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, resolved = load_backbone(cfg, frame.image_shape)
        base_state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        head = make_head(backbone, resolved, frame, n_kinds)
        load_pretrained_head(head, cfg.weights)
        if cfg.adapt == "lora":
            backbone = apply_lora(backbone, lora_config(cfg))
    return ChirpLocModel(backbone, head), base_state, resolved


def trainable_parameter_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def load_pretrained_head(head: nn.Module, weights: str) -> None:
    """Start ``head`` from a chirploc pretrain run's best head when ``weights`` is one and it fits."""
    from chirploc.weights import pretrained_head_state

    state = pretrained_head_state(weights)
    if state is None:
        return
    try:
        head.load_state_dict(state)
    except RuntimeError:
        log.info("the pretrain run's head does not fit this head; it starts from random init")
        return
    log.info("head initialised from the pretrain run %s", weights)
