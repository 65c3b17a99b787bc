"""NVD collector on recorded API pages and feed files, through recorded GitHub fix commits."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import (  # noqa: E402
    CHUNK_FIX,
    CHUNK_PARENT,
    FIXTURES,
    Loopback,
    Reply,
    collect_params,
    fixture_json,
    route_github_fixtures,
)

from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.http_client import HttpClient, HttpError  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

PAGE0 = "GET /nvd?resultsPerPage=2000&startIndex=0"
PAGE1 = "GET /nvd?resultsPerPage=2000&startIndex=2"


@pytest.fixture
def nvd_env(monkeypatch):
    monkeypatch.setenv("NVD_API_KEY", "test-key")
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")


def nvd_params(tmp_path, server, **extra):
    return collect_params(
        tmp_path, sources=["nvd"], nvd_api_url=f"{server.url}/nvd", github_api_url=server.url, **extra
    )


def route_nvd_pages(server):
    server.route(PAGE0, Reply(200, fixture_json("nvd/page0.json")))
    server.route(PAGE1, Reply(200, fixture_json("nvd/page1.json")))


def test_api_pages_to_before_after_records(tmp_path, nvd_env):
    out = tmp_path / "collected"
    with Loopback() as server:
        route_nvd_pages(server)
        route_github_fixtures(server)
        report = run_collect("nvd", nvd_params(tmp_path, server), out)
    records = list(read_records(out / "nvd.jsonl"))
    by_func = {(r.target, r.project): r for r in records}
    # read_chunk changed (pair kept); log_chunk only reformatted (dropped); checksum unchanged (never a candidate)
    vuln = by_func[(1, "example/libchunk")]
    fixed = by_func[(0, "example/libchunk")]
    assert "if (len == 0)\n" in vuln.func and "len > out_len" in fixed.func
    assert vuln.cwe == fixed.cwe == "CWE-787"
    assert vuln.commit == CHUNK_FIX and vuln.source == "nvd"
    assert vuln.origin == f"https://github.com/example/libchunk/blob/{CHUNK_PARENT}/src/chunk.c#L6"
    assert fixed.origin == f"https://github.com/example/libchunk/blob/{CHUNK_FIX}/src/chunk.c#L6"
    assert vuln.confidence == 0.3  # no exploit known
    # userdb's patch was left out by GitHub: the parent's file was fetched instead
    assert by_func[(1, "example/userdb")].cwe == "CWE-120"
    assert "strlen(name) >= sizeof" in by_func[(0, "example/userdb")].func
    assert len(records) == 4
    assert report["dropped"] == {"commit_not_found": 1, "unchanged": 1}
    assert report["details"]["cves_read"] == 4
    assert report["details"]["cves_with_other_host_fix_only"] == 1  # the GitLab one
    assert report["details"]["files_skipped"] == {"file_added": 1, "non_c_file": 1}
    assert report["by_cwe"] == {"CWE-120": 2, "CWE-787": 2}
    assert server.log.count(PAGE0) == 1 and server.log.count(PAGE1) == 1
    assert json.loads((out / "nvd.report.json").read_text())["records"] == 4


def test_api_key_and_token_are_sent(tmp_path, nvd_env, monkeypatch):
    seen = {}
    original = HttpClient._send

    def spy(self, method, url, data, headers):
        seen[url.split("?")[0].rsplit("/", 1)[-1]] = dict(headers)
        return original(self, method, url, data, headers)

    monkeypatch.setattr(HttpClient, "_send", spy)
    with Loopback() as server:
        route_nvd_pages(server)
        route_github_fixtures(server)
        run_collect("nvd", nvd_params(tmp_path, server), tmp_path / "out")
    assert seen["nvd"]["apiKey"] == "test-key"
    assert seen[CHUNK_FIX]["Authorization"] == "Bearer test-token"
    # credentials never reach the cache
    cached = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "test-key" not in cached and "test-token" not in cached


def test_exploit_raises_confidence(tmp_path, nvd_env):
    with Loopback() as server:
        route_nvd_pages(server)
        route_github_fixtures(server)
        params = nvd_params(tmp_path, server, exploitdb_csv=str(FIXTURES / "exploitdb" / "files_exploits.csv"))
        run_collect("nvd", params, tmp_path / "out")
    conf = {r.project: r.confidence for r in read_records(tmp_path / "out" / "nvd.jsonl")}
    assert conf == {"example/libchunk": 1.0, "example/userdb": 0.3}  # only CVE-2024-1111 has an exploit


def test_429_then_success_on_a_page(tmp_path, nvd_env):
    with Loopback() as server:
        server.route(
            PAGE0,
            Reply(429, {"message": "rate limited"}, {"Retry-After": "0"}),
            Reply(200, fixture_json("nvd/page0.json")),
        )
        server.route(PAGE1, Reply(200, fixture_json("nvd/page1.json")))
        route_github_fixtures(server)
        report = run_collect("nvd", nvd_params(tmp_path, server), tmp_path / "out")
    assert server.log.count(PAGE0) == 2
    assert report["records"] == 4


def test_500_exhausting_retries_leaves_nothing_half_written(tmp_path, nvd_env):
    out = tmp_path / "out"
    with Loopback() as server:
        server.route(PAGE0, Reply(200, fixture_json("nvd/page0.json")))
        server.route(PAGE1, Reply(500, {"message": "Internal Server Error"}))
        route_github_fixtures(server)
        with pytest.raises(HttpError, match=r"startIndex=2: HTTP 500 after 3 attempts"):
            run_collect("nvd", nvd_params(tmp_path, server), out)
    assert not out.exists() or list(out.iterdir()) == []


def test_interrupted_run_resumes_from_cache(tmp_path, nvd_env):
    out = tmp_path / "out"
    contents = f"GET /repos/example/libchunk/contents/src/chunk.c?ref={CHUNK_FIX}"
    with Loopback() as server:
        route_nvd_pages(server)
        route_github_fixtures(server)
        server.route(contents, Reply(503, {"message": "unavailable"}))  # the run dies on this file
        with pytest.raises(HttpError):
            run_collect("nvd", nvd_params(tmp_path, server, workers=1), out)
        assert not (out / "nvd.jsonl").exists()
        fetched_before = len(server.log)
        route_github_fixtures(server)  # later: the server is back; a new run, same cache
        report = run_collect("nvd", nvd_params(tmp_path, server, workers=1), out)
        server.log[:fetched_before] = []
    # pages and commits came from the cache; the file that had failed was fetched again
    assert server.count("GET /nvd") == 0
    assert server.count(f"GET /repos/example/libchunk/commits/{CHUNK_FIX}") == 0
    assert server.count("GET /repos/example/gone/commits/") == 0  # a cached 404 stays an answer
    assert server.log.count(contents) == 1
    assert report["records"] == 4 and (out / "nvd.jsonl").exists()


def test_malformed_page_names_the_record(tmp_path, nvd_env):
    with Loopback() as server:
        server.route(PAGE0, Reply(200, fixture_json("nvd/page_malformed.json")))
        with pytest.raises(
            CollectError, match=r"startIndex=0: vulnerabilities\[1\]: malformed CVE record \(no 'cve.id'\)"
        ):
            run_collect("nvd", nvd_params(tmp_path, server), tmp_path / "out")
    assert not (tmp_path / "out" / "nvd.jsonl").exists()


def test_page_that_is_not_the_cve_api(tmp_path, nvd_env):
    with Loopback() as server:
        server.route(PAGE0, Reply(200, {"error": "wrong endpoint"}))
        with pytest.raises(CollectError, match="malformed NVD API page"):
            run_collect("nvd", nvd_params(tmp_path, server), tmp_path / "out")


@pytest.mark.parametrize("feed", ["nvdcve-2.0-sample.json", "nvdcve-1.1-sample.json"])
def test_feed_files_without_api_key(tmp_path, monkeypatch, feed):
    monkeypatch.delenv("NVD_API_KEY", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    gz = tmp_path / f"{feed}.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "nvd" / feed).read_bytes()))
    with Loopback() as server:
        route_github_fixtures(server)
        report = run_collect("nvd", nvd_params(tmp_path, server, nvd_feeds=[str(gz)]), tmp_path / "out")
    assert server.count("GET /nvd") == 0  # no key: the API is never called
    assert report["status"] == "ok"
    assert "CWE-120" in report["by_cwe"]


def test_missing_feed_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NVD_API_KEY", raising=False)
    params = collect_params(tmp_path, sources=["nvd"], nvd_feeds=[str(tmp_path / "nope.json")])
    with pytest.raises(CollectError, match=r"collect.nvd_feeds: .*nope.json does not exist"):
        run_collect("nvd", params, tmp_path / "out")


def test_no_key_and_no_feed_is_skipped_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv("NVD_API_KEY", raising=False)
    report = run_collect("nvd", collect_params(tmp_path, sources=["nvd"]), tmp_path / "out")
    assert report["status"] == "skipped" and "NVD_API_KEY" in report["reason"]
    assert list(read_records(tmp_path / "out" / "nvd.jsonl")) == []
    assert json.loads((tmp_path / "out" / "nvd.report.json").read_text())["status"] == "skipped"


def test_max_advisories_stops_paging(tmp_path, nvd_env):
    with Loopback() as server:
        route_nvd_pages(server)
        route_github_fixtures(server)
        report = run_collect("nvd", nvd_params(tmp_path, server, max_advisories=1), tmp_path / "out")
    assert server.log.count(PAGE1) == 0
    assert report["details"]["fix_commits"] == 1
