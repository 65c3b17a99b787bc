"""One training stage across several SageMaker instances: what each instance runs.

A job with `--instance-count N > 1` trains one neural stage (`--stage train_transformer`,
`train_gnn`, `pretrain`, `oof_transformer`, `oof_gnn`) as ONE torchrun group over
every GPU of every instance. cloud/sagemaker_entry.sh runs the same steps on each
instance, with this module's help:

1. every instance applies the -S overrides to params.yaml (DVC's own -S code) and runs
   `dvc repro` of the stage's upstream stages on its own, with one node only: those
   stages are deterministic, so every instance ends with the same data/processed and
   data/graphs (the loop checks that the ranks agree before training);
2. then, with the rendezvous variables below exported, instance 0 (the leader) runs
   `dvc exp run -f -s STAGE` (`dvc repro -f -s STAGE` with --repro) and every other
   instance runs the stage's command itself. The stage is forced, so every instance
   launches exactly once and none waits on a leader that found the stage up to date;
3. `streamguard train/oof/pretrain` launches torchrun with `<section>.nproc_per_node`
   processes; torchrun reads the node count, node rank and rendezvous address from the
   PET_* variables, so the processes of all instances form one group. Rank 0 (on the
   leader) writes the stage's outputs; the leader alone pushes and returns results.

SageMaker's own `torch_distributed` distribution (`Torchrun()` in SDK v3) starts torchrun
around a Python entry script, and the SDK ignores it when a `command` is given; this
job's entry is a bash script that runs DVC, so the entry sets the same variables the
SDK's torchrun driver derives (SM_MASTER_ADDR, SM_MASTER_PORT, SM_CURRENT_HOST_RANK,
SM_HOST_COUNT, NCCL_SOCKET_IFNAME, EFA on the instance types that have it) and the
torchrun that runs is the one `streamguard train` starts.

    python -m streamguard.cloud.nodes env                 # export lines for this host
    python -m streamguard.cloud.nodes upstream STAGE      # the stages STAGE needs, one a line
    python -m streamguard.cloud.nodes command STAGE       # STAGE's command
    python -m streamguard.cloud.nodes apply-overrides PARAMS KEY=VALUE ...
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from streamguard.errors import StreamGuardError, exit_code
from streamguard.models.registry import NEURAL_MODELS

# stages whose command launches torchrun, and the params section that sizes it
DISTRIBUTED_STAGES = {
    **{f"train_{model}": model for model in NEURAL_MODELS},
    "pretrain": "pretrain",
    **{f"oof_{model}": model for model in NEURAL_MODELS},
}
# the instance types this was written for: several GPUs each (g5: A10G, p4d: A100 + EFA, p5: H100 + EFA)
WRITTEN_FOR = ("ml.g5.12xlarge", "ml.g5.48xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge")
# as SageMaker's torchrun driver: EFA for NCCL on these, and RDMA on the p4d/p5 families
EFA_PREFIXES = ("ml.p4d.", "ml.p4de.", "ml.p5.", "ml.p5e.", "ml.p5en.", "ml.g5.48xlarge", "ml.g6.48xlarge")
RDMA_PREFIXES = ("ml.p4d.", "ml.p4de.", "ml.p5.", "ml.p5e.", "ml.p5en.")
# GPUs per instance of the SageMaker training instance types with GPUs (AWS's instance type pages);
# a type not listed here is not checked, the ml.m*/ml.c*/ml.r*/ml.t* families have none
INSTANCE_GPUS = {
    **dict.fromkeys(("ml.g4dn.xlarge", "ml.g4dn.2xlarge", "ml.g4dn.4xlarge", "ml.g4dn.8xlarge"), 1),
    "ml.g4dn.16xlarge": 1,
    "ml.g4dn.12xlarge": 4,
    **{f"ml.{family}.{size}": 1 for family in ("g5", "g6", "g6e") for size in ("xlarge", "2xlarge", "4xlarge")},
    **{f"ml.{family}.{size}": 1 for family in ("g5", "g6", "g6e") for size in ("8xlarge", "16xlarge")},
    **{f"ml.{family}.{size}": 4 for family in ("g5", "g6", "g6e") for size in ("12xlarge", "24xlarge")},
    **{f"ml.{family}.48xlarge": 8 for family in ("g5", "g6", "g6e")},
    "ml.p3.2xlarge": 1,
    "ml.p3.8xlarge": 4,
    "ml.p3.16xlarge": 8,
    "ml.p3dn.24xlarge": 8,
    "ml.p4d.24xlarge": 8,
    "ml.p4de.24xlarge": 8,
    "ml.p5.48xlarge": 8,
    "ml.p5e.48xlarge": 8,
    "ml.p5en.48xlarge": 8,
}
CPU_ONLY_PREFIXES = ("ml.m", "ml.c", "ml.r", "ml.t")
DEFAULT_MASTER_ADDR = "algo-1"  # SageMaker names hosts algo-1..algo-N; the SDK's master is the first
DEFAULT_MASTER_PORT = 7777  # SM_MASTER_PORT of the SDK's training environment


class NodesError(StreamGuardError):
    pass


def params_section(stage: str) -> str:
    """The params section of a stage that trains under torchrun, or an error naming those stages."""
    if stage not in DISTRIBUTED_STAGES:
        raise NodesError(
            f"--stage {stage}: several instances train one neural stage as one torchrun group; "
            f"pick one of {', '.join(DISTRIBUTED_STAGES)}"
        )
    return DISTRIBUTED_STAGES[stage]


def _hosts(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get("SM_HOSTS", "")
    try:
        hosts = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        raise NodesError(f"SM_HOSTS={raw!r} is not a JSON list of host names (SageMaker sets it)") from None
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise NodesError(f"SM_HOSTS={raw!r} is not a JSON list of host names (SageMaker sets it)")
    return sorted(hosts)


def rendezvous_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The torchrun variables of this host in a SageMaker job (empty for one instance).

    Both the plain names (MASTER_ADDR, MASTER_PORT, NNODES, NODE_RANK) and torchrun's
    own PET_* names, which torchrun reads as the defaults of --nnodes, --node-rank,
    --master-addr and --master-port.
    """
    hosts = _hosts(environ)
    count = int(environ.get("SM_HOST_COUNT") or len(hosts) or 1)
    if count <= 1:
        return {}
    current = environ.get("SM_CURRENT_HOST", "")
    if environ.get("SM_CURRENT_HOST_RANK", "") != "":
        rank = int(environ["SM_CURRENT_HOST_RANK"])
    elif current in hosts:
        rank = hosts.index(current)
    else:
        raise NodesError(
            f"{count} instances, but this host ({current or 'SM_CURRENT_HOST unset'}) is not among "
            f"SM_HOSTS {hosts}: cannot tell its node rank"
        )
    master = environ.get("SM_MASTER_ADDR") or (hosts[0] if hosts else DEFAULT_MASTER_ADDR)
    port = str(environ.get("SM_MASTER_PORT") or DEFAULT_MASTER_PORT)
    env = {"MASTER_ADDR": master, "MASTER_PORT": port, "NNODES": str(count), "NODE_RANK": str(rank)}
    env.update({f"PET_{key}": value for key, value in env.items()})
    env["NCCL_SOCKET_IFNAME"] = environ.get("SM_NETWORK_INTERFACE_NAME") or "eth0"
    instance_type = environ.get("SM_CURRENT_INSTANCE_TYPE", "")
    if instance_type.startswith(EFA_PREFIXES):
        env["FI_PROVIDER"] = "efa"
    if instance_type.startswith(RDMA_PREFIXES):
        env["FI_EFA_USE_DEVICE_RDMA"] = "1"
        env["RDMAV_FORK_SAFE"] = "1"
    return env


