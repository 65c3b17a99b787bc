"""`streamguard compare A B`: paired tests between two revisions' test predictions.

Reads metrics/test_predictions.csv (written by the evaluate stage) at two
revisions through `dvc.api.open`, so A and B may be anything DVC resolves:
branches, tags, commits, DVC experiment names (experiments are git refs), or
"workspace" for the files on disk. Works whether the CSV is git-tracked or a
DVC output (then it comes from the local cache or the remote). A or B may also
be a folder holding test_predictions.csv (what `streamguard evaluate --metrics
DIR` wrote outside a DVC run); a folder wins over a revision of the same name.

Samples are aligned by id; per model present in both revisions it reports
accuracy and F1 on each side, the difference B - A with a paired bootstrap
CI, and McNemar's exact test on per-sample correctness. Each revision's own
predictions (its own threshold) are compared, so the prediction columns are
used directly rather than re-thresholding probabilities.

Where both revisions' CSVs carry a `pair` column, the vulnerable/fixed pairs
present in both are compared too (pairs.pair_difference): P-C, P-R,
pairwise accuracy and ties on each side, and B - A with a bootstrap CI over
pairs.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from streamguard.data.pairs import find_pairs
from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.pairs import COMPARED_PAIR_METRICS, pair_difference
from streamguard.evaluation.stats import COMPARED_METRICS, paired_comparison
from streamguard.evaluation.verdicts import METRIC_LABELS, describe_difference, level_percent
from streamguard.io.input_files import decode_utf8, read_bytes
from streamguard.models.registry import EVALUATED_MODELS
from streamguard.params import EvaluateParams, Params

PREDICTIONS_FILE = "test_predictions.csv"
PREDICTIONS_PATH = f"metrics/{PREDICTIONS_FILE}"
WORKSPACE = "workspace"  # the same word `dvc metrics diff` uses for files on disk
# a prediction column is 0/1, so thresholding it at 0.5 gives it back unchanged
_PREDICTION_THRESHOLD = 0.5


@dataclass(frozen=True)
class RevisionPredictions:
    rev: str
    target: dict[str, int]  # id -> label
    predicted: dict[str, dict[str, int]]  # model -> id -> 0/1
    prob: dict[str, dict[str, float]] | None = None  # model -> id -> P(vulnerable), when pairs are compared
    pair: dict[str, str] | None = None  # id -> pair id, from the optional `pair` column


def _read_text(rev: str, repo: str) -> tuple[str, str]:
    """The predictions CSV of `rev` (a folder or a revision) and where it came from, for error messages."""
    folder_csv = Path(rev) / PREDICTIONS_FILE
    if folder_csv.is_file():
        return decode_utf8(read_bytes(folder_csv), str(folder_csv)), str(folder_csv)
    import dvc.api
    from dvc.exceptions import DvcException

    where = f"{rev}:{PREDICTIONS_PATH}"
    try:
        with dvc.api.open(PREDICTIONS_PATH, repo=repo, rev=None if rev == WORKSPACE else rev, mode="rb") as handle:
            return decode_utf8(handle.read(), where), where
    except (DvcException, FileNotFoundError) as exc:
        if Path(rev).is_dir():
            raise EvaluationError(
                f"{rev}: a folder without {PREDICTIONS_FILE} (and not a revision of {repo}); pass a folder "
                f"`streamguard evaluate --metrics DIR` wrote, or a revision"
            ) from None
        raise EvaluationError(
            f"revision {rev!r} of {repo}: cannot read {PREDICTIONS_PATH} ({exc}). Check the revision name "
            "(branch, commit, tag or `dvc exp show` name) and that the evaluate stage ran and its "
            "outputs were committed (git) or pushed (dvc push) at that revision; or pass a folder "
            f"holding {PREDICTIONS_FILE}"
        ) from None


def parse_predictions_csv(text: str, where: str) -> RevisionPredictions:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or header[:2] != ["id", "target"]:
        raise EvaluationError(
            f"{where}: expected a header starting with 'id,target', got {header}; re-run the evaluate stage"
        )
    models = [c[: -len("_pred")] for c in header if c.endswith("_pred")]
    if not models:
        raise EvaluationError(f"{where}: no '<model>_pred' column in the header {header}; re-run the evaluate stage")
    column = {name: i for i, name in enumerate(header)}
    target: dict[str, int] = {}
    predicted: dict[str, dict[str, int]] = {m: {} for m in models}
    pairs = "pair" in column
    prob: dict[str, dict[str, float]] = {m: {} for m in models if f"{m}_prob" in column}
    pair: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise EvaluationError(f"{where}:{line}: {len(row)} cells for {len(header)} columns")
        id_ = row[0]
        if id_ in target:
            raise EvaluationError(f"{where}:{line}: id {id_!r} appears twice")
        cells = {"target": row[1], **{f"{m}_pred": row[column[f"{m}_pred"]] for m in models}}
        for name, cell in cells.items():
            if cell not in ("0", "1"):
                raise EvaluationError(f"{where}:{line}: '{name}' must be 0 or 1, got {cell!r}")
        target[id_] = int(row[1])
        for m in models:
            predicted[m][id_] = int(row[column[f"{m}_pred"]])
        for m in prob:  # checked whether or not pairs use them: a file with a bad one is not to be trusted
            prob[m][id_] = _probability(row[column[f"{m}_prob"]], f"{where}:{line}", f"{m}_prob")
        if pairs and row[column["pair"]]:
            pair[id_] = row[column["pair"]]
    if not target:
        raise EvaluationError(f"{where}: no rows; re-run the evaluate stage")
    if not pairs:
        return RevisionPredictions(rev=where, target=target, predicted=predicted)
    return RevisionPredictions(rev=where, target=target, predicted=predicted, prob=prob, pair=pair)


def _probability(cell: str, where: str, name: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise EvaluationError(f"{where}: '{name}' must be a probability in [0, 1], got {cell[:40]!r}")
    return value


def _ordered_models(names: set[str]) -> list[str]:
    return [m for m in EVALUATED_MODELS if m in names] + sorted(names - set(EVALUATED_MODELS))


@dataclass(frozen=True)
class Comparison:
    rev_a: str
    rev_b: str
    n: int
    only_a: int
    only_b: int
    level: float
    results: dict[str, dict[str, float]]  # model -> stats.paired_comparison keys, A = rev_b, B = rev_a
    models_only_a: list[str]
    models_only_b: list[str]
    # model -> pairs.pair_difference keys (A = rev_a, B = rev_b), over pairs in both revisions
    pair_results: dict[str, dict[str, float]] | None = None


def compare_revisions(
    a: RevisionPredictions, b: RevisionPredictions, settings: EvaluateParams, rev_a: str, rev_b: str
) -> Comparison:
    shared = sorted(set(a.target) & set(b.target))
    if not shared:
        raise EvaluationError(
            f"{rev_a} and {rev_b} share no test function id; their test splits differ entirely, "
            "so a paired comparison is impossible (compare metrics with `dvc metrics diff` instead)"
        )
    differing = [i for i in shared if a.target[i] != b.target[i]]
    if differing:
        raise EvaluationError(
            f"{rev_a} and {rev_b} disagree on the label of {len(differing)} shared test function(s), e.g. "
            f"{differing[0]!r}; the data changed between them, so a paired comparison is meaningless"
        )
    y = np.array([a.target[i] for i in shared], dtype=np.int8)
    results = {}
    for model in _ordered_models(set(a.predicted) & set(b.predicted)):
        pred_a = np.array([a.predicted[model][i] for i in shared], dtype=float)
        pred_b = np.array([b.predicted[model][i] for i in shared], dtype=float)
        # first argument is B: differences read "B - A", McNemar b counts "only B right"
        results[model] = paired_comparison(
            y,
            pred_b,
            _PREDICTION_THRESHOLD,
            pred_a,
            _PREDICTION_THRESHOLD,
            settings.bootstrap_resamples,
            settings.confidence_level,
            settings.seed,
        )
    return Comparison(
        pair_results=_compare_pairs(a, b, shared, results, settings),
        rev_a=rev_a,
        rev_b=rev_b,
        n=len(shared),
        only_a=len(a.target) - len(shared),
        only_b=len(b.target) - len(shared),
        level=settings.confidence_level,
        results=results,
        models_only_a=_ordered_models(set(a.predicted) - set(b.predicted)),
        models_only_b=_ordered_models(set(b.predicted) - set(a.predicted)),
    )


def _compare_pairs(
    a: RevisionPredictions, b: RevisionPredictions, shared: list[str], models: dict, settings: EvaluateParams
) -> dict[str, dict[str, float]] | None:
    """Pair metrics of each model in both revisions, over the pairs both revisions hold whole."""
    if a.pair is None or b.pair is None or a.prob is None or b.prob is None:
        return None
    same_pair = [i if a.pair.get(i) == b.pair.get(i) else None for i in shared]
    y = np.array([a.target[i] for i in shared], dtype=np.int8)
    pairs = find_pairs([a.pair[i] if i and i in a.pair else None for i in same_pair], y)
    if len(pairs) < 2:
        return None
    results = {}
    for model in models:
        if model not in a.prob or model not in b.prob:
            continue
        sides = []
        for rev in (a, b):
            assert rev.prob is not None  # checked above for both revisions
            prob = np.array([rev.prob[model][i] for i in shared])
            pred = np.array([rev.predicted[model][i] for i in shared], dtype=float)
            sides.append((prob, pred))
        results[model] = pair_difference(
            sides[0],
            sides[1],
            pairs,
            settings.bootstrap_resamples,
            settings.confidence_level,
            settings.seed,
        )
    return results


def _diff_cell(values: dict[str, float], metric: str) -> str:
    diff, low, high = (values[f"{metric}_diff{s}"] for s in ("", "_ci_low", "_ci_high"))
    if not math.isfinite(diff):
        return "undefined"
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def _value(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "undefined"


def _rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    pct = level_percent(comparison.level)
    header = ["model"]
    for metric in COMPARED_METRICS:
        label = METRIC_LABELS[metric]
        header += [f"{label} A", f"{label} B", f"Δ {label} (B − A) [{pct} CI]"]
    header += ["only B right / only A right", "McNemar p"]
    rows = []
    for model, values in comparison.results.items():
        row = [model]
        for metric in COMPARED_METRICS:
            # paired_comparison's "a" is revision B (see compare_revisions)
            row += [_value(values[f"{metric}_b"]), _value(values[f"{metric}_a"]), _diff_cell(values, metric)]
        row += [f"{values['mcnemar_b']} / {values['mcnemar_c']}", f"{values['mcnemar_p']:.3g}"]
        rows.append(row)
    return header, rows


def _pair_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    pct = level_percent(comparison.level)
    header = ["model (pairs)"]
    for metric in COMPARED_PAIR_METRICS:
        header += [f"{metric} A", f"{metric} B", f"Δ {metric} (B − A) [{pct} CI]"]
    rows = []
    for model, values in (comparison.pair_results or {}).items():
        row = [f"{model} ({values['n_pairs']:.0f})"]
        for metric in COMPARED_PAIR_METRICS:
            row += [_value(values[f"{metric}_a"]), _value(values[f"{metric}_b"]), _diff_cell(values, metric)]
        rows.append(row)
    return header, rows


def _notes(comparison: Comparison) -> list[str]:
    notes = [f"A = {comparison.rev_a}, B = {comparison.rev_b}; {comparison.n} test functions in both."]
    if comparison.only_a or comparison.only_b:
        notes.append(
            f"Left out: {comparison.only_a} test function(s) only in A and {comparison.only_b} only in B "
            "(the test splits differ; only shared functions are compared)."
        )
    if comparison.models_only_a:
        notes.append(f"Only in A, not compared: {', '.join(comparison.models_only_a)}.")
    if comparison.models_only_b:
        notes.append(f"Only in B, not compared: {', '.join(comparison.models_only_b)}.")
    if not comparison.results:
        notes.append("No model is present in both revisions: nothing to compare.")
    for model, values in comparison.results.items():
        if values["mcnemar_b"] == values["mcnemar_c"] == 0:
            notes.append(f"{model}: identical predictions in A and B.")
            continue
        for metric in COMPARED_METRICS:
            verdict = describe_difference(
                f"B ({comparison.rev_b})",
                f"A ({comparison.rev_a})",
                metric,
                values[f"{metric}_diff"],
                values[f"{metric}_diff_ci_low"],
                values[f"{metric}_diff_ci_high"],
                comparison.level,
                mcnemar_p=values["mcnemar_p"] if metric == "accuracy" else None,
            )
            notes.append(f"{model}: {verdict.sentence}")
    return notes


def render_markdown(comparison: Comparison) -> str:
    header, rows = _rows(comparison)
    lines = [
        f"### Paired tests on test predictions: `{comparison.rev_a}` (A) vs `{comparison.rev_b}` (B)",
        "",
    ]
    if rows:
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    header, rows = _pair_rows(comparison)
    if rows:
        lines += ["Vulnerable/fixed pairs in both revisions (p_c both right, p_r both wrong):", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += [f"- {note}" for note in _notes(comparison)]
    return "\n".join(lines) + "\n"


def render_table(comparison: Comparison, console: Console) -> None:
    header, rows = _rows(comparison)
    table = Table(title=f"Paired tests on test predictions: A = {comparison.rev_a}, B = {comparison.rev_b}")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    if rows:
        console.print(table)
    header, rows = _pair_rows(comparison)
    if rows:
        table = Table(title="Vulnerable/fixed pairs in both revisions (p_c both right, p_r both wrong)")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for note in _notes(comparison):
        style = "bold yellow" if "does NOT" in note else None
        console.print(note, style=style, highlight=False, soft_wrap=True)


def run_compare(rev_a: str, rev_b: str, repo: str = ".", markdown: bool = False, params: Params | None = None) -> str:
    """Print and return the paired comparison of rev_a (A) and rev_b (B) (Markdown if `markdown`)."""
    settings = params.evaluate if params is not None else EvaluateParams()
    a = parse_predictions_csv(*_read_text(rev_a, repo))
    b = parse_predictions_csv(*_read_text(rev_b, repo))
    comparison = compare_revisions(a, b, settings, rev_a, rev_b)
    if markdown:
        text = render_markdown(comparison)
        print(text, end="")
        return text
    console = Console(record=True)
    if not console.is_terminal:
        console = Console(record=True, width=160)
    render_table(comparison, console)
    return console.export_text()
