"""`streamguard scan` states what leave-project-out evaluation measured on unseen projects, for which model,
and whether that is near chance; it never presents those figures as the scanned models' own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from conftest import REPO

from streamguard.cli import main
from streamguard.scan.unseen import DETAILS

COMMITTED = REPO / DETAILS  # the generalize stage's output on the bundled sample


def _scan_json(trained, params: Path, target: Path, out: Path) -> dict:
    argv = ["--params", str(params), "scan", "--models", str(trained["models"]), str(target)]
    assert main([*argv, "--min-probability", "0", "--format", "json", "-o", str(out)]) == 0
    return json.loads(out.read_text())["scan"]["unseen_projects"]


def _beside_params(tmp_path: Path, trained, details: dict | None) -> Path:
    params = tmp_path / "repo" / "params.yaml"
    params.parent.mkdir()
    shutil.copy(trained["params"], params)
    if details is not None:
        (params.parent / DETAILS).parent.mkdir(parents=True)
        (params.parent / DETAILS).write_text(json.dumps(details))
    return params


def _source(tmp_path: Path, trained) -> Path:
    source = tmp_path / "one.c"
    source.write_text(trained["high"][0] + "\n")
    return source


def test_the_measured_figures_are_named_as_another_models_and_near_chance_said(tmp_path, trained, capsys):
    details = json.loads(COMMITTED.read_text())
    params = _beside_params(tmp_path, trained, details)
    unseen = _scan_json(trained, params, _source(tmp_path, trained), tmp_path / "out.json")
    lexical = details["pooled"]["lexical"]
    assert lexical["mcc_ci_low"] <= 0  # the committed sample's lexical model is near chance
    assert unseen["near_chance"] is True and unseen["scan_models_evaluated"] is False
    assert unseen["evaluated_model"] == "lexical" and unseen["projects"] == details["projects"]
    assert unseen["figures"]["roc_auc"] == lexical["roc_auc"]
    statement = unseen["statement"]
    assert "were not evaluated on unseen projects" in statement and "near chance" in statement
    assert f"roc_auc {lexical['roc_auc']:.2f} [{lexical['roc_auc_ci_low']:.2f}" in statement
    base = f"{lexical['n_vulnerable'] / lexical['n_functions']:.2f} of its {lexical['n_functions']:.0f} functions"
    assert f"{base} are vulnerable" in statement

    capsys.readouterr()
    argv = ["--params", str(params), "scan", "--models", str(trained["models"]), str(_source(tmp_path, trained))]
    assert main([*argv, "--min-probability", "0"]) == 0
    seen = capsys.readouterr()
    assert "near chance" in " ".join(seen.out.split()) and "near chance" in " ".join(seen.err.split())


def test_above_chance_figures_are_not_called_near_chance(tmp_path, trained):
    details = json.loads(COMMITTED.read_text())
    details["pooled"]["lexical"].update(mcc=0.4, mcc_ci_low=0.3, mcc_ci_high=0.5, roc_auc=0.8)
    params = _beside_params(tmp_path, trained, details)
    unseen = _scan_json(trained, params, _source(tmp_path, trained), tmp_path / "out.json")
    assert unseen["near_chance"] is False and "above chance" in unseen["statement"]
    assert "were not evaluated on unseen projects" in unseen["statement"]


def test_without_figures_the_precision_is_unknown(tmp_path, trained):
    params = _beside_params(tmp_path, trained, None)
    unseen = _scan_json(trained, params, _source(tmp_path, trained), tmp_path / "out.json")
    assert unseen["source"] is None and "is unknown" in unseen["statement"]


def test_models_trained_on_the_bundled_sample_are_flagged_everywhere(tmp_path, trained, capsys):
    """The sample's models are at chance: the summary, the table, the JSON and the SARIF say they find nothing."""
    params = _beside_params(tmp_path, trained, None)
    source = _source(tmp_path, trained)
    argv = ["--params", str(params), "scan", "--models", str(trained["models"]), str(source), "--min-probability", "0"]
    capsys.readouterr()
    assert main(argv) == 0
    seen = capsys.readouterr()
    assert "cannot find vulnerabilities" in " ".join(seen.err.split())
    assert "cannot find vulnerabilities" in " ".join(seen.out.split())  # the table's caption
    assert main([*argv, "--format", "sarif", "-o", str(tmp_path / "out.sarif")]) == 0
    notes = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes if n["descriptor"]["id"] == "SG-model/sample-trained"] == ["warning"]

    full = tmp_path / "full" / "params.yaml"
    full.parent.mkdir()
    raw = yaml.safe_load(params.read_text())
    raw["data"].update(source="devign", path="devign.jsonl")  # trained on the full corpus: no warning
    full.write_text(yaml.safe_dump(raw))
    argv[1] = str(full)
    assert main([*argv, "--format", "json", "-o", str(tmp_path / "out.json")]) == 0
    assert "sample_trained" not in json.loads((tmp_path / "out.json").read_text())["scan"]
