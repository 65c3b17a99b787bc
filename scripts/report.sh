#!/usr/bin/env bash
# The PR report, locally or in CI: Markdown comparing BASE with TARGET, most telling first:
#   1. streamguard compare BASE TARGET --md   paired tests (McNemar, bootstrap CIs) per model
#   2. dvc metrics diff BASE [TARGET] --md    the headline metrics (metrics/test/<model>.json)
#   3. dvc params diff BASE [TARGET] --md     which params changed
#   4. dvc plots diff BASE [TARGET]           every dvc.yaml plot, rendered offline to PNG
#      (python -m streamguard.plot_images) under $REPORT_PLOTS (default report_plots/)
#
# Usage: scripts/report.sh [BASE [TARGET]]    BASE defaults to main, TARGET to workspace
# (the results `dvc repro` / `dvc pull` left on disk). Any git revision or DVC experiment
# name works for both. A section that fails shows its error in place; the exit status is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
base="${1:-main}"
target="${2:-workspace}"
plots_dir="${REPORT_PLOTS:-report_plots}"
# the dvc diff commands compare with the workspace when given one revision
revs=("$base")
if [ "$target" != workspace ]; then revs+=("$target"); fi
# use the project's virtualenv when there is one (make install creates it)
if [ -x .venv/bin/dvc ]; then PATH="$PWD/.venv/bin:$PATH"; fi

status=0
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

# true for empty output or a Markdown table with a header and no rows
# (what `dvc metrics diff --md` prints when nothing changed)
nothing_in() {
  [ -z "$1" ] && return 0
  printf '%s\n' "$1" | grep -qv '^|' && return 1
  [ "$(printf '%s\n' "$1" | wc -l)" -le 2 ]
}

section() {  # section TITLE EMPTY_MESSAGE COMMAND...
  local title="$1" empty="$2" out
  shift 2
  printf '\n## %s\n\n' "$title"
  if out="$("$@" 2>"$errors")"; then
    cat "$errors" >&2  # warnings go to the terminal, not into the report
    if nothing_in "$out"; then
      printf '_%s_\n' "$empty"
    else
      printf '%s\n' "$out"
    fi
  else
    status=1
    printf '_`%s` failed:_\n\n```\n%s\n%s\n```\n' "$*" "$out" "$(cat "$errors")"
  fi
}

printf '# StreamGuard report: `%s` → `%s`\n' "$base" "$target"
section "Paired tests on the test split" "No output." streamguard compare "$base" "$target" --md
section "Headline metrics (test split)" "No metric changed." dvc metrics diff "${revs[@]}" --md
section "Params" "No param changed." dvc params diff "${revs[@]}" --md
section "Plots" "No plot to draw." python -m streamguard.plot_images "${revs[@]}" --out "$plots_dir"
exit "$status"
