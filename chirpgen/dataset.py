"""Writing data sets: HDF5 shards plus a manifest, written resumably and in parallel.

The layout and the schema versions are the data contract described in :mod:`chirpgen.shards`,
which also reads them back. A shard is written to ``<name>.partial``, flushed, hashed and then
renamed, so a file with the final name is always complete. The manifest is rewritten atomically
after each shard. One writer at a time: ``make_dataset`` holds an exclusive lock on
``OUT/.chirpgen-make.lock`` (``fcntl.flock``, released by the kernel when the process dies, so a
killed run leaves no stale lock), and a second writer refuses at once. Pool workers die with the
main process (Linux: ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from chirpgen import __version__
from chirpgen.config import GREY_DEFINITION, KIND_NAMES, SNR_DEFINITION, GenConfig
from chirpgen.plumbing import PARTIAL_SUFFIX, atomic_path, hold_lock, write_json_atomic
from chirpgen.sample import make_sample
from chirpgen.shards import (
    LABEL_DTYPES,
    MANIFEST,
    DatasetError,
    read_manifest,
    schema_attrs,
    sha256_file,
    verify_shard,
)
from chirpgen.spectrogram import image_axes, stft_window, warm_up

BLOCK = 64  # samples per task handed to a worker
LOCK_FILE = ".chirpgen-make.lock"
MAX_SHARDS = 100_000  # more shards than this is a mistake in --n or --shard-size
MAX_SEED = 2**63 - 1
SAMPLE_FORMAT = 2  # raised whenever a sample's bytes change: 2 has uncompressed images and scipy's FFT


@dataclass(frozen=True)
class ShardPlan:
    file: str
    split: str
    start: int
    count: int


@dataclass(frozen=True)
class Part:
    """Part ``k`` of ``n`` of a data set (``chirpgen make --part K/N``): shards i with i % n == k - 1.

    Parts can be made anywhere (a SLURM array, a Kubernetes indexed job, GNU parallel), in one shared
    directory or in several; :func:`join_parts` checks them and makes the one data set, byte-identical
    to a one-machine run.
    """

    k: int
    n: int

    @classmethod
    def parse(cls, text: str) -> Part:
        try:
            k, n = (int(x) for x in str(text).split("/"))
        except ValueError:
            raise ValueError(f"--part {text!r} must look like K/N, e.g. 3/8 (part 3 of 8)") from None
        if not 1 <= k <= n <= MAX_SHARDS:
            raise ValueError(f"--part {text!r} needs 1 <= K <= N (and N at most {MAX_SHARDS:,})")
        return cls(k, n)

    @property
    def manifest_name(self) -> str:
        return f"manifest.part-{self.k}-of-{self.n}.json"

    @property
    def lock_name(self) -> str:
        return f".chirpgen-make.part-{self.k}-of-{self.n}.lock"

    def select(self, plans: list[ShardPlan]) -> list[ShardPlan]:
        return [p for i, p in enumerate(plans) if i % self.n == self.k - 1]


def split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Samples per split: val and test get round(n * fraction), train the rest."""
    val = int(round(n * fractions["val"]))
    test = int(round(n * fractions["test"]))
    val = min(val, n)
    test = min(test, n - val)
    return {"train": n - val - test, "val": val, "test": test}


def plan_shards(n: int, fractions: dict[str, float], shard_size: int) -> list[ShardPlan]:
    plans = []
    for split, count in split_counts(n, fractions).items():
        for k, start in enumerate(range(0, count, shard_size)):
            plans.append(ShardPlan(f"{split}-{k:05d}.h5", split, start, min(shard_size, count - start)))
    return plans


def _block(args: tuple[str, int, str, int, int]) -> dict[str, np.ndarray]:
    """Worker task: samples [start, start + count) of one split, as arrays."""
    config_json, seed, split, start, count = args
    config = GenConfig.from_dict(json.loads(config_json))
    h, w = config.image_shape
    out = {"image": np.empty((count, h, w), np.uint8)}
    out.update({k: np.empty(count, dt) for k, dt in LABEL_DTYPES.items()})
    for j in range(count):
        s = make_sample(config, seed, split, start + j)
        out["image"][j] = s.image
        for k in LABEL_DTYPES:
            out[k][j] = start + j if k == "index" else getattr(s.params, k)
    return out


