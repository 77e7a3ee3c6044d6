"""Choose a dense-head run's fallback threshold on a val split, and write it into the run.

    python benchmarks/calibrate.py RUN --data data/bench-cpu_dense [--split val]

Below the threshold ``model.fallback_p_chirp`` (and above 0.5) the model answers the middle of the
frame's label ranges instead of its fit: when the image hardly shows the chirp, that is the answer
with the least expected squared error. The threshold is the one of a grid that minimises the sum over
the four targets of RMSE / (width of the target's range) on the chirps of the given split (never the
test split). Writes ``model.fallback_p_chirp`` into RUN/config.json and the curve into
``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, manifest_sha256, provenance  # noqa: E402
from chirpgen.config import NO_CHIRP_KIND, TARGETS  # noqa: E402
from chirpgen.plumbing import read_json, write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a dense-head run directory")
    parser.add_argument("--data", type=Path, required=True, help="data set of the run's frame")
    parser.add_argument("--split", choices=("train", "val"), default="val")
    parser.add_argument("--n", type=int, default=3000, help="first N records of the split")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "calibration.json")
    args = parser.parse_args()
    from chirploc.fit import apply_fallback
    from chirploc.inference import load_predictor

    predictor = load_predictor(args.run)
    head = predictor.model.head
    if not hasattr(head, "priors"):
        raise SystemExit(f"{args.run} has no dense head: nothing to calibrate")
    arrays = read_split(args.data, args.split, args.n)
    chirp = arrays["kind"] != NO_CHIRP_KIND
    pred = predictor.predict(arrays["image"][chirp])
    priors = head.priors
    spans = {k: np.ptp(getattr(priors, k) if k in ("t_start_s", "duration_s") else priors.freq_hz) for k in TARGETS}
    curve = []
    for threshold in THRESHOLDS:
        fixed = apply_fallback(pred, dataclasses.replace(priors, fallback_p_chirp=threshold))
        rmse = {k: float(np.sqrt(np.mean((fixed[k] - arrays[k][chirp]) ** 2))) for k in TARGETS}
        cost = sum(rmse[k] / spans[k] for k in TARGETS)
        curve.append({"threshold": threshold, "fallback_rate": float(fixed["fallback"].mean()), "rmse": rmse,
                      "cost": cost})
    best = min(curve, key=lambda c: c["cost"])
    config = read_json(args.run / "config.json", fix="train the run again")
    config["model"]["fallback_p_chirp"] = best["threshold"]
    write_json_atomic(args.run / "config.json", config)
    record = {"benchmark": "calibration", "provenance": provenance(data=str(args.data),
              data_manifest_sha256=manifest_sha256(args.data), run=str(args.run)),
              "split": args.split, "n": int(chirp.sum()), "chosen": best["threshold"], "curve": curve}
    write_json_atomic(args.out, record)
    for c in curve:
        print(f"p_chirp < {c['threshold']:.2f}: fallback {c['fallback_rate']:.3f}, cost {c['cost']:.4f}, "
              + ", ".join(f"{k} RMSE {v:.3f}" for k, v in c["rmse"].items()))
    print(f"chose fallback_p_chirp = {best['threshold']} (written into {args.run / 'config.json'})")


if __name__ == "__main__":
    main()
