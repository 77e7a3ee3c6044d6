"""Predictions in physical units from a trained run: ``load_predictor(run_dir).predict(images)``.

Two runtimes give the same predictions (to float32 rounding): torch with timm (any run, any
device), and numpy (chirploc.engine: packaged dense-head models on the CPU, no torch import, which
makes a one-file ``describe`` start in a fraction of a second). ``engine='auto'`` takes numpy where
it can.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chirpgen.config import TARGETS, GenConfig

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "default"
ENGINES = ("auto", "numpy", "torch")


class Predictor:
    """A trained model with its frame.

    Attributes:
        frame: the GenConfig of the data set the model was trained on (its image geometry and ranges).
        engine: 'numpy' or 'torch', the runtime that computes the predictions.
        model: the torch ChirpLocModel (torch runtime only, else None).
        normalisation: the target normalisation (torch runtime only, else None).
    """

    def __init__(
        self,
        predict_batch: Callable[[np.ndarray], dict[str, np.ndarray]],
        frame: GenConfig,
        engine: str,
        batch_size: int = 256,
        model: Any = None,
        normalisation: Any = None,
    ) -> None:
        self._predict_batch = predict_batch
        self.frame = frame
        self.engine = engine
        self.batch_size = batch_size
        self.model = model
        self.normalisation = normalisation

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Localise the chirp in each image.

        Args:
            images: uint8 (B, H, W) spectrograms of the frame's geometry (or one (H, W) image).

        Returns:
            ``t_start_s, f_start_hz, f_end_hz, duration_s`` as float64 (B,) in seconds and Hz (kept
            inside the frame's label ranges, so e.g. no frequency below the band), and
            ``kind`` as int64 (B,) indices into ``KIND_NAMES``. A dense-head model also gives
            ``p_chirp`` (probability that the image holds a chirp at all), ``confidence`` (the
            mean log-probability of the fitted curve) as float64 (B,) and ``fallback`` (bool (B,):
            labels are the middle of the frame's ranges because the image hardly shows a chirp);
            read from the pixels, also ``evidence`` (the curve's matched statistic Z), ``ridge``
            (bool: the ridge tracker answered) and ``trust`` (weight of the fit against the middle
            of the ranges in the start time and frequencies; chirploc.fit.apply_fallback).

        Raises:
            ValueError: images of another shape or dtype than the frame's uint8 (H, W).
        """
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.dtype != np.uint8:
            raise ValueError(f"images have dtype {images.dtype}; give the uint8 spectrogram pixels")
        if images.ndim != 3 or images.shape[1:] != tuple(self.frame.image_shape):
            raise ValueError(
                f"images of shape {images.shape[1:] if images.ndim == 3 else images.shape} do not match the "
                f"model's (H, W) = {tuple(self.frame.image_shape)}"
            )
        parts = [self._predict_batch(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        if not parts:
            return {**{k: np.zeros(0) for k in TARGETS}, "kind": np.zeros(0, np.int64)}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _torch_predictor(run_dir: Path, device: str, which: str) -> Predictor:
    import torch

    from chirploc.checkpoint import load_run
    from chirploc.model import prepare_images
    from chirploc.runtime import resolve_device

    run = load_run(run_dir, which)
    dev = resolve_device(device)
    model = run.model.to(dev).eval()

    @torch.no_grad()
    def predict_batch(images: np.ndarray) -> dict[str, np.ndarray]:
        batch = torch.from_numpy(np.array(images, copy=True)).to(dev)
        return model.decode(model(prepare_images(batch)), run.normalisation, np.asarray(images))

    return Predictor(predict_batch, run.frame, "torch", model=model, normalisation=run.normalisation)


def _numpy_predictor(run_dir: Path, which: str) -> Predictor:
    from chirpgen.plumbing import read_json
    from chirploc.engine import load_engine
    from chirploc.rundir import CheckpointError, read_checkpoint

    folder, _ = read_checkpoint(run_dir, which)
    frame = GenConfig.from_dict(read_json(run_dir / "frame.json", CheckpointError, "train again"))
    try:
        engine = load_engine(run_dir, frame, folder.name)
    except CheckpointError:
        raise
    except ValueError as exc:
        raise CheckpointError(f"{exc}; use --engine torch") from None
    return Predictor(engine.predict, frame, "numpy")


def load_predictor(
    run_dir: str | Path | None, device: str = "cpu", which: str = "best", engine: str = "auto"
) -> Predictor:
    """Load the predictor of a run directory; ``None`` means the packaged default model.

    Args:
        run_dir: a run directory (chirploc train --out) or a packaged model (chirploc package --out).
        device: where the torch runtime runs ('cpu', 'cuda', 'auto').
        which: the checkpoint, 'best' or 'last'.
        engine: 'auto' (numpy for a packaged dense-head model on the CPU, else torch), 'numpy' or 'torch'.

    Raises:
        CheckpointError: no packaged default model (when ``run_dir`` is None), a bad run directory,
            or ``engine='numpy'`` for a model the numpy runtime cannot run.
    """
    from chirploc.engine import engine_supports
    from chirploc.rundir import CheckpointError

    if engine not in ENGINES:
        raise CheckpointError(f"engine {engine!r} must be one of {list(ENGINES)}")
    if run_dir is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise CheckpointError(
                f"no packaged default model at {DEFAULT_MODEL_DIR}; pass --model RUN (a chirploc train --out directory)"
            )
        run_dir = DEFAULT_MODEL_DIR
    run_dir = Path(run_dir)
    numpy_ok = device == "cpu" and engine_supports(run_dir, which)
    if engine == "numpy" and not numpy_ok:
        raise CheckpointError(
            f"the numpy runtime runs packaged dense-head ViTs on the CPU only, not {str(run_dir)!r} on {device}; "
            "make one with chirploc package, or use --engine torch"
        )
    if engine != "torch" and numpy_ok:
        return _numpy_predictor(run_dir, which)
    return _torch_predictor(run_dir, device, which)
