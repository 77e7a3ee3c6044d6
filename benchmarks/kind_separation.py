"""How far the chirp kinds can be told apart in the image: kind accuracy against the law separation.

    python benchmarks/kind_separation.py [--npz benchmarks/results/accuracy.npz] [--min-snr 0] [--bin-hz 1]

A chirp's law separation is the RMS distance in Hz, over normalised time u = tau / T uniform on
[0, 1], between its true frequency curve and the closest curve of any other law (linear,
quadratic, exponential; any start and end frequency > 0). When it is a small fraction of a
frequency row, the kind barely shows in the pixels. Reads the per-sample ``.npz`` written by
``benchmarks/accuracy.py`` (truth and each estimator's kind), and per separation bin gives the
number and share of chirps and each estimator's kind accuracy, for SNR >= ``--min-snr`` and for
all SNRs. Writes ``benchmarks/results/kind_separation.json``; :func:`markdown` renders the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance  # noqa: E402
from benchmarks.tables import fmt, md_header, md_row  # noqa: E402
from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, GenConfig, load_config  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.signal import frequency_law  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
EDGES_HZ = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, np.inf)
N_POINTS = 101
# Laws linear in their end frequencies: f = f0 (1 - g(u)) + f1 g(u), so the closest curve is a linear
# least squares. The other law (exponential) is fitted by nonlinear least squares.
LINEAR_LAWS = ("linear", "quadratic")


def unit_time(n_points: int = N_POINTS) -> np.ndarray:
    """``n_points`` values of u = tau / T evenly spaced on [0, 1]."""
    if n_points < 3:
        raise ValueError(f"n_points={n_points} must be >= 3 (a curve needs a shape)")
    return np.linspace(0.0, 1.0, n_points)


def _fit_linear_law(kind: str, curves: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Closest curves of a law linear in (f0, f1) >= 0: the two-variable NNLS, solved exactly.

    The optimum is the unconstrained one if both end frequencies are >= 0, else it lies on an edge
    f0 = 0 or f1 = 0 (where the one-variable optimum, clipped at 0, is exact); take the best
    feasible candidate.
    """
    basis = np.stack([frequency_law(kind, u, 1.0, 0.0), frequency_law(kind, u, 0.0, 1.0)], axis=1)  # (P, 2)
    free = np.linalg.lstsq(basis, curves.T, rcond=None)[0].T  # (N, 2)
    proj = curves @ basis / np.sum(basis**2, axis=0)  # (N, 2): each column alone
    only_f1 = np.stack([np.zeros(len(curves)), np.maximum(proj[:, 1], 0.0)], axis=1)
    only_f0 = np.stack([np.maximum(proj[:, 0], 0.0), np.zeros(len(curves))], axis=1)
    candidates = np.stack([free, only_f1, only_f0])  # (3, N, 2)
    cost = np.sum((candidates @ basis.T - curves) ** 2, axis=2)  # (3, N)
    cost[0, np.any(free < 0, axis=1)] = np.inf
    best = candidates[np.argmin(cost, axis=0), np.arange(len(curves))]  # (N, 2)
    return frequency_law(kind, u, best[:, :1], best[:, 1:])


