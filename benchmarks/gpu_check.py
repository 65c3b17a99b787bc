"""The GPU check behind benchmarks/gpu.sh: CUDA, AMP, each neural branch on the full corpus, 2-process DDP.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu-HOST [--steps 300] [--data PATH] [--budget-s 450]

1. CUDA: torch and its CUDA version, every visible GPU (name, compute capability,
   memory), the driver (nvidia-smi), bf16 support;
2. AMP: the loop's own choice (`loop.amp_dtype`: bf16 where supported, else fp16
   with a GradScaler), exercised for a few steps of a small model;
3. each neural branch (transformer, gnn): benchmarks/training.py for --steps
   optimizer steps of the real loop on the full corpus (Devign from
   ../shared/datasets/devign/devign.jsonl.gz, else the bundled sample), with
   samples/s and peak GPU memory, one process each;
4. with two or more GPUs: the transformer again as 2 processes under torchrun (DDP).

Writes OUT.json and OUT.md. Where CUDA is not usable it prints "no GPU: ..." and
exits 0, writing nothing. Each step gets what is left of --budget-s; one that runs
out is recorded as timed out, and the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FULL_DEVIGN = REPO.parent / "shared" / "datasets" / "devign" / "devign.jsonl.gz"
SAMPLE = REPO / "data" / "sample" / "devign_sample.jsonl.gz"
BRANCHES = ("transformer", "gnn")
LINE = re.compile(
    r"^(?P<branch>\w+): device (?P<device>\S+), amp (?P<amp>\w+), batch (?P<batch>\d+), (?P<steps>\d+) steps, "
    r"(?P<rate>[\d.]+) samples/s, item preparation .*? (?P<prep>[\d.]+) s, peak RSS (?P<rss>\d+) MB"
    r"(?:, peak GPU memory (?P<gpu>\d+) MB)?",
    re.M,
)


def nvidia_smi() -> dict:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"available": False}
    rows = [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []
    return {"available": out.returncode == 0, "gpus": rows}


def cuda_info() -> dict:
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "nvidia_smi": nvidia_smi(),
    }
    if info["cuda_available"]:
        info["devices"] = [
            {
                "name": torch.cuda.get_device_name(i),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            }
            for i in range(torch.cuda.device_count())
        ]
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def amp_check(steps: int = 20) -> dict:
    """A few optimizer steps of a small MLP under the loop's AMP dtype (and scaler for fp16)."""
    import torch

    from streamguard.training.loop import amp_dtype

    device = torch.device("cuda")
    dtype = amp_dtype(device, True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    x = torch.randn(512, 256, device=device)
    y = (x[:, 0] > 0).long()
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        losses.append(float(loss))
    return {
        "dtype": str(dtype).replace("torch.", ""),
        "autocast_output_dtype": str(logits.dtype).replace("torch.", ""),
        "grad_scaler": scaler is not None,
        "scale": scaler.get_scale() if scaler else None,
        "steps": steps,
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "finite": all(map(lambda v: v == v and abs(v) != float("inf"), losses)),
        "loss_fell": losses[-1] < losses[0],
    }


def run_training(cmd: list[str], timeout_s: float) -> dict:
    """benchmarks/training.py (or torchrun of it): its figures, or why there are none."""
    if timeout_s < 20:
        return {"status": "skipped", "reason": "no time left in the budget"}
    started = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-1500:]
        return {
            "status": "timed out",
            "after_s": round(timeout_s),
            "log_tail": tail.decode(errors="replace") if isinstance(tail, bytes) else tail,
        }
    wall = round(time.time() - started, 1)
    match = LINE.search(proc.stdout)
    if proc.returncode != 0 or not match:
        return {
            "status": "failed",
            "exit": proc.returncode,
            "wall_s": wall,
            "log_tail": (proc.stdout + proc.stderr)[-2000:],
        }
    corpus = re.search(r"^corpus: (\d+) functions", proc.stdout, re.M)
    return {
        "status": "ok",
        "wall_s": wall,
        "corpus_functions": int(corpus.group(1)) if corpus else None,
        "device": match["device"],
        "amp": match["amp"] == "True",
        "batch": int(match["batch"]),
        "steps": int(match["steps"]),
        "samples_per_s": float(match["rate"]),
        "item_preparation_s": float(match["prep"]),
        "peak_rss_mb": int(match["rss"]),
        "peak_gpu_mb": int(match["gpu"]) if match["gpu"] else None,
    }


