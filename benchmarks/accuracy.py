"""Accuracy of the classical baselines (and optionally a trained model) next to the Cramér-Rao bound.

    python benchmarks/accuracy.py --data data/ --split test --n 3000 --out benchmarks/results/accuracy.json
    python benchmarks/accuracy.py --data data/ --split test --model runs/exp1 --out benchmarks/results/accuracy.json
    python benchmarks/accuracy.py --data data/ --split test --model runs/exp2 \
        --baselines-from benchmarks/results/accuracy.npz   # the baselines' answers of an earlier run, not run again

For each sample of the split: the ridge tracker on the stored image; the dechirping ML estimator
on the raw signal, regenerated with ``make_sample(config, seed, split, index)`` from the
manifest (the regenerated image must equal the stored pixels, else the run stops); the model's
prediction when ``--model`` is given; and the CRB of f_start and f_end for the sample's true
parameters. Statistics per chirp kind x SNR bin and per target (MAE, RMSE, median, p90, outlier
rate above one column or one frequency bin, kind accuracy, Pearson r) come from
``chirploc.metrics.evaluate_predictions``; for f_start and f_end each group also gets the bound
(RMS of the per-sample CRB standard deviations) and the ratio RMSE / bound.

Writes the JSON given by ``--out`` (with provenance and timings) and, next to it, a ``.npz`` with
the per-sample truth, predictions and bounds (for scatter plots). Tables: ``benchmarks/tables.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.baselines import BASELINES, OUTPUT_KEYS, run_baseline  # noqa: E402
from benchmarks.crb import BOUND_TARGETS, crb_f_hz_batch, grid_floor  # noqa: E402
from benchmarks.provenance import manifest_sha256, provenance  # noqa: E402
from chirpgen.config import KIND_NAMES, TARGETS, GenConfig  # noqa: E402
from chirpgen.plumbing import atomic_path, write_json_atomic  # noqa: E402
from chirpgen.sample import make_sample  # noqa: E402
from chirpgen.shards import manifest_config, read_manifest, read_split  # noqa: E402
from chirploc.metrics import bin_widths, evaluate_predictions, group_masks, snr_edges  # noqa: E402


def rms(values: np.ndarray) -> float:
    """Root mean square (NaN when empty): the bound of a group is the RMS of its per-sample CRB stds."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean(values**2))) if values.size else float("nan")


def _walk(masks: dict[str, Any], stats: dict[str, Any], fn) -> None:
    """Apply ``fn(mask, group_stats)`` to every group of an ``evaluate_predictions`` result."""
    fn(masks["overall"], stats["overall"])
    for section in ("per_kind", "per_snr"):
        for name, mask in masks[section].items():
            fn(mask, stats[section][name])
    for kind_name, bins in masks["per_kind_snr"].items():
        for label, mask in bins.items():
            fn(mask, stats["per_kind_snr"][kind_name][label])


def add_bound_ratios(stats: dict[str, Any], masks: dict[str, Any], crb_std: dict[str, np.ndarray]) -> None:
    """Add ``crb`` (RMS of per-sample bounds) and ``rmse_over_crb`` to each group's f_start/f_end stats."""

    def fn(mask: np.ndarray, group: dict[str, Any]) -> None:
        for target in BOUND_TARGETS:
            bound = rms(crb_std[target][mask])
            group[target]["crb"] = bound
            group[target]["rmse_over_crb"] = group[target]["rmse"] / bound if bound > 0 else float("nan")

    _walk(masks, stats, fn)


def bound_summary(masks: dict[str, Any], crb_std: dict[str, np.ndarray]) -> dict[str, Any]:
    """The bound per group on its own (for the tables' bound column)."""
    out: dict[str, Any] = {"overall": {}, "per_kind": {}, "per_snr": {}, "per_kind_snr": {}}

    def group(mask: np.ndarray) -> dict[str, Any]:
        return {"n": int(mask.sum()), **{t: rms(crb_std[t][mask]) for t in BOUND_TARGETS}}

    out["overall"] = group(masks["overall"])
    for section in ("per_kind", "per_snr"):
        out[section] = {name: group(m) for name, m in masks[section].items()}
    out["per_kind_snr"] = {k: {lab: group(m) for lab, m in b.items()} for k, b in masks["per_kind_snr"].items()}
    return out