def _fit_exponential(curves: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Closest exponential curves, one nonlinear least squares per curve in (ln f0, ln f1).

    Started from the exact fit in log frequency (ln f is linear in u for this law).
    """
    if np.any(curves <= 0):
        raise ValueError(
            f"curves must be > 0 Hz to fit an exponential law, got a minimum of {curves.min():g} Hz"
        )
    line = np.stack([1.0 - u, u], axis=1)  # (P, 2)
    starts = np.linalg.lstsq(line, np.log(curves).T, rcond=None)[0].T  # (N, 2) ln f0, ln f1
    out = np.empty_like(curves)
    for i, (curve, start) in enumerate(zip(curves, starts, strict=True)):

        def residual(x, curve=curve):
            return frequency_law("exponential", u, np.exp(x[0]), np.exp(x[1])) - curve

        x = least_squares(residual, start, xtol=1e-12, ftol=1e-12, gtol=1e-12).x
        out[i] = residual(x) + curve
    return out


def fit_law(kind: str, curves: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The curves (N, P) of law ``kind`` closest in least squares to ``curves`` (N, P) sampled at ``u``.

    Args:
        kind: one of ``KIND_NAMES``.
        curves: frequencies in Hz, one curve per row, sampled at ``u``.
        u: normalised times in [0, 1], shape (P,).

    Returns:
        (N, P) fitted frequencies in Hz; the law's end frequencies are >= 0 (> 0 for exponential).

    Notes:
        Minimises sum_u (f(u; f0', f1') - curve(u))^2 over the law's end frequencies f0', f1'.
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    if kind in LINEAR_LAWS:
        return _fit_linear_law(kind, curves, u)
    if kind == "exponential":
        return _fit_exponential(curves, u)
    raise ValueError(f"kind={kind!r} must be one of {list(KIND_NAMES)}")


def law_separation_hz(
    kind: np.ndarray, f_start_hz: np.ndarray, f_end_hz: np.ndarray, n_points: int = N_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Per chirp, the RMS distance in Hz to the closest curve of another law, and that law.

    Args:
        kind: (N,) indices into ``KIND_NAMES`` (no-chirp records excluded by the caller).
        f_start_hz, f_end_hz: (N,) true end frequencies.
        n_points: samples of u = tau / T on [0, 1].

    Returns:
        (separation_hz, closest_kind), both (N,).

    Notes:
        separation = min over laws L != kind of min over f0', f1' > 0 of
        sqrt(mean_u (f_L(u; f0', f1') - f_kind(u; f_start, f_end))^2).
    """
    kind = np.asarray(kind, dtype=np.int64)
    f0, f1 = (np.asarray(f, dtype=np.float64)[:, None] for f in (f_start_hz, f_end_hz))  # (N, 1)
    bad = np.setdiff1d(kind, np.arange(len(KIND_NAMES)))
    if bad.size:
        raise ValueError(f"kind values {bad.tolist()} are not indices into {list(KIND_NAMES)}")
    u = unit_time(n_points)
    separation = np.full(len(kind), np.inf)
    closest = np.full(len(kind), -1, dtype=np.int64)
    for k, name in enumerate(KIND_NAMES):
        rows = np.flatnonzero(kind == k)
        if not rows.size:
            continue
        curves = frequency_law(name, u, f0[rows], f1[rows])  # (n, P)
        for other, other_name in enumerate(KIND_NAMES):
            if other == k:
                continue
            rms = np.sqrt(np.mean((fit_law(other_name, curves, u) - curves) ** 2, axis=1))
            better = rms < separation[rows]
            separation[rows[better]] = rms[better]
            closest[rows[better]] = other
    return separation, closest


def estimator_names(keys: list[str]) -> list[str]:
    """Estimators in a per-sample npz (keys ``<name>_kind`` other than ``true_kind``), the model first."""
    names = [k[: -len("_kind")] for k in keys if k.endswith("_kind") and k != "true_kind"]
    return sorted(names, key=lambda n: n != "model")


def separation_table(
    separation_hz: np.ndarray,
    truth: np.ndarray,
    preds: dict[str, np.ndarray],
    mask: np.ndarray,
    bin_hz: float,
) -> dict[str, Any]:
    """Per separation bin (``EDGES_HZ``) over ``mask``: count, share and each estimator's kind accuracy."""
    n = int(mask.sum())
    which = np.digitize(separation_hz, EDGES_HZ[1:-1])  # bin i holds [EDGES_HZ[i], EDGES_HZ[i + 1])

    def accuracy(m: np.ndarray) -> dict[str, float | None]:
        return {name: float(np.mean(p[m] == truth[m])) if m.any() else None for name, p in preds.items()}

    bins = []
    for i, (lo, hi) in enumerate(zip(EDGES_HZ[:-1], EDGES_HZ[1:], strict=True)):
        m = mask & (which == i)
        bins.append(
            {
                "lo_hz": lo,
                "hi_hz": hi if np.isfinite(hi) else None,
                "lo_rows": lo / bin_hz,
                "hi_rows": hi / bin_hz if np.isfinite(hi) else None,
                "n": int(m.sum()),
                "share": float(m.sum() / n) if n else None,
                "kind_accuracy": accuracy(m),
            }
        )
    median = float(np.median(separation_hz[mask])) if n else None
    return {"n": n, "median_separation_hz": median, "bins": bins, "kind_accuracy": accuracy(mask)}


def default_bin_hz(npz: Path) -> tuple[float, str]:
    """Row spacing of the data's frame: from the results JSON next to the npz (its ``config``), else
    from the default preset; returns (bin_hz, where it came from)."""
    sibling = npz.with_suffix(".json")
    if sibling.is_file():
        config = json.loads(sibling.read_text()).get("config")
        if config is not None:
            return GenConfig.from_dict(config).bin_hz, f"config in {sibling.name}"
    return load_config("default").bin_hz, "default preset"


def evaluate(arrays: dict[str, np.ndarray], min_snr_db: float, bin_hz: float) -> dict[str, Any]:
    """The record's tables from the per-sample arrays of ``benchmarks/accuracy.py``."""
    missing = [k for k in ("snr_db", "true_kind", "true_f_start_hz", "true_f_end_hz") if k not in arrays]
    names = estimator_names(list(arrays))
    if missing or not names:
        raise ValueError(
            f"per-sample arrays lack {missing or 'any <estimator>_kind'}; write them with "
            "benchmarks/accuracy.py"
        )
    kind = arrays["true_kind"].astype(np.int64)
    chirp = kind != NO_CHIRP_KIND
    truth = kind[chirp]
    separation, closest = law_separation_hz(
        truth, arrays["true_f_start_hz"][chirp], arrays["true_f_end_hz"][chirp]
    )
    preds = {n: arrays[f"{n}_kind"].astype(np.int64)[chirp] for n in names}
    snr = arrays["snr_db"][chirp]
    return {
        "n_records": len(kind),
        "n_chirps": int(chirp.sum()),
        "kind_names": list(KIND_NAMES),
        "estimators": names,
        "n_points": N_POINTS,
        "bin_hz": bin_hz,
        "min_snr_db": min_snr_db,
        "closest_other_law_counts": {
            KIND_NAMES[k]: {
                KIND_NAMES[o]: int(np.sum((truth == k) & (closest == o)))
                for o in range(len(KIND_NAMES))
                if o != k
            }
            for k in range(len(KIND_NAMES))
        },
        "subsets": {
            "snr_at_least_min": separation_table(separation, truth, preds, snr >= min_snr_db, bin_hz),
            "all_snr": separation_table(separation, truth, preds, np.ones(len(truth), bool), bin_hz),
        },
    }


def _bin_label(b: dict[str, Any]) -> str:
    return f">= {b['lo_hz']:g}" if b["hi_hz"] is None else f"{b['lo_hz']:g}-{b['hi_hz']:g}"


def markdown(record: dict[str, Any], subset: str = "snr_at_least_min") -> list[str]:
    """The table of ``subset`` (default: SNR >= the record's threshold) as markdown lines."""
    table = record["subsets"][subset]
    names = record["estimators"]
    where = f"SNR >= {record['min_snr_db']:g} dB" if subset == "snr_at_least_min" else "all SNRs"
    lines = [
        "Law separation: the RMS distance in Hz, over the chirp's duration, between its true frequency "
        "curve and the closest curve of any other law (any start and end frequency > 0); one image row is "
        f"{record['bin_hz']:g} Hz. Kind accuracy per separation bin, {table['n']} chirps with {where}:",
        "",
        *md_header(["law separation (Hz)", "chirps (share)", *[f"{n} kind accuracy" for n in names]]),
    ]
    for b in table["bins"]:
        share = f"{b['n']} ({100 * b['share']:.1f}%)" if b["share"] is not None else "0"
        lines.append(md_row([_bin_label(b), share, *[fmt(b["kind_accuracy"][n]) for n in names]]))
    lines.append(md_row(["all", str(table["n"]), *[fmt(table["kind_accuracy"][n]) for n in names]]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--npz",
        type=Path,
        default=RESULTS / "accuracy.npz",
        help="per-sample arrays written by benchmarks/accuracy.py",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "kind_separation.json", help="results JSON to write"
    )
    parser.add_argument("--min-snr", type=float, default=0.0, help="SNR threshold (dB) of the main table")
    parser.add_argument(
        "--bin-hz",
        type=float,
        default=None,
        help="row spacing of the frame, Hz (default: the config in the JSON next to --npz, "
        "else the default preset's)",
    )
    args = parser.parse_args(argv)
    if not args.npz.is_file():
        parser.error(f"--npz {args.npz}: no such file; write it with benchmarks/accuracy.py")
    if args.bin_hz is not None and not args.bin_hz > 0:
        parser.error(f"--bin-hz {args.bin_hz} must be > 0")
    bin_hz, bin_hz_from = (args.bin_hz, "--bin-hz") if args.bin_hz is not None else default_bin_hz(args.npz)
    with np.load(args.npz) as f:
        arrays = {k: f[k] for k in f.files}
    try:
        tables = evaluate(arrays, args.min_snr, bin_hz)
    except ValueError as exc:
        parser.error(f"--npz {args.npz}: {exc}")
    source = (
        str(args.npz.resolve().relative_to(REPO))
        if args.npz.resolve().is_relative_to(REPO)
        else str(args.npz)
    )
    record = {
        "benchmark": "kind_separation",
        "provenance": provenance(
            source=source, source_sha256=hashlib.sha256(args.npz.read_bytes()).hexdigest()
        ),
        "bin_hz_from": bin_hz_from,
        **tables,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, record)
    print("\n".join(markdown(record)))
    print()
    print("\n".join(markdown(record, "all_snr")))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
