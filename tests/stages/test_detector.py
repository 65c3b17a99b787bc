"""The detector: trained by the leave-project-out protocol's own code, saved with its card, scanned with by default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import validate_sarif

from streamguard import cli
from streamguard.data.records import read_records
from streamguard.errors import StreamGuardError
from streamguard.evaluation.generalization import held_out_scores, load_corpus
from streamguard.evaluation.score_bands import score_bands
from streamguard.io.git import head_commit
from streamguard.models.detector_card import SHIPPED_DIR, band_for, read_card
from streamguard.models.hashed_lexical import HashedLexicalConfig, HashedLexicalModel, hashed_counts
from streamguard.models.scorer import Scorer
from streamguard.params import load_params
from streamguard.scan.sarif import measured_band

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

VULNERABLE_C = """
int copy_name(char *dst, const char *src)
{
    char buf[16];
    strcpy(buf, src);
    sprintf(dst, "%s", buf);
    return 0;
}

int add(int a, int b)
{
    return a + b;
}
"""


@pytest.fixture(scope="module")
def sample_detector(tmp_path_factory) -> dict:
    """The bundled sample's leave-project-out corpus and details, and a detector trained on it (through the CLI)."""
    root = tmp_path_factory.mktemp("detector")
    params = root / "params.yaml"
    params.write_text("evaluate:\n  bootstrap_resamples: 50\ngeneralize:\n  threshold_folds: 2\n")
    assert cli.main(["--params", str(params), "generalize-corpus", "--out", str(root / "corpus")]) == 0
    corpus = root / "corpus" / "corpus.jsonl"
    details = root / "details.json"
    table = ["--code-metrics", str(root / "corpus" / "code_metrics.npz")]  # as dvc.yaml runs both stages
    argv = ["--params", str(params), "generalize", "--corpus", str(corpus), *table, "--metrics", str(root / "metrics")]
    assert cli.main([*argv, "--details", str(details), "--plots", str(root / "plots")]) == 0
    out = root / "detector"
    argv = ["--params", str(params), "train-detector", "--corpus", str(corpus), *table, "--details", str(details)]
    assert cli.main([*argv, "--out", str(out)]) == 0
    return {"root": root, "params": params, "corpus": corpus, "details": details, "detector": out}


@pytest.mark.slow  # the module fixture runs generalize on the bundled sample
def test_the_commit_checked_out_stays_out_of_the_detectors_hashed_files(sample_detector):
    # DVC hashes the folder but timing.json (.dvcignore): a new commit must not change the stage's output
    out = sample_detector["detector"]
    assert "commit" not in json.loads((out / "card.json").read_text())
    assert "in `timing.json`" in (out / "MODEL_CARD.md").read_text()
    assert json.loads((out / "timing.json").read_text())["git_commit"] == head_commit(Path.cwd())


def test_hashed_lexical_model_scores_the_same_after_save_and_load(tmp_path):
    texts = [f"int f{i}(char *p) {{ {'strcpy(p, q);' if i % 2 else 'return 0;'} }}" for i in range(40)]
    y = np.array([i % 2 for i in range(40)])
    config = HashedLexicalConfig(ngram_max=2, n_features=2**12)
    model = HashedLexicalModel(config).fit(hashed_counts(texts, config), y, np.ones(40))
    model.save(tmp_path / "m")
    loaded = HashedLexicalModel.load(tmp_path / "m")
    assert np.array_equal(model.predict_proba(texts), loaded.predict_proba(texts))
    assert loaded.predict_proba(["strcpy(p, q);"])[0] > loaded.predict_proba(["return 0;"])[0]
    np.savez(tmp_path / "m" / "weights.npz", idf=np.ones(3), coef=np.ones(3), intercept=np.zeros(1))
    with pytest.raises(StreamGuardError, match="weights.npz: arrays of"):
        HashedLexicalModel.load(tmp_path / "m")


@pytest.mark.slow  # the module fixture runs generalize on the bundled sample
def test_the_detector_is_the_evaluated_configuration(sample_detector, tmp_path):
    """Trained without a project, the detector scores it exactly as that project's held-out fold did."""
    stacked = tmp_path / "params.yaml"  # the stacked model, so the stacker's save and load are covered too
    stacked.write_text(
        sample_detector["params"].read_text().replace("generalize:\n", "generalize:\n  models: [lexical_metrics]\n")
    )
    params = load_params(stacked)
    out = tmp_path / "without-libexif"
    argv = ["--params", str(stacked), "train-detector", "--corpus", str(sample_detector["corpus"])]
    assert (
        cli.main([*argv, "--details", str(sample_detector["details"]), "--out", str(out), "--without", "libexif"]) == 0
    )
    card = read_card(out)
    assert card["model"] == "lexical_metrics" and card["scores_with"] == ["hashed_lexical", "code_metrics"]
    assert "libexif" not in card["training_projects"] and card["corpus"]["without"] == "libexif"
    corpus = load_corpus(sample_detector["corpus"], params)
    held = held_out_scores(corpus, "libexif", params)
    records = [r for r in read_records(sample_detector["corpus"]) if r.project == "libexif"]
    scored = Scorer(out, Path("unused"), load_params(out / "params.yaml")).score(records)
    fused = np.array([row["fused_probability"] for row in scored])
    assert np.allclose(fused, held.scores[card["model"]], atol=1e-5)
    assert json.loads((out / "fusion" / "fusion.json").read_text())["threshold"] == pytest.approx(card["threshold"])


