"""streamguard.cloud.s3 against a local moto S3 server (127.0.0.1, dummy credentials)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_small_repo, set_dummy_aws

from streamguard.cloud.s3 import CloudError, dvc_remote, ensure_bucket, join_s3, parse_s3_uri, upload_file

BIN = Path(sys.executable).parent


def _s3(endpoint: str, region: str = "us-east-1"):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=region)


def test_ensure_bucket_creates_it_once(moto_endpoint, monkeypatch):
    set_dummy_aws(monkeypatch, None)  # the endpoint is passed explicitly
    assert ensure_bucket(moto_endpoint, "sg-created") is True
    _s3(moto_endpoint).head_bucket(Bucket="sg-created")
    assert ensure_bucket(moto_endpoint, "sg-created") is False


def test_ensure_bucket_outside_us_east_1_sets_its_region(moto_endpoint, monkeypatch):
    set_dummy_aws(monkeypatch, None, region="eu-west-1")
    assert ensure_bucket(moto_endpoint, "sg-eu", region="eu-west-1") is True
    location = _s3(moto_endpoint, "eu-west-1").get_bucket_location(Bucket="sg-eu")["LocationConstraint"]
    assert location == "eu-west-1"


def test_upload_file_lands_at_the_key(moto_endpoint, monkeypatch, tmp_path):
    set_dummy_aws(monkeypatch, None)
    ensure_bucket(moto_endpoint, "sg-upload")
    src = tmp_path / "bundle.tar.gz"
    src.write_bytes(b"payload-\x00\x01")
    uri = upload_file(src, "s3://sg-upload/runs/r1/source/bundle.tar.gz", endpoint_url=moto_endpoint)
    assert uri == "s3://sg-upload/runs/r1/source/bundle.tar.gz"
    body = _s3(moto_endpoint).get_object(Bucket="sg-upload", Key="runs/r1/source/bundle.tar.gz")["Body"].read()
    assert body == b"payload-\x00\x01"


def test_upload_to_a_missing_bucket_says_so(moto_endpoint, monkeypatch, tmp_path):
    set_dummy_aws(monkeypatch, None)
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(CloudError, match="s3://no-such-bucket-here/k"):
        upload_file(src, "s3://no-such-bucket-here/k", endpoint_url=moto_endpoint)


def test_missing_credentials_say_what_to_set(moto_endpoint, monkeypatch):
    set_dummy_aws(monkeypatch, None)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CloudError) as info:
        ensure_bucket(moto_endpoint, "sg-nocreds")
    assert "AWS_ACCESS_KEY_ID" in str(info.value) and "AWS_PROFILE" in str(info.value)


def test_s3_uris():
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert join_s3("s3://bucket/", "x/", "/y") == "s3://bucket/x/y"
    assert join_s3("s3://bucket/p", "") == "s3://bucket/p"
    for bad in ("bucket/key", "s3://", "https://bucket/key"):
        with pytest.raises(CloudError):
            parse_s3_uri(bad)


def test_dvc_remote_comes_from_dvc_config_with_local_overrides(tmp_path):
    repo = make_small_repo(tmp_path / "repo")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    subprocess.run(
        [str(BIN / "dvc"), "remote", "modify", "--local", "storage", "endpointurl", "http://127.0.0.1:9"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(BIN / "dvc"), "remote", "add", "other", "s3://other-bucket/store"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    remote = dvc_remote(repo)
    assert (remote.name, remote.url, remote.endpoint_url) == (
        "storage",
        "s3://streamguard-ml/dvcstore",
        "http://127.0.0.1:9",
    )
    assert remote.bucket == "streamguard-ml" and remote.is_s3
    assert dvc_remote(repo, "other").url == "s3://other-bucket/store"
    with pytest.raises(CloudError, match="no DVC remote named 'nope'"):
        dvc_remote(repo, "nope")
