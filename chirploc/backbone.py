"""The backbone factory: every timm Vision Transformer chirploc trains or loads is built here.

A backbone is described by a :class:`BackboneSpec` (timm arch, its extra kwargs, the pooling and
the image size; one grey input channel), which is what ``backbone.json`` of a run or a pretrain
run holds. Training (from a ModelConfig) and loading (from backbone.json) both call
:func:`create_backbone`, so the two can never build different networks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from chirpgen.plumbing import UserError, one_line

BACKBONE_FORMAT = "chirploc-backbone/1"
BACKBONE_WEIGHTS = "backbone.safetensors"
BACKBONE_META = "backbone.json"


class BackboneError(UserError):
    """The backbone asked for cannot be built or had (phrased for the user, with the fix)."""


@dataclass(frozen=True)
class BackboneSpec:
    """What defines a backbone's architecture: enough to rebuild it and load its weights."""

    arch: str
    img_size: tuple[int, int]
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    global_pool: str = "token"  # 'token', 'avg' or 'flatten' (all tokens, see chirploc.model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": BACKBONE_FORMAT,
            "arch": self.arch,
            "model_kwargs": dict(self.model_kwargs),
            "global_pool": self.global_pool,
            "img_size": list(self.img_size),
            "in_chans": 1,
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "backbone.json") -> BackboneSpec:
        """Parse a backbone.json mapping; BackboneError naming ``source`` when it is not one."""
        fix = "rerun chirploc pretrain (or train) to write it again"
        if not isinstance(d, dict) or d.get("format") != BACKBONE_FORMAT:
            raise BackboneError(f"{source!r} is not a {BACKBONE_FORMAT} description; {fix}")
        try:
            img_size = tuple(int(v) for v in d["img_size"])
            spec = cls(str(d["arch"]), img_size, dict(d.get("model_kwargs", {})), str(d.get("global_pool", "token")))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackboneError(f"{source!r} lacks or garbles {exc}; {fix}") from None
        if len(spec.img_size) != 2:
            raise BackboneError(f"{source!r} gives img_size {list(spec.img_size)}, not (H, W); {fix}")
        return spec


def timm_kwargs(spec: BackboneSpec, drop_path_rate: float = 0.0) -> dict[str, Any]:
    """The timm.create_model keyword arguments of ``spec`` (features only: no classifier)."""
    return dict(
        img_size=tuple(spec.img_size),
        in_chans=1,
        num_classes=0,
        global_pool="" if spec.global_pool == "flatten" else spec.global_pool,
        drop_path_rate=drop_path_rate,
        **spec.model_kwargs,
    )


def create_backbone(spec: BackboneSpec, drop_path_rate: float = 0.0, **pretrained: Any) -> nn.Module:
    """Build the timm backbone of ``spec`` (random weights unless ``pretrained`` kwargs ask timm for some).

    Args:
        spec: the architecture.
        drop_path_rate: stochastic depth while training (no effect in eval mode).
        pretrained: passed to timm, e.g. ``pretrained=True`` (hub) with ``pretrained_cfg_overlay``.

    Raises:
        BackboneError: an arch or kwargs timm does not know, or an image size the patches do not divide.
    """
    import timm

    try:
        with warnings_only_on_success():
            model = timm.create_model(spec.arch, **timm_kwargs(spec, drop_path_rate), **pretrained)
    except (RuntimeError, TypeError, ValueError, AssertionError, ZeroDivisionError, OverflowError, MemoryError) as exc:
        if pretrained:
            raise  # weight loading errors are phrased by the caller, which knows the source
        raise BackboneError(
            f"timm cannot build {spec.arch!r} with {spec.model_kwargs} for {tuple(spec.img_size)} images "
            f"({type(exc).__name__}: {one_line(exc, 160)}); check model.arch and model.model_kwargs"
        ) from None
    check_patch_grid(model, spec.img_size)
    return model


@contextmanager
def warnings_only_on_success() -> Iterator[None]:
    """Hold back the warnings raised in the block: shown after it when it succeeds, dropped when it
    raises (timm's and torch's warnings about a model or file that then fails are noise before the
    one error line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def check_patch_grid(model: nn.Module, img_size: tuple[int, int]) -> None:
    """BackboneError unless the patch size divides the image size."""
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is not None and (img_size[0] % patch[0] or img_size[1] % patch[1]):
        raise BackboneError(
            f"image size {tuple(img_size)} is not a multiple of the patch size {tuple(patch)}; choose an arch "
            "or model.model_kwargs.patch_size that divides it"
        )
