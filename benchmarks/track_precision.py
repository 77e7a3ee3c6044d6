"""How precisely the image gives each column's frequency, and what that leaves of the kind.

    python benchmarks/track_precision.py [--data data/bench] [--split test] [--min-snr 0]

Reads the chirps of a data set split with SNR >= ``--min-snr`` and, for each, the peak track that the
decode reads off the pixels (chirploc.track.peak_track) around the *true* curve, between the *true*
start and end: the best any decode could place it. Two tables:

- Per SNR bin: the RMS error of the track's frequencies against the true curve at the column
  centres, next to the Cramér-Rao bound of one column, the bound for the frequency of a constant
  tone seen through one untapered window of N = window_len samples at the chirp's SNR::

      std(f) = fs / (2 pi) sqrt(12 / (SNR N (N^2 - 1)))

  (Kay's bound for a real tone; a Hann window and a sweeping tone only raise it).
- Per law-separation bin (benchmarks/kind_separation.py): the kind accuracy of the track alone
  (the law whose least-squares fit to the track leaves the smallest residual), with the true curve
  and edges given.

A decode that reads column peaks cannot do better per column than the bound, and the kind it reads
from them is limited where the laws lie closer than the track's error. The ML estimator is not
limited so: it keeps the phase across columns. Writes ``benchmarks/results/track_precision.json``;
:func:`markdown` renders the tables.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_data import DEFAULT_OUT  # noqa: E402
from benchmarks.kind_separation import law_separation_hz, separation_table  # noqa: E402
from benchmarks.provenance import REPO, manifest_sha256, provenance  # noqa: E402
from benchmarks.tables import fmt, md_header, md_row  # noqa: E402
from chirpgen.config import NO_CHIRP_KIND, TARGETS, GenConfig  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.shards import manifest_config, read_manifest, read_split  # noqa: E402
from chirploc.fit import law_curves  # noqa: E402
from chirploc.track import law_residuals, peak_track  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TRACK = "track alone, true curve and edges"
BATCH = 500  # images per peak-track call (bounded memory)


def column_bound_hz(snr_db: np.ndarray, frame: GenConfig) -> np.ndarray:
    """The CRB (std, Hz) of a constant tone's frequency over one untapered window (module docstring)."""
    n = frame.stft.window_len
    snr = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return frame.signal.sample_rate_hz / (2 * math.pi) * np.sqrt(12.0 / (snr * n * (n * n - 1.0)))


def true_tracks(records: dict[str, np.ndarray], frame: GenConfig) -> tuple[np.ndarray, ...]:
    """Per chirp of ``records``: the track's error against the true curve (B, M, NaN beyond the chirp)
    and the law whose fit to the track leaves the smallest weighted residual (B,)."""
    errors, kinds = [], []
    for lo in range(0, len(records["kind"]), BATCH):
        part = slice(lo, lo + BATCH)
        truth = {k: records[k][part].astype(np.float64) for k in TARGETS} | {"kind": records["kind"][part].astype(np.int64)}
        u, y, w = peak_track(records["image"][part], truth, frame)  # M columns: as many as the longest chirp fills
        errors.append(np.where(w > 0, y - law_curves(truth, u), np.nan))
        kinds.append(law_residuals(u, y, w).argmin(1))
    return np.concatenate(errors), np.concatenate(kinds)


