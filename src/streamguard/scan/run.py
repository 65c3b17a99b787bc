"""`streamguard scan PATH...`: find C/C++ functions, score them in batches with the fusion, report findings.

Streaming: files are read one at a time, functions are cut out with the one
extractor (streamguard.c.functions), and scored in batches of `batch_size` by
every base model the fusion uses, then fused (models/scorer.py's Scorer, loaded once),
in `--workers` processes (scan/scoring.py). Only findings (fused probability >= --min-probability, by default the
fusion's threshold) are kept, with their text until the reported ones have
their lines ranked by how much each drives the score (scan/lines.py,
`--lines`; the scan's wall time and rate leave that ranking out, its own time
is in `line_ranking`). The models come from a
folder, a git revision or a registered version (scan/model_source.py); the
report records which. With `--baseline` each finding is new, unchanged or
updated (scan/baseline.py); the repository's triage file suppresses findings
judged false positives (data/triage_file.py); the gate fires on what is left
(scan/review.py). Progress shows files, functions, functions/s and the ETA on
a terminal; a summary line always ends the scan on stderr.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streamguard.c.suffixes import C_SOURCE_SUFFIXES
from streamguard.data.records import Record
from streamguard.data.triage_file import read_triage, triage_path
from streamguard.errors import StreamGuardError
from streamguard.io.git import GitError, run_git, work_tree_top
from streamguard.io.input_files import MAX_FILE_BYTES
from streamguard.models.detector_card import SHIPPED_DIR, band_for, is_detector, read_card
from streamguard.params import load_params
from streamguard.progress import console, make_progress
from streamguard.scan.baseline import Scope, compare, read_baseline
from streamguard.scan.changes import ChangedLines, changed_since
from streamguard.scan.findings import Finding, fingerprinted, top_findings
from streamguard.scan.lines import MAX_VARIANTS, TOP_LINES, with_lines
from streamguard.scan.model_info import ModelInfo, describe_model, repository_url
from streamguard.scan.model_source import ModelSource, default_source, from_folder, from_registry
from streamguard.scan.review import Review
from streamguard.scan.sarif import MAX_RESULTS, build_sarif
from streamguard.scan.scoring import batch_scorer, default_workers
from streamguard.scan.unseen import DETAILS, detector_statement, unseen_projects
from streamguard.scan.walk import (
    BadFiles,
    SourceFile,
    list_sources,
    printable,
    read_source,
    scan_root,
)

FORMATS = ("table", "sarif", "json")
TABLE_ROWS = 20  # the table's default length; --top changes it


@dataclass
class ScanOptions:
    paths: list[Path]
    models_dir: Path | None = None  # None: the workspace's models, else the shipped detector
    graphs_dir: Path = Path("data/graphs")
    params_file: Path = Path("params.yaml")
    model: str | None = None  # NAME@VERSION: a registered version (GTO tag) in `registry`
    rev: str | None = None  # a git revision of `registry`
    registry: str = "."  # the repository holding the model tags and its DVC remote
    output_format: str = "table"
    output: str = "-"
    min_probability: float | None = None  # None: the fusion's threshold
    top: int | None = None
    fail_on_findings: bool = False
    changed_since: str | None = None
    baseline: Path | None = None  # an earlier scan's SARIF report: mark findings new/unchanged/updated/absent
    lines: int = TOP_LINES  # lines per finding ranked by occlusion (scan/lines.py); 0: none
    batch_size: int = 64  # functions per batch (per worker task)
    max_file_bytes: int = MAX_FILE_BYTES
    workers: int = field(default_factory=default_workers)  # scoring processes (scan/scoring.py)


@dataclass
class ScanResult:
    findings: list[Finding]  # at or above min_probability, best first, at most --top
    model: ModelInfo
    bad: BadFiles
    stats: dict = field(default_factory=dict)
    exit_code: int = 0
    review: Review = field(default_factory=Review)


@dataclass
class _Batch:
    """Functions to score together, with what a finding needs once they are scored."""

    records: list[Record] = field(default_factory=list)
    meta: list[tuple[str, str, int, int, str, str]] = field(default_factory=list)  # uri, name, start, end, fp, key
    files_done: int = 0  # files read (or skipped) once this batch was cut: the progress it stands for


def _functions(
    source: SourceFile,
    data: bytes,
    bad: BadFiles,
    changes: ChangedLines | None,
    pending: _Batch,
    scope: Scope,
    texts: dict[str, str],
) -> int:
    """Cut `source` into functions and queue those the scan covers; the number queued. `scope` notes them all."""
    from streamguard.c.functions import extract_functions

    try:
        functions = extract_functions(data)
    except Exception as exc:  # noqa: BLE001 - a file the extractor cannot handle must not end the scan
        bad.add("parse_failure", source.uri, f"{type(exc).__name__}: {exc}")
        return 0
    scope.files.add(source.uri)
    queued = 0
    for fn, fingerprint, key in fingerprinted(source.uri, functions):
        covered = changes is None or changes.touches(source.uri, fn.start_line, fn.end_line)
        scope.add(fingerprint, key, scored=covered)
        if not covered:
            continue
        origin = f"{source.uri}:{fn.start_line}"
        pending.records.append(Record(func=fn.text, target=0, project="scan", source="scan", id=origin, origin=origin))
        pending.meta.append((source.uri, fn.name, fn.start_line, fn.end_line, fingerprint, key))
        texts[fingerprint] = fn.text
        queued += 1
    return queued


def _batches(
    sources: list[SourceFile],
    opts: ScanOptions,
    bad: BadFiles,
    changes: ChangedLines | None,
    counts: dict,
    scope: Scope,
    texts: dict[str, str],
) -> Iterator[_Batch]:
    """Read the files one at a time and cut their functions into batches of `opts.batch_size`; `texts` by fingerprint."""
    pending = _Batch()
    for done, source in enumerate(sources, 1):
        data = read_source(source, bad, opts.max_file_bytes)
        if data is not None:
            counts["files_read"] += 1
            _functions(source, data, bad, changes, pending, scope, texts)
        while len(pending.records) >= opts.batch_size:
            cut = opts.batch_size
            yield _Batch(pending.records[:cut], pending.meta[:cut], done)
            del pending.records[:cut], pending.meta[:cut]
    if pending.records:
        yield _Batch(pending.records, pending.meta, len(sources))


def model_source(opts: ScanOptions) -> ModelSource:
    """The models `opts` ask for: fetched for --model / --rev, else the --model-dir folder."""
    if opts.model is not None or opts.rev is not None:
        return from_registry(opts.registry, model=opts.model, rev=opts.rev)
    if opts.models_dir is None:
        return default_source(opts.graphs_dir, opts.params_file)
    return from_folder(opts.models_dir, opts.graphs_dir, opts.params_file)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the scoring workers, once joined)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _tracked_by_git(path: Path) -> bool:
    repo = work_tree_top(path.parent)
    if repo is None:
        return False
    try:
        run_git(repo, "ls-files", "--error-unmatch", "--", str(path.relative_to(repo)), timeout=60)
    except (GitError, ValueError):
        return False
    return True


def _check_output(opts: ScanOptions) -> None:
    """Refuse a report path that would overwrite what the scan reads: a scanned file, a C/C++ file or a tracked file."""
    if opts.output == "-":
        return
    out = Path(opts.output).resolve()  # an existing symlink counts as the file it points at
    for given in opts.paths:
        tree = given.resolve()
        inside = out.is_relative_to(tree) if given.is_dir() else out == tree
        if inside and (not given.is_dir() or out.suffix in C_SOURCE_SUFFIXES or _tracked_by_git(out)):
            raise StreamGuardError(
                f"-o {opts.output}: that is a file the scan reads or a file in {given} under version control; "
                "the report would overwrite it. Write the report to a new file (e.g. -o streamguard.sarif)"
            )


def _check_options(opts: ScanOptions) -> None:
    """Options that would make the report empty, the gate unable to fire, or the output overwrite sources."""
    if opts.output_format not in FORMATS:
        raise StreamGuardError(f"--format {opts.output_format!r}: choose one of {', '.join(FORMATS)}")
    if opts.lines < 0:
        raise StreamGuardError(f"--lines {opts.lines}: give 0 (no line ranking) or more (lines shown per finding)")
    if opts.top is not None and opts.top < 1:
        raise StreamGuardError(f"--top {opts.top}: give 1 or more (the number of highest findings to report)")
    p = opts.min_probability
    if p is not None and not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise StreamGuardError(
            f"--min-probability {p}: a probability is a number from 0 to 1 (a bar above 1 could never be reached, "
            "so --fail-on-findings would never fail); leave it out to use the fusion's threshold"
        )
    if opts.changed_since is not None and not opts.changed_since.strip():
        raise StreamGuardError("--changed-since '': give a revision (a branch, tag or commit), or leave the flag out")
    _check_output(opts)


def run_scan(opts: ScanOptions) -> ScanResult:
    from streamguard.models.scorer import Scorer

    _check_options(opts)
    root = scan_root(opts.paths)
    changes = None
    if opts.changed_since is not None:
        if work_tree_top(root) != root:
            raise StreamGuardError(
                f"--changed-since {opts.changed_since}: {', '.join(map(str, opts.paths))} is not inside one git "
                "repository, so there is nothing to diff against; scan without --changed-since, or scan a git checkout"
            )
        changes = changed_since(root, opts.changed_since)
    baseline = read_baseline(opts.baseline) if opts.baseline is not None else None  # a bad one fails before scoring
    triage = read_triage(triage_path(root))
    bad = BadFiles()
    sources = list_sources(opts.paths, root, bad)
    if not sources:
        skipped = f" ({bad.summary()})" if any(bad.counts.values()) else ""
        raise StreamGuardError(
            f"{', '.join(map(str, opts.paths))}: no C/C++ file to scan{skipped}; scan reads "
            f"{' '.join(sorted(C_SOURCE_SUFFIXES))} files (vendored and build folders below the path are skipped). "
            "Check the path"
        )
    if changes is not None:
        sources = [s for s in sources if changes.touches_file(s.uri)]
    found = model_source(opts)
    params = load_params(found.params_file, found.params_where)  # a revision's models load with its params
    scorer = Scorer(found.models_dir, found.graphs_dir, params)
    model = describe_model(found.models_dir, scorer.models, scorer.threshold, found.params_file, found.origin)
    min_probability = scorer.threshold if opts.min_probability is None else opts.min_probability
    card = read_card(found.models_dir) if is_detector(found.models_dir) else None
    if card is not None:
        unseen, bands = detector_statement(card, found.models_dir), card["unseen"].get("score_bands", [])
        sample_trained = _sample_detector_warning(card, found.models_dir)
    else:
        unseen, bands = unseen_projects(found.params_file.parent / DETAILS), []
        sample_trained = _sample_trained_warning(params.data.source, found.params_file)

    counts = {"files_read": 0}
    scope = Scope()
    findings: list[Finding] = []
    unscored: dict[str, str] = {}  # the text of each queued function until it is scored (scoring trims records)
    texts: dict[str, str] = {}  # a finding's function text, by fingerprint, for its line ranking
    scored = 0
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    # the workers fork before the progress display starts its thread
    with batch_scorer(scorer, opts.workers) as score_batches, make_progress() as progress:
        task = progress.add_task("scan", total=len(sources), info="")
        for batch, rows in score_batches(_batches(sources, opts, bad, changes, counts, scope, unscored)):
            for row, (uri, name, start, end, fingerprint, key) in zip(rows, batch.meta):
                text = unscored.pop(fingerprint)
                if row["fused_probability"] >= min_probability:
                    texts[fingerprint] = text
                    p = row["fused_probability"]
                    probabilities, precision = row["probabilities"], band_for(p, bands)
                    findings.append(
                        Finding(uri, name, start, end, fingerprint, p, probabilities, key, unseen_precision=precision)
                    )
            scored += len(rows)
            rate = scored / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=batch.files_done, info=f"{scored} functions, {rate:.0f} functions/s")
        progress.update(task, completed=len(sources))
        wall = time.perf_counter() - started
        reported = top_findings(findings, opts.top)
        ranked, variants, lines_started = reported[:MAX_RESULTS], 0, time.perf_counter()
        if opts.lines and ranked:
            ranked, variants = with_lines(ranked, texts, score_batches, opts.lines, opts.batch_size)
            reported[: len(ranked)] = ranked
        lines_wall = time.perf_counter() - lines_started
    files_read = counts["files_read"]
    comparison = None
    if baseline is not None and opts.baseline is not None:
        comparison = compare(findings, baseline, scope, root, opts.paths, opts.baseline.name)  # no local path
    review = Review(comparison, triage)
    stats = {
        "files_listed": len(sources),
        "files_read": files_read,
        "functions_scored": scored,
        "findings": len(findings),
        "min_probability": min_probability,
        "top": opts.top,
        "changed_since": opts.changed_since,
        "workers": opts.workers,
        "wall_s": round(wall, 3),
        "cpu_s": round(_cpu_seconds() - cpu_started, 3),  # this process and its workers: a figure load cannot inflate
        "functions_per_s": round(scored / wall, 1) if wall > 0 else None,
        **review.summary(findings),
        "line_ranking": {
            "method": "occlusion",
            "lines_per_finding": opts.lines,
            "max_variants_per_finding": MAX_VARIANTS,
            "findings_ranked": len(ranked) if opts.lines else 0,
            "variants_scored": variants,
            "wall_s": round(lines_wall, 3),
        },
        "unseen_projects": unseen,
        **({"sample_trained": sample_trained} if sample_trained else {}),
    }
    console.print(
        f"scanned {files_read}/{len(sources)} files, {scored} functions in {wall:.1f} s "
        f"({stats['functions_per_s']} functions/s); {len(findings)} at or above {min_probability:.3f}"
        f"{_review_line(stats)}; bad files: {bad.summary()}\non unseen projects: {unseen['statement']}"
        + (f"\nwarning: {sample_trained}" if sample_trained else ""),
        highlight=False,
    )
    exit_code = 1 if opts.fail_on_findings and review.gating(findings) else 0
    if sources and not files_read:
        stats["checked_nothing"] = f"none of the {len(sources)} C/C++ files could be read ({bad.summary()})"
        exit_code = 2
    return ScanResult(reported, model, bad, stats, exit_code, review)


def _sample_trained_warning(data_source: str, params_file: Path) -> str | None:
    """What a reader of the report must know when the models learned from the bundled sample only."""
    if data_source != "sample":
        return None
    return (
        f"these models were trained on the bundled 1,600-function sample ({params_file}: data.source is 'sample'); "
        "their scores are at chance and they cannot find vulnerabilities. Train on full data (README: Full Devign "
        f"corpus), scan with a registered detector (--model), or with the detector that ships with StreamGuard "
        f"(--model-dir {SHIPPED_DIR})"
    )


def _sample_detector_warning(card: dict, folder: Path) -> str | None:
    if card["corpus"].get("kind") != "sample":
        return None
    return (
        f"the detector at {folder} was trained on the bundled sample ({card['corpus'].get('functions')} functions); "
        f"it cannot find vulnerabilities. Scan with the detector that ships with StreamGuard (--model-dir "
        f"{SHIPPED_DIR}) or train one on full data (README: the shipped detector)"
    )


def _review_line(stats: dict) -> str:
    """The closing line's part on the baseline and triage: ' (2 new, 1 updated, ...; 1 suppressed)'."""
    parts = []
    if "baseline" in stats:
        parts.append(", ".join(f"{stats['baseline'][s]} {s}" for s in ("new", "updated", "unchanged", "absent")))
    if stats.get("suppressed"):
        parts.append(f"{stats['suppressed']} suppressed by triage")
    return f" ({'; '.join(parts)})" if parts else ""


