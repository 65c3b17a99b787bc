"""Parallel work with the shared rich progress bar (streamguard.progress)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from streamguard.progress import console, make_progress

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["console", "parallel_map"]


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, description: str) -> list[R]:
    """`[fn(x) for x in items]` on `workers` threads, results in input order.

    The first exception cancels the work not yet started and is re-raised.
    """
    results: list[R | None] = [None] * len(items)
    if not items:
        return []
    with make_progress() as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task(description, total=len(items), info="")
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
