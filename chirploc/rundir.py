"""Run directories without torch: the checkpoint error, and the crash-safety of checkpoint folders
(the sha256 record in checkpoint.json, its check, reading around an interrupted swap, and the
trainer's repair of one).

The layout is described in :mod:`chirploc.checkpoint`; this module is what both runtimes need
(chirploc.engine loads packaged models without importing torch).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from chirpgen.plumbing import UserError, read_json, write_json_atomic
from chirpgen.shards import sha256_file

CHECKPOINT_NAMES = ("best", "last")


class CheckpointError(UserError):
    """A run directory or checkpoint that cannot be used (phrased for the user, with the fix)."""


def write_checkpoint_json(folder: Path, info: dict[str, Any]) -> None:
    """checkpoint.json with the sha256 of every other file of ``folder`` (written last: it marks the folder complete)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "checkpoint.json")
    write_json_atomic(folder / "checkpoint.json", {**info, "sha256": {p.name: sha256_file(p) for p in files}})


def checkpoint_folder(run_dir: Path, name: str) -> Path:
    """The folder that holds checkpoint ``name`` of ``run_dir`` for a reader, who changes nothing: the
    folder itself, or while a swap is under way (or was cut short by a kill) the complete
    ``<name>.tmp`` or ``<name>.old``. Only the trainer repairs (:func:`recover_checkpoints`), so a
    reader never disturbs a run that is training."""
    for folder in (run_dir / name, run_dir / f"{name}.tmp", run_dir / f"{name}.old"):
        if (folder / "checkpoint.json").is_file():
            return folder
    return run_dir / name


def read_checkpoint(run_dir: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """The folder of checkpoint ``name`` (:func:`checkpoint_folder`) and its checkpoint.json, with
    every recorded file checked against its sha256 (:func:`verify_checkpoint`)."""
    folder = checkpoint_folder(run_dir, name)
    info = read_json(folder / "checkpoint.json", CheckpointError, f"is {str(run_dir)!r} a chirploc run? train again")
    verify_checkpoint(folder, info)
    return folder, info


def recover_checkpoints(run_dir: Path) -> None:
    """Finish or undo a checkpoint swap that a kill interrupted (see the module docstring); called
    by the trainer alone, before it writes."""
    for name in CHECKPOINT_NAMES:
        final, tmp, old = (run_dir / f"{name}{s}" for s in ("", ".tmp", ".old"))
        if not final.exists():
            if (tmp / "checkpoint.json").is_file():
                os.replace(tmp, final)
            elif (old / "checkpoint.json").is_file():
                os.replace(old, final)
        for leftover in (tmp, old):
            if leftover.exists() and final.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def verify_checkpoint(ckpt_dir: Path, info: dict[str, Any]) -> None:
    """CheckpointError unless every file recorded in ``info['sha256']`` has that hash."""
    hashes = info.get("sha256", {}) if isinstance(info, dict) else None
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        raise CheckpointError(
            f"{str(ckpt_dir / 'checkpoint.json')!r} is not a chirploc checkpoint record (it needs a mapping "
            "'sha256' of file names to hashes); use the other checkpoint or train again"
        )
    for name, recorded in hashes.items():
        path = ckpt_dir / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {str(path)!r} is missing; use the other checkpoint or train again")
        if sha256_file(path) != recorded:
            raise CheckpointError(
                f"checkpoint file {str(path)!r} is corrupt (its sha256 differs from checkpoint.json's); use the "
                "other checkpoint (best/last) or train again"
            )


def swap_in(tmp: Path, final: Path) -> None:
    """Replace the folder ``final`` by the complete folder ``tmp`` (renames only)."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
