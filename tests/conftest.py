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


def needs_shared(path: Path = DEVIGN_FULL):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (no ../shared in this clone)")


# the loopback S3 server fixture, for every cloud test (imported last: test_cloud_support reads REPO from here)
from test_cloud_support import moto_endpoint  # noqa: E402, F401, I001
