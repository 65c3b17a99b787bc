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
    max_nodes: int = 600
    edge_types: list[str] = field(default_factory=lambda: ["ast"])
    vocab_size: int = 5000
    workers: int = 0  # 0 = all cores


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
    threshold_rule: Literal["max_f1", "max_accuracy"] = "max_f1"


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
class Params:
    seed: int = 42
    data: DataParams = field(default_factory=DataParams)
    graph: GraphParams = field(default_factory=GraphParams)
    transformer: TransformerParams = field(default_factory=TransformerParams)
    gnn: GNNParams = field(default_factory=GNNParams)
    lexical: LexicalParams = field(default_factory=LexicalParams)
    oof: OOFParams = field(default_factory=OOFParams)
    fusion: FusionParams = field(default_factory=FusionParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)

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
    if isinstance(obj, EvaluateParams) and not 0.5 < obj.confidence_level < 1:
        raise bad("confidence_level", "must be in (0.5, 1)")


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
