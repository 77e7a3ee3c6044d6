"""Training: LoRA (or full) fine-tuning of the chirp localiser on a chirpgen data set.

    chirploc train --data data/ --out runs/exp1 --config configs/debug.yaml
    chirploc pretrain --data data/ --out runs/pre --config configs/debug.yaml

``train`` reads top to bottom: data, model, optimiser, then one loop over epochs that trains,
validates (model selection on val only), steps the plateau scheduler and early stopping, and writes
``last`` (with the state to resume) and ``best``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler

from chirpgen.config import KIND_NAMES
from chirploc.checkpoint import (
    CheckpointError,
    export_backbone,
    load_run,
    load_train_state,
    load_weights,
    save_checkpoint,
    save_run_files,
)
from chirploc.config import TrainConfig
from chirploc.data import TARGETS, ChirpShards, TargetNormalisation
from chirploc.model import backbone_meta, build_model, prepare_images

log = logging.getLogger(__name__)


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs in which the monitored loss did not drop by more than ``min_delta``."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    bad_epochs: int = 0

    def step(self, value: float) -> bool:
        """Record one epoch's loss; return True when it is a new best."""
        if value < self.best - self.min_delta:
            self.best, self.bad_epochs = value, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, float]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; an asked-for CUDA that is missing is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but no CUDA device is available; use --device cpu or auto"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 matrix units (AMX or AVX512-BF16), where bf16 autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None: full float32). fp16 is CUDA-only and always runs with a GradScaler."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_bf16() else None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs CUDA (with a GradScaler); on CPU use amp=bf16 or amp=off")
    return torch.float16 if amp == "fp16" else torch.bfloat16


