"""The path benchmarks/triage_retraining.py measures: verdicts -> triage file -> `triage` collector -> training rows.

A held-out project `gamma` is a real git repository of C functions whose snapshot records are cut as the
corpus builder cuts them; two training projects come from the Devign sample. The benchmark's simulated team
triages four of gamma's functions through the real triage file and collector; the records must carry the
verdicts as labels and the configured confidence tier, their fingerprints must be the ones `streamguard
triage` resolves, and the leave-one-project-out models must train on them (gamma's scores change, and do
not without them).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, commit, git, init_repo

from streamguard.c.functions import extract_functions
from streamguard.data.records import Record, write_records
from streamguard.data.triage_file import read_triage, triage_path
from streamguard.evaluation.generalization import held_out_scores, load_corpus
from streamguard.params import params_from_dict
from streamguard.scan.triage_command import find_function


def _benchmark():
    spec = importlib.util.spec_from_file_location("triage_retraining", REPO / "benchmarks" / "triage_retraining.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _function(i: int, checked: bool) -> str:
    guard = f"  if (n > {16 + i}) return -1;\n" if checked else ""
    return (
        f"int copy_{i}(char *dst, const char *src, int n) {{\n{guard}  memcpy(dst, src, n);\n"
        f"  dst[n] = {i};\n  return n + dst[0] * {i} + src[1];\n}}\n"
    )


@pytest.fixture
def gamma(tmp_path) -> tuple[Path, str, list[Record]]:
    """A repository of 16 functions (every third unchecked = vulnerable) and its snapshot records."""
    repo = init_repo(tmp_path / "gamma")
    (repo / "src").mkdir()
    truth = {}
    for part in range(2):
        texts = [_function(8 * part + i, checked=(8 * part + i) % 3 != 0) for i in range(8)]
        (repo / f"src/part{part}.c").write_text("#include <string.h>\n\n" + "\n".join(texts))
        truth.update({f"copy_{8 * part + i}": int((8 * part + i) % 3 == 0) for i in range(8)})
    commit(repo, "snapshot")
    sha = git(repo, "rev-parse", "HEAD").strip()
    records = [
        Record(
            func=fn.text,
            target=truth[fn.name],
            project="gamma",
            source="snapshot",
            commit=sha,
            origin=f"gamma@{sha[:12]}:src/part{part}.c:{fn.start_line}",
        )
        for part in range(2)
        for fn in extract_functions((repo / f"src/part{part}.c").read_bytes())
    ]
    return repo, sha, records


def test_triaged_functions_reach_the_training_rows_with_their_verdicts(tmp_path, gamma, sample_records):
    bench = _benchmark()
    repo, sha, snapshot = gamma
    params = params_from_dict(
        {
            "seed": 1,
            "generalize": {"models": ["lexical_metrics"], "threshold_folds": 2},
            "collect": {"confidence_triage": 0.7},
        }
    )
    training = [
        Record(func=r.func, target=r.target, project=("alpha", "beta")[i % 2], source="devign")
        for i, r in enumerate(sample_records[:200])
    ]
    write_records(tmp_path / "corpus.jsonl", training + snapshot)
    corpus = load_corpus(tmp_path / "corpus.jsonl", params)

    chosen_records = [snapshot[i] for i in (0, 5, 9, 10)]  # two vulnerable (copy_0, copy_9), two not
    chosen = [(*bench.snapshot_place(r.origin), r.func, r.target) for r in chosen_records]
    root = tmp_path / "checkouts" / "gamma-triage"
    team, collected = bench.triage_records(repo, sha, chosen, root, params)

    verdicts = read_triage(triage_path(root)).by_fingerprint
    assert len(verdicts) == 4 and collected.dropped == {}
    for fingerprint, verdict in verdicts.items():
        found_fingerprint, _, uri, name = find_function(root, fingerprint[:12])  # as `streamguard triage` finds it
        assert (found_fingerprint, uri, name) == (fingerprint, verdict.file, verdict.function)
    labels = {r.func: r.target for r in chosen_records}
    assert sorted((r.func, r.target) for r in team) == sorted(labels.items())
    assert {(r.source, r.project, r.confidence) for r in team} == {("triage", "gamma-triage", 0.7)}
    assert sum(r.target for r in team) == 2

    extended = bench.with_records(corpus, team, params)
    rows = np.flatnonzero(extended.source == "triage")
    assert sorted(zip([extended.texts[i] for i in rows], extended.y[rows].tolist(), strict=True)) == sorted(
        labels.items()
    )
    before = held_out_scores(corpus, "gamma", params)
    unchanged = held_out_scores(extended, "gamma", params)
    after = held_out_scores(extended, "gamma", bench.training_on_triage(params))
    assert np.array_equal(after.index, before.index)
    np.testing.assert_array_equal(unchanged.scores["lexical_metrics"], before.scores["lexical_metrics"])
    assert not np.allclose(after.scores["lexical_metrics"], before.scores["lexical_metrics"])
    assert "gamma-triage" in after.training_projects and "gamma-triage" not in before.training_projects
    figures = bench.before_after(
        corpus.y[before.index], before.scores["lexical_metrics"], after.scores["lexical_metrics"], params
    )
    assert (figures["n_functions"], figures["n_vulnerable"]) == (16, 6)
    roc = figures["roc_auc"]
    assert roc["difference"] == pytest.approx(roc["after"] - roc["before"]) and 0 < roc["p_value"] <= 1
    json.dumps(figures)  # the figures the benchmark writes are plain JSON
