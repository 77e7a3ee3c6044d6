"""A real learning check: the debug recipe (pretrain + LoRA) beats the training mean by 3x in MAE
and gets the kind right well above chance (1/3).

Slow (about 4 minutes on 2 CPU cores): ``pytest -m slow tests/test_loc_learning.py``.
"""

from pathlib import Path

import numpy as np
import pytest

from chirpgen.config import TARGETS, load_config
from chirpgen.dataset import make_dataset
from chirpgen.shards import read_split
from chirploc.config import load_train_config
from chirploc.inference import load_predictor
from chirploc.train import train

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "debug.yaml"


@pytest.mark.slow
def test_debug_recipe_beats_the_training_mean_3x_and_chance_at_kind(tmp_path):
    frame = load_config("default", overrides=["signal.snr_db=[5, 15]"])
    make_dataset(tmp_path / "data", 10000, frame, seed=2, workers=2)
    recipe = load_train_config(RECIPE)
    train(tmp_path / "data", tmp_path / "pre", recipe.for_pretrain(), pretrain=True)
    recipe.model.weights = str(tmp_path / "pre")
    train(tmp_path / "data", tmp_path / "run", recipe)

    trainset, test = read_split(tmp_path / "data", "train"), read_split(tmp_path / "data", "test")
    pred = load_predictor(tmp_path / "run").predict(test["image"])
    for k in TARGETS:
        mae_model = np.mean(np.abs(pred[k] - test[k]))
        mae_mean = np.mean(np.abs(trainset[k].mean() - test[k]))
        assert mae_model * 3 <= mae_mean, (
            f"{k}: model MAE {mae_model:.3f} vs training-mean MAE {mae_mean:.3f}"
        )
    assert np.mean(pred["kind"] == test["kind"]) >= 0.5
