"""Build many functions' RawGraphs over worker processes (graph.workers).

Workers are forked where the platform allows (no re-import cost) and each
holds one GraphBuilder. Functions travel in chunks and come back in order.
A function whose build raises is returned as a `Failure` (the stage counts and
reports it as quarantined) instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from streamguard.errors import StreamGuardError
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.raw_graph import RawGraph
from streamguard.params import GraphParams

CHUNK = 128  # functions per task: large enough to amortise pickling, small enough for a live progress bar


@dataclass
class Failure:
    reason: str  # "ExceptionType: message"


def worker_count(graph_params: GraphParams) -> int:
    if graph_params.workers > 0:
        return graph_params.workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _build_each(builder: GraphBuilder, funcs: Sequence[str]) -> list[RawGraph | Failure]:
    out: list[RawGraph | Failure] = []
    for func in funcs:
        try:
            out.append(builder.build(func))
        except Exception as exc:  # quarantined by the caller, never silently dropped
            out.append(Failure(f"{type(exc).__name__}: {exc}"))
    return out


_worker_builder: GraphBuilder | None = None


def _init_worker(graph_params: GraphParams) -> None:
    global _worker_builder
    _worker_builder = GraphBuilder(graph_params)


def _build_chunk(funcs: list[str]) -> list[RawGraph | Failure]:
    assert _worker_builder is not None, "worker not initialised"
    return _build_each(_worker_builder, funcs)


def build_raw_graphs(
    funcs: Sequence[str], graph_params: GraphParams, on_progress: Callable[[int], None] | None = None
) -> list[RawGraph | Failure]:
    """One RawGraph (or Failure) per function, in order; `on_progress(n)` after each n done."""
    out: list[RawGraph | Failure] = []
    for chunk_result in _iter_chunks(funcs, graph_params):
        out.extend(chunk_result)
        if on_progress is not None:
            on_progress(len(chunk_result))
    return out


def _iter_chunks(funcs: Sequence[str], graph_params: GraphParams) -> Iterator[list[RawGraph | Failure]]:
    chunks = [list(funcs[i : i + CHUNK]) for i in range(0, len(funcs), CHUNK)]
    workers = min(worker_count(graph_params), len(chunks))
    if workers <= 1:
        builder = GraphBuilder(graph_params)
        for chunk in chunks:
            yield _build_each(builder, chunk)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(graph_params,)) as pool:  # fmt: skip
            yield from pool.map(_build_chunk, chunks)
    except BrokenProcessPool as exc:
        raise StreamGuardError(
            f"a graph-building worker process died ({exc}); rerun with graph.workers: 1 in params.yaml "
            "to build in-process and see which function crashes it"
        ) from None
