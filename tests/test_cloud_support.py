"""Helpers the cloud tests share (no tests here): a small git+DVC repository, a local S3 server.

Nothing here talks to AWS: the S3/SageMaker server is moto on 127.0.0.1 and the
credentials are dummies set for the test only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

SECRET = "SECRET-DO-NOT-SHIP"
NO_FILE = "/nonexistent/streamguard-test/aws"  # no profile files (s3fs refuses /dev/null)
ROLE = "arn:aws:iam::123456789012:role/StreamGuardSageMaker"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311"  # the lock's Python
# what a small repository needs for the launcher and the entry script
SMALL_FILES = (
    "params.yaml",
    "dvc.yaml",
    "requirements.txt",
    "requirements.lock",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "cloud/sagemaker_entry.sh",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def make_small_repo(root: Path, *, dirty: bool = True) -> Path:
    """A git repository with the launcher's inputs, one commit, DVC credentials in config.local
    (must never ship), ignored files (must never ship) and, when dirty, an uncommitted change
    to NOTES.md (ships) and a new unignored file, draft.md (ships only when asked)."""
    for rel in SMALL_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    (root / "NOTES.md").write_text("committed\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "small repo")
    (root / ".dvc" / "config.local").write_text(
        f"['remote \"storage\"']\n    access_key_id = AKIATEST\n    secret_access_key = {SECRET}\n"
    )
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.py").write_text("# ignored\n")
    (root / "models").mkdir()
    (root / "models" / "weights.bin").write_bytes(b"\0" * 64)
    if dirty:
        (root / "NOTES.md").write_text("uncommitted\n")
        (root / "draft.md").write_text("new, not added to git\n")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_dummy_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str | None, region: str = "us-east-1") -> None:
    """Dummy credentials, one region, every boto3 client pointed at `endpoint`, no profile files."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", NO_FILE)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", NO_FILE)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
