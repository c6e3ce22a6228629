"""Data-parallel training on CPU: the same entry point under `torchrun --nproc_per_node N`.

torchrun sets RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT; `init_from_env` then joins a gloo
process group. Every rank draws the same seeded global batch order and takes the slice
`rank::world` of each global batch, so a run is a pure function of the seed and the world
size; gradients are averaged by DistributedDataParallel and BatchNorm buffers follow rank 0.

    $ torchrun --nproc_per_node 2 -m onebit.models.recipes --recipe irnet --out irnet.pt
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: rank and world size (1 = not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str = "gloo") -> DistContext:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size())


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (if this run joined one)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def shard(x: torch.Tensor, y: torch.Tensor, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's slice of a global batch."""
    if not ctx.enabled:
        return x, y
    return x[ctx.rank :: ctx.world], y[ctx.rank :: ctx.world]


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DistributedDataParallel around `model` when distributed, else `model` itself."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, broadcast_buffers=True)


def sum_all(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum of `values` over all ranks."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()
