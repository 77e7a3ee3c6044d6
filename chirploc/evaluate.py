"""Evaluation of a run on a data set split: tables per chirp kind and SNR bin, as JSON and CSV.

chirploc evaluate runs/exp1 --data data/ --split test
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from chirpgen.config import NO_CHIRP_KIND, TARGETS, GenConfig, dotted_value
from chirpgen.plumbing import UserError, atomic_path, file_in_the_way, write_json_atomic
from chirpgen.shards import DatasetError, read_split
from chirploc.data import dataset_frame
from chirploc.inference import load_predictor
from chirploc.metrics import bin_widths, detection_stats, evaluate_predictions, snr_edges, table_rows

FREE_KEYS = ("p_no_chirp", "snr_db", "noise", "splits", "name")  # a model may be evaluated on data that differs in these


def frame_differences(a: GenConfig, b: GenConfig) -> list[str]:
    """The dotted keys in which two data sets' geometry, STFT and label ranges differ. Their SNR
    range, noise, share of records without a chirp, split fractions and name (``FREE_KEYS``) may
    differ: a model is rightly tested at other SNRs than it saw."""
    da, db = a.to_dict(), b.to_dict()
    keys = []
    for section in sorted((set(da) | set(db)) - set(FREE_KEYS)):
        x, y = da.get(section), db.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += [f"{section}.{k}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k) and k not in FREE_KEYS]
        elif x != y:
            keys.append(section)
    return keys


def same_frame(a: GenConfig, b: GenConfig) -> bool:
    """Whether two data sets share geometry, STFT and label ranges (see :func:`frame_differences`)."""
    return not frame_differences(a, b)


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
    blocked = file_in_the_way(out) if out else None
    if blocked is not None:
        raise UserError(f"--out {str(out)!r} cannot be made: {str(blocked)!r} is a file; choose another --out")
    predictor = load_predictor(run_dir, device=device, which=which)
    if predictor.normalisation is None and (Path(run_dir) / "normalisation.json").is_file():
        # the numpy runtime does not read it, but a damaged run file is named, as the torch runtime does
        from chirploc.checkpoint import read_run_normalisation

        read_run_normalisation(run_dir)
    frame = dataset_frame(data)
    differ = frame_differences(frame, predictor.frame)
    if differ:
        d, m = frame.to_dict(), predictor.frame.to_dict()
        shown = "; ".join(f"{k}: data {dotted_value(d, k)!r}, model {dotted_value(m, k)!r}" for k in differ[:3])
        raise DatasetError(
            f"data set {str(data)!r} was made with another frame than the model's ({shown}); evaluate on data "
            "made with the run's frame.json"
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
