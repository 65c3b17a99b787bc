"""OSV: entries with fix commits, from the API (per package) or a bulk export zip.

Fix commits come from FIX references and from GIT ranges' `fixed` events on
GitHub repositories (OSS-Fuzz entries, the C/C++ ones, mostly use the latter).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamguard.data.collectors.advisories import Advisory, advisories_to_collected, normalise_cwe, take
from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.github import commit_in_repo, is_other_commit_url, parse_commit_url


def collect_osv(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not collect.osv_export and not collect.osv_packages:
        raise SourceSkipped(
            "no OSV input configured: set collect.osv_export to a bulk export zip (e.g. OSS-Fuzz/all.zip "
            "from osv-vulnerabilities.storage.googleapis.com) or list 'Ecosystem:package' names in collect.osv_packages"
        )
    found: list[Advisory] = []
    if collect.osv_export:
        found.extend(parse_entry(obj, where) for where, obj in read_export(Path(collect.osv_export)))
    for i, spec in enumerate(collect.osv_packages):
        found.extend(query_package(ctx, spec, f"collect.osv_packages[{i}]"))
    unique = list({adv.id: adv for adv in reversed(found)}.values())[::-1]
    chosen = take(unique, collect.max_advisories)
    out = advisories_to_collected(chosen, "osv", ctx)
    out.details["entries_read"] = len(unique)
    return out


def read_export(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, decoded entry) for every .json member of an OSV export zip, in name order."""
    if not path.is_file():
        raise CollectError(f"collect.osv_export: {path} does not exist; download the export or set it to null")
    try:
        with zipfile.ZipFile(path) as zf:
            for name in sorted(n for n in zf.namelist() if n.endswith(".json")):
                where = f"{path}!{name}"
                try:
                    yield where, json.loads(zf.read(name).decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise CollectError(
                        f"{where}: malformed OSV entry (not JSON: {exc}); re-download the export"
                    ) from None
    except zipfile.BadZipFile:
        raise CollectError(f"{path}: not a zip file; collect.osv_export must be an OSV bulk export (all.zip)") from None


def query_package(ctx: CollectContext, spec: str, key: str) -> list[Advisory]:
    ecosystem, sep, name = spec.partition(":")
    if not sep or not ecosystem or not name:
        raise CollectError(f"{key}: {spec!r} is not 'Ecosystem:package' (e.g. 'OSS-Fuzz:openssl')")
    url = f"{ctx.collect.osv_api_url.rstrip('/')}/v1/query"
    found: list[Advisory] = []
    token = None
    while True:
        body: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
        if token:
            body["page_token"] = token
        page = ctx.http.post_json(url, body)
        vulns = page.get("vulns", []) if isinstance(page, dict) else None
        if not isinstance(vulns, list):
            raise CollectError(f"{url} ({spec}): malformed OSV query response (expected an object with a 'vulns' list)")
        found.extend(parse_entry(v, f"{url} ({spec}): vulns[{i}]") for i, v in enumerate(vulns))
        token = page.get("next_page_token")
        if not token:
            return found


def parse_entry(entry: Any, where: str) -> Advisory:
    osv_id = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(osv_id, str) or not osv_id:
        raise CollectError(f"{where}: malformed OSV entry (no 'id'); expected the OSV schema")
    where = f"{where} ({osv_id})"
    try:
        aliases = [a for a in entry.get("aliases") or [] if isinstance(a, str)]
        refs = entry.get("references") or []
        urls = [r["url"] for r in refs]
        fix_urls = [r["url"] for r in refs if r.get("type") == "FIX"]
        commits = [parse_commit_url(u) for u in fix_urls]
        for affected in entry.get("affected") or []:
            for rng in affected.get("ranges") or []:
                if rng.get("type") != "GIT":
                    continue
                for event in rng.get("events") or []:
                    if "fixed" in event:
                        commits.append(commit_in_repo(str(rng.get("repo", "")), str(event["fixed"])))
        cwe_ids = (entry.get("database_specific") or {}).get("cwe_ids") or []
    except (KeyError, TypeError, AttributeError) as exc:
        raise CollectError(f"{where}: malformed OSV entry (missing or mistyped {exc})") from None
    cves = tuple(dict.fromkeys(x for x in [osv_id, *aliases] if x.startswith("CVE-")))
    return Advisory(
        id=osv_id,
        cves=cves,
        cwe=next((c for c in map(normalise_cwe, cwe_ids) if c), None),
        commits=tuple(dict.fromkeys(c for c in commits if c)),
        other_host_commits=sum(1 for u in urls if is_other_commit_url(u)),
    )
