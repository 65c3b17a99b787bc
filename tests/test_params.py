"""params.yaml: YAML 1.2 numbers as `dvc exp run -S` writes them, and hostile params files through the real CLI.

Every bad file must end in exit status 2 with a message naming the file and the key (or what is wrong with
the file as a whole), never a traceback, a hang or a message that embeds a huge value.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
import threading
import traceback

import pytest
from conftest import REPO

from streamguard.cli import main
from streamguard.params import (
    MAX_PARAMS_BYTES,
    ParamsError,
    TransformerParams,
    load_params,
    read_params_yaml,
)

CLI_TIMEOUT_S = 60  # a hang, not a slow run: every case below finishes in well under a second


def readme_gpu_overrides() -> list[str]:
    """The -S arguments of the README's GPU command (`dvc exp run -S ... \\` over continuation lines)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    gpu = text[text.index("\n## GPU\n") :]
    match = re.search(r"^dvc exp run (?:.*\\\n)*.*$", gpu, re.MULTILINE)
    assert match, "README.md's GPU section lost its `dvc exp run -S ...` command"
    words = shlex.split(match.group(0).replace("\\\n", " "))
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "-S"]
    assert "transformer.learning_rate=2e-5" in overrides, overrides
    return overrides


def test_readme_gpu_command_reads_back_as_floats(tmp_path):
    """What `dvc exp run -S` writes for the README's command (2e-05) loads as the float it is."""
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", copy)
    apply_overrides(copy, readme_gpu_overrides())
    assert re.search(r"^  learning_rate: 2e-05$", copy.read_text(), re.MULTILINE), "DVC no longer writes 2e-05"

    t = load_params(copy).transformer
    assert type(t.learning_rate) is float and t.learning_rate == 2e-5
    assert (t.batch_size, t.max_length, t.model_name_or_path) == (32, 512, "microsoft/codebert-base")


def test_readme_gpu_command_passes_sagemaker_override_check():
    from streamguard.cloud.sagemaker import validate_overrides

    assert validate_overrides(readme_gpu_overrides(), REPO / "params.yaml")["transformer.learning_rate"] == "2e-5"


def test_sagemaker_override_out_of_range_names_key_and_override():
    from streamguard.cloud.sagemaker import validate_overrides

    with pytest.raises(
        ParamsError,
        match=r"with -S transformer.learning_rate=-2e-5: params.yaml:\d+: key "
        r"'transformer.learning_rate' must be positive, got -2e-05",
    ):
        validate_overrides(["transformer.learning_rate=-2e-5"], REPO / "params.yaml")


@pytest.mark.parametrize(
    "text, value",
    [
        ("2e-05", 2e-05),
        ("1E3", 1000.0),
        ("-1.5e+2", -150.0),
        (".5e-3", 0.0005),
        ("1.0e-5", 1e-05),
        ("0.0005", 0.0005),
        ("12", 12),
        ("1e", "1e"),
        ("e5", "e5"),
        ("2e-05x", "2e-05x"),
        ("1.2.3", "1.2.3"),
    ],
)
def test_yaml_1_2_exponent_floats(tmp_path, text, value):
    path = tmp_path / "p.yaml"
    path.write_text(f"x: {text}\n")
    raw, _ = read_params_yaml(path)
    assert raw["x"] == value and type(raw["x"]) is type(value)


def test_sections_check_their_own_ranges_when_built_directly():
    with pytest.raises(ParamsError, match="key 'transformer.num_heads' must divide hidden_size"):
        TransformerParams(num_heads=3)
    with pytest.raises(ParamsError, match="key 'transformer.learning_rate' must be positive"):
        dataclasses.replace(TransformerParams(), learning_rate=0.0)


def test_values_at_the_edges_of_their_ranges_are_accepted(tmp_path):
    """The positive control for the table below: the limits themselves are fine."""
    path = tmp_path / "edges.yaml"
    path.write_text(
        "seed: 0\nn_runs: 1\n"
        "transformer: {dropout: 0.0, warmup_ratio: 0.0, device: 'cuda:1', epochs: 10000, hidden_size: 96,"
        " num_heads: 3, learning_rate: 1e-8, weight_decay: 0, patience: 1, checkpoint_every: 0}\n"
        "gnn: {device: mps, batch_size: auto, grad_clip: 1e-3, dropout: 0.99}\n"
        "lexical: {C: 1e-4, ngram_max: 1, max_features: 1}\n"
        "oof: {models: [gnn], epochs: 0}\n"
        "fusion: {C: 5e-1, features: [length, nesting]}\n"
        "evaluate: {bootstrap_resamples: 1, calibration_bins: 1, seed: 0}\n"
    )
    p = load_params(path)
    assert (p.transformer.device, p.gnn.batch_size, p.lexical.C, p.fusion.C) == ("cuda:1", "auto", 1e-4, 0.5)
    load_params(REPO / "params.yaml")