def evaluate(records: dict[str, np.ndarray], frame: GenConfig, min_snr_db: float,
             snr_step_db: float = 5.0) -> dict[str, Any]:
    """The two tables (module docstring) over the chirps of ``records`` with SNR >= ``min_snr_db``."""
    keep = (records["kind"].astype(np.int64) != NO_CHIRP_KIND) & (records["snr_db"] >= min_snr_db)
    chirps = {k: records[k][keep] for k in ("image", "kind", "snr_db", *TARGETS)}
    if not len(chirps["kind"]):
        raise ValueError(f"no chirps with SNR >= {min_snr_db:g} dB")
    error, track_kind = true_tracks(chirps, frame)
    snr = chirps["snr_db"].astype(np.float64)
    bound = np.broadcast_to(column_bound_hz(snr, frame)[:, None], error.shape)
    columns = np.isfinite(error)
    precision = []
    for lo in min_snr_db + snr_step_db * np.arange(int((np.max(snr) - min_snr_db) // snr_step_db) + 1):
        m = columns & ((snr >= lo) & (snr < lo + snr_step_db))[:, None]
        if not m.any():
            continue
        rms, crb = float(np.sqrt(np.mean(error[m] ** 2))), float(np.sqrt(np.mean(bound[m] ** 2)))
        precision.append({"snr_lo_db": float(lo), "snr_hi_db": float(lo + snr_step_db), "chirps": int(m.any(1).sum()),
                          "columns": int(m.sum()), "track_rms_hz": rms,
                          "median_abs_hz": float(np.median(np.abs(error[m]))), "bound_hz": crb,
                          "ratio": rms / crb})
    kind = chirps["kind"].astype(np.int64)
    separation, _ = law_separation_hz(kind, chirps["f_start_hz"], chirps["f_end_hz"])
    return {
        "n_chirps": len(kind),
        "min_snr_db": min_snr_db,
        "window_len": frame.stft.window_len,
        "sample_rate_hz": frame.signal.sample_rate_hz,
        "bin_hz": frame.bin_hz,
        "precision": precision,
        "separation": separation_table(separation, kind, {TRACK: track_kind}, np.ones(len(kind), bool), frame.bin_hz),
    }


def markdown(record: dict[str, Any]) -> list[str]:
    """Both tables as markdown lines."""
    lines = [
        f"Per-column precision of the peak track read around the true curve, chirps with SNR >= "
        f"{record['min_snr_db']:g} dB; the bound is that of a constant tone over one untapered window of "
        f"{record['window_len']} samples at the chirp's SNR; one image row is {record['bin_hz']:g} Hz:",
        "",
        *md_header(["SNR (dB)", "chirps", "columns", "track error RMS (Hz)", "median abs. error (Hz)",
                    "one-window bound (Hz)", "RMS / bound"]),
    ]
    for p in record["precision"]:
        lines.append(md_row([f"{p['snr_lo_db']:g}..{p['snr_hi_db']:g}", str(p["chirps"]), str(p["columns"]),
                             fmt(p["track_rms_hz"]), fmt(p["median_abs_hz"]), fmt(p["bound_hz"]),
                             f"{p['ratio']:.1f}"]))
    table = record["separation"]
    lines += [
        "",
        "Kind from that track alone (the law whose fit leaves the smallest residual), the true curve and "
        "edges given, per law-separation bin:",
        "",
        *md_header(["law separation (Hz)", "chirps", "kind accuracy"]),
    ]
    for b in table["bins"]:
        label = f">= {b['lo_hz']:g}" if b["hi_hz"] is None else f"{b['lo_hz']:g}-{b['hi_hz']:g}"
        lines.append(md_row([label, str(b["n"]), fmt(b["kind_accuracy"][TRACK])]))
    lines.append(md_row(["all", str(table["n"]), fmt(table["kind_accuracy"][TRACK])]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="chirpgen data set directory")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--min-snr", type=float, default=0.0, help="lowest SNR (dB) of the chirps read")
    parser.add_argument("--out", type=Path, default=RESULTS / "track_precision.json", help="results JSON to write")
    args = parser.parse_args(argv)
    if not (args.data / "manifest.json").is_file():
        parser.error(f"--data {args.data}: no chirpgen data set there; make one with benchmarks/bench_data.py")
    manifest = read_manifest(args.data)
    frame = manifest_config(manifest)
    try:
        record = evaluate(read_split(args.data, args.split), frame, args.min_snr)
    except ValueError as exc:
        parser.error(f"--data {args.data} --split {args.split}: {exc}")
    record = {
        "benchmark": "track_precision",
        "provenance": provenance(data=str(args.data), split=args.split, manifest_sha256=manifest_sha256(args.data)),
        **record,
    }
    write_json_atomic(args.out, record)
    print("\n".join(markdown(record)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
