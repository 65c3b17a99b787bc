"""One HTTP exchange with bounds: a deadline on the whole exchange, a cap on the body, and
credentials that stay with their origin when the server redirects.

requests' own timeout bounds each socket read, so a server that drips a byte a
second keeps a request alive forever. Here a timer shuts the exchange's socket
when `timeout_s` has passed, which wakes the blocked read; the exchange then
fails with DeadlineExceeded (never with a body cut short). The body is read in
chunks and given up past `max_body_bytes` (BodyTooLarge), counted after
decompression, so neither a huge page nor a gzip bomb fills the memory.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

USER_AGENT = "streamguard-collect/0.1 (+https://github.com/streamguard)"
_CHUNK = 64 * 1024
# headers that may follow a redirect to another origin: none of them carries a credential.
# Everything else the caller set (Authorization, NVD's apiKey, ...) stays with the origin it was meant for.
_SAFE_ACROSS_ORIGINS = frozenset(
    {
        "accept",
        "accept-encoding",
        "user-agent",
        "connection",
        "content-type",
        "content-length",
        "transfer-encoding",
        "cookie",
    }
)  # requests re-derives cookies


class DeadlineExceeded(Exception):
    """The exchange was still running when its deadline passed."""


class BodyTooLarge(Exception):
    """The response body is larger than the cap."""


@dataclass
class Exchange:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


class _Watch:
    """Shuts the socket of one exchange when its deadline passes, waking a read blocked on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._finished = False
        self.expired = False

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if not self._finished:
                self.expired = True
                _shut(self._sock)

    def finish(self) -> None:
        with self._lock:
            self._finished = True


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        # the plain socket's shutdown, also for TLS: SSLSocket.shutdown would unwrap under the reader's feet
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current = threading.local()  # the watch of the exchange this thread is running


class _Watched:
    """Hands the connection's socket to this thread's watch when the response is about to be read."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self.sock)  # connected and sent by now; the response is read from this socket
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pool classes of its own
            manager.pool_classes_by_scheme = _POOLS
        return manager


class BoundedSession(requests.Session):
    """A requests.Session whose exchanges can be cut at a deadline and whose credentials stay home."""

    def __init__(self) -> None:
        super().__init__()
        self.headers["User-Agent"] = USER_AGENT
        self.mount("http://", _WatchedAdapter())
        self.mount("https://", _WatchedAdapter())

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # requests drops only Authorization on a redirect to another origin; drop every header that may
        # carry a credential (then requests may add the new host's .netrc login, as it always does)
        if self.should_strip_auth(response.request.url or "", prepared_request.url or ""):
            for name in [n for n in prepared_request.headers if n.lower() not in _SAFE_ACROSS_ORIGINS]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


def exchange(
    session: BoundedSession,
    method: str,
    url: str,
    *,
    data: bytes | None,
    headers: dict[str, str],
    timeout_s: float,
    max_body_bytes: int,
) -> Exchange:
    """Send one request (following redirects) and read the whole response within `timeout_s`.

    Raises DeadlineExceeded, BodyTooLarge, or requests' ConnectionError/Timeout.
    """
    watch = _Watch()
    timer = threading.Timer(timeout_s, watch.expire)
    timer.daemon = True
    _current.watch = watch
    timer.start()
    try:
        with session.request(method, url, data=data, headers=headers, timeout=timeout_s, stream=True) as raw:
            body = _read_capped(raw, max_body_bytes)
            result = Exchange(raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, body)
    except (requests.RequestException, OSError):
        if watch.expired:
            raise DeadlineExceeded() from None
        raise
    finally:
        watch.finish()
        timer.cancel()
        _current.watch = None
    if watch.expired:  # a body without Content-Length ends at the shut socket: it looks whole but is not
        raise DeadlineExceeded()
    return result


def _read_capped(raw: requests.Response, cap: int) -> bytes:
    declared = raw.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge()
    chunks, size = [], 0
    for chunk in raw.iter_content(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)
