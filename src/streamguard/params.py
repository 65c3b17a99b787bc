"""params.yaml, read once into typed, validated dataclasses.

An unknown key, a wrong type or a value outside its allowed range is a
`ParamsError` naming the file, the line and the dotted key, with a suggestion
when the key looks like a typo. Every section is a dataclass that checks its
own ranges in `__post_init__`; a stage receives the `Params` object and reads
only the sections it declares in dvc.yaml.

The file is read as YAML 1.2 numbers (`2e-05`, as `dvc exp run -S` writes it,
is a float), refusing what a params file never needs and a hostile one might
hold: more than 1 MiB, duplicate keys, and aliases that expand into a huge tree.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import yaml

from streamguard.errors import StreamGuardError
from streamguard.models.registry import ANALYZERS, BASE_MODELS, GENERALIZE_MODELS


class ParamsError(StreamGuardError, ValueError):
    """A params.yaml problem; the message says which key and what to do."""


class InvalidValue(ParamsError):
    """A section's value outside its range; `_build` adds the file and line to the message."""

    def __init__(self, section: str, key: str, why: str) -> None:
        self.key = key
        self.why = why
        super().__init__(f"params: key '{_dotted(section, key)}' {why}")


def _dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 4


def shorten(value: Any, limit: int = 80) -> str:
    """repr(value) capped at `limit` characters, built without expanding the whole value."""
    return clip(_SHORT.repr(value), limit)


