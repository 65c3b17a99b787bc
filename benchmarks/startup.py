"""Start-up cost of `streamguard scan`, `predict` and the light stages (a benchmark: prints figures, asserts nothing).

    python benchmarks/startup.py --repo C_REPO --models DIR --graphs DIR --params FILE [--runs 5] [--json OUT]

Figures, each the median of `--runs` fresh processes:

- import seconds per command: the sum of the top-level entries of `python -X importtime` while
  importing `streamguard.cli` and the module that command's handler imports (cli.py), and which
  heavy libraries that pulls in;
- scan and predict as run: `python -X importtime -m streamguard.cli scan TREE` (and `predict` on
  the tree's files), whose import total includes what loading the models imports;
- start-up: seconds to import `streamguard.scan.run` and then load the models (`models.scorer.Scorer`);
- the wall time of `streamguard scan TREE --format json` end to end, as a user runs it.

TREE is the first C files of C_REPO (sorted paths) holding at least `--functions` functions, copied
to a scratch folder. Run it from the checkout whose code is measured (PYTHONPATH=src).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "torch._dynamo", "torch_geometric", "transformers", "sklearn", "scipy", "pandas", "dvc", "datasets")
# the module each light command's handler imports (streamguard/cli.py)
COMMAND_MODULES = {
    "cli (argument parsing)": "streamguard.cli",
    "download": "streamguard.data.download",
    "preprocess": "streamguard.data.preprocess",
    "collect": "streamguard.data.collectors",
    "summary": "streamguard.evaluation.summary",
    "compare": "streamguard.evaluation.compare",
    "predict (module)": "streamguard.predict",
    "scan (module)": "streamguard.scan.run",
}


def import_seconds(stderr: str) -> float:
    """Total import time of a `-X importtime` log: the cumulative column of its top-level entries."""
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        if not name.startswith("  "):  # one space after the bar: imported by no other module
            total += int(cumulative)
    return total / 1e6


def heavy_in(stderr: str) -> list[str]:
    names = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    return [m for m in HEAVY if m in names]


def run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode not in (0, 1):  # 1: scan found something
        sys.exit(f"{' '.join(cmd)} failed with exit status {out.returncode}:\n{out.stderr[-3000:]}")
    return out, wall


def median_of(runs: int, measure) -> dict:
    samples = [measure() for _ in range(runs)]
    figures = {key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0] if key != "heavy"}
    figures["heavy"] = samples[-1].get("heavy", [])
    figures["samples"] = [{k: v for k, v in s.items() if k != "heavy"} for s in samples]
    return figures


def make_tree(repo: Path, functions: int, out: Path) -> tuple[list[str], int]:
    """Copy the first C files of `repo` (sorted) until they hold at least `functions` functions."""
    from streamguard.c.functions import extract_functions

    shutil.rmtree(out, ignore_errors=True)
    picked, count = [], 0
    for path in sorted(repo.rglob("*.c")):
        if count >= functions:
            break
        n = len(extract_functions(path.read_bytes()))
        if not n:
            continue
        rel = path.relative_to(repo)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out / rel)
        picked.append(str(rel))
        count += n
    return picked, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True, help="a C repository to cut the tree from")
    ap.add_argument("--functions", type=int, default=100)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--graphs", type=Path, required=True)
    ap.add_argument("--params", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    py = sys.executable
    scratch = Path(tempfile.mkdtemp(prefix="streamguard-startup-"))
    tree = scratch / "tree"
    files, functions = make_tree(args.repo, args.functions, tree)
    model_args = ["--models", str(args.models), "--graphs", str(args.graphs)]
    results: dict = {
        "tree": {"repo": str(args.repo), "files": files, "functions": functions},
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average_1min_before": round(os.getloadavg()[0], 1),
        "python": sys.version.split()[0],
        "commands": {},
    }

    for command, module in COMMAND_MODULES.items():

        def measure(module=module):
            out, _ = run([py, "-X", "importtime", "-c", f"import streamguard.cli, {module}"])
            return {"import_s": import_seconds(out.stderr), "heavy": heavy_in(out.stderr)}

        results["commands"][command] = median_of(args.runs, measure)
        print(f"{command:24s} import {results['commands'][command]['import_s']:6.2f} s  "
              f"heavy: {', '.join(results['commands'][command]['heavy']) or '-'}", flush=True)  # fmt: skip

    report = scratch / "report.json"
    scan_cmd = ["-m", "streamguard.cli", "--params", str(args.params), "scan", str(tree), *model_args]
    scan_cmd += ["--format", "json", "-o", str(report)]
    predict_cmd = ["-m", "streamguard.cli", "--params", str(args.params), "predict"]
    predict_cmd += [*(str(tree / f) for f in files), *model_args, "-o", str(scratch / "predict.jsonl")]
    for name, cmd in (("scan (run)", scan_cmd), ("predict (run)", predict_cmd)):

        def measure_run(cmd=cmd):
            out, wall = run([py, "-X", "importtime", *cmd])
            return {"import_s": import_seconds(out.stderr), "wall_s": wall, "heavy": heavy_in(out.stderr)}

        results["commands"][name] = median_of(args.runs, measure_run)
        fig = results["commands"][name]
        print(f"{name:24s} import {fig['import_s']:6.2f} s  wall (with -X importtime) {fig['wall_s']:6.2f} s  "
              f"heavy: {', '.join(fig['heavy']) or '-'}", flush=True)  # fmt: skip

    startup_code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "t0 = time.perf_counter()\n"
        "import streamguard.cli, streamguard.scan.run\n"
        "from streamguard.params import load_params\n"
        "from streamguard.models.scorer import Scorer\n"
        "t1 = time.perf_counter()\n"
        f"Scorer(Path({str(args.models)!r}), Path({str(args.graphs)!r}), load_params(Path({str(args.params)!r})))\n"
        "t2 = time.perf_counter()\n"
        "print(json.dumps({'import_s': t1 - t0, 'model_load_s': t2 - t1, 'startup_s': t2 - t0}))\n"
    )

    def measure_startup():
        out, _ = run([py, "-c", startup_code])
        return json.loads(out.stdout.strip().splitlines()[-1])

    results["startup"] = median_of(args.runs, measure_startup)
    s = results["startup"]
    print(
        f"{'start-up':24s} import {s['import_s']:.2f} s + model load {s['model_load_s']:.2f} s = {s['startup_s']:.2f} s"
    )

    def measure_scan():
        out, wall = run([py, *scan_cmd])
        scan = json.loads(report.read_text())["scan"]
        return {"wall_s": wall, "scoring_loop_s": scan["wall_s"], "functions": scan["functions_scored"]}

    results["scan_end_to_end"] = median_of(args.runs, measure_scan)
    e = results["scan_end_to_end"]
    print(f"{'scan end to end':24s} {e['wall_s']:.2f} s wall ({e['functions']:.0f} functions, "
          f"scoring loop {e['scoring_loop_s']:.2f} s)")  # fmt: skip
    results["load_average_1min_after"] = round(os.getloadavg()[0], 1)
    print(f"load average (1 min) before/after: {results['load_average_1min_before']} / "
          f"{results['load_average_1min_after']} on {results['cpus']} CPUs")  # fmt: skip
    shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