def _tasks(config: GenConfig, seed: int, shard: ShardPlan) -> list[tuple[str, int, str, int, int]]:
    cj = config.to_json()
    return [
        (cj, seed, shard.split, shard.start + o, min(BLOCK, shard.count - o))
        for o in range(0, shard.count, BLOCK)
    ]


def _bounded_map(pool: ProcessPoolExecutor, tasks: list, ahead: int) -> Iterator[dict[str, np.ndarray]]:
    """Ordered results of ``_block`` over ``tasks`` with at most ``ahead`` in flight (bounded memory)."""
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.submit(_block, task))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _write_shard(
    path: Path,
    config: GenConfig,
    seed: int,
    shard: ShardPlan,
    blocks: Iterator[dict[str, np.ndarray]],
    on_samples: Callable[[int], None],
) -> str:
    """Stream ``blocks`` into ``path`` via a .partial file; return the sha256 of the result."""
    h, w = config.image_shape
    freqs_hz, times_s = image_axes(config)
    with atomic_path(path) as partial:
        with h5py.File(partial, "w", track_order=False) as f:
            f.attrs.update(
                **schema_attrs(config),
                chirpgen_version=__version__,
                split=shard.split,
                seed=seed,
                start_index=shard.start,
                kind_names=json.dumps(list(KIND_NAMES)),
                config=config.to_json(),
                snr_definition=SNR_DEFINITION,
                grey_definition=GREY_DEFINITION,
            )
            images = f.create_dataset(
                "image", (shard.count, h, w), np.uint8, chunks=(1, h, w),
                compression=None, track_times=False,
            )
            labels = {k: np.empty(shard.count, dt) for k, dt in LABEL_DTYPES.items()}
            pos = 0
            for block in blocks:
                n = len(block["index"])
                images[pos : pos + n] = block["image"]
                for k in labels:
                    labels[k][pos : pos + n] = block[k]
                pos += n
                on_samples(n)
            if pos != shard.count:
                raise DatasetError(f"shard {path.name} got {pos} samples, expected {shard.count}")
            for k, values in labels.items():
                f.create_dataset(k, data=values, track_times=False)
            f.create_dataset("freqs_hz", data=freqs_hz, track_times=False)
            f.create_dataset("times_s", data=times_s, track_times=False)
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        return sha256_file(partial)


def _versions() -> dict[str, str]:
    import scipy

    return {"chirpgen": __version__, "numpy": np.__version__, "scipy": scipy.__version__, "h5py": h5py.__version__}


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DatasetError(
            f"cannot write to output directory {str(out)!r} ({exc.strerror or exc}); choose a writable --out"
        ) from None


IDENTITY_KEYS = ("config_sha256", "seed", "n", "shard_size", "sample_format")  # what makes two data sets one


def _identity(config: GenConfig, seed: int, n: int, shard_size: int) -> dict[str, Any]:
    return dict(zip(IDENTITY_KEYS, (config.fingerprint(), seed, n, shard_size, SAMPLE_FORMAT), strict=True))


