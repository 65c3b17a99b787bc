"""Checkpoint files of the training loop: written atomically, read without trusting them.

`Checkpointer` owns the loop's checkpoint folder: `checkpoint.pt` (everything a
resume needs) and `best.pt` (the best weights so far). One writer per folder
is `checkpoint_claim`'s rule (training.checkpoint_claim, torch-free, held by the stages).

A kill (SIGKILL, OOM, a full disk, a pulled plug) can land in the middle of a
save. Every file the loop writes goes to a temporary name, is fsynced, and is
renamed over the old one, so a reader sees the old file or the new one, never
a torn one. A file that is unreadable anyway (copied half-way, emptied by
hand) is set aside as `<name>.corrupt` with a warning, and training starts
fresh instead of failing the same way on every rerun.
"""

from __future__ import annotations

import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from streamguard.io.atomic import atomic_path
from streamguard.io.ranks import DistContext
from streamguard.progress import console
from streamguard.training import distributed

# what torch.load raises on a truncated, empty or garbled file
_UNREADABLE = (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to `path`, all or nothing and on disk (`atomic_path`): readers never see a partial file."""
    with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def set_aside(path: Path, why: str) -> Path:
    """Rename an unusable file to `<name>.corrupt` (kept for inspection) and warn on stderr."""
    corrupt = path.with_name(path.name + ".corrupt")
    path.replace(corrupt)
    console.print(
        f"[yellow]warning:[/] {path} is unreadable ({why}); moved it to {corrupt} and starting training from scratch",
        highlight=False,
    )
    return corrupt


def load_checkpoint(path: Path, required: tuple[str, ...]) -> dict | None:
    """The checkpoint at `path`, or None when there is none or it is unreadable (then set aside)."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        set_aside(path, f"{type(exc).__name__}: {str(exc)[:200]}")
        return None
    missing = [key for key in required if key not in ckpt] if isinstance(ckpt, dict) else list(required)
    if missing:
        set_aside(path, f"not a training checkpoint: missing {', '.join(missing)}")
        return None
    return ckpt


# what a file must hold to be resumed from
CHECKPOINT_KEYS = ("fingerprint", "model", "optimizer", "scheduler", "torch_rng", "state")


class Resumable(Protocol):
    """What a checkpoint holds besides the loop's state (training.loop.TrainSetup is one)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    device: torch.device


class Checkpointer:
    """The loop's checkpoint folder: `checkpoint.pt` to resume from, `best.pt` with the best weights so far.

    Rank 0 alone reads and writes files; under data parallelism it broadcasts
    what it read. A checkpoint resumes only the run it was written by (the
    same `fingerprint`: settings, seed and data).
    """

    def __init__(self, folder: Path, fingerprint: str, ctx: DistContext) -> None:
        self.folder, self.fingerprint, self.ctx = folder, fingerprint, ctx
        self.path = folder / "checkpoint.pt"
        self.best_path = folder / "best.pt"
        if ctx.is_main:
            folder.mkdir(parents=True, exist_ok=True)

    def resume(self, run: Resumable, wanted: bool) -> str | None:
        """Load this run's checkpoint into `run` (every rank); returns the loop's state (JSON), None to start fresh.

        An unreadable checkpoint is set aside (with a warning) and the run starts fresh.
        """
        ckpt = load_checkpoint(self.path, CHECKPOINT_KEYS) if wanted and self.ctx.is_main else None
        if self.ctx.enabled:  # rank 0 read it; the other ranks (on other nodes, too) get it from rank 0
            ckpt = distributed.broadcast_object(
                ckpt if ckpt and ckpt["fingerprint"] == self.fingerprint else None, run.device
            )
        if ckpt is None or ckpt["fingerprint"] != self.fingerprint:
            return None
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.scheduler.load_state_dict(ckpt["scheduler"])
        if run.scaler is not None and "scaler" in ckpt:
            run.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["torch_rng"])
        if run.device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
        return ckpt["state"]

    def save(self, run: Resumable, state: str) -> None:
        """Write checkpoint.pt: `run`'s weights, optimizer, schedule, RNG and the loop's `state` (JSON)."""
        if not self.ctx.is_main:
            return
        payload = {
            "fingerprint": self.fingerprint,
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "state": state,
        }
        if run.scaler is not None:
            payload["scaler"] = run.scaler.state_dict()
        if run.device.type == "cuda":
            payload["cuda_rng"] = torch.cuda.get_rng_state()
        atomic_torch_save(payload, self.path)

    def save_best(self, model: nn.Module) -> None:
        if self.ctx.is_main:
            atomic_torch_save(model.state_dict(), self.best_path)

    def load_best(self, model: nn.Module, device: torch.device) -> None:
        """The best weights back into `model` (rank 0; the loop broadcasts them)."""
        if self.ctx.is_main:
            model.load_state_dict(torch.load(self.best_path, map_location=device, weights_only=True))

    def remove(self) -> None:
        """A finished run leaves no checkpoint behind: the next run with other params starts clean.

        (A set-aside *.corrupt file stays for inspection.)
        """
        for leftover in self.folder.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover)
            elif leftover.suffix != ".corrupt":
                leftover.unlink()
        if not any(self.folder.iterdir()):
            self.folder.rmdir()
