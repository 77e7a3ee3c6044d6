"""Training: LoRA (or full) fine-tuning of the chirp localiser on a chirpgen data set.

    chirploc train --data data/ --out runs/exp1 --config configs/debug.yaml
    chirploc pretrain --data data/ --out runs/pre --config configs/debug.yaml

``train`` reads top to bottom: ``setup`` (data, model, optimiser, scheduler, scaler, or all of them
restored from ``last``), then per epoch ``train_one_epoch`` and ``end_of_epoch`` (validate on val
only, step the plateau scheduler and early stopping, write ``best`` when val improved, one line of
metrics.jsonl, then ``last`` with the state to resume, in that order: see chirploc.checkpoint).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, TARGETS, dotted_value
from chirpgen.plumbing import file_in_the_way, hold_lock, read_json, write_text_atomic
from chirploc.backbone import BackboneSpec
from chirploc.checkpoint import (
    CheckpointError,
    load_run,
    load_train_state,
    load_weights,
    read_run_recipe,
    save_checkpoint,
    save_run_files,
)
from chirploc.config import TrainConfig
from chirploc.data import ChirpShards, TargetNormalisation, dataset_frame
from chirploc.distributed import (
    ONE_PROCESS,
    Dist,
    RankSlice,
    all_sum,
    barrier,
    broadcast,
    finish,
    local_batch,
    wrap,
)
from chirploc.distributed import init as init_distributed
from chirploc.model import build_model, prepare_images
from chirploc.rundir import recover_checkpoints
from chirploc.runtime import autocast, grad_scaler, resolve_amp, resolve_device, torch_threads
from chirploc.weights import export_backbone, read_backbone_spec

log = logging.getLogger(__name__)
TRAIN_LOCK = ".chirploc-train.lock"
RESUME_RECIPE_FIX = "--resume trains with the run's saved recipe: fix that file, or start a new run with another --out"


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


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on 1-d tensors (biases, norms)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


@dataclass
class Training:
    """Everything one training run holds between epochs."""

    config: TrainConfig
    out: Path
    device: torch.device
    amp_dtype: torch.dtype | None
    model: torch.nn.Module
    normalisation: TargetNormalisation
    train_loader: DataLoader
    val_loader: DataLoader
    shuffle: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    stopper: EarlyStopping
    dist: Dist = ONE_PROCESS
    forward: torch.nn.Module | None = None  # the model as trained: DDP-wrapped across ranks, else the model
    next_epoch: int = 0  # index of the next epoch to run (= epochs completed)
    best_epoch: int = -1
    step: int = 0  # optimiser steps taken

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "early_stopping": self.stopper.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": self.next_epoch - 1,
            "best_epoch": self.best_epoch,
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.stopper.load_state_dict(state["early_stopping"])
        self.scaler.load_state_dict(state.get("scaler") or {})
        torch.set_rng_state(state["rng"])
        self.next_epoch, self.best_epoch = int(state["epoch"]) + 1, int(state["best_epoch"])
        self.step = int(state.get("step", 0))


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
        A summary: best epoch, best val loss, epochs run, whether training stopped early, and this
        process's rank (0 unless launched by torchrun, see chirploc.distributed).
    """
    out = Path(out)
    d = init_distributed(config.device)  # one process unless launched by torchrun
    if not d.main:
        log.setLevel(logging.WARNING)
    with _run_lock(out, d) as refusal:
        summary = _train(data, out, config, resume, pretrain, progress, d, refusal)
    finish(d)
    return summary


@dataclass
class _Refusal:
    """What this invocation added to the run directory, removed if it is refused (fails before its first
    epoch starts), so that a refused train leaves no half-written run; nothing that was there before is
    touched."""

    out: Path
    new_dirs: list[Path]  # ``out`` and the parents this invocation made, deepest first; empty if out existed
    before: set[str]  # the names in ``out`` before this invocation
    started: bool = False  # the first epoch has started: the run is kept, whatever happens next

    def undo(self) -> None:
        if self.new_dirs:
            shutil.rmtree(self.out, ignore_errors=True)
            for parent in self.new_dirs[1:]:
                try:
                    parent.rmdir()  # only while empty: another process may have written into it meanwhile
                except OSError:
                    break
            return
        for path in self.out.iterdir():
            if path.name in self.before:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@contextmanager
