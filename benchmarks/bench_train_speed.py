"""Training speed (images/s) of a chirploc recipe with AMP (bf16 autocast) on and off, side by side.

    .venv/bin/python benchmarks/bench_train_speed.py --config configs/default.yaml --steps 40 --device cpu \
        --out benchmarks/results/train_speed_cpu.json

Real samples of the default frame (chirpgen.make_sample) go through the full training step (forward,
loss, backward, AdamW) of the recipe's model; the first ``--warmup`` steps are not timed. The two
settings alternate in one process so machine load affects both alike.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import provenance  # noqa: E402
from chirpgen.config import KIND_NAMES, load_config  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirploc.config import load_train_config  # noqa: E402
from chirploc.data import sample_batch  # noqa: E402
from chirploc.model import build_model, prepare_images  # noqa: E402
from chirploc.runtime import autocast, resolve_amp, resolve_device  # noqa: E402
from chirploc.train import make_optimizer  # noqa: E402


def _steps(model, optimizer, config, device, amp_dtype, batch, steps: int) -> float:
    """Seconds for ``steps`` training steps on ``batch``."""
    batch = {k: v.to(device) for k, v in batch.items()}
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        x = prepare_images(batch["image"])  # (B, 1, H, W)
        with autocast(device, amp_dtype):
            out = model(x)
        loss = model.loss(out, batch, config.kind_loss_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


@click.command()
@click.option(
    "--config", "config_path", default="configs/default.yaml", show_default=True, help="Recipe YAML."
)
@click.option("--steps", default=40, show_default=True, help="Timed steps per setting.")
@click.option("--warmup", default=3, show_default=True, help="Untimed steps per setting first.")
@click.option("--batch-size", type=int, default=None, help="Override the recipe's batch size.")
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True, help="Device."
)
@click.option(
    "--out", default="benchmarks/results/train_speed_cpu.json", show_default=True, help="Results JSON."
)
def main(
    config_path: str, steps: int, warmup: int, batch_size: int | None, threads: int, device: str, out: str
) -> None:
    """Measure and write images/s with AMP on and off."""
    if threads:
        torch.set_num_threads(threads)
    config = load_train_config(config_path, [f"batch_size={batch_size}"] if batch_size else [])
    frame = load_config("default")
    dev = resolve_device(device)
    amp_on = resolve_amp("bf16" if dev.type == "cpu" else "fp16", dev)
    model, _, _ = build_model(config.model, frame, len(KIND_NAMES), seed=0)
    model.to(dev).train()
    optimizer = make_optimizer(model, config)
    batch = sample_batch(frame, config.batch_size, dense=getattr(model.head, "grid", None))
    settings = {"off": None, str(amp_on).replace("torch.", ""): amp_on}
    times = {name: 0.0 for name in settings}
    for dtype in settings.values():
        _steps(model, optimizer, config, dev, dtype, batch, warmup)
    chunk = max(1, steps // 4)
    for _ in range(0, steps, chunk):  # alternate so load changes hit both settings
        for name, dtype in settings.items():
            times[name] += _steps(model, optimizer, config, dev, dtype, batch, chunk)
    n_steps = len(range(0, steps, chunk)) * chunk
    results = {
        name: {"images_per_s": n_steps * config.batch_size / t, "seconds": t, "steps": n_steps}
        for name, t in times.items()
    }
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    record = {
        "benchmark": "train_speed",
        "results": results,
        "config": {
            "recipe": config_path,
            "arch": config.model.arch,
            "adapt": config.model.adapt,
            "global_pool": config.model.global_pool,
            "batch_size": config.batch_size,
            "image_shape": list(frame.image_shape),
            "trainable_params": n_trainable,
            "note": "LoRA step timing with an untrained (random init) backbone; weights do not affect speed",
        },
        "provenance": provenance(
            torch_threads=torch.get_num_threads(),
            device=str(dev),
            cuda_device=torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
        ),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out), record)
    for name, r in results.items():
        click.echo(
            f"amp {name:>9}: {r['images_per_s']:.1f} images/s ({r['steps']} steps of {config.batch_size})"
        )


if __name__ == "__main__":
    main()
