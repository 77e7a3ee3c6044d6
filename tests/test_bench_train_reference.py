"""The default model's card states the numbers of the frame, data and evaluation it was made from."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.train_reference import model_card, read_card_inputs
from chirpgen.config import KIND_NAMES, GenConfig, load_config
from chirploc.metrics import evaluate_predictions

PROV = {"git_commit": "abc123", "machine": {"cpu": "test cpu", "cpu_count": 2}}


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def fake_run(tmp_path, n_test: int):
    """A packaged model of a (110, 64)-image frame, its evaluation on n_test samples and two manifests."""
    frame = load_config("default").to_dict()
    frame["stft"].update(hop=240, freq_bins=110)
    dest = tmp_path / "package"
    write_json(dest / "frame.json", frame)
    model = {"arch": "vit_tiny_patch16_224", "model_kwargs": {"depth": 2}, "lora_r": 4, "lora_alpha": 8.0,
             "lora_mlp": False}
    write_json(dest / "config.json", {"model": model, "epochs": 3, "lr": 2e-4, "decay_epochs": 1,
                                      "pretrain": {"epochs": 9, "lr": 1e-3}})
    write_json(dest / "best" / "checkpoint.json", {"epoch": 5})
    rng = np.random.default_rng(0)
    true = {"kind": rng.integers(0, len(KIND_NAMES), n_test), "t_start_s": rng.uniform(0, 45, n_test),
            "f_start_hz": rng.uniform(1, 100, n_test), "f_end_hz": rng.uniform(1, 100, n_test),
            "duration_s": rng.uniform(1, 15, n_test)}
    pred = {k: v + (0 if k == "kind" else 0.5) for k, v in true.items()}
    result = evaluate_predictions(pred, true, rng.uniform(-10, 10, n_test), [-10.0, 0.0, 10.0])
    result["info"] = {"split": "test", "n": n_test}
    write_json(tmp_path / "eval-test.json", json.loads(json.dumps(result, default=float)))
    pre_config = load_config("default").to_dict()
    pre_config["signal"]["snr_db"] = [3.0, 21.0]
    write_json(tmp_path / "data" / "manifest.json",
               {"n": 1234, "seed": 2026, "split_counts": {"train": 987, "val": 124, "test": 123}, "config": frame,
                "shards": []})
    write_json(tmp_path / "pre" / "manifest.json",
               {"n": 555, "seed": 7, "split_counts": {"train": 444, "val": 56, "test": 55}, "config": pre_config,
                "shards": []})
    return dest, GenConfig.from_dict(frame)


def test_card_numbers_follow_the_files(tmp_path):
    dest, frame = fake_run(tmp_path, n_test=17)
    inputs = read_card_inputs(dest, tmp_path / "recipe.yaml", tmp_path / "eval-test.json", tmp_path / "data",
                              tmp_path / "pre", {"pretrain": 1.5, "train": 2.25}, 3 * 2**20)
    card = model_card(inputs, PROV)
    assert frame.image_shape == (110, 64)
    assert "image 110 x 64 grey levels (rows 0-109 Hz" in card
    assert f"columns {frame.column_s:.4g} s apart" in card
    assert "benchmark train split (987 samples" in card
    assert "chirpgen set (SNR 3 to 21 dB, seed 7) of 555 samples (444 train)" in card
    assert "(benchmark test split, 17 samples)" in card
    # the pretraining keeps the recipe's decay, which its own section does not override
    assert "(444 train), 9 epochs at lr 0.001 (cut on plateaus), falling linearly towards zero over the last " \
           "epoch, 1.5 min of epochs" in card
    assert "3 epochs at lr 0.0002 (cut on plateaus), falling linearly towards zero over the last epoch, 2.2 min" in card
    assert "Best epoch 5" in card and "3.0 MB" in card and "LoRA r=4, alpha=8" in card
    for typed in ("128 x 128", "24,000", "3,000"):
        assert typed not in card
