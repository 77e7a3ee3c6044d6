"""How precisely the image gives each column's frequency, and what that leaves of the kind.

    python benchmarks/track_precision.py [--data data/bench] [--split test] [--min-snr 0]

Reads the chirps of a data set split and, for each, the peak track that the decode reads off the
pixels (chirploc.track.peak_track) around the *true* curve, between the *true* start and end: the
best any decode could place it. Three tables, the first two over the chirps with SNR >= ``--min-snr``:

- Per SNR bin: the RMS error of the track's frequencies against the true curve at the column
  centres, next to the Cramér-Rao bound of one column, the bound for the frequency of a constant
  tone seen through one untapered window of N = window_len samples at the chirp's SNR::

      std(f) = fs / (2 pi) sqrt(12 / (SNR N (N^2 - 1)))

  (Kay's bound for a real tone; a Hann window and a sweeping tone only raise it).
- Per law-separation bin (benchmarks/kind_separation.py): the kind accuracy of the track alone
  (the law whose least-squares fit to the track leaves the smallest residual), with the true curve
  and edges given; and of the whole image, by a likelihood-ratio test over its pixels with the
  chirp's true start, duration, amplitude and phase given (see Notes).
- Per SNR bin, over every chirp: the kind accuracy of the same two.

A decode that reads column peaks cannot do better per column than the bound, and the kind it reads
from them is limited where the laws lie closer than the track's error. The ML estimator is not
limited so: it keeps the phase across columns. Writes ``benchmarks/results/track_precision.json``;
:func:`markdown` renders the tables.

Notes:
    Likelihood-ratio test. A pixel's normalised power P (its grey level mapped back through the dB
    window) is |X + N|^2, with X the clean chirp's STFT and N the noise's, complex Gaussian of mean
    power 1 in every bin but DC; given c = |X|^2, P has the density exp(-(P + c)) I0(2 sqrt(P c))
    (exponential for c = 0, noncentral chi-squared of two degrees of freedom otherwise). Each law's
    (f0, f1) maximises the sum of log densities over the pixels of the columns whose windows meet
    the chirp (Nelder-Mead from the law's least-squares fit to the true curve; X from chirpgen's own
    waveform with the true start, duration, amplitude and phase, so the record is regenerated from
    its data set's seed), and the kind is the law of the largest maximum. Neighbouring pixels are
    correlated (the FFT is zero-padded twice over) and counted as independent: the test weighs every
    law alike, so its choice stands, though it is not a strict bound. It is given what no reader of
    the image has, the chirp's timing, amplitude and phase.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import i0e

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_data import DEFAULT_OUT  # noqa: E402
from benchmarks.kind_separation import law_separation_hz, separation_table  # noqa: E402
from benchmarks.provenance import REPO, manifest_sha256, provenance, publish  # noqa: E402
from benchmarks.tables import fmt, md_header, md_row  # noqa: E402
from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, TARGETS, GenConfig  # noqa: E402
from chirpgen.sample import make_sample  # noqa: E402
from chirpgen.shards import manifest_config, read_manifest, read_split  # noqa: E402
from chirpgen.signal import chirp_waveform, frequency_law  # noqa: E402
from chirpgen.spectrogram import column_centres, grey_power_table, stft_power  # noqa: E402
from chirploc.curve_fit import fit_curve  # noqa: E402
from chirploc.fit import law_curves  # noqa: E402
from chirploc.track import law_residuals, peak_track  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TRACK = "track alone, true curve and edges"
IMAGE = "whole image, likelihood ratio, true timing, amplitude and phase"
BATCH = 500  # images per peak-track call (bounded memory)
SIMPLEX_HZ = 0.05  # the Nelder-Mead simplex's first step in f0 and f1


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


def pixel_loglik(power: np.ndarray, clean: np.ndarray) -> float:
    """Sum over pixels of log p(P | c), P the observed and c the clean chirp's normalised power (Notes)."""
    x = 2.0 * np.sqrt(power * clean)
    return float(np.sum(np.log(i0e(x)) + x - power - clean))