def _run_lock(out: Path, d: Dist) -> Iterator[_Refusal]:
    """One trainer per run directory (rank 0 holds the lock for its ranks); CheckpointError if another has
    it. Yields the :class:`_Refusal` record, whose additions are undone if the block raises before
    ``started`` is set."""
    if not d.main:
        yield _Refusal(out, [], set())
        return
    blocked = file_in_the_way(out)
    if blocked is not None:
        raise CheckpointError(f"--out {str(out)!r} cannot be made: {str(blocked)!r} is a file; choose another --out")
    new_dirs = list(itertools.takewhile(lambda p: not p.exists() and not p.is_symlink(), (out, *out.parents)))
    out.mkdir(parents=True, exist_ok=True)
    refusal = _Refusal(out, new_dirs, set() if new_dirs else {p.name for p in out.iterdir()})

    def busy(pid: str) -> CheckpointError:
        return CheckpointError(
            f"another chirploc training (pid {pid}) is writing to {str(out)!r}; wait for it to finish, or choose "
            "another --out"
        )

    with hold_lock(out / TRAIN_LOCK, busy):  # only the holder may undo: a refused second trainer leaves all alone
        try:
            yield refusal
        except BaseException:
            if not refusal.started:
                refusal.undo()
            raise


def _train(
    data: str | Path, out: Path, config: TrainConfig, resume: bool, pretrain: bool, progress: bool, d: Dist,
    refusal: _Refusal,
) -> dict[str, Any]:
    config = _run_recipe(out, config, resume, d)
    barrier(d)  # rank 0 has checked and repaired the run directory
    state = load_train_state(out) if resume else None  # read before any work, so a damaged one is named first
    with torch_threads(config.num_threads):
        t = setup(data, out, config, resume, d)
        with torch.random.fork_rng(devices=[t.device] if t.device.type == "cuda" else []):
            torch.manual_seed(config.seed)
            if state is not None:
                t.load_state_dict(state)
                log.info(
                    "resuming %s at epoch %d with the run's saved recipe %s (edit its epochs to train longer)",
                    out, t.next_epoch + 1, out / "config.json",
                )
            refusal.started = True
            if resume and d.main:
                _drop_metrics_after(out / "metrics.jsonl", t.next_epoch)
            while t.next_epoch < config.epochs and not t.stopper.should_stop:
                stats = train_one_epoch(t, progress and d.main)
                end_of_epoch(t, stats)
        if pretrain and d.main:
            load_weights(t.model, out / "best", config.model.adapt)
            export_backbone(out, t.model.backbone.cpu(), read_backbone_spec(out / "backbone.json"))
    barrier(d)
    return {
        "best_epoch": t.best_epoch + 1,
        "best_val_loss": t.stopper.best,
        "epochs_run": t.next_epoch,
        "stopped_early": t.stopper.should_stop,
        "run_dir": str(out),
        "rank": d.rank,
    }


