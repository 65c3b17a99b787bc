"""Leave-one-project-out generalization: the corpus (real git history), the protocol, the stage."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from streamguard import cli
from streamguard.data.generalization_corpus import build_corpus, pairvul_records
from streamguard.data.records import Record, write_records
from streamguard.evaluation import generalization
from streamguard.evaluation.generalization import evaluate_scores, held_out_scores, load_corpus, retro_rows
from streamguard.params import params_from_dict
from streamguard.stages.generalize import run_generalize

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def c_function(name: str, body: str) -> str:
    return f"int {name}(char *dst, const char *src, int n)\n{{\n{body}\n    return n;\n}}\n"


F1 = c_function("parse_header", "    char buf[16];\n    memcpy(buf, src, n);\n    dst[n] = buf[0];")
F2 = c_function(
    "parse_header", "    char buf[16];\n    if (n > 16) return -1;\n    memcpy(buf, src, n);\n    dst[n] = buf[0];"
)
G1 = c_function("read_chunk", "    int i;\n    for (i = 0; i < n; i++) dst[i] = src[i];")
G2 = c_function("read_chunk", "    int i;\n    for (i = 0; i < n; i++) dst[i] = src[i] + 1;")
G3 = c_function("read_chunk", "    int i;\n    for (i = 0; i < n && i < 64; i++) dst[i] = src[i] + 1;")
K1 = c_function("skip_bytes", "    while (n-- > 0) src++;\n    dst[0] = *src;")
K2 = c_function("skip_bytes", "    while (n-- > 0 && *src) src++;\n    dst[0] = *src;")
H = c_function("checksum", "    int sum = 0;\n    while (n--) sum += src[n];\n    dst[0] = (char)sum;")


def _params(**generalize):
    return params_from_dict(
        {
            "collect": {"min_function_tokens": 5, "workers": 1},
            "generalize": {"threshold_folds": 2, **generalize},
            "evaluate": {"bootstrap_resamples": 50},
        }
    )


def test_snapshot_labels_the_functions_later_fixes_changed(git_repo, tmp_path):
    """Snapshot = parent of the median fix; vulnerable = exactly the code a later fix changed."""
    repo = git_repo("tinyparser")
    files = {"src/a.c": F1 + G1 + K1 + H}
    repo.commit(files, "Import the parser")
    repo.commit({"src/a.c": F1 + G1 + K2 + H}, "Fix out-of-bounds read in skip_bytes")  # before the snapshot
    snapshot = repo.commit({"src/a.c": F1 + G1 + K2 + H, "README": "x\n"}, "Document")
    repo.commit({"src/a.c": F2 + G1 + K2 + H}, "Fix buffer overflow in parse_header (CVE-2024-1111)")
    repo.commit({"src/a.c": F2 + G2 + K2 + H}, "Tidy read_chunk")  # changes read_chunk before its fix
    repo.commit({"src/a.c": F2 + G3 + K2 + H}, "Fix buffer overflow in read_chunk")
    repo.commit({"tests/t.c": F1}, "Add a test")  # test code: never in the snapshot
    params = params_from_dict(
        {"collect": {"min_function_tokens": 5, "git_repos": [str(repo.path)], "workers": 1, "sources": ["git"]}}
    )
    assert cli.main(["--params", _write_params(tmp_path, params), "collect", "git", "--out", str(tmp_path / "c")]) == 0
    records, report = build_corpus(params_with(params, corpus="build"), tmp_path / "c" / "git.jsonl")
    snap = [r for r in records if r.source == "snapshot"]
    assert report["snapshots"]["tinyparser"]["commit"] == snapshot
    labels = {r.func.split("(")[0].split()[-1]: r.target for r in snap}
    # parse_header at the snapshot is the CVE fix's pre-fix side; read_chunk changed before its fix (unknown
    # state, left out); skip_bytes' fix came before the snapshot and checksum was never fixed: benign
    assert labels == {"parse_header": 1, "skip_bytes": 0, "checksum": 0}
    assert report["snapshots"]["tinyparser"]["dropped"]["changed_before_its_fix"] == 1
    assert report["snapshots"]["tinyparser"]["fixes_after"] == 2
    pairs = [r for r in records if r.source == "git"]
    assert len(pairs) == 6 and all(r.pair for r in pairs)  # three fixes, both sides each


def _write_params(tmp_path: Path, params) -> str:
    import dataclasses

    import yaml

    path = tmp_path / "params.yaml"
    raw = dataclasses.asdict(params)
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def params_with(params, **generalize):
    import dataclasses

    raw = dataclasses.asdict(params)
    raw["generalize"].update(generalize)
    return params_from_dict(raw)


def test_pairvul_pairs_are_linked_kernel_records(tmp_path):
    path = tmp_path / "pairvul.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"vulnerable": F1, "fixed": F2, "cve_id": "CVE-2020-1", "cwe": "['CWE-787']"}) + "\n")
    vulnerable, fixed = pairvul_records(path)
    assert (vulnerable.target, fixed.target) == (1, 0) and vulnerable.pair == fixed.pair
    assert vulnerable.project == "linux" and vulnerable.source == "pairvul" and vulnerable.cwe == "CWE-787"


# --- the protocol ---------------------------------------------------------------------------


def _planted_corpus(
    tmp_path: Path, seed: int = 0, projects=("alpha", "beta", "gamma", "leaky"), marked=("leaky",)
) -> Path:
    """Four projects; in project `leaky` a token no other project has marks every vulnerable function."""
    rng = np.random.default_rng(seed)
    records = []
    for project in projects:
        for i in range(40):
            target = int(i % 2)
            words = " ".join(f"v{rng.integers(0, 30)}" for _ in range(12))
            marker = "LEAKMARK(x);" if project in marked and target else ""
            body = f"    int {words.replace(' ', ' = 1; int ')} = 1;\n    {marker}"
            text = c_function(f"{project}_f{i}", body)
            records.append(Record(func=text, target=target, project=project, source="devign"))
    path = tmp_path / "corpus.jsonl"
    write_records(path, records)
    return path


def test_the_held_out_project_never_reaches_a_model_choice(tmp_path, monkeypatch):
    params = _params(models=["lexical", "code_metrics", "lexical_metrics"])
    corpus = load_corpus(_planted_corpus(tmp_path), params)
    fitted_on: list[set[str]] = []
    real_fit = generalization.fit_base_models

    def spy_fit(corpus_, fit_idx, models, params_):
        fitted_on.append(set(corpus_.project[fit_idx].tolist()))
        return real_fit(corpus_, fit_idx, models, params_)

    thresholds_on: list[int] = []
    real_threshold = generalization.choose_threshold

    def spy_threshold(y, prob, rule):
        thresholds_on.append(len(y))
        return real_threshold(y, prob, rule)

    monkeypatch.setattr(generalization, "fit_base_models", spy_fit)
    monkeypatch.setattr(generalization, "choose_threshold", spy_threshold)
    held = held_out_scores(corpus, "leaky", params)
    assert fitted_on and all("leaky" not in projects for projects in fitted_on)
    n_train = int((corpus.project != "leaky").sum())
    assert thresholds_on and set(thresholds_on) == {n_train}  # every threshold chosen on training projects only
    assert held.training_projects == ["alpha", "beta", "gamma"]
    # the marker is learnable only from `leaky` itself: held out, the lexical model cannot have seen it
    y = corpus.y[held.index]
    order = np.argsort(-held.scores["lexical"])
    assert y[order[:20]].mean() < 0.8


def test_the_shorter_rule_ranks_the_side_with_fewer_code_tokens_vulnerable(tmp_path):
    """Fixes that add a check make the shorter side the vulnerable one: the reversed length rule says so."""
    records = []
    for project in ("alpha", "beta", "gamma"):
        for i in range(6):
            body = "    int k = 0;\n" + "    k += src[%d];\n" * (i + 1) % tuple(range(i + 1))
            check = "    if (n > 16) return -1;\n"
            # five fixes add a check; the last one removes a line instead
            vulnerable, fixed = (body, check + body) if i < 5 else (check + body, body)
            pair = f"{project}-{i}"
            records += [
                Record(
                    func=c_function(f"{project}_f{i}", vulnerable), target=1, project=project, source="git", pair=pair
                ),
                Record(func=c_function(f"{project}_f{i}", fixed), target=0, project=project, source="git", pair=pair),
            ]
    path = tmp_path / "pairs.jsonl"
    write_records(path, records)
    params = _params(models=["code_metrics"])
    corpus = load_corpus(path, params)
    held = held_out_scores(corpus, "alpha", params)
    rows = evaluate_scores(corpus, held.index, held.scores, held.thresholds, params)
    assert rows["shorter"]["pairwise_accuracy"] == pytest.approx(5 / 6)
    assert rows["length"]["pairwise_accuracy"] == pytest.approx(1 / 6)
    assert rows["shorter"]["roc_auc"] == pytest.approx(1 - rows["length"]["roc_auc"])


def test_pairwise_accuracy_same_length_reads_only_pairs_size_cannot_separate(tmp_path):
    """A fix that bounds a copy by a constant keeps the token count: only such pairs enter the same-length figure."""
    records = []
    for i in range(6):
        same = i < 2
        vulnerable = c_function(f"f{i}", "    memcpy(dst, src, n);" if same else "    dst[n] = 0;")
        fixed = c_function(f"f{i}", "    memcpy(dst, src, 16);" if same else "    if (n < 16) dst[n] = 0;")
        records += [
            Record(func=vulnerable, target=1, project="alpha", source="git", pair=f"p{i}"),
            Record(func=fixed, target=0, project="alpha", source="git", pair=f"p{i}"),
        ]
    path = tmp_path / "pairs.jsonl"
    write_records(path, records)
    params = _params()
    corpus = load_corpus(path, params)
    index = np.arange(len(records))
    # scores that pick the vulnerable side exactly where the sides are the same length, the fix elsewhere
    same_pair = np.repeat(np.arange(6) < 2, 2)
    picks = np.where(same_pair == (corpus.y == 1), 0.9, 0.1)
    rows = evaluate_scores(corpus, index, {"picks": picks}, {"picks": 0.5}, params)["picks"]
    assert rows["n_pairs_same_length"] == 2
    assert rows["pairwise_accuracy_same_length"] == 1.0
    assert rows["pairwise_accuracy"] == pytest.approx(2 / 6)


def test_project_scaling_scores_a_held_out_project_whatever_its_style(tmp_path):
    """metrics_scaling project: scaling and shifting every code metric of the held-out project (a
    project that writes longer functions throughout) leaves its scores as they were."""
    rng = np.random.default_rng(0)
    records = []
    for project in ("alpha", "beta", "gamma", "held"):
        for i in range(40):
            statements = int(rng.integers(2, 8)) + 4 * (i % 2)  # vulnerable functions run longer
            body = "\n".join(f"    dst[{k}] = src[{k}] + {rng.integers(0, 9)};" for k in range(statements))
            records.append(Record(func=c_function(f"{project}_f{i}", body), target=i % 2, project=project))
    write_records(tmp_path / "corpus.jsonl", records)
    corpus = load_corpus(tmp_path / "corpus.jsonl", _params())
    restyled = corpus.metrics.copy()
    rows = corpus.project == "held"
    restyled[rows] = restyled[rows] * 3.0 + 5.0
    scores = {}
    for scaling in ("global", "project"):
        params = _params(models=["code_metrics"], metrics_scaling=scaling)
        scores[scaling] = [
            held_out_scores(c, "held", params).scores["code_metrics"]
            for c in (corpus, replace(corpus, metrics=restyled))
        ]
    np.testing.assert_allclose(*scores["project"])
    assert not np.allclose(*scores["global"])


def test_project_scaling_takes_its_statistics_from_the_function_set_only():
    """A project's pair rows (mined fixes) do not move the statistics its functions are read against."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 3))
    project = np.array(["a"] * 8 + ["b"] * 4)
    function_set = np.array([True] * 6 + [False] * 2 + [False] * 4)  # b has no function set: all its rows count
    scaled = generalization.project_standardised(features, project, function_set)
    np.testing.assert_allclose(scaled[:6].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled[:6].std(axis=0), 1)
    np.testing.assert_allclose(scaled[8:].mean(axis=0), 0, atol=1e-12)
    features[6:8] += 100.0  # pair rows far off: the function set's figures stay
    np.testing.assert_allclose(generalization.project_standardised(features, project, function_set)[:6], scaled[:6])


