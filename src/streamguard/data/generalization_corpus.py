"""The leave-project-out corpus: every labelled function, tagged by project and role.

Roles (the record's `source`):
- `git`: a mined vulnerable/fixed pair from a repository's security fixes
  (the git collector's output, `pair` ids linking the sides);
- `snapshot`: every function of a repository's tree at one commit before a set
  of its fixes (the retro-scan set): vulnerable (1) when a later security fix
  changed exactly this code (its text equals the fix's pre-fix side), benign (0)
  when no later fix touched it; functions a later fix touched in another form
  are left out, since their state at the snapshot is unknown;
- `pairvul`: a Linux kernel CVE fix pair from PairVul (project `linux`);
- `devign`: a Devign function (projects FFmpeg and qemu);
- `juliet`: a bad or good function of NIST's Juliet suite (project `juliet`),
  read by the Juliet collector's reader under the collect stage's length and
  duplicate rules; synthetic, so it only ever trains: never held out, never scored.

The snapshot commit of a repository is the parent of its median fix commit by
date, so half its mined fixes come after it. The same text in two projects
(a vendored copy, a shared helper) is dropped from both, so no held-out
project is ever scored on code a model trained on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.c.functions import extract_functions
from streamguard.c.suffixes import is_plain_c_file
from streamguard.data.collectors.base import CollectError
from streamguard.data.collectors.git_miner import is_vendored_or_test, run_git
from streamguard.data.collectors.juliet import read_juliet
from streamguard.data.download import REPO, SAMPLE_PATH
from streamguard.data.noise import code_text, confidence_for, dedupe, length_rule, screen_functions
from streamguard.data.records import Record, RecordError, link_pair, read_records
from streamguard.data.trim import trim_to_budget
from streamguard.errors import StreamGuardError
from streamguard.io.input_files import InputFileError
from streamguard.io.jsonl import iter_json_lines
from streamguard.params import Params

# the bundled sample corpus (generalize.corpus: sample): its mined pairs and snapshots, and Devign's sample
SAMPLE_CORPUS = REPO / "data" / "sample" / "generalize_sample.jsonl.gz"
SAMPLE_DEVIGN = SAMPLE_PATH


class CorpusError(StreamGuardError, ValueError):
    """An input of the leave-project-out corpus that cannot be used; the message says which and why."""


@dataclass
class SnapshotReport:
    commit: str = ""
    fixes_after: int = 0
    files: int = 0
    functions: int = 0
    vulnerable: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "commit": self.commit,
            "fixes_after": self.fixes_after,
            "files": self.files,
            "functions": self.functions,
            "vulnerable": self.vulnerable,
            "dropped": dict(sorted(self.dropped.items())),
        }


def _blobs(repo: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """The content of `paths` at `commit`, read in one `git cat-file --batch`."""
    request = "".join(f"{commit}:{p}\n" for p in paths).encode()
    out = run_git(repo, "cat-file", "--batch", stdin=request)
    contents: dict[str, bytes] = {}
    pos = 0
    for path in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        contents[path] = out[pos : pos + size]
        pos += size + 1
    return contents


def origin_path(origin: str | None) -> str | None:
    """print-x.c from an origin `REPO@SHA:print-x.c:LINE` (the git collector's and the snapshots')."""
    if not origin or "@" not in origin:
        return None
    parts = origin.rsplit("@", 1)[1].split(":")
    return parts[1] if len(parts) >= 3 else None


def function_name(text: str) -> str | None:
    found = extract_functions(text)
    return found[0].name if found else None


def snapshot_records(repo: Path, mined: list[Record], params: Params) -> tuple[list[Record], SnapshotReport]:
    """The retro-scan set of one repository: its tree before the later half of its mined fixes."""
    report = SnapshotReport()
    fixes = sorted({r.commit for r in mined if r.target == 1 and r.commit})
    if not fixes:
        return [], report
    dates = {}
    for line in run_git(repo, "log", "--format=%H %ct", "--no-walk=unsorted", *fixes).decode().split("\n"):
        if line.strip():
            sha, ts = line.split()
            dates[sha] = int(ts)
    median_fix = sorted(fixes, key=lambda sha: (dates.get(sha, 0), sha))[len(fixes) // 2]
    snapshot = run_git(repo, "rev-parse", f"{median_fix}^").decode().strip()
    later = set(run_git(repo, "rev-list", f"{snapshot}..HEAD").decode().split())
    report.commit = snapshot
    report.fixes_after = sum(sha in later for sha in fixes)
    vulnerable_texts: set[str] = set()
    touched: set[tuple[str | None, str | None]] = set()
    for rec in mined:
        if rec.target == 1 and rec.commit in later:
            vulnerable_texts.add(code_text(rec.func))
            touched.add((origin_path(rec.origin), function_name(rec.func)))
    listing = run_git(repo, "ls-tree", "-r", "-z", "--name-only", snapshot).decode("utf-8", "replace").split("\0")
    paths = [p for p in listing if p and is_plain_c_file(p) and not is_vendored_or_test(p)]
    report.files = len(paths)
    records: list[Record] = []
    seen: set[str] = set()
    for path, blob in sorted(_blobs(repo, snapshot, paths).items()):
        for fn in extract_functions(blob):
            text = code_text(fn.text)
            rule = length_rule(fn.text, params.collect)
            if rule:
                report.dropped[rule] += 1
                continue
            if text in seen:
                report.dropped["duplicate"] += 1
                continue
            seen.add(text)
            target = int(text in vulnerable_texts)
            if not target and (path, fn.name) in touched:
                report.dropped["changed_before_its_fix"] += 1  # state at the snapshot unknown
                continue
            report.functions += 1
            report.vulnerable += target
            records.append(
                Record(
                    func=fn.text,
                    target=target,
                    project=repo.resolve().name,
                    source="snapshot",
                    commit=snapshot,
                    origin=f"{repo.resolve().name}@{snapshot[:12]}:{path}:{fn.start_line}",
                )
            )
    return records, report


def pairvul_records(path: Path) -> list[Record]:
    """PairVul's kernel pairs as linked (vulnerable, fixed) records of project `linux`."""
    records: list[Record] = []
    try:
        for line_no, obj in iter_json_lines(path):
            where = f"{path}:{line_no}"
            try:
                vulnerable, fixed = str(obj["vulnerable"]), str(obj["fixed"])
            except (KeyError, TypeError):
                raise CorpusError(f"{where}: a PairVul line needs `vulnerable` and `fixed` texts") from None
            cwe = str(obj.get("cwe") or "").strip("[]'\" ") or None
            common = {"project": "linux", "source": "pairvul", "cve": obj.get("cve_id"), "cwe": cwe}
            pair = link_pair(
                Record(func=vulnerable, target=1, origin=f"{where}:vulnerable", **common),
                Record(func=fixed, target=0, origin=f"{where}:fixed", **common),
            )
            records.extend(pair)
    except InputFileError as exc:
        raise CorpusError(f"{exc}; set generalize.pairvul_path to pairvul.jsonl.gz") from None
    return records


