"""The chirp localiser: a timm Vision Transformer backbone (1 input channel), LoRA adapters, a head.

Backbone weights come from one of three sources (``ModelConfig.weights``):

- ``"hub"``: timm's pretrained weights for ``arch`` from the Hugging Face hub (online machines; the
  3-channel patch embedding is summed to 1 channel and the position embedding resampled by timm).
- a path: a chirploc backbone (``backbone.safetensors`` + ``backbone.json``, written by
  ``chirploc pretrain``, or the run directory holding them), or any timm checkpoint file of ``arch``.
- ``"none"``: random init (for from-scratch training and for ``chirploc pretrain``).

LoRA targets are given as a regular expression over full module names, so that the patch embedding
(``patch_embed.proj``, a Conv2d whose name also ends in ``proj``) is never adapted by accident.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from chirploc.config import ModelConfig
from chirploc.data import TARGETS

log = logging.getLogger(__name__)

BACKBONE_FORMAT = "chirploc-backbone/1"
BACKBONE_WEIGHTS = "backbone.safetensors"
BACKBONE_META = "backbone.json"


class BackboneError(ValueError):
    """The backbone weights asked for cannot be had (phrased for the user, with the fix)."""


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


def _timm_kwargs(cfg: ModelConfig, img_size: tuple[int, int]) -> dict[str, Any]:
    return dict(
        img_size=tuple(img_size),
        in_chans=1,
        num_classes=0,
        global_pool="" if cfg.global_pool == "flatten" else cfg.global_pool,
        drop_path_rate=cfg.drop_path_rate,
        **cfg.model_kwargs,
    )


def _check_patch_grid(model: nn.Module, img_size: tuple[int, int]) -> None:
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is not None and (img_size[0] % patch[0] or img_size[1] % patch[1]):
        raise BackboneError(
            f"image size {tuple(img_size)} is not a multiple of the patch size {tuple(patch)}; choose an arch "
            "or model.model_kwargs.patch_size that divides it"
        )


def _chirploc_backbone_files(weights: str) -> tuple[Path, Path] | None:
    path = Path(weights)
    if path.is_dir():
        path = path / BACKBONE_WEIGHTS
        if not path.is_file():
            raise BackboneError(
                f"{weights!r} holds no {BACKBONE_WEIGHTS}; point model.weights at a chirploc pretrain run"
            )
    meta = path.with_suffix(".json")
    if path.suffix == ".safetensors" and meta.is_file():
        return path, meta
    return None


def _first_sentence(exc: Exception) -> str:
    return str(exc).split(". ")[0].strip()[:200]


def read_backbone_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(Path(meta_path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BackboneError(
            f"backbone description {str(meta_path)!r} is unreadable ({exc}); rerun chirploc pretrain"
        ) from None
    if meta.get("format") != BACKBONE_FORMAT:
        raise BackboneError(
            f"{str(meta_path)!r} is not a {BACKBONE_FORMAT} description; rerun chirploc pretrain"
        )
    return meta


def create_backbone(cfg: ModelConfig, img_size: tuple[int, int]) -> tuple[nn.Module, ModelConfig]:
    """Build the backbone and load its weights; return it with the resolved model config.

    For a chirploc backbone, its ``backbone.json`` defines ``arch`` and ``model_kwargs`` and the
    resolved config records them.

    Raises:
        BackboneError: weights that cannot be found, fetched or loaded, or a geometry that does not fit.
    """
    import timm
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    resolved = ModelConfig(**{**cfg.__dict__})
    if cfg.weights == "none":
        model = timm.create_model(cfg.arch, pretrained=False, **_timm_kwargs(cfg, img_size))
    elif cfg.weights == "hub":
        try:
            model = timm.create_model(cfg.arch, pretrained=True, **_timm_kwargs(cfg, img_size))
        except Exception as exc:  # noqa: BLE001 - network, hub and missing-tag errors all end here
            raise BackboneError(
                f"could not fetch hub weights for {cfg.arch!r} ({type(exc).__name__}: {_first_sentence(exc)}); "
                "on an offline machine download the checkpoint elsewhere and set model.weights=PATH, or train a "
                "backbone with `chirploc pretrain` (HF_HUB_OFFLINE=1 makes this check fail fast)"
            ) from None
    else:
        if not Path(cfg.weights).exists():
            raise BackboneError(
                f"backbone weights {cfg.weights!r} do not exist; give a file, a pretrain run dir, 'hub' or 'none'"
            )
        files = _chirploc_backbone_files(cfg.weights)
        if files is not None:
            weights_path, meta_path = files
            meta = read_backbone_meta(meta_path)
            resolved.arch, resolved.model_kwargs = meta["arch"], dict(meta["model_kwargs"])
            resolved.global_pool = meta.get("global_pool", resolved.global_pool)
            if tuple(meta["img_size"]) != tuple(img_size):
                raise BackboneError(
                    f"backbone {str(weights_path)!r} was trained on {tuple(meta['img_size'])} images but the data "
                    f"set has {tuple(img_size)}; pretrain on a data set of this frame"
                )
            model = timm.create_model(resolved.arch, pretrained=False, **_timm_kwargs(resolved, img_size))
            try:
                state = load_file(str(weights_path))
            except (SafetensorError, OSError) as exc:
                raise BackboneError(
                    f"backbone {str(weights_path)!r} is unreadable ({exc}); rerun chirploc pretrain"
                ) from None
            model.load_state_dict(state, strict=True)
        else:
            try:
                model = timm.create_model(
                    cfg.arch,
                    pretrained=True,
                    pretrained_cfg_overlay={"file": str(Path(cfg.weights).resolve())},
                    **_timm_kwargs(cfg, img_size),
                )
            except Exception as exc:  # noqa: BLE001 - any load failure becomes one user-facing line
                raise BackboneError(
                    f"could not load timm checkpoint {cfg.weights!r} into {cfg.arch!r} ({type(exc).__name__}: "
                    f"{_first_sentence(exc)}); check that the file belongs to that arch"
                ) from None
        resolved.weights = str(Path(cfg.weights).resolve())
    _check_patch_grid(model, img_size)
    return model, resolved


def apply_lora(backbone: nn.Module, cfg: ModelConfig) -> nn.Module:
    """Wrap ``backbone`` with peft LoRA adapters; base weights are frozen, only lora_A/B train."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=int(cfg.lora_r),
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_target_regex(cfg.lora_mlp),
        bias="none",
    )
    return get_peft_model(backbone, lora)


def build_model(
    cfg: ModelConfig, img_size: tuple[int, int], n_kinds: int, seed: int = 0
) -> tuple[ChirpLocModel, dict[str, torch.Tensor], ModelConfig]:
    """The full model, ready to train, with the base backbone state (before adapters) and resolved config.

    Random initialisation (backbone when ``weights='none'``, head, LoRA) is drawn under ``seed``
    without touching the caller's global RNG state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, resolved = create_backbone(cfg, img_size)
        base_state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        head = make_head(backbone, resolved.global_pool, n_kinds, cfg.head_hidden)
        if cfg.adapt == "lora":
            backbone = apply_lora(backbone, cfg)
    return ChirpLocModel(backbone, head), base_state, resolved


def backbone_meta(cfg: ModelConfig, img_size: tuple[int, int]) -> dict[str, Any]:
    return {
        "format": BACKBONE_FORMAT,
        "arch": cfg.arch,
        "model_kwargs": cfg.model_kwargs,
        "global_pool": cfg.global_pool,
        "img_size": list(img_size),
        "in_chans": 1,
    }


def trainable_parameter_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]
