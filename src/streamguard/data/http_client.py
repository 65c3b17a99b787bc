"""The one HTTP client every Phase 2 collector shares.

It rate-limits per host, retries 429/5xx and dropped connections with
exponential backoff (honouring Retry-After and GitHub's rate-limit reset),
and keeps every final response in an on-disk cache (http_cache.py), so
re-running an interrupted collection resumes where it stopped instead of
starting over. Each attempt is bounded (http_transport.py): it ends within
timeout_s, its body within max_body_bytes, and credentials never follow a
redirect to another origin. A 2xx response is cached only once its body parses
as JSON (every API the collectors read speaks JSON), so a broken page is
fetched again next run instead of being served from the cache.
Safe to use from several worker threads at once.

The retry loop is ours rather than urllib3's Retry: Retry runs inside one
requests call, so the per-host rate limit and the per-attempt deadline could
not see its attempts, and it has no notion of GitHub's 403 rate-limit reset.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from streamguard.data.http_cache import CachedResponse, ResponseCache, cache_key
from streamguard.data.http_transport import BodyTooLarge, BoundedSession, DeadlineExceeded, exchange
from streamguard.errors import StreamGuardError

# final answers worth remembering: successes, and "this does not exist"
# (GitHub says 422 for an unknown commit sha); 401/403 may change with a token.
_CACHEABLE = {200, 201, 203, 204, 404, 410, 422}
# far above any API page the collectors read (an NVD page of 2,000 CVEs is a few tens of MB)
MAX_BODY_BYTES = 64 * 2**20
_UNPARSED = object()


class HttpError(StreamGuardError):
    """A request that failed for good; the message names method, URL and what to do."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    from_cache: bool = False
    _parsed: Any = field(default=_UNPARSED, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON (decoded once); HttpError naming the URL when it is not JSON."""
        if self._parsed is _UNPARSED:
            try:
                self._parsed = json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
                raise HttpError(
                    f"{self.url}: response is not valid JSON ({problem}); the server sent something else "
                    "(an error page?) — check the base URL in params collect.*_url",
                    url=self.url,
                    status=self.status,
                ) from None
        return self._parsed

    def is_json(self) -> bool:
        try:
            self.json()
        except HttpError:
            return False
        return True


@dataclass
class ClientStats:
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for key, n in counts.items():
                setattr(self, key, getattr(self, key) + n)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "cache_hits": self.cache_hits, "retries": self.retries}


class HostRateLimiter:
    """At most `per_second` request starts per host, shared by all threads."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def delay_for(self, host: str) -> float:
        """Reserve the next slot for `host`; returns how long to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
            return slot - now


class HttpClient:
    def __init__(
        self,
        *,
        cache_dir: str | Path | None,
        rate_limit_per_s: float = 1.5,
        retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 120.0,
        timeout_s: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s  # the deadline of each attempt: connect, headers and body
        self.max_body_bytes = max_body_bytes
        self.stats = ClientStats()
        self._cache = ResponseCache(self.cache_dir) if self.cache_dir else None
        self._limiter = HostRateLimiter(rate_limit_per_s)
        self._sleep = sleep
        self._local = threading.local()  # one requests.Session per thread

    @classmethod
    def from_params(cls, collect: Any, **overrides: Any) -> HttpClient:
        """Build from a `CollectParams` (params.yaml `collect:` section)."""
        kwargs: dict[str, Any] = dict(
            cache_dir=Path(collect.cache_dir) / "http",
            rate_limit_per_s=collect.rate_limit_per_s,
            retries=collect.retries,
            backoff_base_s=collect.backoff_base_s,
            backoff_max_s=collect.backoff_max_s,
            timeout_s=collect.timeout_s,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- public API ----------------------------------------------------------

    def get(self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", url, params=params, headers=headers)

    def get_json(self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self._require_ok(self.get(url, params=params, headers=headers)).json()

    def post_json(self, url: str, payload: Any, *, headers: dict[str, str] | None = None) -> Any:
        body = json.dumps(payload, sort_keys=True).encode("utf-8")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        return self._require_ok(self.request("POST", url, data=body, headers=hdrs)).json()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """One logical request: from the cache, or fetched with retries and cached.

        Returns the final response, which may be a 4xx (callers decide what a
        404 means); raises HttpError when retries are exhausted or the body is
        over the cap.
        """
        full_url = _with_query(url, params)
        key = cache_key(method, full_url, data, (headers or {}).get("Accept", ""))
        cached = self._cache.get(key) if self._cache else None
        if cached is not None:
            response = Response(cached.url, cached.status, cached.headers, cached.body, from_cache=True)
            if self._worth_caching(response):  # served only if it passes the check a new entry passes
                self.stats.add(cache_hits=1)
                return response
        response = self._fetch_with_retries(method, full_url, data, headers or {})
        if self._cache and self._worth_caching(response):
            self._cache.put(key, CachedResponse(response.url, response.status, response.headers, response.body))
        return response

    @staticmethod
    def _worth_caching(response: Response) -> bool:
        return response.status in _CACHEABLE and (not response.ok or response.is_json())

    # -- retries and backoff -------------------------------------------------

    def _fetch_with_retries(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        host = urlsplit(url).netloc
        attempts = self.retries + 1
        last_problem, last_status = "", None
        for attempt in range(attempts):
            wait = self._limiter.delay_for(host)
            if wait > 0:
                self._sleep(wait)
            self.stats.add(requests=1)
            try:
                response = self._send(method, url, data, headers)
            except DeadlineExceeded:
                last_problem = f"not complete within {self.timeout_s:g} s (collect.timeout_s)"
                delay = self._backoff(attempt)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
                delay = self._backoff(attempt)
            else:
                retry_in = self._retry_delay(response, attempt)
                if retry_in is None:
                    return response
                delay = retry_in
                last_problem, last_status = f"HTTP {response.status}", response.status
            if attempt + 1 < attempts:
                self.stats.add(retries=1)
                self._sleep(delay)
        cache_note = (
            f"; responses already fetched are cached in {self.cache_dir}, so re-running resumes"
            if self.cache_dir
            else ""
        )
        raise HttpError(
            f"{method} {url}: {last_problem} after {attempts} attempts; the server keeps failing — "
            f"wait and re-run, or raise collect.retries / collect.backoff_max_s{cache_note}",
            url=url,
            status=last_status,
        )

    def _retry_delay(self, response: Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the response is final."""
        status = response.status
        if status == 403 and response.headers.get("x-ratelimit-remaining") == "0":
            # GitHub's primary rate limit: wait until the window resets
            reset = response.headers.get("x-ratelimit-reset", "")
            delay = float(reset) - time.time() if reset.isdigit() else self._backoff(attempt)
            return min(max(delay, 0.0), self.backoff_max_s)
        if status != 429 and status < 500:
            return None
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        # exponential with a little jitter so parallel workers do not retry in lockstep
        delay = self.backoff_base_s * (2**attempt) * (1 + 0.1 * random.random())
        return min(delay, self.backoff_max_s)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = BoundedSession()
        try:
            got = exchange(
                session,
                method,
                url,
                data=data,
                headers=headers,
                timeout_s=self.timeout_s,
                max_body_bytes=self.max_body_bytes,
            )
        except BodyTooLarge:
            raise HttpError(
                f"{method} {url}: the response body is over the {self.max_body_bytes:,}-byte cap "
                "(HttpClient max_body_bytes); no API page the collectors read is that large — check the URL "
                "in params collect.*_url",
                url=url,
            ) from None
        return Response(url=url, status=got.status, headers=got.headers, body=got.body)

    @staticmethod
    def _require_ok(response: Response) -> Response:
        if not response.ok:
            raise HttpError(
                f"{response.url}: HTTP {response.status} ({response.body[:200].decode('utf-8', 'replace')!r}); "
                "check the URL params, and the API key/token in the environment",
                url=response.url,
                status=response.status,
            )
        return response


def _with_query(url: str, params: dict[str, Any] | None) -> str:
    if not params:
        return url
    query = urlencode(sorted((k, v) for k, v in params.items() if v is not None))
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return Retry().parse_retry_after(value)
    except InvalidHeader:
        return None
