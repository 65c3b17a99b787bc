#!/usr/bin/env bash
# Scan a real C tree end to end and print files, functions, functions/s, wall time and peak RSS.
# Usage (from a checkout whose models/ and data/graphs/ are trained, e.g. after `dvc repro fusion`):
#   benchmarks/scan.sh [REPO_BUNDLE_OR_DIR] [extra streamguard scan args...]
# Default tree: ../shared/datasets/repos/tcpdump.bundle, cloned to /tmp/streamguard-scan-bench/tcpdump.
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

report="$work/report.json"
/usr/bin/time -v -o "$work/time.txt" streamguard scan "$tree" --format json -o "$report" "$@"
python - "$report" "$work/time.txt" "$tree" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
scan, time_txt = report["scan"], open(sys.argv[2]).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_txt).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", time_txt).group(1)
print(f"tree: {sys.argv[3]}")
print(f"files: {scan['files_read']} read of {scan['files_listed']} listed; bad: {report['bad_files']['counts']}")
print(f"functions: {scan['functions_scored']}; findings: {scan['findings']} (>= {scan['min_probability']:.3f})")
print(f"scoring loop: {scan['wall_s']} s, {scan['functions_per_s']} functions/s")
print(f"process wall (incl. start-up and model load): {wall}; peak RSS: {rss_kb / 1024:.0f} MiB")
print(f"models: {', '.join(report['model']['models'])}; model {report['model']['label']}")
PY
