"""The SageMaker source bundle keeps credentials home: tracked files only by default, never a
file that looks like credentials, and the dry run lists exactly what the tarball holds."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from conftest import IMAGE, ROLE, git, make_small_repo

from streamguard.cli import main
from streamguard.cloud.bundle import MANIFEST, build_source_bundle, source_info
from streamguard.cloud.secret_paths import is_secret_path
from streamguard.errors import StreamGuardError

CANARY = "CANARY-SECRET-7f3a"
# untracked files a careless user leaves in the working tree
CANARY_FILES = (
    ".env",
    ".env.production",
    ".aws/credentials",
    ".netrc",
    "credentials.json",
    "secrets.env",
    "config/prod.env",
    "deploy/id_rsa",
    "certs/server.key",
    ".git-credentials",
    ".pypirc",
)


def _plant_canaries(root: Path) -> None:
    for rel in CANARY_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"TOKEN={CANARY}\n")


def _members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture
def repo(tmp_path) -> Path:
    root = make_small_repo(tmp_path / "repo")
    _plant_canaries(root)
    return root


def test_default_bundle_ships_tracked_files_only(repo, tmp_path):
    bundle = build_source_bundle(repo, tmp_path / "source.tar.gz")
    members = _members(bundle.path)
    tracked = set(git(repo, "ls-files").split("\n")) - {""}
    assert {n for n in members if n.startswith("repo/")} == {f"repo/{f}" for f in tracked}
    assert "repo/draft.md" not in members  # untracked, not asked for
    assert members["repo/NOTES.md"] == b"uncommitted\n"  # tracked files ship as they are on disk
    assert not any(CANARY.encode() in data for data in members.values())
    assert members[MANIFEST].split(b"\0")[:-1] == [f.encode() for f in sorted(tracked)]
    assert bundle.info.untracked_left_out == ["draft.md"]
    assert bundle.info.secrets_left_out == sorted(CANARY_FILES)


def test_include_untracked_ships_new_files_but_never_secrets(repo, tmp_path):
    info = source_info(repo, include_untracked=True)
    members = _members(build_source_bundle(repo, tmp_path / "source.tar.gz", info).path)
    assert "repo/draft.md" in members
    assert not [n for n in members if n.removeprefix("repo/") in CANARY_FILES]
    assert not any(CANARY.encode() in data for data in members.values())
    assert info.secrets_left_out == sorted(CANARY_FILES)


@pytest.mark.parametrize("secret", [".env", ".aws/credentials", "credentials.json", "secrets.env", ".netrc"])
def test_a_tracked_secret_stops_the_launch(repo, secret):
    git(repo, "add", "-f", secret)  # staged is enough: the index is what ships
    with pytest.raises(StreamGuardError, match="git rm --cached") as info:
        source_info(repo)
    assert secret in str(info.value) and CANARY not in str(info.value)


def test_a_secret_left_in_the_history_stops_the_launch(repo):
    git(repo, "add", "-f", ".env")
    git(repo, "commit", "-qm", "oops")
    git(repo, "rm", "-q", "--cached", ".env")
    git(repo, "commit", "-qm", "untrack .env")  # gone from HEAD's tree, still in meta/source.bundle
    with pytest.raises(StreamGuardError, match=r"history of HEAD contains \.env.*filter-repo"):
        source_info(repo)


def test_a_tracked_template_ships(repo, tmp_path):
    (repo / ".env.example").write_text("NVD_API_KEY=\n")
    git(repo, "add", ".env.example")
    git(repo, "commit", "-qm", "document the variables")
    assert "repo/.env.example" in _members(build_source_bundle(repo, tmp_path / "source.tar.gz").path)


@pytest.mark.parametrize(
    "path, secret",
    [
        (".env", True),
        ("app/.env.local", True),
        ("prod.env", True),
        (".envrc", True),
        (".aws/config", True),
        ("home/.ssh/known_hosts", True),
        ("credentials", True),
        ("gcp/credentials.json", True),
        ("secrets.yaml", True),
        ("tls/server.pem", True),
        ("id_ed25519.pub", True),
        (".npmrc", True),
        ("x/.PYPIRC", True),
        (".env.example", False),
        ("config/secrets.sample.yaml", False),
        ("src/streamguard/cloud/secret_paths.py", False),
        ("environment.yml", False),
        ("tokenizer.json", False),
        ("keyboard.c", False),
        ("docs/aws.md", False),
        ("params.yaml", False),
    ],
)
def test_secret_paths(path, secret):
    assert is_secret_path(path) is secret


def _dry_run(capsys, *extra: str) -> tuple[dict, str]:
    assert main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run", *extra]) == 0
    out = capsys.readouterr()
    return json.loads(out.out)["source_bundle"], out.err


@pytest.mark.parametrize("include_untracked", [False, True])
def test_dry_run_lists_exactly_what_ships(repo, tmp_path, monkeypatch, capsys, include_untracked):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(repo)
    listing, err = _dry_run(capsys, *(["--include-untracked"] if include_untracked else []))
    info = source_info(repo, include_untracked=include_untracked)
    bundle = build_source_bundle(repo, tmp_path / "source.tar.gz", info)
    assert set(listing["files"]) | set(listing["meta"]) == set(_members(bundle.path))
    assert listing["file_count"] == len(listing["files"]) == len(bundle.info.files)
    assert listing["bytes"] == sum((repo / f).stat().st_size for f in bundle.info.files)
    assert ("repo/draft.md" in listing["files"]) is include_untracked
    assert listing["secrets_left_out"] == sorted(CANARY_FILES)
    assert f"source bundle: {listing['file_count']} files" in err
    assert ".aws/credentials" in err and "never shipped" in err
    assert ("--include-untracked ships them" in err) is not include_untracked


# credential-shaped values, assembled at run time so this file itself never holds one
AWS_KEY_ID = "AKIA" + "Q7RTX2MZ" * 2
AWS_SECRET = "wJalr" + "Xk9Zq/Lm+7Rt" * 3
SECRET_CONTENT = {
    "aws key id": f"aws_access_key_id = {AWS_KEY_ID}\n",
    "aws secret": f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
    "private key": "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n",
    "github token": "token: " + "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6" + "\n",
    "slack token": "SLACK=" + "xoxb-" + "123456789012-abcdefABCDEF" + "\n",
}


def test_a_secret_access_key_in_the_tracked_dvc_config_stops_the_launch(repo, monkeypatch, capsys):
    """`dvc remote modify storage secret_access_key ...` without --local writes the tracked .dvc/config."""
    config = repo / ".dvc" / "config"
    config.write_text(config.read_text() + f"    secret_access_key = {AWS_SECRET}\n")
    git(repo, "commit", "-qam", "remote credentials (a slip)")
    line = config.read_text().splitlines().index(f"    secret_access_key = {AWS_SECRET}") + 1
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(repo)
    assert main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run"]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f".dvc/config:{line} (an AWS secret access key)" in err and "dvc remote modify --local" in err
    assert AWS_SECRET not in err


@pytest.mark.parametrize("kind", sorted(SECRET_CONTENT))
@pytest.mark.parametrize("name", ["aws_keys.txt", ".env.example"])
def test_credentials_in_a_file_that_would_ship_stop_the_launch_whatever_its_name(repo, kind, name):
    (repo / name).write_text("# notes\n" + SECRET_CONTENT[kind])
    assert name not in source_info(repo).files  # untracked and not asked for: not shipped, nothing to stop
    with pytest.raises(StreamGuardError, match="credentials in files the SageMaker bundle would ship") as info:
        source_info(repo, include_untracked=True)
    assert f"{name}:2 (" in str(info.value)
    assert not any(secret in str(info.value) for secret in (AWS_KEY_ID, AWS_SECRET, "ghp_", "xoxb-", "b3BlbnNz"))


def test_aws_documented_example_keys_are_not_secrets(repo):
    (repo / "docs.md").write_text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    git(repo, "add", "docs.md")
    assert "docs.md" in source_info(repo).files
