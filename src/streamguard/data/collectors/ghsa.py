"""GitHub Security Advisories: the global advisory database over REST (needs env GITHUB_TOKEN)."""

from __future__ import annotations

from typing import Any

from streamguard.data.collectors.advisories import Advisory, advisories_to_collected, normalise_cwe, take
from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.github import is_other_commit_url, parse_commit_url


def collect_ghsa(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not ctx.github_token:
        raise SourceSkipped(
            "the environment variable GITHUB_TOKEN is not set; the advisory listing at "
            f"{collect.github_api_url}/advisories needs a token (any classic or fine-grained token, no scopes)"
        )
    query: dict[str, Any] = {"type": collect.ghsa_type, "per_page": 100}
    if collect.ghsa_cwes:
        query["cwes"] = ",".join(collect.ghsa_cwes)
    found: list[Advisory] = []
    for url, page in ctx.github.advisory_pages(query):
        found.extend(parse_advisory(item, f"{url}: [{i}]") for i, item in enumerate(page))
        if collect.max_advisories and sum(1 for a in found if a.commits) >= collect.max_advisories:
            break
    chosen = take(found, collect.max_advisories)
    out = advisories_to_collected(chosen, "ghsa", ctx)
    out.details["advisories_read"] = len(found)
    return out


def parse_advisory(item: Any, where: str) -> Advisory:
    """One advisory of GET /advisories (references are URL strings there, objects elsewhere)."""
    ghsa_id = item.get("ghsa_id") if isinstance(item, dict) else None
    if not isinstance(ghsa_id, str) or not ghsa_id:
        raise CollectError(f"{where}: malformed advisory (no 'ghsa_id'); expected GitHub's global advisory JSON")
    where = f"{where} ({ghsa_id})"
    refs = item.get("references") or []
    cwes = item.get("cwes") or []
    if not isinstance(refs, list) or not isinstance(cwes, list):
        raise CollectError(f"{where}: malformed advisory ('references' and 'cwes' must be lists)")
    urls: list[str] = []
    for ref in refs:
        url = ref.get("url") if isinstance(ref, dict) else ref
        if not isinstance(url, str):
            raise CollectError(f"{where}: malformed reference {ref!r:.80} (expected a URL string)")
        urls.append(url)
    cwe = next((c for c in (normalise_cwe(w.get("cwe_id")) for w in cwes if isinstance(w, dict)) if c), None)
    cve = item.get("cve_id")
    return Advisory(
        id=ghsa_id,
        cves=(cve,) if isinstance(cve, str) and cve else (),
        cwe=cwe,
        commits=tuple(dict.fromkeys(r for r in map(parse_commit_url, urls) if r)),
        other_host_commits=sum(1 for u in urls if is_other_commit_url(u)),
    )
