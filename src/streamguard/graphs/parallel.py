"""Build many functions' graphs over worker processes (graph.workers).

Workers are forked where the platform allows (no re-import cost), before any
progress-display thread exists, and each holds one GraphBuilder. Functions travel in chunks of one split and come back,
in order, as GraphBlocks. A function whose build raises is listed in its
block's `failures` (the stage counts and reports it as quarantined) instead of
stopping the run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from streamguard.errors import StreamGuardError
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.raw_graph import GraphBlock, RawGraph
from streamguard.io.cpus import cpu_count
from streamguard.params import GraphParams

CHUNK = 128  # functions per task: large enough to amortise pickling, small enough for a live progress bar


def worker_count(graph_params: GraphParams) -> int:
    if graph_params.workers > 0:
        return graph_params.workers
    return cpu_count()


def _build_block(builder: GraphBuilder, start: int, funcs: Sequence[str]) -> GraphBlock:
    graphs: list[tuple[int, RawGraph]] = []
    failures: list[tuple[int, str]] = []
    for i, func in enumerate(funcs, start):
        try:
            graphs.append((i, builder.build(func)))
        except Exception as exc:  # quarantined by the caller, never silently dropped
            failures.append((i, f"{type(exc).__name__}: {exc}"))
    return GraphBlock.collate(graphs, failures)


_worker_builder: GraphBuilder | None = None


def _init_worker(graph_params: GraphParams) -> None:
    global _worker_builder
    _worker_builder = GraphBuilder(graph_params)


def _build_task(task: tuple[str, int, list[str]]) -> tuple[str, GraphBlock]:
    assert _worker_builder is not None, "worker not initialised"
    split, start, funcs = task
    return split, _build_block(_worker_builder, start, funcs)


class GraphPool:
    """Worker processes that build GraphBlocks; use as a context manager.

    The workers are started on entering, so enter the pool before starting
    anything that runs threads (a progress display): forking while another
    thread holds a lock could leave that lock held forever in the child.
    """

    def __init__(self, graph_params: GraphParams, workers: int | None = None) -> None:
        self.graph_params = graph_params
        self.workers = worker_count(graph_params) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> GraphPool:
        if self.workers > 1:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                             initargs=(self.graph_params,))  # fmt: skip
            for future in [self._pool.submit(worker_count, self.graph_params) for _ in range(self.workers)]:
                future.result()  # every worker is up before the caller starts any thread
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def build_blocks(
        self, funcs_by_split: Mapping[str, Sequence[str]], on_progress: Callable[[int], None] | None = None
    ) -> dict[str, list[GraphBlock]]:
        """Each split's functions as GraphBlocks, in order (`positions` index the split's list).

        `on_progress(n)` is called after each block of n functions.
        """
        tasks = [
            (split, start, list(funcs[start : start + CHUNK]))
            for split, funcs in funcs_by_split.items()
            for start in range(0, len(funcs), CHUNK)
        ]
        out: dict[str, list[GraphBlock]] = {split: [] for split in funcs_by_split}
        for split, block in self._run(tasks):
            out[split].append(block)
            if on_progress is not None:
                on_progress(len(block) + len(block.failures))
        return out

    def _run(self, tasks: list[tuple[str, int, list[str]]]) -> Iterator[tuple[str, GraphBlock]]:
        if self._pool is None:  # one worker: build in this process
            builder = GraphBuilder(self.graph_params)
            for split, start, funcs in tasks:
                yield split, _build_block(builder, start, funcs)
            return
        try:
            yield from self._pool.map(_build_task, tasks)
        except BrokenProcessPool as exc:
            raise StreamGuardError(
                f"a graph-building worker process died ({exc}); rerun with graph.workers: 1 in params.yaml "
                "to build in-process and see which function crashes it"
            ) from None
