"""Wall time of every stage of one `dvc repro` run (a benchmark: prints figures, asserts nothing).

    python benchmarks/pipeline_profile.py [--repo DIR] [--force] [--json OUT]

Runs `dvc repro` in DIR (default: the current folder), timestamps the line DVC
prints as each stage starts, and reports seconds per stage and in total.
`--force` reruns every stage (`dvc repro -f`). Run it in a scratch clone: it
rewrites dvc.lock and the outputs there.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def profile(repo: Path, force: bool) -> dict:
    cmd = ["dvc", "repro", *(["-f"] if force else [])]
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = STAGE_LINE.match(line)
            if match:
                marks.append((match.group(1), time.perf_counter() - started))
                print(f"[{marks[-1][1]:7.1f} s] {line.rstrip()}", flush=True)
        rc = proc.wait()
    total = time.perf_counter() - started
    if rc != 0:
        sys.exit(f"dvc repro failed with exit status {rc}")
    stages = {}
    for (name, start), nxt in zip(marks, [*marks[1:], ("end", total)]):
        stages[name] = round(nxt[1] - start, 1)
    return {"command": " ".join(cmd), "total_s": round(total, 1), "stages_s": stages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=Path("."))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    result = profile(args.repo, args.force)
    width = max(len(s) for s in result["stages_s"]) if result["stages_s"] else 5
    for name, seconds in sorted(result["stages_s"].items(), key=lambda kv: -kv[1]):
        print(f"{name:<{width}}  {seconds:7.1f} s")
    print(f"{'total':<{width}}  {result['total_s']:7.1f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
