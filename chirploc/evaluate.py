"""Evaluation of a run on a data set split: tables per chirp kind and SNR bin, as JSON and CSV.

chirploc evaluate runs/exp1 --data data/ --split test
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from chirpgen.config import NO_CHIRP_KIND, TARGETS, GenConfig
from chirpgen.plumbing import atomic_path, write_json_atomic
from chirpgen.shards import DatasetError, read_split
from chirploc.data import dataset_frame
from chirploc.inference import load_predictor
from chirploc.metrics import bin_widths, detection_stats, evaluate_predictions, snr_edges, table_rows


def same_frame(a: GenConfig, b: GenConfig) -> bool:
    """Whether two data sets share geometry, STFT and label ranges (their share of records without a
    chirp, ``signal.p_no_chirp``, may differ)."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d["signal"].pop("p_no_chirp", None)
    return da == db


def evaluate_run(
    run_dir: str | Path,
    data: str | Path,
    split: str = "test",
    out: str | Path | None = None,
    n: int | None = None,
    device: str = "cpu",
    which: str = "best",
) -> tuple[dict[str, Any], list[Path]]:
    """Predict a split with a run's model and write ``eval-<split>.json`` and ``.csv``.

    Args:
        run_dir: the trained run.
        data: a chirpgen data set of the same frame.
        split: the split to report on.
        out: directory for the files (default: ``run_dir/eval``).
        n: evaluate only the first ``n`` samples.
        device: 'cpu', 'cuda' or 'auto'.
        which: checkpoint, 'best' or 'last'.

    Returns:
        The result of ``evaluate_predictions`` (plus run/data info) and the paths written.
    """
    predictor = load_predictor(run_dir, device=device, which=which)
    frame = dataset_frame(data)
    if not same_frame(frame, predictor.frame):
        raise DatasetError(
            f"data set {str(data)!r} has frame {frame.name!r} {frame.image_shape} that differs from the model's "
            f"{predictor.frame.name!r} {predictor.frame.image_shape}; evaluate on data made with the run's frame.json"
        )
    arrays = read_split(data, split, n)
    pred = predictor.predict(arrays["image"])
    chirp = arrays["kind"] != NO_CHIRP_KIND  # errors are over records with a chirp
    true = {k: arrays[k][chirp] for k in (*TARGETS, "kind")}
    edges = snr_edges(frame.signal.snr_db)
    result = evaluate_predictions(
        {k: v[chirp] for k, v in pred.items()}, true, arrays["snr_db"][chirp], edges, bin_widths(frame)
    )
    if "p_chirp" in pred:
        result["detection"] = detection_stats(pred["p_chirp"], chirp, arrays["snr_db"], edges)
    result["info"] = {
        "run_dir": str(run_dir),
        "data": str(data),
        "split": split,
        "n": int(len(arrays["index"])),
        "checkpoint": which,
    }
    out = Path(out) if out is not None else Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / f"eval-{split}.json", out / f"eval-{split}.csv"
    write_json_atomic(json_path, result, default=float)
    write_table_csv(csv_path, table_rows(result))
    return result, [json_path, csv_path]


CSV_FIELDS = (
    "group", "name", "target", "unit", "n", "mae", "rmse", "median", "p90", "pearson_r", "outlier_rate",
    "kind_accuracy",
)


def write_table_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The rows of ``table_rows`` as CSV, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