def _bomb() -> str:
    """~6 KB of YAML whose aliases expand to 9**9 (387 million) strings of 80 characters."""
    lines = ["lol: &l0 [" + ", ".join(['"' + "lol" * 26 + '"'] * 9) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\ntransformer:\n  model_name_or_path: *l8\n"


def _range(section: str, key: str, value: str) -> str:
    return f"# a real params file's comment\n{section}:\n  {key}: {value}\n" if section else f"{key}: {value}\n"


# (params file text or bytes, words the message must hold besides the file's name)
HOSTILE = {
    "empty": ("", ["holds no params"]),
    "comments only": ("# seed: 3\n\n# transformer:\n", ["holds no params"]),
    "empty mapping": ("{}\n", ["holds no params"]),
    "duplicate section": (
        "transformer:\n  epochs: 2\nseed: 1\ntransformer:\n  dropout: 0.2\n",
        [":4:", "'transformer' appears twice, at lines 1 and 4"],
    ),
    "duplicate key": (
        "gnn:\n  epochs: 2\n  learning_rate: 0.1\n  epochs: 3\n",
        [":4:", "'gnn.epochs' appears twice, at lines 2 and 4"],
    ),
    "duplicate flow key": ("lexical: {C: 1.0, C: 2.0}\n", ["'lexical.C' appears twice"]),
    "not UTF-8": (b"seed: 1\ndata:\n  path: caf\xe9.jsonl\n", [":3:", "not UTF-8"]),
    "over 1 MiB": (("#" * 80 + "\n") * (MAX_PARAMS_BYTES // 81 + 1) + "seed: 1\n", ["larger than 1024 KiB"]),
    "anchor bomb": (_bomb(), ["aliases", "expand to more than"]),
    "deep nesting": ("seed: " + "[" * 50_000 + "]" * 50_000 + "\n", ["nested too deeply"]),
    "huge int": ("seed: " + "9" * 5000 + "\n", ["unreadable value"]),
    "huge string": (_range("transformer", "device", "x" * 500_000), ["transformer.device", "must be auto, cpu"]),
    "not a mapping": ("- seed\n", ["'top level' must be a mapping"]),
    "unknown key": (_range("transformer", "learnin_rate", "0.1"), ["transformer.learnin_rate", "did you mean"]),
    "wrong type": (_range("gnn", "epochs", "three"), ["gnn.epochs", "must be int"]),
    "lr zero": (_range("transformer", "learning_rate", "0"), ["transformer.learning_rate", "positive"]),
    "lr negative": (_range("gnn", "learning_rate", "-1e-3"), ["gnn.learning_rate", "positive"]),
    "lr NaN": (_range("gnn", "learning_rate", ".nan"), ["gnn.learning_rate", "finite"]),
    "C inf": (_range("lexical", "C", ".inf"), ["lexical.C", "finite"]),
    "dropout 1": (_range("transformer", "dropout", "1.0"), ["transformer.dropout", "[0, 1)"]),
    "dropout negative": (_range("gnn", "dropout", "-0.1"), ["gnn.dropout", "[0, 1)"]),
    "heads not dividing": (_range("transformer", "num_heads", "3"), ["transformer.num_heads", "divide hidden_size"]),
    "max_length too short": (_range("transformer", "max_length", "2"), ["transformer.max_length", "at least 3"]),
    "empty model name": (_range("transformer", "model_name_or_path", "''"), ["transformer.model_name_or_path"]),
    "lexical C zero": (_range("lexical", "C", "0"), ["lexical.C", "positive"]),
    "ngram_max zero": (_range("lexical", "ngram_max", "0"), ["lexical.ngram_max", "at least 1"]),
    "max_features zero": (_range("lexical", "max_features", "0"), ["lexical.max_features", "at least 1"]),
    "patience zero": (_range("transformer", "patience", "0"), ["transformer.patience", "at least 1"]),
    "absurd epochs": (_range("gnn", "epochs", "100000"), ["gnn.epochs", "[1, 10000]"]),
    "warmup 1": (_range("transformer", "warmup_ratio", "1.0"), ["transformer.warmup_ratio", "[0, 1)"]),
    "weight_decay negative": (_range("gnn", "weight_decay", "-0.01"), ["gnn.weight_decay", "at least 0"]),
    "grad_clip zero": (_range("transformer", "grad_clip", "0"), ["transformer.grad_clip", "positive"]),
    "unknown device": (_range("gnn", "device", "tpu"), ["gnn.device", "cuda:N"]),
    "bad cuda index": (_range("transformer", "device", "cuda:x"), ["transformer.device", "cuda:N"]),
    "gnn batch zero": (_range("gnn", "batch_size", "0"), ["gnn.batch_size", "positive int or 'auto'"]),
    "memory budget zero": (_range("gnn", "memory_budget_mb", "0"), ["gnn.memory_budget_mb", "at least 1"]),
    "fusion C negative": (_range("fusion", "C", "-1"), ["fusion.C", "positive"]),
    "fusion feature twice": (_range("fusion", "features", "[length, length]"), ["fusion.features", "more than once"]),
    "calibration_bins zero": (_range("evaluate", "calibration_bins", "0"), ["evaluate.calibration_bins"]),
    "bootstrap zero": (_range("evaluate", "bootstrap_resamples", "0"), ["evaluate.bootstrap_resamples"]),
    "evaluate seed negative": (_range("evaluate", "seed", "-1"), ["evaluate.seed"]),
    "seed negative": (_range("", "seed", "-1"), ["'seed'", "[0, 4294967295]"]),
    "n_runs zero": (_range("", "n_runs", "0"), ["'n_runs'", "[1, 100]"]),
    "oof no models": (_range("oof", "models", "[]"), ["oof.models", "at least one of lexical"]),
    "oof unknown model": (_range("oof", "models", "[bert]"), ["oof.models", "unknown models ['bert']"]),
    "oof model twice": (_range("oof", "models", "[gnn, gnn]"), ["oof.models", "more than once"]),
    "oof absurd epochs": (_range("oof", "epochs", "20000"), ["oof.epochs"]),
    "max_chars zero": (_range("data", "max_chars", "0"), ["data.max_chars"]),
    "limit negative": (_range("data", "limit", "-5"), ["data.limit"]),
    "graph edge twice": (_range("graph", "edge_types", "[ast, ast]"), ["graph.edge_types", "more than once"]),
    "collect url": (_range("collect", "osv_api_url", "ftp://osv"), ["collect.osv_api_url", "http(s)://"]),
    "collect cache_dir empty": (_range("collect", "cache_dir", "''"), ["collect.cache_dir"]),
}


def run_cli(argv: list[str]) -> int:
    """cli.main in a thread, so a hang fails the test instead of stalling the suite."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["rc"] = main(argv)
        except BaseException:  # noqa: BLE001 - reported below as the traceback a user would see
            outcome["traceback"] = traceback.format_exc()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(CLI_TIMEOUT_S)
    assert not thread.is_alive(), f"streamguard {shlex.join(argv[:2])} ... still running after {CLI_TIMEOUT_S} s"
    assert "traceback" not in outcome, outcome.get("traceback")
    return outcome["rc"]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_params_file_is_a_short_error_through_the_cli(tmp_path, capsys, case):
    content, words = HOSTILE[case]
    path = tmp_path / "bad_params.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    rc = run_cli(["--params", str(path), "download", "--out", str(tmp_path / "raw")])
    out = capsys.readouterr()
    err = " ".join(out.err.split())  # rich wraps long lines
    assert rc == 2, out
    assert "bad_params.yaml" in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert len(err) < 1000, f"{len(err)}-character message: {err[:300]}..."
    assert not (tmp_path / "raw").exists()


def test_a_directory_as_params_is_an_error(tmp_path, capsys):
    assert run_cli(["--params", str(tmp_path), "download", "--out", str(tmp_path / "raw")]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["anchor bomb", "not UTF-8", "directory"])
def test_hostile_params_through_the_installed_command(tmp_path, case):
    """The same, as a user runs it: the `streamguard` process itself, bounded by a timeout."""
    path = tmp_path if case == "directory" else tmp_path / "bad_params.yaml"
    if case != "directory":
        content = HOSTILE[case][0]
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    run = subprocess.run(
        [sys.executable, "-m", "streamguard.cli", "--params", str(path), "download", "--out", str(tmp_path / "raw")],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert run.returncode == 2, run.stderr
    assert str(path.name) in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr) < 1000


def test_read_params_yaml_reports_key_lines(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("# header\nseed: 3\ntransformer:\n  epochs: 2\n")
    raw, lines = read_params_yaml(path)
    assert raw == {"seed": 3, "transformer": {"epochs": 2}}
    assert lines == {"seed": 2, "transformer": 3, "transformer.epochs": 4}


def test_repo_params_read_the_same_as_dvc_reads_them():
    """DVC reads params.yaml with ruamel (YAML 1.2); this reader must see the same values."""
    from ruamel.yaml import YAML

    ours, _ = read_params_yaml(REPO / "params.yaml")
    assert ours == YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text())