def regenerate_signals(config: GenConfig, seed: int, split: str, index: np.ndarray,
                       images: np.ndarray) -> np.ndarray:
    """Raw signals of the samples, checked against the stored images (ValueError on a mismatch)."""
    signals = np.empty((len(index), config.signal.n_samples))
    for i, idx in enumerate(index):
        sample = make_sample(config, seed, split, int(idx))
        if not np.array_equal(sample.image, images[i]):
            raise ValueError(
                f"regenerated image of {split} sample {int(idx)} differs from the stored pixels; the data set "
                "was not made by this chirpgen version or its manifest config/seed is wrong"
            )
        signals[i] = sample.signal
    return signals


TIMED_STEPS = {"ridge": ("ridge",), "ml": ("regenerate", "ml")}  # each baseline's steps in "timings"


class Reused(NamedTuple):
    """Baseline predictions taken from an earlier run on the same records, and that run's timings."""

    preds: dict[str, dict[str, np.ndarray]]
    timings: dict[str, float]
    source: str


def reuse_baselines(npz: Path, baselines: tuple[str, ...], data: str | Path, split: str,
                    index: np.ndarray) -> Reused:
    """The chosen baselines' per-sample predictions from ``npz`` (written by this script, with its JSON
    beside it) when it was made on the same data set (manifest sha256), split and records; ValueError
    naming what differs otherwise."""
    sibling = npz.with_suffix(".json")
    if not npz.is_file() or not sibling.is_file():
        raise ValueError(f"--baselines-from {npz}: it and {sibling.name} beside it are needed; write them with "
                         "this script")
    record = json.loads(sibling.read_text())
    if record["provenance"].get("data_manifest_sha256") != manifest_sha256(data) or record["split"] != split:
        raise ValueError(f"--baselines-from {npz} was made on another data set or split than --data {data} "
                         f"--split {split}")
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    if not np.array_equal(arrays["index"], index):
        raise ValueError(f"--baselines-from {npz} holds other records ({len(arrays['index'])}) than this run "
                         f"({len(index)}); give the same --n")
    missing = [b for b in baselines if f"{b}_kind" not in arrays]
    if missing:
        raise ValueError(f"--baselines-from {npz} has no predictions of {missing}; run them with --baselines")
    preds = {b: {k: arrays[f"{b}_{k}"] for k in OUTPUT_KEYS} for b in baselines}
    steps = [f"{step}_s" for b in baselines for step in TIMED_STEPS[b]]  # per sample again below: the same records
    return Reused(preds, {k: record["timings"][k] for k in steps if k in record["timings"]}, str(npz))


