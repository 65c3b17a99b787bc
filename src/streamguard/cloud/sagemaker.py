"""Run the DVC pipeline (or one `dvc exp run -S ...`) as a SageMaker training job.

`plan_job` turns options into a `JobPlan` without touching AWS: the SageMaker SDK
v3 objects (`SourceCode`, `Compute`, `StoppingCondition`, `OutputDataConfig`,
`CheckpointConfig`, `InputData`) plus what the job will run. `--dry-run` prints
`JobPlan.definition()`; `submit` uploads the source bundle and hands the same
objects to `sagemaker.train.ModelTrainer`.

Everything of one run lives under one S3 prefix, <output>/<name>/:

    source/source-<time>.tar.gz      tracked files as on disk + git history (cloud/bundle.py)
    checkpoints/                     /opt/ml/checkpoints, synced by SageMaker: training
                                     checkpoints and (by default) the DVC cache
    <job-name>/output/model.tar.gz   metrics/, dvc.lock, params.yaml, experiment.bundle, job.json
    <job-name>/input/sm_drivers/     the SDK's driver scripts (sm_train.sh runs the entry script)

Data and models go to the DVC remote (`dvc push` in the job), as on any machine.
The job runs cloud/sagemaker_entry.sh; read it for what happens inside.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamguard.cloud import nodes
from streamguard.cloud import options as opt
from streamguard.cloud.bundle import CODE_DIR, GIT_BUNDLE, MANIFEST, SourceInfo, build_source_bundle, named, source_info
from streamguard.cloud.s3 import (
    CREDENTIALS_HINT,
    CloudError,
    DvcRemote,
    dvc_remote,
    ensure_bucket,
    join_s3,
    parse_s3_uri,
    upload_file,
)
from streamguard.errors import StreamGuardError

ENTRY_SCRIPT = "cloud/sagemaker_entry.sh"
LOCK_FILE = "requirements.lock"  # what the job installs, hash-checked (the entry script's step 2)
ENTRY_COMMAND = f"bash {CODE_DIR}/{ENTRY_SCRIPT}"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
RESERVED_CHANNELS = {"code", "sm_drivers"}
ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,46}$")  # + "-YYYYmmddHHMMSS" <= 63 (job name)
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")


@dataclass
class LaunchOptions:
    role: str | None = None
    image: str | None = None
    pytorch_version: str | None = None
    instance_type: str = opt.DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    gpus_per_instance: int | None = None  # <section>.nproc_per_node of a multi-instance --stage
    volume_gb: int = opt.DEFAULT_VOLUME_GB
    spot: bool = False
    max_run_s: int = opt.parse_duration(opt.DEFAULT_MAX_RUN)
    max_wait_s: int | None = None
    region: str | None = None
    output: str | None = None
    name: str | None = None
    overrides: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    repro: bool = False
    inputs: list[str] = field(default_factory=list)
    keep_image_torch: bool = False
    checkpoint_cache: bool = True
    params_path: str = "params.yaml"
    include_untracked: bool = False  # ship new unignored files too (never ones that look like credentials)


@dataclass
class JobPlan:
    name: str
    region: str
    run_prefix: str  # s3://bucket/prefix/<name>
    bundle_uri: str
    source: SourceInfo
    remote: DvcRemote
    dvc_command: list[str]
    # keyword arguments of sagemaker.train.ModelTrainer (SDK objects)
    trainer_kwargs: dict[str, Any]
    distributed: dict[str, Any] | None = None  # several instances: how they form one torchrun group
    # SageMaker MetricDefinitions: the training loop's log lines -> console and CloudWatch curves
    metric_definitions: list[dict[str, str]] = field(default_factory=list)
    install: dict[str, Any] = field(default_factory=dict)  # what step 2 of the entry script installs

    @property
    def checkpoint_uri(self) -> str:
        return self.trainer_kwargs["checkpoint_config"].s3_uri

    def bundle_listing(self) -> dict[str, Any]:
        """What the source tarball holds: exactly the files `submit` packs (cloud/bundle.py)."""
        src = self.source
        return {
            "s3_uri": self.bundle_uri,
            "commit": src.commit,
            "dirty": src.dirty,
            "include_untracked": src.include_untracked,
            "file_count": len(src.files),
            "bytes": src.bytes,
            "files": [f"{CODE_DIR}/{f}" for f in src.files],
            "meta": [MANIFEST, *([GIT_BUNDLE] if src.commit else [])],
            "untracked_left_out": src.untracked_left_out,
            "secrets_left_out": src.secrets_left_out,
        }

    def definition(self) -> dict[str, Any]:
        """The job as JSON-ready data: ModelTrainer's arguments plus what runs inside."""
        kwargs = {k: _plain(v) for k, v in self.trainer_kwargs.items()}
        return {
            **kwargs,
            "region": self.region,
            "source_bundle": self.bundle_listing(),
            "dvc": {"remote": self.remote.name, "url": self.remote.url, "command": " ".join(self.dvc_command)},
            "install": self.install,
            "metric_definitions": self.metric_definitions,
            **({"distributed": self.distributed} if self.distributed else {}),
            "results": {
                "model_artifacts": join_s3(self.run_prefix, "<job-name>", "output", "model.tar.gz"),
                "checkpoints": self.checkpoint_uri,
            },
        }


