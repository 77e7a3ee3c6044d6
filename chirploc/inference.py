"""Predictions in physical units from a trained run: ``load_predictor(run_dir).predict(images)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from chirpgen.config import TARGETS, GenConfig
from chirploc.checkpoint import CheckpointError, load_run
from chirploc.data import TargetNormalisation
from chirploc.model import ChirpLocModel, prepare_images
from chirploc.runtime import resolve_device

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "default"


class Predictor:
    """A trained model with its frame and target normalisation.

    Attributes:
        frame: the GenConfig of the data set the model was trained on (its image geometry and ranges).
    """

    def __init__(
        self,
        model: ChirpLocModel,
        frame: GenConfig,
        normalisation: TargetNormalisation,
        device: torch.device | None = None,
        batch_size: int = 256,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device).eval()
        self.frame = frame
        self.normalisation = normalisation
        self.batch_size = batch_size

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Localise the chirp in each image.

        Args:
            images: uint8 (B, H, W) spectrograms of the frame's geometry (or one (H, W) image).

        Returns:
            ``t_start_s, f_start_hz, f_end_hz, duration_s`` as float64 (B,) in seconds and Hz (kept
            inside the frame's label ranges, so e.g. no frequency below the band), and
            ``kind`` as int64 (B,) indices into ``KIND_NAMES``. A dense-head model also gives
            ``p_chirp`` (probability that the image holds a chirp at all) and ``confidence`` (the
            mean log-probability of the fitted curve), float64 (B,).

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
        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            out = self.model(prepare_images(batch.to(self.device)))
            parts.append(self.model.decode(out, self.normalisation))
        if not parts:
            return {**{k: np.zeros(0) for k in TARGETS}, "kind": np.zeros(0, np.int64)}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def load_predictor(run_dir: str | Path | None, device: str = "cpu", which: str = "best") -> Predictor:
    """Load the predictor of a run directory; ``None`` means the packaged default model.

    Raises:
        CheckpointError: no packaged default model (when ``run_dir`` is None), or a bad run directory.
    """
    if run_dir is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise CheckpointError(
                f"no packaged default model at {DEFAULT_MODEL_DIR}; pass --model RUN (a chirploc train --out directory)"
            )
        run_dir = DEFAULT_MODEL_DIR
    run = load_run(run_dir, which)
    return Predictor(run.model, run.frame, run.normalisation, resolve_device(device))
