"""`streamguard scan --model NAME@VERSION` / `--rev`: a registered model version fetched through DVC from an S3 remote.

A real git + DVC registry in a temp dir holds a tiny trained detector (lexical + fusion, conftest's `trained`),
declared with the project's own dvc.yaml `artifacts:` block, tagged in GTO's format and pushed to moto S3 on
127.0.0.1. Scans run from a fresh clone, which has neither the outputs nor a DVC cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, commit, git, init_repo, scan_with_trained, set_dummy_aws

from streamguard.cli import main
from streamguard.scan.model_source import PROVENANCE_FILE, parse_model_spec

BIN = Path(sys.executable).parent  # the venv running the tests holds dvc
BUCKET = "sg-registry"


def dvc(cwd: Path, *args: str) -> str:
    out = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"dvc {' '.join(args)}: {out.stderr[-2000:]}"
    return out.stdout


def _threshold(models: Path) -> float:
    return json.loads((models / "fusion" / "fusion.json").read_text())["threshold"]


@pytest.fixture
def registry(tmp_path, trained, moto_endpoint, monkeypatch):
    """A registry repo: detector@v0.1.0 (the trained models) pushed to S3, then a newer commit on main whose
    fusion threshold differs (pushed too), so a scan shows which commit's models it used."""
    import boto3

    set_dummy_aws(monkeypatch, moto_endpoint)
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    root = init_repo(tmp_path / "registry")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "storage", f"s3://{BUCKET}/store")
    dvc(root, "remote", "modify", "storage", "endpointurl", moto_endpoint)  # committed: the clone reads it
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]  # the project's own declaration
    (root / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": artifacts}))
    shutil.copy(trained["params"], root / "params.yaml")
    for model in ("lexical", "fusion"):
        shutil.copytree(trained["models"] / model, root / "models" / model)
    dvc(root, "add", "-q", "models/lexical", "models/fusion")
    commit(root, "detector trained")
    tagged = git(root, "rev-parse", "HEAD").strip()
    # GTO's formats: `gto register detector --version v0.1.0` and `gto assign detector --stage prod` write these
    git(root, "tag", "-a", "detector@v0.1.0", "-m", "Registering artifact detector version v0.1.0")
    git(root, "tag", "-a", "detector#prod#1", "-m", "Assigning stage prod to artifact detector version v0.1.0", tagged)
    dvc(root, "push", "-q")
    fusion = root / "models" / "fusion" / "fusion.json"
    summary = json.loads(fusion.read_text())
    fusion.write_text(json.dumps({**summary, "threshold": 0.999}))
    dvc(root, "add", "-q", "models/fusion")
    commit(root, "a newer, unregistered fusion")
    dvc(root, "push", "-q")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert not (clone / "models" / "lexical").exists() and not (clone / ".dvc" / "cache").exists()
    monkeypatch.setenv("STREAMGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(clone)
    return {"root": root, "clone": clone, "tagged": tagged, "head": git(root, "rev-parse", "HEAD").strip()}


@pytest.fixture
def project(tmp_path, trained):
    repo = init_repo(tmp_path / "project")
    (repo / "core.c").write_text(trained["high"][0] + "\n\n" + trained["low"][0] + "\n")
    commit(repo, "code")
    return repo


def _registry_sarif(out: Path, project: Path, *which: str) -> dict:
    assert main(["scan", *which, str(project), "--min-probability", "0", "--format", "sarif", "-o", str(out)]) == 0
    return json.loads(out.read_text())


def _results(sarif: dict) -> list[tuple]:
    return [
        (
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["partialFingerprints"],
            r["properties"]["fused_probability"],
            r["level"],
        )
        for r in sarif["runs"][0]["results"]
    ]


@pytest.mark.slow
@pytest.mark.integration
def test_registered_version_is_fetched_from_the_remote_and_named(tmp_path, trained, registry, project):
    sarif = _registry_sarif(tmp_path / "v.sarif", project, "--model", "detector@v0.1.0")
    run = sarif["runs"][0]
    assert run["automationDetails"]["id"] == "streamguard/detector@v0.1.0"
    model = run["properties"]["model"]
    assert model["label"] == "detector@v0.1.0" and model["git_rev"] == registry["tagged"]
    assert model["source"]["kind"] == "registry" and model["source"]["reference"] == "detector@v0.1.0"
    assert model["source"]["artifact"] == "detector" and model["source"]["path"] == "models"
    assert model["threshold"] == _threshold(trained["models"])  # the tagged fusion, not main's 0.999
    assert model["params_sha256"] == hashlib.sha256(trained["params"].read_bytes()).hexdigest()
    # the same findings as a scan of the workspace folder the version was made from
    workspace = tmp_path / "workspace.sarif"
    assert (
        scan_with_trained(trained, str(project), "--min-probability", "0", "--format", "sarif", "-o", str(workspace))
        == 0
    )
    local = json.loads(workspace.read_text())["runs"][0]
    assert _results(sarif) == _results({"runs": [local]}) and len(_results(sarif)) == 2
    assert local["properties"]["model"]["version"] == model["version"]  # same content hash
    assert local["properties"]["model"]["params_sha256"] == model["params_sha256"]
    # fetched from S3 (the clone has no DVC cache) into the scan cache, fusion + lexical + params only
    cached = tmp_path / "cache" / "models" / registry["tagged"]
    assert sorted(p.name for p in (cached / "models").iterdir()) == ["fusion", "lexical"]
    assert (cached / "params.yaml").read_bytes() == trained["params"].read_bytes()
    assert json.loads((cached / PROVENANCE_FILE).read_text())["artifact"] == "detector"


@pytest.mark.slow
@pytest.mark.integration
def test_stage_and_rev_resolve_to_their_commits(tmp_path, trained, registry, project):
    prod = _registry_sarif(tmp_path / "prod.sarif", project, "--model", "detector#prod")["runs"][0]
    assert prod["properties"]["model"]["git_rev"] == registry["tagged"]
    assert prod["automationDetails"]["id"] == "streamguard/detector@v0.1.0"  # the version registered there
    head = _registry_sarif(tmp_path / "head.sarif", project, "--rev", "main")["runs"][0]
    model = head["properties"]["model"]
    assert model["git_rev"] == registry["head"] and model["threshold"] == 0.999
    assert model["source"]["version"] is None and head["automationDetails"]["id"] == f"streamguard/{model['version']}"


@pytest.mark.slow
@pytest.mark.integration
def test_a_second_scan_uses_the_cache_and_a_missing_version_is_one_line(
    tmp_path,
    trained,
    registry,
    project,
    moto_endpoint,
    capsys,
):
    import boto3

    _registry_sarif(tmp_path / "a.sarif", project, "--model", "detector@v0.1.0")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])  # the remote is gone: only the cache can answer
    again = _registry_sarif(tmp_path / "b.sarif", project, "--model", "detector@v0.1.0")
    assert again["runs"][0]["automationDetails"]["id"] == "streamguard/detector@v0.1.0"
    capsys.readouterr()
    assert main(["scan", "--model", "detector@v9.9.9", str(project)]) == 2
    err = capsys.readouterr().err
    assert "detector@v9.9.9" in err and "git tag -l" in err and "Traceback" not in err
    # main's models were pushed, then deleted from the remote above, and never fetched: a one-line error
    assert main(["scan", "--rev", "main", str(project)]) == 2
    err = capsys.readouterr().err
    assert "models/fusion" in err and "dvc push" in err and "Traceback" not in err
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == [registry["tagged"]]  # no partial fetch


def test_model_specs():
    assert parse_model_spec("detector@v1.2.3").version == "v1.2.3"
    assert parse_model_spec("detector#prod").stage == "prod"
    assert parse_model_spec("detector").text == "detector"
    with pytest.raises(Exception, match="NAME@VERSION"):
        parse_model_spec("detector@")


def test_transformer_weights_load_from_safetensors_only(tmp_path, sample_records):
    """A fetched model is data from a remote: its transformer must not load a pickled pytorch_model.bin."""
    import torch

    from streamguard.models import transformer as tf
    from streamguard.params import params_from_dict

    tokenizer = tf.train_tokenizer([r.func for r in sample_records[:100]], 300, 64)
    cfg = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32, "max_length": 64}
    model = tf.build_model(tf.TransformerConfig.of(params_from_dict({"transformer": cfg}).transformer), tokenizer)
    tf.save(model, tokenizer, tmp_path)
    hf = tmp_path / "hf"
    assert tf.load(tmp_path)[1].config.hidden_size == 16  # as saved: safetensors
    torch.save(model.state_dict(), hf / "pytorch_model.bin")  # the same weights, as a pickle
    (hf / "model.safetensors").unlink()
    with pytest.raises(OSError, match="safetensors"):
        tf.load(tmp_path)
