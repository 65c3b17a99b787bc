"""Advisories (NVD, GHSA, OSV, ExploitDB's CVEs) to records, through their fix commits.

Each advisory names CVEs, maybe a CWE, and fix commits on GitHub. Commits are
resolved once even when several advisories cite them, in parallel; every
changed C function becomes a (vulnerable, fixed) pair whose confidence says
whether the CVE has a public exploit (noise.py has the mapping).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from streamguard.data.collectors.base import Collected
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.fix_pairs import pair_records
from streamguard.data.collectors.github import CommitRef
from streamguard.data.collectors.progress import parallel_map
from streamguard.data.noise import confidence_for

_NOT_A_CWE = {"NVD-CWE-Other", "NVD-CWE-noinfo"}


@dataclass
class Advisory:
    id: str
    cves: tuple[str, ...]
    cwe: str | None
    commits: tuple[CommitRef, ...]
    other_host_commits: int = 0  # fix links to GitLab, cgit...: counted, not resolved


def normalise_cwe(value: object) -> str | None:
    """'CWE-787', '787' or 787 -> 'CWE-787'; NVD's placeholders and junk -> None."""
    if value is None:
        return None
    text = str(value).strip()
    if text in _NOT_A_CWE:
        return None
    digits = text[4:] if text.upper().startswith("CWE-") else text
    return f"CWE-{int(digits)}" if digits.isdigit() else None


def take(advisories: list[Advisory], limit: int) -> list[Advisory]:
    """Advisories with at least one GitHub fix commit, at most `limit` (0 = all)."""
    useful = [a for a in advisories if a.commits]
    return useful[:limit] if limit else useful


def advisories_to_collected(
    advisories: list[Advisory], source: str, ctx: CollectContext, *, all_exploited: bool = False
) -> Collected:
    collect = ctx.collect
    by_commit: dict[CommitRef, list[Advisory]] = {}
    for adv in advisories:
        for ref in adv.commits:
            by_commit.setdefault(ref, []).append(adv)
    refs = sorted(by_commit)
    results = parallel_map(ctx.github.commit_changes, refs, collect.workers, f"{source}: fix commits")

    out = Collected()
    skipped: Counter = Counter()
    exploited_commits = 0
    for ref, changes in zip(refs, results):
        if changes is None:
            out.dropped["commit_not_found"] += 1
            continue
        skipped.update(changes.skipped)
        advs = by_commit[ref]
        exploited = all_exploited or any(cve in ctx.exploit_cves for a in advs for cve in a.cves)
        exploited_commits += exploited
        confidence = confidence_for("advisory_exploit" if exploited else "advisory", collect)
        cwe = next((a.cwe for a in advs if a.cwe), None)
        blob = f"https://github.com/{ref.project}/blob"
        for changed in changes.files:
            for pair in changed.pairs:
                out.pairs.append(
                    pair_records(
                        pair,
                        source=source,
                        project=ref.project,
                        commit=changes.sha,
                        cwe=cwe,
                        confidence=confidence,
                        before_origin=f"{blob}/{changes.parent}/{changed.before_path}#L",
                        after_origin=f"{blob}/{changes.sha}/{changed.path}#L",
                    )
                )
    out.details.update(
        advisories_with_github_fix=len(advisories),
        fix_commits=len(refs),
        fix_commits_with_exploit=exploited_commits,
        files_skipped=dict(sorted(skipped.items())),
        http=ctx.http.stats.as_dict(),
    )
    if not ctx.github_token:
        out.details["warning"] = "GITHUB_TOKEN is not set: GitHub allows 60 unauthenticated requests per hour"
    return out
