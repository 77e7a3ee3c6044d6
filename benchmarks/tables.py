"""Markdown tables and PNG plots from accuracy results JSONs (never typed by hand).

    python benchmarks/tables.py benchmarks/results/accuracy.json --out benchmarks/results/accuracy.md

Tables: per chirp kind x SNR bin, the RMSE of f_start and f_end of every estimator next to the
Cramér-Rao bound (ratio RMSE / bound in brackets); the same for t_start and duration next to the
image-grid floor; overall MAE / RMSE / median / p90 / outlier rate per target; kind accuracy; and
Pearson r per target next to the prior art's 0.9841 for start time. Plots (written next to the
markdown file): RMSE vs SNR per kind with the bound, and predicted vs true per target, from the
per-sample ``.npz`` written by ``benchmarks/accuracy.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.crb import BOUND_TARGETS  # noqa: E402
from chirpgen.config import TARGET_UNITS, TARGETS  # noqa: E402
from chirpgen.plumbing import write_text_atomic  # noqa: E402

PRIOR_ART_PEARSON_T_START = 0.9841


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}g}" if abs(x) >= 100 else f"{x:.{digits}f}"


def md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def md_header(cells: list[str]) -> list[str]:
    return [md_row(cells), md_row(["---"] * len(cells))]


def bound_table(result: dict[str, Any], target: str) -> list[str]:
    """Per kind x SNR: n, the bound, then each estimator's RMSE (RMSE / bound) for ``target``."""
    names = list(result["estimators"])
    lines = md_header(["kind", "SNR", "n", f"CRB {target} ({TARGET_UNITS[target]})", *[f"{n} RMSE (x CRB)" for n in names]])
    for kind, bins in result["bound"]["per_kind_snr"].items():
        for label, b in bins.items():
            cells = [kind, label, str(b["n"]), fmt(b[target])]
            for name in names:
                g = result["estimators"][name]["per_kind_snr"][kind][label][target]
                cells.append(f"{fmt(g['rmse'])} ({fmt(g.get('rmse_over_crb'), 2)})")
            lines.append(md_row(cells))
    return lines


def time_table(result: dict[str, Any], target: str) -> list[str]:
    """Per kind x SNR: each estimator's RMSE / median for a time target, with the grid floor in the header."""
    names = list(result["estimators"])
    floor = result["grid_floor"]["time_s"]
    lines = md_header(["kind", "SNR", "n", *[f"{n} RMSE / median ({TARGET_UNITS[target]})" for n in names]])
    lines.insert(0, f"Image-grid floor (column spacing / sqrt(12)): {floor:.3f} s.\n")
    for kind, bins in result["bound"]["per_kind_snr"].items():
        for label, b in bins.items():
            cells = [kind, label, str(b["n"])]
            for name in names:
                g = result["estimators"][name]["per_kind_snr"][kind][label][target]
                cells.append(f"{fmt(g['rmse'])} / {fmt(g['median'])}")
            lines.append(md_row(cells))
    return lines


def target_sections(result: dict[str, Any]) -> list[str]:
    """One section per target: the bound table for the frequencies, the time table for the others."""
    lines = []
    for target in TARGETS:
        if target in BOUND_TARGETS:
            lines += [f"## {target} vs the Cramér-Rao bound", "", *bound_table(result, target), ""]
        else:
            lines += [f"## {target}", "", *time_table(result, target), ""]
    return lines


def overall_table(result: dict[str, Any]) -> list[str]:
    lines = md_header(["estimator", "target", "MAE", "RMSE", "median", "p90", "outlier rate", "Pearson r"])
    for name, stats in result["estimators"].items():
        for t in TARGETS:
            g = stats["overall"][t]
            lines.append(md_row([name, f"{t} ({TARGET_UNITS[t]})", fmt(g["mae"]), fmt(g["rmse"]), fmt(g["median"]),
                               fmt(g["p90"]), fmt(g.get("outlier_rate"), 3), f"{g['pearson_r']:.4f}"]))
    return lines


def kind_table(result: dict[str, Any]) -> list[str]:
    names = list(result["estimators"])
    labels = list(result["bound"]["per_snr"])
    lines = md_header(["estimator", "all", *labels])
    for name in names:
        s = result["estimators"][name]
        lines.append(md_row([name, fmt(s["overall"]["kind_accuracy"]),
                           *[fmt(s["per_snr"][lab]["kind_accuracy"]) for lab in labels]]))
    return lines


def pearson_table(result: dict[str, Any]) -> list[str]:
    lines = md_header(["estimator", *TARGETS])
    prior = [f"{PRIOR_ART_PEARSON_T_START:.4f}" if t == "t_start_s" else "-" for t in TARGETS]
    lines.append(md_row(["prior art (ViT-B/16 + LoRA, reported)", *prior]))
    for name, s in result["estimators"].items():
        lines.append(md_row([name, *[f"{s['overall'][t]['pearson_r']:.4f}" for t in TARGETS]]))
    return lines


