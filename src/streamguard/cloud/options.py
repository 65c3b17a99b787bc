"""Command-line options of `streamguard sagemaker` (standard library only: cli.py imports it)."""

from __future__ import annotations

import argparse
import re

DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_VOLUME_GB = 100
# sized from measured runs (README "SageMaker costs"): the longest whole-pipeline run measured, full
# Devign with Phase 2 on a 2-core CPU, took 54 min; 2 h leaves room for the install and a slower stage
DEFAULT_MAX_RUN = "2h"
# with --spot: time to wait for spot capacity on top of --max-run
DEFAULT_SPOT_WAIT = "1h"
ROLE_ENV = "STREAMGUARD_SAGEMAKER_ROLE"
IMAGE_ENV = "STREAMGUARD_SAGEMAKER_IMAGE"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'3600', '90m', '24h', '2d' -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(text))
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration; use seconds or e.g. 90m, 24h, 2d")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", default=None, help=f"IAM execution role ARN of the job (or env {ROLE_ENV})")
    p.add_argument(
        "--image", default=None, help=f"training image URI, e.g. a PyTorch GPU training image (or env {IMAGE_ENV})"
    )
    p.add_argument(
        "--pytorch-version",
        default=None,
        help="instead of --image: the AWS PyTorch training image of this version for --region, on the Python "
        "requirements.lock is locked for (from the SageMaker SDK's bundled table, no AWS call; default: the "
        "newest such image)",
    )
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help=f"default: {DEFAULT_INSTANCE_TYPE}")
    p.add_argument(
        "--instance-count",
        type=int,
        default=1,
        help="instances; more than 1 trains one --stage (train_transformer, train_gnn, pretrain, "
        "oof_transformer, oof_gnn) as one torchrun group over all of them, e.g. on ml.g5.12xlarge "
        "or ml.p4d.24xlarge (default: 1, the whole pipeline on one machine)",
    )
    p.add_argument(
        "--gpus-per-instance",
        type=int,
        default=None,
        metavar="N",
        help="training processes per instance: sets <section>.nproc_per_node of the --stage "
        "(default: what params say; auto = one per GPU)",
    )
    p.add_argument(
        "--volume-gb",
        type=int,
        default=DEFAULT_VOLUME_GB,
        help=f"storage volume of the instance (default: {DEFAULT_VOLUME_GB})",
    )
    p.add_argument("--spot", action="store_true", help="managed spot training (resumes from checkpoints)")
    p.add_argument(
        "--max-run",
        type=parse_duration,
        default=parse_duration(DEFAULT_MAX_RUN),
        help=f"max run time: seconds or 90m/24h/2d (default: {DEFAULT_MAX_RUN})",
    )
    p.add_argument(
        "--max-wait",
        type=parse_duration,
        default=None,
        help=f"with --spot: max time including waiting for spot capacity (default: --max-run + {DEFAULT_SPOT_WAIT})",
    )
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)")
    p.add_argument(
        "--output",
        default=None,
        help="S3 prefix for the job's source, checkpoints and results (default: s3://<DVC remote bucket>/sagemaker)",
    )
    p.add_argument(
        "--name",
        default=None,
        help="run name: DVC experiment name, job name prefix and S3 folder (default: streamguard-<time>); "
        "reuse a stopped job's name to resume from its checkpoints",
    )
    p.add_argument(
        "-S",
        "--set-param",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="params override for `dvc exp run -S` (repeatable)",
    )
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        default=[],
        metavar="STAGE",
        help="run only this stage and what it needs (repeatable; default: the whole pipeline)",
    )
    p.add_argument("--repro", action="store_true", help="run `dvc repro` instead of `dvc exp run` (no -S)")
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=S3URI",
        help="extra input channel, mounted at /opt/ml/input/data/NAME (e.g. the full corpus; "
        "point data.path at it with -S)",
    )
    p.add_argument(
        "--keep-image-torch",
        action="store_true",
        help="keep the image's torch instead of installing the lock's torch version",
    )
    p.add_argument(
        "--no-checkpoint-cache",
        dest="checkpoint_cache",
        action="store_false",
        help="keep the DVC cache out of the synced checkpoint folder (a spot restart then reruns finished stages)",
    )
    p.add_argument(
        "--include-untracked",
        action="store_true",
        help="also ship new files git does not ignore (default: tracked files only); files that look "
        "like credentials (.env, .aws/, *.pem, ...) never ship",
    )
    p.add_argument("--no-wait", dest="wait", action="store_false", help="submit and return without streaming")
    p.add_argument("--no-logs", dest="logs", action="store_false", help="stream the status but not the job's logs")
    p.add_argument("--dry-run", action="store_true", help="print the job definition as JSON; no AWS calls")
    p.add_argument(
        "--watch",
        default=None,
        metavar="JOB",
        help="show training job JOB's status and latest metrics until it ends (needs only --region)",
    )
    p.add_argument(
        "--interval",
        type=parse_duration,
        default=parse_duration("60s"),
        help="with --watch: seconds between looks (default: 60)",
    )