def compute_loss(
    reg: torch.Tensor, logits: torch.Tensor, target: torch.Tensor, kind: torch.Tensor, kind_weight: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smooth-L1 on normalised targets plus weighted kind cross-entropy; returns (total, reg, kind)."""
    reg_loss = F.smooth_l1_loss(reg.float(), target, beta=0.05)  # (B, 4) vs (B, 4)
    kind_loss = F.cross_entropy(logits.float(), kind)  # (B, K) vs (B,)
    return reg_loss + kind_weight * kind_loss, reg_loss, kind_loss


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases, norms and embeddings' 1-d tensors."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    normalisation: TargetNormalisation,
    kind_weight: float,
) -> dict[str, Any]:
    """Mean val loss, MAE per target in physical units, and kind accuracy."""
    model.eval()
    total, n, preds, trues, kinds_ok = 0.0, 0, [], [], 0
    for batch in loader:
        x = prepare_images(batch["image"].to(device))  # (B, 1, H, W)
        target, kind = batch["target"].to(device), batch["kind"].to(device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            reg, logits = model(x)  # (B, 4), (B, K)
        loss, _, _ = compute_loss(reg, logits, target, kind, kind_weight)
        total += loss.item() * len(x)
        n += len(x)
        preds.append(reg.float().cpu().numpy())
        trues.append(target.cpu().numpy())
        kinds_ok += (logits.argmax(1) == kind).sum().item()
    err = np.abs(
        normalisation.decode(np.concatenate(preds), clip=True) - normalisation.decode(np.concatenate(trues))
    )  # (N, 4)
    return {
        "val_loss": total / n,
        "val_mae": {k: float(err[:, i].mean()) for i, k in enumerate(TARGETS)},
        "val_kind_accuracy": kinds_ok / n,
    }


def _progress(iterable: Any, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def train(
    data: str | Path,
    out: str | Path,
    config: TrainConfig,
    resume: bool = False,
    pretrain: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a chirp localiser on the data set ``data`` into the run directory ``out``.

    Args:
        data: a chirpgen data set directory (train and val splits are used).
        out: the run directory; must not hold a run unless ``resume``.
        config: the recipe (for ``pretrain``, already passed through ``TrainConfig.for_pretrain``).
        resume: continue from ``out/last`` with the run's own saved config.
        pretrain: also write ``out/backbone.safetensors`` (the best backbone) for ``model.weights=out``.
        progress: show tqdm progress bars with images/s.

    Returns:
        A summary: best epoch, best val loss, epochs run, and whether training stopped early.
    """
    out = Path(out)
    if resume:
        if not (out / "last" / "checkpoint.json").is_file():
            raise CheckpointError(
                f"cannot resume: {str(out)!r} holds no last checkpoint; drop --resume to start a run"
            )
        config = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
        log.info(
            "resuming with the run's saved recipe %s (edit its epochs to train longer)", out / "config.json"
        )
    elif (out / "last").exists() or (out / "best").exists():
        raise CheckpointError(
            f"run directory {str(out)!r} already holds a run; pass --resume or choose a new --out"
        )
    with torch_threads(config.num_threads):
        return _train(data, out, config, resume, pretrain, progress)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` torch CPU threads inside the block (0: leave as is); on shared cores 1 can be much faster."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(
    data: str | Path, out: Path, config: TrainConfig, resume: bool, pretrain: bool, progress: bool
) -> dict[str, Any]:
    device = resolve_device(config.device)
    amp_dtype = resolve_amp(config.amp, device)

    # data: normalisation from the frame's ranges, not from any split's statistics
    train_set = ChirpShards(data, "train", limit=config.max_train_samples)
    frame, normalisation = train_set.frame, train_set.normalisation
    val_set = ChirpShards(data, "val", normalisation, limit=config.max_val_samples)
    if resume:
        saved = json.loads((out / "frame.json").read_text())
        if saved != frame.to_dict():
            raise CheckpointError(
                f"cannot resume: data set {str(data)!r} has another frame than run {str(out)!r}"
            )

    # model
    adapt = config.model.adapt
    if resume:
        model = load_run(out, "last").model
    else:
        model, base_state, resolved = build_model(
            config.model, frame.image_shape, len(KIND_NAMES), config.seed
        )
        config.model = resolved
        meta = backbone_meta(resolved, frame.image_shape)
        save_run_files(out, config, frame, normalisation, meta, base_state if adapt == "lora" else None)
    model.to(device)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    log.info("model %s (%s): %d of %d parameters train", config.model.arch, adapt, n_trainable, n_total)

    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
    )
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    stopper = EarlyStopping(config.early_stop_patience, config.min_delta)
    start_epoch, best_epoch = 0, -1
    shuffle = torch.Generator()
    sampler = RandomSampler(train_set, generator=shuffle)
    pin = device.type == "cuda"
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=len(train_set) > config.batch_size,
        pin_memory=pin,
        persistent_workers=config.num_workers > 0,
    )
    val_loader = DataLoader(
        val_set, batch_size=config.batch_size, num_workers=config.num_workers, pin_memory=pin
    )

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        if resume:
            state = load_train_state(out)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            stopper.load_state_dict(state["early_stopping"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"])
            start_epoch, best_epoch = int(state["epoch"]) + 1, int(state["best_epoch"])
            log.info("resuming %s at epoch %d", out, start_epoch)

        epoch = start_epoch - 1
        for epoch in range(start_epoch, config.epochs):
            if stopper.should_stop:
                break
            shuffle.manual_seed(config.seed * 100_003 + epoch)  # the same order on resume
            model.train()
            t0, seen, total = time.perf_counter(), 0, 0.0
            bar = _progress(train_loader, progress, f"epoch {epoch + 1}/{config.epochs}", len(train_loader))
            for batch in bar:
                x = prepare_images(batch["image"].to(device, non_blocking=True))  # (B, 1, H, W)
                target, kind = batch["target"].to(device), batch["kind"].to(device)  # (B, 4), (B,)
                with torch.autocast(
                    device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
                ):
                    reg, logits = model(x)  # (B, 4), (B, K)
                loss, _, _ = compute_loss(reg, logits, target, kind, config.kind_loss_weight)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                else:
                    loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                seen += len(x)
                total += loss.item() * len(x)
                if progress:
                    bar.set_postfix(
                        loss=f"{loss.item():.4f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}"
                    )
            train_time = time.perf_counter() - t0

            val = validate(model, val_loader, device, amp_dtype, normalisation, config.kind_loss_weight)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step(val["val_loss"])
            improved = stopper.step(val["val_loss"])
            if improved:
                best_epoch = epoch
            record = {
                "epoch": epoch + 1,
                "train_loss": total / max(seen, 1),
                **val,
                "lr": lr,
                "images_per_s": seen / train_time,
                "epoch_time_s": time.perf_counter() - t0,
                "best": improved,
            }
            info = {"epoch": epoch + 1, "val_loss": val["val_loss"], "val_mae": val["val_mae"]}
            train_state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "early_stopping": stopper.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "best_epoch": best_epoch,
            }
            save_checkpoint(out, "last", model, adapt, info, train_state)
            if improved:
                save_checkpoint(out, "best", model, adapt, info)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            log.info(
                "epoch %d: train %.4f val %.4f (mae %s) kind acc %.3f lr %.2g %.0f img/s%s",
                epoch + 1,
                record["train_loss"],
                val["val_loss"],
                " ".join(f"{k}={v:.2f}" for k, v in val["val_mae"].items()),
                val["val_kind_accuracy"],
                lr,
                record["images_per_s"],
                " *" if improved else "",
            )

    if pretrain:
        load_weights(model, out / "best", adapt)
        meta = json.loads((out / "backbone.json").read_text())
        export_backbone(out, model.cpu(), meta)
    return {
        "best_epoch": best_epoch + 1,
        "best_val_loss": stopper.best,
        "epochs_run": epoch + 1,
        "stopped_early": stopper.should_stop,
        "run_dir": str(out),
    }
