"""Reading data sets: manifest, shards, splits.

Layout (the data contract, see README "Data format")::

    <out>/manifest.json         config, seed, versions, per shard: file, split, start, count, sha256
    <out>/<split>-00000.h5      shards of ``shard_size`` samples

Every reader checks each shard's sha256 against the manifest before using it (once per file while it
is unchanged, :func:`verify_shard`), so a damaged file is named instead of read.

Schema versions: 1 has a chirp in every record; 2 adds records without one (``kind`` 255, NaN
labels, attribute ``no_chirp_kind``). A data set is written with the lowest version that holds it
(1 unless ``signal.p_no_chirp > 0``, see :func:`schema_attrs`), so data sets without such records
stay byte-identical to those of earlier versions; readers take both.

Writing lives in :mod:`chirpgen.dataset`, which imports this module (never the reverse).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from chirpgen import __version__
from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, SPLIT_NAMES, GenConfig
from chirpgen.plumbing import UserError, one_line, write_json_atomic

SCHEMA_VERSION = 2  # the newest version written and read; see schema_attrs
MANIFEST = "manifest.json"
MANIFEST_KEYS = ("config", "seed", "split_counts", "shards")
LABEL_DTYPES = {
    "t_start_s": np.float64,
    "f_start_hz": np.float64,
    "f_end_hz": np.float64,
    "duration_s": np.float64,
    "kind": np.uint8,
    "snr_db": np.float64,
    "index": np.int64,
}
PER_SAMPLE = ("image", *LABEL_DTYPES)  # the datasets with one row per sample
STORED_KINDS = (*range(len(KIND_NAMES)), NO_CHIRP_KIND)
REGENERATE = "delete that file and run the same chirpgen make again to regenerate it"


class DatasetError(UserError):
    """A problem with a data set directory, phrased for the user (one line, with the fix)."""


def schema_attrs(config: GenConfig) -> dict[str, int]:
    """``schema_version`` (and ``no_chirp_kind`` from version 2) for data made with ``config``."""
    if config.signal.p_no_chirp == 0.0:
        return {"schema_version": 1}
    return {"schema_version": SCHEMA_VERSION, "no_chirp_kind": NO_CHIRP_KIND}


def check_schema(path: Path, attrs: Any) -> None:
    """DatasetError if the shard at ``path`` (attributes ``attrs``) is of a schema this chirpgen cannot read."""
    version = attrs.get("schema_version", 0)
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
        raise DatasetError(f"shard {path} has schema_version {version!r}, not an integer; {REGENERATE}")
    if not 1 <= version <= SCHEMA_VERSION:
        raise DatasetError(
            f"shard {path} has schema_version {version}, this chirpgen {__version__} reads 1 to "
            f"{SCHEMA_VERSION}; upgrade chirpgen or make the data set again"
        )


def read_manifest(root: str | Path, name: str = MANIFEST) -> dict[str, Any]:
    """The manifest (file ``name``) of a data set directory, or a DatasetError saying what is wrong."""
    path = Path(root) / name
    if not path.is_file():
        raise DatasetError(f"{str(root)!r} is not a chirpgen data set (no {MANIFEST}); run chirpgen make --out {root}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); delete the directory and run chirpgen make again") from None
    missing = [k for k in MANIFEST_KEYS if not isinstance(manifest, dict) or k not in manifest]
    if missing or not _well_formed(manifest):
        what = (f"lacks {', '.join(missing)}" if missing
                else "has a malformed config, split count or shard entry (file, split, start, count, sha256)")
        raise DatasetError(f"{path} {what}; it is not a chirpgen manifest: delete the directory and run chirpgen make again")
    try:
        GenConfig.from_dict(manifest["config"])
    except ValueError as exc:
        raise DatasetError(
            f"the config in {path} is not one this chirpgen {__version__} reads ({exc}); read the data set with the "
            "chirpgen that made it, or make it again"
        ) from None
    return manifest


def _well_formed(manifest: dict[str, Any]) -> bool:
    counts, shards = manifest["split_counts"], manifest["shards"]
    entry_keys = {"file": str, "split": str, "start": int, "count": int}
    return (
        isinstance(manifest["config"], dict)
        and isinstance(counts, dict)
        and all(isinstance(counts.get(s), int) for s in SPLIT_NAMES)
        and isinstance(shards, list)
        and all(isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in entry_keys.items()) for e in shards)
        and all(e["split"] in SPLIT_NAMES and "/" not in e["file"] and "\\" not in e["file"] for e in shards)
        and all(e.get("sha256") is None or _is_sha256(e["sha256"]) for e in shards)
    )


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


VERIFIED_CACHE = ".chirpgen-verified.json"  # per data set: file -> [size, mtime_ns, sha256] already checked
_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, sha256) checked in this process


def verify_shard(path: Path, recorded: str | None) -> None:
    """DatasetError unless the shard's sha256 is the one its manifest recorded (``None``: not yet
    recorded, nothing to check).

    A file is hashed once: the check is remembered in this process and in the data set's
    ``.chirpgen-verified.json`` by size and modification time, so a file that has not been written
    since is not read again by later readers (rewriting a file, as any corruption by a program
    does, changes its modification time).
    """
    if recorded is None:
        return
    if not path.is_file():
        raise DatasetError(f"shard {path} is missing; run the same chirpgen make again to restore it")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, recorded)
    if key in _VERIFIED:
        return
    cache_path = path.parent / VERIFIED_CACHE
    cache = _read_cache(cache_path)
    if cache.get(path.name) == [stat.st_size, stat.st_mtime_ns, recorded]:
        _VERIFIED.add(key)
        return
    digest = sha256_file(path)
    if digest != recorded:
        raise DatasetError(
            f"shard {path} is corrupt (sha256 {digest[:12]}... differs from the manifest's {recorded[:12]}...); "
            "delete that file and run the same chirpgen make again to regenerate it"
        )
    _VERIFIED.add(key)
    cache = _read_cache(cache_path)  # others may have added files meanwhile
    cache[path.name] = [stat.st_size, stat.st_mtime_ns, recorded]
    try:
        write_json_atomic(cache_path, cache)
    except OSError:  # a read-only data set is verified again by the next process
        pass


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def manifest_config(manifest: dict[str, Any]) -> GenConfig:
    return GenConfig.from_dict(manifest["config"])


def iter_shards(root: str | Path, split: str, verify: bool = True) -> Iterator[Path]:
    """Paths of the shards of ``split``, in index order, each checked (:func:`verify_shard`) as it
    is reached unless ``verify`` is False."""
    if split not in SPLIT_NAMES:
        raise DatasetError(f"split {split!r} must be one of {list(SPLIT_NAMES)}")
    manifest = read_manifest(root)
    for s in manifest["shards"]:
        if s["split"] == split:
            path = Path(root) / s["file"]
            if not path.is_file():
                raise DatasetError(f"shard {path} is missing; run the same chirpgen make again to complete the data set")
            if verify:
                verify_shard(path, s.get("sha256"))
            yield path


def read_shard(path: Path, names: Sequence[str], n: int | None = None) -> dict[str, np.ndarray]:
    """The datasets ``names`` of the shard at ``path``, the per-sample ones cut to their first ``n``
    rows (all if None). Its schema, row counts and kinds are checked: a DatasetError names the shard
    if it is missing, not HDF5, truncated, lacks a dataset or holds a kind outside ``STORED_KINDS``."""
    if not path.is_file():
        raise DatasetError(f"shard {path} is missing; run the same chirpgen make again to restore it")
    try:
        with h5py.File(path, "r") as f:
            check_schema(path, f.attrs)
            absent = [k for k in names if not isinstance(f.get(k), h5py.Dataset)]
            if absent:
                raise DatasetError(f"shard {path} lacks the dataset {absent[0]!r}; {REGENERATE}")
            arrays = {k: f[k][:n] if k in PER_SAMPLE else f[k][:] for k in names}
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:  # h5py's ways of failing on a damaged file
        raise DatasetError(f"shard {path} is not a readable chirpgen HDF5 file ({one_line(exc, 100)}); {REGENERATE}") from None
    rows = {len(arrays[k]) for k in names if k in PER_SAMPLE}
    if len(rows) > 1:
        raise DatasetError(f"shard {path} holds datasets of different lengths; {REGENERATE}")
    if "kind" in arrays:
        bad = arrays["kind"][~np.isin(arrays["kind"], STORED_KINDS)]
        if bad.size:
            raise DatasetError(f"shard {path} holds kind {bad[0]}, not one of 0 to {len(KIND_NAMES) - 1} or "
                               f"{NO_CHIRP_KIND}; {REGENERATE}")
    return arrays


def recorded_sha256(root: str | Path) -> dict[str, str | None]:
    """The sha256 the manifest of ``root`` records for each shard file."""
    return {s["file"]: s.get("sha256") for s in read_manifest(root)["shards"]}


def read_split(root: str | Path, split: str, n: int | None = None) -> dict[str, np.ndarray]:
    """The first ``n`` samples (all if None) of a split, as arrays named as in the shards."""
    parts: dict[str, list[np.ndarray]] = {}
    have = 0
    recorded = recorded_sha256(root)
    for path in iter_shards(root, split, verify=False):
        if n is not None and have >= n:
            break
        verify_shard(path, recorded[path.name])  # only the shards actually read
        arrays = read_shard(path, PER_SAMPLE, None if n is None else n - have)
        for k, values in arrays.items():
            parts.setdefault(k, []).append(values)
        have += len(arrays["index"])
    if not parts:
        raise DatasetError(f"split {split!r} of {str(root)!r} holds no samples")
    return {k: np.concatenate(v) for k, v in parts.items()}
