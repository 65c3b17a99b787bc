"""Parallel work with a rich progress bar on stderr (stdout stays free for data)."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
R = TypeVar("R")

console = Console(stderr=True)


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        # a live bar only on a terminal; logs (DVC, CI) get no redraw noise
        disable=not console.is_terminal,
    )


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, description: str) -> list[R]:
    """`[fn(x) for x in items]` on `workers` threads, results in input order.

    The first exception cancels the work not yet started and is re-raised.
    """
    results: list[R | None] = [None] * len(items)
    if not items:
        return []
    with make_progress() as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task(description, total=len(items))
        futures: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise exc
                results[futures[fut]] = fut.result()
                progress.advance(task)
    return results  # type: ignore[return-value]