def image_law_logliks(image: np.ndarray, params: Any, frame: GenConfig) -> np.ndarray:
    """(K,) each law's largest pixel log-likelihood (Notes) for the record ``image`` (uint8, row 0 the
    highest frequency) of a chirp with chirpgen parameters ``params``."""
    sig, fs = frame.signal, frame.signal.sample_rate_hz
    half = frame.stft.window_len // 2
    centres = column_centres(sig.n_samples, frame.stft)
    first, last = params.t_start_s * fs, (params.t_start_s + params.duration_s) * fs
    cols = np.flatnonzero((centres + half > first) & (centres - half < last))
    power = grey_power_table(tuple(frame.stft.db_range))[image[::-1, cols][1:]]  # bin 1 up: DC is not complex Gaussian
    u = np.clip((centres[cols] / fs - params.t_start_s) / params.duration_s, 0.0, 1.0)
    curve = frequency_law(params.kind_name, u, params.f_start_hz, params.f_end_hz)
    top = fs / 2 - frame.bin_hz

    def cost(kind: str, f: np.ndarray) -> float:
        if not (0.0 < f[0] < top and 0.0 < f[1] < top):
            return math.inf
        chirp = chirp_waveform(kind, sig.n_samples, fs, params.t_start_s, params.duration_s, f[0], f[1],
                               params.amplitude, params.phase0_rad)
        return -pixel_loglik(power, stft_power(chirp, frame.stft)[1:, cols].astype(np.float64))

    out = np.empty(len(KIND_NAMES))
    for k, kind in enumerate(KIND_NAMES):
        fit = fit_curve(kind, u, curve, np.ones_like(u), n_iter=1)
        start = np.clip([fit.f_start_hz, fit.f_end_hz], frame.bin_hz, top - SIMPLEX_HZ)
        simplex = [start, start + [SIMPLEX_HZ, 0.0], start + [0.0, SIMPLEX_HZ]]
        best = minimize(lambda f, kind=kind: cost(kind, f), start, method="Nelder-Mead",
                        options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-3})
        out[k] = -best.fun
    return out


def image_kinds(records: dict[str, np.ndarray], frame: GenConfig, seed: int, split: str) -> np.ndarray:
    """(B,) the kind the likelihood-ratio test (Notes) chooses for each chirp of ``records``, each record
    regenerated from its data set's ``seed`` and ``split`` for its phase; ValueError when a regenerated
    image is not the record's."""
    kinds = np.empty(len(records["kind"]), np.int64)
    for i, index in enumerate(records["index"]):
        sample = make_sample(frame, seed, split, int(index))
        if not np.array_equal(sample.image, records["image"][i]):
            raise ValueError(f"record {int(index)} of the {split} split is not chirpgen's sample of seed {seed}")
        kinds[i] = int(np.argmax(image_law_logliks(records["image"][i], sample.params, frame)))
    return kinds


