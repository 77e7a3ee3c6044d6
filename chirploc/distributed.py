"""Data-parallel training across processes with PyTorch DDP, launched by torchrun.

    torchrun --nproc_per_node 2 -m chirploc train --data D --out RUN --config R     # one machine
    torchrun --nnodes 2 --node_rank K --master_addr HOST --master_port 29500 \\
             --nproc_per_node 2 -m chirploc train ...                               # two machines

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them training runs in one process
as always. The recipe's ``batch_size`` stays the global batch: each of the W ranks takes its
``batch_size / W`` slice of every global batch of the one epoch order all ranks draw from the same
seed (:class:`RankSlice`), DDP averages the gradients (gloo on CPU, NCCL on CUDA), so a step sees
the same samples as a one-process step. Rank 0 alone validates, writes checkpoints, metrics.jsonl,
logs and the progress bar; its val loss is broadcast, so every rank steps the plateau scheduler and
early stopping with the same value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Sampler

from chirploc.rundir import CheckpointError


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank, world size and local rank (one process: 0, 1, 0)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


ONE_PROCESS = Dist()


def init(device: str) -> Dist:
    """Join the torchrun job the environment describes (nothing to do for one process).

    Args:
        device: the recipe's device ('cpu', 'cuda' or 'auto'); NCCL for CUDA, gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return ONE_PROCESS
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local_rank)


def local_batch(batch_size: int, d: Dist) -> int:
    """Each rank's share of the global batch; CheckpointError unless the ranks divide it."""
    if batch_size % d.world:
        raise CheckpointError(
            f"batch_size={batch_size} is not divisible by the {d.world} processes; choose a batch size that is"
        )
    return batch_size // d.world


class RankSlice(Sampler[int]):
    """Rank ``d.rank``'s slice of every global batch of ``base``'s order (whole global batches only)."""

    def __init__(self, base: Sampler[int], batch_size: int, d: Dist) -> None:
        self.base, self.batch_size, self.d = base, batch_size, d
        self.local = local_batch(batch_size, d)

    def __iter__(self) -> Iterator[int]:
        order = list(iter(self.base))
        lo = self.d.rank * self.local
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            yield from order[start + lo : start + lo + self.local]

    def __len__(self) -> int:
        n = len(self.base) if isinstance(self.base, Sized) else 0
        return (n // self.batch_size) * self.local


def broadcast(value: Any, d: Dist) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not d.active:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: list[float], d: Dist) -> list[float]:
    """Element-wise sums of ``values`` over the ranks."""
    if not d.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def finish(d: Dist) -> None:
    """Wait for every rank, then leave the process group."""
    if d.active:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, d: Dist, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when the job has several ranks (frozen weights are skipped)."""
    if not d.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