def test_min_projects_drops_an_ngram_only_one_training_project_uses(tmp_path):
    """`leaky` and the held-out `probe` share a marker of vulnerable code; no other project has it."""
    path = _planted_corpus(tmp_path, projects=("alpha", "beta", "gamma", "leaky", "probe"), marked=("leaky", "probe"))
    for min_projects, expected in ((1, 1.0), (2, 0.5)):
        params = _params(models=["lexical"], min_projects=min_projects)
        corpus = load_corpus(path, params)
        held = held_out_scores(corpus, "probe", params)
        auc = roc_auc_score(corpus.y[held.index], held.scores["lexical"])
        assert abs(auc - expected) < 0.2, (min_projects, auc)


def test_retro_rows_count_hits_at_the_top():
    y = np.zeros(100, dtype=int)
    y[[0, 1, 60]] = 1
    score = np.linspace(1, 0, 100)  # ranks items in index order
    recall1, recall50, precision50 = retro_rows(y, score, np.zeros(100))
    assert recall1 == 1 / 3  # the top 1 % of 100 is one function
    assert recall50 == 2 / 3 and precision50 == 2 / 50
    tied = retro_rows(y, np.zeros(100), np.linspace(1, 0, 100))  # all tied: the tie-break order decides
    assert tied[0] == 0 and tied[2] == 1 / 50


