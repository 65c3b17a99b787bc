"""Scoring batches of functions for `scan`: in this process, or in worker processes forked after the models load.

Batches go through `score_batches`, which yields (batch, rows) in submission
order either way, so a scan's report does not depend on the number of workers.
Each process scores with one torch intra-op thread: the models' tensors are
small, and with two threads on a loaded 2-core machine every op waits at a
barrier for a thread that is not scheduled (251 tcpdump functions, GNN forward
under load 15: 0.7 s CPU / 6.7 s wall with one thread, 7.0 s CPU / 42.7 s wall
with two; benchmarks/results/scan.md). The cores are used by processes
instead: workers fork from the process that loaded the models (no second load,
weights shared copy-on-write), before any progress thread starts.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from streamguard.errors import StreamGuardError

_scorer: Any = None  # the Scorer a forked worker inherits


def _score_in_worker(batch: Any) -> tuple[Any, list[dict]]:
    return batch, _scorer.score(batch.records)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def default_workers() -> int:
    """One scoring process per CPU this process may run on."""
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextmanager
def batch_scorer(scorer: Any, workers: int) -> Iterator[Any]:
    """A function (batches -> (batch, rows) in order) scoring with `workers` processes; each batch has .records."""
    global _scorer
    if workers < 1:
        raise StreamGuardError(f"--workers {workers}: give 1 or more scoring processes")
    _one_thread()
    if workers == 1:
        yield lambda batches: ((b, scorer.score(b.records)) for b in batches)
        return
    _scorer = scorer
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_one_thread)
    try:

        def score_batches(batches: Iterable[Any]) -> Iterator[tuple[Any, list[dict]]]:
            return pool.imap(_score_in_worker, batches)

        yield score_batches
    finally:
        pool.terminate()
        pool.join()
        _scorer = None
