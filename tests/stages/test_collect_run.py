"""run_collect: the public contract every DVC collect stage relies on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "collect"))
from collect_loopback import collect_params  # noqa: E402

from streamguard.data.collectors import SOURCES
from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.errors import StreamGuardError  # noqa: E402
from streamguard.params import Params, ParamsError, params_from_dict  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

REPORT_KEYS = {
    "source",
    "status",
    "reason",
    "records",
    "pairs_found",
    "functions_found",
    "pairs_kept",
    "by_source",
    "by_cwe",
    "by_confidence",
    "by_target",
    "dropped",
    "details",
}


def test_sources_tuple():
    assert SOURCES == ("nvd", "ghsa", "osv", "git", "exploitdb", "synthetic", "juliet", "triage")


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_runs_offline_with_defaults(tmp_path, monkeypatch, source):
    """The default params (no keys, no ../shared, no repos) never crash: output or a skip report."""
    monkeypatch.delenv("NVD_API_KEY", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    report = run_collect(source, Params(), tmp_path / "collected")
    assert set(report) == REPORT_KEYS
    on_disk = json.loads((tmp_path / "collected" / f"{source}.report.json").read_text())
    assert on_disk == report
    records = list(read_records(tmp_path / "collected" / f"{source}.jsonl"))
    assert len(records) == report["records"]
    if source == "synthetic":
        assert report["status"] == "ok" and report["records"] > 700
    else:
        assert report["status"] == "skipped" and report["reason"]
    assert sorted(p.name for p in (tmp_path / "collected").iterdir()) == [f"{source}.jsonl", f"{source}.report.json"]


def test_disabled_source_says_so(tmp_path):
    report = run_collect("synthetic", collect_params(tmp_path, sources=["git"]), tmp_path / "out")
    assert report["status"] == "skipped"
    assert "'synthetic' is not in collect.sources" in report["reason"]


def test_unknown_source(tmp_path):
    with pytest.raises(CollectError, match="unknown collect source 'nvdd'; use one of: nvd, ghsa"):
        run_collect("nvdd", Params(), tmp_path)


def test_collect_errors_are_user_errors():
    assert issubclass(CollectError, StreamGuardError)


def test_failed_write_leaves_previous_output_and_no_temp_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_collect("synthetic", collect_params(tmp_path, synthetic_pairs=9), out)
    before = (out / "synthetic.jsonl").read_bytes()
    import streamguard.data.collectors.output as output

    def broken(path, records):
        Path(path).write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(output, "write_records", broken)
    with pytest.raises(OSError, match="disk full"):
        run_collect("synthetic", collect_params(tmp_path, synthetic_pairs=18), out)
    assert (out / "synthetic.jsonl").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["synthetic.jsonl", "synthetic.report.json"]


def test_output_is_deterministic(tmp_path):
    run_collect("synthetic", collect_params(tmp_path, synthetic_pairs=30), tmp_path / "a")
    run_collect("synthetic", collect_params(tmp_path, synthetic_pairs=30), tmp_path / "b")
    for name in ("synthetic.jsonl", "synthetic.report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_collect_params_validation():
    with pytest.raises(ParamsError, match="collect.sources' names unknown sources \\['nvdd'\\]"):
        params_from_dict({"collect": {"sources": ["nvdd"]}})
    with pytest.raises(ParamsError, match="collect.git_patterns' holds an invalid regular expression"):
        params_from_dict({"collect": {"git_patterns": ["(unclosed"]}})
    with pytest.raises(ParamsError, match="collect.min_function_tokens"):
        params_from_dict({"collect": {"min_function_tokens": 500, "max_function_tokens": 100}})
    with pytest.raises(ParamsError, match="collect.backoff_max_s"):
        params_from_dict({"collect": {"backoff_base_s": 5.0, "backoff_max_s": 1.0}})
    assert Params().collect.sources == ["synthetic", "juliet", "git", "triage"]


def test_params_yaml_collect_section_matches_defaults():
    import dataclasses

    from streamguard.params import load_params

    root = Path(__file__).resolve().parents[2]
    bundled = dataclasses.asdict(load_params(root / "params.yaml").collect)
    defaults = dataclasses.asdict(Params().collect)
    # the sample caps Juliet so Phase 2 fits its time budget; the code's default (0) takes every case
    assert bundled.pop("juliet_max_cases") == 100 and defaults.pop("juliet_max_cases") == 0
    assert bundled == defaults