def clip(text: str, limit: int = 80) -> str:
    """`text` capped at `limit` characters, for a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- range checks, called from each section's __post_init__ ---------------------------


def _invalid(obj: Any, key: str, rule: str) -> InvalidValue:
    return InvalidValue(getattr(obj, "SECTION", ""), key, f"must be {rule}, got {shorten(getattr(obj, key))}")


def _at_least(obj: Any, **minimums: float) -> None:
    for key, low in minimums.items():
        if not getattr(obj, key) >= low:  # `not >=` also refuses NaN
            raise _invalid(obj, key, f"at least {low}")


def _positive(obj: Any, *keys: str) -> None:
    for key in keys:
        if not getattr(obj, key) > 0:
            raise _invalid(obj, key, "positive")


def _between(obj: Any, key: str, low: float, high: float, interval: str = "[)") -> None:
    """low/high bounds, closed or open as `interval` says: "[)" is low <= v < high."""
    value = getattr(obj, key)
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[1] == "]" else value < high
    if not (above and below):
        raise _invalid(obj, key, f"in {interval[0]}{low}, {high}{interval[1]}")


def _known(obj: Any, key: str, allowed: typing.Iterable[str], what: str) -> None:
    """Every name in list `key` is one of `allowed`, each at most once."""
    names = getattr(obj, key)
    allowed = list(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InvalidValue(obj.SECTION, key, f"names unknown {what} {shorten(unknown)}; use {', '.join(allowed)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidValue(obj.SECTION, key, f"lists {shorten(repeated)} more than once")


MAX_EPOCHS = 10_000  # beyond this a typo is likelier than a plan
MAX_SEED = 2**32 - 1  # numpy's seed range
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass
class DataParams:
    SECTION: ClassVar[str] = "data"

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
    # random: duplicate- and pair-aware stratified split; cross_project: every record (raw or
    # collected) of data.test_projects is the test split, the other projects give train and valid
    split: Literal["random", "cross_project"] = "random"
    test_projects: list[str] = field(default_factory=list)  # names as in records' `project` (any case)

    def __post_init__(self) -> None:
        _between(self, "valid_fraction", 0, 0.5, "()")
        _between(self, "test_fraction", 0, 0.5, "()")
        if self.split == "cross_project" and not self.test_projects:
            raise InvalidValue(
                self.SECTION,
                "test_projects",
                "must name the held-out projects when data.split is "
                "'cross_project' (e.g. [qemu], or collected repositories such as [libssh2])",
            )
        if self.split == "random" and self.test_projects:
            raise InvalidValue(
                self.SECTION,
                "test_projects",
                f"is {shorten(self.test_projects)} but data.split is "
                "'random', which ignores it; set data.split: cross_project or empty the list",
            )
        if self.source in ("devign", "codexglue") and not self.path:
            raise InvalidValue(self.SECTION, "path", f"is required when data.source is '{self.source}'")
        if not self.hf_dataset:
            raise _invalid(self, "hf_dataset", "a dataset id such as google/code_x_glue_cc_defect_detection")
        _at_least(self, max_chars=1, limit=0)


@dataclass
class GraphParams:
    """The graphs stage (streamguard.graphs; feature layout in graphs/schema.py)."""

    SECTION: ClassVar[str] = "graph"

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
        _at_least(self, max_nodes=2)
        if not self.edge_types:
            raise InvalidValue(
                self.SECTION, "edge_types", "must name at least one of ast, sequence, control_flow, data_flow"
            )
        _known(self, "edge_types", ("ast", "sequence", "control_flow", "data_flow"), "edge types")
        _at_least(self, vocab_size=16, min_token_count=1, subtokens_per_node=1, workers=0)
        _between(self, "token_tier_error_fraction", 0, 1, "(]")
        _between(self, "token_tier_problem_rate", 0, 1, "(]")


@dataclass
class TrainParams:
    """Fields shared by both neural branches' training loops."""

    SECTION: ClassVar[str] = ""

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
    checkpoint_every: int = 200  # optimizer steps; 0 = only on SIGTERM/SIGINT and at the end
    # >0: also validate every N optimizer steps inside an epoch (a curve point each; early stopping and
    # patience count these rounds), for long single-epoch runs such as pretraining; 0 = at epoch ends only
    validate_every_steps: int = 0
    resume: Literal["auto", "never"] = "auto"
    amp: bool = True  # only takes effect on CUDA
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    tensorboard: bool = False
    # data-parallel processes on this node (torchrun, started by `streamguard train/oof/pretrain` itself):
    # an int, or "auto" = one per visible GPU (1 on a CPU-only machine). Not part of the resume fingerprint
    nproc_per_node: Any = 1

    def __post_init__(self) -> None:
        _between(self, "epochs", 1, MAX_EPOCHS, "[]")
        self._check_batch_size()
        _positive(self, "learning_rate")
        # the loop always clips, so 0 would zero every gradient and nothing would learn
        _positive(self, "grad_clip")
        _at_least(self, weight_decay=0, grad_accum=1, patience=1, checkpoint_every=0, validate_every_steps=0)
        _between(self, "warmup_ratio", 0, 1, "[)")
        if not DEVICE.fullmatch(self.device):
            raise _invalid(self, "device", "auto, cpu, cuda, cuda:N or mps")
        n = self.nproc_per_node
        if not (n == "auto" or (isinstance(n, int) and not isinstance(n, bool) and n >= 1)):
            raise _invalid(self, "nproc_per_node", "a positive int or 'auto' (one process per visible GPU)")

    def _check_batch_size(self) -> None:
        _at_least(self, batch_size=1)


@dataclass
class RobertaSizes:
    """The sizes of a RoBERTa built from config: the transformer branch's and the pretrain stage's."""

    vocab_size: int = 8000
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 256
    dropout: float = 0.1

    def _check_sizes(self) -> None:
        _at_least(self, vocab_size=1, hidden_size=1, num_layers=1, num_heads=1, intermediate_size=1)
        if self.hidden_size % self.num_heads:
            raise InvalidValue(
                getattr(self, "SECTION", ""),
                "num_heads",
                f"must divide hidden_size ({self.hidden_size}), got {self.num_heads}",
            )
        _between(self, "dropout", 0, 1, "[)")


