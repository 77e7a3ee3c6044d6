"""Does the model say "no chirp" on noise and find the chirps? Presence against SNR.

    python benchmarks/detection.py [--model RUN] [--out benchmarks/results/detection.json]

A data set of the benchmark frame in which half the records hold no chirp (``signal.p_no_chirp``
0.5, seed 2027, all in the test split; made in ``data/bench-presence`` on demand) goes through the
model; a record counts as "chirp" when its presence probability ``p_chirp`` is at least 0.5. The
results hold the share of noise-only images flagged as chirp and the share of chirps found, per
SNR bin.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.provenance import REPO, manifest_sha256, provenance  # noqa: E402
from chirpgen.config import NO_CHIRP_KIND, load_config  # noqa: E402
from chirpgen.dataset import make_dataset  # noqa: E402
from chirpgen.plumbing import write_json_atomic  # noqa: E402
from chirpgen.shards import read_split  # noqa: E402

SEED = 2027
N = 4_000
P_NO_CHIRP = 0.5
DEFAULT_OUT = REPO / "data" / "bench-presence"
OVERRIDES = [f"signal.p_no_chirp={P_NO_CHIRP}", "splits={train: 0.0, val: 0.0, test: 1.0}"]


def ensure_presence_data(out: Path = DEFAULT_OUT, workers: int = 2) -> dict:
    """Make (or complete) the presence data set: the benchmark preset, half noise only, all test."""
    from benchmarks.bench_data import PRESET

    return make_dataset(out, N, load_config(PRESET, overrides=OVERRIDES), seed=SEED, workers=workers, shard_size=N)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="chirploc run directory (default: the packaged model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="presence data set directory")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "detection.json")
    args = parser.parse_args()
    from chirploc.inference import load_predictor
    from chirploc.metrics import detection_stats, snr_edges

    ensure_presence_data(args.data)
    predictor = load_predictor(args.model)
    arrays = read_split(args.data, "test")
    start = time.perf_counter()
    pred = predictor.predict(arrays["image"])
    seconds = time.perf_counter() - start
    if "p_chirp" not in pred:
        raise SystemExit(f"model {args.model or 'packaged default'} gives no presence probability (not a dense head)")
    has_chirp = arrays["kind"] != NO_CHIRP_KIND
    stats = detection_stats(pred["p_chirp"], has_chirp, arrays["snr_db"], snr_edges(predictor.frame.signal.snr_db))
    record = {
        "benchmark": "detection",
        "provenance": provenance(data=str(args.data), data_manifest_sha256=manifest_sha256(args.data),
                                 model=args.model or "packaged default"),
        "data": {"seed": SEED, "n": N, "overrides": OVERRIDES},
        "seconds": seconds,
        **stats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, record)
    print(f"noise-only images flagged: {stats['noise']['rate']:.4f} of {stats['noise']['n']}; "
          f"chirps found: {stats['chirps']['rate']:.4f} of {stats['chirps']['n']}")


if __name__ == "__main__":
    main()
