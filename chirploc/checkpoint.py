"""Run directories and checkpoints: safetensors and JSON only, nothing that needs pickle to load.

Layout of a run directory::

    RUN/config.json            resolved TrainConfig (model.arch etc. as actually built)
    RUN/frame.json             GenConfig dict of the data set it was trained on
    RUN/normalisation.json     target ranges (frame ranges mapped to [-1, 1])
    RUN/backbone.json          arch, model_kwargs, img_size, in_chans (chirploc-backbone/1)
    RUN/base.safetensors       frozen base backbone weights (LoRA runs)
    RUN/{best,last}/head.safetensors
    RUN/{best,last}/adapter.safetensors + adapter_config.json    (LoRA runs)
    RUN/{best,last}/backbone.safetensors                          (full fine-tuning / pretrain)
    RUN/{best,last}/checkpoint.json     epoch, val loss, adapt
    RUN/last/train_state.pt    optimizer, scheduler, scaler, early stopping, RNG (loaded weights_only=True)
    RUN/metrics.jsonl          one line per epoch
    RUN/backbone.safetensors   (pretrain runs) the best backbone, loadable by model.weights=RUN

A packaged model (:func:`package_run`) has the same layout with one checkpoint, ``best``, whose
LoRA adapters are merged into ``best/backbone.safetensors`` (``"adapt": "merged"`` in its
checkpoint.json): loading it needs neither peft nor the base weights, and chirploc.engine can run it
without torch.

Each checkpoint is written to ``<name>.tmp`` (its checkpoint.json, with the sha256 of every weight
file, written last) and swapped in by renames; a kill between the renames leaves the complete
``<name>.tmp`` or the previous ``<name>.old``. Readers read that one in place
(chirploc.rundir.checkpoint_folder) and change nothing; the trainer alone puts it back
(``recover_checkpoints``) before it writes. Weights are checked against their recorded sha256 on load. Per
epoch, training writes ``best`` (when val improved), then the metrics line, then ``last``, the
commit point: after a crash, ``best`` and metrics.jsonl are never behind ``last``, and a resume
drops the metrics lines of epochs ``last`` does not hold and redoes those epochs.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.plumbing import one_line, read_json, write_json_atomic
from chirploc.backbone import (
    BACKBONE_META,
    BackboneError,
    BackboneSpec,
    create_backbone,
    warnings_only_on_success,
)
from chirploc.config import TrainConfig
from chirploc.data import TargetNormalisation
from chirploc.model import ChirpLocModel, apply_lora, make_head
from chirploc.rundir import (
    CHECKPOINT_NAMES,
    CheckpointError,
    read_checkpoint,
    swap_in,
    write_checkpoint_json,
)
from chirploc.weights import load_state, save_tensors

ADAPTER_CONFIG = "adapter_config.json"
TRAIN_STATE_KEYS = frozenset({"optimizer", "scheduler", "early_stopping", "rng", "epoch", "best_epoch"})


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"checkpoint file {str(path)!r} is missing; train again or pick another run")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint file {str(path)!r} is unreadable (truncated or corrupt: {exc}); use the other "
            "checkpoint (best/last) or train again"
        ) from None


def _read_json(path: Path) -> Any:
    return read_json(path, CheckpointError, f"is {str(path.parent)!r} a chirploc run directory? train again")


def save_run_files(
    run_dir: Path,
    config: TrainConfig,
    frame: GenConfig,
    normalisation: TargetNormalisation,
    spec: BackboneSpec,
    base_state: dict[str, torch.Tensor] | None,
) -> None:
    """The files of a run that do not change while it trains."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    write_json_atomic(run_dir / "frame.json", frame.to_dict())
    write_json_atomic(run_dir / "normalisation.json", normalisation.to_dict())
    write_json_atomic(run_dir / BACKBONE_META, spec.to_dict())
    if base_state is not None:
        save_tensors(run_dir / "base.safetensors", base_state)


