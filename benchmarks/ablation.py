"""Ablation at one training budget: regression head vs dense head + fit, LoRA vs full fine-tuning.

    python benchmarks/ablation.py --backbone runs/reference-cpu_dense-pre [--images 19200]

Every variant trains on the same number of images (``--images``, one epoch of that many records
drawn from the benchmark train split with 5 % noise-only records, ``data/bench-cpu_dense``) with
the recipe ``benchmarks/reference/cpu_dense.yaml`` changed only where the variant says (the
regression head trains on the benchmark train split itself), then is
scored on the first ``--n-test`` records of the benchmark test split. "from scratch" variants start
from random weights; "pretrained" ones from the dense reference pretrain run (its backbone, and its
head where the head matches). Results: ``benchmarks/results/ablation.json``, one row per variant
with trainable parameters, images/s while training, minutes, the four medians and kind accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.config import TARGETS  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402

RECIPE = REPO / "benchmarks" / "reference" / "cpu_dense.yaml"
REGRESSION = ["model.head=regression", "model.model_kwargs={embed_dim: 128, depth: 6, num_heads: 4}"]
VARIANTS = {  # name: (recipe overrides, starts from the pretrain run); the regression head trains on the
    # benchmark train split itself (it cannot learn from noise-only records), the others on data/bench-cpu_dense
    "regression head, 16x16 patches, full, from scratch": (["model.adapt=full", *REGRESSION], False),
    "dense head + fit, strips, full, from scratch": (["model.adapt=full"], False),
    "dense head + fit, strips, full fine-tuning of the pretrained backbone": (["model.adapt=full"], True),
    "dense head + fit, strips, LoRA on the pretrained backbone": ([], True),
}


def run_variant(name: str, overrides: list[str], backbone: Path | None, args: argparse.Namespace) -> dict:
    """Train one variant into ``args.runs``, score it on the test records; return its table row."""
    from chirpgen.shards import read_split
    from chirploc.config import load_train_config
    from chirploc.inference import load_predictor
    from chirploc.train import train

    out = args.runs / name.replace(" ", "_").replace(",", "").replace("+", "and")
    budget = ["epochs=1", f"epoch_samples={args.images}", "lr=1.0e-3", "warmup_steps=50", "max_val_samples=500"]
    weights = [f"model.weights={backbone}"] if backbone else ["model.weights=none"]
    recipe = load_train_config(RECIPE, [*budget, *weights, *overrides])
    data = args.test_data if recipe.model.head == "regression" else args.train_data
    if not (out / "best" / "checkpoint.json").is_file():
        train(data, out, recipe)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    test = read_split(args.test_data, "test", args.n_test)
    predictor = load_predictor(out, engine="torch")  # counts the torch model's parameters
    pred = predictor.predict(test["image"])
    row = {
        "variant": name,
        "trainable_params": sum(p.numel() for p in predictor.model.parameters() if p.requires_grad),
        "images": args.images,
        "images_per_s": metrics[-1]["images_per_s"],
        "minutes": sum(m["epoch_time_s"] for m in metrics) / 60,
        "median": {k: float(np.median(np.abs(pred[k] - test[k]))) for k in TARGETS},
        "kind_accuracy": float(np.mean(pred["kind"] == test["kind"])),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, required=True, help="the dense reference pretrain run")
    parser.add_argument("--images", type=int, default=19_200, help="training images per variant")
    parser.add_argument("--train-data", type=Path, default=REPO / "data" / "bench-cpu_dense")
    parser.add_argument("--test-data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ablation")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ablation.json")
    args = parser.parse_args()
    rows = [run_variant(name, overrides, args.backbone if pre else None, args)
            for name, (overrides, pre) in VARIANTS.items()]
    record = {"benchmark": "ablation", "provenance": provenance(recipe=str(RECIPE.relative_to(REPO))),
              "n_test": args.n_test, "rows": rows}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
