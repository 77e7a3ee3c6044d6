"""Generation speed, size and memory, measured side by side in one run.

    python benchmarks/bench_generate.py                      # full: includes chirpgen make --n 100000
    python benchmarks/bench_generate.py --quick              # minutes: --n 10000 and fewer figures

Contestants, all on the same machine in the same run:

- ``chirpgen``: ``make_dataset`` with one worker (per-core rate, bytes per sample on disk);
- ``matplotlib``: the same spectrogram images (chirpgen's pixels) rendered through a matplotlib
  figure and ``savefig`` as PNG, the way figure-based generators store them;
- ``prior_art``: the published generator (``pip install chirp-spectrogram-generator==0.1.6``,
  ``SpectrogramGenerator.generate_dataset``), when installed;
- ``storage``: the same images written into HDF5 one chunk per image, uncompressed (as ``make``
  writes them) and with gzip level 1 (as sample format 1 did): write time and bytes per sample;
- ``make_full``: the real command ``chirpgen make --n N --workers 2`` in a subprocess, with wall
  time and peak memory, at two sizes to show memory does not grow with N.

Writes ``benchmarks/results/generate_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.config import load_config  # noqa: E402
from chirpgen.dataset import make_dataset  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.sample import make_sample  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "generate_speed.json"


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_chirpgen(n: int, tmp: Path, repeats: int) -> dict:
    config = load_config("default")
    times = []
    for r in range(repeats):
        out = tmp / f"chirpgen-{r}"
        start = time.perf_counter()
        make_dataset(out, n, config, seed=r, workers=1, shard_size=max(n // 4, 1))
        times.append(time.perf_counter() - start)
        size = dir_bytes(out)
        shutil.rmtree(out)
    per = statistics.median(times) / n
    return {"n": n, "repeats": repeats, "s_per_sample": per, "samples_per_s_per_core": 1 / per, "bytes_per_sample": size / n}


def bench_matplotlib(n: int, tmp: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = load_config("default")
    out = tmp / "matplotlib"
    out.mkdir()
    extent = [0, config.signal.record_s, 0, config.stft.freq_bins * config.bin_hz]
    times = []
    for i in range(n):
        start = time.perf_counter()
        s = make_sample(config, 0, "train", i)
        fig = plt.figure()  # matplotlib's default 6.4 x 4.8 in at 100 dpi: 640 x 480 pixels
        plt.imshow(s.image, aspect="auto", cmap="gray", extent=extent)
        plt.xlabel("Time (s)")
        plt.ylabel("Frequency (Hz)")
        plt.colorbar(label="grey")
        fig.savefig(out / f"{i}.png")
        plt.close(fig)
        times.append(time.perf_counter() - start)
    per = statistics.median(times)
    return {"n": n, "s_per_sample": per, "samples_per_s_per_core": 1 / per, "bytes_per_sample": dir_bytes(out) / n}


def bench_prior_art(n: int, tmp: Path) -> dict | None:
    try:
        from chirp_spectrogram_generator import SpectrogramGenerator
    except ImportError:
        return None
    import contextlib
    import io

    import matplotlib

    matplotlib.use("Agg")
    out = tmp / "prior"
    gen = SpectrogramGenerator(output_dir=str(out))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gen.generate_dataset(n)
    per = (time.perf_counter() - start) / n
    return {
        "n": n,
        "version": "0.1.6",
        "s_per_sample": per,
        "samples_per_s_per_core": 1 / per,
        "bytes_per_sample": dir_bytes(out) / n,
    }


def bench_storage(n: int, tmp: Path) -> dict:
    import h5py
    import numpy as np

    config = load_config("default")
    images = np.stack([make_sample(config, 0, "train", i).image for i in range(n)])
    out: dict = {"n": n}
    for name, options in (("uncompressed", {}), ("gzip_1", {"compression": "gzip", "compression_opts": 1})):
        path = tmp / f"{name}.h5"
        start = time.perf_counter()
        with h5py.File(path, "w") as f:
            f.create_dataset("image", data=images, chunks=(1, *images.shape[1:]), **options)
        out[name] = {"s_per_sample": (time.perf_counter() - start) / n, "bytes_per_sample": path.stat().st_size / n}
        path.unlink()
    return out


def bench_make(n: int, tmp: Path, workers: int) -> dict:
    out = tmp / f"make-{n}"
    cmd = [str(Path(sys.executable).parent / "chirpgen"), "make", "--n", str(n), "--out", str(out),
           "--workers", str(workers), "--quiet"]
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", script, *cmd], capture_output=True, text=True, check=True)
    wall_s, max_rss_kb = result.stdout.split()[-2:]
    size = dir_bytes(out)
    shutil.rmtree(out)
    return {
        "n": n,
        "workers": workers,
        "command": " ".join(["chirpgen", *cmd[1:]]).replace(str(out), "OUT"),
        "wall_s": float(wall_s),
        "samples_per_s": n / float(wall_s),
        "peak_rss_mb_largest_process": int(max_rss_kb) / 1024,
        "bytes_per_sample": size / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (make bench)")
    parser.add_argument("--out", type=Path, default=OUT, help="results JSON")
    args = parser.parse_args()
    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    n_figures = 30 if args.quick else 100
    with tempfile.TemporaryDirectory(dir=os.environ.get("CHIRPGEN_BENCH_TMP")) as tmp_name:
        tmp = Path(tmp_name)
        results = {
            "chirpgen": bench_chirpgen(2_000, tmp, repeats=3),
            "matplotlib": bench_matplotlib(n_figures, tmp),
            "prior_art": bench_prior_art(n_figures, tmp),
            "storage": bench_storage(2_000, tmp),
            "make_full": [bench_make(n, tmp, workers=2) for n in sizes],
        }
    ours = results["chirpgen"]["s_per_sample"]
    ratios = {"matplotlib_over_chirpgen_per_sample": results["matplotlib"]["s_per_sample"] / ours}
    if results["prior_art"]:
        ratios["prior_art_over_chirpgen_per_sample"] = results["prior_art"]["s_per_sample"] / ours
    big = results["make_full"][-1]
    results["ratios"] = ratios
    results["projected_s_for_100000_one_core"] = {
        k: v["s_per_sample"] * 100_000 for k, v in results.items() if isinstance(v, dict) and "s_per_sample" in v
    }
    results["memory_growth"] = big["peak_rss_mb_largest_process"] / results["make_full"][0]["peak_rss_mb_largest_process"]
    record = {"benchmark": "generate_speed", "provenance": provenance(quick=args.quick), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, record)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