def save_checkpoint(
    run_dir: Path,
    name: str,
    model: ChirpLocModel,
    adapt: str,
    info: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``name`` ('best' or 'last') of ``model`` into ``run_dir``; return its folder."""
    final = run_dir / name
    tmp = run_dir / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_tensors(tmp / "head.safetensors", model.head.state_dict())
    if adapt == "lora":
        from peft import get_peft_model_state_dict

        save_tensors(tmp / "adapter.safetensors", get_peft_model_state_dict(model.backbone))
        write_json_atomic(tmp / ADAPTER_CONFIG, model.backbone.peft_config["default"].to_dict())
    else:
        save_tensors(tmp / "backbone.safetensors", model.backbone.state_dict())
    if train_state is not None:
        torch.save(train_state, tmp / "train_state.pt")
    write_checkpoint_json(tmp, {**info, "adapt": adapt})
    swap_in(tmp, final)
    return final


def load_train_state(run_dir: Path) -> dict[str, Any]:
    """Optimizer/scheduler/scaler/early-stopping/RNG state of ``last``, loaded with weights_only=True."""
    path = Path(run_dir) / "last" / "train_state.pt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: {str(path)!r} is missing; start a new run without --resume")
    try:
        with warnings_only_on_success():
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise CheckpointError(
            f"cannot resume: {str(path)!r} is not a readable training state ({_torch_load_reason(exc)}); resume "
            "from a copy of the run, or start a new run with another --out"
        ) from None
    if not isinstance(state, dict) or not TRAIN_STATE_KEYS <= set(state):
        raise CheckpointError(
            f"cannot resume: {str(path)!r} is not a chirploc training state (it lacks "
            f"{sorted(TRAIN_STATE_KEYS - set(state)) if isinstance(state, dict) else 'a mapping'}); start a new run "
            "with another --out"
        )
    return state


def _torch_load_reason(exc: Exception) -> str:
    """What torch.load says is wrong, on one line: for weights_only refusals only the unpickler's own reason
    (torch's advice to load with weights_only=False around it is not for a damaged file)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    return f"{type(exc).__name__}: {one_line(text, 120)}"


def read_run_normalisation(run_dir: str | Path) -> TargetNormalisation:
    """The TargetNormalisation saved in ``run_dir/normalisation.json``; CheckpointError naming the file."""
    return _read_run_file(Path(run_dir) / "normalisation.json", TargetNormalisation.from_dict, _not_a_run(run_dir))


def load_weights(model: ChirpLocModel, ckpt_dir: Path, adapt: str) -> None:
    """Load head and adapter (or full backbone) weights of a checkpoint folder into ``model``.

    Every adapter weight of the model must be in the file, and nothing else: a partial adapter
    would leave LoRA at its initialisation without a word.
    """
    ckpt_dir = Path(ckpt_dir)
    try:
        model.head.load_state_dict(_load_tensors(ckpt_dir / "head.safetensors"))
        if adapt != "lora":
            model.backbone.load_state_dict(_load_tensors(ckpt_dir / "backbone.safetensors"))
            return
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model.backbone, _load_tensors(ckpt_dir / "adapter.safetensors"))
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {str(ckpt_dir)!r} do not fit the model ({one_line(exc)})") from None
    missing = [k for k in result.missing_keys if "lora_" in k]
    if result.unexpected_keys or missing:
        what = f"unexpected keys {result.unexpected_keys[:3]}" if result.unexpected_keys else f"no {missing[:3]}"
        raise CheckpointError(f"adapter in {str(ckpt_dir)!r} has {what}; the checkpoint is damaged, train again")


def read_adapter_config(ckpt_dir: Path) -> Any:
    """The peft LoraConfig saved with a LoRA checkpoint (its adapter_config.json)."""
    from peft import PeftConfig

    d = _read_json(Path(ckpt_dir) / ADAPTER_CONFIG)
    try:
        return PeftConfig.from_peft_type(**d)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{str(Path(ckpt_dir) / ADAPTER_CONFIG)!r} is not a peft adapter config ({exc}); train again"
        ) from None


@dataclass
class LoadedRun:
    model: ChirpLocModel
    config: TrainConfig
    frame: GenConfig
    normalisation: TargetNormalisation
    checkpoint: dict[str, Any]


def _read_run_file(path: Path, parse: Callable[[Any], Any], fix: str = "train again") -> Any:
    """``parse`` of the JSON in ``path``; CheckpointError naming the file and ``fix`` when it is missing, not
    JSON or not what ``parse`` takes."""
    d = read_json(path, CheckpointError, fix)
    try:
        if not isinstance(d, dict):
            raise TypeError(f"it holds a JSON {type(d).__name__}, not a mapping")
        return parse(d)
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a valid chirploc run file ({one_line(exc)}); {fix}") from None


def read_run_recipe(run_dir: Path, fix: str = "") -> TrainConfig:
    """The TrainConfig saved in ``run_dir/config.json``; CheckpointError naming the file and ``fix``."""
    return _read_run_file(Path(run_dir) / "config.json", TrainConfig.from_dict, fix or _not_a_run(run_dir))