def _plain(value: Any) -> Any:
    """SDK pydantic objects -> plain JSON data, without unset (None/Unassigned) fields."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True, warnings=False)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and type(v).__name__ != "Unassigned"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- validation ------------------------------------------------------------------


def validate_overrides(overrides: list[str], params_path: str | Path) -> dict[str, str]:
    """Check -S overrides the way `dvc exp run -S` applies them, then against the params schema.

    Returns {key: value text}. A typo fails here, before any money is spent.
    """
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    from streamguard.params import read_params_yaml

    params_path = Path(params_path)
    if not overrides:
        return {}
    result: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise StreamGuardError(f"-S {item!r}: expected key=value, e.g. -S transformer.learning_rate=0.0003")
        if ":" in key:
            raise StreamGuardError(
                f"-S {item!r}: only {params_path.name} keys are supported here, without a file prefix"
            )
        result[key.lstrip("+")] = value
    raw, _ = read_params_yaml(params_path)
    for item in overrides:
        key = item.partition("=")[0]
        if not key.startswith("+"):
            _check_key_exists(raw, key, params_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "params.yaml"
        shutil.copyfile(params_path, copy)
        try:
            apply_overrides(copy, list(overrides))
        except InvalidArgumentError as exc:
            cause = exc.__cause__
            raise StreamGuardError(f"-S {' '.join(overrides)}: {cause or exc}") from None
        _validate_params(copy, overrides)
    return result


def _check_key_exists(raw: dict, dotted: str, params_path: Path) -> None:
    node: Any = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            close = difflib.get_close_matches(part, list(node), n=1) if isinstance(node, dict) else []
            hint = f" (did you mean '{'.'.join([*parts[:i], close[0], *parts[i + 1 :]])}'?)" if close else ""
            raise StreamGuardError(f"-S {dotted}=...: no key '{dotted}' in {params_path.name}{hint}")
        node = node[part]


def _validate_params(path: Path, overrides: list[str]) -> None:
    """The overridden copy at `path` through the same reader and checks as every stage's params."""
    from streamguard.params import ParamsError, clip, load_params

    try:
        load_params(path, "params.yaml")
    except ParamsError as exc:
        raise ParamsError(f"with -S {clip(' -S '.join(overrides), 200)}: {exc}") from None


