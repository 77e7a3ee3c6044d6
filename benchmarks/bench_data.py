"""The fixed benchmark data set: default preset, seed 2026, 30,000 samples (test split 3,000).

    python benchmarks/bench_data.py [--out data/bench]           # make it (or check it) in ~1 minute
    python benchmarks/bench_data.py --record                     # write benchmarks/bench_data.json

The data set is regenerated on demand with ``chirpgen make`` and its shards are checked against
the sha256 values recorded in ``benchmarks/bench_data.json``; a mismatch (another chirpgen, HDF5 or
CPU arithmetic) is reported, so results are never quietly computed on other data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO  # noqa: E402
from chirpgen.config import load_config  # noqa: E402
from chirpgen.dataset import make_dataset  # noqa: E402
from chirpgen.plumbing import read_json, write_json_atomic  # noqa: E402

SEED = 2026
N = 30_000
SHARD_SIZE = 3_000
PRESET = "default"
RECORD = REPO / "benchmarks" / "bench_data.json"
DEFAULT_OUT = REPO / "data" / "bench"


def ensure_bench_data(out: Path = DEFAULT_OUT, workers: int = 2, strict: bool = True) -> dict:
    """Make (or complete) the benchmark data set in ``out`` and compare its shards with the record."""
    manifest = make_dataset(out, N, load_config(PRESET), seed=SEED, workers=workers, shard_size=SHARD_SIZE)
    if RECORD.is_file():
        expected = read_json(RECORD, fix="restore it from git or run benchmarks/bench_data.py --record")["shards"]
        got = {s["file"]: s["sha256"] for s in manifest["shards"]}
        differ = sorted(f for f, sha in expected.items() if got.get(f) != sha)
        if differ:
            message = (
                f"benchmark data in {out} differs from benchmarks/bench_data.json in {len(differ)} shard(s) "
                f"({', '.join(differ[:3])}...); results on it are not comparable with the committed ones"
            )
            if strict:
                raise SystemExit(message)
            print("warning: " + message, file=sys.stderr)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="data set directory")
    parser.add_argument("--record", action="store_true", help="record the shard hashes in bench_data.json")
    parser.add_argument("--workers", type=int, default=2, help="processes computing samples")
    args = parser.parse_args()
    manifest = ensure_bench_data(args.out, args.workers, strict=not args.record)
    if args.record:
        record = {"preset": PRESET, "seed": SEED, "n": N, "shard_size": SHARD_SIZE,
                  "shards": {s["file"]: s["sha256"] for s in manifest["shards"]}}
        write_json_atomic(RECORD, record)
    print(f"benchmark data ready in {args.out}: {manifest['split_counts']}")


if __name__ == "__main__":
    main()
