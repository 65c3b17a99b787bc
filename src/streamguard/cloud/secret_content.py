"""Credentials inside the files the SageMaker bundle ships, found by their shape, whatever the file is called.

secret_paths.py judges names; this reads the content: AWS access key ids
(AKIA.../ASIA...), an AWS secret access key written next to its key name
(`secret_access_key = ...`, as `dvc remote modify` without `--local` leaves
it in the tracked .dvc/config), private keys in PEM form, GitHub and Slack
tokens. A hit names the file, the line and the kind, never the value.
AWS's documented example keys (ending in EXAMPLE) are not secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from streamguard.io.input_files import read_regular_file

MAX_SCANNED_BYTES = 5 * 1024 * 1024  # per file: secrets sit in small text files; the rest of a blob is not read

PATTERNS = (
    ("an AWS access key id", re.compile(rb"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    (
        "an AWS secret access key",
        re.compile(rb"(?i)\b(?:aws_)?secret_?access_?key\b[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{16,}"),
    ),
    ("a private key", re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a Slack token", re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
)
_DOCUMENTED_EXAMPLE = re.compile(rb"EXAMPLE")


@dataclass(frozen=True)
class SecretHit:
    path: str  # repository-relative
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.kind})"


def secrets_in(data: bytes, path: str) -> list[SecretHit]:
    """Each credential-shaped match in `data`, with its line; AWS's documented examples skipped."""
    hits = []
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(data):
            if _DOCUMENTED_EXAMPLE.search(m.group()):
                continue
            hits.append(SecretHit(path, data.count(b"\n", 0, m.start()) + 1, kind))
    return sorted(hits, key=lambda h: (h.line, h.kind))


def secrets_in_files(root: Path, files: list[str]) -> list[SecretHit]:
    """Credential-shaped content in the regular files among `files` (paths relative to `root`)."""
    hits = []
    for rel in files:
        path = root / rel
        if path.is_symlink():
            continue  # ships as a link, not as the content it points at
        try:
            data = read_regular_file(path, MAX_SCANNED_BYTES)
        except OSError:
            continue  # not a regular file: the bundle adds nothing readable for it
        hits.extend(secrets_in(data, rel))
    return hits
