"""The unlabelled C corpus the `pretrain` stage learns from, built by streaming.

Sources (`pretrain.sources`): local folders, tar archives (read member by
member, never unpacked to disk), git repositories or bundles (the files of
HEAD, read through `git cat-file --batch`), or `hf:DATASET_ID` (a Hugging
Face dataset, streamed). An empty list means the training split's own
functions (their texts only: no label is read).

Functions are cut with the project's one extractor (streamguard.c.functions)
and written one JSON line each to the corpus file as they come, so memory
holds only the 20-hex duplicate keys (records.duplicate_key): one per kept
function plus one per valid/test function. Every drop is counted by reason:

- `leak_valid_test`: the whitespace-normalised text equals a valid or test
  function of data/processed (the split's own duplicate rule), so pretraining
  never sees an evaluation function;
- `duplicate`: the same normalised text was kept before;
- `too_short` / `too_long`: outside pretrain.min_chars..max_chars;
- `not_sampled`: outside pretrain.sample_fraction (by text hash, so the same text is
  always in or out, whichever file holds it);
- files larger than pretrain.max_file_bytes (generated tables) are skipped and counted
  (`file_too_large`), as are named pipes and devices in a folder (`not_regular_file`) and
  files that are not text (`binary_file`: a NUL byte, or more than NOT_TEXT_SHARE of the
  bytes not UTF-8; a Latin-1 comment here and there is still C).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamguard.c.functions import extract_functions
from streamguard.data.git_bundle import cloned_bundle
from streamguard.data.records import duplicate_key, read_split
from streamguard.errors import StreamGuardError
from streamguard.io.atomic import atomic_path
from streamguard.io.git import GitError, git_text
from streamguard.io.input_files import NotRegularFile, read_regular_file
from streamguard.io.jsonl import iter_json_lines
from streamguard.params import PretrainParams, shorten
from streamguard.progress import make_progress

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
HF_PREFIX = "hf:"
TRAIN_SPLIT = "train split"  # the source name of the default corpus
NOT_TEXT_SHARE = 0.01  # more bytes than this share outside UTF-8 (or any NUL byte): the file is not source code
FILE_DROPS = ("file_too_large", "not_regular_file", "binary_file")  # counted per file, not per function


class PretrainSourceError(StreamGuardError):
    """A pretrain source that is missing, unreadable or of an unknown kind."""


@dataclass
class CorpusReport:
    corpus_file: str
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    files_read: int = 0
    functions_seen: int = 0
    functions: int = 0
    drops: Counter = field(default_factory=Counter)
    held_out_texts: int = 0  # distinct normalised valid/test texts the leakage rule checks against
    stopped_at_max_functions: bool = False
    sha256: str = ""
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["drops"] = dict(sorted(self.drops.items()))
        out["functions_per_s"] = round(self.functions_seen / self.seconds, 1) if self.seconds else None
        return out


def held_out_keys(processed_dir: Path) -> set[str]:
    """Duplicate keys of every valid and test function: pretraining must never see them."""
    keys: set[str] = set()
    for split in ("valid", "test"):
        keys.update(r.dup_key for r in read_split(processed_dir, split))
    return keys


def source_kind(source: str) -> str:
    """folder | git | bundle | tar | hf, or a PretrainSourceError naming the source."""
    if source.startswith(HF_PREFIX):
        return "hf"
    path = Path(source)
    if not path.exists():
        raise PretrainSourceError(
            f"pretrain.sources: {shorten(source)} does not exist; give a folder, a tar archive, "
            "a git repository or bundle, or hf:DATASET_ID"
        )
    if path.is_dir():
        bare_repo = (path / "HEAD").is_file() and (path / "objects").is_dir()
        return "git" if (path / ".git").exists() or bare_repo else "folder"
    if path.name.endswith(TAR_SUFFIXES):
        return "tar"
    if path.suffix == ".bundle":
        return "bundle"
    raise PretrainSourceError(
        f"pretrain.sources: {shorten(source)} is a file of an unknown kind; expected a folder, "
        f"an archive ({', '.join(TAR_SUFFIXES)}), a .bundle or a git repository"
    )


def _wanted(name: str, extensions: list[str]) -> bool:
    return name.endswith(tuple(extensions))


def _folder_files(root: Path, cfg: PretrainParams, skipped: Counter) -> Iterator[tuple[str, bytes]]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()  # a stable order: the same corpus from the same tree
        for name in sorted(files):
            path = Path(folder) / name
            if not _wanted(name, cfg.extensions):
                continue
            try:
                data = read_regular_file(path, cfg.max_file_bytes)
            except NotRegularFile:
                skipped["not_regular_file"] += 1
                continue
            if len(data) > cfg.max_file_bytes:
                skipped["file_too_large"] += 1
                continue
            yield str(path.relative_to(root)), data


def _tar_files(archive: Path, cfg: PretrainParams, skipped: Counter) -> Iterator[tuple[str, bytes]]:
    try:
        # "r|*": a stream, member by member, whatever the compression; nothing is unpacked to disk
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if not member.isfile() or not _wanted(member.name, cfg.extensions):
                    continue
                if member.size > cfg.max_file_bytes:
                    skipped["file_too_large"] += 1
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PretrainSourceError(f"pretrain.sources: {archive} is not a readable tar archive: {exc}") from None


def _git_files(repo: Path, cfg: PretrainParams, skipped: Counter) -> Iterator[tuple[str, bytes]]:
    """The wanted files of HEAD, streamed through one `git cat-file --batch` process."""
    try:
        listing = git_text(repo, "ls-tree", "-r", "-z", "--long", "HEAD")
    except GitError as exc:
        raise PretrainSourceError(f"pretrain.sources: {shorten(str(exc), 300)}") from None
    blobs = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        _mode, kind, sha, size = meta.split()
        if kind != "blob" or not _wanted(path, cfg.extensions):
            continue
        if int(size) > cfg.max_file_bytes:
            skipped["file_too_large"] += 1
            continue
        blobs.append((sha, path))
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for sha, path in blobs:
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3:
                raise PretrainSourceError(f"pretrain.sources: git cat-file gave no object for {path} in {repo}")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield path, data
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()


@contextmanager
def _bundle_repo(bundle: Path) -> Iterator[Path]:
    """A bare clone of the bundle in a temporary folder (git objects only; no files are checked out)."""
    try:
        with cloned_bundle(bundle, "pretrain.sources") as repo:
            yield repo
    except PretrainSourceError:
        raise
    except StreamGuardError as exc:
        raise PretrainSourceError(str(exc)) from None


def _hf_texts(dataset_id: str, text_field: str) -> Iterator[tuple[str, bytes]]:
    """Each row of a hub dataset (streamed) as one 'file' of C text."""
    try:
        from datasets import load_dataset

        rows = load_dataset(dataset_id, split="train", streaming=True)
        for i, row in enumerate(rows):
            if text_field not in row:
                raise PretrainSourceError(
                    f"pretrain.sources: hf:{dataset_id} has no column '{text_field}' "
                    f"(it has {shorten(sorted(row))}); set pretrain.hf_text_field"
                )
            yield f"row {i}", str(row[text_field]).encode("utf-8", "replace")
    except PretrainSourceError:
        raise
    except Exception as exc:  # the hub client raises many kinds (offline, no such dataset, ...)
        raise PretrainSourceError(
            f"pretrain.sources: hf:{dataset_id} could not be read: {shorten(str(exc), 200)}"
        ) from None


@contextmanager
def source_files(source: str, cfg: PretrainParams, skipped: Counter) -> Iterator[Iterator[tuple[str, bytes]]]:
    """(name, bytes) of every wanted file of one source, streamed."""
    kind = source_kind(source)
    if kind == "hf":
        yield _hf_texts(source[len(HF_PREFIX) :], cfg.hf_text_field)
    elif kind == "folder":
        yield _folder_files(Path(source), cfg, skipped)
    elif kind == "tar":
        yield _tar_files(Path(source), cfg, skipped)
    elif kind == "git":
        yield _git_files(Path(source), cfg, skipped)
    else:
        with _bundle_repo(Path(source)) as repo:
            yield _git_files(repo, cfg, skipped)


def build_corpus(cfg: PretrainParams, processed_dir: Path, corpus_file: Path) -> CorpusReport:
    """Stream every source's functions into `corpus_file` (JSONL: text, source, path, key); return the report."""
    started = time.time()
    report = CorpusReport(corpus_file=str(corpus_file))
    held_out = held_out_keys(processed_dir)
    report.held_out_texts = len(held_out)
    seen: set[str] = set()
    digest = hashlib.sha256()
    with atomic_path(corpus_file) as partial, partial.open("wb") as out, make_progress() as progress:
        bar = progress.add_task("corpus", total=cfg.max_functions or None, info="")
        for source in cfg.sources or [TRAIN_SPLIT]:
            per_source: Counter = Counter()
            report.sources[source] = per_source
            with _functions_of(source, cfg, processed_dir, per_source) as functions:
                for path, text in functions:
                    report.functions_seen += 1
                    reason = _drop_reason(text, cfg)
                    key = duplicate_key(text)
                    if reason is None and not in_sample(key, cfg.sample_fraction):
                        reason = "not_sampled"
                    if reason is None and key in held_out:
                        reason = "leak_valid_test"
                    if reason is None and key in seen:
                        reason = "duplicate"
                    if reason is not None:
                        report.drops[reason] += 1
                        continue
                    seen.add(key)
                    line = json.dumps({"text": text, "source": source, "path": path, "key": key}) + "\n"
                    data = line.encode("utf-8")
                    out.write(data)
                    digest.update(data)
                    report.bytes += len(data)
                    report.functions += 1
                    per_source["functions"] += 1
                    progress.update(bar, advance=1, info=f"{report.files_read} files")
                    if cfg.max_functions and report.functions >= cfg.max_functions:
                        report.stopped_at_max_functions = True
                        break
            report.files_read += per_source["files"]
            report.drops.update({k: v for k, v in per_source.items() if k in FILE_DROPS})
            if report.stopped_at_max_functions:
                break
    report.sources = {name: dict(counts) for name, counts in report.sources.items()}
    report.sha256 = digest.hexdigest()
    report.seconds = round(time.time() - started, 2)
    return report