def validate_stages(stages: list[str], repo_root: Path) -> None:
    if not stages:
        return
    dvc_yaml = repo_root / "dvc.yaml"
    defined = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    names = list(defined)
    for stage in stages:
        base, at, _ = stage.partition("@")
        if base not in names:
            close = difflib.get_close_matches(base, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (stages: {', '.join(names)})"
            raise StreamGuardError(f"--stage {stage}: no such stage in {dvc_yaml}{hint}")
        if at and not {"foreach", "matrix"} & set(defined[base] or {}):
            raise StreamGuardError(f"--stage {stage}: {base} in {dvc_yaml} has no @ variants; use --stage {base}")


def _resolve_region(region: str | None) -> str:
    if not region:
        import boto3

        region = boto3.Session().region_name  # env / profile config; no network
    if not region:
        raise StreamGuardError("no AWS region: pass --region (e.g. --region us-east-1) or set AWS_DEFAULT_REGION")
    return region


def _resolve_role(role: str | None) -> str:
    role = role or os.environ.get(opt.ROLE_ENV)
    if not role:
        raise StreamGuardError(
            f"no SageMaker execution role: pass --role arn:aws:iam::<account-id>:role/<name> or set {opt.ROLE_ENV}. "
            "The role must trust sagemaker.amazonaws.com and may read/write the S3 output and DVC remote buckets"
        )
    if not ROLE_RE.match(role):
        raise StreamGuardError(f"--role {role!r} is not an IAM role ARN (arn:aws:iam::<account-id>:role/<name>)")
    return role


@dataclass(frozen=True)
class Lock:
    """What requirements.lock was resolved for: the Python version and torch's pin."""

    python: str  # "3.11"
    torch: str  # "2.13.0+cpu"

    @property
    def py_tag(self) -> str:  # "py311", as AWS image tags and the SDK's table name it
        return "py" + self.python.replace(".", "")

    @property
    def torch_version(self) -> str:  # "2.13.0"
        return self.torch.split("+", 1)[0]


def read_lock(repo_root: Path) -> Lock:
    path = repo_root / LOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StreamGuardError(f"{path}: missing; the job installs from it (regenerate it with `make lock`)") from None
    python = re.search(r"--python-version[= ](\d+\.\d+)", text[:4000])
    torch = re.search(r"^torch==(\S+)", text, re.MULTILINE)
    if not python or not torch:
        missing = "a --python-version in its header" if not python else "a torch== pin"
        raise StreamGuardError(f"{path}: has no {missing}; regenerate it with `make lock`")
    return Lock(python=python.group(1), torch=torch.group(1))


def _pytorch_versions(py_tag: str) -> list[str]:
    """AWS PyTorch training image versions with a `py_tag` image, oldest first (the SDK's bundled table)."""
    from sagemaker.core import image_uris

    versions = image_uris.config_for_framework("pytorch")["training"]["versions"]
    found = [v for v, c in versions.items() if py_tag in c.get("py_versions", [])]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))


def _resolve_image(image: str | None, pytorch_version: str | None, region: str, instance_type: str, lock: Lock) -> str:
    """The training image: --image as given (its tag's Python must be the lock's), else an AWS PyTorch
    training image on the lock's Python: --pytorch-version's, or the newest."""
    image = image or os.environ.get(opt.IMAGE_ENV)
    if image and pytorch_version:
        raise StreamGuardError("pass either --image or --pytorch-version, not both")
    versions = _pytorch_versions(lock.py_tag)
    newest = f" (e.g. --pytorch-version {versions[-1]})" if versions else ""
    if image:
        tag_py = re.search(r"[-_:](py3\d+)(?![0-9])", image)
        if tag_py and tag_py.group(1) != lock.py_tag:
            raise StreamGuardError(
                f"--image {image}: its tag says {tag_py.group(1)}, but {LOCK_FILE} is locked for Python "
                f"{lock.python}; pick a {lock.py_tag} image{newest} or relock for that Python"
            )
        return image
    if not versions:
        raise StreamGuardError(
            f"no AWS PyTorch training image on Python {lock.python} ({LOCK_FILE}'s) in this SageMaker SDK: "
            "pass --image URI"
        )
    version = pytorch_version or versions[-1]
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve(
            "pytorch",
            region=region,
            version=version,
            py_version=lock.py_tag,
            instance_type=instance_type,
            image_scope="training",
        )
    except ValueError as exc:
        raise StreamGuardError(
            f"--pytorch-version {version}: no AWS PyTorch training image on Python {lock.python}, the "
            f"{LOCK_FILE}'s ({exc}); versions with one: {', '.join(versions)}"
        ) from None


