"""`streamguard scan` ranks a finding's lines by occlusion: a planted line of the tokens the tiny lexical model
learned as most vulnerable must come first, in the SARIF region, the related locations and the table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from conftest import scan_with_trained, validate_sarif

from streamguard.scan.lines import MAX_VARIANTS

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _sarif(trained, out: Path, *args: str) -> dict:
    assert scan_with_trained(trained, *args, "--min-probability", "0", "--format", "sarif", "-o", str(out)) == 0
    sarif = json.loads(out.read_text())
    validate_sarif(sarif)
    return sarif


def _learned_tokens(trained, k: int = 6) -> list[str]:
    """The k identifiers whose TF-IDF weights push the tiny lexical model's score up most."""
    folder = trained["models"] / "lexical"
    vocabulary = json.loads((folder / "vocabulary.json").read_text())
    coef = np.load(folder / "weights.npz")["coef"][0]
    words = sorted((t for t in vocabulary if IDENTIFIER.fullmatch(t)), key=lambda t: -coef[vocabulary[t]])
    return words[:k]


def _planted(trained) -> tuple[str, int]:
    """The low-scoring test function with one line of learned tokens after its opening brace; that line's index."""
    lines = trained["low"][0].split("\n")
    brace = next(i for i, line in enumerate(lines) if "{" in line)
    planted = '    const char *planted = "' + " ".join(_learned_tokens(trained) * 3) + '";'
    return "\n".join(lines[: brace + 1] + [planted] + lines[brace + 1 :]), brace + 1


def test_the_planted_line_drives_the_score_and_comes_first(tmp_path, trained, capsys):
    function, index = _planted(trained)
    header = "/* planted */\n#include <string.h>\n\n"
    source = tmp_path / "src" / "planted.c"
    source.parent.mkdir()
    source.write_text(header + function + "\n")
    planted_line = header.count("\n") + 1 + index

    result = _sarif(trained, tmp_path / "out.sarif", str(source.parent))["runs"][0]["results"][0]
    location = result["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": planted_line, "endLine": planted_line}
    assert location["contextRegion"]["startLine"] == header.count("\n") + 1  # the whole function
    lines = result["properties"]["lines"]
    assert lines[0]["start_line"] == planted_line and lines[0]["share"] > 0.5
    assert 2 <= len(lines) <= 5 and all(a["drop"] >= b["drop"] > 0 for a, b in zip(lines, lines[1:]))
    related = result["relatedLocations"]
    assert [r["physicalLocation"]["region"]["startLine"] for r in related] == [x["start_line"] for x in lines[1:]]
    assert f"Line {planted_line} (" in result["message"]["text"]

    capsys.readouterr()
    assert scan_with_trained(trained, str(source.parent), "--min-probability", "0") == 0
    assert f"{planted_line} ({100 * lines[0]['share']:.0f}%)" in capsys.readouterr().out


def test_long_functions_are_occluded_in_blocks_within_the_cap(tmp_path, trained):
    function, index = _planted(trained)
    lines = function.split("\n")
    filler = [f"    n{i} = n{i} + {i};" for i in range(3 * MAX_VARIANTS)]
    source = tmp_path / "long.c"
    source.write_text("\n".join(lines[: index + 1] + filler + lines[index + 1 :]) + "\n")

    sarif = _sarif(trained, tmp_path / "out.sarif", str(source))
    run = sarif["runs"][0]
    assert run["properties"]["scan"]["line_ranking"]["variants_scored"] == MAX_VARIANTS
    top = run["results"][0]["properties"]["lines"][0]
    assert top["start_line"] <= index + 1 <= top["end_line"] and top["end_line"] > top["start_line"]


def test_no_line_ranking_keeps_the_function_as_the_region(tmp_path, trained, capsys):
    function, _ = _planted(trained)
    source = tmp_path / "one.c"
    source.write_text(function + "\n")
    result = _sarif(trained, tmp_path / "out.sarif", str(source), "--lines", "0")["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 1,
        "endLine": function.count("\n") + 1,
    }
    assert "relatedLocations" not in result and result["properties"]["lines"] == []
    capsys.readouterr()
    assert scan_with_trained(trained, str(source), "--lines", "-1") == 2
    assert "--lines -1" in capsys.readouterr().err
