"""The `dvc plots show` page renders offline, and every declared plot names both axes.

DVC's own page loads Vega from a CDN and renders blank without network; the
repository's .dvc/config points `plots.html_template` at a page with Vega inlined
(scripts/build_plots_template.sh builds it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import yaml
from conftest import REPO


def test_repo_config_uses_the_offline_template():
    config = (REPO / ".dvc" / "config").read_text()
    match = re.search(r"html_template\s*=\s*(\S+)", config)
    assert match, ".dvc/config sets no plots.html_template"
    template = (REPO / ".dvc" / match.group(1)).read_text(encoding="utf-8")
    assert "{plot_divs}" in template
    assert "<script src=" not in template  # nothing fetched: the libraries are inline
    for library in ("vega-5.20.2", "vega-lite-5.2.0", "vega-embed-6.18.2", "vegaEmbed"):
        assert library in template, library


def test_plots_page_written_by_dvc_needs_no_network(tmp_path):
    (tmp_path / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", tmp_path / ".dvc" / "config")
    shutil.copy(REPO / ".dvc" / "plots_template.html", tmp_path / ".dvc" / "plots_template.html")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "roc.csv").write_text("fpr,tpr\n0,0\n0.5,0.7\n1,1\n")
    plots = {"plots": [{"ROC": {"x": "fpr", "y": {"roc.csv": "tpr"}, "x_label": "fpr", "y_label": "tpr"}}]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(plots))
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "-o", "page"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "page" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"https?://", html), "the page loads a script from the network"
    assert "vegaEmbed" in html and '"tpr"' in html


def test_every_declared_plot_labels_both_axes():
    unlabelled = []
    for item in yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]:
        (name, spec), *_ = item.items()
        if spec.get("template") == "confusion":
            continue  # axes are the `predicted` and `actual` fields, titled by their names
        if not spec.get("x_label") or not spec.get("y_label"):
            unlabelled.append(name)
    assert not unlabelled, f"plots without an x_label and a y_label: {unlabelled}"
