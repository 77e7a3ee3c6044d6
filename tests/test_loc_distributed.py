"""Data-parallel training with torchrun: two gloo processes on the CPU against one process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chirpgen.config import load_config
from chirpgen.dataset import make_dataset
from chirploc.distributed import ONE_PROCESS, Dist, RankSlice, local_batch
from chirploc.rundir import CheckpointError

REPO = Path(__file__).resolve().parent.parent
TIMING = {"images_per_s", "epoch_time_s", "train_time_s"}


def test_rank_slices_partition_every_global_batch_of_the_one_order():
    base = list(range(23))  # 23 samples, global batch 6: three whole batches, five left over
    slices = [list(RankSlice(base, 6, Dist(rank, 3))) for rank in range(3)]
    assert all(len(s) == 6 for s in slices)  # 3 batches x 2 per rank
    for b in range(3):
        together = sorted(i for s in slices for i in s[2 * b : 2 * b + 2])
        assert together == base[6 * b : 6 * b + 6]
    assert list(RankSlice(base, 6, ONE_PROCESS)) == base[:18]


def test_a_global_batch_the_ranks_cannot_share_is_refused():
    assert local_batch(64, Dist(0, 4)) == 16
    with pytest.raises(CheckpointError, match="batch_size=30 is not divisible by the 4 processes"):
        local_batch(30, Dist(0, 4))


def _train(cmd_prefix: list[str], data: Path, out: Path) -> None:
    overrides = ["model.head=regression", "epochs=2", "device=cpu", "max_val_samples=64", "batch_size=32"]
    cmd = [*cmd_prefix, "train", "--data", str(data), "--out", str(out), "--config", str(REPO / "configs" / "debug.yaml"),
           "--backbone", "none", "--no-progress", *[a for o in overrides for a in ("--set", o)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_two_processes_train_the_weights_of_one_with_the_same_global_batch(tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "data"
    make_dataset(data, 640, load_config("default"), seed=1, workers=1, shard_size=320)
    _train([sys.executable, "-m", "chirploc"], data, tmp_path / "one")
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    _train([torchrun, "--nproc_per_node", "2", "--master_port", "29533", "-m", "chirploc"], data, tmp_path / "two")
    for name in ("adapter.safetensors", "head.safetensors"):
        one, two = load_file(str(tmp_path / "one" / "last" / name)), load_file(str(tmp_path / "two" / "last" / name))
        assert one.keys() == two.keys()
        for key in one:
            torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)
    lines = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
             for run in ("one", "two")]
    assert len(lines[0]) == len(lines[1]) == 2  # rank 0 alone wrote the metrics
    for a, b in zip(*lines, strict=True):
        assert a["best"] == b["best"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
