"""Which model produced a scan: recorded in every report so a finding can be traced to its detector.

`version` is a content hash of the model folders the scan loaded (the fusion
and each base model it uses, every file in them), so two scans with the same
weights, vocabularies and thresholds name the same version wherever the files
came from. `git_rev` is the commit the models came from: the fetched commit
for `--rev` / `--model`, else HEAD of the repository holding the models folder
(the commit whose dvc.lock pins them). `source` says how they were chosen
(scan/model_source.py: kind, reference, artifact, registered version, stage,
commit), `params_sha256` is the hash of the params file they were loaded with.
`run_id` ("streamguard/detector@v0.1.0", else "streamguard/<version>") is the
SARIF run's automationDetails.id.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamguard.io.git import git_value, head_commit
from streamguard.io.hashing import sha256_file


@dataclass(frozen=True)
class ModelInfo:
    models_dir: str
    models: list[str]  # base models the fusion uses
    threshold: float  # the fusion's decision threshold, chosen on valid
    version: str  # 16 hex digits of the content hash
    git_rev: str | None
    params_file: str
    params_sha256: str | None
    source: dict = field(default_factory=dict)  # scan/model_source.py's origin

    @property
    def label(self) -> str:
        """The registered version when there is one (detector@v0.1.0), else the content version."""
        if self.source.get("name") and self.source.get("version"):
            return f"{self.source['name']}@{self.source['version']}"
        return self.version

    @property
    def run_id(self) -> str:
        return f"streamguard/{self.label}"

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def folders_sha256(folders: list[Path]) -> str:
    """One hash over every file's relative path and content, in a fixed order."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def describe_model(
    models_dir: Path, models: list[str], threshold: float, params_file: Path, source: dict | None = None
) -> ModelInfo:
    folders = [models_dir / "fusion", *(models_dir / m for m in models)]
    source = source or {}
    return ModelInfo(
        models_dir=str(models_dir),
        models=list(models),
        threshold=threshold,
        version=folders_sha256(folders)[:16],
        git_rev=source.get("commit") or head_commit(models_dir),
        params_file=str(params_file),
        params_sha256=sha256_file(params_file) if params_file.is_file() else None,
        source=source,
    )


def repository_url(where: Path) -> str | None:
    """The https URL of the `origin` remote of the repository holding `where` (SARIF's informationUri), if any."""
    url = git_value(where, "remote", "get-url", "origin")
    if url is None:
        return None
    if url.startswith("git@") and ":" in url:  # git@github.com:owner/repo.git
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    return url.removesuffix(".git") if url.startswith("https://") and "@" not in url else None