def write_report(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    info, amp = result["cuda"], result["amp"]
    devices = ", ".join(f"{d['name']} (sm {d['capability']}, {d['memory_gib']} GiB)" for d in info["devices"])
    lines = [
        f"# GPU check on {result['host']}",
        "",
        f"Command: `{result['command']}` ({result['date']}, {result['wall_s']} s in all).",
        f"Corpus: {result['data']}.",
        "",
        f"- torch {info['torch']}, CUDA {info['torch_cuda']}; {len(info['devices'])} GPU(s): {devices}",
        f"- driver: {', '.join(info['nvidia_smi'].get('gpus') or ['nvidia-smi not available'])}",
        f"- AMP: {amp['dtype']}{' with GradScaler' if amp['grad_scaler'] else ''} (bf16 supported: "
        f"{info['bf16_supported']}); {amp['steps']} steps of a small MLP, loss {amp['loss_first']} -> "
        f"{amp['loss_last']}, all finite: {amp['finite']}",
        "",
        "| run | processes | status | batch | steps | samples/s | peak GPU MiB | item preparation s | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        procs = 2 if name.endswith("ddp2") else 1
        if run["status"] == "ok":
            lines.append(
                f"| {name} | {procs} | ok | {run['batch']} | {run['steps']} | {run['samples_per_s']:.1f} | "
                f"{run['peak_gpu_mb']} | {run['item_preparation_s']:.1f} | {run['wall_s']} |"
            )
        else:
            lines.append(f"| {name} | {procs} | {run['status']} | | | | | | {run.get('wall_s', '')} |")
    if "transformer-ddp2" not in result["runs"]:
        lines += ["", f"No DDP run: {len(info['devices'])} GPU visible (it needs two or more)."]
    lines += [
        "",
        "samples/s counts training samples through the optimizer steps only (tokenizer training, encoding and "
        "graph building are the item preparation column); peak GPU memory is torch's max_memory_allocated of "
        "the (rank 0) process. Figures are from this host as it was at the time; rerun to compare.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="results path without suffix (default: benchmarks/results/gpu-HOST)")
    ap.add_argument("--steps", type=int, default=300, help="optimizer steps per branch")
    ap.add_argument("--data", default=None, help="corpus (default: full Devign if present, else the sample)")
    ap.add_argument("--budget-s", type=float, default=450, help="the whole check's time budget")
    args = ap.parse_args()
    started = time.time()
    host = socket.gethostname().split(".")[0]
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"gpu-{host}"

    info = cuda_info()
    if not info["cuda_available"]:
        seen = info["nvidia_smi"].get("gpus") or []
        if seen:
            print(
                f"no GPU usable: nvidia-smi lists {len(seen)} ({'; '.join(seen)}) but torch {info['torch']} "
                "has no CUDA (the lock installs the CPU build; benchmarks/gpu.sh swaps in the CUDA build)"
            )
            return 3
        print(f"no GPU: torch {info['torch']} sees no CUDA device and nvidia-smi lists none; nothing to check here")
        return 0
    data = Path(args.data) if args.data else FULL_DEVIGN if FULL_DEVIGN.exists() else SAMPLE
    print(f"GPU check on {host}: {', '.join(d['name'] for d in info['devices'])}; corpus {data}", flush=True)
    amp = amp_check()
    print(f"AMP: {amp}", flush=True)

    def left() -> float:
        return args.budget_s - (time.time() - started) - 10

    training = [sys.executable, "benchmarks/training.py", "--data", str(data), "--device", "cuda"]
    runs: dict[str, dict] = {}
    plan = [(b, [*training, "--branch", b, "--steps", str(args.steps)]) for b in BRANCHES]
    if len(info["devices"]) >= 2:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        plan.append(
            ("transformer-ddp2", [*torchrun, *training[1:], "--branch", "transformer", "--steps", str(args.steps)])
        )
    for i, (name, cmd) in enumerate(plan):
        # an even share of what is left, so a slow branch cannot starve the ones after it
        runs[name] = run_training(cmd, left() / (len(plan) - i))
        print(f"{name}: {runs[name]}", flush=True)

    result = {
        "host": host,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "benchmarks/gpu.sh " + " ".join(sys.argv[1:]),
        "data": str(data),
        "steps": args.steps,
        "cuda": info,
        "amp": amp,
        "runs": runs,
        "wall_s": round(time.time() - started, 1),
    }
    write_report(out, result)
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