def _identity_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The identity recorded in a manifest (one made before sample_format existed has format 1)."""
    return {k: manifest.get(k, 1 if k == "sample_format" else None) for k in IDENTITY_KEYS}


def _check_existing(out: Path, manifest: dict[str, Any], identity: dict[str, Any]) -> None:
    theirs = _identity_of(manifest)
    differ = [k for k in identity if theirs[k] != identity[k]]
    if differ:
        names = {"config_sha256": "config", "sample_format": f"chirpgen (sample format {theirs['sample_format']}, "
                 f"this one makes {SAMPLE_FORMAT})"}
        what = ", ".join(names.get(k, f"{k} {theirs[k]} (asked {identity[k]})") for k in differ)
        raise DatasetError(
            f"{str(out)!r} holds a data set made with another {what}; use a new --out or delete it first"
        )


def _verify_done(out: Path, shard: ShardPlan, recorded: str | None, config: GenConfig, seed: int) -> str:
    """sha256 of an existing complete shard; DatasetError if it is corrupt or foreign."""
    path = out / shard.file
    if recorded is not None:
        verify_shard(path, recorded)
        return recorded
    # Renamed but not yet recorded (stopped between the two): check it is ours and whole.
    digest = sha256_file(path)
    try:
        with h5py.File(path, "r") as f:
            ok = f.attrs["config"] == config.to_json() and len(f["index"]) == shard.count
            ok = ok and int(f["index"][0]) == shard.start and int(f.attrs["seed"]) == seed
    except Exception:  # noqa: BLE001 - any failure to read means the file is damaged
        ok = False
    if not ok:
        raise DatasetError(
            f"shard {path} is unreadable or not part of this data set; delete it and run the same "
            "chirpgen make again to regenerate it"
        )
    return digest


def _check_args(n: int, shard_size: int, workers: int, seed: int) -> None:
    for name, value in (("n", n), ("shard_size", shard_size), ("workers", workers), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name}={value!r} must be an integer")
    for name, value in (("n", n), ("shard_size", shard_size), ("workers", workers)):
        if value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive integer (1 or more)")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed={seed} must be between 0 and {MAX_SEED}")
    if -(-n // shard_size) > MAX_SHARDS:
        raise ValueError(
            f"--n {n} with --shard-size {shard_size} would make {-(-n // shard_size):,} shards (at most "
            f"{MAX_SHARDS:,}); raise --shard-size"
        )


@contextmanager
def _exclusive(out: Path, part: Part | None = None) -> Iterator[None]:
    """Hold the output directory's lock for the block (see the module docstring); DatasetError if
    another writer holds it. A part holds the directory's lock shared (parts may share a directory,
    a whole run may not run beside them) and its own part lock exclusively."""

    def busy(pid: str) -> DatasetError:
        return DatasetError(
            f"another chirpgen make (pid {pid}) is writing to {str(out)!r}; wait for it to finish, or choose another --out"
        )

    with hold_lock(out / LOCK_FILE, busy, shared=part is not None):
        if part is None:
            yield
            return
        with hold_lock(out / part.lock_name, busy):
            yield


def _die_with_parent(parent: int) -> None:
    """Pool worker initializer: end this worker when the main process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _recorded_sha256(out: Path, identity: dict[str, Any], name: str = MANIFEST) -> dict[str, str | None]:
    """sha256 by file name of the shards recorded in ``out``'s manifest ``name``; DatasetError if it
    holds another data set."""
    if not (out / name).exists():
        if name == MANIFEST and any(out.glob("*.h5")):
            raise DatasetError(
                f"{str(out)!r} holds .h5 files but no {MANIFEST}; use a new --out or delete them"
            )
        return {}
    manifest = read_manifest(out, name)
    _check_existing(out, manifest, identity)
    return {s["file"]: s.get("sha256") for s in manifest.get("shards", [])}


def _new_manifest(
    config: GenConfig,
    n: int,
    identity: dict[str, Any],
    plans: list[ShardPlan],
    recorded: dict[str, str | None],
) -> dict[str, Any]:
    return {
        **schema_attrs(config),
        **identity,
        "config": config.to_dict(),
        "split_counts": split_counts(n, config.splits),
        "kind_names": list(KIND_NAMES),
        "snr_definition": SNR_DEFINITION,
        "grey_definition": GREY_DEFINITION,
        "versions": _versions(),
        "complete": False,
        "shards": [{**vars(p), "sha256": recorded.get(p.file)} for p in plans],
    }