def torch_build(o: LaunchOptions) -> str:
    """SG_TORCH of the entry script: keep the image's torch, the lock's CPU wheel, or its version's CUDA build."""
    if o.keep_image_torch:
        return "image"
    return "cpu" if nodes.instance_gpus(o.instance_type) == 0 else "cuda"


def metric_definitions() -> list[dict[str, str]]:
    """A SageMaker metric definition for every curve the training loop prints (streamguard.progress)."""
    from streamguard.progress import EPOCH_METRIC_REGEXES, METRIC_REGEXES

    return [{"name": name, "regex": regex} for name, regex in {**METRIC_REGEXES, **EPOCH_METRIC_REGEXES}.items()]


def _parse_inputs(inputs: list[str]) -> dict[str, str]:
    channels: dict[str, str] = {}
    for item in inputs:
        name, sep, uri = item.partition("=")
        if not sep or not CHANNEL_RE.match(name):
            raise StreamGuardError(f"--input {item!r}: expected NAME=s3://bucket/prefix (NAME: letters, digits, .-_)")
        if name in RESERVED_CHANNELS:
            raise StreamGuardError(f"--input {item!r}: the channel name '{name}' is used by SageMaker itself")
        parse_s3_uri(uri)
        channels[name] = uri
    return channels


# --- planning ----------------------------------------------------------------------


def dvc_command(repro: bool, name: str, overrides: list[str], stages: list[str], nodes: int = 1) -> list[str]:
    if nodes > 1:  # upstream stages first, on each instance; then the one stage, forced (cloud/nodes.py)
        return (
            ["dvc", "repro", "-f", "-s", *stages] if repro else ["dvc", "exp", "run", "-n", name, "-f", "-s", *stages]
        )
    if repro:
        return ["dvc", "repro", *stages]
    cmd = ["dvc", "exp", "run", "-n", name]
    for o in overrides:
        cmd += ["-S", o]
    return cmd + list(stages)


def distribution(o: LaunchOptions, section: str) -> dict[str, Any]:
    """What the dry run shows of a multi-instance job: one torchrun group over every instance."""
    stage = o.stages[0]
    return {
        "launcher": f"torchrun, started by the stage's own command ({section}.nproc_per_node processes per instance)",
        "nnodes": o.instance_count,
        "nproc_per_node": o.gpus_per_instance
        if o.gpus_per_instance is not None
        else f"params {section}.nproc_per_node",
        "stage": stage,
        "rendezvous": {
            "master_addr": f"$SM_MASTER_ADDR ({nodes.DEFAULT_MASTER_ADDR})",
            "master_port": f"$SM_MASTER_PORT ({nodes.DEFAULT_MASTER_PORT})",
            "node_rank": "$SM_CURRENT_HOST_RANK",
            "env": [
                "MASTER_ADDR",
                "MASTER_PORT",
                "NNODES",
                "NODE_RANK",
                "PET_NNODES",
                "PET_NODE_RANK",
                "PET_MASTER_ADDR",
                "PET_MASTER_PORT",
                "NCCL_SOCKET_IFNAME",
            ],
        },
        "every_instance": f"apply -S to params.yaml, dvc repro of {stage}'s upstream stages (one node each)",
        "instance_0": f"{'dvc repro' if o.repro else 'dvc exp run'} -f -s {stage} (rank 0 writes the outputs), "
        "dvc push, results",
        "other_instances": f"{stage}'s command as torchrun workers; no push, no results",
        "written_for": list(nodes.WRITTEN_FOR),
    }


def entry_args(repro: bool, name: str, overrides: list[str], stages: list[str]) -> list[str]:
    args = ["--repro"] if repro else ["--name", name]
    for o in overrides:
        args += ["-S", o]
    return args + (["--", *stages] if stages else [])


