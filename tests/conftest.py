"""Fixtures shared by test modules: a tiny trained dense-head run on a data set with noise-only records."""

import pytest

from chirpgen.config import load_config

DENSE_TINY = [
    "model.model_kwargs={embed_dim: 16, depth: 1, num_heads: 2, patch_size: [128, 2]}",
    "model.global_pool=flatten",
    "model.head=dense",
    "model.head_hidden=16",
    "model.adapt=full",
    "batch_size=16",
    "epochs=1",
    "num_threads=1",
    "amp=off",
    "device=cpu",
]


@pytest.fixture(scope="session")
def dense_run(tmp_path_factory):
    from chirpgen.dataset import make_dataset
    from chirploc.config import load_train_config
    from chirploc.train import train

    base = tmp_path_factory.mktemp("dense")
    make_dataset(base / "data", 120, load_config("default", overrides=["signal.p_no_chirp=0.3"]), seed=4)
    train(base / "data", base / "run", load_train_config(None, DENSE_TINY))
    return base