@dataclass
class TransformerParams(RobertaSizes, TrainParams):
    SECTION: ClassVar[str] = "transformer"

    # a local folder or hub id: from_pretrained; null: train a tokenizer and build from config
    model_name_or_path: str | None = None
    # scratch: as model_name_or_path says; pretrain: fine-tune the `pretrain` stage's model (models/pretrain/hf)
    init: Literal["scratch", "pretrain"] = "scratch"
    max_length: int = 256
    # windows of max_length tokens per function, pooled into one prediction; 1 = one window trimmed
    # around dangerous calls (streamguard.data.trim), >1 = consecutive windows over the whole function
    max_windows: int = 1
    window_pooling: Literal["max", "mean"] = "max"  # how the windows' <s> states become one
    # pair-aware training: weight of a margin ranking term pushing P(vulnerable) above P(fixed)
    # for the training split's pairs (Record.pair); 0 = plain confidence-weighted training
    pair_loss_weight: float = 0.0
    pair_margin: float = 0.1  # in probability units: P(vulnerable) - P(fixed) below this is penalised
    # padded: batches of batch_size functions in random order, each padded to its longest;
    # bucketed: functions of similar length batched together to a token budget (streamguard.training.batches)
    batching: Literal["padded", "bucketed"] = "padded"

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least(self, max_windows=1, pair_loss_weight=0.0)
        _between(self, "pair_margin", 0.0, 1.0, "[]")
        if self.pair_loss_weight > 0 and self.weighting == "sampler":
            raise InvalidValue(
                self.SECTION,
                "pair_loss_weight",
                f"is {self.pair_loss_weight} but weighting is 'sampler'; pairs are drawn together, one item per "
                "pair, so weigh by loss instead: set weighting: loss (or pair_loss_weight: 0)",
            )
        if self.model_name_or_path == "":
            raise _invalid(self, "model_name_or_path", "a local folder, a hub id or null")
        if self.init == "pretrain" and self.model_name_or_path:
            raise InvalidValue(
                self.SECTION,
                "init",
                f"is 'pretrain' but model_name_or_path is {shorten(self.model_name_or_path)}; "
                "set one of them (model_name_or_path: null to fine-tune the pretrain stage's model)",
            )
        # two of max_length are the <s> and </s> that frame every function
        _at_least(self, max_length=3)
        self._check_sizes()


@dataclass
class PretrainParams(RobertaSizes, TrainParams):
    """The `pretrain` stage (streamguard.stages.pretrain): masked-LM pretraining on unlabelled C.

    It runs only when transformer.init or gnn.token_init is 'pretrain'; otherwise it writes a marker saying so.
    The loop's early stopping uses the valid MLM loss here (early_stopping_metric and
    weighting are classification settings and are ignored).
    """

    SECTION: ClassVar[str] = "pretrain"

    # local folders, .tar.gz/.tgz/.tar.xz/.tar.bz2 archives, git repositories or bundles, or
    # "hf:DATASET_ID" (a Hugging Face dataset, streamed); [] = the training split's own functions
    sources: list[str] = field(default_factory=list)
    hf_text_field: str = "func"  # the text column of hf: sources
    extensions: list[str] = field(default_factory=lambda: [".c", ".h"])
    max_functions: int = 0  # corpus cap after deduplication; 0 = no cap
    # keep a function only when its text hash falls in this fraction: a capped corpus then spreads
    # over a whole tree instead of its first files in archive order (kernel tarballs start with arch/)
    sample_fraction: float = 1.0
    max_file_bytes: int = 1_000_000  # larger source files (generated tables) are skipped, counted
    min_chars: int = 40  # shorter functions are dropped, counted
    max_chars: int = 20000  # longer functions are dropped, counted
    max_tokens: int = 0  # token budget of the training sequences; 0 = the whole corpus
    max_steps: int = 0  # optimizer steps; 0 = epochs decide
    valid_fraction: float = 0.02  # corpus functions held out for the valid MLM loss (by text hash)
    max_valid_sequences: int = 1000
    max_length: int = 128
    mlm_probability: float = 0.15
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.05
    patience: int = 1
    # padded | bucketed, as transformer.batching: windows of similar length batched to a token budget
    batching: Literal["padded", "bucketed"] = "padded"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.sources)) != len(self.sources):
            raise InvalidValue(self.SECTION, "sources", f"lists a source twice: {shorten(self.sources)}")
        if any(not s.strip() for s in self.sources):
            raise _invalid(self, "sources", "paths, archives, git repositories/bundles or hf:DATASET_ID")
        if not self.extensions or any(not e.startswith(".") for e in self.extensions):
            raise _invalid(self, "extensions", "a non-empty list of suffixes such as .c, .h")
        _at_least(self, max_functions=0, max_file_bytes=1, min_chars=1, max_tokens=0, max_steps=0)
        # a byte-level BPE vocabulary holds the 256 bytes and the special tokens before any merge
        _at_least(self, max_valid_sequences=1, vocab_size=300, max_length=8)
        self._check_sizes()
        if self.max_chars < self.min_chars:
            raise InvalidValue(self.SECTION, "max_chars", f"({self.max_chars}) is below min_chars ({self.min_chars})")
        _between(self, "valid_fraction", 0, 0.5, "()")
        _between(self, "sample_fraction", 0, 1, "(]")
        _between(self, "mlm_probability", 0, 1, "()")