def plan_job(o: LaunchOptions, repo_root: str | Path = ".") -> JobPlan:
    """Everything the job needs, decided locally; no AWS call."""
    repo_root = Path(repo_root)
    if not (repo_root / ENTRY_SCRIPT).is_file():
        raise StreamGuardError(f"{repo_root / ENTRY_SCRIPT}: missing; run from the repository root")
    role = _resolve_role(o.role)
    region = _resolve_region(o.region)
    section = _check_compute(o)
    lock = read_lock(repo_root)
    image = _resolve_image(o.image, o.pytorch_version, region, o.instance_type, lock)
    all_overrides, overrides = _overrides(o, repo_root, section)
    validate_stages(o.stages, repo_root)
    name = _job_name(o)
    channels = _parse_inputs(o.inputs)
    max_wait = _max_wait(o)
    remote = dvc_remote(repo_root)
    run_prefix = join_s3(_output(o, remote), name)
    source = source_info(repo_root, include_untracked=o.include_untracked)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bundle_uri = join_s3(run_prefix, "source", f"source-{stamp}.tar.gz")
    trainer_kwargs = _trainer_kwargs(
        o,
        image=image,
        role=role,
        name=name,
        args=entry_args(o.repro, name, all_overrides, o.stages),
        max_wait=max_wait,
        run_prefix=run_prefix,
        bundle_uri=bundle_uri,
        channels=channels,
        environment={
            "SG_RUN_NAME": name,
            "SG_REGION": region,
            "SG_DVC_REMOTE": remote.name,
            "SG_SOURCE_COMMIT": source.commit or "none",
            "SG_SOURCE_DIRTY": "true" if source.dirty else "false",
            "SG_CHECKPOINT_CACHE": "1" if o.checkpoint_cache else "0",
            "SG_TORCH": torch_build(o),
            "DVC_NO_ANALYTICS": "1",
        },
        hyperparameters=overrides,
    )
    return JobPlan(
        name=name,
        region=region,
        run_prefix=run_prefix,
        bundle_uri=bundle_uri,
        source=source,
        remote=remote,
        dvc_command=dvc_command(o.repro, name, all_overrides, o.stages, o.instance_count),
        trainer_kwargs=trainer_kwargs,
        distributed=distribution(o, section) if section is not None else None,
        metric_definitions=metric_definitions(),
        install=install_plan(lock, torch_build(o)),
    )


def _check_compute(o: LaunchOptions) -> str | None:
    """Instances, GPUs per instance and disk as asked; the params section of a multi-instance --stage."""
    if o.instance_count < 1:
        raise StreamGuardError(f"--instance-count {o.instance_count}: must be at least 1")
    section = None
    if o.instance_count > 1:
        if len(o.stages) != 1:
            raise StreamGuardError(
                f"--instance-count {o.instance_count}: several instances train one stage as one torchrun "
                f"group; name it with --stage (one of {', '.join(nodes.DISTRIBUTED_STAGES)}); the whole "
                "pipeline runs on one machine (--instance-count 1)"
            )
        section = nodes.params_section(o.stages[0])
    if o.gpus_per_instance is not None:
        if section is None:
            raise StreamGuardError("--gpus-per-instance goes with --instance-count > 1 and one --stage")
        if o.gpus_per_instance < 1:
            raise StreamGuardError(f"--gpus-per-instance {o.gpus_per_instance}: must be at least 1")
        gpus = nodes.instance_gpus(o.instance_type)
        if gpus is not None and o.gpus_per_instance > gpus:
            raise StreamGuardError(
                f"--gpus-per-instance {o.gpus_per_instance}: {o.instance_type} has {gpus} GPU(s) per instance; "
                + (f"give at most {gpus}, or pick " if gpus else "pick ")
                + f"an instance type with more (e.g. {', '.join(nodes.WRITTEN_FOR)})"
            )
    if o.volume_gb < 1:
        raise StreamGuardError("--volume-gb must be positive")
    return section


def _overrides(o: LaunchOptions, repo_root: Path, section: str | None) -> tuple[list[str], dict[str, str]]:
    """The job's -S overrides (with <section>.nproc_per_node from --gpus-per-instance), and them checked."""
    if o.repro and o.overrides:
        raise StreamGuardError("-S needs an experiment run (`dvc exp run`); drop --repro")
    params_path = Path(o.params_path)
    if not params_path.is_absolute():
        params_path = repo_root / params_path
    all_overrides = list(o.overrides)
    if section is not None and o.gpus_per_instance is not None:
        all_overrides.append(f"{section}.nproc_per_node={o.gpus_per_instance}")
    return all_overrides, validate_overrides(all_overrides, params_path)


