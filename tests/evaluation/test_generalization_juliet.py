"""Juliet in the leave-project-out protocol: a train-only source (project `juliet`), never held out or scored."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamguard import cli
from streamguard.data.generalization_corpus import build_corpus
from streamguard.data.records import Record, read_records, write_records
from streamguard.evaluation import generalization
from streamguard.evaluation.generalization import leave_one_project_out, load_corpus, training_index, training_rows
from streamguard.params import GeneralizeParams, load_params, params_from_dict

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCES = ["git", "pairvul", "snapshot", "devign"]

CASES = {
    "CWE121_Stack_Based_Buffer_Overflow__char_type_overrun_memcpy_01": (
        "    char dest[10];\n    char source[100];\n    memset(source, 'A', 99);\n"
        "    memcpy(dest, source, strlen(source));\n    printLine(dest);",
        "    char dest[10];\n    char source[100];\n    memset(source, 'A', 99);\n"
        "    memcpy(dest, source, sizeof(dest) - 1);\n    printLine(dest);",
    ),
    "CWE476_NULL_Pointer_Dereference__int_01": (
        "    int *data = NULL;\n    int fallback = 5;\n    printIntLine(*data);\n    printIntLine(fallback);",
        "    int *data = NULL;\n    int fallback = 5;\n    if (data != NULL) printIntLine(*data);\n"
        "    printIntLine(fallback);",
    ),
}


def case_file(case: str, bad: str, good: str) -> str:
    """A Juliet test case: its bad function, a good variant, the too-short good() wrapper and main."""
    return (
        f'#include "std_testcase.h"\n\nvoid {case}_bad()\n{{\n{bad}\n}}\n\n'
        f"static void good1()\n{{\n{good}\n}}\n\nvoid {case}_good()\n{{\n    good1();\n}}\n\n"
        f"int main(int argc, char * argv[])\n{{\n    {case}_good();\n    {case}_bad();\n    return 0;\n}}\n"
    )


def juliet_archive(root: Path) -> Path:
    """A .tar.gz in the Juliet suite's layout (testcases/CWE.../*.c, testcasesupport/) holding CASES."""
    suite = root / "juliet"
    (suite / "testcasesupport").mkdir(parents=True)
    (suite / "testcasesupport" / "io.c").write_text("void printLine(const char * line) { puts(line); }\n")
    for case, (bad, good) in CASES.items():
        folder = suite / "testcases" / case.split("__")[0]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{case}.c").write_text(case_file(case, bad, good))
    archive = root / "juliet.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(suite, arcname=".")
    return archive


def corpus_inputs(root: Path, clone: str | None = None) -> tuple[Path, Path]:
    """A generalize.corpus: sample input pair (mined/snapshot records of two projects, Devign functions);
    `clone`, when given, is one more function of project alpha."""
    funcs = [f"int f{i}(int n)\n{{\n    int k = n * {i};\n    return k + {i};\n}}\n" for i in range(8)]
    records = [
        Record(func=f, target=i % 2, project="alpha" if i < 4 else "beta", source="snapshot")
        for i, f in enumerate(funcs)
    ]
    if clone:
        records.append(Record(func=clone, target=0, project="alpha", source="snapshot"))
    devign = [
        Record(
            func=f"void d{i}(char *p)\n{{\n    p[{i}] = 0;\n    p[{i} + 1] = 1;\n}}\n", target=i % 2, project="FFmpeg"
        )
        for i in range(4)
    ]
    write_records(root / "sample.jsonl", records)
    write_records(root / "devign.jsonl", devign)
    return root / "sample.jsonl", root / "devign.jsonl"


def corpus_params(**generalize):
    return params_from_dict({"collect": {"min_function_tokens": 12}, "generalize": generalize})


def name_of(rec: Record) -> str:
    return rec.func.split("(")[0].split()[-1]