def _not_a_run(run_dir: Path) -> str:
    return f"is {str(run_dir)!r} a chirploc run directory? train again"


def _read_run_configs(run_dir: Path) -> tuple[TrainConfig, GenConfig, TargetNormalisation]:
    config = read_run_recipe(run_dir)
    frame = _read_run_file(run_dir / "frame.json", GenConfig.from_dict, _not_a_run(run_dir))
    return config, frame, read_run_normalisation(run_dir)


def load_run(run_dir: str | Path, which: str = "best") -> LoadedRun:
    """Rebuild a trained model from its run directory (safetensors + JSON only), in eval mode on CPU.

    Raises:
        CheckpointError: a missing run directory, a missing or corrupt file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise CheckpointError(
            f"run directory {str(run_dir)!r} {what}; give the --out of a chirploc train run (or chirploc package)"
        )
    if which not in CHECKPOINT_NAMES:
        raise CheckpointError(f"checkpoint {which!r} must be one of {list(CHECKPOINT_NAMES)}")
    config, frame, normalisation = _read_run_configs(run_dir)
    folder, info = read_checkpoint(run_dir, which)  # reads only: a run that is training is left alone
    adapt = info.get("adapt", config.model.adapt)
    try:
        spec = BackboneSpec.from_dict(_read_json(run_dir / BACKBONE_META), str(run_dir / BACKBONE_META))
        with torch.random.fork_rng(devices=[]):
            backbone = create_backbone(spec)
            model_cfg = dataclasses.replace(config.model, global_pool=spec.global_pool)
            head = make_head(backbone, model_cfg, frame, len(KIND_NAMES))
            if adapt == "lora":
                load_state(backbone, run_dir / "base.safetensors", "base", "train again")
                backbone = apply_lora(backbone, read_adapter_config(folder))
    except BackboneError as exc:
        raise CheckpointError(f"run {str(run_dir)!r}: {exc}") from None
    model = ChirpLocModel(backbone, head)
    load_weights(model, folder, adapt)
    model.eval()
    return LoadedRun(model, config, frame, normalisation, info)


PACKAGE_FILES = ("config.json", "frame.json", "normalisation.json", BACKBONE_META, "metrics.jsonl")


def _check_package_dest(run_dir: Path, dest: Path) -> None:
    """Refuse a ``dest`` whose replacement would lose anything but an earlier package."""
    run, out = run_dir.resolve(), dest.resolve()
    if out.is_relative_to(run):
        raise CheckpointError(f"--out {str(dest)!r} is inside the run {str(run_dir)!r}; choose a folder outside it")
    if run.is_relative_to(out):
        raise CheckpointError(f"--out {str(dest)!r} holds the run {str(run_dir)!r}; choose a new folder for the package")
    if Path.cwd().resolve().is_relative_to(out):
        raise CheckpointError(f"--out {str(dest)!r} holds the current folder, which packaging would replace; "
                              "choose a new folder for the package")
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"--out {str(dest)!r} is a file; choose a new folder for the package")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in {*PACKAGE_FILES, "best", "README.md"})
        if others or (any(out.iterdir()) and not (out / "best" / "checkpoint.json").is_file()):
            listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise CheckpointError(
                f"--out {str(dest)!r} holds files that are not a packaged model ({listed or 'no best/checkpoint.json'}); "
                "choose a new folder or delete it first"
            )


def package_run(run_dir: str | Path, dest: str | Path, which: str = "best") -> Path:
    """Write checkpoint ``which`` of ``run_dir`` as a packaged model in ``dest`` (see the module docstring).

    LoRA adapters are merged into the backbone weights (peft ``merge_and_unload``); a fully trained
    backbone is copied. ``dest`` is written next to itself and swapped in whole.

    Raises:
        CheckpointError: a bad run directory, or ``dest`` inside it.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    _check_package_dest(run_dir, dest)
    run = load_run(run_dir, which)
    backbone = run.model.backbone
    if run.checkpoint.get("adapt", run.config.model.adapt) == "lora":
        backbone = backbone.merge_and_unload()
    tmp = dest.resolve().with_name(dest.resolve().name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "best").mkdir(parents=True)
    for name in PACKAGE_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, tmp / name)
    save_tensors(tmp / "best" / "backbone.safetensors", backbone.state_dict())
    save_tensors(tmp / "best" / "head.safetensors", run.model.head.state_dict())
    write_checkpoint_json(tmp / "best", {**run.checkpoint, "adapt": "merged", "checkpoint": which})
    swap_in(tmp, dest.resolve())
    return dest
