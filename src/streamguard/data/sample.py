"""Build the small, real, stratified Devign sample the repository bundles."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from streamguard.data.records import Record, read_records, sha256_file, write_records
from streamguard.errors import StreamGuardError


def stratified_sample(records: list[Record], size: int, seed: int) -> list[Record]:
    """Draw `size` records keeping each (project, target) stratum's share."""
    strata: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for rec in records:
        strata[(rec.project, rec.target)].append(rec)
    rng = random.Random(seed)
    chosen: list[Record] = []
    total = len(records)
    for key in sorted(strata):
        group = strata[key]
        take = max(1, round(size * len(group) / total))
        chosen.extend(rng.sample(group, min(take, len(group))))
    chosen.sort(key=lambda r: r.id)
    return chosen


def build_sample(source: Path, out: Path, size: int, seed: int) -> dict:
    if size < 1:
        raise StreamGuardError(f"--size {size}: give the number of records to draw (1 or more)")
    records = list(read_records(source, defaults={"source": "devign"}))
    if size > len(records):
        raise StreamGuardError(
            f"--size {size}: {source} holds only {len(records)} records; a sample cannot be larger than its "
            f"source. Give --size {len(records)} or less, or a larger file"
        )
    chosen = stratified_sample(records, size, seed)
    write_records(out, chosen)
    counts: dict[str, int] = defaultdict(int)
    for rec in chosen:
        counts[f"{rec.project}/target={rec.target}"] += 1
    provenance = {
        "file": out.name,
        "sha256": sha256_file(out),
        "records": len(chosen),
        "strata": dict(sorted(counts.items())),
        "drawn_from": source.name,
        "drawn_from_sha256": sha256_file(source),
        "seed": seed,
        "method": "stratified by (project, target) without replacement, sorted by id",
    }
    (out.parent / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance
