"""The PR report's plots as PNG files, rendered offline: `python -m streamguard.plot_images`.

`dvc plots diff REV [REV] --json` fills dvc.yaml's plots (the templates in .dvc/plots/)
with each revision's data; vl-convert renders each Vega-Lite spec to PNG without a
browser or network. Prints one Markdown image line per plot, the paths relative to
the working directory, for scripts/report.sh to put under its "Plots" heading.
Plots DVC could not fill at a revision (their files are absent there) are listed by
name with DVC's reason. No stage runs it, so it lives outside evaluation/ (a folder the
evaluate stage depends on whole).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamguard.errors import StreamGuardError, exit_code

SCALE = 2  # pixels per Vega-Lite unit: sharp on high-density screens


def slug(plot_id: str) -> str:
    """A file name for a plot id ("ROC (test split)", "metrics/plots/confusion/gnn.csv")."""
    return re.sub(r"[^a-z0-9]+", "-", plot_id.lower()).strip("-") or "plot"


def plot_title(plot_id: str, spec: dict[str, Any]) -> str:
    """The plot's title (a string, or Vega-Lite's {"text": ...}); its id when it has none."""
    title = spec.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return text if isinstance(text, str) and text else plot_id


def filled_specs(revs: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Plot id -> filled Vega-Lite spec, and DVC's errors, from `dvc plots diff --json`."""
    proc = subprocess.run(["dvc", "plots", "diff", *revs, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise StreamGuardError(f"`dvc plots diff {' '.join(revs)} --json` failed: {proc.stderr.strip()[-2000:]}")
    try:
        shown = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise StreamGuardError(f"`dvc plots diff --json` printed no JSON ({exc}): {proc.stdout[:500]!r}") from None
    specs = {
        plot_id: renderer["content"]
        for plot_id, renderers in (shown.get("data") or {}).items()
        for renderer in renderers
        if renderer.get("type") == "vega" and renderer.get("content")
    }
    errors = [
        f"{e.get('name') or e.get('source') or '?'} at {e.get('rev', '?')}: {e.get('msg') or e.get('type')}"
        for e in shown.get("errors") or []
    ]
    return specs, errors


def render(revs: list[str], out_dir: Path) -> list[str]:
    """Write out_dir/<plot>.png for each plot; return the report's Markdown lines."""
    try:
        import vl_convert
    except ImportError:
        raise StreamGuardError(
            "vl-convert-python is not installed (it is in requirements-dev.txt and requirements.lock): run `make install`"
        ) from None
    specs, errors = filled_specs(revs)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for plot_id, spec in specs.items():
        path = out_dir / f"{slug(plot_id)}.png"
        try:
            path.write_bytes(vl_convert.vegalite_to_png(spec, scale=SCALE))
        except ValueError as exc:  # vl-convert's error for a spec it cannot render
            errors.append(f"{plot_id}: {str(exc)[:300]}")
            continue
        lines.append(f"![{plot_title(plot_id, spec)}]({path.as_posix()})")
    if errors:
        lines += ["", "Not drawn:", *(f"- {error}" for error in errors)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamguard.plot_images", description=__doc__)
    parser.add_argument("revs", nargs="+", help="revisions for `dvc plots diff` (one: it against the workspace)")
    parser.add_argument("--out", default="report_plots", help="folder for the PNG files (default: report_plots)")
    args = parser.parse_args(argv)

    def run() -> int:
        print("\n".join(render(args.revs, Path(args.out))))
        return 0

    return exit_code(run)


if __name__ == "__main__":
    sys.exit(main())