def _drop_metrics_after(path: Path, epochs: int) -> None:
    """Keep the first ``epochs`` lines of metrics.jsonl: lines of epochs written after ``last`` was
    (a crash between the two) are redone by the resumed run."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) > epochs:
        write_text_atomic(path, "".join(lines[:epochs]))


def _run_recipe(out: Path, config: TrainConfig, resume: bool, d: Dist = ONE_PROCESS) -> TrainConfig:
    """The recipe to run: ``config`` for a new run, the run's own saved one on resume.

    A run that completed no epoch (killed in its first, so without ``last``) starts again when run
    without --resume; its partial ``best`` is dropped.
    """
    if d.main:
        recover_checkpoints(out)
    has_last = (out / "last" / "checkpoint.json").is_file()
    if resume:
        if not has_last:
            what = "completed no epoch" if (out / "config.json").is_file() else "holds no run"
            raise CheckpointError(
                f"cannot resume: {str(out)!r} {what} (no last checkpoint); run the same command without --resume "
                "to start it"
            )
        return read_run_recipe(out, RESUME_RECIPE_FIX)  # logged once the run is known to resume
    if has_last:
        raise CheckpointError(
            f"run directory {str(out)!r} already holds a run; pass --resume or choose a new --out"
        )
    if (out / "best").exists() and d.main:
        log.info("%s completed no epoch before it stopped: starting it again", out)
        shutil.rmtree(out / "best")
    return config


def check_resume_overrides(
    out: str | Path, recipe: TrainConfig, overrides: Sequence[str], pretrain: bool = False
) -> None:
    """CheckpointError when settings given with ``--resume`` differ from the run's saved recipe, which a
    resumed run keeps: they would be ignored without a word.

    Args:
        out: the run directory (a folder without config.json is left to :func:`train` to refuse).
        recipe: the recipe the command line asks for (``--config`` with ``overrides``).
        overrides: the ``KEY=VALUE`` settings of ``--set``, ``--seed`` and ``--device``; only their keys
            are compared, so the interrupted command run again with --resume passes.
        pretrain: the command is ``chirploc pretrain``, whose runs save ``recipe.for_pretrain()``.
    """
    out = Path(out)
    if not overrides or not (out / "config.json").is_file():
        return
    saved = _comparable(read_run_recipe(out, RESUME_RECIPE_FIX))
    asked = _comparable(TrainConfig.for_pretrain(recipe) if pretrain else recipe)
    keys = dict.fromkeys(o.partition("=")[0] for o in overrides)
    changed = [k for k in keys if dotted_value(asked, k) != dotted_value(saved, k)]
    if changed:
        shown = ", ".join(f"{k}={dotted_value(asked, k)!r} (the run has {dotted_value(saved, k)!r})" for k in changed[:4])
        raise CheckpointError(
            f"--resume keeps the run's recipe {str(out / 'config.json')!r}, but the command asks {shown}; to change "
            "them edit that file (e.g. its epochs to train longer) and resume without them, or start a new run "
            "with another --out"
        )


def _comparable(config: TrainConfig) -> dict[str, Any]:
    """The recipe as a dict, a backbone path made absolute (as a run saves it)."""
    d = config.to_dict()
    if d["model"]["weights"] not in ("none", "hub"):
        d["model"]["weights"] = str(Path(d["model"]["weights"]).resolve())
    return d


def setup(data: str | Path, out: Path, config: TrainConfig, resume: bool, d: Dist = ONE_PROCESS) -> Training:
    """Data (normalised with the frame's ranges, never a split's statistics), model and optimiser."""
    device = resolve_device(config.device)
    if device.type == "cuda" and d.active:
        device = torch.device("cuda", d.local_rank)
    amp_dtype = resolve_amp(config.amp, device)
    frame = dataset_frame(data)
    normalisation = TargetNormalisation.from_frame(frame)
    if resume:
        saved_frame = read_json(out / "frame.json", CheckpointError, "the run is damaged; start a new run with another --out")
        if saved_frame != frame.to_dict():
            raise CheckpointError(
                f"cannot resume: data set {str(data)!r} has another frame than run {str(out)!r} (its frame.json); "
                "resume with the --data it was trained on"
            )
        model = load_run(out, "last").model
    else:
        model, base_state, config.model = build_model(config.model, frame, len(KIND_NAMES), config.seed)
    grid = getattr(model.head, "grid", None)  # the dense head's targets come with the data
    train_set = ChirpShards(data, "train", normalisation, limit=config.max_train_samples, dense=grid)
    val_set = ChirpShards(data, "val", normalisation, limit=config.max_val_samples, dense=grid)
    if not resume and d.main:  # written once the data and the model are known to be good
        spec = BackboneSpec(config.model.arch, frame.image_shape, config.model.model_kwargs, config.model.global_pool)
        save_run_files(out, config, frame, normalisation, spec, base_state if config.model.adapt == "lora" else None)
    model.to(device)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    log.info("model %s (%s): %d of %d parameters train", config.model.arch, config.model.adapt, n_trainable, n_total)

    optimizer = make_optimizer(model, config)
    shuffle = torch.Generator()
    loader = dict(batch_size=config.batch_size, num_workers=config.num_workers, pin_memory=device.type == "cuda")
    sampler = RandomSampler(train_set, num_samples=config.epoch_samples or None, generator=shuffle)
    if d.active:  # each rank its slice of every global batch of the one order
        sampler = RankSlice(sampler, config.batch_size, d)
        train_loader = DataLoader(train_set, sampler=sampler, persistent_workers=config.num_workers > 0,
                                  **{**loader, "batch_size": local_batch(config.batch_size, d)})
    else:
        train_loader = DataLoader(train_set, sampler=sampler, drop_last=len(train_set) > config.batch_size,
                                  persistent_workers=config.num_workers > 0, **loader)
    barrier(d)  # the run files are written before any rank goes on
    return Training(
        config=config,
        out=out,
        device=device,
        amp_dtype=amp_dtype,
        model=model,
        normalisation=normalisation,
        train_loader=train_loader,
        val_loader=DataLoader(val_set, **loader),
        shuffle=shuffle,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        ),
        scaler=grad_scaler(device, amp_dtype),
        stopper=EarlyStopping(config.early_stop_patience, config.min_delta),
        dist=d,
        forward=wrap(model, d, device),
    )


def train_one_epoch(t: Training, progress: bool) -> dict[str, float]:
    """One pass over the train split; returns the mean loss, images/s and the time it took."""
    config, epoch = t.config, t.next_epoch
    t.shuffle.manual_seed(config.seed * 100_003 + epoch)  # the same order on resume
    t.model.train()
    t0, seen, total = time.perf_counter(), 0, 0.0
    bar = _progress(t.train_loader, progress, f"epoch {epoch + 1}/{config.epochs}")
    for batch in bar:
        batch = {k: v.to(t.device, non_blocking=True) for k, v in batch.items()}
        x = prepare_images(batch["image"])  # (B, 1, H, W)
        with autocast(t.device, t.amp_dtype):
            out = (t.forward or t.model)(x)  # through DDP across ranks: its backward averages the gradients
        loss = t.model.loss(out, batch, config.kind_loss_weight)
        if t.step < config.warmup_steps:  # linear warmup from lr / warmup_steps
            for group in t.optimizer.param_groups:
                group["lr"] = config.lr * (t.step + 1) / config.warmup_steps
        decay_lr(t)
        t.step += 1
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.unscale_(t.optimizer)  # clip the true gradients
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(t.model.parameters(), config.grad_clip)
        t.scaler.step(t.optimizer)
        t.scaler.update()
        seen += len(x)
        total += loss.item() * len(x)
        if progress:
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    seconds = time.perf_counter() - t0
    seen, total = all_sum([seen, total], t.dist)  # over all ranks
    return {"train_loss": total / max(seen, 1), "images_per_s": seen / seconds, "train_time_s": seconds}


def decay_lr(t: Training) -> None:
    """The lr's linear fall over the last ``decay_epochs`` epochs: step k of n scales it by (n - k) / (n - k + 1),
    so it falls from wherever the plateau left it to 1/n of that at the last step, and a resumed run goes on
    from the lr saved with the optimiser."""
    per_epoch = len(t.train_loader)
    n = t.config.decay_epochs * per_epoch
    k = t.step - (t.config.epochs - t.config.decay_epochs) * per_epoch
    if 0 < k < n:
        for group in t.optimizer.param_groups:
            group["lr"] *= (n - k) / (n - k + 1)


def decaying(t: Training) -> bool:
    """Whether the epoch just run lies in the decay, where the lr is the schedule's, not the plateau's."""
    return t.next_epoch >= t.config.epochs - t.config.decay_epochs


def end_of_epoch(t: Training, stats: dict[str, float]) -> None:
    """Validate, step the scheduler and early stopping, write checkpoints and the metrics line."""
    epoch, t0 = t.next_epoch, time.perf_counter()
    val = None
    if t.dist.main:  # one validation, whose loss every rank then obeys
        val = validate(t.model, t.val_loader, t.device, t.amp_dtype, t.normalisation, t.config.kind_loss_weight)
    val = broadcast(val, t.dist)
    lr = t.optimizer.param_groups[0]["lr"]
    if not decaying(t):
        t.scheduler.step(val["val_loss"])
    improved = t.stopper.step(val["val_loss"])
    if improved:
        t.best_epoch = epoch
    t.next_epoch = epoch + 1
    record = {
        "epoch": epoch + 1,
        "train_loss": stats["train_loss"],
        **val,
        "lr": lr,
        "images_per_s": stats["images_per_s"],
        "epoch_time_s": stats["train_time_s"] + time.perf_counter() - t0,
        "best": improved,
    }
    info = {"epoch": epoch + 1, "val_loss": val["val_loss"], "val_mae": val["val_mae"]}
    if t.dist.main:
        _write_epoch(t, record, info, improved)
    barrier(t.dist)
    mae = " ".join(f"{k}={v:.2f}" for k, v in val["val_mae"].items())
    log.info(
        "epoch %d: train %.4f val %.4f (mae %s) kind acc %.3f lr %.2g %.0f img/s%s",
        epoch + 1, record["train_loss"], val["val_loss"], mae, val["val_kind_accuracy"], lr,
        record["images_per_s"], " *" if improved else "",
    )


def _write_epoch(t: Training, record: dict[str, Any], info: dict[str, Any], improved: bool) -> None:
    """best (when improved), the metrics line, then last (the commit point): see chirploc.checkpoint."""
    adapt = t.config.model.adapt
    if improved:
        save_checkpoint(t.out, "best", t.model, adapt, info)
    with open(t.out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    save_checkpoint(t.out, "last", t.model, adapt, info, t.state_dict())


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    normalisation: TargetNormalisation,
    kind_weight: float,
) -> dict[str, Any]:
    """Mean val loss, MAE per target in physical units, and kind accuracy (over records with a chirp)."""
    model.eval()
    total, n, preds, trues = 0.0, 0, [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, amp_dtype):
            out = model(prepare_images(batch["image"]))  # (B, 1, H, W) in
        total += model.loss(out, batch, kind_weight).item() * len(batch["image"])
        n += len(batch["image"])
        preds.append(model.decode(out, normalisation))
        trues.append({"target": batch["target"].cpu().numpy(), "kind": batch["kind"].cpu().numpy()})
    pred = {k: np.concatenate([p[k] for p in preds]) for k in (*TARGETS, "kind")}
    true = normalisation.decode(np.concatenate([t["target"] for t in trues]))  # (N, 4)
    kind = np.concatenate([t["kind"] for t in trues])
    chirp = kind != NO_CHIRP_KIND
    err = np.abs(np.stack([pred[k] for k in TARGETS], 1) - true)[chirp]  # (N', 4)
    return {
        "val_loss": total / n,
        "val_mae": {k: float(err[:, i].mean()) for i, k in enumerate(TARGETS)},
        "val_kind_accuracy": float(np.mean(pred["kind"][chirp] == kind[chirp])),
    }


def _progress(loader: DataLoader, enabled: bool, desc: str) -> Any:
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, total=len(loader), leave=False, dynamic_ncols=True)
