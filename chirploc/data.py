"""Reading chirpgen data sets for training, and the target normalisation from the frame.

The targets are scaled to [-1, 1] with the ranges the frame draws them from (``signal.t_start_s``,
``signal.duration_s`` and ``signal.freq_hz``), so no statistic of any split, test included, enters
the model. The normalisation is saved with every run (``normalisation.json``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from chirpgen.config import NO_CHIRP_KIND, TARGETS, GenConfig, finite_number
from chirpgen.plumbing import one_line
from chirpgen.shards import DatasetError, iter_shards, manifest_config, read_manifest
from chirploc.grid import DenseGrid, column_frequencies


@dataclass(frozen=True)
class TargetNormalisation:
    """Affine map of each regression target from its frame range [lo, hi] to [-1, 1]."""

    ranges: dict[str, tuple[float, float]]

    @classmethod
    def from_frame(cls, frame: GenConfig) -> TargetNormalisation:
        sig = frame.signal
        return cls(
            {
                "t_start_s": tuple(sig.t_start_s),
                "f_start_hz": tuple(sig.freq_hz),
                "f_end_hz": tuple(sig.freq_hz),
                "duration_s": tuple(sig.duration_s),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {"method": "frame_range_to_unit", "targets": {k: list(v) for k, v in self.ranges.items()}}

    @classmethod
    def from_dict(cls, d: Any) -> TargetNormalisation:
        """Parse normalisation.json; ValueError saying what is wrong when it is not that layout."""
        targets = d.get("targets") if isinstance(d, dict) else None
        if not isinstance(targets, dict):
            raise ValueError(f"it needs a mapping 'targets' of target names to [lo, hi], not {one_line(targets, 60)}")
        if set(targets) != set(TARGETS):
            raise ValueError(f"it holds targets {sorted(map(str, targets))}, expected {list(TARGETS)}")
        ranges = {}
        for k, v in targets.items():
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
                raise ValueError(f"targets.{k}={one_line(v, 60)} must be a pair [lo, hi] of numbers")
            ranges[k] = tuple(finite_number(f"targets.{k}", x) for x in v)
        return cls(ranges)

    def _lo_span(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([self.ranges[k][0] for k in TARGETS])
        hi = np.array([self.ranges[k][1] for k in TARGETS])
        return lo, np.maximum(hi - lo, 1e-12)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """(N, 4) physical targets in TARGETS order to (N, 4) normalised ones."""
        lo, span = self._lo_span()
        return 2.0 * (values - lo) / span - 1.0

    def decode(self, values: np.ndarray, clip: bool = False) -> np.ndarray:
        """(N, 4) normalised predictions to physical units; ``clip`` keeps them inside the frame's ranges."""
        lo, span = self._lo_span()
        values = np.asarray(values, dtype=np.float64)
        if clip:
            values = np.clip(values, -1.0, 1.0)
        return lo + (values + 1.0) * 0.5 * span


def dataset_frame(root: str | Path) -> GenConfig:
    """The generation config (frame) of a data set directory."""
    return manifest_config(read_manifest(root))