def render(result: ScanResult, output_format: str, information_uri: str | None = None) -> str:
    if output_format == "sarif":
        report = build_sarif(result.findings, result.model, result.bad, result.stats, information_uri, result.review)
    elif output_format == "json":
        report = {
            "model": result.model.to_dict(),
            "scan": result.stats,
            "bad_files": {"counts": result.bad.counts, "examples": result.bad.examples},
            "findings": [{**f.to_dict(), **result.review.to_dict(f)} for f in result.findings],
            "absent": [
                {"file": printable(b.uri), "function": printable(b.function), "fingerprint": b.fingerprint}
                for b in (result.review.comparison.absent if result.review.comparison else [])
            ],
        }
    else:
        return _table(result)
    try:
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    except ValueError:  # NaN or infinity: not JSON, and no reader of the report would accept it
        raise StreamGuardError(
            f"the report would hold a value that is not a number (NaN or infinity: a threshold or probability from "
            f"the models at {result.model.models_dir}); their files may be damaged or tampered with. Restore them "
            "(dvc pull, or dvc repro) and scan again"
        ) from None


def _table(result: ScanResult) -> str:
    shown = result.findings if result.stats.get("top") else result.findings[:TABLE_ROWS]
    table = Table(
        title=f"{len(result.findings)} findings (fused probability >= "
        f"{result.stats['min_probability']:.3f}, model {result.model.label})",
        caption=f"On unseen projects: {result.stats['unseen_projects']['statement']}"
        + (f"\nWarning: {result.stats['sample_trained']}" if result.stats.get("sample_trained") else ""),
    )
    table.add_column("location")
    table.add_column("function")
    table.add_column("fused", justify="right")
    for model in result.model.models:
        table.add_column(model, justify="right")
    measured = any(f.unseen_precision is not None for f in shown)
    if measured:
        table.add_column("precision, unseen [95% CI]", justify="right")
    review = result.review
    if review.comparison is not None:
        table.add_column("baseline")
    if review.triage is not None and review.triage.by_fingerprint:
        table.add_column("triage")
    table.add_column("lines driving the score (share)")
    for f in shown:
        extra = [_precision_cell(f.unseen_precision)] if measured else []
        extra += [review.state(f) or ""] if review.comparison is not None else []
        if review.triage is not None and review.triage.by_fingerprint:
            verdict = review.verdict(f) or review.earlier_verdict(f)
            earlier = verdict is not None and verdict is not review.verdict(f)
            extra.append(
                "" if verdict is None else verdict.verdict.replace("_", " ") + (" (earlier text)" if earlier else "")
            )
        table.add_row(
            f"{printable(f.uri)}:{f.start_line}",
            printable(f.function),
            f"{f.fused_probability:.3f}",
            *(f"{f.probabilities[m]:.3f}" for m in result.model.models),
            *extra,
            ", ".join(line.label for line in f.lines),
        )
    out = Console(width=160, record=True, file=io.StringIO())  # recorded, not shown
    out.print(table)
    return out.export_text()


def _precision_cell(u: dict[str, float] | None) -> str:
    if u is None:
        return ""
    return f"{u['precision']:.2f} [{u['precision_ci_low']:.2f}, {u['precision_ci_high']:.2f}]"


def write_report(text: str, output: str) -> None:
    """`text` to stdout (`-`) or the file `output`; characters a file name smuggled in are escaped, never fatal."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if output == "-":
        sys.stdout.write(text)
        return
    out = Path(output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StreamGuardError(
            f"-o {output}: cannot write the report there ({exc.strerror or type(exc).__name__}); "
            "give a path to a writable file"
        ) from None


def scan_command(opts: ScanOptions) -> int:
    """`streamguard scan`: scan, write the report; exit 1 for findings with --fail-on-findings, 2 if nothing was read."""
    result = run_scan(opts)
    text = render(
        result,
        opts.output_format,
        repository_url(Path(opts.registry) if opts.model or opts.rev else Path(result.model.models_dir)),
    )
    write_report(text, opts.output)
    if result.stats.get("checked_nothing"):
        raise StreamGuardError(
            f"{result.stats['checked_nothing']}: nothing was checked, so the report's silence means nothing. "
            "See the report's bad_files for each file's reason"
        )
    return result.exit_code
