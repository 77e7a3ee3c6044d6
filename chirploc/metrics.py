"""Error statistics in physical units, per chirp kind and per SNR bin (numpy only, no torch).

Notes:
    For absolute errors e_i = |pred_i - true_i|: MAE = mean(e), RMSE = sqrt(mean(e^2)),
    median and p90 are the 50th and 90th percentiles (linear interpolation). Pearson r is
    cov(pred, true) / (std(pred) std(true)); it is NaN for fewer than 2 samples or a constant input.
    The outlier rate is the fraction of e_i above the target's bin width (one image column for
    times, one frequency bin for frequencies).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chirpgen.config import KIND_NAMES, TARGET_UNITS, TARGETS, GenConfig


def error_stats(err: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, median, p90 and count of absolute errors ``err`` (NaN stats when empty)."""
    err = np.abs(np.asarray(err, dtype=np.float64)).ravel()
    if err.size == 0:
        return {
            "mae": float("nan"),
            "rmse": float("nan"),
            "median": float("nan"),
            "p90": float("nan"),
            "n": 0,
        }
    return {
        "mae": float(err.mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "median": float(np.median(err)),
        "p90": float(np.percentile(err, 90)),
        "n": int(err.size),
    }


def pearson_r(pred: np.ndarray, true: np.ndarray) -> float:
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if pred.size < 2 or np.std(pred) == 0 or np.std(true) == 0:
        return float("nan")
    return float(np.corrcoef(pred, true)[0, 1])


def snr_bin_labels(edges_db: Sequence[float]) -> list[str]:
    return [f"{edges_db[i]:g}..{edges_db[i + 1]:g} dB" for i in range(len(edges_db) - 1)]


def snr_edges(snr_range_db: Sequence[float], step_db: float = 5.0) -> list[float]:
    """Bin edges every ``step_db`` covering ``snr_range_db`` (the last bin may be shorter)."""
    if step_db <= 0:
        raise ValueError(f"step_db={step_db} must be > 0")
    lo, hi = snr_range_db
    if hi <= lo:
        return [lo, lo + step_db]
    edges = list(np.arange(lo, hi, step_db))
    return [float(e) for e in edges] + [float(hi)]


def bin_widths(frame: GenConfig) -> dict[str, float]:
    """Outlier thresholds: one image column for times, one frequency bin for frequencies."""
    steps = {"s": frame.column_s, "Hz": frame.bin_hz}
    return {k: steps[unit] for k, unit in TARGET_UNITS.items()}


def group_masks(kind: np.ndarray, snr_db: np.ndarray, edges_db: Sequence[float]) -> dict[str, Any]:
    """Boolean masks of the groups: overall, per_kind, per_snr (by label) and per_kind_snr.

    Bin i holds edges[i] <= snr < edges[i + 1]; the last bin also holds snr == edges[-1].
    """
    edges = np.asarray(edges_db, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"snr_edges_db={list(edges_db)} must be at least 2 strictly increasing values")
    snr_db = np.asarray(snr_db, dtype=np.float64)
    kind = np.asarray(kind)
    labels = snr_bin_labels(list(edges))
    bins = np.searchsorted(edges, snr_db, side="right") - 1
    bins[snr_db == edges[-1]] = len(labels) - 1
    return {
        "overall": np.ones(len(snr_db), dtype=bool),
        "per_kind": {name: kind == k for k, name in enumerate(KIND_NAMES)},
        "per_snr": {label: bins == b for b, label in enumerate(labels)},
        "per_kind_snr": {
            name: {label: (kind == k) & (bins == b) for b, label in enumerate(labels)}
            for k, name in enumerate(KIND_NAMES)
        },
    }


def _group(
    pred: dict[str, np.ndarray],
    true: dict[str, np.ndarray],
    mask: np.ndarray,
    bin_widths: dict[str, float] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(mask.sum())}
    for k in TARGETS:
        p, t = np.asarray(pred[k], np.float64)[mask], np.asarray(true[k], np.float64)[mask]
        err = np.abs(p - t)
        stats: dict[str, Any] = {**error_stats(err), "pearson_r": pearson_r(p, t)}
        if bin_widths is not None and k in bin_widths:
            stats["outlier_rate"] = float(np.mean(err > bin_widths[k])) if err.size else float("nan")
        out[k] = stats
    if "kind" in pred and "kind" in true:
        ok = np.asarray(pred["kind"])[mask] == np.asarray(true["kind"])[mask]
        out["kind_accuracy"] = float(ok.mean()) if ok.size else float("nan")
    return out


def evaluate_predictions(
    pred: dict[str, np.ndarray],
    true: dict[str, np.ndarray],
    snr_db: np.ndarray,
    snr_edges_db: Sequence[float],
    bin_widths: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Error statistics overall, per kind, per SNR bin and per (kind, SNR bin).

    Args:
        pred: predictions keyed by target (physical units) and ``kind`` (index into KIND_NAMES).
        true: the labels, same keys.
        snr_db: (N,) SNR of each sample.
        snr_edges_db: increasing bin edges; bin i holds edges[i] <= snr < edges[i + 1] (the last
            bin also holds snr == edges[-1]).
        bin_widths: per target, the error above which a prediction counts as an outlier.

    Returns:
        ``{"overall": g, "per_kind": {name: g}, "per_snr": {label: g}, "per_kind_snr": {name: {label: g}},
        "snr_edges_db": [...]}`` where each group g maps each target to its stats (mae, rmse,
        median, p90, n, pearson_r, outlier_rate) and holds ``kind_accuracy`` and ``n``.
    """
    masks = group_masks(true["kind"], snr_db, snr_edges_db)
    return {
        "overall": _group(pred, true, masks["overall"], bin_widths),
        "per_kind": {name: _group(pred, true, m, bin_widths) for name, m in masks["per_kind"].items()},
        "per_snr": {label: _group(pred, true, m, bin_widths) for label, m in masks["per_snr"].items()},
        "per_kind_snr": {
            name: {label: _group(pred, true, m, bin_widths) for label, m in bins.items()}
            for name, bins in masks["per_kind_snr"].items()
        },
        "snr_edges_db": [float(e) for e in snr_edges_db],
    }


def detection_stats(
    p_chirp: np.ndarray, has_chirp: np.ndarray, snr_db: np.ndarray, snr_edges_db: Sequence[float], threshold: float = 0.5
) -> dict[str, Any]:
    """How often the presence probability flags noise-only images, and finds chirps per SNR bin.

    Returns:
        ``{"threshold", "noise": {"n", "rate"}, "chirps": {"n", "rate"}, "per_snr": {label: {"n", "rate"}}}``
        where ``rate`` is the share with p_chirp >= threshold (flagged noise, found chirps); NaN when empty.
    """
    flagged = np.asarray(p_chirp) >= threshold
    has_chirp = np.asarray(has_chirp, dtype=bool)

    def rate(mask: np.ndarray) -> dict[str, Any]:
        return {"n": int(mask.sum()), "rate": float(flagged[mask].mean()) if mask.any() else float("nan")}

    snr = np.where(has_chirp, np.asarray(snr_db, dtype=np.float64), np.nan)
    bins = group_masks(np.zeros(len(snr), int), np.nan_to_num(snr, nan=-np.inf), snr_edges_db)["per_snr"]
    return {
        "threshold": threshold,
        "noise": rate(~has_chirp),
        "chirps": rate(has_chirp),
        "per_snr": {label: rate(m & has_chirp) for label, m in bins.items()},
    }


def table_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (group, subgroup, target, stats) of a result, for CSV files and tables."""
    rows = []

    def add(group: str, name: str, g: dict[str, Any]) -> None:
        for k in TARGETS:
            rows.append({"group": group, "name": name, "target": k, "unit": TARGET_UNITS[k], **g[k]})
        rows.append(
            {
                "group": group,
                "name": name,
                "target": "kind",
                "unit": "",
                "kind_accuracy": g.get("kind_accuracy"),
                "n": g["n"],
            }
        )

    add("overall", "all", result["overall"])
    for name, g in result["per_kind"].items():
        add("per_kind", name, g)
    for name, g in result["per_snr"].items():
        add("per_snr", name, g)
    for kind_name, bins in result["per_kind_snr"].items():
        for label, g in bins.items():
            add("per_kind_snr", f"{kind_name} {label}", g)
    return rows


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width text table: MAE (median, p90) per target and kind accuracy, per kind and SNR bin."""
    head = (
        f"{'group':<24}{'n':>6}"
        + "".join(f"{k + ' MAE (med/p90)':>30}" for k in TARGETS)
        + f"{'kind acc':>10}"
    )
    lines = [head, "-" * len(head)]

    def line(name: str, g: dict[str, Any]) -> str:
        cells = "".join(
            f"{g[k]['mae']:>10.3f} ({g[k]['median']:.2f}/{g[k]['p90']:.2f}) {TARGET_UNITS[k]:<3}"[:30].rjust(30)
            for k in TARGETS
        )
        return f"{name:<24}{g['n']:>6}{cells}{g.get('kind_accuracy', float('nan')):>10.3f}"

    lines.append(line("overall", result["overall"]))
    for name, g in result["per_kind"].items():
        lines.append(line(name, g))
    for name, g in result["per_snr"].items():
        lines.append(line(name, g))
    r = result["overall"]
    lines.append("Pearson r (overall): " + ", ".join(f"{k} {r[k]['pearson_r']:.4f}" for k in TARGETS))
    det = result.get("detection")
    if det is not None:
        found = ", ".join(f"{label} {g['rate']:.3f}" for label, g in det["per_snr"].items())
        noise = (f"noise-only images flagged {det['noise']['rate']:.3f} (n={det['noise']['n']})" if det["noise"]["n"]
                 else "no noise-only images in this split")
        lines.append(f"Presence (p_chirp >= {det['threshold']:g}): {noise}; chirps found {det['chirps']['rate']:.3f} ({found})")
    return "\n".join(lines)