@pytest.mark.slow  # the module fixture runs generalize on the bundled sample
def test_the_detector_is_the_model_with_the_best_pooled_roc_auc(sample_detector):
    details = json.loads(sample_detector["details"].read_text())
    trained = ("lexical", "code_metrics", "lexical_metrics")
    best = max(trained, key=lambda m: details["pooled"][m]["roc_auc"])
    card = read_card(sample_detector["detector"])
    assert card["model"] == best
    assert card["unseen"]["pooled"][best]["roc_auc"] == details["pooled"][best]["roc_auc"]
    assert card["unseen"]["score_bands"] == details["score_bands"][best]
    assert "What it cannot do" in (sample_detector["detector"] / "MODEL_CARD.md").read_text()


def test_score_bands_measure_precision_down_the_ranking():
    y = np.array([1, 1, 0, 0] + [0] * 96)
    score = np.linspace(1, 0, 100)
    bands = score_bands(y, score)
    assert [b["functions"] for b in bands] == [1, 4, 15, 30, 50]
    assert bands[0]["precision"] == 1.0 and bands[1]["precision"] == 0.25 and bands[2]["precision"] == 0
    assert bands[0]["precision_ci_low"] < 1.0 < bands[0]["precision_ci_high"] + 1e-9
    assert band_for(1.0, bands) is bands[0] and band_for(0.995, bands) is bands[1]  # the top band ends at 1.0
    assert band_for(0.51, bands) is bands[3] and band_for(-1, bands) is bands[-1]


def test_severity_follows_measured_precision():
    assert measured_band(0.6).name == "high"
    assert measured_band(0.3).name == "medium"
    assert measured_band(0.05).name == "low"


@pytest.mark.slow  # the module fixture runs generalize on the bundled sample
def test_scan_with_a_detector_states_its_unseen_figures_per_finding(sample_detector, tmp_path, capsys):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "copy.c").write_text(VULNERABLE_C)
    report = tmp_path / "report.sarif"
    argv = ["scan", str(tree), "--model-dir", str(sample_detector["detector"]), "--min-probability", "0"]
    assert cli.main([*argv, "--format", "sarif", "-o", str(report), "--lines", "0"]) == 0
    sarif = validate_sarif(json.loads(report.read_text()))
    results = sarif["runs"][0]["results"]
    assert len(results) == 2
    for res in results:
        u = res["properties"]["unseen_precision"]
        assert 0 <= u["precision_ci_low"] <= u["precision"] <= u["precision_ci_high"] <= 1
        assert res["ruleId"].endswith(measured_band(u["precision"]).name)
        assert "On projects the detector never saw" in res["message"]["text"]
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any(n["descriptor"]["id"] == "SG-model/sample-trained" for n in notes)  # the sample detector warns
    err = capsys.readouterr().err
    assert "evaluated leave-one-project-out" in err and "trained on the bundled sample" in err
    assert cli.main(argv[:-2] + ["--min-probability", "0", "--lines", "0"]) == 0  # the table
    assert "precision," in capsys.readouterr().out


@pytest.mark.skipif(not (SHIPPED_DIR / "card.json").is_file(), reason="no shipped detector in this checkout")
def test_scan_without_trained_models_uses_the_shipped_detector(tmp_path, monkeypatch, capsys):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "copy.c").write_text(VULNERABLE_C)
    monkeypatch.chdir(tmp_path)  # a workspace without models/
    assert cli.main(["scan", "tree", "--format", "json", "-o", "report.json", "--min-probability", "0"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    card = read_card(SHIPPED_DIR)
    assert report["model"]["source"]["kind"] == "shipped"
    assert report["model"]["models_dir"] == str(SHIPPED_DIR)
    assert report["scan"]["unseen_projects"]["evaluated_model"] == card["model"]
    assert "sample_trained" not in report["scan"] and card["corpus"]["kind"] == "build"
    assert all(f["unseen_precision"] is not None for f in report["findings"])
    assert "evaluated leave-one-project-out" in capsys.readouterr().err
    assert cli.main(["scan", "tree", "--format", "sarif", "-o", "report.sarif", "--min-probability", "0"]) == 0
    sarif = validate_sarif(json.loads((tmp_path / "report.sarif").read_text()))
    assert sarif["runs"][0]["properties"]["model"]["source"]["kind"] == "shipped"
    assert all("unseen_precision" in r["properties"] for r in sarif["runs"][0]["results"])


@pytest.mark.skipif(not (SHIPPED_DIR / "card.json").is_file(), reason="no shipped detector in this checkout")
def test_predict_without_trained_models_uses_the_shipped_detector(tmp_path, monkeypatch, capsys):
    (tmp_path / "copy.c").write_text(VULNERABLE_C)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "copy.c"]) in (0, None)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    assert set(rows[0]["probabilities"]) == set(read_card(SHIPPED_DIR)["scores_with"])


@pytest.mark.slow  # the module fixture runs generalize on the bundled sample
def test_train_detector_never_empties_a_folder_it_did_not_write(sample_detector, tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("not a detector")
    argv = ["--params", str(sample_detector["params"]), "train-detector", "--corpus", str(sample_detector["corpus"])]
    assert cli.main([*argv, "--details", str(sample_detector["details"]), "--out", str(keep)]) != 0
    assert (keep / "notes.txt").read_text() == "not a detector"


@pytest.mark.parametrize(
    ("setting", "value"), [("normalise_literals", "true"), ("guard_metrics", "true"), ("metrics_scaling", "project")]
)
def test_a_detector_refuses_settings_its_scan_cannot_reproduce(tmp_path, capsys, setting, value):
    params = tmp_path / "params.yaml"
    params.write_text(f"generalize:\n  {setting}: {value}\n")
    argv = ["--params", str(params), "train-detector", "--corpus", str(tmp_path / "c.jsonl")]
    assert cli.main([*argv, "--details", str(tmp_path / "d.json"), "--out", str(tmp_path / "out")]) == 2
    assert f"generalize.{setting}: a detector cannot ship" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