@dataclass
class GNNParams(TrainParams):
    SECTION: ClassVar[str] = "gnn"

    hidden_size: int = 128
    num_layers: int = 3
    dropout: float = 0.2
    # an int, or "auto" to use the recommendation in graph_stats.json
    batch_size: Any = 64
    memory_budget_mb: int = 2048
    # scratch: random subtoken embeddings; pretrain: start them from the pretrain stage's MLM
    # (models/pretrain/hf), whose hidden size must equal this hidden_size
    token_init: Literal["scratch", "pretrain"] = "scratch"

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least(self, hidden_size=1, num_layers=1, memory_budget_mb=1)
        _between(self, "dropout", 0, 1, "[)")

    def _check_batch_size(self) -> None:
        bs = self.batch_size
        if not (bs == "auto" or (isinstance(bs, int) and not isinstance(bs, bool) and bs > 0)):
            raise _invalid(self, "batch_size", "a positive int or 'auto'")


@dataclass
class LexicalParams:
    SECTION: ClassVar[str] = "lexical"

    max_features: int = 50000
    ngram_max: int = 2
    C: float = 1.0

    def __post_init__(self) -> None:
        _at_least(self, max_features=1, ngram_max=1)
        _positive(self, "C")


@dataclass
class OOFParams:
    SECTION: ClassVar[str] = "oof"

    folds: int = 5
    models: list[str] = field(default_factory=lambda: list(BASE_MODELS))
    # epochs override for fold models (0 = same as the full model)
    epochs: int = 0

    def __post_init__(self) -> None:
        _at_least(self, folds=2)
        if not self.models:
            raise InvalidValue(self.SECTION, "models", f"must name at least one of {', '.join(BASE_MODELS)}")
        _known(self, "models", BASE_MODELS, "models")
        _between(self, "epochs", 0, MAX_EPOCHS, "[]")


@dataclass
class FusionParams:
    SECTION: ClassVar[str] = "fusion"

    stacker: Literal["logreg", "gbm"] = "logreg"
    C: float = 1.0
    threshold_rule: Literal["max_f1", "max_accuracy"] = "max_accuracy"
    # cheap per-function features appended to the stacker's input: any of
    # length (log chars), nesting (max brace/paren depth), dangerous_calls (log count)
    features: list[str] = field(default_factory=list)
    # what the stacker is fitted on: "valid" = the full models' valid-split
    # probabilities, threshold chosen by cross-fitting on valid (no fold models:
    # the oof stages skip); "oof" = out-of-fold probabilities of the training
    # split (trains 5 fold models per base model, each on 4/5 of train)
    fit_on: Literal["oof", "valid"] = "valid"
    valid_folds: int = 5  # cross-fitting folds on valid when fit_on is "valid"

    def __post_init__(self) -> None:
        _positive(self, "C")
        _at_least(self, valid_folds=2)  # cross-fitting needs two folds
        _known(self, "features", ("length", "nesting", "dangerous_calls"), "features")