def test_juliet_joins_the_corpus_as_train_only_project_juliet(tmp_path):
    """generalize-corpus with generalize.juliet_path: Juliet's bad/good functions, counted in report.json."""
    archive = juliet_archive(tmp_path)
    sample, devign = corpus_inputs(tmp_path)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(
        yaml.safe_dump({"collect": {"min_function_tokens": 12}, "generalize": {"juliet_path": str(archive)}})
    )
    out = tmp_path / "corpus"
    argv = ["--params", str(params_path), "generalize-corpus", "--sample", str(sample), "--devign-sample", str(devign)]
    assert cli.main([*argv, "--out", str(out)]) == 0
    juliet = [r for r in read_records(out / "corpus.jsonl") if r.source == "juliet"]
    assert {r.project for r in juliet} == {"juliet"}
    cwe121, cwe476 = CASES
    assert sorted((name_of(r), r.target, r.cwe) for r in juliet) == [
        (f"{cwe121}_bad", 1, "CWE-121"),
        (f"{cwe476}_bad", 1, "CWE-476"),
        ("good1", 0, "CWE-121"),
        ("good1", 0, "CWE-476"),
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["projects"]["juliet"] == {"juliet_benign": 2, "juliet_vulnerable": 2}
    assert report["juliet"]["case_files"] == 2 and report["juliet"]["functions"] == 4
    # main is a helper, the good() wrapper is under collect.min_function_tokens: the collect stage's rules
    assert report["juliet"]["dropped"] == {"helper_function": 2, "too_short": 2}


def test_juliet_max_cases_keeps_whole_test_cases(tmp_path):
    archive = juliet_archive(tmp_path)
    sample, devign = corpus_inputs(tmp_path)
    records, report = build_corpus(corpus_params(juliet_path=str(archive), juliet_max_cases=1), None, sample, devign)
    juliet = [r for r in records if r.source == "juliet"]
    assert len({r.pair for r in juliet}) == 1 and sorted(r.target for r in juliet) == [0, 1]
    assert report["juliet"]["cases_kept"] == 1 and report["juliet"]["dropped"]["juliet_case_cap"] == 3


def test_a_juliet_text_found_in_a_project_leaves_both(tmp_path):
    """The cross-project clone rule holds for Juliet as for every source."""
    archive = juliet_archive(tmp_path)
    cwe121 = next(iter(CASES))
    clone = f"void {cwe121}_bad()\n{{\n{CASES[cwe121][0]}\n}}"
    sample, devign = corpus_inputs(tmp_path, clone=clone)
    records, report = build_corpus(corpus_params(juliet_path=str(archive)), None, sample, devign)
    assert report["cross_project_clones_dropped"] == 2
    assert f"{cwe121}_bad" not in {name_of(r) for r in records}
    assert len([r for r in records if r.project == "juliet"]) == 3


def test_default_params_build_the_corpus_without_juliet(tmp_path):
    """juliet_path null by default: the same records as before, and Juliet is not among the default train sources."""
    archive = juliet_archive(tmp_path)
    sample, devign = corpus_inputs(tmp_path)
    defaults = load_params(REPO / "params.yaml")
    assert defaults.generalize.juliet_path is None and defaults.generalize.train_sources == DEFAULT_SOURCES
    assert GeneralizeParams().train_sources == DEFAULT_SOURCES
    plain, plain_report = build_corpus(defaults, None, sample, devign)
    assert "juliet" not in plain_report["projects"] and "juliet" not in plain_report
    with_juliet, _ = build_corpus(corpus_params(juliet_path=str(archive)), None, sample, devign)
    assert [r.to_dict() for r in plain] == [r.to_dict() for r in with_juliet if r.source != "juliet"]


# --- the protocol ---------------------------------------------------------------------------


def protocol_corpus(tmp_path: Path) -> Path:
    """Four scanned projects and Juliet, each with both labels."""
    rng = np.random.default_rng(0)
    records = []
    for project, source in (("alpha", "devign"), ("beta", "devign"), ("gamma", "snapshot"), ("delta", "snapshot")):
        for i in range(30):
            words = " ".join(f"v{rng.integers(0, 30)}" for _ in range(10))
            body = f"    int {words.replace(' ', ' = 1; int ')} = 1;"
            records.append(
                Record(func=f"int {project}_{i}(int n)\n{{\n{body}\n}}\n", target=i % 2, project=project, source=source)
            )
    for i in range(20):
        sink = "memcpy(dest, src, n);" if i % 2 else "memcpy(dest, src, sizeof(dest));"
        text = f"void CWE121_case_{i}_bad(char *src, int n)\n{{\n    char dest[{i + 4}];\n    {sink}\n}}\n"
        records.append(Record(func=text, target=i % 2, project="juliet", source="juliet", pair=f"juliet:c{i // 2}"))
    write_records(tmp_path / "corpus.jsonl", records)
    return tmp_path / "corpus.jsonl"


def protocol_params(**generalize):
    return params_from_dict(
        {
            "generalize": {
                "threshold_folds": 2,
                "models": ["lexical", "code_metrics", "lexical_metrics"],
                **generalize,
            },
            "evaluate": {"bootstrap_resamples": 30},
        }
    )


@pytest.mark.parametrize("train_juliet", [False, True], ids=["juliet_not_trained", "juliet_trained"])
def test_juliet_trains_when_listed_and_is_never_held_out_or_scored(tmp_path, monkeypatch, train_juliet):
    params = protocol_params(train_sources=DEFAULT_SOURCES + ["juliet"] * train_juliet)
    corpus = load_corpus(protocol_corpus(tmp_path), params)
    is_juliet = corpus.project == "juliet"
    juliet_rows_fitted: list[int] = []
    scored_projects: set[str] = set()
    threshold_rows: set[int] = set()
    real_fit, real_scores, real_threshold = (
        generalization.fit_base_models,
        generalization.base_scores,
        generalization.choose_threshold,
    )

    def spy_fit(corpus_, fit_idx, models, params_):
        juliet_rows_fitted.append(int(is_juliet[fit_idx].sum()))
        return real_fit(corpus_, fit_idx, models, params_)

    def spy_scores(fitted, corpus_, score_idx, settings):
        scored_projects.update(corpus_.project[score_idx].tolist())
        return real_scores(fitted, corpus_, score_idx, settings)

    def spy_threshold(y, prob, rule):
        threshold_rows.add(len(y))
        return real_threshold(y, prob, rule)

    monkeypatch.setattr(generalization, "fit_base_models", spy_fit)
    monkeypatch.setattr(generalization, "base_scores", spy_scores)
    monkeypatch.setattr(generalization, "choose_threshold", spy_threshold)
    result = leave_one_project_out(corpus, params, lambda message: None)
    assert result.projects == ["alpha", "beta", "delta", "gamma"]  # both labels, yet juliet is never held out
    assert not is_juliet[result.pooled_index].any()
    assert "juliet" not in scored_projects  # neither held out nor scored when thresholds are cross-fitted
    # every fit (the inner folds' and the held-out detector's) takes all of Juliet, or none of it
    assert juliet_rows_fitted and set(juliet_rows_fitted) == ({int(is_juliet.sum())} if train_juliet else {0})
    assert threshold_rows == {90}  # thresholds chosen on the three other scanned projects' rows alone
    for project in result.projects:
        assert result.per_project[project]["training_projects"] == sorted(
            {"alpha", "beta", "gamma", "delta", *(["juliet"] * train_juliet)} - {project}
        )


def test_juliet_rows_train_as_labelled_functions_under_pair_ranking(tmp_path):
    params = protocol_params(train_sources=[*DEFAULT_SOURCES, "juliet"], pair_training="ranking")
    corpus = load_corpus(protocol_corpus(tmp_path), params)
    train = training_index(corpus, params, without="alpha")
    weights, _ = training_rows(corpus, train, params)
    juliet = corpus.project[train] == "juliet"
    assert juliet.sum() == 20 and (weights[juliet] > 0).all()


def test_a_detector_trained_with_juliet_keeps_it_out_of_its_threshold(tmp_path):
    """train-detector with juliet in train_sources: Juliet trains the shipped model, its threshold comes from
    the scanned projects' out-of-project scores (fusion.json's rows)."""
    corpus = protocol_corpus(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "generalize": {"threshold_folds": 2, "train_sources": [*DEFAULT_SOURCES, "juliet"]},
                "evaluate": {"bootstrap_resamples": 30},
            }
        )
    )
    details = tmp_path / "details.json"
    argv = ["--params", str(params), "generalize", "--corpus", str(corpus), "--metrics", str(tmp_path / "metrics")]
    assert cli.main([*argv, "--details", str(details), "--plots", str(tmp_path / "plots")]) == 0
    assert "juliet" not in json.loads(details.read_text())["per_project"]
    out = tmp_path / "detector"
    argv = ["--params", str(params), "train-detector", "--corpus", str(corpus), "--details", str(details)]
    assert cli.main([*argv, "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert "juliet" in card["training_projects"] and card["corpus"]["projects"]["juliet"]["functions"] == 20
    with np.load(out / "fusion" / "oof_matrix.npz") as oof:
        assert oof["y"].shape == oof["X"].shape[:1] == (120,)  # the four scanned projects' rows, not Juliet's
