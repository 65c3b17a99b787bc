#!/usr/bin/env bash
# Builds .dvc/plots_template.html: DVC's plots page with Vega, Vega-Lite and
# vega-embed inlined, so `dvc plots show` renders with no network (DVC's own page
# loads them from a CDN, and renders blank offline). Same versions DVC's page names.
# Needs npm (the package registry); the output is committed, so users need nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 >/dev/null)
for pkg in vega-5.20.2 vega-lite-5.2.0 vega-embed-6.18.2; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg" --strip-components=1
done
out=.dvc/plots_template.html
{
  echo '<!DOCTYPE html>'
  echo '<html>'
  echo '<head>'
  echo '    {refresh_tag}'
  echo '    <meta charset="utf-8">'
  echo '    <title>StreamGuard plots</title>'
  for lib in vega-5.20.2/build/vega.min.js vega-lite-5.2.0/build/vega-lite.min.js \
             vega-embed-6.18.2/build/vega-embed.min.js; do
    echo "    <!-- ${lib%%/*} (BSD-3-Clause, University of Washington Interactive Data Lab) -->"
    printf '    <script type="text/javascript">'
    cat "$work/$lib"
    echo '</script>'
  done
  echo '    <style>table { border-spacing: 15px; }</style>'
  echo '</head>'
  echo '<body>'
  echo '    {plot_divs}'
  echo '</body>'
  echo '</html>'
} > "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
