"""The shared HTTP client: retries, backoff, Retry-After, cache and resume (loopback server only)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "collect"))
from collect_loopback import Loopback, Reply  # noqa: E402

from streamguard.data.http_cache import CachedResponse, ResponseCache, cache_key  # noqa: E402
from streamguard.data.http_client import HostRateLimiter, HttpClient, HttpError, _parse_retry_after  # noqa: E402


def make_client(tmp_path: Path, sleeps: list[float] | None = None, **kw) -> HttpClient:
    options = dict(
        cache_dir=tmp_path / "cache", rate_limit_per_s=1000.0, retries=3, backoff_base_s=0.001, backoff_max_s=5.0
    )
    options.update(kw)
    recorder = sleeps.append if sleeps is not None else (lambda s: None)
    return HttpClient(sleep=recorder, **options)


def test_429_then_success_honours_retry_after(tmp_path):
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("GET /items", Reply(429, {"message": "slow down"}, {"Retry-After": "2"}), Reply(200, {"ok": True}))
        client = make_client(tmp_path, sleeps)
        assert client.get_json(f"{server.url}/items") == {"ok": True}
    assert server.count("GET /items") == 2
    assert 2.0 in sleeps  # waited what the server asked, not the tiny exponential delay
    assert client.stats.retries == 1


def test_5xx_backs_off_exponentially_then_succeeds(tmp_path):
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("GET /flaky", Reply(502), Reply(503), Reply(200, [1, 2]))
        client = make_client(tmp_path, sleeps, backoff_base_s=0.01)
        assert client.get_json(f"{server.url}/flaky") == [1, 2]
    backoffs = [s for s in sleeps if s >= 0.01]
    assert len(backoffs) == 2 and backoffs[1] > backoffs[0]


def test_500_exhausting_retries_is_a_clear_error(tmp_path):
    with Loopback() as server:
        server.route("GET /down", Reply(500, {"message": "boom"}))
        client = make_client(tmp_path, retries=2)
        with pytest.raises(HttpError) as info:
            client.get(f"{server.url}/down")
    message = str(info.value)
    assert "/down" in message and "HTTP 500" in message and "3 attempts" in message
    assert info.value.status == 500
    assert server.count("GET /down") == 3
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are never cached


def test_github_rate_limit_403_waits_for_reset(tmp_path):
    sleeps: list[float] = []
    with Loopback() as server:
        limited = Reply(
            403, {"message": "API rate limit exceeded"}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}
        )
        server.route("GET /repos/x", limited, Reply(200, {"id": 1}))
        assert make_client(tmp_path, sleeps).get_json(f"{server.url}/repos/x") == {"id": 1}
    assert server.count("GET /repos/x") == 2


def test_plain_403_is_final(tmp_path):
    with Loopback() as server:
        server.route("GET /secret", Reply(403, {"message": "Bad credentials"}))
        client = make_client(tmp_path)
        assert client.get(f"{server.url}/secret").status == 403
        with pytest.raises(HttpError, match="HTTP 403"):
            client.get_json(f"{server.url}/secret")
    assert server.count("GET /secret") == 2  # no retries, and not cached


def test_cache_answers_a_second_client_without_the_network(tmp_path):
    with Loopback() as server:
        server.route("GET /page", Reply(200, {"n": 1}, {"Link": '<http://x/page?after=2>; rel="next"'}))
        server.route("POST /query", Reply(200, {"vulns": []}))
        first = make_client(tmp_path)
        first.get_json(f"{server.url}/page", params={"b": 2, "a": 1})
        first.post_json(f"{server.url}/query", {"package": {"name": "x"}})
        second = make_client(tmp_path)  # a new run: same cache folder
        again = second.get(f"{server.url}/page", params={"a": 1, "b": 2})
        assert second.post_json(f"{server.url}/query", {"package": {"name": "x"}}) == {"vulns": []}
        second.post_json(f"{server.url}/query", {"package": {"name": "y"}})  # another body: not the same request
    assert again.from_cache and again.json() == {"n": 1}
    assert again.headers["link"].endswith('rel="next"')  # pagination survives the cache
    assert server.log.count("GET /page?a=1&b=2") == 1
    assert server.count("POST /query") == 2
    assert second.stats.cache_hits == 2


def test_404_is_cached_but_not_retried(tmp_path):
    with Loopback() as server:
        client = make_client(tmp_path)
        assert client.get(f"{server.url}/missing").status == 404
        assert client.get(f"{server.url}/missing").status == 404
    assert server.count("GET /missing") == 1


def test_non_json_body_names_the_url(tmp_path):
    with Loopback() as server:
        server.route("GET /html", Reply(200, b"<html>maintenance</html>"))
        with pytest.raises(HttpError, match="/html: response is not valid JSON"):
            make_client(tmp_path).get_json(f"{server.url}/html")


def test_connection_refused_is_retried_then_reported(tmp_path):
    with Loopback() as server:
        dead_url = f"{server.url}/x"
    client = make_client(tmp_path, retries=1)
    with pytest.raises(HttpError, match="connection failed .* after 2 attempts"):
        client.get(dead_url)


def test_rate_limiter_spaces_requests_per_host():
    now = [100.0]
    limiter = HostRateLimiter(per_second=2.0, clock=lambda: now[0])
    assert limiter.delay_for("a") == 0.0
    assert limiter.delay_for("a") == pytest.approx(0.5)
    assert limiter.delay_for("a") == pytest.approx(1.0)
    assert limiter.delay_for("b") == 0.0  # another host has its own budget
    now[0] += 10
    assert limiter.delay_for("a") == 0.0


def test_retry_after_forms():
    assert _parse_retry_after("7") == 7.0
    assert _parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: no wait
    assert _parse_retry_after("soon") is None
    assert _parse_retry_after(None) is None


# -- bounds: body size, deadline, what the cache keeps --------------------------

BIG = json.dumps({"items": ["x" * 100] * 200}).encode()  # 20 KB of valid JSON


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, BIG),  # declared by Content-Length
        Reply(200, BIG, content_length=False),  # only counting the bytes finds out
        Reply(200, gzip.compress(BIG), {"Content-Encoding": "gzip"}),  # small on the wire, large unpacked
    ],
    ids=["declared", "undeclared", "gzip"],
)
def test_a_body_over_the_cap_is_an_error_naming_url_and_cap(tmp_path, reply):
    with Loopback() as server:
        server.route("GET /huge", reply)
        client = make_client(tmp_path, max_body_bytes=4096)
        with pytest.raises(HttpError) as info:
            client.get(f"{server.url}/huge")
    assert f"{server.url}/huge" in str(info.value) and "4,096-byte cap" in str(info.value)
    assert server.count("GET /huge") == 1  # not retried: the same body would come back
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_body_under_the_cap_arrives_whole(tmp_path):
    with Loopback() as server:
        server.route("GET /page", Reply(200, BIG, content_length=False))
        assert make_client(tmp_path, max_body_bytes=len(BIG)).get(f"{server.url}/page").body == BIG


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body", "headers"])
def test_a_slow_drip_is_cut_at_the_deadline(tmp_path, drip_headers):
    """A byte every 0.05 s never trips a per-read timeout; the 0.5 s deadline ends the attempt."""
    body = json.dumps({"pad": "x" * 200}).encode()  # 10 s at that pace
    with Loopback() as server:
        server.route("GET /drip", Reply(200, body, drip_s=0.05, drip_headers=drip_headers))
        client = make_client(tmp_path, retries=1, timeout_s=0.5)
        with pytest.raises(HttpError, match=r"/drip: not complete within 0\.5 s \(collect\.timeout_s\) after 2"):
            client.get(f"{server.url}/drip")
        assert server.count("GET /drip") == 2  # a deadline overrun is retried like a timeout
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_deadline_cut_never_passes_for_a_whole_body(tmp_path):
    """Without Content-Length the shut socket looks like the end of the body; it must not be taken as one."""
    body = b'"' + b"x" * 200 + b'"'  # valid JSON only when whole
    with Loopback() as server:
        server.route("GET /drip", Reply(200, body, content_length=False, drip_s=0.05))
        with pytest.raises(HttpError, match="not complete within"):
            make_client(tmp_path, retries=0, timeout_s=0.5).get(f"{server.url}/drip")
        assert server.drip_ended.wait(timeout=30)  # the server notices the hang-up at its next byte
    assert server.dripped[0] < len(body)


def test_an_unparseable_200_is_not_cached_and_the_next_run_refetches(tmp_path):
    with Loopback() as server:
        server.route("GET /page", Reply(200, b"<html>maintenance</html>"), Reply(200, {"n": 1}))
        with pytest.raises(HttpError, match="not valid JSON"):
            make_client(tmp_path).get_json(f"{server.url}/page")
        assert not list((tmp_path / "cache").rglob("*.json"))
        assert make_client(tmp_path).get_json(f"{server.url}/page") == {"n": 1}  # the next run
        third = make_client(tmp_path)
        assert third.get_json(f"{server.url}/page") == {"n": 1}
    assert server.count("GET /page") == 2 and third.stats.cache_hits == 1


def test_a_broken_entry_left_by_an_older_version_is_refetched(tmp_path):
    with Loopback() as server:
        server.route("GET /page", Reply(200, {"n": 2}))
        url = f"{server.url}/page"
        ResponseCache(tmp_path / "cache").put(cache_key("GET", url, None, ""), CachedResponse(url, 200, {}, b"<html"))
        assert make_client(tmp_path).get_json(url) == {"n": 2}
    assert server.count("GET /page") == 1