def _job_name(o: LaunchOptions) -> str:
    name = o.name or time.strftime("streamguard-%Y%m%d-%H%M%S", time.gmtime())
    if not NAME_RE.match(name):
        raise StreamGuardError(f"--name {name!r}: letters, digits and single hyphens, at most 47 characters")
    return name


def _max_wait(o: LaunchOptions) -> int | None:
    """How long a spot job may wait for capacity and run, in all; None on demand."""
    if o.spot:
        max_wait = o.max_wait_s or o.max_run_s + opt.parse_duration(opt.DEFAULT_SPOT_WAIT)
        if max_wait < o.max_run_s:
            raise StreamGuardError(f"--max-wait ({max_wait}s) must be at least --max-run ({o.max_run_s}s)")
        return max_wait
    if o.max_wait_s:
        raise StreamGuardError("--max-wait only applies with --spot")
    return None


def _output(o: LaunchOptions, remote: DvcRemote) -> str:
    """Where the job's results go: --output, else next to the DVC remote on S3."""
    if o.output:
        return o.output
    if not remote.is_s3:
        raise StreamGuardError(
            f"the DVC remote '{remote.name}' ({remote.url}) is not on S3: pass --output s3://bucket/prefix"
        )
    return f"s3://{remote.bucket}/sagemaker"


def _trainer_kwargs(
    o: LaunchOptions,
    *,
    image: str,
    role: str,
    name: str,
    args: list[str],
    max_wait: int | None,
    run_prefix: str,
    bundle_uri: str,
    channels: dict[str, str],
    environment: dict[str, str],
    hyperparameters: dict[str, str],
) -> dict[str, Any]:
    """The keyword arguments of sagemaker.train.ModelTrainer: the SDK's objects."""
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
        Tag,
    )

    trainer_kwargs: dict[str, Any] = {
        "training_image": image,
        "role": role,
        "base_job_name": name,
        "source_code": SourceCode(source_dir=bundle_uri, command=ENTRY_COMMAND, ignore_patterns=None, args=args),
        "compute": Compute(
            instance_type=o.instance_type,
            instance_count=o.instance_count,
            volume_size_in_gb=o.volume_gb,
            enable_managed_spot_training=o.spot,
        ),
        "stopping_condition": StoppingCondition(max_runtime_in_seconds=o.max_run_s, max_wait_time_in_seconds=max_wait),
        "output_data_config": OutputDataConfig(s3_output_path=run_prefix, compression_type="GZIP"),
        "checkpoint_config": CheckpointConfig(
            s3_uri=join_s3(run_prefix, "checkpoints"), local_path=CHECKPOINT_LOCAL_PATH
        ),
        "input_data_config": [InputData(channel_name=k, data_source=v) for k, v in channels.items()] or None,
        "environment": environment,
        # shown in the SageMaker console; the entry script takes the same overrides as -S arguments
        "hyperparameters": hyperparameters,
        "tags": [Tag(key="project", value="streamguard"), Tag(key="streamguard-run", value=name)],
    }
    if trainer_kwargs["input_data_config"] is None:
        del trainer_kwargs["input_data_config"]
    return trainer_kwargs


def install_plan(lock: Lock, build: str) -> dict[str, Any]:
    """What the entry script's step 2 installs, for the dry run."""
    torch = {
        "cuda": f"torch=={lock.torch_version}, CUDA build from PyTorch's cu126 index (the lock hashes the CPU wheel)",
        "cpu": f"torch=={lock.torch}, hash-checked from the lock",
        "image": f"the image's own torch (the lock pins {lock.torch})",
    }[build]
    return {
        "requirements": LOCK_FILE,
        "hashes": "required (pip --require-hashes, every transitive pin)",
        "python": lock.python,
        "torch": torch,
    }


# --- submission ------------------------------------------------------------------------


