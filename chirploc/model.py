"""The chirp localiser: a timm Vision Transformer backbone (1 input channel), LoRA adapters, a head.

LoRA targets are given as a regular expression over full module names, so that the patch embedding
(``patch_embed.proj``, a Conv2d whose name also ends in ``proj``) is never adapted by accident.
Where backbone weights come from is chirploc.weights; the timm factory is chirploc.backbone.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from chirpgen.config import TARGETS
from chirploc.config import ModelConfig


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


class ChirpLocModel(nn.Module):
    """Backbone (plain or LoRA-wrapped) plus head; ``forward`` takes (B, 1, H, W) floats.

    With ``global_pool='flatten'`` the backbone returns all tokens (B, N, D) and the head sees them
    flattened, so where a token sits stays explicit instead of being averaged away.
    """

    def __init__(self, backbone: nn.Module, head: ChirpHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)  # (B, D) pooled, or (B, N, D) tokens
        return self.head(features)  # (B, 4), (B, K)


def make_head(backbone: nn.Module, global_pool: str, n_kinds: int, hidden: int) -> ChirpHead:
    """The head for ``backbone``'s output: pooled (B, D) or, for 'flatten', all (B, N, D) tokens."""
    n_tokens = 0
    if global_pool == "flatten":
        n_tokens = backbone.patch_embed.num_patches + getattr(backbone, "num_prefix_tokens", 0)
    return ChirpHead(backbone.num_features, n_kinds, hidden, n_tokens=n_tokens)


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
    cfg: ModelConfig, img_size: tuple[int, int], n_kinds: int, seed: int = 0
) -> tuple[ChirpLocModel, dict[str, torch.Tensor], ModelConfig]:
    """The full model, ready to train, with the base backbone state (before adapters) and resolved config.

    Random initialisation (backbone when ``weights='none'``, head, LoRA) is drawn under ``seed``
    without touching the caller's global RNG state.
    """
    from chirploc.weights import load_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, resolved = load_backbone(cfg, img_size)
        base_state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        head = make_head(backbone, resolved.global_pool, n_kinds, cfg.head_hidden)
        if cfg.adapt == "lora":
            backbone = apply_lora(backbone, lora_config(cfg))
    return ChirpLocModel(backbone, head), base_state, resolved


def trainable_parameter_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]