@pytest.mark.slow
def test_generalize_stage_on_the_bundled_sample(tmp_path):
    """`generalize-corpus` + `generalize` through the CLI on the bundled sample: five projects held out."""
    params_path = tmp_path / "params.yaml"
    params_path.write_text("evaluate:\n  bootstrap_resamples: 50\ngeneralize:\n  threshold_folds: 2\n")
    out = tmp_path / "generalize"
    assert cli.main(["--params", str(params_path), "generalize-corpus", "--out", str(out)]) == 0
    metrics = tmp_path / "generalization"
    details = tmp_path / "details.json"
    argv = [
        "--params",
        str(params_path),
        "generalize",
        "--corpus",
        str(out / "corpus.jsonl"),
        "--code-metrics",
        str(out / "code_metrics.npz"),
        "--metrics",
        str(metrics),
    ]
    assert cli.main([*argv, "--details", str(details), "--plots", str(tmp_path / "plots")]) == 0
    for model in ("lexical", "code_metrics", "lexical_metrics", "length", "shorter", "random"):
        headline = json.loads((metrics / f"{model}.json").read_text())
        assert {"roc_auc", "pr_auc", "pairwise_accuracy", "retro_recall_top1pct"} <= set(headline)
        assert max(len(line) for line in (metrics / f"{model}.json").read_text().splitlines()) < 200
    full = json.loads(details.read_text())
    assert len(full["projects"]) == 5
    assert set(full["projects"]) == {"FFmpeg", "qemu", "jq", "libexif", "libssh2"}
    jq = full["per_project"]["jq"]
    assert "jq" not in jq["training_projects"]
    assert {"pairwise_accuracy", "tied", "p_c", "vd_s", "roc_auc_ci_low", "vs_length_p_value"} <= set(
        jq["models"]["code_metrics"]
    )
    assert "pairwise_accuracy" not in full["per_project"]["qemu"]["models"]["lexical"]  # Devign has no pairs
    # precision and recall at the threshold, with intervals: what `scan` states for unseen projects
    assert {"precision", "precision_ci_low", "recall", "recall_ci_high"} <= set(full["pooled"]["lexical"])
    assert (tmp_path / "plots" / "roc" / "code_metrics.csv").read_text().startswith("fpr,tpr\n")
    import yaml

    declared = yaml.safe_load((Path(__file__).resolve().parents[2] / "dvc.yaml").read_text())["plots"]
    roc = next(p for p in declared if "generalization_plots" in json.dumps(p))
    for path in next(iter(roc.values()))["y"]:  # every file dvc.yaml's plot reads is written
        assert (tmp_path / "plots" / Path(path).relative_to("metrics/generalization_plots")).is_file(), path