def _telemetry_opted_out(config: dict | None) -> dict:
    config = json.loads(json.dumps(config or {}))
    config.setdefault("SchemaVersion", "1.0")
    modules = config.setdefault("SageMaker", {}).setdefault("PythonSDK", {}).setdefault("Modules", {})
    modules["TelemetryOptOut"] = True
    return config


class _DropCommandWarning:
    """The SDK warns that hyperparameters are not passed to a `command`; ours are only a mirror."""

    def filter(self, record: Any) -> bool:
        return "not passed as command-line arguments" not in record.getMessage()


def _quiet_command_warning() -> None:
    from sagemaker.core.utils.utils import logger

    if not any(isinstance(f, _DropCommandWarning) for f in logger.filters):
        logger.addFilter(_DropCommandWarning())


def submit(
    plan: JobPlan,
    repo_root: str | Path = ".",
    *,
    wait: bool = True,
    logs: bool = True,
    say: Callable[[str], None] = print,
) -> str:
    """Upload the source bundle and create the training job. Returns the job name."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    session = boto3.Session(region_name=plan.region)
    if session.get_credentials() is None:
        raise CloudError(f"no AWS credentials found: {CREDENTIALS_HINT}")
    out_bucket, out_prefix = parse_s3_uri(plan.run_prefix)
    if ensure_bucket(None, out_bucket, plan.region, session=session):
        say(f"created s3://{out_bucket}")
    if plan.remote.bucket is not None and plan.remote.bucket != out_bucket:
        try:
            if ensure_bucket(None, plan.remote.bucket, plan.region, session=session):
                say(f"created s3://{plan.remote.bucket} for the DVC remote '{plan.remote.name}'")
        except CloudError as exc:  # the job's role, not these credentials, is what must reach it
            say(f"warning: {exc}")
    if plan.remote.endpoint_url:
        say(
            f"note: the DVC remote '{plan.remote.name}' uses endpoint {plan.remote.endpoint_url} here; "
            f"the job uses AWS S3 ({plan.remote.url})"
        )

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_source_bundle(repo_root, Path(tmp) / "source.tar.gz", plan.source)
        upload_file(bundle.path, plan.bundle_uri, session=session)
    say(
        f"source: {len(bundle.info.files)} files ({bundle.size / 1e6:.1f} MB) at "
        f"{(bundle.info.commit or 'no commit')[:12]}{' + uncommitted changes' if bundle.info.dirty else ''} "
        f"-> {plan.bundle_uri}"
    )

    from sagemaker.core.helper.iam_role_resolver import RoleValidationError
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.utils.exceptions import FailedStatusError, SageMakerCoreError
    from sagemaker.train import ModelTrainer

    _quiet_command_warning()
    sm_session = Session(
        boto_session=session,
        default_bucket=out_bucket,
        default_bucket_prefix=out_prefix.rsplit("/", 1)[0] if "/" in out_prefix else None,
    )
    sm_session.sagemaker_config = _telemetry_opted_out(sm_session.sagemaker_config)
    trainer = None
    try:
        trainer = ModelTrainer(sagemaker_session=sm_session, **plan.trainer_kwargs)
        if plan.metric_definitions:
            from sagemaker.core.training.configs import MetricDefinition

            trainer = trainer.with_metric_definitions(
                [MetricDefinition(name=m["name"], regex=m["regex"]) for m in plan.metric_definitions]
            )
        trainer.train(wait=wait, logs=logs)
    except NoCredentialsError:
        raise CloudError(f"no AWS credentials found: {CREDENTIALS_HINT}") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise CloudError(f"SageMaker refused the job: {err.get('Code')} {err.get('Message')}") from None
    except FailedStatusError as exc:
        job = trainer._latest_training_job if trainer else None
        raise StreamGuardError(
            f"training job {job.training_job_name if job else plan.name} failed: {exc}. Logs: CloudWatch "
            f"/aws/sagemaker/TrainingJobs; checkpoints stay at {plan.checkpoint_uri} "
            f"(run again with --name {plan.name} to resume from them)"
        ) from None
    except KeyboardInterrupt:
        job = trainer._latest_training_job if trainer else None
        if job is None:
            raise StreamGuardError("interrupted before the job was created") from None
        raise StreamGuardError(
            f"stopped watching; the job {job.training_job_name} keeps running. Stop it with: "
            f"aws sagemaker stop-training-job --training-job-name {job.training_job_name} "
            f"--region {plan.region}"
        ) from None
    except BotoCoreError as exc:
        raise CloudError(f"talking to SageMaker: {exc}") from None
    except (ValueError, RoleValidationError, SageMakerCoreError) as exc:  # the SDK's checks, e.g. of the role
        raise StreamGuardError(f"SageMaker SDK: {exc}") from None
    job = trainer._latest_training_job
    return job.training_job_name if job else plan.name


# --- the CLI command --------------------------------------------------------------------


def options_from_args(args: Any) -> LaunchOptions:
    return LaunchOptions(
        role=args.role,
        image=args.image,
        pytorch_version=args.pytorch_version,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        gpus_per_instance=args.gpus_per_instance,
        volume_gb=args.volume_gb,
        spot=args.spot,
        max_run_s=args.max_run,
        max_wait_s=args.max_wait,
        region=args.region,
        output=args.output,
        name=args.name,
        overrides=list(args.overrides),
        stages=list(args.stages),
        repro=args.repro,
        inputs=list(args.inputs),
        keep_image_torch=args.keep_image_torch,
        checkpoint_cache=args.checkpoint_cache,
        params_path=args.params,
        include_untracked=args.include_untracked,
    )


def _say_what_ships(source: SourceInfo, say: Callable[[str], None]) -> None:
    say(
        f"source bundle: {len(source.files)} files ({source.bytes / 1e6:.1f} MB before compression); "
        "the dry run lists them under source_bundle.files"
    )
    if source.untracked_left_out:
        say(f"left out: {len(source.untracked_left_out)} untracked files (--include-untracked ships them)")
    if source.secrets_left_out:
        say(f"never shipped (look like credentials): {named(source.secrets_left_out, 10)}")


def _say_what_it_may_cost(plan: JobPlan, say: Callable[[str], None]) -> None:
    compute, stop = plan.trainer_kwargs["compute"], plan.trainer_kwargs["stopping_condition"]
    hours = stop.max_runtime_in_seconds / 3600 * compute.instance_count
    spot = " (spot: billed at the spot price)" if compute.enable_managed_spot_training else ""
    say(
        f"image: {plan.trainer_kwargs['training_image']} (Python {plan.install['python']}, as {LOCK_FILE}); "
        f"stops after {stop.max_runtime_in_seconds / 3600:g} h (--max-run): at most {hours:g} instance-hours of "
        f"{compute.instance_type}{spot} x its hourly price (README, 'SageMaker costs')"
    )


def run_sagemaker(args: Any, repo_root: str | Path = ".") -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.watch:
        from streamguard.cloud.watch import watch_job

        watch_job(args.watch, _resolve_region(args.region), interval_s=args.interval, say=console.print)
        return
    plan = plan_job(options_from_args(args), repo_root)
    _say_what_ships(plan.source, console.print)
    _say_what_it_may_cost(plan, console.print)
    if args.dry_run:
        print(json.dumps(plan.definition(), indent=2))
        return
    job = submit(plan, repo_root, wait=args.wait, logs=args.logs and args.wait, say=console.print)
    model = join_s3(plan.run_prefix, job, "output", "model.tar.gz")
    console.print(
        f"training job: {job}\n"
        f"  console: https://{plan.region}.console.aws.amazon.com/sagemaker/home?region={plan.region}"
        f"#/jobs/{job}\n"
        f"  results: {model} (metrics/, dvc.lock, params.yaml, experiment.bundle, job.json)\n"
        f"  fetch:   aws s3 cp {model} . && mkdir -p {job} && tar xzf model.tar.gz -C {job}\n"
        f"  apply:   cp {job}/dvc.lock {job}/params.yaml . && dvc pull   (on the commit the job ran)\n"
        f"  compare: git fetch {job}/experiment.bundle 'refs/exps/*:refs/exps/*' && dvc exp show"
    )