def _take_stock(
    out: Path,
    manifest: dict[str, Any],
    plans: list[ShardPlan],
    config: GenConfig,
    seed: int,
    progress: Callable[[int], None],
) -> list[tuple[dict[str, Any], ShardPlan]]:
    """Remove stale .partial files of ``plans``, verify the shards already written; return (entry, plan) of the rest."""
    for plan in plans:  # ours alone under the lock (other parts' files are left alone)
        (out / (plan.file + PARTIAL_SUFFIX)).unlink(missing_ok=True)
    todo = []
    for entry, plan in zip(manifest["shards"], plans, strict=False):
        if (out / plan.file).exists():
            entry["sha256"] = _verify_done(out, plan, entry["sha256"], config, seed)
            progress(plan.count)
        else:
            entry["sha256"] = None
            todo.append((entry, plan))
    return todo


def _write_missing(
    out: Path,
    manifest: dict[str, Any],
    todo: list[tuple[dict[str, Any], ShardPlan]],
    config: GenConfig,
    seed: int,
    workers: int,
    progress: Callable[[int], None],
    name: str = MANIFEST,
) -> None:
    """Write the shards in ``todo``, recording each one's sha256 in the manifest as it lands."""
    pool = None
    if workers > 1 and todo:
        warm_up(config.stft)  # the workers fork from here with scipy imported and the window made
        pool = ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        for entry, plan in todo:
            tasks = _tasks(config, seed, plan)
            blocks = _bounded_map(pool, tasks, ahead=4 * workers) if pool else map(_block, tasks)
            entry["sha256"] = _write_shard(out / plan.file, config, seed, plan, blocks, progress)
            write_json_atomic(out / name, manifest)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)


