"""The notebooks under notebooks/: committed without outputs, and each runs on the bundled sample.

Each notebook is executed top to bottom in a real Jupyter kernel (nbclient + ipykernel), offline, with
only the bundled sample. A probe cell appended to the in-memory copy then reports the notebook's own
variables as JSON, and the test checks them against figures it computes itself, and checks that the
figures the notebook shows are those.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import REPO, SAMPLE, command_env
from nbclient import NotebookClient
from sklearn.metrics import roc_auc_score

import streamguard

NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT_S = 600


def kernel_env(tmp_dir: Path) -> dict[str, str]:
    env = command_env()  # this venv and this checkout's code (PYTHONPATH)
    env["TMPDIR"] = str(tmp_dir)  # the notebooks' working folders (tempfile.mkdtemp) go to the test's own
    # no model or tokenizer may come from the hub: every notebook must run offline
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # tiny tensors: with several intra-op threads on a busy 2-core machine, each step waits on spinning threads
    env["OMP_NUM_THREADS"] = "1"
    return env


def execute(name: str, probe: str, tmp_dir: Path) -> tuple[dict, str]:
    """Run notebook `name` with `probe` appended; the probe's JSON and the text every other cell showed."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    shown = len(nb.cells)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            f"import json, streamguard\nprint(json.dumps({{**{probe}, '_package': streamguard.__file__}}))"
        )
    )
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute(env=kernel_env(tmp_dir))
    probe_out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    got = json.loads(probe_out)
    # the kernel ran this checkout's code, not another installed copy
    assert Path(got.pop("_package")).resolve() == Path(streamguard.__file__).resolve()
    return got, "\n".join(_text(cell) for cell in nb.cells[:shown])


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def _sample_rows() -> list[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_committed_notebooks_have_no_outputs():
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in found] == sorted(EXECUTED), "every notebook is executed by a test below"
    for path in found:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} cell {i} has outputs; clear them before committing"
                assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "widgets" not in nb.metadata, f"{path.name} carries widget state"


@pytest.mark.slow
@pytest.mark.integration
def test_data_exploration_shows_the_sample_and_the_length_baseline(tmp_path):
    from streamguard.c.tokens import code_tokens

    got, shown = execute(
        "01_data_exploration.ipynb",
        '{"records": len(records), "vulnerable": vulnerable, "length_auc": length_auc,'
        ' "by_project": {p: int(n) for p, n in by_project["all"].items()}}',
        tmp_path,
    )
    rows = _sample_rows()
    n, vulnerable = len(rows), sum(r["target"] for r in rows)
    auc = roc_auc_score([r["target"] for r in rows], [code_tokens(r["func"]) for r in rows])
    assert (got["records"], got["vulnerable"]) == (n, vulnerable)
    assert got["length_auc"] == pytest.approx(auc, abs=1e-12)
    projects = {r["project"] for r in rows}
    assert got["by_project"] == {
        **{p: sum(r["project"] == p for r in rows) for p in projects},
        "all": n,
    }
    assert f"vulnerable: {vulnerable} of {n}" in shown
    assert f"length rule ROC-AUC on all {n} functions: {auc:.3f}" in shown


def training_probe(section: str) -> str:
    """The training notebooks' variables the checks below read."""
    return (
        f'{{"epochs": params.{section}.epochs, "history": info["history"], "epochs_run": info["epochs_run"],'
        ' "valid_prob": valid_prob.tolist(), "test_y": test_y.tolist(), "test_prob": test_prob.tolist(),'
        ' "test_roc_auc": figures["roc_auc"], "reloaded": reloaded.tolist(),'
        ' "model_files": sorted(p.name for p in MODEL_DIR.iterdir())}'
    )


def check_training_run(got: dict, shown: str, test_size: int) -> None:
    """What both training notebooks must show: a real run, its figures, a saved model that reproduces them."""
    history = got["history"]
    assert 1 <= got["epochs_run"] <= got["epochs"]
    assert [h["epoch"] for h in history] == list(range(1, got["epochs_run"] + 1))
    for h in history:
        assert math.isfinite(h["train_loss"]) and math.isfinite(h["valid_loss"]), h
        assert 0 <= h["valid_roc_auc"] <= 1, h
    assert len(got["test_prob"]) == len(got["test_y"]) == test_size
    assert np.std(got["valid_prob"]) > 0 and np.std(got["test_prob"]) > 0, "a trained model scores functions apart"
    auc = roc_auc_score(got["test_y"], got["test_prob"])
    assert got["test_roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert re.search(rf"test roc_auc +{auc:.3f} ", shown), shown[-3000:]
    assert got["reloaded"] == pytest.approx(got["test_prob"], abs=1e-6)
    assert {"model.pt", "run_info.json"} <= set(got["model_files"])
    assert re.search(r"P\(vulnerable\) = [01]\.\d{3}", shown)


def _test_split_size() -> int:
    from streamguard.data.preprocess import preprocess_records
    from streamguard.data.records import read_records
    from streamguard.params import Params

    records, _ = preprocess_records(list(read_records(SAMPLE)), Params())
    return sum(r.split == "test" for r in records)


@pytest.mark.slow
@pytest.mark.integration
def test_transformer_notebook_trains_evaluates_and_reloads_offline(tmp_path):
    got, shown = execute("02_train_transformer.ipynb", training_probe("transformer"), tmp_path)
    check_training_run(got, shown, _test_split_size())
    assert "hf" in got["model_files"]  # the tokenizer and model folder `predict` loads


@pytest.mark.slow
@pytest.mark.integration
def test_gnn_notebook_builds_graphs_trains_evaluates_and_reloads(tmp_path):
    got, shown = execute("03_train_gnn.ipynb", training_probe("gnn"), tmp_path)
    check_training_run(got, shown, _test_split_size())


EXECUTED = {
    "01_data_exploration.ipynb": test_data_exploration_shows_the_sample_and_the_length_baseline,
    "02_train_transformer.ipynb": test_transformer_notebook_trains_evaluates_and_reloads_offline,
    "03_train_gnn.ipynb": test_gnn_notebook_builds_graphs_trains_evaluates_and_reloads,
}
