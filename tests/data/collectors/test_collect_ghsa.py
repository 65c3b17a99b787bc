"""GitHub Security Advisories collector on recorded listing pages (Link pagination)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import NAME_FIX, Loopback, Reply, collect_params, fixture_json, route_github_fixtures  # noqa: E402

from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.collectors.ghsa import parse_advisory  # noqa: E402
from streamguard.data.http_client import HttpError  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

FIRST = "GET /advisories?cwes=120%2C787&per_page=100&type=unreviewed"


def ghsa_params(tmp_path, server, **extra):
    return collect_params(tmp_path, sources=["ghsa"], github_api_url=server.url, ghsa_cwes=["120", "787"], **extra)


def route_pages(server, first_reply=None):
    link = {"Link": f'<{server.url}/advisories?after=Y3Vyc29yOnYyOpK0&per_page=100>; rel="next"'}
    replies = [first_reply] if first_reply else []
    server.route(FIRST, *replies, Reply(200, fixture_json("ghsa/page1.json"), link))
    server.route("GET /advisories?after=Y3Vyc29yOnYyOpK0&per_page=100", Reply(200, fixture_json("ghsa/page2.json")))


def test_pages_follow_link_header_and_resolve_commits(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    with Loopback() as server:
        route_pages(server)
        route_github_fixtures(server)
        report = run_collect("ghsa", ghsa_params(tmp_path, server), tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "ghsa.jsonl"))
    assert {(r.project, r.target, r.cwe) for r in records} == {
        ("example/libchunk", 1, "CWE-787"),
        ("example/libchunk", 0, "CWE-787"),
        ("example/userdb", 1, "CWE-120"),  # linked through a .patch URL
        ("example/userdb", 0, "CWE-120"),
    }
    assert all(r.source == "ghsa" for r in records)
    assert report["details"]["advisories_read"] == 3  # one advisory without a fix commit
    assert report["details"]["fix_commits"] == 2


def test_429_then_success(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    with Loopback() as server:
        route_pages(server, Reply(429, {"message": "secondary rate limit"}, {"Retry-After": "0"}))
        route_github_fixtures(server)
        report = run_collect("ghsa", ghsa_params(tmp_path, server), tmp_path / "out")
    assert server.log.count(FIRST) == 2 and report["records"] == 4


def test_500_exhausting_retries_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    with Loopback() as server:
        route_pages(server)
        route_github_fixtures(server)
        server.route(f"GET /repos/example/userdb/commits/{NAME_FIX}", Reply(500))
        with pytest.raises(HttpError, match=f"commits/{NAME_FIX}: HTTP 500 after 3 attempts"):
            run_collect("ghsa", ghsa_params(tmp_path, server), tmp_path / "out")
    assert not (tmp_path / "out" / "ghsa.jsonl").exists()


def test_malformed_advisory_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    page = fixture_json("ghsa/page1.json")
    page[1]["references"] = {"url": "not a list"}
    with Loopback() as server:
        server.route(FIRST, Reply(200, page))
        with pytest.raises(CollectError, match=r"\[1\] \(GHSA-dddd-eeee-ffff\): malformed advisory"):
            run_collect("ghsa", ghsa_params(tmp_path, server), tmp_path / "out")


def test_listing_that_is_not_a_list(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    with Loopback() as server:
        server.route(FIRST, Reply(200, {"message": "Moved"}))
        with pytest.raises(CollectError, match="expected a JSON list"):
            run_collect("ghsa", ghsa_params(tmp_path, server), tmp_path / "out")


def test_no_token_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    report = run_collect("ghsa", collect_params(tmp_path, sources=["ghsa"]), tmp_path / "out")
    assert report["status"] == "skipped" and "GITHUB_TOKEN" in report["reason"]
    assert list(read_records(tmp_path / "out" / "ghsa.jsonl")) == []


def test_parse_advisory_accepts_reference_objects():
    adv = parse_advisory(
        {
            "ghsa_id": "GHSA-x",
            "cve_id": None,
            "cwes": [{"cwe_id": "CWE-416"}],
            "references": [{"url": "https://github.com/a/b/commit/abcdef1"}],
        },
        "here",
    )
    assert adv.cwe == "CWE-416" and adv.cves == () and adv.commits[0].sha == "abcdef1"
