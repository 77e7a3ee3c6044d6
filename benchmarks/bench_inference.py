"""Inference speed of a chirploc model: images/s in batches, per-image latency, and `describe` end to end.

    python benchmarks/bench_inference.py [--model RUN] [--out benchmarks/results/inference_speed_cpu.json]

Without ``--model`` the packaged default model is measured. Batched throughput and single-image
latency are medians over repeated calls on real test images of the benchmark data set, with bf16
autocast off and on in the same run; ``describe_cli_s`` is the wall time of the real command
``chirploc describe IMAGE.png --json`` in a fresh process (Python start and imports included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_data import DEFAULT_OUT  # noqa: E402
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402
from chirploc.inference import load_predictor  # noqa: E402
from chirploc.runtime import autocast  # noqa: E402


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="run directory (default: the packaged model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="data set with a test split")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "inference_speed_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = load_predictor(args.model)
    images = read_split(args.data, "test", 256)["image"]
    results: dict[str, dict[str, float]] = {}
    for amp in ("off", "bf16"):
        def call(batch: np.ndarray, amp: str = amp) -> None:
            with autocast(torch.device("cpu"), torch.bfloat16 if amp == "bf16" else None):
                predictor.predict(batch)

        call(images[:64])  # warm-up
        batch_s = median_time(lambda: call(images[:256]), 5)
        single_s = median_time(lambda: call(images[:1]), 30)
        results[amp] = {"batch": 256, "images_per_s": 256 / batch_s, "single_image_ms": single_s * 1e3}
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "one.png"
        Image.fromarray(images[0], mode="L").save(png)
        cmd = [str(Path(sys.executable).parent / "chirploc"), "describe", str(png), "--json"]
        if args.model:
            cmd += ["--model", args.model]
        cli_s = [median_time(lambda: subprocess.run(cmd, check=True, capture_output=True), 1) for _ in range(3)]
    record = {
        "benchmark": "inference_speed",
        "provenance": provenance(model=args.model or "packaged default", torch_threads=args.threads),
        "results": {**results, "describe_cli_s": statistics.median(cli_s)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, record)
    print(json.dumps(record["results"], indent=2))


if __name__ == "__main__":
    main()