def _graph_and_stage(repo_root: Path, target: str):
    """DVC's stage graph of the repository and the node of `target` in it."""
    import difflib

    from dvc.repo import Repo

    graph = Repo(str(repo_root)).index.graph  # edges run from a stage to the stages it depends on
    # by name, as `dvc repro` takes them from the repository root (addressing is relative to the cwd)
    by_name = {s.name: s for s in graph.nodes if getattr(s, "name", None)}
    if target not in by_name:
        close = difflib.get_close_matches(target, list(by_name), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise NodesError(f"no stage {target} in {repo_root / 'dvc.yaml'}{hint}")
    return graph, by_name[target]


def upstream_stages(repo_root: Path, target: str) -> list[str]:
    """The stages `target` depends on, directly or not (`dvc repro` orders them itself)."""
    import networkx as nx

    graph, stage = _graph_and_stage(repo_root, target)
    return sorted(s.name for s in nx.descendants(graph, stage))


def stage_command(repo_root: Path, target: str) -> str:
    _, stage = _graph_and_stage(repo_root, target)
    cmd = stage.cmd
    return " && ".join(cmd) if isinstance(cmd, list) else str(cmd)


def apply_overrides(params_path: Path, overrides: list[str]) -> None:
    """-S key=value into params.yaml exactly as `dvc exp run -S` writes them."""
    if not overrides:
        return
    from dvc.utils.hydra import apply_overrides as dvc_apply

    dvc_apply(params_path, overrides)


def main(argv: list[str] | None = None) -> int:
    import os

    args = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        if args[:1] == ["env"]:
            for key, value in rendezvous_env(os.environ).items():
                print(f"export {key}={shlex.quote(value)}")
        elif args[:1] == ["upstream"] and len(args) == 2:
            print("\n".join(upstream_stages(Path.cwd(), args[1])))
        elif args[:1] == ["command"] and len(args) == 2:
            print(stage_command(Path.cwd(), args[1]))
        elif args[:1] == ["apply-overrides"] and len(args) >= 2:
            apply_overrides(Path(args[1]), args[2:])
        elif args[:1] == ["section"] and len(args) == 2:
            print(params_section(args[1]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
        return 0

    return exit_code(run)


def instance_gpus(instance_type: str) -> int | None:
    """GPUs of one instance of `instance_type`: 0 for CPU families, None for a type this table does not know."""
    if instance_type in INSTANCE_GPUS:
        return INSTANCE_GPUS[instance_type]
    return 0 if instance_type.startswith(CPU_ONLY_PREFIXES) else None


if __name__ == "__main__":
    sys.exit(main())