def evaluate(records: dict[str, np.ndarray], frame: GenConfig, min_snr_db: float, seed: int, split: str,
             snr_step_db: float = 5.0) -> dict[str, Any]:
    """The tables (module docstring) over the chirps of ``records`` (of data set seed ``seed``, split
    ``split``): precision and law separation over those with SNR >= ``min_snr_db``, kind per SNR bin
    over all."""
    keep = records["kind"].astype(np.int64) != NO_CHIRP_KIND
    chirps = {k: records[k][keep] for k in ("image", "index", "kind", "snr_db", *TARGETS)}
    snr = chirps["snr_db"].astype(np.float64)
    above = snr >= min_snr_db
    if not above.any():
        raise ValueError(f"no chirps with SNR >= {min_snr_db:g} dB")
    error, track_kind = true_tracks(chirps, frame)
    kind = chirps["kind"].astype(np.int64)
    kinds = {TRACK: track_kind, IMAGE: image_kinds(chirps, frame, seed, split)}
    bound = np.broadcast_to(column_bound_hz(snr, frame)[:, None], error.shape)
    columns = np.isfinite(error)
    precision, kind_by_snr = [], []
    first = snr_step_db * np.floor(np.min(snr) / snr_step_db)
    for lo in first + snr_step_db * np.arange(int((np.max(snr) - first) // snr_step_db) + 1):
        in_bin = (snr >= lo) & (snr < lo + snr_step_db)
        if in_bin.any():
            kind_by_snr.append({"snr_lo_db": float(lo), "snr_hi_db": float(lo + snr_step_db), "chirps": int(in_bin.sum()),
                                "kind_accuracy": {k: float(np.mean(v[in_bin] == kind[in_bin])) for k, v in kinds.items()}})
        m = columns & (in_bin & (snr >= min_snr_db))[:, None]
        if not m.any():
            continue
        rms, crb = float(np.sqrt(np.mean(error[m] ** 2))), float(np.sqrt(np.mean(bound[m] ** 2)))
        precision.append({"snr_lo_db": float(lo), "snr_hi_db": float(lo + snr_step_db), "chirps": int(m.any(1).sum()),
                          "columns": int(m.sum()), "track_rms_hz": rms,
                          "median_abs_hz": float(np.median(np.abs(error[m]))), "bound_hz": crb,
                          "ratio": rms / crb})
    separation, _ = law_separation_hz(kind, chirps["f_start_hz"], chirps["f_end_hz"])
    return {
        "n_chirps": int(above.sum()),
        "min_snr_db": min_snr_db,
        "window_len": frame.stft.window_len,
        "sample_rate_hz": frame.signal.sample_rate_hz,
        "bin_hz": frame.bin_hz,
        "precision": precision,
        "separation": separation_table(separation, kind, kinds, above, frame.bin_hz),
        "kind_by_snr": kind_by_snr,
        "kind_all": {"chirps": len(kind), "kind_accuracy": {k: float(np.mean(v == kind)) for k, v in kinds.items()}},
    }


def markdown(record: dict[str, Any]) -> list[str]:
    """The three tables as markdown lines."""
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
        "Kind accuracy per law-separation bin: from that track alone (the law whose fit leaves the smallest "
        "residual), the true curve and edges given; and from the whole image, by a likelihood-ratio test over its "
        "pixels with the chirp's true start, duration, amplitude and phase given:",
        "",
        *md_header(["law separation (Hz)", "chirps", "track alone", "whole image (likelihood ratio)"]),
    ]
    for b in table["bins"]:
        label = f">= {b['lo_hz']:g}" if b["hi_hz"] is None else f"{b['lo_hz']:g}-{b['hi_hz']:g}"
        lines.append(md_row([label, str(b["n"]), *(fmt(b["kind_accuracy"][k]) for k in (TRACK, IMAGE))]))
    lines.append(md_row(["all", str(table["n"]), *(fmt(table["kind_accuracy"][k]) for k in (TRACK, IMAGE))]))
    lines += ["", "The same two per SNR bin, over every chirp of the split:", "",
              *md_header(["SNR (dB)", "chirps", "track alone", "whole image (likelihood ratio)"])]
    for b in record["kind_by_snr"]:
        lines.append(md_row([f"{b['snr_lo_db']:g}..{b['snr_hi_db']:g}", str(b["chirps"]),
                             *(fmt(b["kind_accuracy"][k]) for k in (TRACK, IMAGE))]))
    every = record["kind_all"]
    lines.append(md_row(["all", str(every["chirps"]), *(fmt(every["kind_accuracy"][k]) for k in (TRACK, IMAGE))]))
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
        record = evaluate(read_split(args.data, args.split), frame, args.min_snr, int(manifest["seed"]), args.split)
    except ValueError as exc:
        parser.error(f"--data {args.data} --split {args.split}: {exc}")
    publish(args.out, {
        "benchmark": "track_precision",
        "provenance": provenance(data=str(args.data), split=args.split, manifest_sha256=manifest_sha256(args.data)),
        **record,
    }, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
