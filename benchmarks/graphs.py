"""Benchmark the graphs stage's work: read a corpus and build every function's graph.

    python benchmarks/graphs.py --data ../shared/datasets/devign/devign.jsonl.gz

Times what the stage does minus writing files: reading and validating the
records, building all graphs over `graph.workers` processes, the vocabulary
and the node features. Prints functions/s, wall and CPU time, peak memory,
tier counts (with the full-tier rate) and mean nodes and edges per type.
Graph params come from --params (default params.yaml), so
`--workers`/`--max-nodes` override one key each.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

from streamguard.data.records import read_records
from streamguard.graphs.build import build_split_graphs, node_features
from streamguard.graphs.parallel import worker_count
from streamguard.graphs.stats import SizeLog, summarise
from streamguard.graphs.vocab import Vocab, count_subtokens
from streamguard.params import GraphParams, load_params


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="records file (.jsonl or .jsonl.gz)")
    parser.add_argument("--params", default="params.yaml", help="params file for the graph section")
    parser.add_argument("--workers", type=int, default=None, help="override graph.workers (0 = all cores)")
    parser.add_argument("--max-nodes", type=int, default=None, help="override graph.max_nodes")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N records (0 = all)")
    args = parser.parse_args(argv)

    gp: GraphParams = load_params(args.params).graph if Path(args.params).exists() else GraphParams()
    overrides = {k: v for k, v in (("workers", args.workers), ("max_nodes", args.max_nodes)) if v is not None}
    gp = dataclasses.replace(gp, **overrides)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    records = list(read_records(args.data))
    if args.limit:
        records = records[: args.limit]
    read_s = time.perf_counter() - wall0
    blocks, quarantine = build_split_graphs({"all": records}, gp)
    vocab = Vocab.build(count_subtokens(blocks["all"]), gp.vocab_size, gp.min_token_count, gp.subtokens_per_node)
    log = SizeLog()
    for block in blocks["all"]:
        node_features(block, vocab)
        log.add(block)
    wall = time.perf_counter() - wall0
    cpu_main = time.process_time() - cpu0
    cpu_workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = summarise(log)

    n = len(records)
    print(f"functions        {n}  ({args.data})")
    print(f"workers          {worker_count(gp)}  "
          f"(graph.max_nodes {gp.max_nodes}, edge types {', '.join(gp.edge_types)})")  # fmt: skip
    print(f"wall time        {wall:.2f} s  (reading records {read_s:.2f} s)")
    print(f"functions/s      {n / wall:.0f}")
    print(f"cpu time         main {cpu_main:.1f} s, workers {cpu_workers.ru_utime + cpu_workers.ru_stime:.1f} s")
    print(f"peak memory      main {_peak_rss_mb(resource.RUSAGE_SELF):.0f} MB, "
          f"largest worker {_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")  # fmt: skip
    tiers = summary["tiers"]
    print("tiers            " + ", ".join(f"{t} {c} ({c / max(n, 1):.1%})" for t, c in tiers.items())
          + f"; quarantined {len(quarantine)}")  # fmt: skip
    print(f"full-tier rate   {tiers['full'] / max(n, 1):.2%}")
    print(f"truncated        {summary['truncated']} graphs hit max_nodes")
    print(f"nodes / graph    mean {summary['nodes']['mean']}, p50 {summary['nodes']['p50']:.0f}, "
          f"p90 {summary['nodes']['p90']:.0f}, max {summary['nodes']['max']}")  # fmt: skip
    print(f"edges / graph    mean {summary['edges']['mean']}; per type: "
          + ", ".join(f"{t} {m}" for t, m in summary["edges_per_type_mean"].items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
