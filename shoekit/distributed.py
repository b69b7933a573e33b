"""Several processes under torchrun: process group, sharded data, merged features and sums.

    torchrun --nproc-per-node N -m shoekit train ...      # DistributedDataParallel training
    torchrun --nproc-per-node N -m shoekit evaluate RUN   # features extracted in N shards

`init_distributed(device)` joins the process group that torchrun's environment describes
(WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT): gloo on CPUs, nccl on GPUs (process k uses
cuda:LOCAL_RANK). Without torchrun it returns a one-process context whose methods are no-ops,
so the same code runs in one process or many. Rank 0 writes every file; the others wait.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from shoekit.errors import ShoekitError
from shoekit.precision import resolve_device

log = logging.getLogger(__name__)


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process is rank 0 (or the only one); for printing summaries once."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class DistContext:
    """This process's place among `world_size` processes and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of `values` over all processes (float64)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def broadcast(self, value):
        """Rank 0's `value` (any picklable object), on every process."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def shard(self, num_items: int) -> range:
        """This process's contiguous block of `range(num_items)`; blocks in rank order cover it."""
        return range(num_items * self.rank // self.world_size, num_items * (self.rank + 1) // self.world_size)

    def gather_rows(self, local: np.ndarray) -> np.ndarray | None:
        """Every process's `(n_k, D)` float32 rows concatenated in rank order on rank 0; None elsewhere."""
        if not self.active:
            return local
        local = np.ascontiguousarray(local, dtype=np.float32).reshape(len(local), -1)
        sizes = [torch.zeros(2, dtype=torch.int64, device=self.device) for _ in range(self.world_size)]
        dist.all_gather(sizes, torch.tensor(local.shape, dtype=torch.int64, device=self.device))
        rows = [int(size[0]) for size in sizes]
        width = max(int(size[1]) for size in sizes)
        padded = torch.zeros(max(rows), width, dtype=torch.float32, device=self.device)
        padded[:len(local), :local.shape[1]] = torch.from_numpy(local).to(self.device)
        buckets = [torch.empty_like(padded) for _ in range(self.world_size)] if self.is_main else None
        dist.gather(padded, buckets, dst=0)
        if not self.is_main:
            return None
        return np.concatenate([bucket[:count].cpu().numpy() for bucket, count in zip(buckets, rows)])

    def extract(self, extract: Callable[[Dataset], dict[str, np.ndarray]], dataset: Dataset
                ) -> dict[str, np.ndarray] | None:
        """`extract(dataset)` with the dataset split into one shard per process, merged on rank 0
        ({name: (N, D) float32} in dataset order there; None on the other ranks)."""
        if not self.active:
            return extract(dataset)
        shard = self.shard(len(dataset))
        log.info("rank %d extracts items %d-%d of %d", self.rank, shard.start, shard.stop, len(dataset))
        local = extract(Subset(dataset, shard))
        merged = {name: self.gather_rows(local[name]) for name in sorted(local)}
        return merged if self.is_main else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` in DistributedDataParallel when several processes train, else itself."""
        if not self.active:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def epoch_loader(self, dataset: Dataset, batch_size: int, seed: int, num_workers: int) -> DataLoader:
        """One epoch of shuffled batches (seeded): all of `dataset` in one process, or this
        rank's 1/world_size share in batches of batch_size // world_size (same global batch)."""
        if not self.active:
            return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) > batch_size,
                              num_workers=num_workers, generator=torch.Generator().manual_seed(seed))
        sampler = DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=seed, drop_last=True)
        per_rank = self.rank_batch_size(batch_size)
        return DataLoader(dataset, batch_size=per_rank, sampler=sampler, drop_last=len(sampler) > per_rank,
                          num_workers=num_workers)

    def rank_batch_size(self, batch_size: int) -> int:
        """This process's share of a global batch of `batch_size` crops; ShoekitError when there are
        more processes than crops in a batch."""
        if batch_size < self.world_size:
            raise ShoekitError(f"--batch-size {batch_size} is smaller than the {self.world_size} processes; "
                               "raise --batch-size (it is the global batch, split across processes)")
        return batch_size // self.world_size

    def batches_per_epoch(self, num_items: int, batch_size: int) -> int:
        """len(`epoch_loader`) over a dataset of `num_items` (>= 1) items, without building it: a last
        partial batch is dropped when there is more than one batch."""
        if self.active:
            num_items, batch_size = num_items // self.world_size, self.rank_batch_size(batch_size)
        return num_items // batch_size if num_items > batch_size else math.ceil(num_items / batch_size)


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def init_distributed(device: str = "auto") -> DistContext:
    """The context of this process: torchrun's process group (joined once per process) or one process.

    `device` as in `resolve_device`; under torchrun a CUDA device becomes cuda:LOCAL_RANK.
    """
    torch_device = resolve_device(device)
    world_size = world_size_from_env()
    if world_size <= 1:
        return DistContext(device=torch_device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch_device.type == "cuda":
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    backend = "nccl" if torch_device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        atexit.register(destroy_process_group)
        if rank != 0:
            logging.getLogger("shoekit").setLevel(logging.WARNING)
        log.info("process group: %d processes, backend %s", world_size, backend)
    return DistContext(rank, world_size, local_rank, torch_device, backend)
