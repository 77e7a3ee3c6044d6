"""Inference speed and memory of chirploc's runtimes, side by side: in-process throughput and latency,
and the real ``chirploc describe`` command in fresh processes (one PNG; a folder of 1,000 PNGs).

    python benchmarks/bench_inference.py [--model DIR] [--lora-run RUN] [--out benchmarks/results/inference_speed_cpu.json]

Variants, all on the same weights:

- ``numpy``: the packaged model (LoRA merged) on chirploc.engine: no torch import;
- ``torch``: the same package on torch + timm (``--engine torch``), fp32 and bf16 autocast;
- ``torch + peft``: the LoRA run the package was made from (``--lora-run``; torch, timm and peft),
  which is how every model was loaded before packages existed. Skipped when the run is absent.

Throughput and one-image latency are medians over repeated calls on real test images of the
benchmark data set. Command wall time and peak memory (max RSS) come from fresh processes, each
measured three times (median wall, max RSS of the median run's process).
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
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_data import DEFAULT_OUT  # noqa: E402
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402
from chirploc.inference import DEFAULT_MODEL_DIR, load_predictor  # noqa: E402

N_FOLDER = 1000
# runs a command and prints its wall time and its peak memory (the max RSS of the waited-for child)
_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command_cost(cmd: list[str], repeats: int = 3) -> dict[str, float]:
    """Median wall seconds and that run's peak memory (MB) of ``cmd`` in fresh processes."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True)
        wall, rss_kb = out.stdout.split()
        runs.append((float(wall), float(rss_kb) / 1024))
    wall, rss = sorted(runs)[len(runs) // 2]
    return {"wall_s": wall, "peak_mb": rss}


def in_process(model: Path, engine: str, images: np.ndarray, bf16: bool = False) -> dict[str, float]:
    """Images/s on batches of 256 and one-image latency of a loaded predictor."""
    import contextlib

    predictor = load_predictor(model, engine=engine)
    context = contextlib.nullcontext
    if bf16:
        import torch

        from chirploc.runtime import autocast

        context = lambda: autocast(torch.device("cpu"), torch.bfloat16)  # noqa: E731

    def call(batch: np.ndarray) -> None:
        with context():
            predictor.predict(batch)

    call(images[:64])  # warm-up
    batch_s = median_time(lambda: call(images[:256]), 5)
    single_s = median_time(lambda: call(images[:1]), 30)
    return {"batch": 256, "images_per_s": 256 / batch_s, "single_image_ms": single_s * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="packaged model (chirploc package)")
    parser.add_argument("--lora-run", type=Path, default=REPO / "runs" / "reference-cpu_dense",
                        help="the LoRA run the package was made from (skipped if absent)")
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="data set with a test split")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "inference_speed_cpu.json")
    args = parser.parse_args()
    test = read_split(args.data, "test", N_FOLDER)["image"]
    chirploc = str(Path(sys.executable).parent / "chirploc")
    variants: dict[str, tuple[Path, str]] = {"numpy": (args.model, "numpy"), "torch": (args.model, "torch")}
    if (args.lora_run / "best" / "adapter.safetensors").is_file():
        variants["torch + peft"] = (args.lora_run, "torch")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pngs"
        folder.mkdir()
        for i, image in enumerate(test):
            Image.fromarray(image, mode="L").save(folder / f"{i:04d}.png")
        one = folder / "0000.png"
        for name, (model, engine) in variants.items():
            base = [chirploc, "describe", "--model", str(model), "--engine", engine, "--json"]
            row = {"model": str(model.relative_to(REPO) if model.is_relative_to(REPO) else model), "engine": engine}
            row["in_process"] = {"fp32": in_process(model, engine, test)}
            if engine == "torch":
                row["in_process"]["bf16"] = in_process(model, engine, test, bf16=True)
            row["describe_one_png"] = command_cost([*base, str(one)])
            folder_cost = command_cost([*base, str(folder)], repeats=1)
            row["describe_folder"] = {**folder_cost, "n": len(test), "images_per_s": len(test) / folder_cost["wall_s"]}
            results[name] = row
            print(name, json.dumps(row), flush=True)
    record = {
        "benchmark": "inference_speed",
        "provenance": provenance(model=str(args.model), n_folder=len(test)),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, record)


if __name__ == "__main__":
    main()
