"""Ablation at one training budget: regression head vs dense head + fit, LoRA vs full fine-tuning,
on the benchmark frame and on another frame (the audio preset).

    python benchmarks/ablation.py --backbone runs/reference-cpu_dense-pre [--images 19200]

Every variant trains on the same number of images (``--images``, one epoch of that many records
drawn from the benchmark train split with 5 % noise-only records, ``data/bench-cpu_dense``) with
the recipe ``benchmarks/reference/cpu_dense.yaml`` changed only where the variant says (the
regression head trains on the benchmark train split itself), then is
scored on the first ``--n-test`` records of the benchmark test split. "from scratch" variants start
from random weights; "pretrained" ones from the dense reference pretrain run (its backbone, and its
head where the head matches). Results: ``benchmarks/results/ablation.json``, one row per variant
with trainable parameters, images/s while training, minutes, the four medians, RMSEs and kind accuracy.

Another frame: the same pretrained backbone adapted, by LoRA or in full, to the ``audio`` preset
(1 s at 16 kHz, 0.5-7.5 kHz; a data set of ``AUDIO_N`` records made here, 5 % without a chirp), with
the dense head's frequency bins and target width set to half a row (31.25 Hz) instead of 0.5 Hz; it
trains and is scored on that set's train and test splits. Each frame also gets a row for the ridge
tracker on the same test records.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.config import TARGETS  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402

RECIPE = REPO / "benchmarks" / "reference" / "cpu_dense.yaml"
REGRESSION = ["model.head=regression", "model.model_kwargs={embed_dim: 128, depth: 6, num_heads: 4}"]
AUDIO = ["model.freq_step_hz=31.25", "model.freq_sigma_hz=31.25"]  # half a row of the audio frame
AUDIO_N, AUDIO_SEED = 30_000, 2026
VARIANTS = {  # name: (recipe overrides, starts from the pretrain run, frame); the regression head trains on
    # the benchmark train split itself (it cannot learn from noise-only records), the others on data/bench-cpu_dense
    "regression head, 16x16 patches, full, from scratch": (["model.adapt=full", *REGRESSION], False, "default"),
    "dense head + fit, strips, full, from scratch": (["model.adapt=full"], False, "default"),
    "dense head + fit, strips, full fine-tuning of the pretrained backbone": (["model.adapt=full"], True, "default"),
    "dense head + fit, strips, LoRA on the pretrained backbone": ([], True, "default"),
    "audio frame: dense head + fit, full fine-tuning of the pretrained backbone": (["model.adapt=full", *AUDIO], True,
                                                                                     "audio"),
    "audio frame: dense head + fit, LoRA on the pretrained backbone": (AUDIO, True, "audio"),
}


def test_records(data: Path, n: int) -> dict[str, np.ndarray]:
    """The chirps among the first ``n`` records of the test split of ``data``."""
    from chirpgen.config import NO_CHIRP_KIND
    from chirpgen.shards import read_split

    test = read_split(data, "test", n)
    chirp = test["kind"].astype(np.int64) != NO_CHIRP_KIND
    return {k: v[chirp] for k, v in test.items()}


def scores(pred: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict[str, Any]:
    """Medians and RMSEs of the four targets and kind accuracy of ``pred`` on ``test``."""
    err = {k: np.abs(pred[k] - test[k]) for k in TARGETS}
    return {"median": {k: float(np.median(e)) for k, e in err.items()},
            "rmse": {k: float(np.sqrt(np.mean(e**2))) for k, e in err.items()},
            "kind_accuracy": float(np.mean(pred["kind"] == test["kind"].astype(np.int64)))}


def run_variant(name: str, overrides: list[str], backbone: Path | None, frame: str, args: argparse.Namespace) -> dict:
    """Train one variant into ``args.runs``, score it on the test records; return its table row."""
    from chirploc.config import load_train_config
    from chirploc.inference import load_predictor
    from chirploc.train import train

    out = args.runs / name.replace(" ", "_").replace(",", "").replace("+", "and").replace(":", "")
    budget = ["epochs=1", f"epoch_samples={args.images}", "lr=1.0e-3", "warmup_steps=50", "max_val_samples=500"]
    weights = [f"model.weights={backbone}"] if backbone else ["model.weights=none"]
    recipe = load_train_config(RECIPE, [*budget, *weights, *overrides])
    train_data, test_data = frame_data(frame, args)
    data = test_data if recipe.model.head == "regression" else train_data
    if not (out / "best" / "checkpoint.json").is_file():
        train(data, out, recipe)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    test = test_records(test_data, args.n_test)
    predictor = load_predictor(out, engine="torch")  # counts the torch model's parameters
    row = {
        "variant": name,
        "frame": frame,
        "trainable_params": sum(p.numel() for p in predictor.model.parameters() if p.requires_grad),
        "images": args.images,
        "images_per_s": metrics[-1]["images_per_s"],
        "minutes": sum(m["epoch_time_s"] for m in metrics) / 60,
        **scores(predictor.predict(test["image"]), test),
    }
    print(json.dumps(row), flush=True)
    return row


def ridge_row(frame: str, args: argparse.Namespace) -> dict:
    """The ridge tracker on the same test records of ``frame``: no training."""
    from benchmarks.baselines import run_baseline
    from chirpgen.shards import manifest_config, read_manifest

    _, test_data = frame_data(frame, args)
    test = test_records(test_data, args.n_test)
    pred = run_baseline("ridge", test["image"], manifest_config(read_manifest(test_data)))
    return {"variant": f"{'audio frame: ' if frame == 'audio' else ''}ridge tracker (no training)", "frame": frame,
            "trainable_params": 0, "images": 0, "images_per_s": float("nan"), "minutes": 0.0, **scores(pred, test)}


def frame_data(frame: str, args: argparse.Namespace) -> tuple[Path, Path]:
    """(train data, test data) of a frame; the audio set is made on first use."""
    if frame == "default":
        return args.train_data, args.test_data
    audio = args.audio_data
    if not (audio / "manifest.json").is_file():
        subprocess.run([str(Path(sys.executable).parent / "chirpgen"), "make", "--preset", "audio", "--n", str(AUDIO_N),
                        "--seed", str(AUDIO_SEED), "--set", "signal.p_no_chirp=0.05", "--out", str(audio), "--quiet"],
                       check=True)
    return audio, audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, required=True, help="the dense reference pretrain run")
    parser.add_argument("--images", type=int, default=19_200, help="training images per variant")
    parser.add_argument("--train-data", type=Path, default=REPO / "data" / "bench-cpu_dense")
    parser.add_argument("--test-data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--audio-data", type=Path, default=REPO / "data" / "audio-cpu_dense")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ablation")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ablation.json")
    args = parser.parse_args()
    rows = [run_variant(name, overrides, args.backbone if pre else None, frame, args)
            for name, (overrides, pre, frame) in VARIANTS.items()]
    rows += [ridge_row(frame, args) for frame in ("default", "audio")]
    record = {"benchmark": "ablation", "provenance": provenance(recipe=str(RECIPE.relative_to(REPO))),
              "n_test": args.n_test, "rows": rows}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
