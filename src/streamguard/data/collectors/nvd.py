"""NVD: CVEs with their CWE and fix-commit references, from the API 2.0 or JSON feed files.

The API runs only with an API key (env NVD_API_KEY; NVD throttles keyless
clients to a crawl). Feed files may be the 2.0 feeds (`vulnerabilities`, the
API's own format) or the legacy 1.1 feeds (`CVE_Items`), plain or gzipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamguard.data.collectors.advisories import Advisory, advisories_to_collected, normalise_cwe, take
from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.github import is_other_commit_url, parse_commit_url
from streamguard.io.input_files import decode_json, decode_utf8, read_bytes, require_file

PAGE_SIZE = 2000  # the API's maximum resultsPerPage


def collect_nvd(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not collect.nvd_feeds and not ctx.nvd_api_key:
        raise SourceSkipped(
            "no NVD input configured: set the environment variable NVD_API_KEY to use the API "
            f"({collect.nvd_api_url}), or list NVD JSON feed files in collect.nvd_feeds"
        )
    found: list[Advisory] = []
    for path in collect.nvd_feeds:
        found.extend(read_feed(Path(path)))
    if ctx.nvd_api_key:
        found.extend(api_advisories(ctx, limit=collect.max_advisories))
    unique = list({adv.id: adv for adv in reversed(found)}.values())[::-1]  # first copy of each CVE wins
    chosen = take(unique, collect.max_advisories)
    out = advisories_to_collected(chosen, "nvd", ctx)
    out.details.update(cves_read=len(unique), cves_with_other_host_fix_only=_other_host_only(unique))
    return out


def read_feed(path: Path) -> list[Advisory]:
    """Advisories of one NVD JSON feed file (schema 2.0 or 1.1, .json or .json.gz)."""
    if not path.exists():
        raise CollectError(f"collect.nvd_feeds: {path} does not exist; download the feed or remove it from params.yaml")
    require_file(path, "collect.nvd_feeds")
    doc = decode_json(decode_utf8(read_bytes(path), str(path)), str(path), document=True)
    return parse_document(doc, str(path))


def parse_document(doc: Any, where: str) -> list[Advisory]:
    if isinstance(doc, dict) and isinstance(doc.get("vulnerabilities"), list):
        return [_from_cve_20(item, f"{where}: vulnerabilities[{i}]") for i, item in enumerate(doc["vulnerabilities"])]
    if isinstance(doc, dict) and isinstance(doc.get("CVE_Items"), list):
        return [_from_cve_11(item, f"{where}: CVE_Items[{i}]") for i, item in enumerate(doc["CVE_Items"])]
    raise CollectError(f"{where}: not an NVD CVE document (no 'vulnerabilities' or 'CVE_Items' list)")


def api_advisories(ctx: CollectContext, *, limit: int) -> list[Advisory]:
    """Page through the API; stops early once `limit` CVEs with a GitHub fix are in hand."""
    found: list[Advisory] = []
    for url, page in _api_pages(ctx):
        found.extend(parse_document(page, url))
        if limit and sum(1 for adv in found if adv.commits) >= limit:
            break
    return found


def lookup_cve(ctx: CollectContext, cve_id: str) -> list[Advisory]:
    """One CVE from the API (used by the ExploitDB collector)."""
    collect = ctx.collect
    response = ctx.http.get(collect.nvd_api_url, params={"cveId": cve_id}, headers=_headers(ctx))
    if response.status == 404:
        return []
    page = _checked_page(response, ctx)
    return parse_document(page, response.url)


def _api_pages(ctx: CollectContext) -> Iterator[tuple[str, dict[str, Any]]]:
    collect = ctx.collect
    start = 0
    while True:
        query = {"startIndex": start, "resultsPerPage": PAGE_SIZE, "keywordSearch": collect.nvd_keyword}
        response = ctx.http.get(collect.nvd_api_url, params=query, headers=_headers(ctx))
        page = _checked_page(response, ctx)
        yield response.url, page
        got = len(page["vulnerabilities"])
        start += got
        if got == 0 or start >= page["totalResults"]:
            return


def _checked_page(response: Any, ctx: CollectContext) -> dict[str, Any]:
    if not response.ok:
        raise CollectError(
            f"{response.url}: HTTP {response.status} from the NVD API; check collect.nvd_api_url and NVD_API_KEY"
        )
    page = response.json()
    if (
        not isinstance(page, dict)
        or not isinstance(page.get("vulnerabilities"), list)
        or not isinstance(page.get("totalResults"), int)
    ):
        raise CollectError(
            f"{response.url}: malformed NVD API page (expected an object with a 'vulnerabilities' list and "
            "an integer 'totalResults'); is collect.nvd_api_url the CVE API 2.0 endpoint?"
        )
    return page


def _headers(ctx: CollectContext) -> dict[str, str]:
    return {"apiKey": ctx.nvd_api_key} if ctx.nvd_api_key else {}


def _from_cve_20(item: Any, where: str) -> Advisory:
    cve = item.get("cve") if isinstance(item, dict) else None
    cve_id = cve.get("id") if isinstance(cve, dict) else None
    if not isinstance(cve_id, str) or not cve_id:
        raise CollectError(f"{where}: malformed CVE record (no 'cve.id'); the feed or page is damaged — re-download it")
    where = f"{where} ({cve_id})"
    cwes: list[str | None] = []
    weaknesses = _list(cve, "weaknesses", where)
    # NVD's own ("Primary") classification first, then the CNA's
    for weakness in sorted(weaknesses, key=lambda w: 0 if isinstance(w, dict) and w.get("type") == "Primary" else 1):
        for desc in _list(weakness, "description", where):
            cwes.append(normalise_cwe(desc.get("value") if isinstance(desc, dict) else None))
    urls = []
    for ref in _list(cve, "references", where):
        if not isinstance(ref, dict) or not isinstance(ref.get("url"), str):
            raise CollectError(
                f"{where}: malformed reference (expected an object with a 'url' string, got {ref!r:.80})"
            )
        urls.append(ref["url"])
    return _advisory(cve_id, next((c for c in cwes if c), None), urls)


def _from_cve_11(item: Any, where: str) -> Advisory:
    try:
        cve = item["cve"]
        cve_id = cve["CVE_data_meta"]["ID"]
        problem = cve.get("problemtype", {}).get("problemtype_data", [])
        cwes = [normalise_cwe(d.get("value")) for p in problem for d in p.get("description", [])]
        urls = [r["url"] for r in cve.get("references", {}).get("reference_data", [])]
    except (KeyError, TypeError, AttributeError) as exc:
        raise CollectError(
            f"{where}: malformed 1.1 CVE item (missing or mistyped {exc}); re-download the feed"
        ) from None
    return _advisory(cve_id, next((c for c in cwes if c), None), urls)


def _advisory(cve_id: str, cwe: str | None, urls: list[str]) -> Advisory:
    commits = tuple(dict.fromkeys(ref for ref in map(parse_commit_url, urls) if ref))
    other = sum(1 for url in urls if is_other_commit_url(url))
    return Advisory(id=cve_id, cves=(cve_id,), cwe=cwe, commits=commits, other_host_commits=other)


def _list(obj: Any, key: str, where: str) -> list[Any]:
    value = obj.get(key, []) if isinstance(obj, dict) else []
    if not isinstance(value, list):
        raise CollectError(f"{where}: malformed CVE record ('{key}' must be a list, got {type(value).__name__})")
    return value


def _other_host_only(advisories: list[Advisory]) -> int:
    return sum(1 for adv in advisories if not adv.commits and adv.other_host_commits)
