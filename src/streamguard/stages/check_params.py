"""The `validate_params` stage (`streamguard check-params`): every key of the params file, then a marker.

Every other stage depends on the marker, so a bad `dvc exp run -S key=value` stops
here, before DVC removes any other stage's outputs. The marker's content is
constant: a params change that passes the check leaves every downstream stage's
deps unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from streamguard.params import load_params

PARAMS_CHECKED = "every key of the params file passed `streamguard check-params`\n"


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.unlink(missing_ok=True)  # no marker from an earlier run survives a failed check
    load_params(args.params)  # a bad key or value: ParamsError naming file:line and key
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(PARAMS_CHECKED, encoding="utf-8")
    Console().print(f"{args.params}: every key is valid", highlight=False)
