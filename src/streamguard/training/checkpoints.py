"""Checkpoint files of the training loop: written atomically, read without trusting them.

A kill (SIGKILL, OOM, a full disk, a pulled plug) can land in the middle of a
save. Every file the loop writes goes to a temporary name, is fsynced, and is
renamed over the old one, so a reader sees the old file or the new one, never
a torn one. A file that is unreadable anyway (copied half-way, emptied by
hand) is set aside as `<name>.corrupt` with a warning, and training starts
fresh instead of failing the same way on every rerun.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from streamguard.io.atomic import atomic_path
from streamguard.progress import console

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
