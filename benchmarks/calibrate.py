"""Calibrate a dense-head run on val splits (never test) and write the results into the run.

    python benchmarks/calibrate.py RUN --data data/bench-cpu_dense [--noise-data DIR] [--split val]

**Presence.** ``model.presence_logit_offset`` is set so that at most ``--noise-flag-rate`` (1 %) of the
noise-only records of ``--noise-data`` (default ``--data``) get p_chirp >= 0.5: the
(1 - rate) quantile of their image-level presence logits.

**Kind.** ``model.kind_pixel_weight`` (how much the pixels count against the maps when the fit
chooses the kind, chirploc.fit) and ``model.kind_track_weight`` (how much the peak track's law
likelihoods count, chirploc.track) are the pair of ``WEIGHTS`` x ``TRACK_WEIGHTS`` with the highest
kind accuracy on the chirps of the given split.

**Fallback.**
Below the threshold ``model.fallback_p_chirp`` (and above 0.5) the model answers the middle of the
frame's label ranges instead of its fit: when the image hardly shows the chirp, that is the answer
with the least expected squared error. Then ``model.fallback_evidence`` (Z0): the start time and
frequencies of a curve with evidence Z are trust x fit + (1 - trust) x middle, with trust =
1 / (1 + exp(Z0 - Z)) (chirploc.fit.apply_fallback). Each is the value of a grid that minimises the
sum over the four targets of RMSE / (width of the target's range) on the chirps of the given split
(never the test split), the p_chirp threshold first. Writes both into RUN/config.json and the
curves into ``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, manifest_sha256, provenance  # noqa: E402
from chirpgen.config import NO_CHIRP_KIND, TARGETS  # noqa: E402
from chirpgen.plumbing import read_json, write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
TRACK_WEIGHTS = (0.0, 0.03, 0.1, 0.3)
EVIDENCE = (4.0, 6.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0)  # Z0 tried, besides never pulling


def dense_maps(predictor, images: np.ndarray) -> dict[str, np.ndarray]:
    """The dense head's maps of ``images``, as float32 numpy arrays."""
    import torch

    from chirploc.model import prepare_images

    parts = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            out = predictor.model(prepare_images(torch.from_numpy(images[i : i + 256])))
            parts.append({k: v.float().numpy() for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def presence_offset(predictor, data: Path, split: str, n: int, flag_rate: float) -> tuple[float, int]:
    """The logit offset that flags ``flag_rate`` of the noise-only records of ``data`` (and their count)."""
    arrays = read_split(data, split, n)
    noise = arrays["image"][arrays["kind"] == NO_CHIRP_KIND]
    if len(noise) * flag_rate < 2:
        raise SystemExit(f"{data} {split} holds {len(noise)} noise-only records: too few to set a {flag_rate:.0%} rate")
    return float(np.quantile(dense_maps(predictor, noise)["any_chirp"], 1 - flag_rate)), len(noise)


def kind_weights(predictor, images: np.ndarray, kinds: np.ndarray) -> tuple[float, float, list[dict]]:
    """The pixel weight of ``WEIGHTS`` and track weight of ``TRACK_WEIGHTS`` whose kind choice is right
    most often on ``images`` (the smallest of equals), and every pair's accuracy."""
    from chirploc.fit import choose_law, fit_maps, refine_laws
    from chirploc.track import track_likelihoods

    head = predictor.model.head
    pred = fit_maps(dense_maps(predictor, images), head.grid, head.priors)
    law_f, brightness = refine_laws(images, pred, head.frame)  # the same for every weight
    curve = []
    for w in WEIGHTS:
        first = choose_law(pred, law_f, brightness, w)
        track = track_likelihoods(images, first, head.frame)
        curve += [{"weight": w, "track_weight": v, "kind_accuracy": float(np.mean(
            choose_law(pred, law_f, brightness, w, track, v)["kind"] == kinds))} for v in TRACK_WEIGHTS]
    best = max(curve, key=lambda c: c["kind_accuracy"])
    return best["weight"], best["track_weight"], curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a dense-head run directory")
    parser.add_argument("--data", type=Path, required=True, help="data set of the run's frame")
    parser.add_argument("--split", choices=("train", "val"), default="val")
    parser.add_argument("--n", type=int, default=3000, help="first N records of the split")
    parser.add_argument("--noise-data", type=Path, default=None, help="data set with noise-only records (default --data)")
    parser.add_argument("--noise-n", type=int, default=20000, help="first N records of its split to take noise from")
    parser.add_argument("--noise-flag-rate", type=float, default=0.01, help="share of noise-only images flagged")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "calibration.json")
    args = parser.parse_args()
    from chirploc.fit import FALLBACK_EVIDENCE_OFF, apply_fallback
    from chirploc.inference import load_predictor

    predictor = load_predictor(args.run, engine="torch")  # reads the maps of the torch model
    head = predictor.model.head
    if not hasattr(head, "priors"):
        raise SystemExit(f"{args.run} has no dense head: nothing to calibrate")
    config = read_json(args.run / "config.json", fix="train the run again")
    offset, n_noise = presence_offset(predictor, args.noise_data or args.data, args.split, args.noise_n,
                                      args.noise_flag_rate)
    config["model"]["presence_logit_offset"] = offset
    head.priors = dataclasses.replace(head.priors, presence_logit_offset=offset)
    arrays = read_split(args.data, args.split, args.n)
    chirp = arrays["kind"] != NO_CHIRP_KIND
    weight, track_weight, kind_curve = kind_weights(predictor, arrays["image"][chirp], arrays["kind"][chirp])
    config["model"]["kind_pixel_weight"] = weight
    config["model"]["kind_track_weight"] = track_weight
    head.priors = dataclasses.replace(head.priors, kind_pixel_weight=weight, kind_track_weight=track_weight,
                                      fallback_p_chirp=0.0,
                                      fallback_evidence=FALLBACK_EVIDENCE_OFF)
    pred = predictor.predict(arrays["image"][chirp])  # the fit's answers: nothing moved to the middle
    priors = head.priors
    spans = {k: hi - lo for k, (lo, hi) in predictor.normalisation.ranges.items()}  # the frame's label ranges

    def score(**settings: float) -> dict[str, Any]:
        fixed = apply_fallback(pred, dataclasses.replace(priors, **settings))
        rmse = {k: float(np.sqrt(np.mean((fixed[k] - arrays[k][chirp]) ** 2))) for k in TARGETS}
        return {"fallback_rate": float(fixed["fallback"].mean()), "rmse": rmse,
                "cost": sum(rmse[k] / spans[k] for k in TARGETS)}

    curve = [{"threshold": threshold, **score(fallback_p_chirp=threshold)} for threshold in THRESHOLDS]
    best = min(curve, key=lambda c: c["cost"])
    evidence_curve = [{"z0": z0, **score(fallback_p_chirp=best["threshold"], fallback_evidence=z0)}
                      for z0 in (FALLBACK_EVIDENCE_OFF, *EVIDENCE)]
    best_z0 = min(evidence_curve, key=lambda c: c["cost"])["z0"]
    config["model"]["fallback_p_chirp"] = best["threshold"]
    config["model"]["fallback_evidence"] = best_z0
    write_json_atomic(args.run / "config.json", config)
    record = {"benchmark": "calibration", "provenance": provenance(data=str(args.data),
              data_manifest_sha256=manifest_sha256(args.data), run=str(args.run)),
              "split": args.split, "n": int(chirp.sum()), "chosen": best["threshold"], "curve": curve,
              "presence": {"data": str(args.noise_data or args.data), "n_noise": n_noise,
                           "flag_rate": args.noise_flag_rate, "logit_offset": offset},
              "kind": {"chosen_weight": weight, "chosen_track_weight": track_weight, "curve": kind_curve},
              "evidence": {"chosen_z0": best_z0, "curve": evidence_curve}}
    write_json_atomic(args.out, record)
    for c in curve:
        print(f"p_chirp < {c['threshold']:.2f}: fallback {c['fallback_rate']:.3f}, cost {c['cost']:.4f}, "
              + ", ".join(f"{k} RMSE {v:.3f}" for k, v in c["rmse"].items()))
    for c in evidence_curve:
        print(f"fallback_evidence {c['z0']:g}: cost {c['cost']:.4f}, " + ", ".join(f"{k} RMSE {v:.3f}" for k, v in c["rmse"].items()))
    for c in kind_curve:
        print(f"kind_pixel_weight {c['weight']:g}, kind_track_weight {c['track_weight']:g}: "
              f"kind accuracy {c['kind_accuracy']:.4f}")
    print(f"presence_logit_offset = {offset:.3f} from {n_noise} noise-only records; kind_pixel_weight = {weight:g}, "
          f"kind_track_weight = {track_weight:g}; chose fallback_p_chirp = {best['threshold']}, "
          f"fallback_evidence = {best_z0:g} (all written into {args.run / 'config.json'})")


if __name__ == "__main__":
    main()
