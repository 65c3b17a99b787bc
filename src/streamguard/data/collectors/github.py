"""Fix commits on GitHub: from a reference URL to the C functions the commit changed.

The commit API gives the parent and each file's patch; the post-fix file
comes from the contents API and the pre-fix file is the patch undone
(falling back to the parent's file when the patch is missing or does not
apply). GitHub's advisory listing lives here too, as it shares the API,
its headers and its token.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from streamguard.c.suffixes import is_plain_c_file
from streamguard.data.collectors.base import CollectError
from streamguard.data.collectors.fix_pairs import FunctionPair, changed_functions
from streamguard.data.collectors.patches import PatchMismatch, reverse_apply
from streamguard.data.http_client import HttpClient, HttpError, Response

# github.com/<owner>/<repo>/commit/<sha>, also under pull/<n>/commits/, with .diff/.patch or #fragments
_COMMIT_URL = re.compile(
    r"^https?://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+)/(?:pull/\d+/)?commits?/([0-9a-fA-F]{7,40})(?:\.diff|\.patch)?(?:[#?/].*)?$"
)
_REPO_URL = re.compile(r"^(?:https?|git)://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
# references that point at a commit somewhere else (GitLab, cgit, gitweb): counted, not resolved
_OTHER_COMMIT_URL = re.compile(r"/-/commit/|/commit/\?id=|[?;]a=commit|/commitdiff/|/commits?/[0-9a-f]{7,40}", re.I)
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_MODIFIED = ("modified", "renamed", "changed")


@dataclass(frozen=True, order=True)
class CommitRef:
    owner: str
    repo: str
    sha: str

    @property
    def project(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}/commit/{self.sha}"


def parse_commit_url(url: str) -> CommitRef | None:
    match = _COMMIT_URL.match(url.strip())
    if not match:
        return None
    owner, repo, sha = match.groups()
    return CommitRef(owner, repo, sha.lower())


def commit_in_repo(repo_url: str, sha: str) -> CommitRef | None:
    """A commit named by repository URL and sha (OSV GIT ranges)."""
    match = _REPO_URL.match(repo_url.strip())
    if not match or not re.fullmatch(r"[0-9a-fA-F]{7,40}", sha):
        return None
    return CommitRef(match.group(1), match.group(2), sha.lower())


def is_other_commit_url(url: str) -> bool:
    """A commit link on a host we do not resolve (so the report can say how many)."""
    return parse_commit_url(url) is None and bool(_OTHER_COMMIT_URL.search(url))


@dataclass
class ChangedFile:
    path: str
    before_path: str
    pairs: list[FunctionPair]


@dataclass
class CommitChanges:
    ref: CommitRef
    sha: str  # full sha (references may abbreviate)
    parent: str
    files: list[ChangedFile] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


class GitHub:
    def __init__(self, http: HttpClient, api_url: str, token: str | None) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    # -- fix commits ---------------------------------------------------------

    def commit_changes(self, ref: CommitRef) -> CommitChanges | None:
        """The changed C functions of one commit; None when GitHub does not know the commit."""
        url = f"{self.api_url}/repos/{ref.owner}/{ref.repo}/commits/{ref.sha}"
        response = self.http.get(url, headers=self.headers)
        if response.status in (404, 409, 422, 451):  # unknown sha, empty/blocked repository
            return None
        data = _ok_json(response)
        where = f"{url} (fix commit {ref.url})"
        try:
            sha = str(data["sha"])
            parents = data["parents"]
            files = data["files"]
            if not isinstance(files, list) or not isinstance(parents, list):
                raise TypeError("'files' and 'parents' must be lists")
        except (KeyError, TypeError) as exc:
            raise CollectError(
                f"{where}: malformed commit payload ({_describe(exc)}); expected GitHub's commit JSON"
            ) from None
        if not parents:
            changes = CommitChanges(ref, sha, "")
            changes.skipped["root_commit"] += 1
            return changes
        parent = str(parents[0].get("sha", "")) if isinstance(parents[0], dict) else ""
        if not parent:
            raise CollectError(f"{where}: malformed commit payload (parents[0] has no 'sha')")
        changes = CommitChanges(ref, sha, parent)
        for i, entry in enumerate(files):
            if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
                raise CollectError(f"{where}: malformed commit payload (files[{i}] has no 'filename')")
            self._add_file(changes, entry)
        return changes

    def _add_file(self, changes: CommitChanges, entry: dict[str, Any]) -> None:
        path = entry["filename"]
        if not is_plain_c_file(path):
            changes.skipped["non_c_file"] += 1
            return
        if entry.get("status") not in _MODIFIED:
            changes.skipped[f"file_{entry.get('status', 'unknown')}"] += 1  # added/removed: no pair
            return
        before_path = entry.get("previous_filename") or path
        after = self.file_at(changes.ref, path, changes.sha)
        if after is None:
            changes.skipped["file_unavailable"] += 1
            return
        before = None
        patch = entry.get("patch")
        if isinstance(patch, str) and patch:
            try:
                before = reverse_apply(after, patch)
            except PatchMismatch:
                changes.skipped["patch_mismatch_refetched"] += 1
        if before is None:
            before = self.file_at(changes.ref, before_path, changes.parent)
            if before is None:
                changes.skipped["file_unavailable"] += 1
                return
        changes.files.append(ChangedFile(path, before_path, changed_functions(before, after)))

    def file_at(self, ref: CommitRef, path: str, sha: str) -> str | None:
        """A file's text at a revision (contents API); None if absent or over GitHub's 1 MB limit."""
        url = f"{self.api_url}/repos/{ref.owner}/{ref.repo}/contents/{quote(path)}"
        response = self.http.get(url, params={"ref": sha}, headers=self.headers)
        if response.status == 404:
            return None
        data = _ok_json(response)
        if not isinstance(data, dict) or data.get("type", "file") != "file":
            raise CollectError(f"{response.url}: malformed contents payload (expected a file object for {path}@{sha})")
        if data.get("encoding") != "base64":
            return None  # "none": too large for the contents API
        try:
            return base64.b64decode(data.get("content", "")).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise CollectError(
                f"{response.url}: malformed contents payload ('content' is not base64 for {path}@{sha})"
            ) from None

    # -- advisories ----------------------------------------------------------

    def advisory_pages(self, params: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
        """Pages of the global security advisories listing, following Link rel="next"."""
        url: str | None = f"{self.api_url}/advisories"
        query: dict[str, Any] | None = params
        while url:
            response = self.http.get(url, params=query, headers=self.headers)
            page = _ok_json(response)
            if not isinstance(page, list):
                raise CollectError(
                    f"{response.url}: malformed advisories payload (expected a JSON list, got {type(page).__name__})"
                )
            yield response.url, page
            match = _LINK_NEXT.search(response.headers.get("link", ""))
            url, query = (match.group(1), None) if match else (None, None)


def _ok_json(response: Response) -> Any:
    if not response.ok:
        raise HttpError(
            f"{response.url}: HTTP {response.status}; check collect.github_api_url and the GITHUB_TOKEN environment variable",
            url=response.url,
            status=response.status,
        )
    return response.json()


def _describe(exc: Exception) -> str:
    return f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
