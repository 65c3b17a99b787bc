"""Shared fixtures: locations, and small real records from the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEVIGN_FULL = SHARED / "datasets" / "devign" / "devign.jsonl.gz"
SAMPLE = REPO / "data" / "sample" / "devign_sample.jsonl.gz"


@pytest.fixture(scope="session")
def sample_records():
    from streamguard.data.records import read_records

    return list(read_records(SAMPLE))


class GitRepo:
    """A real git repository in a temporary folder, committed to with fixed authors and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0
        path.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        import subprocess

        identity = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
        env = {"GIT_AUTHOR_DATE": f"{1_600_000_000 + 1000 * self.commits} +0000", "PATH": "/usr/bin:/bin"}
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
        done = subprocess.run(
            ["git", *identity, *args], cwd=self.path, check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for rel, text in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_text(text)
            self.git("add", rel)
        self.commits += 1
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path):
    """Factory: git_repo("name") is a fresh GitRepo under tmp_path."""
    return lambda name: GitRepo(tmp_path / name)


def needs_shared(path: Path = DEVIGN_FULL):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (no ../shared in this clone)")


# the loopback S3 server fixture, for every cloud test (imported last: test_cloud_support reads REPO from here)
from test_cloud_support import moto_endpoint  # noqa: E402, F401, I001
