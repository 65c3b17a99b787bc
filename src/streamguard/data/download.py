"""The `download` stage: bring the source named by `data.source` into data/raw.

Sources:
- sample: the bundled stratified Devign sample (offline default);
- devign: a Devign `function.json` array, or JSONL / JSONL.gz with func/target/project;
- codexglue: a folder with CodeXGLUE train/valid/test.jsonl (official split kept);
- huggingface: `datasets.load_dataset` of the CodeXGLUE defect-detection set
  (official split kept; needs the hub, so only when params ask for it).

Output: data/raw/records.jsonl (validated records) and data/raw/manifest.json
with the sha256 of every input and output file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from streamguard.data.records import Record, RecordError, parse_record, read_records, sha256_file, write_records
from streamguard.errors import StreamGuardError
from streamguard.params import Params
from streamguard.progress import console

SAMPLE_PATH = Path(__file__).resolve().parents[3] / "data" / "sample" / "devign_sample.jsonl.gz"
CODEXGLUE_SPLITS = {"train": "train", "valid": "valid", "test": "test"}


def _devign_json_array(path: Path) -> Iterator[Record]:
    """Devign's original function.json: one JSON array of objects."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not valid UTF-8 at byte {exc.start}; re-encode the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(items, list):
        raise RecordError(f"{path}: expected a JSON array of functions (Devign function.json)")
    for index, obj in enumerate(items):
        yield parse_record(obj, f"{path}[{index}]", defaults={"source": "devign"})


def read_devign(path: Path) -> Iterator[Record]:
    if not path.exists():
        raise StreamGuardError(f"data.path: {path} does not exist; point data.path at Devign's function.json or a .jsonl[.gz]")
    if path.suffix == ".json":
        yield from _devign_json_array(path)
    else:
        yield from read_records(path, defaults={"source": "devign"})


def read_codexglue(folder: Path) -> Iterator[Record]:
    """CodeXGLUE defect-detection files: one JSON object per line, with `idx`."""
    if not folder.is_dir():
        raise StreamGuardError(f"data.path: {folder} is not a folder with train.jsonl, valid.jsonl, test.jsonl")
    for split, name in CODEXGLUE_SPLITS.items():
        path = folder / f"{name}.jsonl"
        if not path.exists():
            raise StreamGuardError(f"{path}: missing; a CodeXGLUE folder needs train.jsonl, valid.jsonl and test.jsonl")
        yield from read_records(path, defaults={"source": "devign", "split": split})


def read_huggingface(dataset: str) -> Iterator[Record]:
    """The hub copy of CodeXGLUE defect detection, keeping its official split."""
    from datasets import load_dataset

    splits = {"train": "train", "validation": "valid", "test": "test"}
    ds = load_dataset(dataset)
    for hf_split, split in splits.items():
        for index, row in enumerate(ds[hf_split]):
            obj = {"func": row["func"], "target": int(row["target"]), "project": row.get("project", "unknown"),
                   "commit": row.get("commit_id"), "split": split}
            yield parse_record(obj, f"{dataset}:{hf_split}[{index}]", defaults={"source": "devign"})


def iter_source(params: Params) -> tuple[Iterator[Record], list[Path]]:
    data = params.data
    if data.source == "sample":
        return read_records(SAMPLE_PATH), [SAMPLE_PATH]
    if data.source == "devign":
        path = Path(data.path)
        return read_devign(path), [path]
    if data.source == "codexglue":
        folder = Path(data.path)
        return read_codexglue(folder), [folder / f"{n}.jsonl" for n in CODEXGLUE_SPLITS.values()]
    return read_huggingface(data.hf_dataset), []


def run_download(params: Params, out_dir: Path) -> dict:
    records_iter, inputs = iter_source(params)
    with console.status(f"reading {params.data.source} records"):
        records = list(records_iter)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "records.jsonl"
    write_records(out, records)
    manifest = {
        "source": params.data.source,
        "records": len(records),
        "inputs": {str(p): sha256_file(p) for p in inputs if p.exists()},
        "outputs": {out.name: sha256_file(out)},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    console.print(f"download: {len(records)} records from {params.data.source} -> {out}")
    return manifest
