"""The HTTP client's on-disk cache: one JSON file per request, so a rerun resumes.

Keyed on method, URL (with its query), request body and Accept header. Entries
are written to a temporary file and renamed, so an interrupted run never leaves
a torn one; a damaged entry reads as missing and is fetched again. Only headers
a collector reads back (pagination) are kept, never anything that echoes auth.
Which responses go in is the client's decision (http_client.py).

Why not requests-cache: it reads the whole body into memory to store it before
anything of ours sees the stream, so the body cap could not hold, and it stores
a 200 before the caller has parsed it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from streamguard.io.atomic import write_text_atomic

_KEPT_HEADERS = ("link", "content-type")


@dataclass(frozen=True)
class CachedResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


def cache_key(method: str, url: str, data: bytes | None, accept: str) -> str:
    h = hashlib.sha256()
    for part in (method.upper().encode(), url.encode(), data or b"", accept.encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


class ResponseCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedResponse | None:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            return CachedResponse(
                url=entry["url"],
                status=entry["status"],
                headers=entry["headers"],
                body=base64.b64decode(entry["body_b64"]),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # damaged: fetched again (and overwritten)

    def put(self, key: str, response: CachedResponse) -> None:
        path = self._path(key)
        entry = {
            "url": response.url,
            "status": response.status,
            "headers": {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS},
            "body_b64": base64.b64encode(response.body).decode("ascii"),
        }
        write_text_atomic(path, json.dumps(entry))