def make_dataset(
    out: str | Path,
    n: int,
    config: GenConfig,
    seed: int = 0,
    workers: int = 1,
    shard_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """Generate (or complete) a data set of ``n`` samples in ``out``; return its manifest.

    Every sample is a pure function of (config, seed, split, index), so the result is the same
    byte for byte whatever ``workers`` is, and a run stopped at any point completes on the next call.

    Args:
        out: directory to write; created if missing.
        n: total samples over train, val and test (split by ``config.splits``).
        config: the generation config.
        seed: the data set seed.
        workers: processes computing samples (the main process writes).
        shard_size: samples per HDF5 shard.
        progress: called with the number of samples just finished (also for verified shards).
        part: write only this part's shards, with its own manifest (see :class:`Part`).
    """
    _check_args(n, shard_size, workers, seed)
    # the window's name is checked here, not at config load (scipy.signal is slow to import), before OUT exists
    stft_window(config.stft)
    out = Path(out)
    progress = progress or (lambda _: None)
    name = MANIFEST if part is None else part.manifest_name
    _prepare_out(out)
    with _exclusive(out, part):  # our stale .partial files, our manifest and our shards are ours alone
        identity = _identity(config, seed, n, shard_size)
        if part is not None and (out / MANIFEST).exists():  # a part may not go into another data set
            _check_existing(out, read_manifest(out), identity)
        recorded = _recorded_sha256(out, identity, name)
        plans = plan_shards(n, config.splits, shard_size)
        if part is not None:
            plans = part.select(plans)
        manifest = _new_manifest(config, n, identity, plans, recorded)
        if part is not None:
            manifest["part"] = [part.k, part.n]
        todo = _take_stock(out, manifest, plans, config, seed, progress)
        write_json_atomic(out / name, manifest)
        _write_missing(out, manifest, todo, config, seed, workers, progress, name)
        manifest["complete"] = True
        write_json_atomic(out / name, manifest)
    return manifest


def _part_key(path: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    """(K, N) of the part manifest at ``path``: its ``part`` entry, which must match its file name."""
    key = manifest.get("part")
    valid = (isinstance(key, list) and len(key) == 2 and all(type(x) is int for x in key)
             and path.name == Part(*key).manifest_name and 1 <= key[0] <= key[1])
    if not valid:
        raise DatasetError(f"{path} has no valid part entry [K, N] matching its name (it has {key!r}); "
                           "run that part's chirpgen make --part K/N again")
    return key[0], key[1]


def join_parts(out: str | Path, sources: list[str | Path] = ()) -> dict[str, Any]:
    """Join the parts of a data set (``make --part K/N``) found in ``out`` and ``sources`` into the
    data set in ``out``: every part present once and complete, all made with one config, seed, n and
    shard size, every shard's sha256 verified; shards from other directories are copied in. The
    manifest is the one a one-machine run writes; the part manifests and locks are then removed
    from ``out``. Returns the manifest.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"OUT {str(out)!r} is a file; give the directory to join the parts into")
    if not sources and not out.is_dir():
        raise DatasetError(f"{str(out)!r} is not a directory; give the --out directory of the parts")
    # OUT is made (when new) only once the parts are found whole, so a refused join leaves none behind
    dirs = [*([out] if out.is_dir() else []), *(Path(s) for s in sources)]
    found: dict[tuple[int, int], tuple[Path, dict[str, Any]]] = {}
    for d in dirs:
        if not d.is_dir():
            raise DatasetError(f"{str(d)!r} is not a directory; give the --out directories of the parts")
        for path in sorted(d.glob("manifest.part-*-of-*.json")):
            manifest = read_manifest(d, path.name)
            key = _part_key(path, manifest)
            if key in found and found[key][0] != d:
                raise DatasetError(f"part {key[0]} of {key[1]} is in both {str(found[key][0])!r} and {str(d)!r}; keep one")
            found[key] = (d, manifest)
    if not found:
        raise DatasetError(f"no part manifests (manifest.part-K-of-N.json) in {[str(d) for d in dirs]}; run chirpgen make --part K/N first")
    first = next(iter(found.values()))[1]
    total = first["part"][1]
    for (k, n_parts), (d, manifest) in found.items():
        if n_parts != total or _identity_of(manifest) != _identity_of(first):
            raise DatasetError(f"part {k} of {n_parts} in {str(d)!r} belongs to another data set (config, seed, n, "
                               "shard size, sample format or number of parts differ); join the parts of one chirpgen make")
        if not manifest.get("complete"):
            raise DatasetError(f"part {k} of {n_parts} in {str(d)!r} is incomplete; run its chirpgen make --part {k}/{n_parts} again")
    missing = [k for k in range(1, total + 1) if (k, total) not in found]
    if missing:
        raise DatasetError(f"parts {missing} of {total} are missing; make them with chirpgen make --part K/{total}")
    config = GenConfig.from_dict(first["config"])
    identity = _identity_of(first)
    if identity["sample_format"] != SAMPLE_FORMAT:
        raise DatasetError(f"the parts were made by another chirpgen (sample format {identity['sample_format']}, "
                           f"this one makes {SAMPLE_FORMAT}); make them again with this one")
    for d, manifest in found.values():  # every shard checked before OUT is made or touched
        for entry in manifest["shards"]:
            src = d / entry["file"]
            if not src.is_file():
                raise DatasetError(f"shard {src} is missing; run its part's chirpgen make again")
            verify_shard(src, entry["sha256"])
    _prepare_out(out)
    with _exclusive(out):
        if (out / MANIFEST).exists():  # joining into a data set is fine only when it is this one
            _check_existing(out, read_manifest(out), identity)
        recorded: dict[str, str] = {}
        for d, manifest in found.values():
            for entry in manifest["shards"]:
                if d != out:
                    dest = out / entry["file"]
                    with atomic_path(dest) as tmp:
                        shutil.copyfile(d / entry["file"], tmp)
                    verify_shard(dest, entry["sha256"])
                recorded[entry["file"]] = entry["sha256"]
        plans = plan_shards(identity["n"], config.splits, identity["shard_size"])
        manifest = _new_manifest(config, identity["n"], identity, plans, recorded)
        manifest["versions"] = first["versions"]
        manifest["complete"] = True
        write_json_atomic(out / MANIFEST, manifest)
        for part in (Part(*key) for key in found):
            (out / part.manifest_name).unlink(missing_ok=True)
            (out / part.lock_name).unlink(missing_ok=True)
    return manifest