@dataclass
class EvaluateParams:
    SECTION: ClassVar[str] = "evaluate"

    # paired percentile bootstrap over test functions, for every metric's CI
    # and for the CIs of differences between models (evaluate and compare)
    bootstrap_resamples: int = 1000
    confidence_level: float = 0.95
    seed: int = 0  # bootstrap resampling seed: same seed, same intervals
    # equal-width probability bins of the calibration (reliability) plot
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        _at_least(self, bootstrap_resamples=1, calibration_bins=1)
        _between(self, "confidence_level", 0.5, 1, "()")
        _between(self, "seed", 0, MAX_SEED, "[]")


@dataclass
class GeneralizeParams:
    """Leave-one-project-out evaluation (streamguard.evaluation.generalization)."""

    SECTION: ClassVar[str] = "generalize"
    # sources of the corpus (its records' `source`): pair sources give vulnerable/fixed pairs linked by
    # `pair` ids; function sources give a project's labelled functions, the set its function-level
    # figures are computed on
    PAIR_SOURCES: ClassVar[tuple[str, ...]] = ("git", "pairvul")
    FUNCTION_SOURCES: ClassVar[tuple[str, ...]] = ("snapshot", "devign")
    # sources that only ever train (labelled function rows): synthetic code nobody scans is never held out
    TRAIN_ONLY_SOURCES: ClassVar[tuple[str, ...]] = ("juliet",)
    CORPUS_SOURCES: ClassVar[tuple[str, ...]] = (*PAIR_SOURCES, *FUNCTION_SOURCES, *TRAIN_ONLY_SOURCES)

    # sample: the bundled mined pairs + retro-scan snapshots of three repositories and the Devign
    # sample; build: mine collect.git_repos (pairs + snapshots), plus PairVul and Devign when given
    corpus: Literal["sample", "build"] = "sample"
    pairvul_path: str | None = None
    devign_path: str | None = None
    devign_max_per_project: int = 0  # 0 = every Devign function
    juliet_path: str | None = None  # the Juliet C suite (directory or .tar.gz): project `juliet`, train-only
    juliet_max_cases: int = 0  # whole Juliet test cases kept (spread by name hash); 0 = all
    drop_cross_project_clones: bool = True
    models: list[str] = field(default_factory=lambda: ["lexical", "code_metrics", "lexical_metrics"])
    # project_balanced: each training project weighs the same, each class half of it
    weighting: Literal["project_balanced", "records"] = "project_balanced"
    # functions: a pair's two sides are labelled functions like any other; ranking: pairs train
    # only the ranking of each vulnerable side above its fix (models/pair_ranking.py)
    pair_training: Literal["functions", "ranking"] = "functions"
    pair_weight: float = 1.0  # ranking: the pairs' total weight, relative to the function rows'
    # lexical_metrics: the stacker also takes log(1 + code tokens), the length rule itself
    stack_length: bool = False
    # the corpus sources models train on (every source but TRAIN_ONLY_SOURCES is still evaluated when held out)
    train_sources: list[str] = field(
        default_factory=lambda: [*GeneralizeParams.PAIR_SOURCES, *GeneralizeParams.FUNCTION_SOURCES]
    )
    # project-grouped cross-fitting folds inside the training projects: thresholds and the stacker
    threshold_folds: int = 3
    # lexical: an n-gram is a feature only where at least this many training projects use it
    # (1 = every n-gram); project-specific names then cannot carry the model
    min_projects: int = 1
    # lexical: string, character and number literals become placeholder tokens before hashing
    normalise_literals: bool = False
    # code_metrics: the analyzers' findings per function (models/analyzer_findings.py) join the code metrics
    metrics_findings: bool = False
    # code_metrics: the guard deficit per function (models/guard_metrics.py) joins the code metrics
    guard_metrics: bool = False
    # the C analyzers whose findings the analyzers model and metrics_findings read, side by side
    analyzers: list[str] = field(default_factory=lambda: ["flawfinder"])
    # code_metrics and analyzers: global = features as computed; project = each project's features
    # standardised over its own functions (no labels), so a model reads "long for this project"
    # rather than a project's style
    metrics_scaling: Literal["global", "project"] = "global"

    def __post_init__(self) -> None:
        _at_least(self, devign_max_per_project=0, juliet_max_cases=0, threshold_folds=2, min_projects=1)
        _positive(self, "pair_weight")
        if not self.train_sources:
            raise InvalidValue(
                self.SECTION, "train_sources", f"must name at least one of {', '.join(self.CORPUS_SOURCES)}"
            )
        _known(self, "train_sources", self.CORPUS_SOURCES, "sources")
        if not self.models:
            raise InvalidValue(self.SECTION, "models", f"must name at least one of {', '.join(GENERALIZE_MODELS)}")
        _known(self, "models", GENERALIZE_MODELS, "models")
        if not self.analyzers:
            raise InvalidValue(self.SECTION, "analyzers", f"must name at least one of {', '.join(ANALYZERS)}")
        _known(self, "analyzers", ANALYZERS, "analyzers")