@contextmanager
def _functions_of(
    source: str, cfg: PretrainParams, processed_dir: Path, counts: Counter
) -> Iterator[Iterator[tuple[str, str]]]:
    """(where, text) of every function one source holds."""
    if source == TRAIN_SPLIT:
        counts["kind:train_split"] = 1
        yield ((rec.id, rec.func) for rec in read_split(processed_dir, "train"))
        return
    counts[f"kind:{source_kind(source)}"] = 1
    with source_files(source, cfg, counts) as files:

        def cut() -> Iterator[tuple[str, str]]:
            for name, data in files:
                counts["files"] += 1
                if not looks_like_text(data):
                    counts["binary_file"] += 1
                    continue
                for fn in extract_functions(data):
                    yield f"{name}:{fn.start_line}", fn.text

        yield cut()


def looks_like_text(data: bytes) -> bool:
    """No NUL byte, and at most NOT_TEXT_SHARE of the bytes outside valid UTF-8."""
    if b"\0" in data:
        return False
    invalid = data.decode("utf-8", "replace").count("\ufffd") - data.decode("utf-8", "ignore").count("\ufffd")
    return invalid <= NOT_TEXT_SHARE * len(data)


def in_sample(key: str, fraction: float) -> bool:
    """Whether a duplicate key (hex) falls in the first `fraction` of the hash range."""
    return fraction >= 1.0 or int(key[:8], 16) < fraction * 0x1_0000_0000


def _drop_reason(text: str, cfg: PretrainParams) -> str | None:
    if len(text) < cfg.min_chars:
        return "too_short"
    if len(text) > cfg.max_chars:
        return "too_long"
    return None


def read_corpus(corpus_file: Path) -> Iterator[dict[str, str]]:
    for _, obj in iter_json_lines(corpus_file):
        yield obj
