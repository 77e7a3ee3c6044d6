"""What each step of a dense-head model's decode (chirploc.decode) adds, on one split.

    python benchmarks/decode_steps.py [--model chirploc/models/default] [--data data/bench] [--split test] [--n 3000]

The model's maps are computed once; then five decodes of them: the fit on the maps alone, plus the
pixel refinement and kind choice, plus the peak track in the kind choice, plus the ridge tracker's
second opinion, plus the start time and frequencies of weak curves pulled towards the middle of
the ranges (the full decode, what the model answers). Per step: RMSE and median of each target and kind accuracy over the chirps,
overall and per SNR bin, the share of images the ridge tracker answered, and the decode's time.
Writes ``benchmarks/results/decode_steps.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, manifest_sha256, provenance  # noqa: E402
from chirpgen.config import NO_CHIRP_KIND, TARGETS  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402

SNR_BINS = ((-10.0, -5.0), (-5.0, 0.0), (0.0, 5.0), (5.0, 10.0))


def scores(pred: dict[str, np.ndarray], truth: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, float]:
    """RMSE and median absolute error of each target, and kind accuracy, over ``mask``."""
    out = {}
    for t in TARGETS:
        err = np.abs(pred[t][mask] - truth[t][mask])
        out[f"rmse_{t}"] = float(np.sqrt(np.mean(err**2)))
        out[f"median_{t}"] = float(np.median(err))
    out["kind_accuracy"] = float(np.mean(pred["kind"][mask] == truth["kind"][mask]))
    out["n"] = int(mask.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "chirploc" / "models" / "default")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "decode_steps.json")
    args = parser.parse_args()
    from chirploc.decode import decode
    from chirploc.engine import load_engine
    from chirploc.fit import FALLBACK_EVIDENCE_OFF, apply_fallback, fit_maps, refine_on_pixels
    from chirploc.inference import load_predictor

    engine = load_engine(args.model, load_predictor(args.model, engine="numpy").frame)
    arrays = read_split(args.data, args.split, args.n)
    chirp = arrays["kind"].astype(np.int64) != NO_CHIRP_KIND
    truth = {**{t: arrays[t][chirp] for t in TARGETS}, "kind": arrays["kind"][chirp].astype(np.int64)}
    images, snr = arrays["image"][chirp], arrays["snr_db"][chirp]
    maps = engine.maps(images)
    grid, priors, frame = engine.head.grid, engine.priors, engine.frame

    untouched = dataclasses.replace(priors, fallback_evidence=FALLBACK_EVIDENCE_OFF)  # nothing pulled to the middle

    def maps_only():
        return apply_fallback(fit_maps(maps, grid, priors), priors)

    def with_pixels(track_weight: float):
        pred = refine_on_pixels(images, fit_maps(maps, grid, priors), frame, priors.kind_pixel_weight, track_weight)
        return apply_fallback(pred, priors)

    steps = {"maps alone": maps_only,
             "+ pixels (refinement, kind choice)": lambda: with_pixels(0.0),
             f"+ peak track in the kind choice (weight {priors.kind_track_weight:g})":
                 lambda: with_pixels(priors.kind_track_weight),
             f"+ ridge second opinion below evidence {priors.ridge_gate_z:g} or {priors.ridge_gate_share:g} of the "
             f"best path's, or shorter than {priors.ridge_gate_columns:g} columns":
                 lambda: decode(maps, images, grid, untouched, frame),
             f"+ weak curves pulled to the middle (Z0 = {priors.fallback_evidence:g}; the model)":
                 lambda: decode(maps, images, grid, priors, frame)}
    decode({k: v[:16] for k, v in maps.items()}, images[:16], grid, priors, frame)  # imports and tables, untimed
    rows = []
    for name, step in steps.items():
        start = time.perf_counter()
        pred = step()
        seconds = time.perf_counter() - start
        groups = {"overall": np.ones(len(snr), bool)}
        groups.update({f"{lo:g}..{hi:g} dB": (snr >= lo) & (snr < hi) for lo, hi in SNR_BINS})
        rows.append({"step": name, "decode_ms_per_image": 1000 * seconds / len(images),
                     "ridge_share": float(np.mean(pred["ridge"])) if "ridge" in pred else 0.0,
                     "groups": {g: scores(pred, truth, m) for g, m in groups.items()}})
        print(f"{name}: {1000 * seconds / len(images):.2f} ms/image, "
              + ", ".join(f"RMSE {t} {rows[-1]['groups']['overall'][f'rmse_{t}']:.3f}" for t in TARGETS)
              + f", kind {rows[-1]['groups']['overall']['kind_accuracy']:.3f}")
    record = {"benchmark": "decode_steps",
              "provenance": provenance(data=str(args.data), data_manifest_sha256=manifest_sha256(args.data),
                                       model=str(args.model)),
              "split": args.split, "n": int(chirp.sum()), "ridge_gate_z": priors.ridge_gate_z, "ridge_gate_share": priors.ridge_gate_share, "rows": rows}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
