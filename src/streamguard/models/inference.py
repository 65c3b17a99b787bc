"""Running a torch model: the device it runs on and its probabilities, batch by batch.

Training validates with these and a trained branch predicts with them, so a model scores the same
items the same way in both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from streamguard.io.ranks import context


def local_device(device: torch.device) -> torch.device:
    """Under data parallelism each process takes the GPU of its LOCAL_RANK."""
    ctx = context()
    if ctx.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ctx.local_rank)
    return device


def select_device(requested: str) -> torch.device:
    """The device asked for; under data parallelism, `cuda` means this process's GPU (LOCAL_RANK)."""
    if requested != "auto":
        return local_device(torch.device(requested))
    if torch.cuda.is_available():
        return local_device(torch.device("cuda"))
    return torch.device("cpu")


@torch.no_grad()
def predict_probs(
    model: nn.Module,
    items: Sequence[Any],
    collate: Callable,
    forward: Callable,
    device: torch.device,
    batch_size: int,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """P(vulnerable) for each item, in order."""
    model.eval()
    out = []
    for start in range(0, len(items), batch_size):
        batch = collate(list(items[start : start + batch_size]))
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with ctx:
            logits = forward(model, batch, device)
        out.append(torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
