"""Record a model experiment in the experiment log: its recipe, training time and speed, and its
accuracy on the benchmark test split (from ``chirploc evaluate``), one record per run.

    chirploc evaluate RUN --data data/bench --split test
    python benchmarks/experiments.py RUN --name "pixel skip, 2 x 20k" --note "what it tests"

Records go to ``benchmarks/results/experiments.json`` (a run recorded again replaces its record);
``benchmarks/readme.py`` renders them as the experiment table of benchmarks/README.md, so that the
next person need not repeat an experiment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.config import TARGETS  # noqa: E402
from chirpgen.plumbing import read_json, write_json_atomic  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "experiments.json"
# besides the model section's changes from the defaults
RECIPE_KEYS = ("epochs", "epoch_samples", "batch_size", "lr", "decay_epochs")


def experiment_record(run: Path, name: str, note: str) -> dict[str, Any]:
    """The log record of a trained and evaluated run directory."""
    fix = "train and evaluate the run first (chirploc evaluate RUN --data data/bench --split test)"
    config = read_json(run / "config.json", fix=fix)
    evaluation = read_json(run / "eval" / "eval-test.json", fix=fix)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    overall = evaluation["overall"]
    from chirploc.config import ModelConfig

    defaults = ModelConfig().__dict__
    model = {k: v for k, v in config["model"].items() if defaults.get(k) != v and k != "weights"}
    return {
        "name": name,
        "run": str(run.resolve().relative_to(REPO) if run.resolve().is_relative_to(REPO) else run),
        "note": note,
        "recipe": {"model": model, **{k: config.get(k, 0) for k in RECIPE_KEYS}},
        "epochs_run": len(metrics),
        "minutes": sum(m["epoch_time_s"] for m in metrics) / 60,
        "images_per_s": sum(m["images_per_s"] for m in metrics) / max(len(metrics), 1),
        "test_n": overall["n"],
        "median": {k: overall[k]["median"] for k in TARGETS},
        "kind_accuracy": overall["kind_accuracy"],
        "pearson_r_t_start": overall["t_start_s"]["pearson_r"],
        "provenance": provenance(command="experiments.py"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a trained run directory with eval/eval-test.json")
    parser.add_argument("--name", required=True, help="short name of the experiment")
    parser.add_argument("--note", default="", help="what it tests or found")
    args = parser.parse_args()
    record = experiment_record(args.run, args.name, args.note)
    records = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    records = [r for r in records if r["run"] != record["run"]] + [record]
    write_json_atomic(RESULTS, records)
    print(json.dumps({k: record[k] for k in ("name", "minutes", "median", "kind_accuracy")}, indent=1))


if __name__ == "__main__":
    main()