@dataclass
class CollectParams:
    """Phase 2 collection (streamguard.data.collectors); confidence mapping in noise.py."""

    # every source `streamguard collect <source>` knows (one DVC stage each, via foreach)
    SECTION: ClassVar[str] = "collect"
    SOURCES: ClassVar[tuple[str, ...]] = ("nvd", "ghsa", "osv", "git", "exploitdb", "synthetic", "juliet", "triage")

    # sources that run; every other one writes an empty file and a "disabled" report.
    # the default needs no network and no ../shared (juliet_path null -> skipped).
    sources: list[str] = field(default_factory=lambda: ["synthetic", "juliet", "git", "triage"])
    # NVD: the API 2.0 (runs only when env NVD_API_KEY is set) and/or JSON feed files
    nvd_api_url: str = "https://services.nvd.nist.gov/rest/json/cves/2.0"
    nvd_keyword: str | None = None  # API keywordSearch filter; null = every CVE
    nvd_feeds: list[str] = field(default_factory=list)  # .json/.json.gz, feed schema 2.0 or 1.1
    # GitHub REST: advisories (need env GITHUB_TOKEN) and fix-commit resolution for every source
    github_api_url: str = "https://api.github.com"
    ghsa_type: Literal["reviewed", "unreviewed"] = "unreviewed"  # C advisories are mostly unreviewed
    ghsa_cwes: list[str] = field(
        default_factory=lambda: [
            "119",
            "120",
            "121",
            "122",
            "125",
            "134",
            "190",
            "401",
            "415",
            "416",
            "476",
            "787",
            "78",
        ]
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
    juliet_max_cases: int = 0  # test cases kept (whole cases, spread by name hash); 0 = all
    # scan triage verdicts: checkouts (or their .streamguard/triage.jsonl) whose verdicts become labelled records
    triage_files: list[str] = field(default_factory=list)
    synthetic_pairs: int = 400
    synthetic_seed: int = 1337
    # confidence (sample weight) per source and heuristic; tiers 1.0 / 0.3 / 0.1
    confidence_advisory_exploit: float = 1.0  # advisory-linked fix commit, CVE has a public exploit
    confidence_advisory: float = 0.3  # advisory-linked fix commit, no known exploit
    confidence_git_exploit: float = 1.0  # mined commit citing a CVE with a public exploit
    confidence_git: float = 0.3  # mined by message keyword
    confidence_juliet: float = 0.3
    confidence_synthetic: float = 0.1
    confidence_triage: float = 1.0  # a person's verdict on this very function of the team's own code
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

    def __post_init__(self) -> None:
        _known(self, "sources", self.SOURCES, "sources")
        for key in ("nvd_api_url", "github_api_url", "osv_api_url"):
            if not re.match(r"https?://[^/\s]+", getattr(self, key)):
                raise _invalid(self, key, "an http(s):// URL")
        for key in [f.name for f in dataclasses.fields(self) if f.name.startswith("confidence_")]:
            _between(self, key, 0, 1, "(]")
        if not 0 < self.min_function_tokens < self.max_function_tokens:
            raise InvalidValue(
                self.SECTION,
                "min_function_tokens",
                "must be positive and below max_function_tokens "
                f"({self.max_function_tokens}), got {self.min_function_tokens}",
            )
        _positive(self, "rate_limit_per_s", "timeout_s", "workers")
        _at_least(
            self,
            retries=0,
            backoff_base_s=0,
            synthetic_pairs=0,
            max_advisories=0,
            git_max_commits=0,
            juliet_max_cases=0,
        )
        _between(self, "synthetic_seed", 0, MAX_SEED, "[]")
        if not self.backoff_max_s >= self.backoff_base_s:
            raise _invalid(self, "backoff_max_s", f"at least backoff_base_s ({self.backoff_base_s})")
        if not self.cache_dir:
            raise _invalid(self, "cache_dir", "a folder for cached HTTP responses")
        for pattern in self.git_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidValue(
                    self.SECTION, "git_patterns", f"holds an invalid regular expression {shorten(pattern)}: {exc}"
                ) from None


@dataclass
class Params:
    SECTION: ClassVar[str] = ""

    seed: int = 42
    # seed ensembling: each base model (full and fold models) is trained with
    # n_runs seeds (seed, seed+1000, ...) and its probabilities averaged
    n_runs: int = 1
    data: DataParams = field(default_factory=DataParams)
    graph: GraphParams = field(default_factory=GraphParams)
    transformer: TransformerParams = field(default_factory=TransformerParams)
    pretrain: PretrainParams = field(default_factory=PretrainParams)
    gnn: GNNParams = field(default_factory=GNNParams)
    lexical: LexicalParams = field(default_factory=LexicalParams)
    oof: OOFParams = field(default_factory=OOFParams)
    fusion: FusionParams = field(default_factory=FusionParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    collect: CollectParams = field(default_factory=CollectParams)
    generalize: GeneralizeParams = field(default_factory=GeneralizeParams)

    def __post_init__(self) -> None:
        _between(self, "seed", 0, MAX_SEED, "[]")
        _between(self, "n_runs", 1, 100, "[]")

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))


def run_seeds(params: Params) -> list[int]:
    """The seeds of the n_runs ensemble members."""
    return [params.seed + 1000 * r for r in range(params.n_runs)]


def pretraining_wanted(params: Params) -> bool:
    """Whether any branch starts from the pretrained model: the pretrain stage runs only then."""
    return params.transformer.init == "pretrain" or params.gnn.token_init == "pretrain"


def fold_models_wanted(params: Params) -> bool:
    """Whether the stacker is fitted on out-of-fold probabilities: the oof stages train only then."""
    return params.fusion.fit_on == "oof"


# --- types: params.yaml values against the dataclasses' annotations ------------------


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
        # NaN and inf pass every `<` check unnoticed or break training later; no param wants them
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
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
    if tp is float:
        return "a finite number"
    return getattr(tp, "__name__", str(tp))


def _build(cls: Any, raw: Any, where: str, prefix: str, lines: dict[str, int]) -> Any:
    def at(dotted: str) -> str:
        line = lines.get(dotted) or lines.get(prefix)
        return f"{where}:{line}" if line else where

    if not isinstance(raw, dict):
        raise ParamsError(f"{at(prefix)}: '{prefix or 'top level'}' must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = _dotted(prefix, str(key))
        if key not in names:
            close = difflib.get_close_matches(str(key)[:100], names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise ParamsError(f"{at(dotted)}: unknown key {shorten(dotted)}{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, where, dotted, lines)
            continue
        ok, coerced = _type_ok(value, tp)
        if not ok:
            raise ParamsError(f"{at(dotted)}: key '{dotted}' must be {_describe(tp)}, got {shorten(value)}")
        kwargs[key] = coerced
    try:
        return cls(**kwargs)
    except InvalidValue as exc:
        dotted = _dotted(prefix, exc.key)
        raise ParamsError(f"{at(dotted)}: key '{dotted}' {exc.why}") from None


def params_from_dict(raw: dict[str, Any] | None, where: str = "params", lines: dict[str, int] | None = None) -> Params:
    """Params from already-parsed data; `lines` maps dotted keys to params.yaml lines for messages."""
    return _build(Params, raw or {}, where, "", lines or {})


# --- the file: bounded, YAML 1.2 numbers, no duplicate keys, no alias bombs -----------

MAX_PARAMS_BYTES = 1 << 20  # a full params.yaml is ~8 KB
MAX_PARAMS_NODES = 100_000  # values after expanding aliases; a full params.yaml has ~250


class _ParamsLoader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats (`2e-05`, `1E3`), which YAML 1.1 calls strings."""


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_params_yaml(path: str | Path, where: str | None = None) -> tuple[Any, dict[str, int]]:
    """The parsed params file and the line of each dotted key; every problem is a ParamsError naming the file.

    The one reader of params files: load_params and `streamguard sagemaker -S` both use it.
    """
    path = Path(path)
    where = where or str(path)
    if path.is_dir():
        raise ParamsError(f"{where}: is a directory; pass the params file itself (e.g. --params params.yaml)")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PARAMS_BYTES + 1)
    except FileNotFoundError:
        raise ParamsError(f"{where}: not found; run from the repository root or pass --params") from None
    except OSError as exc:
        raise ParamsError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_PARAMS_BYTES:
        raise ParamsError(
            f"{where}: larger than {MAX_PARAMS_BYTES // 1024} KiB; a params file is a few KB, is this the right file?"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParamsError(
            f"{where}:{line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); save the file as UTF-8"
        ) from None
    loader = _ParamsLoader(text)
    loader.name = where  # YAML error marks name the file
    try:
        node = loader.get_single_node()
        if node is None:
            raise ParamsError(
                f"{where}: holds no params (empty or only comments); write the keys to change, "
                "or drop --params to use params.yaml"
            )
        _check_expanded_size(node, where)
        lines: dict[str, int] = {}
        _check_keys(node, "", where, lines)
        raw = loader.construct_document(node)
    except ParamsError:
        raise
    except yaml.YAMLError as exc:
        raise ParamsError(f"{where}: not valid YAML: {clip(str(exc), 400)}") from None
    except RecursionError:
        raise ParamsError(f"{where}: nested too deeply to be a params file") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ParamsError(f"{where}: unreadable value: {clip(str(exc), 200)}") from None
    finally:
        loader.dispose()
    if raw == {}:
        raise ParamsError(f"{where}: holds no params (an empty mapping); write the keys to change")
    return raw, lines


def _check_expanded_size(root: yaml.Node, where: str) -> None:
    """Refuse aliases that expand into a huge tree (a "billion laughs" bomb), counting each shared node once."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            sizes[id(node)] = 1 + sum(size(c) for c in children)
        return sizes[id(node)]

    if size(root) > MAX_PARAMS_NODES:
        raise ParamsError(
            f"{where}: its aliases (*name) expand to more than {MAX_PARAMS_NODES} values; "
            "write the values out instead of nesting aliases"
        )


def _check_keys(node: yaml.Node, path: str, where: str, lines: dict[str, int]) -> None:
    """Refuse a key given twice in one mapping (YAML would keep the last one silently); note each key's line."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(item, path, where, lines)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[tuple[str, str], int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            _check_keys(value_node, path, where, lines)
            continue
        dotted = _dotted(path, key_node.value)
        identity = (key_node.tag, key_node.value)
        if identity in seen:  # the same key again, even on the same line ({a: 1, a: 2})
            first = seen[identity]
            raise ParamsError(
                f"{where}:{line}: key {shorten(dotted)} appears twice, at lines {first} and {line}; "
                "keep one (YAML would silently use the last)"
            )
        seen[identity] = line
        lines.setdefault(dotted, line)
        _check_keys(value_node, dotted, where, lines)


def load_params(path: str | Path = "params.yaml", where: str | None = None) -> Params:
    """Params from a params file; `where` names it in messages (default: the path)."""
    raw, lines = read_params_yaml(path, where)
    return params_from_dict(raw, where or str(path), lines)


def dump_defaults() -> dict[str, Any]:
    return dataclasses.asdict(Params())
