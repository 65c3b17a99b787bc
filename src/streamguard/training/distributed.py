"""Data-parallel plumbing for the training loop: one process per device, under torchrun.

A process joins a process group when torchrun (or any launcher that sets the
standard variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)
started it with WORLD_SIZE > 1: gloo on CPU, nccl on CUDA. Without those
variables, or with WORLD_SIZE=1, everything here is a no-op and the loop runs
exactly as a single process always did.

How the loop shares work (`streamguard.training.loop`):

- Every rank draws the same seeded global order of an epoch and walks the
  same global schedule of batches (global batch = `batch_size`, as in one
  process). Rank r takes items r, r+W, r+2W, ... of each global batch.
- Shards are neither padded nor dropped. Ranks stay in step because the
  schedule is global: every rank makes the same collective calls at the same
  optimizer steps whatever its share, and a rank whose slice of a short final
  batch is smaller (or empty) contributes its smaller (or zero) gradient. So
  an uneven split cannot deadlock, and 2 processes see exactly the samples
  1 process sees.
- Each rank's loss is its part of the global batch's loss (divided by the
  global batch's size or weight, which every rank knows), and gradients are
  summed across ranks once per optimizer step (`all_reduce_gradients`): the
  sum is the gradient of the global batch, so accumulation, clipping and
  confidence x class-balance weighting behave as in one process.
- Randomness inside a step (dropout, MLM masking) is reseeded per global batch
  and rank (`step_seed`), so resuming, on any world size, is deterministic.
- Validation batches go round-robin to ranks and the probabilities are
  gathered (`gather_in_order`), so every rank computes the same summary and
  takes the same early-stopping decision.
- Rank 0 alone writes checkpoints, dvclive curves, run_info and stage outputs
  and shows progress (`is_main_process`); it loads a checkpoint and
  broadcasts it, so no other node needs the file.
"""

from __future__ import annotations

import atexit
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from streamguard.errors import StreamGuardError
from streamguard.io.ranks import DistContext, context


def join(device: torch.device) -> DistContext:
    """Join the process group torchrun set up (once per process); a no-op for one process."""
    ctx = context()
    if not ctx.enabled or dist.is_initialized():
        return ctx
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_leave)
    return ctx


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def step_seed(seed: int, epoch: int, batch: int, rank: int) -> int:
    """The seed of one rank's randomness in one global batch (dropout, masking)."""
    return (seed * 1_000_003 + epoch * 10_007 + batch) * 131 + rank


def broadcast_object(obj: Any, device: torch.device) -> Any:
    """Rank 0's `obj` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]


def broadcast_module(module: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (in place)."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def gather_in_order(parts: dict[int, Any], device: torch.device) -> list[Any]:
    """Every rank's {position: value} merged, in position order, on every rank."""
    gathered: list[dict[int, Any]] = [{} for _ in range(dist.get_world_size())]
    dist.all_gather_object(gathered, parts, group=None)
    merged = {k: v for part in gathered for k, v in part.items()}
    return [merged[k] for k in sorted(merged)]


def all_reduce_gradients(params: list[nn.Parameter], extras: list[float]) -> list[float]:
    """Sum every parameter's gradient across ranks, in one flat call; also sums `extras` (float64).

    A parameter no rank produced a gradient for keeps grad None (as in one
    process: AdamW then skips it, weight decay included).
    """
    device = params[0].device
    has_grad = [0.0 if p.grad is None else 1.0 for p in params]
    flags = torch.tensor(has_grad + list(extras), dtype=torch.float64, device=device)
    dist.all_reduce(flags)
    flat = torch.cat(
        [torch.zeros(p.numel(), dtype=p.dtype, device=device) if p.grad is None else p.grad.reshape(-1) for p in params]
    )
    dist.all_reduce(flat)
    offset = 0
    for p, seen in zip(params, flags[: len(params)].tolist()):
        size = p.numel()
        p.grad = flat[offset : offset + size].view_as(p).to(p.dtype) if seen else None
        offset += size
    return flags[len(params) :].tolist()


def check_same_task(ctx: DistContext, fingerprint: str, device: torch.device) -> None:
    """Every rank must train on the same items (same data, same tokenizer); say so when they do not."""
    if not ctx.enabled:
        return
    seen = [""] * ctx.world_size
    dist.all_gather_object(seen, fingerprint)
    if len(set(seen)) > 1:
        raise StreamGuardError(
            f"data-parallel ranks disagree on the training data (fingerprints by rank: {seen}); every process "
            "must read the same data/processed and data/graphs and build the same tokenizer"
        )
