"""`streamguard s3-check` against a local moto S3 server (127.0.0.1): one line per failure, saying what to run."""

from __future__ import annotations

import boto3
import pytest
from conftest import free_port, make_small_repo, set_dummy_aws

from streamguard.cli import main


def _configure(repo, **options: str) -> None:
    """The remote's options in .dvc/config.local, as `dvc remote modify --local storage KEY VALUE` writes them."""
    lines = "".join(f"    {key} = {value}\n" for key, value in options.items())
    (repo / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n{lines}")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A clone with no AWS variables at all: only what the remote's --local options say counts."""
    repo = make_small_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    set_dummy_aws(monkeypatch, None)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    return repo


def _check(capsys, *args: str) -> tuple[int, str]:
    rc = main(["s3-check", *args])
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert len(text.splitlines()) == 1, text  # one line, whatever the outcome
    return rc, text


def _s3(endpoint: str, region: str = "us-east-1"):
    """The test's own client (the check under test sees no AWS variables)."""
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )


def _keys(endpoint: str, bucket: str, region: str = "us-east-1") -> dict[str, str]:
    return {
        "url": f"s3://{bucket}/dvcstore",
        "endpointurl": endpoint,
        "region": region,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }


def test_a_missing_bucket_is_named_and_create_makes_it(repo, moto_endpoint, capsys):
    _configure(repo, **_keys(moto_endpoint, "sg-check-new"))
    rc, line = _check(capsys)
    assert rc == 2
    assert "s3://sg-check-new" in line and "no such bucket" in line and "streamguard s3-check --create" in line

    rc, line = _check(capsys, "--create")
    assert rc == 0 and line.startswith("ok:") and "bucket created" in line
    assert "the remote's keys in .dvc/config.local" in line and "is empty" in line

    _s3(moto_endpoint).put_object(Bucket="sg-check-new", Key="dvcstore/files/md5/ab/cdef", Body=b"x")
    rc, line = _check(capsys)
    assert rc == 0 and "holds data" in line and "bucket created" not in line


def test_no_credentials_says_where_to_put_them(repo, moto_endpoint, capsys):
    _s3(moto_endpoint).create_bucket(Bucket="sg-check-nocreds")
    _configure(repo, url="s3://sg-check-nocreds/dvcstore", endpointurl=moto_endpoint)
    rc, line = _check(capsys)
    assert rc == 2
    assert "no AWS credentials" in line
    assert "dvc remote modify --local storage access_key_id" in line and "AWS_PROFILE" in line


def test_a_bucket_in_another_region_names_both_and_the_fix(repo, moto_endpoint, capsys):
    _s3(moto_endpoint, "eu-west-1").create_bucket(
        Bucket="sg-check-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    _configure(repo, **_keys(moto_endpoint, "sg-check-eu", region="us-east-1"))
    rc, line = _check(capsys)
    assert rc == 2
    assert "the bucket is in eu-west-1, the remote is set to us-east-1" in line
    assert "dvc remote modify --local storage region eu-west-1" in line

    _configure(repo, **_keys(moto_endpoint, "sg-check-eu", region="eu-west-1"))
    rc, line = _check(capsys)
    assert rc == 0 and "region eu-west-1" in line


def test_an_unreachable_endpoint_is_named(repo, capsys):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _configure(repo, **_keys(dead, "sg-check-dead"))
    rc, line = _check(capsys)
    assert rc == 2
    assert f"cannot reach {dead}" in line and "is the S3 server running?" in line


def test_an_unknown_remote_name_lists_the_known_ones(repo, capsys):
    rc, line = _check(capsys, "--remote", "nope")
    assert rc == 2 and "no DVC remote named 'nope' (known: storage)" in line
