"""The classical baselines by name, run over a batch: ``ridge`` (:mod:`chirploc.ridge`, on the
uint8 images) and ``ml`` (``benchmarks/ml.py``, on the raw signals)."""

from __future__ import annotations

import numpy as np

from benchmarks.ml import ml_core
from chirpgen.config import GenConfig
from chirploc.ridge import Estimate, ImageGrid, ridge_core

OUTPUT_KEYS: tuple[str, ...] = Estimate._fields  # ("kind", *chirpgen.config.TARGETS)
BASELINES: tuple[str, ...] = ("ridge", "ml")


def run_baseline(name: str, inputs: np.ndarray, config: GenConfig, images: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Run one baseline over a batch.

    Args:
        name: ``"ridge"`` (inputs: (B, H, W) uint8 images) or ``"ml"`` (inputs: (B, n_samples) signals).
        inputs: the batch.
        config: the generation config of the batch.
        images: for ``"ml"``, the matching images (else they are rendered from the signals).

    Returns:
        dict of (B,) arrays keyed by ``OUTPUT_KEYS`` (``kind`` as int64, the others float64).

    Raises:
        ValueError: an unknown name, or inputs of another shape or dtype.
    """
    if name not in BASELINES:
        raise ValueError(f"baseline name={name!r} must be one of {list(BASELINES)}")
    inputs = np.asarray(inputs)
    grid = ImageGrid(config)
    if name == "ridge":
        if inputs.ndim != 3 or inputs.shape[1:] != config.image_shape or inputs.dtype != np.uint8:
            raise ValueError(f"ridge inputs of shape {inputs.shape}, dtype {inputs.dtype} must be uint8 (B, *{config.image_shape})")
        rows = [ridge_core(img, grid).estimate for img in inputs]
    else:
        if inputs.ndim != 2 or inputs.shape[1] != config.signal.n_samples:
            raise ValueError(f"ml inputs of shape {inputs.shape} must be (B, {config.signal.n_samples})")
        if images is None:
            from chirpgen.spectrogram import render_image

            images = render_image(inputs, config)
        rows = [ml_core(sig.astype(np.float64), img, grid) for sig, img in zip(inputs, images, strict=True)]
    out = {k: np.array([getattr(r, k) for r in rows], dtype=np.float64) for k in OUTPUT_KEYS}
    out["kind"] = out["kind"].astype(np.int64)
    return out
