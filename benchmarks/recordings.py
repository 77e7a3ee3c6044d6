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
sigma^2) once the recording is resampled. A share NOISE_ONLY of the recordings holds no chirp. In
the condition "several", each recording with chirps holds SEVERAL chirps (as many as fit), each
drawn as above and placed where it leaves at least GAP_S free on either side of the others, as
calls follow one another in a bat or bird recording; in "crowded", as many placed anywhere, so that
they may overlap in time (a chorus) and cross in frequency. The
same recordings are then made again with an impairment of real recordings added: an offset of
IMPAIR_SDS sigma, a mains hum of HUM_HZ and amplitude IMPAIR_SDS sigma, or a pink (1/f) background of
variance sigma^2 in the model's band on top of the white one (the SNR stays the white noise's; near
the lowest frequencies the pink noise is far stronger); or with every chirp LOUD_DB louder, 15 to
35 dB, where real calls often are and above the 10 dB the default model was trained to.

Every file goes through chirploc.describe_many with the packaged model (or ``--model``), the path
`chirploc describe` takes. The reported chirps of a recording are matched one to one to its true
chirps (:func:`match`: least total start-time error, only pairs that overlap in time). Per true
chirp: whether it is found and the errors of its match; per recording, the reported chirps left
unmatched (false chirps), shared among its true chirps; per noise-only recording, whether it reports
any. Tables per SNR bin and per length: found share, medians and RMSE of the four labels over the
chirps found, kind accuracy, false chirps per true chirp. Writes
``benchmarks/results/recordings.json``; :func:`markdown` renders it.
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
CONDITIONS = (*IMPAIRMENTS, "several", "crowded")  # clean recordings with SEVERAL chirps each (module docstring)
SEVERAL = (2, 4)  # chirps per recording in "several", drawn uniformly (fewer where no more fit)
GAP_S = 1.0  # in "several", the least time between one chirp's end and the next one's start
PLACE_TRIES = 100  # start times drawn for a chirp in "several" before it is left out: no room
IMPAIR_SDS = 3.0  # an offset, or the amplitude of a 50 Hz hum, in noise standard deviations (model's band)
HUM_HZ = 50.0
LOUD_DB = 25.0  # the "loud" impairment raises every chirp by this much: 15 to 35 dB, above what the model knows


def draw_chirp(rng: np.random.Generator, frame: GenConfig, t: np.ndarray, length_s: float, sigma: float,
               taken: list[dict[str, Any]], gap_s: float = GAP_S) -> dict[str, Any] | None:
    """One chirp drawn as the module docstring says, in a recording of ``length_s`` seconds and sample
    times ``t``, apart by ``gap_s`` from the chirps ``taken`` (None if no start leaves room; -inf: anywhere);
    with its samples under "samples"."""
    from scipy.signal import chirp

    sig = frame.signal
    kind = sig.kinds[int(rng.integers(len(sig.kinds)))]
    duration = rng.uniform(sig.duration_s[0], min(sig.duration_s[1], length_s))
    for _ in range(PLACE_TRIES):
        t_start = rng.uniform(0.0, length_s - duration)
        if all(t_start >= c["t_start_s"] + c["duration_s"] + gap_s or t_start + duration + gap_s <= c["t_start_s"]
               for c in taken):
            break
    else:
        return None
    f_start, f_end = draw_frequencies(sig, rng)
    snr_db = rng.uniform(*sig.snr_db)
    on = (t >= t_start) & (t <= t_start + duration)
    amplitude = sigma * np.sqrt(2.0 * 10.0 ** (snr_db / 10.0))
    clean = amplitude * chirp(t[on] - t_start, f_start, duration, f_end, method=SCIPY_METHOD[kind],
                              phi=rng.uniform(0.0, 360.0))
    return {"kind": kind, "t_start_s": t_start, "duration_s": duration, "f_start_hz": f_start, "f_end_hz": f_end,
            "snr_db": snr_db, "samples": (on, clean)}


