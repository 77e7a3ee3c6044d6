"""Where backbone weights come from (``ModelConfig.weights``), and the backbones chirploc writes.

- ``"none"``: random init (for from-scratch training and for ``chirploc pretrain``).
- ``"hub"``: timm's pretrained weights for ``arch`` from the Hugging Face hub (online machines; the
  3-channel patch embedding is summed to 1 channel and the position embedding resampled by timm).
- a path: a chirploc backbone (``backbone.safetensors`` + ``backbone.json``, written by
  ``chirploc pretrain``, or the run directory holding them), or any timm checkpoint file of ``arch``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn as nn

from chirpgen.plumbing import one_line, read_json, write_json_atomic
from chirploc.backbone import (
    BACKBONE_META,
    BACKBONE_WEIGHTS,
    BackboneError,
    BackboneSpec,
    create_backbone,
)
from chirploc.config import ModelConfig


def spec_of(cfg: ModelConfig, img_size: tuple[int, int]) -> BackboneSpec:
    """The backbone architecture a model config asks for."""
    return BackboneSpec(cfg.arch, tuple(img_size), dict(cfg.model_kwargs), cfg.global_pool)


def load_backbone(cfg: ModelConfig, img_size: tuple[int, int]) -> tuple[nn.Module, ModelConfig]:
    """Build the backbone and load its weights; return it with the resolved model config.

    For a chirploc backbone, its ``backbone.json`` defines ``arch``, ``model_kwargs`` and the pooling,
    and the resolved config records them (and the weights' absolute path).

    Raises:
        BackboneError: weights that cannot be found, fetched or loaded, or a geometry that does not fit.
    """
    if cfg.weights == "none":
        return create_backbone(spec_of(cfg, img_size), cfg.drop_path_rate), cfg
    if cfg.weights == "hub":
        return _hub_backbone(cfg, img_size), cfg
    if not Path(cfg.weights).exists():
        raise BackboneError(
            f"backbone weights {cfg.weights!r} do not exist; give a file, a pretrain run dir, 'hub' or 'none'"
        )
    resolved = dataclasses.replace(cfg, weights=str(Path(cfg.weights).resolve()))
    files = chirploc_backbone_files(cfg.weights)
    if files is None:
        return _timm_checkpoint_backbone(cfg, img_size), resolved
    spec = read_backbone_spec(files[1])
    if tuple(spec.img_size) != tuple(img_size):
        raise BackboneError(
            f"backbone {str(files[0])!r} was trained on {tuple(spec.img_size)} images but the data "
            f"set has {tuple(img_size)}; pretrain on a data set of this frame"
        )
    resolved = dataclasses.replace(
        resolved, arch=spec.arch, model_kwargs=dict(spec.model_kwargs), global_pool=spec.global_pool
    )
    model = create_backbone(spec, cfg.drop_path_rate)
    load_state(model, files[0], "backbone", "rerun chirploc pretrain")
    return model, resolved


def _hub_backbone(cfg: ModelConfig, img_size: tuple[int, int]) -> nn.Module:
    try:
        return create_backbone(spec_of(cfg, img_size), cfg.drop_path_rate, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - network, hub and missing-tag errors all end here
        raise BackboneError(
            f"could not fetch hub weights for {cfg.arch!r} ({type(exc).__name__}: {_first_sentence(exc)}); "
            "on an offline machine download the checkpoint elsewhere and set model.weights=PATH, or train a "
            "backbone with `chirploc pretrain` (HF_HUB_OFFLINE=1 makes this check fail fast)"
        ) from None


def _timm_checkpoint_backbone(cfg: ModelConfig, img_size: tuple[int, int]) -> nn.Module:
    overlay = {"file": str(Path(cfg.weights).resolve())}
    try:
        return create_backbone(
            spec_of(cfg, img_size), cfg.drop_path_rate, pretrained=True, pretrained_cfg_overlay=overlay
        )
    except BackboneError:
        raise
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one user-facing line
        raise BackboneError(
            f"could not load timm checkpoint {cfg.weights!r} into {cfg.arch!r} ({type(exc).__name__}: "
            f"{_first_sentence(exc)}); check that the file belongs to that arch"
        ) from None


def chirploc_backbone_files(weights: str | Path) -> tuple[Path, Path] | None:
    """(weights, description) of a chirploc backbone at ``weights`` (a file or run dir), else None."""
    path = Path(weights)
    if path.is_dir():
        path = path / BACKBONE_WEIGHTS
        if not path.is_file():
            raise BackboneError(
                f"{str(weights)!r} holds no {BACKBONE_WEIGHTS}; point model.weights at a chirploc pretrain run"
            )
    meta = path.with_suffix(".json")
    if path.suffix == ".safetensors" and meta.is_file():
        return path, meta
    return None


def read_backbone_spec(meta_path: str | Path) -> BackboneSpec:
    """The BackboneSpec in a backbone.json; BackboneError when it is missing or damaged."""
    d = read_json(meta_path, BackboneError, "rerun chirploc pretrain (or train) to write it again")
    return BackboneSpec.from_dict(d, str(meta_path))


def load_state(module: nn.Module, path: Path, what: str, fix: str) -> None:
    """Load a safetensors state dict into ``module`` strictly; BackboneError naming ``path`` and ``fix``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise BackboneError(f"{what} weights {str(path)!r} are missing; {fix}")
    try:
        module.load_state_dict(load_file(str(path)), strict=True)
    except (SafetensorError, OSError, ValueError) as exc:
        raise BackboneError(f"{what} weights {str(path)!r} are unreadable ({exc}); {fix}") from None
    except RuntimeError as exc:
        raise BackboneError(f"{what} weights {str(path)!r} do not fit ({one_line(exc)}); {fix}") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` as safetensors to ``path`` atomically (CPU, contiguous)."""
    from safetensors.torch import save_file

    from chirpgen.plumbing import atomic_path

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))


def export_backbone(out_dir: Path, backbone: nn.Module, spec: BackboneSpec) -> Path:
    """Write a fully trained backbone as OUT/backbone.safetensors + OUT/backbone.json (for model.weights=OUT)."""
    if hasattr(backbone, "merge_and_unload"):
        raise BackboneError("export_backbone needs a fully trained backbone, not a LoRA-wrapped one")
    path = Path(out_dir) / BACKBONE_WEIGHTS
    save_tensors(path, backbone.state_dict())
    write_json_atomic(Path(out_dir) / BACKBONE_META, spec.to_dict())
    return path


def pretrained_head_state(weights: str | Path) -> dict[str, torch.Tensor] | None:
    """The best head of a chirploc pretrain run directory ``weights``, or None (other weights, no head)."""
    from safetensors.torch import load_file

    path = Path(weights) / "best" / "head.safetensors"
    if not Path(weights).is_dir() or not path.is_file():
        return None
    return load_file(str(path))


def _first_sentence(exc: Exception) -> str:
    return one_line(str(exc).split(". ")[0])
