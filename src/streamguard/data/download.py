"""Readers of the sources `data.source` names (the download stage, stages/download.py, runs them).

Sources:
- sample: the bundled stratified Devign sample (offline default);
- devign: a Devign `function.json` array, or JSONL / JSONL.gz with func/target/project;
- codexglue: a folder with CodeXGLUE train/valid/test.jsonl (official split kept);
- huggingface: `datasets.load_dataset` of the CodeXGLUE defect-detection set
  (official split kept; needs the hub, so only when params ask for it).

Every reader yields validated records; `iter_source` picks the one params name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streamguard.data.records import (
    Record,
    RecordError,
    parse_record,
    read_source_records,
    source_id,
    with_content_id,
)
from streamguard.data.split import MIN_PER_LABEL, label_counts
from streamguard.errors import StreamGuardError
from streamguard.io.input_files import decode_json, decode_utf8, read_bytes, require_file
from streamguard.params import DataParams, Params

REPO = Path(__file__).resolve().parents[3]
SAMPLE_PATH = REPO / "data" / "sample" / "devign_sample.jsonl.gz"
CODEXGLUE_SPLITS = {"train": "train", "valid": "valid", "test": "test"}


def _devign_json_array(path: Path) -> Iterator[Record]:
    """Devign's original function.json: one JSON array of objects."""
    items = decode_json(decode_utf8(read_bytes(path), str(path)), str(path), document=True)
    if not isinstance(items, list):
        raise RecordError(f"{path}: expected a JSON array of functions (Devign function.json)")
    for index, obj in enumerate(items):
        where = f"{path}[{index}]"
        yield with_content_id(parse_record(obj, where, defaults={"source": "devign"}), where, source_id(obj))


def read_devign(path: Path) -> Iterator[Record]:
    if not path.exists():
        raise StreamGuardError(
            f"data.path: {path} does not exist; point data.path at Devign's function.json or a .jsonl[.gz]"
        )
    require_file(path, "data.path")
    if path.suffix == ".json":
        yield from _devign_json_array(path)
    else:
        yield from read_source_records(path, defaults={"source": "devign"})


def read_codexglue(folder: Path) -> Iterator[Record]:
    """CodeXGLUE defect-detection files: one JSON object per line, with `idx`."""
    if not folder.is_dir():
        raise StreamGuardError(f"data.path: {folder} is not a folder with train.jsonl, valid.jsonl, test.jsonl")
    for split, name in CODEXGLUE_SPLITS.items():
        path = folder / f"{name}.jsonl"
        if not path.exists():
            raise StreamGuardError(f"{path}: missing; a CodeXGLUE folder needs train.jsonl, valid.jsonl and test.jsonl")
        require_file(path)
        yield from read_source_records(path, defaults={"source": "devign", "split": split})


def read_huggingface(dataset: str) -> Iterator[Record]:
    """The hub copy of CodeXGLUE defect detection, keeping its official split."""
    from datasets import load_dataset

    splits = {"train": "train", "validation": "valid", "test": "test"}
    ds = load_dataset(dataset)
    for hf_split, split in splits.items():
        for index, row in enumerate(ds[hf_split]):
            obj = {
                "func": row["func"],
                "target": int(row["target"]),
                "project": row.get("project", "unknown"),
                "commit": row.get("commit_id"),
                "split": split,
            }
            where = f"{dataset}:{hf_split}[{index}]"
            yield with_content_id(parse_record(obj, where, defaults={"source": "devign"}), where, row.get("idx"))


def repo_name(path: Path) -> str:
    """A path as records and manifests name it: relative to the checkout when inside it, so that
    DVC outputs hash the same in every clone; as given otherwise."""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


def iter_source(params: Params, sample: Path = SAMPLE_PATH) -> tuple[Iterator[Record], list[Path]]:
    """The records of data.source, and the input files they come from (`sample`: data.source sample's file)."""
    data = params.data
    if data.source == "sample":
        return read_source_records(sample, origin_path=repo_name(sample)), [sample]
    if data.source == "devign":
        assert data.path is not None  # DataParams requires it for this source
        path = Path(data.path)
        return read_devign(path), [path]
    if data.source == "codexglue":
        assert data.path is not None  # DataParams requires it for this source
        folder = Path(data.path)
        return read_codexglue(folder), [folder / f"{n}.jsonl" for n in CODEXGLUE_SPLITS.values()]
    return read_huggingface(data.hf_dataset), []


def describe_source(data: DataParams) -> str:
    """Where the records came from, in the words of params.yaml."""
    if data.source == "sample":
        return f"data.source=sample ({SAMPLE_PATH.relative_to(REPO)})"
    if data.source == "huggingface":
        return f"data.source=huggingface (data.hf_dataset={data.hf_dataset})"
    return f"data.path={data.path} (data.source={data.source})"


def require_both_labels(records: list[Record], data: DataParams) -> None:
    """Enough records of each label to fill train, valid and test; else an error naming the source."""
    counts = label_counts(records)
    need = MIN_PER_LABEL * len(CODEXGLUE_SPLITS)
    if min(counts.values()) < need:
        raise StreamGuardError(
            f"download: {describe_source(data)} gave {len(records)} records ({counts[1]} vulnerable, "
            f"{counts[0]} not); at least {need} of each label are needed to fill train, valid and test "
            f"({MIN_PER_LABEL} each); use a larger file with both labels"
        )