def draw_recording(i: int, rng: np.random.Generator, frame: GenConfig,
                   several: str | None = None) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Recording ``i``: its samples, rate and truth (module docstring): ``chirps``, a list of dicts of
    the labels, kind and SNR of each (empty without a chirp), each with its samples under "samples"
    (where it is and what it adds, for the "loud" impairment); one chirp, or SEVERAL placed as the
    condition ``several`` ("several" or "crowded") places them."""
    rate, length_s = RATES_HZ[i % len(RATES_HZ)], LENGTHS_S[(i // len(RATES_HZ)) % len(LENGTHS_S)]
    n = int(length_s * rate)
    sigma = 10.0 ** rng.uniform(-2.0, 0.0)
    x = sigma * np.sqrt(rate / frame.signal.sample_rate_hz) * rng.standard_normal(n)  # variance sigma^2 in the model's band
    truth: dict[str, Any] = {"rate_hz": rate, "length_s": length_s, "noise_sd": sigma, "chirps": []}
    if rng.uniform() < NOISE_ONLY:
        return x, rate, truth
    t = np.arange(n) / rate
    for _ in range(int(rng.integers(SEVERAL[0], SEVERAL[1] + 1)) if several else 1):
        drawn = draw_chirp(rng, frame, t, length_s, sigma, truth["chirps"], -np.inf if several == "crowded" else GAP_S)
        if drawn is not None:
            on, clean = drawn["samples"]
            x[on] += clean
            truth["chirps"].append(drawn)
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
        louder = x.copy()
        for c in truth["chirps"]:
            on, clean = c["samples"]
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


def match(true: list[dict[str, Any]], reported: tuple) -> list[tuple[int, int]]:
    """Pairs (true index, reported index), one to one, of least total start-time error among the pairs
    that overlap in time."""
    from scipy.optimize import linear_sum_assignment

    if not true or not reported:
        return []
    t0 = np.array([c["t_start_s"] for c in true])
    t1 = t0 + np.array([c["duration_s"] for c in true])
    r0 = np.array([c.t_start_s for c in reported])
    r1 = np.array([c.t_end_s for c in reported])
    overlaps = np.minimum(t1[:, None], r1[None]) > np.maximum(t0[:, None], r0[None])
    cost = np.where(overlaps, np.abs(t0[:, None] - r0[None]), 1e9)
    return [(int(i), int(j)) for i, j in zip(*linear_sum_assignment(cost), strict=True) if overlaps[i, j]]


def score(truth: dict[str, Any], chirps: tuple) -> tuple[list[dict[str, Any]], int]:
    """One recording's outcome (module docstring): a row per true chirp, and its false chirps."""
    pairs = dict(match(truth["chirps"], chirps))
    n_false = len(chirps) - len(pairs)
    rows = []
    for i, c in enumerate(truth["chirps"]):
        row = {"rate_hz": truth["rate_hz"], "length_s": truth["length_s"], "kind": c["kind"], "snr_db": c["snr_db"],
               "t_start_s": c["t_start_s"], "false": n_false / len(truth["chirps"]), "found": i in pairs}
        if i in pairs:
            got = chirps[pairs[i]]
            row |= {"kind_ok": got.kind == c["kind"], **{f"error_{k}": float(getattr(got, k) - c[k]) for k in TARGETS}}
        rows.append(row)
    return rows, n_false


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Found share, false chirps per true chirp, medians and RMSE of the labels, kind accuracy, over
    ``rows`` (true chirps)."""
    found = [r for r in rows if r["found"]]
    out: dict[str, Any] = {"n": len(rows), "found": len(found) / len(rows) if rows else None,
                           "false_per_chirp": float(np.mean([r["false"] for r in rows])) if rows else None}
    if found:
        stats = {k: error_stats([r[f"error_{k}"] for r in found]) for k in TARGETS}
        out["median"] = {k: st["median"] for k, st in stats.items()}
        out["rmse"] = {k: st["rmse"] for k, st in stats.items()}
        out["kind_accuracy"] = float(np.mean([r["kind_ok"] for r in found]))
    return out


def evaluate(n: int, seed: int, predictor: Any, workdir: Path, condition: str = "clean") -> dict[str, Any]:
    """Make ``n`` recordings in ``workdir`` under ``condition`` (CONDITIONS), describe them, and tabulate
    (module docstring); the same seed gives the same chirps and noise under every impairment."""
    from chirploc.describe import describe_many

    frame = predictor.frame
    rng, extra = np.random.default_rng(seed), np.random.default_rng([seed, CONDITIONS.index(condition)])
    impairment = condition if condition in IMPAIRMENTS else "clean"
    paths, truths = [], []
    for i in range(n):
        x, rate, truth = draw_recording(i, rng, frame, several=condition if condition in ("several", "crowded") else None)
        path = workdir / f"rec{i:05d}.wav"
        write_wav(path, impair(x, rate, truth, impairment, extra, frame.signal.sample_rate_hz), rate, pcm=i % 2 == 0)
        paths.append(path)
        for c in truth["chirps"]:
            del c["samples"]
        truths.append(truth)
    start = time.perf_counter()
    descriptions = list(describe_many(paths, predictor))
    seconds = time.perf_counter() - start
    failed = [d.error for d in descriptions if d.error]
    if failed:
        raise RuntimeError(f"{len(failed)} recordings could not be described, e.g. {failed[0]}")
    chirps, noise = [], []
    for t, d in zip(truths, descriptions, strict=True):
        rows, n_false = score(t, d.chirps)
        chirps += rows
        if not t["chirps"]:
            noise.append(n_false)
    snr = np.array([r["snr_db"] for r in chirps])
    lo, hi = frame.signal.snr_db
    by_snr = []
    for edge in np.arange(lo, hi, SNR_STEP_DB):
        part = [r for r, s in zip(chirps, snr, strict=True) if edge <= s < edge + SNR_STEP_DB]
        by_snr.append({"snr_lo_db": float(edge), "snr_hi_db": float(edge + SNR_STEP_DB), **summary(part)})
    return {
        "condition": condition,
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
        "chirps_per_recording": len(chirps) / (n - len(noise)) if n > len(noise) else None,
        "noise_only": {"n": len(noise), "with_a_chirp": float(np.mean([k > 0 for k in noise])) if noise else None},
    }


def markdown(record: dict[str, Any]) -> list[str]:
    """The tables as markdown lines."""
    head = ["recordings", "chirps", "found", "false chirps / chirp", *(f"{k} median (RMSE)" for k in TARGETS), "kind"]

    def row(label: str, s: dict[str, Any], *extra: str) -> str:
        if not s.get("median"):
            cells = ["-"] * (len(TARGETS) + 1)
        else:
            cells = [*(f"{fmt(s['median'][k])} ({fmt(s['rmse'][k])})" for k in TARGETS), fmt(s["kind_accuracy"])]
        return md_row([label, str(s["n"]), fmt(s["found"]), fmt(s["false_per_chirp"]), *cells, *extra])

    lines = [*md_header(head)]
    for b in record["by_snr"]:
        lines.append(row(f"{b['snr_lo_db']:g}..{b['snr_hi_db']:g} dB", b))
    for b in record["by_length"]:
        lines.append(row(f"{b['length_s']:g} s long", b))
    lines.append(row(f"starting after {record['late_start_after_s']:g} s", record["late_start"]))
    lines.append(row("all", record["overall"]))
    noise = record["noise_only"]
    lines += ["", f"Noise-only recordings with a chirp reported: {fmt(noise['with_a_chirp'])} of {noise['n']}. "
              f"Described in {record['seconds']:.1f} s ({record['recordings'] / record['seconds']:.0f} recordings/s, "
              "reading, resampling and rendering included)."]
    impaired = record.get("impaired", {})
    if impaired:
        several = impaired.get("several")
        lines += ["", f"The same recordings with an offset of {IMPAIR_SDS:g} noise standard deviations, a {HUM_HZ:g} Hz "
                  "hum of that amplitude, or a pink (1/f) background as strong as the white noise, added; or with "
                  f"every chirp {LOUD_DB:g} dB louder (\"loud\")"
                  + (f"; and recordings like them with {SEVERAL[0]}-{SEVERAL[1]} chirps each, at least {GAP_S:g} s "
                     f"apart (\"several\", {fmt(several['chirps_per_recording'])} chirps per recording with chirps) "
                     "or anywhere, so that they may overlap in time and cross (\"crowded\")"
                     if several else "") + ":", "",
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
        for condition in CONDITIONS[1:]:
            got = evaluate(args.n, args.seed, predictor, Path(tmp), condition)
            record["impaired"][condition] = {k: got[k] for k in ("overall", "noise_only", "seconds",
                                                                  "chirps_per_recording")}
    publish(args.out, {"benchmark": "recordings", "provenance": provenance(model=args.model or "packaged default"),
                       **record}, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
