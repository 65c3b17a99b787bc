"""Scoring batches of functions for `scan`: in this process, or in worker processes forked after the models load.

Batches go through `score_batches`, which yields (batch, rows) in submission
order either way, so a scan's report does not depend on the number of workers.
Each process scores with one torch intra-op thread: the models' tensors are
small, and with two threads on a loaded 2-core machine every op waits at a
barrier for a thread that is not scheduled (251 tcpdump functions, GNN forward
under load 15: 0.7 s CPU / 6.7 s wall with one thread, 7.0 s CPU / 42.7 s wall
with two; benchmarks/results/scan.md). A fusion of models that score without torch
(models/registry.NEURAL_MODELS) never imports it. The cores are used by processes
instead: workers fork from the process that loaded the models (no second load,
weights shared copy-on-write), before any progress thread starts.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from streamguard.errors import StreamGuardError
from streamguard.io.cpus import cpu_count

_scorer: Any = None  # the Scorer a forked worker inherits


def _score_in_worker(batch: Any) -> tuple[Any, list[dict]]:
    return batch, _scorer.score(batch.records)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def default_workers() -> int:
    """One scoring process per CPU this process may run on."""
    return cpu_count()


@contextmanager
def batch_scorer(scorer: Any, workers: int) -> Iterator[Any]:
    """A function (batches -> (batch, rows) in order) scoring with `workers` processes; each batch has .records."""
    global _scorer
    if workers < 1:
        raise StreamGuardError(f"--workers {workers}: give 1 or more scoring processes")
    uses_torch = getattr(scorer, "uses_torch", True)
    if uses_torch:
        _one_thread()
    if workers == 1:
        yield lambda batches: ((b, scorer.score(b.records)) for b in batches)
        return
    _scorer = scorer
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_one_thread if uses_torch else None
    )
    try:

        def score_batches(batches: Iterable[Any]) -> Iterator[tuple[Any, list[dict]]]:
            # a few batches in flight per worker: files are read while the workers score, memory stays bounded
            in_flight: deque[Future] = deque()
            for batch in batches:
                in_flight.append(pool.submit(_score_in_worker, batch))
                if len(in_flight) >= 2 * workers:
                    yield _result(in_flight.popleft(), workers)
            while in_flight:
                yield _result(in_flight.popleft(), workers)

        yield score_batches
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _scorer = None


def _result(future: Future, workers: int) -> tuple[Any, list[dict]]:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # a worker killed (out of memory?) must end the scan, not hang it
        raise StreamGuardError(
            f"a scoring worker process died ({exc}); if the machine ran out of memory, "
            f"scan again with fewer than --workers {workers} (each worker holds its own activations)"
        ) from exc