def test_code_metrics_computed_once_are_the_ones_computed_on_load(tmp_path):
    """The generalize_corpus stage's table stands in for computing the metrics, and only for its corpus."""
    from streamguard.data.generalization_corpus import corpus_texts
    from streamguard.data.records import read_records
    from streamguard.io.hashing import sha256_file
    from streamguard.models.code_metrics import CodeMetricsError, metrics_matrix, write_metrics_table

    path = tmp_path / "corpus.jsonl"
    funcs = [F1, F2, G1, G2, G3, K1, K2, H]
    write_records(path, [Record(func=f, target=i % 2, project=f"p{i % 3}") for i, f in enumerate(funcs)])
    params = params_from_dict({"data": {"max_chars": 120}})  # trims: the table holds the trimmed texts' metrics
    table = tmp_path / "code_metrics.npz"
    texts = corpus_texts(list(read_records(path)), params)
    write_metrics_table(table, metrics_matrix(texts), texts_of=sha256_file(path), max_chars=120)
    read = load_corpus(path, params, table).metrics
    assert np.array_equal(read, load_corpus(path, params).metrics)
    assert not np.array_equal(read, metrics_matrix(funcs))

    with pytest.raises(CodeMetricsError, match=r"code_metrics.npz: computed from other functions.*max_chars 120"):
        load_corpus(path, params_from_dict({"data": {"max_chars": 12000}}), table)
    write_records(path, [Record(func=f, target=i % 2, project=f"p{i % 3}") for i, f in enumerate(funcs[::-1])])
    with pytest.raises(CodeMetricsError, match="dvc repro generalize_corpus"):
        load_corpus(path, params, table)
    with pytest.raises(CodeMetricsError, match="no code-metrics table here"):
        load_corpus(path, params, tmp_path / "missing.npz")


def test_generalize_needs_two_projects(tmp_path):
    path = tmp_path / "corpus.jsonl"
    write_records(path, [Record(func=F1, target=1, project="only"), Record(func=H, target=0, project="only")])
    with pytest.raises(generalization.EvaluationError, match="at least 2"):
        run_generalize(_params(), path, tmp_path / "m.json", tmp_path / "d.json", tmp_path / "p")
