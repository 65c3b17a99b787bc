#!/usr/bin/env bash
# Scan a real C tree end to end and print files, functions, functions/s, wall and CPU time, peak memory and load.
# Usage (from a checkout whose models/ and data/graphs/ are trained, e.g. after `dvc repro fusion`):
#   benchmarks/scan.sh [REPO_BUNDLE_OR_DIR] [extra streamguard scan args...]
# Default tree: ../shared/datasets/repos/tcpdump.bundle, cloned to /tmp/streamguard-scan-bench/tcpdump.
# SCAN_JSON=FILE also writes the figures as one JSON object (benchmarks/results/scan.json holds such runs).
# Peak memory is sampled every 0.1 s over the scan process and its scoring workers together: RSS summed
# (pages the forked workers share with the parent count once per process: an upper bound) and PSS summed
# (shared pages split between the processes that map them: the memory the scan really holds).
set -euo pipefail

src="${1:-../shared/datasets/repos/tcpdump.bundle}"
shift || true
work=/tmp/streamguard-scan-bench
mkdir -p "$work"
if [ -d "$src" ]; then
  tree="$src"
else
  tree="$work/$(basename "$src" .bundle)"
  [ -d "$tree" ] || git clone -q "$src" "$tree"
fi

python - "$work/report.json" "$tree" "$@" <<'PY'
import json, os, resource, sys, time

import psutil

report_file, tree, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
cmd = ["streamguard", "scan", tree, "--format", "json", "-o", report_file, *extra]
load_before = os.getloadavg()[0]
started = time.perf_counter()
proc = psutil.Popen(cmd)
peak = peak_pss = 0
while proc.poll() is None:
    try:
        mem = [p.memory_full_info() for p in (proc, *proc.children(recursive=True))]
        peak, peak_pss = max(peak, sum(m.rss for m in mem)), max(peak_pss, sum(m.pss for m in mem))
    except psutil.Error:
        pass  # a worker ended between listing and reading
    time.sleep(0.1)
wall = time.perf_counter() - started
if proc.returncode != 0:
    sys.exit(f"scan failed with exit status {proc.returncode}: {' '.join(cmd)}")
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the scan and its workers, all waited for
report = json.load(open(report_file))
scan = report["scan"]
figures = {
    "tree": tree,
    "command": " ".join(cmd),
    "files_read": scan["files_read"],
    "files_listed": scan["files_listed"],
    "bad_files": report["bad_files"]["counts"],
    "functions": scan["functions_scored"],
    "findings": scan["findings"],
    "min_probability": scan["min_probability"],
    "workers": scan.get("workers"),
    "scoring_loop_s": scan["wall_s"],
    "scoring_loop_functions_per_s": scan["functions_per_s"],
    "process_wall_s": round(wall, 1),
    "end_to_end_functions_per_s": round(scan["functions_scored"] / wall, 1),
    "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
    "peak_rss_mib": round(peak / 2**20),
    "peak_pss_mib": round(peak_pss / 2**20),
    "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    "models": report["model"]["models"],
    "model_label": report["model"]["label"],
}
print(f"tree: {tree}")
print(f"files: {scan['files_read']} read of {scan['files_listed']} listed; bad: {report['bad_files']['counts']}")
print(f"functions: {scan['functions_scored']}; findings: {scan['findings']} (>= {scan['min_probability']:.3f})")
print(f"scoring loop (walk + extract + score): {scan['wall_s']} s, {scan['functions_per_s']} functions/s")
print(f"process (start-up, model load, scan, report): {wall:.1f} s wall, {figures['process_cpu_s']} s CPU, "
      f"{figures['end_to_end_functions_per_s']} functions/s")
print(f"peak memory, all processes: RSS {figures['peak_rss_mib']} MiB, PSS {figures['peak_pss_mib']} MiB")
print(f"load average (1 min) before/after: {figures['load_average_1min']}; workers: {figures['workers']}")
print(f"models: {', '.join(report['model']['models'])}; model {report['model']['label']}")
if os.environ.get("SCAN_JSON"):
    with open(os.environ["SCAN_JSON"], "w") as out:
        json.dump(figures, out, indent=1)
PY
