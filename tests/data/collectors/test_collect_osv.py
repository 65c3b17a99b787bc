"""OSV collector: a bulk export zip and the query API (recorded entries)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import CHUNK_FIX, FIXTURES, Loopback, Reply, collect_params, fixture_json, route_github_fixtures  # noqa: E402

from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.collectors.osv import parse_entry  # noqa: E402
from streamguard.data.http_client import HttpError  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402


def make_export(tmp_path: Path, extra: dict[str, bytes] | None = None) -> Path:
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for entry in sorted((FIXTURES / "osv").glob("*.json")):
            zf.write(entry, entry.name)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_export_zip_git_ranges_and_fix_refs(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    with Loopback() as server:
        route_github_fixtures(server)
        params = collect_params(
            tmp_path, sources=["osv"], osv_export=str(make_export(tmp_path)), github_api_url=server.url
        )
        report = run_collect("osv", params, tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "osv.jsonl"))
    projects = {(r.project, r.target): r for r in records}
    assert set(projects) == {
        ("example/libchunk", 0),
        ("example/libchunk", 1),
        ("example/userdb", 0),
        ("example/userdb", 1),
    }
    assert projects[("example/libchunk", 1)].commit == CHUNK_FIX  # from the GIT range's "fixed" event
    assert projects[("example/userdb", 1)].cwe == "CWE-120"  # database_specific.cwe_ids
    assert projects[("example/libchunk", 1)].cwe is None  # OSS-Fuzz entries name no CWE
    assert report["details"]["entries_read"] == 2


def test_query_api_follows_page_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    first = {"vulns": [fixture_json("osv/OSV-2024-101.json")], "next_page_token": "page-2"}
    second = {"vulns": [fixture_json("osv/GHSA-gggg-hhhh-jjjj.json")]}
    with Loopback() as server:
        server.route("POST /v1/query", Reply(200, first), Reply(200, second))
        route_github_fixtures(server)
        params = collect_params(
            tmp_path,
            sources=["osv"],
            osv_packages=["OSS-Fuzz:libchunk"],
            osv_api_url=server.url,
            github_api_url=server.url,
        )
        report = run_collect("osv", params, tmp_path / "out")
    bodies = [json.loads(b) for b in server.bodies if b]
    assert bodies[0] == {"package": {"ecosystem": "OSS-Fuzz", "name": "libchunk"}}
    assert bodies[1]["page_token"] == "page-2"
    assert report["records"] == 4


def test_429_then_success_on_query(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    with Loopback() as server:
        server.route("POST /v1/query", Reply(429, {}, {"Retry-After": "0"}), Reply(200, {"vulns": []}))
        params = collect_params(tmp_path, sources=["osv"], osv_packages=["OSS-Fuzz:x"], osv_api_url=server.url)
        assert run_collect("osv", params, tmp_path / "out")["records"] == 0
    assert server.count("POST /v1/query") == 2


def test_500_on_query_writes_nothing(tmp_path):
    with Loopback() as server:
        server.route("POST /v1/query", Reply(500))
        params = collect_params(tmp_path, sources=["osv"], osv_packages=["OSS-Fuzz:x"], osv_api_url=server.url)
        with pytest.raises(HttpError, match="v1/query: HTTP 500 after 3 attempts"):
            run_collect("osv", params, tmp_path / "out")
    assert not (tmp_path / "out" / "osv.jsonl").exists()


def test_malformed_entry_in_export_names_the_member(tmp_path):
    export = make_export(
        tmp_path, {"OSV-2024-999.json": json.dumps({"id": "OSV-2024-999", "references": [{"type": "FIX"}]})}
    )
    params = collect_params(tmp_path, sources=["osv"], osv_export=str(export))
    with pytest.raises(CollectError, match=r"all.zip!OSV-2024-999.json \(OSV-2024-999\): malformed OSV entry"):
        run_collect("osv", params, tmp_path / "out")


def test_not_json_member_and_not_a_zip(tmp_path):
    export = make_export(tmp_path, {"broken.json": b"{"})
    with pytest.raises(CollectError, match="broken.json: malformed OSV entry"):
        run_collect("osv", collect_params(tmp_path, sources=["osv"], osv_export=str(export)), tmp_path / "out")
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    with pytest.raises(CollectError, match="not a zip file"):
        run_collect("osv", collect_params(tmp_path, sources=["osv"], osv_export=str(junk)), tmp_path / "out")


def test_bad_package_spec(tmp_path):
    params = collect_params(tmp_path, sources=["osv"], osv_packages=["openssl"])
    with pytest.raises(CollectError, match=r"collect.osv_packages\[0\]: 'openssl' is not 'Ecosystem:package'"):
        run_collect("osv", params, tmp_path / "out")


def test_nothing_configured_is_skipped(tmp_path):
    report = run_collect("osv", collect_params(tmp_path, sources=["osv"]), tmp_path / "out")
    assert report["status"] == "skipped" and "osv_export" in report["reason"]


def test_parse_entry_ignores_non_github_ranges():
    entry = {
        "id": "OSV-1",
        "affected": [
            {"ranges": [{"type": "GIT", "repo": "https://gitlab.com/a/b", "events": [{"fixed": "abcdef12"}]}]}
        ],
        "references": [{"type": "FIX", "url": "https://gitlab.com/a/b/-/commit/abcdef12"}],
    }
    adv = parse_entry(entry, "x")
    assert adv.commits == () and adv.other_host_commits == 1