def run_estimators(config: GenConfig, seed: int, split: str, batch: dict[str, np.ndarray], model: str | None,
                   baselines: tuple[str, ...], reused: Reused | None = None,
                   ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray], dict[str, float]]:
    """Predictions of each chosen estimator on ``batch`` (those in ``reused`` taken from there), a
    dense-head model's extra outputs (presence and fit confidence, for the .npz), and the seconds each
    took."""
    images = batch["image"]
    preds: dict[str, dict[str, np.ndarray]] = dict(reused.preds) if reused else {}
    timings: dict[str, float] = dict(reused.timings) if reused else {}
    baselines = tuple(b for b in baselines if b not in preds)
    extras: dict[str, np.ndarray] = {}
    if "ridge" in baselines:
        t = time.perf_counter()
        preds["ridge"] = run_baseline("ridge", images, config)
        timings["ridge_s"] = time.perf_counter() - t
    if "ml" in baselines:
        t = time.perf_counter()
        signals = regenerate_signals(config, seed, split, batch["index"], images)
        timings["regenerate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        preds["ml"] = run_baseline("ml", signals, config, images=images)
        timings["ml_s"] = time.perf_counter() - t
        del signals
    if model is not None:
        from chirploc.inference import load_predictor

        t = time.perf_counter()
        predictor = load_predictor(model)
        timings["model_load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        out = predictor.predict(images)
        timings["model_s"] = time.perf_counter() - t
        preds["model"] = {k: np.asarray(out[k]) for k in OUTPUT_KEYS}
        extras = {k: np.asarray(out[k]) for k in ("p_chirp", "confidence") if k in out}
    return preds, extras, timings


def evaluate(data: str | Path, split: str, n: int | None, model: str | None, baselines: tuple[str, ...],
             snr_step_db: float, baselines_from: Path | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run everything (the baselines read from ``baselines_from``, an earlier run's .npz, if given);
    returns (result dict for the JSON, per-sample arrays for the .npz)."""
    manifest = read_manifest(data)
    config = manifest_config(manifest)
    batch = read_split(data, split, n)
    reused = reuse_baselines(baselines_from, baselines, data, split, batch["index"]) if baselines_from else None
    truth = {k: batch[k].astype(np.float64) for k in TARGETS}
    truth["kind"] = batch["kind"].astype(np.int64)

    t = time.perf_counter()
    crb0, crb1 = crb_f_hz_batch(truth["kind"], config.signal.sample_rate_hz, truth["duration_s"],
                                truth["f_start_hz"], truth["f_end_hz"], batch["snr_db"])
    crb_s = time.perf_counter() - t
    crb_std = dict(zip(BOUND_TARGETS, (crb0, crb1), strict=True))
    preds, extras, timings = run_estimators(config, int(manifest["seed"]), split, batch, model, baselines, reused)
    timings = {"crb_s": crb_s, **timings}
    n_done = len(batch["image"])
    for name in list(timings):
        if name.endswith("_s") and name not in ("model_load_s",):
            timings[name.replace("_s", "_ms_per_sample")] = 1e3 * timings[name] / n_done

    edges = snr_edges(config.signal.snr_db, snr_step_db)
    masks = group_masks(truth["kind"], batch["snr_db"], edges)
    widths = bin_widths(config)
    estimators = {}
    for name, pred in preds.items():
        stats = evaluate_predictions(pred, truth, batch["snr_db"], edges, widths)
        add_bound_ratios(stats, masks, crb_std)
        estimators[name] = stats
    result = {
        "split": split,
        "n": n_done,
        "model_run": str(model) if model else None,
        "baselines_from": reused.source if reused else None,
        "kind_names": list(KIND_NAMES),
        "snr_edges_db": edges,
        "bin_widths": widths,
        "grid_floor": grid_floor(config),
        "bound": bound_summary(masks, crb_std),
        "estimators": estimators,
        "timings": timings,
    }
    arrays = {"snr_db": batch["snr_db"], "index": batch["index"],
              **{f"crb_{k}": v for k, v in crb_std.items()},
              **{f"true_{k}": v for k, v in truth.items()},
              **{f"{name}_{k}": np.asarray(v) for name, p in preds.items() for k, v in p.items()},
              **{f"model_extras_{k}": v for k, v in extras.items()}}
    return result, arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="chirpgen data set directory")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate")
    parser.add_argument("--n", type=int, default=None, help="first N samples of the split (default: all)")
    parser.add_argument("--model", default=None, help="chirploc run directory to evaluate next to the baselines")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated subset of ridge,ml ('' for none)")
    parser.add_argument("--baselines-from", type=Path, default=None,
                        help="an earlier run's .npz on the same records: take the baselines' predictions (and "
                             "timings) from it instead of running them again")
    parser.add_argument("--snr-step-db", type=float, default=5.0, help="width of the SNR bins")
    parser.add_argument("--out", default="benchmarks/results/accuracy.json", help="results JSON to write")
    args = parser.parse_args(argv)
    chosen = tuple(b for b in args.baselines.split(",") if b)
    bad = [b for b in chosen if b not in BASELINES]
    if bad:
        parser.error(f"--baselines {args.baselines!r}: unknown {bad}; choose from {list(BASELINES)}")
    if args.n is not None and args.n <= 0:
        parser.error(f"--n {args.n} must be > 0")
    t = time.perf_counter()
    try:
        result, arrays = evaluate(args.data, args.split, args.n, args.model, chosen, args.snr_step_db,
                                  args.baselines_from)
    except ValueError as exc:
        parser.error(str(exc))
    manifest = read_manifest(args.data)
    result["timings"]["total_s"] = time.perf_counter() - t
    result = {
        "provenance": provenance(data=str(args.data), data_manifest_sha256=manifest_sha256(args.data)),
        "config": manifest["config"],
        "dataset_seed": manifest["seed"],
        **result,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    npz = out.with_suffix(".npz")
    result["per_sample_file"] = npz.name
    write_json_atomic(out, result)
    with atomic_path(npz) as tmp, open(tmp, "wb") as f:  # a file object: savez would append ".npz" to a name
        np.savez_compressed(f, **arrays)
    print(f"wrote {out} and {npz} ({result['n']} samples, {result['timings']['total_s']:.1f} s)")
    for name, stats in result["estimators"].items():
        g = stats["overall"]
        print(f"  {name:<6} kind acc {g['kind_accuracy']:.3f}  " + "  ".join(
            f"{k} RMSE {g[k]['rmse']:.3f}" for k in TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
