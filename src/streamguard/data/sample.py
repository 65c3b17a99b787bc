"""Build the small, real, stratified Devign sample the repository bundles."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from streamguard.data.records import Record, read_records, write_records
from streamguard.errors import StreamGuardError
from streamguard.io.hashing import sha256_file


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


# licence of each repository the generalization sample may draw from (see its LICENSE/COPYING)
REPO_LICENCES = {
    "tcpdump": "BSD-3-Clause",
    "libexpat": "MIT",
    "libsndfile": "LGPL-2.1",
    "libssh2": "BSD-3-Clause",
    "libxml2": "MIT",
    "jq": "MIT",
    "libexif": "LGPL-2.1",
    "zziplib": "LGPL-2.0 / MPL-1.1",
    "faad2": "GPL-2.0",
    "flac": "BSD-3-Clause / GPL-2.0",
    "libcoap": "BSD-2-Clause",
}


def generalization_sample(
    records: list[Record], projects: list[str], max_pairs: int, max_benign: int, seed: int
) -> list[Record]:
    """Per project: at most max_pairs mined pairs, every vulnerable snapshot function, max_benign benign ones."""
    rng = random.Random(seed)
    chosen: list[Record] = []
    for project in projects:
        mine = [r for r in records if r.project == project]
        pairs: dict[str, list[Record]] = defaultdict(list)
        for rec in mine:
            if rec.source == "git" and rec.pair:
                pairs[rec.pair].append(rec)
        complete = sorted(p for p, sides in pairs.items() if sorted(r.target for r in sides) == [0, 1])
        for pair in rng.sample(complete, min(max_pairs, len(complete))):
            chosen.extend(pairs[pair])
        snapshot = [r for r in mine if r.source == "snapshot"]
        chosen.extend(r for r in snapshot if r.target == 1)
        benign = [r for r in snapshot if r.target == 0]
        chosen.extend(rng.sample(benign, min(max_benign, len(benign))))
    chosen.sort(key=lambda r: (r.project, r.source, r.id))
    return chosen


def build_generalization_sample(
    corpus: Path, report: Path, out: Path, projects: list[str], max_pairs: int, max_benign: int, seed: int
) -> dict:
    """Draw the bundled leave-project-out sample from a built corpus (`generalize-corpus` with corpus: build)."""
    records = list(read_records(corpus))
    missing = sorted(set(projects) - {r.project for r in records})
    if missing:
        raise ValueError(f"{corpus} holds no records of {', '.join(missing)}; build the corpus with those repositories")
    chosen = generalization_sample(records, projects, max_pairs, max_benign, seed)
    write_records(out, chosen)
    counts: dict[str, int] = defaultdict(int)
    for rec in chosen:
        counts[f"{rec.project}/{rec.source}/target={rec.target}"] += 1
    snapshots = json.loads(report.read_text()).get("snapshots", {})
    provenance = {
        "file": out.name,
        "sha256": sha256_file(out),
        "records": len(chosen),
        "strata": dict(sorted(counts.items())),
        "projects": {
            p: {
                "licence": REPO_LICENCES.get(p, "see the repository's LICENSE"),
                "bundle": f"../shared/datasets/repos/{p}.bundle",
                "snapshot_commit": snapshots.get(p, {}).get("commit"),
            }
            for p in projects
        },
        "drawn_from_sha256": sha256_file(corpus),
        "seed": seed,
        "method": (
            f"per project: {max_pairs} mined vulnerable/fixed pairs drawn without replacement, every vulnerable "
            f"snapshot function, {max_benign} benign snapshot functions drawn without replacement"
        ),
    }
    (out.parent / "GENERALIZE_PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance
