"""params.yaml, read once into typed, validated dataclasses.

An unknown key, a wrong type or a value outside its allowed set is a
`ParamsError` naming the file and the dotted key, with a suggestion when the
key looks like a typo. Every section is a dataclass; a stage receives the
`Params` object and reads only the sections it declares in dvc.yaml.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from streamguard.errors import StreamGuardError


class ParamsError(StreamGuardError, ValueError):
    """A params.yaml problem; the message says which key and what to do."""


@dataclass
class DataParams:
    # sample | devign | codexglue | huggingface
    source: Literal["sample", "devign", "codexglue", "huggingface"] = "sample"
    # file (devign) or folder (codexglue); ignored for sample/huggingface
    path: str | None = None
    hf_dataset: str = "google/code_x_glue_cc_defect_detection"
    # 1 = Devign only; 2 = plus collected, confidence-weighted records (train only)
    phase: Literal[1, 2] = 1
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    # texts (after whitespace normalisation) that carry both labels:
    # drop = remove every copy (default: the label is unknowable);
    # majority = keep the majority label (ties dropped)
    label_conflicts: Literal["drop", "majority"] = "drop"
    # trim functions longer than this many characters around dangerous API calls
    max_chars: int = 12000
    # use at most this many records (0 = all); stratified, for quick experiments
    limit: int = 0


@dataclass
class GraphParams:
    """The graphs stage (streamguard.graphs; feature layout in graphs/schema.py)."""

    # cap on nodes per graph; nodes are kept in source (pre)order and the rest is cut
    max_nodes: int = 600
    # ast (parent->child and back), sequence (leaf -> next leaf), control_flow
    # (between statements), data_flow (definition -> later use of a variable)
    edge_types: list[Literal["ast", "sequence", "control_flow", "data_flow"]] = field(
        default_factory=lambda: ["ast", "sequence", "control_flow", "data_flow"]
    )
    # subtoken vocabulary, built on the train split only (reserved ids included)
    vocab_size: int = 5000
    # subtokens seen fewer times than this in train map to the shared unknown id
    min_token_count: int = 2
    # token columns per node in x: the first K subtokens of the node's token
    subtokens_per_node: int = 3
    # a parse is unusable, and the graph falls back to the token tier, when tokens that fit no
    # construct (leaves directly under ERROR nodes) are more than this share of the text...
    token_tier_error_fraction: float = 0.5
    # ...or when ERROR+MISSING nodes exceed this share of all tree nodes (prose parses as a run
    # of declarations, each with a MISSING `;`; Devign's worst real parses stay under 0.1)
    token_tier_problem_rate: float = 0.15
    # before parsing, blank known attribute macros (av_cold, coroutine_fn, ...) and read list
    # iterator macros (QTAILQ_FOREACH, ...) as `while` loops; offsets and lines are kept
    normalise_macros: bool = True
    workers: int = 0  # processes; 0 = all cores

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ParamsError:
            return ParamsError(f"params: key 'graph.{key}' {why}")

        if self.max_nodes < 2:
            raise bad("max_nodes", f"must be at least 2, got {self.max_nodes}")
        if not self.edge_types:
            raise bad("edge_types", "must name at least one of ast, sequence, control_flow, data_flow")
        if self.vocab_size < 16:
            raise bad("vocab_size", f"must be at least 16, got {self.vocab_size}")
        if self.min_token_count < 1:
            raise bad("min_token_count", f"must be at least 1, got {self.min_token_count}")
        if self.subtokens_per_node < 1:
            raise bad("subtokens_per_node", f"must be at least 1, got {self.subtokens_per_node}")
        if not 0 < self.token_tier_error_fraction <= 1:
            raise bad("token_tier_error_fraction", f"must be in (0, 1], got {self.token_tier_error_fraction}")
        if not 0 < self.token_tier_problem_rate <= 1:
            raise bad("token_tier_problem_rate", f"must be in (0, 1], got {self.token_tier_problem_rate}")
        if self.workers < 0:
            raise bad("workers", f"must be 0 (all cores) or a positive count, got {self.workers}")


@dataclass
class TrainParams:
    """Fields shared by both neural branches' training loops."""

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    grad_accum: int = 1
    patience: int = 2
    # what early stopping maximises on valid (at threshold 0.5). mcc by default: an
    # all-vulnerable model already scores F1 ~0.63 on Devign, and on the full corpus
    # F1 stopping kept both neural branches' near-all-vulnerable first epoch
    # (benchmarks/results/README.md); f1 (vulnerable class), roc_auc, accuracy also work
    early_stopping_metric: Literal["f1", "mcc", "roc_auc", "accuracy"] = "mcc"
    # confidence x class balance, applied as loss weights or through a sampler
    weighting: Literal["loss", "sampler", "none"] = "loss"
    checkpoint_every: int = 200
    resume: Literal["auto", "never"] = "auto"
    amp: bool = True  # only takes effect on CUDA
    device: str = "auto"
    tensorboard: bool = False


@dataclass
class TransformerParams(TrainParams):
    # a local folder or hub id: from_pretrained; null: train a tokenizer and build from config
    model_name_or_path: str | None = None
    max_length: int = 256
    vocab_size: int = 8000
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 256
    dropout: float = 0.1


@dataclass
class GNNParams(TrainParams):
    hidden_size: int = 128
    num_layers: int = 3
    dropout: float = 0.2
    # an int, or "auto" to use the recommendation in graph_stats.json
    batch_size: Any = 64  # type: ignore[assignment]
    memory_budget_mb: int = 2048


@dataclass
class LexicalParams:
    max_features: int = 50000
    ngram_max: int = 2
    C: float = 1.0


@dataclass
class OOFParams:
    folds: int = 5
    models: list[str] = field(default_factory=lambda: ["lexical", "transformer", "gnn"])
    # epochs override for fold models (0 = same as the full model)
    epochs: int = 0


@dataclass
class FusionParams:
    stacker: Literal["logreg", "gbm"] = "logreg"
    C: float = 1.0
    threshold_rule: Literal["max_f1", "max_accuracy"] = "max_accuracy"
    # cheap per-function features appended to the stacker's input: any of
    # length (log chars), nesting (max brace/paren depth), dangerous_calls (log count)
    features: list[str] = field(default_factory=list)


@dataclass
class EvaluateParams:
    # paired percentile bootstrap over test functions, for every metric's CI
    # and for the CIs of differences between models (evaluate and compare)
    bootstrap_resamples: int = 1000
    confidence_level: float = 0.95
    seed: int = 0  # bootstrap resampling seed: same seed, same intervals
    # equal-width probability bins of the calibration (reliability) plot
    calibration_bins: int = 10


@dataclass
class CollectParams:
    """Phase 2 collection (streamguard.data.collectors); confidence mapping in noise.py."""

    # every source `streamguard collect <source>` knows (one DVC stage each, via foreach)
    SOURCES: typing.ClassVar[tuple[str, ...]] = ("nvd", "ghsa", "osv", "git", "exploitdb", "synthetic", "juliet")

    # sources that run; every other one writes an empty file and a "disabled" report.
    # the default needs no network and no ../shared (juliet_path null -> skipped).
    sources: list[str] = field(default_factory=lambda: ["synthetic", "juliet", "git"])
    # NVD: the API 2.0 (runs only when env NVD_API_KEY is set) and/or JSON feed files
    nvd_api_url: str = "https://services.nvd.nist.gov/rest/json/cves/2.0"
    nvd_keyword: str | None = None  # API keywordSearch filter; null = every CVE
    nvd_feeds: list[str] = field(default_factory=list)  # .json/.json.gz, feed schema 2.0 or 1.1
    # GitHub REST: advisories (need env GITHUB_TOKEN) and fix-commit resolution for every source
    github_api_url: str = "https://api.github.com"
    ghsa_type: Literal["reviewed", "unreviewed"] = "unreviewed"  # C advisories are mostly unreviewed
    ghsa_cwes: list[str] = field(
        default_factory=lambda: ["119", "120", "121", "122", "125", "134", "190", "401", "415", "416", "476", "787", "78"]
    )
    # OSV: the API (one query per "Ecosystem:package") and/or a local bulk export zip
    osv_api_url: str = "https://api.osv.dev"
    osv_packages: list[str] = field(default_factory=list)  # e.g. "OSS-Fuzz:openssl"
    osv_export: str | None = None  # e.g. a downloaded OSS-Fuzz/all.zip
    # ExploitDB files_exploits.csv: CVEs with a public exploit (raises confidence everywhere)
    exploitdb_csv: str | None = None
    # cap on advisories/CVEs taken per source (0 = all), for quick runs
    max_advisories: int = 0
    # repository mining: local git clones, commit messages matched case-insensitively
    git_repos: list[str] = field(default_factory=list)
    git_max_commits: int = 0  # newest first; 0 = the whole history
    git_patterns: list[str] = field(
        default_factory=lambda: [
            r"CVE-\d{4}-\d{4,}",
            r"\boverflow",
            r"use[- ]after[- ]free",
            r"double[- ]free",
            r"out[- ]of[- ]bounds",
            r"\bOOB\b",
            r"null[- ](pointer[- ])?deref",
            r"format[- ]string",
            r"memory leak",
        ]
    )
    juliet_path: str | None = None  # Juliet C suite: a directory or .tar.gz
    synthetic_pairs: int = 400
    synthetic_seed: int = 1337
    # confidence (sample weight) per source and heuristic; tiers 1.0 / 0.3 / 0.1
    confidence_advisory_exploit: float = 1.0  # advisory-linked fix commit, CVE has a public exploit
    confidence_advisory: float = 0.3  # advisory-linked fix commit, no known exploit
    confidence_git_exploit: float = 1.0  # mined commit citing a CVE with a public exploit
    confidence_git: float = 0.3  # mined by message keyword
    confidence_juliet: float = 0.3
    confidence_synthetic: float = 0.1
    # functions outside [min, max] code tokens (comments excluded) are dropped
    min_function_tokens: int = 20
    max_function_tokens: int = 4000
    # network behaviour
    rate_limit_per_s: float = 1.5  # per host; NVD with a key allows ~1.6/s, GitHub ~1.4/s
    retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 120.0
    timeout_s: float = 30.0
    workers: int = 4
    cache_dir: str = "data/collected/.cache"


@dataclass
class Params:
    seed: int = 42
    # seed ensembling: each base model (full and fold models) is trained with
    # n_runs seeds (seed, seed+1000, ...) and its probabilities averaged
    n_runs: int = 1
    data: DataParams = field(default_factory=DataParams)
    graph: GraphParams = field(default_factory=GraphParams)
    transformer: TransformerParams = field(default_factory=TransformerParams)
    gnn: GNNParams = field(default_factory=GNNParams)
    lexical: LexicalParams = field(default_factory=LexicalParams)
    oof: OOFParams = field(default_factory=OOFParams)
    fusion: FusionParams = field(default_factory=FusionParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    collect: CollectParams = field(default_factory=CollectParams)

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check `value` against annotation `tp`; returns (ok, coerced value)."""
    if tp is Any:
        return True, value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            ok, coerced = _type_ok(value, arg)
            if ok:
                return True, coerced
        return False, value
    if origin is Literal:
        return value in get_args(tp), value
    if origin is list:
        if not isinstance(value, list):
            return False, value
        (inner,) = get_args(tp) or (Any,)
        out = []
        for item in value:
            ok, coerced = _type_ok(item, inner)
            if not ok:
                return False, value
            out.append(coerced)
        return True, out
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is list:
        return f"a list of {_describe(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _build(cls: type, raw: Any, where: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: '{prefix or 'top level'}' must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise ParamsError(f"{where}: unknown key '{dotted}'{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, where, dotted)
            continue
        ok, coerced = _type_ok(value, tp)
        if not ok:
            raise ParamsError(f"{where}: key '{dotted}' must be {_describe(tp)}, got {value!r}")
        kwargs[key] = coerced
    obj = cls(**kwargs)
    _check_ranges(obj, where, prefix)
    return obj


def _check_ranges(obj: Any, where: str, prefix: str) -> None:
    def bad(key: str, why: str) -> ParamsError:
        return ParamsError(f"{where}: key '{prefix}.{key}' {why}")

    if isinstance(obj, DataParams):
        if not 0 < obj.valid_fraction < 0.5 or not 0 < obj.test_fraction < 0.5:
            raise bad("valid_fraction", "and test_fraction must each be in (0, 0.5)")
        if obj.source in ("devign", "codexglue") and not obj.path:
            raise bad("path", f"is required when data.source is '{obj.source}'")
    if isinstance(obj, GNNParams):
        bs = obj.batch_size
        if not (bs == "auto" or (isinstance(bs, int) and not isinstance(bs, bool) and bs > 0)):
            raise bad("batch_size", f"must be a positive int or 'auto', got {bs!r}")
    elif isinstance(obj, TrainParams) and obj.batch_size <= 0:
        raise bad("batch_size", "must be positive")
    if isinstance(obj, TrainParams):
        if obj.epochs < 1:
            raise bad("epochs", "must be at least 1")
        if obj.grad_accum < 1:
            raise bad("grad_accum", "must be at least 1")
    if isinstance(obj, OOFParams):
        if obj.folds < 2:
            raise bad("folds", "must be at least 2")
        unknown = set(obj.models) - {"lexical", "transformer", "gnn"}
        if unknown:
            raise bad("models", f"names unknown models {sorted(unknown)}; use lexical, transformer, gnn")
    if isinstance(obj, Params) and obj.n_runs < 1:
        raise ParamsError(f"{where}: key 'n_runs' must be at least 1, got {obj.n_runs}")
    if isinstance(obj, FusionParams):
        unknown = set(obj.features) - {"length", "nesting", "dangerous_calls"}
        if unknown:
            raise bad("features", f"names unknown features {sorted(unknown)}; use length, nesting, dangerous_calls")
    if isinstance(obj, EvaluateParams) and not 0.5 < obj.confidence_level < 1:
        raise bad("confidence_level", "must be in (0.5, 1)")
    if isinstance(obj, CollectParams):
        unknown = [s for s in obj.sources if s not in obj.SOURCES]
        if unknown:
            raise bad("sources", f"names unknown sources {unknown}; use {', '.join(obj.SOURCES)}")
        for name in [f.name for f in dataclasses.fields(obj) if f.name.startswith("confidence_")]:
            if not 0 < getattr(obj, name) <= 1:
                raise bad(name, "must be in (0, 1]")
        if not 0 < obj.min_function_tokens < obj.max_function_tokens:
            raise bad("min_function_tokens", "must be positive and below max_function_tokens")
        for key in ("rate_limit_per_s", "timeout_s", "workers"):
            if getattr(obj, key) <= 0:
                raise bad(key, "must be positive")
        for key in ("retries", "backoff_base_s", "synthetic_pairs", "max_advisories", "git_max_commits"):
            if getattr(obj, key) < 0:
                raise bad(key, "must not be negative")
        if obj.backoff_max_s < obj.backoff_base_s:
            raise bad("backoff_max_s", "must be at least backoff_base_s")
        import re  # only collect params hold regular expressions

        for pattern in obj.git_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise bad("git_patterns", f"holds an invalid regular expression {pattern!r}: {exc}") from None


def run_seeds(params: "Params") -> list[int]:
    """The seeds of the n_runs ensemble members."""
    return [params.seed + 1000 * r for r in range(params.n_runs)]


def params_from_dict(raw: dict[str, Any] | None, where: str = "params") -> Params:
    return _build(Params, raw or {}, where, "")


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return params_from_dict(raw, str(path))


def dump_defaults() -> dict[str, Any]:
    return dataclasses.asdict(Params())