def devign_records(path: Path, max_per_project: int) -> list[Record]:
    """Devign functions as records of their own project, the first max_per_project of each (0 = all)."""
    taken: Counter = Counter()
    records: list[Record] = []
    try:
        for rec in read_records(path, defaults={"source": "devign"}):
            if max_per_project and taken[rec.project] >= max_per_project:
                continue
            taken[rec.project] += 1
            rec.source = "devign"
            rec.split = None
            records.append(rec)
    except RecordError as exc:
        raise CorpusError(f"{exc}; set generalize.devign_path to Devign's JSONL") from None
    return records


def juliet_records(path: Path, max_cases: int, params: Params) -> tuple[list[Record], dict]:
    """Juliet's bad (1) and good (0) functions of `max_cases` whole test cases (0 = all), screened as the
    collect stage screens Juliet, and a report of what was kept and dropped."""
    try:
        harvest = read_juliet(path, "generalize.juliet_path", max_cases, confidence_for("juliet", params.collect))
    except CollectError as exc:
        raise CorpusError(str(exc)) from None
    screened, too_long_or_short = screen_functions(harvest.singles, params.collect)
    records, duplicates = dedupe(screened)
    dropped = harvest.dropped + too_long_or_short + duplicates
    report = {**harvest.details, "functions": len(records), "dropped": dict(sorted(dropped.items()))}
    return records, report


def drop_cross_project_clones(records: list[Record]) -> tuple[list[Record], int]:
    """Records whose normalised text occurs in more than one project go, in every project."""
    projects_of: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        projects_of[code_text(rec.func)].add(rec.project)
    kept = [rec for rec in records if len(projects_of[code_text(rec.func)]) == 1]
    return kept, len(records) - len(kept)


def corpus_texts(records: list[Record], params: Params) -> list[str]:
    """What the protocol's models read of each function: its text trimmed to data.max_chars."""
    return [trim_to_budget(r.func, params.data.max_chars).text for r in records]


def build_corpus(
    params: Params,
    mined_path: Path | None,
    sample_corpus: Path = SAMPLE_CORPUS,
    sample_devign: Path = SAMPLE_DEVIGN,
) -> tuple[list[Record], dict]:
    """Every record of the corpus params ask for, and a report of where they came from.

    generalize.corpus: sample reads `sample_corpus` and `sample_devign`; build reads `mined_path` and
    the sources params name; either adds Juliet when generalize.juliet_path is set.
    """
    settings = params.generalize
    report: dict = {"corpus": settings.corpus, "snapshots": {}}
    records: list[Record] = []
    if settings.corpus == "sample":
        records += list(read_records(sample_corpus))
        records += devign_records(sample_devign, settings.devign_max_per_project)
    else:
        mined = list(read_records(mined_path)) if mined_path and mined_path.exists() else []
        by_project: dict[str, list[Record]] = defaultdict(list)
        for rec in mined:
            by_project[rec.project].append(rec)
        records += mined
        for i, repo_str in enumerate(params.collect.git_repos):
            repo = Path(repo_str)
            if not repo.is_dir():
                raise CorpusError(f"collect.git_repos[{i}]: {repo} does not exist; clone the repository there")
            snap, snap_report = snapshot_records(repo, by_project.get(repo.resolve().name, []), params)
            records += snap
            report["snapshots"][repo.resolve().name] = snap_report.as_dict()
        if settings.pairvul_path:
            records += pairvul_records(Path(settings.pairvul_path))
        if settings.devign_path:
            records += devign_records(Path(settings.devign_path), settings.devign_max_per_project)
    if settings.juliet_path:
        juliet, report["juliet"] = juliet_records(Path(settings.juliet_path), settings.juliet_max_cases, params)
        records += juliet
    if settings.drop_cross_project_clones:
        records, report["cross_project_clones_dropped"] = drop_cross_project_clones(records)
    counts: dict[str, dict[str, int]] = defaultdict(Counter)
    for rec in records:
        counts[rec.project][f"{rec.source}_{'vulnerable' if rec.target else 'benign'}"] += 1
    report["projects"] = {p: dict(sorted(c.items())) for p, c in sorted(counts.items())}
    report["records"] = len(records)
    return records, report
