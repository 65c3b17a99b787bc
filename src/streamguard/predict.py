"""`streamguard predict`: score new C functions with the trained models and the fusion.

Inputs are JSONL record files (`func` required, `target` optional) or C
source files, whose function definitions are found with tree-sitter. Each
function is trimmed exactly as `preprocess` trims training data, scored by
every base model the fusion uses, and fused (models/scorer.py). Output (`FORMATS`): one row per
function with per-model probabilities, the fused probability and `predicted`,
the model's decision (1: at or above the fusion's validated threshold, 0:
below) — a prediction, never a ground-truth label. JSONL (default), CSV, or a
table for people.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from streamguard.c.suffixes import C_SOURCE_SUFFIXES
from streamguard.data.records import Record, read_records
from streamguard.errors import StreamGuardError
from streamguard.io.input_files import read_bytes, require_file
from streamguard.models.scorer import Scorer
from streamguard.params import Params, load_params

RECORD_SUFFIXES = (".jsonl", ".jsonl.gz")
FORMATS = ("jsonl", "csv", "table")


def _inputs_help() -> str:
    return (
        f"pass C/C++ files ({' '.join(sorted(C_SOURCE_SUFFIXES))}) or JSONL record files ({' '.join(RECORD_SUFFIXES)})"
    )


def functions_from_inputs(paths: list[Path]) -> list[Record]:
    from streamguard.c.functions import extract_functions

    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise StreamGuardError(f"{path}: no such file; {_inputs_help()}")
        if path.is_dir():
            raise StreamGuardError(f"{path} is a directory; {_inputs_help()}")
        if path.suffix not in C_SOURCE_SUFFIXES and not path.name.endswith(RECORD_SUFFIXES):
            raise StreamGuardError(f"{path}: unsupported extension {path.suffix or '(none)'!r}; {_inputs_help()}")
        if path.suffix in C_SOURCE_SUFFIXES:
            for fn in extract_functions(read_bytes(require_file(path))):
                records.append(
                    Record(
                        func=fn.text,
                        target=0,
                        project=path.stem,
                        source="predict",
                        origin=f"{path}:{fn.start_line}:{fn.name}",
                    )
                )
        else:
            records.extend(read_records(path, defaults={"target": 0, "source": "predict"}))
    if not records:
        raise StreamGuardError(f"no functions found in {', '.join(map(str, paths))}")
    return records


def score_records(records: list[Record], models_dir: Path, graphs_dir: Path, params: Params) -> list[dict]:
    return Scorer(models_dir, graphs_dir, params).score(records)


def format_rows(rows: list[dict], fmt: str) -> str:
    """Scored rows as JSONL, CSV (one column per model's probability) or a plain-text table."""
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows)
    models = list(rows[0]["probabilities"]) if rows else []
    header = ["id", "origin", "fused_probability", "predicted", "threshold", *models]
    table = [
        [
            r["id"],
            r["origin"] or "",
            f"{r['fused_probability']:.6f}",
            str(r["predicted"]),
            f"{r['threshold']:.6f}",
            *(f"{r['probabilities'][m]:.6f}" for m in models),
        ]
        for r in rows
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)
        return buffer.getvalue()
    if fmt == "table":
        widths = [max(len(row[c]) for row in [header, *table]) for c in range(len(header))]
        return "".join(
            "  ".join(
                cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths))
            ).rstrip()
            + "\n"
            for row in [header, *table]
        )
    raise StreamGuardError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def run_predict(
    inputs: list[Path],
    models_dir: Path,
    output: Path,
    graphs_dir: Path,
    params: Params | None = None,
    fmt: str = "jsonl",
) -> list[dict]:
    params = params or load_params()
    rows = score_records(functions_from_inputs(inputs), models_dir, graphs_dir, params)
    text = format_rows(rows, fmt)
    if str(output) == "-":
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    return rows
