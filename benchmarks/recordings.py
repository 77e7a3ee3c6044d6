"""Recordings made by another tool, described as a user would: scipy.signal.chirp in white noise, at
several sample rates and lengths, each chirp anywhere in its recording; and recordings of noise only.

    python benchmarks/recordings.py [--model RUN] [--n 400] [--seed 5]

Recording i has the rate RATES_HZ[i % 4] and the length LENGTHS_S[(i // 4) % 4] and is written as a
16-bit PCM WAV (even i) or a float32 one (odd i). It holds one chirp of a kind drawn uniformly, made
by scipy.signal.chirp (method 'linear', 'quadratic' or 'logarithmic': chirpgen's linear, quadratic
and exponential laws) with a rectangular envelope and a random phase; its duration, frequencies and
SNR are drawn as chirpgen draws them for the model's frame, and its start uniformly over where it
fits in the recording, so also where the frame never puts one (after 45 s of 60). The noise is white
and Gaussian with a standard deviation drawn over two decades, of variance sigma^2 in the model's
band (0 to half the model's rate) whatever the file's rate, so the SNR is chirpgen's A^2 / (2
sigma^2) once the recording is resampled. A share NOISE_ONLY of the recordings holds no chirp. The
same recordings are then made again with an impairment of real recordings added: an offset of
IMPAIR_SDS sigma, a mains hum of HUM_HZ and amplitude IMPAIR_SDS sigma, or a pink (1/f) background of
variance sigma^2 in the model's band on top of the white one (the SNR stays the white noise's; near
the lowest frequencies the pink noise is far stronger); or with every chirp LOUD_DB louder, 15 to
35 dB, where real calls often are and above the 10 dB the default model was trained to.

Every file goes through chirploc.describe_many with the packaged model (or ``--model``), the path
`chirploc describe` takes. Per recording with a chirp: whether a chirp is reported, the errors of
the reported chirp nearest the true one in start time, and how many more it reports (false chirps);
per noise-only recording, whether it reports any. Tables per SNR bin and per length: found share,
medians and RMSE of the four labels over the chirps found, kind accuracy, false chirps per
recording. Writes ``benchmarks/results/recordings.json``; :func:`markdown` renders it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance, publish  # noqa: E402
from benchmarks.tables import fmt, md_header, md_row  # noqa: E402
from chirpgen.config import TARGETS, GenConfig  # noqa: E402
from chirpgen.sample import draw_frequencies  # noqa: E402
from chirpgen.signal import pink_noise  # noqa: E402
from chirploc.metrics import error_stats  # noqa: E402

RATES_HZ = (256, 500, 1000, 8000)
LENGTHS_S = (20.0, 47.0, 60.0, 150.0)
NOISE_ONLY = 0.2  # share of recordings without a chirp
SCIPY_METHOD = {"linear": "linear", "quadratic": "quadratic", "exponential": "logarithmic"}
SNR_STEP_DB = 5.0
IMPAIRMENTS = ("clean", "offset", "hum", "pink", "loud")
IMPAIR_SDS = 3.0  # an offset, or the amplitude of a 50 Hz hum, in noise standard deviations (model's band)
HUM_HZ = 50.0
LOUD_DB = 25.0  # the "loud" impairment raises every chirp by this much: 15 to 35 dB, above what the model knows


def draw_recording(i: int, rng: np.random.Generator, frame: GenConfig) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Recording ``i``: its samples, rate and truth (module docstring); ``kind`` is None without a chirp."""
    from scipy.signal import chirp

    sig = frame.signal
    rate, length_s = RATES_HZ[i % len(RATES_HZ)], LENGTHS_S[(i // len(RATES_HZ)) % len(LENGTHS_S)]
    n = int(length_s * rate)
    sigma = 10.0 ** rng.uniform(-2.0, 0.0)
    x = sigma * np.sqrt(rate / sig.sample_rate_hz) * rng.standard_normal(n)  # variance sigma^2 in the model's band
    truth: dict[str, Any] = {"rate_hz": rate, "length_s": length_s, "kind": None, "noise_sd": sigma}
    if rng.uniform() < NOISE_ONLY:
        return x, rate, truth
    kind = sig.kinds[int(rng.integers(len(sig.kinds)))]
    duration = rng.uniform(sig.duration_s[0], min(sig.duration_s[1], length_s))
    t_start = rng.uniform(0.0, length_s - duration)
    f_start, f_end = draw_frequencies(sig, rng)
    snr_db = rng.uniform(*sig.snr_db)
    t = np.arange(n) / rate
    on = (t >= t_start) & (t <= t_start + duration)
    amplitude = sigma * np.sqrt(2.0 * 10.0 ** (snr_db / 10.0))
    clean = amplitude * chirp(t[on] - t_start, f_start, duration, f_end, method=SCIPY_METHOD[kind],
                              phi=rng.uniform(0.0, 360.0))
    x[on] += clean
    truth.update(kind=kind, t_start_s=t_start, duration_s=duration, f_start_hz=f_start, f_end_hz=f_end, snr_db=snr_db,
                 chirp=(on, clean))  # where the chirp is and its samples, for the "loud" impairment
    return x, rate, truth


def impair(x: np.ndarray, rate: int, truth: dict[str, Any], impairment: str, rng: np.random.Generator,
           frame_rate_hz: float) -> np.ndarray:
    """``x`` with an ``impairment`` of IMPAIRMENTS (module docstring) added, in units of its noise's
    standard deviation in the model's band."""
    if impairment == "offset":
        return x + IMPAIR_SDS * truth["noise_sd"]
    if impairment == "hum":
        t = np.arange(len(x)) / rate
        return x + IMPAIR_SDS * truth["noise_sd"] * np.sin(2 * np.pi * HUM_HZ * t + rng.uniform(0.0, 2 * np.pi))
    if impairment == "loud":
        if truth["kind"] is None:
            return x
        on, clean = truth["chirp"]
        louder = x.copy()
        louder[on] += (10.0 ** (LOUD_DB / 20.0) - 1.0) * clean
        return louder
    if impairment == "pink":  # made at the model's rate, so all of its variance lies in the model's band
        from scipy.signal import resample_poly

        model_hz = int(frame_rate_hz)
        pink = truth["noise_sd"] * pink_noise(rng, int(len(x) * model_hz / rate) + 1)
        return x + resample_poly(pink, rate, model_hz)[: len(x)]
    return x


def write_wav(path: Path, x: np.ndarray, rate: int, pcm: bool) -> None:
    from scipy.io import wavfile

    if pcm:
        wavfile.write(path, rate, np.round(x / (1.01 * np.max(np.abs(x))) * 32767).astype(np.int16))
    else:
        wavfile.write(path, rate, x.astype(np.float32))


def score(truth: dict[str, Any], chirps: tuple) -> dict[str, Any]:
    """One recording's outcome (module docstring)."""
    out = {k: truth[k] for k in ("rate_hz", "length_s", "kind", "snr_db", "t_start_s") if k in truth}
    out["reported"] = len(chirps)
    if truth["kind"] is None or not chirps:
        return out | {"found": False}
    best = min(chirps, key=lambda c: abs(c.t_start_s - truth["t_start_s"]))
    return out | {"found": True, "kind_ok": best.kind == truth["kind"],
                  **{f"error_{k}": float(getattr(best, k) - truth[k]) for k in TARGETS}}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Found share, false chirps per recording, medians and RMSE of the labels, kind accuracy, over ``rows``
    (recordings with a chirp)."""
    found = [r for r in rows if r["found"]]
    out: dict[str, Any] = {"n": len(rows), "found": len(found) / len(rows) if rows else None,
                           "false_per_recording": float(np.mean([r["reported"] - r["found"] for r in rows])) if rows else None}
    if found:
        stats = {k: error_stats([r[f"error_{k}"] for r in found]) for k in TARGETS}
        out["median"] = {k: st["median"] for k, st in stats.items()}
        out["rmse"] = {k: st["rmse"] for k, st in stats.items()}
        out["kind_accuracy"] = float(np.mean([r["kind_ok"] for r in found]))
    return out


def evaluate(n: int, seed: int, predictor: Any, workdir: Path, impairment: str = "clean") -> dict[str, Any]:
    """Make ``n`` recordings in ``workdir`` with ``impairment`` (IMPAIRMENTS), describe them, and tabulate
    (module docstring); the same seed gives the same chirps and noise under every impairment."""
    from chirploc.describe import describe_many

    frame = predictor.frame
    rng, extra = np.random.default_rng(seed), np.random.default_rng([seed, IMPAIRMENTS.index(impairment)])
    paths, truths = [], []
    for i in range(n):
        x, rate, truth = draw_recording(i, rng, frame)
        path = workdir / f"rec{i:05d}.wav"
        write_wav(path, impair(x, rate, truth, impairment, extra, frame.signal.sample_rate_hz), rate, pcm=i % 2 == 0)
        paths.append(path)
        truth.pop("chirp", None)
        truths.append(truth)
    start = time.perf_counter()
    descriptions = list(describe_many(paths, predictor))
    seconds = time.perf_counter() - start
    failed = [d.error for d in descriptions if d.error]
    if failed:
        raise RuntimeError(f"{len(failed)} recordings could not be described, e.g. {failed[0]}")
    rows = [score(t, d.chirps) for t, d in zip(truths, descriptions, strict=True)]
    chirps = [r for r in rows if r["kind"] is not None]
    noise = [r for r in rows if r["kind"] is None]
    snr = np.array([r["snr_db"] for r in chirps])
    lo, hi = frame.signal.snr_db
    by_snr = []
    for edge in np.arange(lo, hi, SNR_STEP_DB):
        part = [r for r, s in zip(chirps, snr, strict=True) if edge <= s < edge + SNR_STEP_DB]
        by_snr.append({"snr_lo_db": float(edge), "snr_hi_db": float(edge + SNR_STEP_DB), **summary(part)})
    return {
        "impairment": impairment,
        "seed": seed,
        "recordings": n,
        "rates_hz": list(RATES_HZ),
        "lengths_s": list(LENGTHS_S),
        "seconds": seconds,
        "overall": summary(chirps),
        "by_snr": by_snr,
        "by_length": [{"length_s": L, **summary([r for r in chirps if r["length_s"] == L])} for L in LENGTHS_S],
        "late_start_after_s": frame.signal.t_start_s[1],
        "late_start": summary([r for r in chirps if r["t_start_s"] > frame.signal.t_start_s[1]]),
        "noise_only": {"n": len(noise), "with_a_chirp": float(np.mean([r["reported"] > 0 for r in noise])) if noise else None},
    }


def markdown(record: dict[str, Any]) -> list[str]:
    """The tables as markdown lines."""
    head = ["recordings", "n", "found", "false chirps / recording", *(f"{k} median (RMSE)" for k in TARGETS), "kind"]

    def row(label: str, s: dict[str, Any], *extra: str) -> str:
        if not s.get("median"):
            cells = ["-"] * (len(TARGETS) + 1)
        else:
            cells = [*(f"{fmt(s['median'][k])} ({fmt(s['rmse'][k])})" for k in TARGETS), fmt(s["kind_accuracy"])]
        return md_row([label, str(s["n"]), fmt(s["found"]), fmt(s["false_per_recording"]), *cells, *extra])

    lines = [*md_header(head)]
    for b in record["by_snr"]:
        lines.append(row(f"{b['snr_lo_db']:g}..{b['snr_hi_db']:g} dB", b))
    for b in record["by_length"]:
        lines.append(row(f"{b['length_s']:g} s long", b))
    lines.append(row(f"starting after {record['late_start_after_s']:g} s", record["late_start"]))
    lines.append(row("all with a chirp", record["overall"]))
    noise = record["noise_only"]
    lines += ["", f"Noise-only recordings with a chirp reported: {fmt(noise['with_a_chirp'])} of {noise['n']}. "
              f"Described in {record['seconds']:.1f} s ({record['recordings'] / record['seconds']:.0f} recordings/s, "
              "reading, resampling and rendering included)."]
    impaired = record.get("impaired", {})
    if impaired:
        lines += ["", f"The same recordings with an offset of {IMPAIR_SDS:g} noise standard deviations, a {HUM_HZ:g} Hz "
                  "hum of that amplitude, or a pink (1/f) background as strong as the white noise, added; or with "
                  f"every chirp {LOUD_DB:g} dB louder (\"loud\"):", "",
                  *md_header(["condition", *head[1:], "noise-only with a chirp"])]
        for name, rec in [("clean", record), *impaired.items()]:
            lines.append(row(name, rec["overall"], fmt(rec["noise_only"]["with_a_chirp"])))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="chirploc run directory (default: the packaged model)")
    parser.add_argument("--n", type=int, default=500, help="recordings to make (a share NOISE_ONLY without a chirp)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "recordings.json")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n {args.n}: make at least one recording")
    from chirploc.inference import load_predictor

    predictor = load_predictor(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        record = evaluate(args.n, args.seed, predictor, Path(tmp))
        record["impaired"] = {}
        for impairment in IMPAIRMENTS[1:]:
            got = evaluate(args.n, args.seed, predictor, Path(tmp), impairment)
            record["impaired"][impairment] = {k: got[k] for k in ("overall", "noise_only", "seconds")}
    publish(args.out, {"benchmark": "recordings", "provenance": provenance(model=args.model or "packaged default"),
                       **record}, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
