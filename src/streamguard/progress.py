"""Progress display shared by every long step (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# stderr keeps stdout free for machine-readable output (predict, compare --md)
console = Console(stderr=True, soft_wrap=True)


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        # a live bar only on a terminal; logs (DVC, CI) get no redraw noise
        disable=not console.is_terminal,
    )
