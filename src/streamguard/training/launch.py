"""One command stays one command: `streamguard train/oof/pretrain` starts torchrun itself.

When the params section of the model being trained asks for more than one
process (`nproc_per_node: N`, or `auto` = one per visible GPU) and this process
was not started by a launcher (no WORLD_SIZE in the environment: not inside
torchrun, not a SageMaker torch_distributed job), the command runs itself
again, the same arguments, under torchrun (`torch.distributed.run`, in this
process, as the `torchrun` script does) and returns its exit status. The DVC
stage's `cmd` stays what it was.

Multi-node: set these on every node before the same command (torchrun's own
rendezvous; every node needs the same data and code):

    NNODES        number of nodes (default 1: a single node, on a free local port)
    NODE_RANK     this node's index, 0 .. NNODES-1 (node 0 writes the outputs)
    MASTER_ADDR   address of node 0, reachable from every node
    MASTER_PORT   a free TCP port on node 0 (default 29500)

torchrun's own PET_* variables (PET_NNODES, PET_RDZV_ENDPOINT, ...) work too.
"""

from __future__ import annotations

import os
from typing import Any

from streamguard.errors import StreamGuardError
from streamguard.io.cpus import cpu_count
from streamguard.io.ranks import in_launched_group
from streamguard.models.registry import MODELS
from streamguard.params import fold_models_wanted, pretraining_wanted
from streamguard.progress import console


def processes_wanted(nproc_per_node: int | str) -> int:
    """`auto`: one process per visible GPU, 1 without one. N: refused beyond this machine's GPUs (or, without
    a GPU, its CPUs), which the N processes would share: one GPU each, or at least one core each."""
    if nproc_per_node != "auto" and int(nproc_per_node) <= 1:
        return 1  # one process needs no GPU count (and no torch import)
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if nproc_per_node == "auto":
        return max(gpus, 1)
    wanted = int(nproc_per_node)
    cpus = cpu_count()
    limit, what = (gpus, f"{gpus} GPU(s)") if gpus else (cpus, f"no GPU and {cpus} CPU core(s)")
    if wanted > max(limit, 1):
        raise StreamGuardError(
            f"nproc_per_node: {wanted} training processes asked for, but this machine has {what}; "
            f"set it to at most {max(limit, 1)}, or to auto (one per GPU)"
        )
    return wanted


def _env_positive(name: str, default: int, low: int = 1) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) < low:
        raise StreamGuardError(f"environment variable {name}={raw!r}: expected an integer >= {low} (multi-node)")
    return int(raw)


def torchrun_args(nproc: int, argv: list[str]) -> list[str]:
    """torchrun's arguments for `nproc` processes a node running `python -m streamguard.cli ARGV`."""
    nnodes = _env_positive("NNODES", 1)
    args = ["--nproc_per_node", str(nproc)]
    if nnodes == 1:
        args.append("--standalone")  # a free local port: concurrent jobs (dvc queue -j N) never collide
    else:
        node_rank = _env_positive("NODE_RANK", 0, low=0)
        if node_rank >= nnodes:
            raise StreamGuardError(f"NODE_RANK={node_rank} but NNODES={nnodes}; node ranks are 0..{nnodes - 1}")
        if not os.environ.get("MASTER_ADDR"):
            raise StreamGuardError(f"NNODES={nnodes} needs MASTER_ADDR (the address of node 0) on every node")
        args += ["--nnodes", str(nnodes), "--node_rank", str(node_rank), "--master_addr", os.environ["MASTER_ADDR"]]
        args += ["--master_port", str(_env_positive("MASTER_PORT", 29500))]
    return [*args, "-m", "streamguard.cli", *argv]


def relaunch_if_asked(nproc_per_node: int | str, argv: list[str]) -> int | None:
    """torchrun's exit status after running `argv` in N processes, or None: run here, as one process."""
    if in_launched_group():
        return None  # an outer launcher started us: join its process group, never launch again
    nproc = processes_wanted(nproc_per_node)
    if nproc <= 1 and _env_positive("NNODES", 1) == 1:
        return None
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = torchrun_args(nproc, argv)
    console.print(f"starting {nproc} training processes: torchrun {' '.join(args)}", highlight=False)
    try:
        run(parse_args(args))
    except ChildFailedError as exc:
        # each rank already printed its own error; the first failure's status is the command's
        rank, first = min(exc.failures.items())
        console.print(
            f"[bold red]error:[/] {len(exc.failures)} of the training processes failed "
            f"(first: rank {rank}, exit status {first.exitcode}); their messages are above",
            highlight=False,
        )
        return first.exitcode if first.exitcode > 0 else 1
    except SignalException as exc:
        # torchrun passed the signal on to every rank (they checkpoint and stop) before raising this
        console.print(f"training stopped by signal {exc.sigval}; run the same command again to resume", highlight=False)
        return 128 + int(exc.sigval)
    return 0


def relaunch_stage(command: str, model: str, params: Any, argv: list[str]) -> int | None:
    """`streamguard train/oof MODEL` or `pretrain` under torchrun when its section asks for N > 1 processes."""
    section = "pretrain" if command == "pretrain" else model
    if section != "pretrain" and not MODELS[model].neural:
        return None  # a model the torch loop does not train runs in one process
    if section == "pretrain" and not pretraining_wanted(params):
        return None  # the stage only writes its "skipped" marker
    if command == "oof" and not fold_models_wanted(params):
        return None  # no fold model: the stage only writes its "skipped" marker
    return relaunch_if_asked(getattr(params, section).nproc_per_node, argv)