def speed_lines(result: dict[str, Any]) -> list[str]:
    t = result["timings"]
    machine = result["provenance"]["machine"]
    parts = [f"{k.replace('_ms_per_sample', '')} {v:.1f} ms" for k, v in t.items() if k.endswith("_ms_per_sample")]
    return [f"Time per sample ({machine.get('cpu', '?')}, {machine.get('cpu_count')} CPUs, one process): "
            + ", ".join(parts) + "."]


def markdown(result: dict[str, Any], source: str) -> str:
    p = result["provenance"]
    out = [
        f"# Accuracy: {result['split']} split, {result['n']} samples",
        "",
        f"Generated by `benchmarks/tables.py` from `{source}` (commit {p.get('git_commit') or 'none'}"
        f"{' dirty' if p.get('git_dirty') else ''}; data manifest sha256 {p.get('data_manifest_sha256', '?')[:12]}...; "
        f"command `{p.get('command')}`).",
        "",
        *target_sections(result),
        "## Overall", "", *overall_table(result),
        "", "## Kind accuracy", "", *kind_table(result),
        "", "## Pearson r (the prior art reports only start time)", "", *pearson_table(result),
        "", "## Speed", "", *speed_lines(result), "",
        "The bound assumes onset and duration known (see benchmarks/crb.py); the estimators must find "
        "them too, so the ratio RMSE / bound also holds the cost of not knowing them. RMSE is dominated "
        "by outliers (wrong kind or wrong lobe); compare the medians and p90 above.",
        "",
    ]
    return "\n".join(out)


def plots(result: dict[str, Any], arrays: dict[str, np.ndarray], out_dir: Path, stem: str) -> list[Path]:
    """RMSE vs SNR per kind (with the bound) and predicted vs true per target; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    edges = np.asarray(result["snr_edges_db"])
    centres = 0.5 * (edges[:-1] + edges[1:])
    names = list(result["estimators"])
    kinds = list(result["bound"]["per_kind_snr"])
    fig, axes = plt.subplots(2, len(kinds), figsize=(4 * len(kinds), 6.5), sharex=True, squeeze=False)
    for col, kind in enumerate(kinds):
        labels = list(result["bound"]["per_kind_snr"][kind])
        for row, target in enumerate(BOUND_TARGETS):
            ax = axes[row, col]
            bound = [result["bound"]["per_kind_snr"][kind][lab][target] for lab in labels]
            ax.semilogy(centres, bound, "k--", label="CRB")
            for name in names:
                rmse = [result["estimators"][name]["per_kind_snr"][kind][lab][target]["rmse"] for lab in labels]
                ax.semilogy(centres, rmse, "o-", label=name)
            ax.set_title(f"{kind}: {target}")
            ax.set_ylabel(f"RMSE ({TARGET_UNITS[target]})")
            ax.grid(True, which="both", alpha=0.3)
            if row == 1:
                ax.set_xlabel("SNR (dB)")
    axes[0, 0].legend()
    fig.tight_layout()
    path = out_dir / f"{stem}_rmse_vs_snr.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(len(names), len(TARGETS), figsize=(3.6 * len(TARGETS), 3.4 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, target in enumerate(TARGETS):
            ax = axes[r, c]
            true, pred = arrays[f"true_{target}"], arrays[f"{name}_{target}"]
            ax.scatter(true, pred, s=3, c=arrays["snr_db"], cmap="viridis", alpha=0.6)
            lo, hi = float(np.min(true)), float(np.max(true))
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
            ax.set_title(f"{name}: {target} (r={result['estimators'][name]['overall'][target]['pearson_r']:.4f})",
                         fontsize=9)
            ax.set_xlabel(f"true ({TARGET_UNITS[target]})")
            ax.set_ylabel("predicted")
    fig.tight_layout()
    path = out_dir / f"{stem}_scatter.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="accuracy results JSON(s) from benchmarks/accuracy.py")
    parser.add_argument("--out", default="benchmarks/results/accuracy.md", help="markdown file to write")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = []
    for source in args.results:
        path = Path(source)
        if not path.is_file():
            parser.error(f"results file {source!r} does not exist; run benchmarks/accuracy.py first")
        result = json.loads(path.read_text())
        sections.append(markdown(result, source))
        if not args.no_plots:
            npz = path.with_name(result.get("per_sample_file", path.with_suffix(".npz").name))
            if npz.is_file():
                with np.load(npz) as f:
                    arrays = dict(f)
                for png in plots(result, arrays, out.parent, path.stem):
                    print(f"wrote {png}")
            else:
                print(f"no per-sample file {npz}; skipping plots")
    write_text_atomic(out, "\n\n".join(sections))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
