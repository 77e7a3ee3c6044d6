"""Exports and summaries of a data set: lossless PNGs with labels.csv, and ``info``."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, NO_CHIRP_NAME, SPLIT_NAMES, TARGETS, kind_name
from chirpgen.plumbing import atomic_path
from chirpgen.shards import (
    DatasetError,
    manifest_config,
    read_manifest,
    read_shard,
    read_split,
    verify_shard,
)

CSV_COLUMNS = ("file", "split", "index", "kind", *TARGETS, "snr_db")


def export_pngs(root: str | Path, split: str, n: int, out: str | Path) -> Path:
    """Write the first ``n`` samples of ``split`` as 8-bit greyscale PNGs plus ``labels.csv``.

    The PNGs hold exactly the stored pixels (mode 'L', lossless). A record without a chirp has
    kind ``none`` and empty label fields. Returns the CSV path.
    """
    if n <= 0:
        raise ValueError(f"n={n} must be a positive integer")
    data = read_split(root, split, n)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {str(out)!r} ({exc.strerror or exc}); choose a writable --out") from None
    rows = []
    for j in range(len(data["index"])):
        name = f"{split}-{int(data['index'][j]):07d}.png"
        with atomic_path(out / name) as tmp:
            Image.fromarray(data["image"][j], mode="L").save(tmp, format="PNG", optimize=False)
        rows.append(
            {
                "file": name,
                "split": split,
                "index": int(data["index"][j]),
                "kind": kind_name(data["kind"][j]),
                **{k: "" if np.isnan(data[k][j]) else f"{float(data[k][j]):.9g}" for k in CSV_COLUMNS[4:]},
            }
        )
    csv_path = out / "labels.csv"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def dataset_info(root: str | Path, verify: bool = True) -> dict[str, Any]:
    """Counts per split and kind, SNR range, frame (axes, image size) and sizes of a data set; with
    ``verify``, every complete shard's sha256 is checked against the manifest first."""
    manifest = read_manifest(root)
    config = manifest_config(manifest)
    info: dict[str, Any] = {
        "root": str(root),
        "preset": config.name,
        "seed": manifest["seed"],
        "complete": manifest.get("complete", False),
        "verified": verify,
        "splits": {},
    }
    total_bytes = 0
    total_n = 0
    freqs_hz = times_s = None
    for split in SPLIT_NAMES:
        kinds: Counter[str] = Counter()
        snr = [np.inf, -np.inf]
        n = 0
        nbytes = 0
        if manifest["split_counts"][split] == 0:
            continue
        done = [s for s in manifest["shards"] if s["split"] == split and s.get("sha256")]
        for entry in done:
            path = Path(root) / entry["file"]
            if verify:
                verify_shard(path, entry["sha256"])
            arrays = read_shard(path, ("kind", "snr_db", "freqs_hz", "times_s"))
            kind = arrays["kind"]
            kinds.update(kind_name(k) for k in kind)
            n += len(kind)
            s = arrays["snr_db"][kind != NO_CHIRP_KIND]  # a record without a chirp has no SNR (NaN)
            if s.size:
                snr = [min(snr[0], float(s.min())), max(snr[1], float(s.max()))]
            freqs_hz, times_s = arrays["freqs_hz"], arrays["times_s"]
            nbytes += path.stat().st_size
        info["splits"][split] = {
            "n": n,
            "planned": manifest["split_counts"][split],
            "kinds": {k: kinds.get(k, 0) for k in (*KIND_NAMES, NO_CHIRP_NAME)},
            "snr_db": snr if np.isfinite(snr[0]) else None,
            "bytes": nbytes,
        }
        total_bytes += nbytes
        total_n += n
    h, w = config.image_shape
    info["frame"] = {
        "image_hw": [h, w],
        "sample_rate_hz": config.signal.sample_rate_hz,
        "record_s": config.signal.record_s,
        "freq_rows_hz": [float(freqs_hz[-1]), float(freqs_hz[0])] if freqs_hz is not None else None,
        "time_columns_s": [float(times_s[0]), float(times_s[-1])] if times_s is not None else None,
        "bin_hz": config.bin_hz,
        "column_s": config.column_s,
        "noise": config.signal.noise,
        "snr_db_range": list(config.signal.snr_db),
        "p_no_chirp": config.signal.p_no_chirp,
    }
    info["bytes"] = total_bytes
    info["bytes_per_sample"] = total_bytes / total_n if total_n else None
    return info


def format_info(info: dict[str, Any]) -> str:
    fr = info["frame"]
    lines = [
        f"data set {info['root']} (preset {info['preset']}, seed {info['seed']}"
        f"{'' if info['complete'] else ', INCOMPLETE: run the same chirpgen make again'}"
        f"{', every shard sha256-verified' if info.get('verified') else ''})",
        f"frame: {fr['record_s']:g} s at {fr['sample_rate_hz']:g} Hz, image {fr['image_hw'][0]} x "
        f"{fr['image_hw'][1]} (rows {fr['freq_rows_hz'][0]:g}-{fr['freq_rows_hz'][1]:g} Hz every "
        f"{fr['bin_hz']:g} Hz, columns {fr['time_columns_s'][0]:.3f}-{fr['time_columns_s'][1]:.3f} s every "
        f"{fr['column_s']:.4g} s), {fr['noise']} noise, SNR {fr['snr_db_range'][0]:g} to {fr['snr_db_range'][1]:g} dB"
        + (f", {fr['p_no_chirp']:.0%} of records without a chirp" if fr["p_no_chirp"] else "")
        if fr["freq_rows_hz"]
        else "frame: no shard written yet",
    ]
    names = (*KIND_NAMES, NO_CHIRP_NAME)
    header = f"{'split':<6} {'n':>8} " + " ".join(f"{k:>11}" for k in names) + f" {'SNR dB':>15} {'MB':>9}"
    lines.append(header)
    for split, s in info["splits"].items():
        snr = f"{s['snr_db'][0]:.1f}..{s['snr_db'][1]:.1f}" if s["snr_db"] else "-"
        count = f"{s['n']}" if s["n"] == s["planned"] else f"{s['n']}/{s['planned']}"
        lines.append(
            f"{split:<6} {count:>8} " + " ".join(f"{s['kinds'][k]:>11}" for k in names)
            + f" {snr:>15} {s['bytes'] / 1e6:>9.2f}"
        )
    if info["bytes_per_sample"]:
        lines.append(f"total {info['bytes'] / 1e6:.2f} MB, {info['bytes_per_sample'] / 1e3:.1f} KB per sample")
    return "\n".join(lines)