class ChirpShards(Dataset):
    """One split of a chirpgen data set: images read lazily, labels held in memory.

    HDF5 files are opened on first access in each process (DataLoader workers each open their own).
    An item is ``{"image": uint8 (H, W), "target": float32 (4,), "kind": int64 ()}``, and with a
    ``dense`` grid also ``t_start_s``, ``t_end_s`` (float32, NaN without a chirp), ``has_chirp`` and
    ``column_freq_hz`` (float32 (W,), the chirp's f at each column centre it covers, else NaN).

    Args:
        root: the data set directory (with manifest.json).
        split: 'train', 'val' or 'test'.
        normalisation: target scaling; from the data set's frame when None.
        limit: use only the first ``limit`` samples (0: all).
        dense: the dense head's grid; records without a chirp are only usable with one.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        normalisation: TargetNormalisation | None = None,
        limit: int = 0,
        dense: DenseGrid | None = None,
    ) -> None:
        self.root = Path(root)
        self.frame = dataset_frame(root)
        self.normalisation = normalisation or TargetNormalisation.from_frame(self.frame)
        self.paths = list(iter_shards(root, split))
        rows, labels = [], {k: [] for k in (*TARGETS, "kind", "snr_db")}
        for i, path in enumerate(self.paths):
            try:
                with h5py.File(path, "r") as f:
                    n = len(f["index"])
                    for k in labels:
                        labels[k].append(f[k][:])
                    shape = f["image"].shape[1:]
            except (OSError, KeyError, RuntimeError, TypeError, ValueError) as exc:  # h5py on a damaged file
                raise DatasetError(
                    f"shard {path} is unreadable ({one_line(exc, 100)}); delete it and run the same chirpgen make "
                    "again to regenerate it"
                ) from None
            if tuple(shape) != self.frame.image_shape:
                raise DatasetError(
                    f"shard {path} holds images of {tuple(shape)}, the manifest says {self.frame.image_shape}"
                )
            rows.append(np.stack([np.full(n, i), np.arange(n)], axis=1))
        if not rows:
            raise DatasetError(f"split {split!r} of {str(root)!r} holds no shards")
        self.rows = np.concatenate(rows)  # (N, 2): shard, row
        self.labels = {k: np.concatenate(v) for k, v in labels.items()}
        if limit:
            self.rows = self.rows[:limit]
            self.labels = {k: v[:limit] for k, v in self.labels.items()}
        if len(self.rows) == 0:
            raise DatasetError(f"split {split!r} of {str(root)!r} holds no samples")
        self.dense = dense
        if dense is None and np.any(self.labels["kind"] == NO_CHIRP_KIND):
            raise DatasetError(
                f"split {split!r} of {str(root)!r} holds records without a chirp (kind {NO_CHIRP_KIND}), which "
                "the regression head cannot learn from; make the data set with signal.p_no_chirp=0"
            )
        physical = np.stack([self.labels[k] for k in TARGETS], axis=1)  # (N, 4)
        self.targets = self.normalisation.encode(physical).astype(np.float32)
        self.kinds = self.labels["kind"].astype(np.int64)
        self._files: dict[int, h5py.File] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.rows)

    def _file(self, shard: int) -> h5py.File:
        if self._pid != os.getpid():  # a new worker process: its own handles
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            self._files[shard] = h5py.File(self.paths[shard], "r")
        return self._files[shard]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        shard, row = self.rows[i]
        image = self._file(int(shard))["image"][int(row)]  # (H, W) uint8
        item = {
            "image": torch.from_numpy(image),
            "target": torch.from_numpy(self.targets[i]),
            "kind": torch.tensor(self.kinds[i]),
        }
        if self.dense is not None:
            item.update(dense_item(self.dense, {k: v[i] for k, v in self.labels.items()}))
        return item

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"], state["_pid"] = {}, -1
        return state


def dense_item(grid: DenseGrid, labels: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The dense head's training targets of one record from its stored labels."""
    t0, dur = float(labels["t_start_s"]), float(labels["duration_s"])
    cols = column_frequencies(
        grid, int(labels["kind"]), t0, dur, float(labels["f_start_hz"]), float(labels["f_end_hz"])
    )
    return {
        "t_start_s": torch.tensor(t0, dtype=torch.float32),
        "t_end_s": torch.tensor(t0 + dur, dtype=torch.float32),
        "has_chirp": torch.tensor(int(labels["kind"]) != NO_CHIRP_KIND),
        "column_freq_hz": torch.from_numpy(cols.astype(np.float32)),
    }


def sample_batch(
    frame: GenConfig, n: int, seed: int = 0, dense: DenseGrid | None = None
) -> dict[str, torch.Tensor]:
    """A collated batch of ``n`` fresh samples of ``frame`` (chirpgen.make_sample, train split), as
    ChirpShards would give it: for speed measurements and tests without a data set on disk."""
    from chirpgen.sample import make_sample

    normalisation = TargetNormalisation.from_frame(frame)
    items = []
    for i in range(n):
        s = make_sample(frame, seed, "train", i)
        labels = {k: getattr(s.params, k) for k in (*TARGETS, "kind")}
        target = normalisation.encode(np.array([[labels[k] for k in TARGETS]]))[0].astype(np.float32)
        item = {"image": torch.from_numpy(s.image), "target": torch.from_numpy(target),
                "kind": torch.tensor(int(labels["kind"]))}
        if dense is not None:
            item.update(dense_item(dense, labels))
        items.append(item)
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
