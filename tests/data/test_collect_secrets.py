"""Collector credentials (GITHUB_TOKEN, NVD_API_KEY) stay out of reprs and never follow a
redirect to another origin (another host, or another port of the same host)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "collect"))
from collect_loopback import CHUNK_FIX, Loopback, Reply, collect_params  # noqa: E402

from streamguard.data.collectors.context import CollectContext  # noqa: E402
from streamguard.data.collectors.github import CommitRef  # noqa: E402
from streamguard.data.collectors.nvd import lookup_cve  # noqa: E402
from streamguard.data.http_client import HttpClient  # noqa: E402

TOKEN = "ghp_CANARYTOKEN0123456789"
API_KEY = "nvd-CANARY-KEY-0123"
COMMIT_PATH = f"/repos/example/libchunk/commits/{CHUNK_FIX}"


def _context(tmp_path: Path, api_url: str) -> CollectContext:
    params = collect_params(tmp_path, retries=0, nvd_api_url=f"{api_url}/nvd", github_api_url=api_url)
    return CollectContext(
        params=params, http=HttpClient.from_params(params.collect), nvd_api_key=API_KEY, github_token=TOKEN
    )


def test_repr_of_the_context_shows_no_credentials(tmp_path):
    ctx = _context(tmp_path, "http://127.0.0.1:9")
    for text in (repr(ctx), str(ctx)):
        assert TOKEN not in text and API_KEY not in text
    assert ctx.github_token == TOKEN and ctx.nvd_api_key == API_KEY  # still there for the requests


def _nvd(ctx: CollectContext) -> None:
    lookup_cve(ctx, "CVE-2024-1111")


def _github(ctx: CollectContext) -> None:
    ctx.github.commit_changes(CommitRef("example", "libchunk", CHUNK_FIX))


# (what asks, the path it requests, the header that carries its credential, the credential)
COLLECTORS = [(_nvd, "/nvd", "apikey", API_KEY), (_github, COMMIT_PATH, "authorization", f"Bearer {TOKEN}")]
LANDING = Reply(200, {"vulnerabilities": [], "totalResults": 0, "sha": CHUNK_FIX, "parents": [], "files": []})


@pytest.mark.parametrize("ask, path, header, secret", COLLECTORS, ids=["nvd", "github"])
@pytest.mark.parametrize("target", ["other-port", "other-host-name", "same-origin"])
def test_credentials_follow_a_redirect_only_within_their_origin(tmp_path, ask, path, header, secret, target):
    with Loopback() as origin, Loopback() as elsewhere:
        landing_base = {
            "other-port": elsewhere.url,
            "same-origin": origin.url,
            "other-host-name": origin.url.replace("127.0.0.1", "localhost"),
        }[target]
        landed = elsewhere if target == "other-port" else origin
        origin.route(f"GET {path}", Reply(302, None, {"Location": f"{landing_base}/landing{path}"}))
        landed.route(f"GET /landing{path}", LANDING)
        ask(_context(tmp_path, origin.url))
    first = origin.headers[origin.log.index(next(e for e in origin.log if e.startswith(f"GET {path}")))]
    assert first[header] == secret  # the origin it was meant for gets it
    arrival = landed.headers[[i for i, e in enumerate(landed.log) if e.startswith(f"GET /landing{path}")][0]]
    assert "accept" in arrival  # the redirect was followed, with the harmless headers
    if target == "same-origin":
        assert arrival[header] == secret  # control: within the origin the credential still goes along
    else:
        assert header not in arrival and not any(secret in v for v in arrival.values())
