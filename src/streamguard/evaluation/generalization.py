"""Leave-one-project-out generalization: how each model does on a project it never saw.

For every project of the corpus (data/generalization_corpus.py), models are
trained on all the other projects and score the held-out one. Every choice a
model makes is made inside the training projects, never on the held-out one:
the TF-IDF vocabulary, the metric scaler, the class weights, the decision
threshold and the stacker all come from the training projects, the last two
from project-grouped cross-fitting (each training project's predictions come
from models that did not see it). Records of a train-only source (Juliet's
synthetic cases) train every model when `generalize.train_sources` lists them,
and are never held out or scored, not even to cross-fit those two choices.

The lexical model is TF-IDF + logistic regression over hashed token n-grams
(the tokens of models/lexical.py), so the counts are computed once for the
whole corpus and only the idf and the weights are learned per fold.

Per held-out project, and pooled over all of them (each project scored by
its own held-out models):
- functions: ROC-AUC, PR-AUC, accuracy, precision, recall, F1, MCC of the project's vulnerable
  functions against its other functions (the retro-scan snapshot of a mined
  repository, Devign's labels, or PairVul's two sides), with bootstrap CIs;
- pairs: pairwise accuracy (the vulnerable side scored above its fix), ties,
  P-C and VD-S on the project's vulnerable/fixed pairs;
- retro-scan (snapshots only): recall in the top 1 % and the top 50,
  precision in the top 50, of functions a later security fix changed;
- each model's ROC-AUC against the length rule: the paired bootstrap CI of
  the difference and its p-value;
- pooled over the snapshots only: the precision of each score band
  (evaluation/score_bands.py), what a finding of `scan` at that score is worth.
The length rule (longer = more suspicious) and random order are computed the
same way and reported beside every model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from streamguard.c.literals import normalise_literals
from streamguard.c.tokens import code_tokens
from streamguard.data.generalization_corpus import corpus_texts
from streamguard.data.pairs import PairIndex, find_pairs
from streamguard.data.records import read_records
from streamguard.evaluation.bootstrap import bootstrap_p_value, paired_percentile_bootstrap
from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.pairs import pair_metrics, pair_row_metrics
from streamguard.evaluation.score_bands import score_bands
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.io.hashing import sha256_file
from streamguard.metrics import roc_auc_rows
from streamguard.models.analyzer_findings import findings_matrix
from streamguard.models.code_metrics import CodeMetricsModel, metrics_matrix, read_metrics_table
from streamguard.models.fusion import to_logit
from streamguard.models.guard_metrics import guard_matrix
from streamguard.models.hashed_lexical import HashedLexicalConfig, HashedLexicalModel, hashed_counts
from streamguard.params import GeneralizeParams, Params

PAIR_SOURCES, FUNCTION_SOURCES = GeneralizeParams.PAIR_SOURCES, GeneralizeParams.FUNCTION_SOURCES
TRAIN_ONLY_SOURCES = GeneralizeParams.TRAIN_ONLY_SOURCES
# rules every model is reported beside, computed the same way. `shorter` is the length rule reversed:
# a fix usually adds code, so the shorter side of a pair is the vulnerable one more often than not,
# and a pairwise accuracy means something only above this rule's.
REFERENCE_RULES = ("length", "shorter", "random")

HEADLINE = ("roc_auc", "pr_auc", "pairwise_accuracy", "tied", "pairwise_accuracy_same_length", "retro_recall_top1pct")
FUNCTION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "mcc")
RETRO_METRICS = ("retro_recall_top1pct", "retro_recall_top50", "retro_precision_top50")
TOP_K = 50


@dataclass(frozen=True)
class Corpus:
    texts: list[str]  # trimmed as preprocess trims
    y: np.ndarray
    project: np.ndarray
    source: np.ndarray
    pair: list[str | None]
    metrics: np.ndarray  # code metrics, computed once
    length: np.ndarray  # code tokens
    counts: sparse.csr_matrix  # hashed token n-gram counts, computed once (no vocabulary to fit)
    # the records a project's function-level figures use: its function sources, or for a project
    # known only by pairs (PairVul's kernel) both sides of its pairs
    function_set: np.ndarray
    # each analyzer's findings per function, computed on first use
    analyzer_findings: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def findings(self, analyzers: list[str]) -> np.ndarray:
        """The findings of `analyzers` per function (models/analyzer_findings.py), side by side."""
        for name in analyzers:
            if name not in self.analyzer_findings:
                self.analyzer_findings[name] = findings_matrix(self.texts, name)
        return np.hstack([self.analyzer_findings[name] for name in analyzers])

    @cached_property
    def guards(self) -> np.ndarray:
        """The guard deficit per function (models/guard_metrics.py), computed on first use."""
        return guard_matrix(self.texts)


def load_corpus(path: Path, params: Params, code_metrics: Path | None = None) -> Corpus:
    """The corpus at `path`; its code metrics read from `code_metrics` (the generalize_corpus stage's
    table) where given, else computed here."""
    records = list(read_records(path))
    if not records:
        raise EvaluationError(f"{path} holds no records; run `streamguard generalize-corpus` first")
    texts = corpus_texts(records, params)
    if code_metrics is None:
        metrics = metrics_matrix(texts)
    else:
        metrics = read_metrics_table(
            code_metrics, texts_of=sha256_file(path), max_chars=params.data.max_chars, rows=len(records)
        )
    return Corpus(
        texts=texts,
        y=np.array([r.target for r in records], dtype=np.int8),
        project=np.array([r.project for r in records]),
        source=np.array([r.source for r in records]),
        pair=[r.pair if r.source in PAIR_SOURCES else None for r in records],
        metrics=metrics,
        length=np.array([code_tokens(r.func) for r in records], dtype=float),
        counts=hashed_counts(
            [normalise_literals(t) for t in texts] if params.generalize.normalise_literals else texts,
            lexical_config(params),
        ),
        function_set=function_set_mask(np.array([r.project for r in records]), np.array([r.source for r in records])),
    )


def function_set_mask(project: np.ndarray, source: np.ndarray) -> np.ndarray:
    is_function = np.isin(source, FUNCTION_SOURCES)
    with_functions = set(project[is_function].tolist())
    return is_function | (np.isin(source, PAIR_SOURCES) & ~np.isin(project, list(with_functions)))


def lexical_config(params: Params) -> HashedLexicalConfig:
    return HashedLexicalConfig(
        ngram_max=params.lexical.ngram_max, C=params.lexical.C, min_projects=params.generalize.min_projects
    )


def training_weights(project: np.ndarray, y: np.ndarray, rule: str) -> np.ndarray:
    """project_balanced: every project weighs the same and each of its classes half of that (mean 1)."""
    if rule == "records":
        return np.ones(len(y))
    weights = np.zeros(len(y))
    groups = [(p, label) for p in np.unique(project) for label in (0, 1)]
    present = [(p, label) for p, label in groups if np.any((project == p) & (y == label))]
    for p, label in present:
        mask = (project == p) & (y == label)
        weights[mask] = len(y) / (len(present) * mask.sum())
    return weights


def length_score(length: np.ndarray) -> np.ndarray:
    """The length rule as a probability-like score: monotone in the number of code tokens."""
    return 1 - 1 / (1 + np.log1p(length))


BaseModel = HashedLexicalModel | CodeMetricsModel


def fit_base_models(corpus: Corpus, fit_idx: np.ndarray, models: list[str], params: Params) -> dict[str, BaseModel]:
    """The base models `models` need (lexical, code_metrics, analyzers), trained on fit_idx.

    pair_training "functions": every record is a labelled function row.
    "ranking": function and train-only sources are function rows, and pair sources enter only
    as ranking pairs (pair_ranking.py), weighing pair_weight times the function rows.
    """
    y = corpus.y[fit_idx]
    weights, pairs = training_rows(corpus, fit_idx, params)
    fitted: dict[str, BaseModel] = {}
    if "lexical" in models or "lexical_metrics" in models:
        fitted["lexical"] = HashedLexicalModel(lexical_config(params), seed=params.seed).fit(
            corpus.counts[fit_idx], y, weights, pairs, project=corpus.project[fit_idx]
        )
    if "code_metrics" in models or "lexical_metrics" in models:
        features = metrics_features(corpus, "code_metrics", params.generalize)
        fitted["code_metrics"] = CodeMetricsModel(seed=params.seed).fit(features[fit_idx], y, weights, pairs)
    if "analyzers" in models:
        # the same standardised logistic regression as the code metrics, over the analyzers' findings
        features = metrics_features(corpus, "analyzers", params.generalize)
        fitted["analyzers"] = CodeMetricsModel(seed=params.seed).fit(features[fit_idx], y, weights, pairs)
    return fitted


def metrics_features(corpus: Corpus, name: str, settings: GeneralizeParams) -> np.ndarray:
    """What a logistic regression over function features reads: the analyzers' findings for analyzers,
    else the code metrics, with the findings appended under metrics_findings; under
    metrics_scaling "project", standardised within each project."""
    if name == "analyzers":
        features = corpus.findings(settings.analyzers)
    else:
        parts = [corpus.metrics]
        if settings.metrics_findings:
            parts.append(corpus.findings(settings.analyzers))
        if settings.guard_metrics:  # the guard deficit (models/guard_metrics.py)
            parts.append(corpus.guards)
        features = np.hstack(parts) if len(parts) > 1 else corpus.metrics
    if settings.metrics_scaling == "project":
        return project_standardised(features, corpus.project, corpus.function_set)
    return features


def project_standardised(features: np.ndarray, project: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each project's rows standardised by the mean and spread of its `reference` rows (its function
    set: the code a scan of it would see), or of all its rows where it has none. Labels are never read."""
    out = np.empty_like(features, dtype=np.float64)
    for name in np.unique(project):
        rows = project == name
        basis = features[rows & reference] if np.any(rows & reference) else features[rows]
        spread = basis.std(axis=0)
        out[rows] = (features[rows] - basis.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return out


def base_scores(
    fitted: dict[str, BaseModel], corpus: Corpus, score_idx: np.ndarray, settings: GeneralizeParams
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, model in fitted.items():
        if isinstance(model, HashedLexicalModel):
            out[name] = model.predict_counts(corpus.counts[score_idx])
        else:
            out[name] = model.predict_proba(metrics_features(corpus, name, settings)[score_idx])
    return out


def training_rows(
    corpus: Corpus, fit_idx: np.ndarray, params: Params
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Weights of the function rows of fit_idx, and (vulnerable, fixed, weight) ranking pairs (positions in fit_idx)."""
    settings = params.generalize
    y = corpus.y[fit_idx]
    project = corpus.project[fit_idx]
    if settings.pair_training == "functions":
        return training_weights(project, y, settings.weighting), None
    is_function = np.isin(corpus.source[fit_idx], (*FUNCTION_SOURCES, *TRAIN_ONLY_SOURCES))
    weights = np.zeros(len(fit_idx))
    if is_function.any():
        weights[is_function] = training_weights(project[is_function], y[is_function], settings.weighting)
    is_pair = np.isin(corpus.source[fit_idx], PAIR_SOURCES)
    local = np.flatnonzero(is_pair)
    found = find_pairs([corpus.pair[fit_idx[i]] for i in local], y[local])
    vulnerable, fixed = local[found.vulnerable], local[found.fixed]
    pair_project = project[vulnerable]
    total = settings.pair_weight * max(float(weights.sum()), float(len(vulnerable)))
    pair_weights = np.zeros(len(vulnerable))
    projects = np.unique(pair_project)
    for p in projects:
        mask = pair_project == p
        pair_weights[mask] = total / (len(projects) * mask.sum())
    return weights, (vulnerable, fixed, pair_weights)


def stacker_inputs(scores: dict[str, np.ndarray], length: np.ndarray, with_length: bool) -> np.ndarray:
    """The lexical_metrics stacker's inputs: the logits of lexical and code_metrics (and log length)."""
    columns = [to_logit(scores["lexical"]), to_logit(scores["code_metrics"])]
    if "analyzers" in scores:
        columns.append(to_logit(scores["analyzers"]))
    if with_length:
        columns.append(np.log1p(length))  # the length rule as an input: the stacker learns what to add to it
    return np.column_stack(columns)


@dataclass
class Detector:
    """Models trained on some projects, with the stacker and thresholds chosen by cross-fitting among them."""

    models: list[str]
    base: dict[str, BaseModel]
    stacker: LogisticRegression | None  # lexical_metrics over the base models' logits
    thresholds: dict[str, float]
    training_projects: list[str]
    oof_index: np.ndarray  # the training rows choices are made on: every one but the train-only sources'
    oof: dict[str, np.ndarray]  # each oof_index row scored by models that did not see its project

    def scores(self, corpus: Corpus, index: np.ndarray, settings: GeneralizeParams) -> dict[str, np.ndarray]:
        scores = base_scores(self.base, corpus, index, settings)
        if self.stacker is not None:
            held = stacker_inputs(scores, corpus.length[index], settings.stack_length)
            scores["lexical_metrics"] = self.stacker.predict_proba(held)[:, 1]
        return {name: scores[name] for name in self.models}


def fit_detector(corpus: Corpus, train: np.ndarray, params: Params, where: str = "") -> Detector:
    """Train `generalize.models` on the rows `train`; stacker and thresholds by project-grouped cross-fitting there."""
    settings = params.generalize
    models = list(settings.models)
    training_projects = sorted(set(corpus.project[train].tolist()))
    # train-only rows (Juliet) train in every inner fold and are never scored there: thresholds and the
    # stacker are chosen on real projects' out-of-project scores, as the held-out project is scored
    train_only = np.isin(corpus.source[train], TRAIN_ONLY_SOURCES)
    chosen_on = train[~train_only]
    folds = min(settings.threshold_folds, len(set(corpus.project[chosen_on].tolist())))
    oof: dict[str, np.ndarray] = {}
    if folds >= 2:
        for inner_fit, inner_score in GroupKFold(n_splits=folds).split(chosen_on, groups=corpus.project[chosen_on]):
            fit_rows = np.sort(np.concatenate([chosen_on[inner_fit], train[train_only]]))
            fold_models = fit_base_models(corpus, fit_rows, models, params)
            for name, fold_score in base_scores(fold_models, corpus, chosen_on[inner_score], settings).items():
                oof.setdefault(name, np.zeros(len(chosen_on)))[inner_score] = fold_score
    base = fit_base_models(corpus, train, models, params)
    y_train = corpus.y[chosen_on]
    stacker = None
    if "lexical_metrics" in models:
        if not oof:
            raise EvaluationError(
                f"{where}{len(training_projects)} training project; the lexical_metrics "
                "stacker needs two to cross-fit on (drop lexical_metrics from generalize.models)"
            )
        stacker = LogisticRegression(max_iter=1000)
        inputs = stacker_inputs(oof, corpus.length[chosen_on], settings.stack_length)
        weights = training_weights(corpus.project[chosen_on], y_train, settings.weighting)
        stacker.fit(inputs, y_train, sample_weight=weights)
        oof["lexical_metrics"] = stacker.predict_proba(inputs)[:, 1]
    rule = params.fusion.threshold_rule
    thresholds = {name: choose_threshold(y_train, oof[name], rule) if name in oof else 0.5 for name in models}
    return Detector(models, base, stacker, thresholds, training_projects, chosen_on, oof)


@dataclass
class HeldOut:
    """One held-out project's scores (over its records) and the thresholds chosen without it."""

    project: str
    index: np.ndarray
    scores: dict[str, np.ndarray]
    thresholds: dict[str, float]
    training_projects: list[str]


def training_index(corpus: Corpus, params: Params, without: str | None = None) -> np.ndarray:
    """The records models train on: the sources `generalize.train_sources` names, of every project but `without`."""
    return np.flatnonzero((corpus.project != without) & np.isin(corpus.source, params.generalize.train_sources))


def held_out_scores(corpus: Corpus, test_project: str, params: Params) -> HeldOut:
    """Train on every other project, choose thresholds and the stacker by grouped cross-fitting there, score."""
    train = training_index(corpus, params, without=test_project)
    test = np.flatnonzero(corpus.project == test_project)
    detector = fit_detector(corpus, train, params, where=f"holding out {test_project} leaves ")
    scores = detector.scores(corpus, test, params.generalize)
    thresholds = dict(detector.thresholds)
    chosen_on = detector.oof_index
    reference = {"length": length_score, "shorter": lambda n: 1 - length_score(n)}
    for rule, score_of in reference.items():
        scores[rule] = score_of(corpus.length[test])
        thresholds[rule] = choose_threshold(
            corpus.y[chosen_on], score_of(corpus.length[chosen_on]), params.fusion.threshold_rule
        )
    rng = np.random.default_rng([params.seed, len(test), sum(map(ord, test_project))])
    scores["random"] = rng.random(len(test))
    thresholds["random"] = 0.5
    return HeldOut(test_project, test, scores, thresholds, detector.training_projects)


# --- metrics -----------------------------------------------------------------------------


def _ranked_hits(y: np.ndarray, score: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """y sorted by descending score along the last axis (ties in a fixed random order)."""
    order = np.lexsort((tiebreak, -score), axis=-1)
    return np.take_along_axis(y, order, axis=-1)


def retro_rows(y: np.ndarray, score: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """recall in the top 1 %, recall in the top 50, precision in the top 50 (rows), along the last axis."""
    n = y.shape[-1]
    hits = _ranked_hits(y, score, tiebreak)
    positives = y.sum(axis=-1).astype(float)
    top1 = max(1, math.ceil(0.01 * n))
    k = min(TOP_K, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall1 = np.where(positives > 0, hits[..., :top1].sum(axis=-1) / positives, np.nan)
        recall50 = np.where(positives > 0, hits[..., :k].sum(axis=-1) / positives, np.nan)
    precision50 = hits[..., :k].sum(axis=-1) / k
    return np.stack([recall1, recall50, precision50])


def _interval_dict(names: tuple[str, ...], point: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        out[name] = float(point[i])
        out[f"{name}_ci_low"] = float(low[i])
        out[f"{name}_ci_high"] = float(high[i])
    return out


def _bootstrap_settings(params: Params) -> dict[str, Any]:
    ev = params.evaluate
    return {"resamples": ev.bootstrap_resamples, "confidence_level": ev.confidence_level, "seed": ev.seed}


def function_level(y: np.ndarray, score: np.ndarray, threshold: float, params: Params) -> dict[str, float]:
    if len(y) < 2 or y.min() == y.max():
        return {"n_functions": float(len(y))}
    full = bootstrap_metrics(y, score, threshold, **_bootstrap_settings(params))
    out = {k: v for k, v in full.items() if k.split("_ci_")[0] in FUNCTION_METRICS}
    out.update(n_functions=float(len(y)), n_vulnerable=float(y.sum()))
    return out


def retro_level(y: np.ndarray, score: np.ndarray, params: Params) -> dict[str, float]:
    if len(y) < 2 or y.sum() == 0:
        return {}
    tiebreak = np.random.default_rng(params.seed).random(len(y))
    point = retro_rows(y, score, tiebreak)
    interval = paired_percentile_bootstrap((y, score, tiebreak), retro_rows, **_bootstrap_settings(params))
    return _interval_dict(RETRO_METRICS, point, interval.low, interval.high)


def versus_length(y: np.ndarray, score: np.ndarray, length: np.ndarray, params: Params) -> dict[str, float]:
    """ROC-AUC(model) - ROC-AUC(length rule) on the same functions: paired bootstrap CI and p-value."""
    if len(y) < 2 or y.min() == y.max():
        return {}

    def difference(ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return roc_auc_rows(ys, a) - roc_auc_rows(ys, b)

    point = float(difference(y, score, length))
    interval = paired_percentile_bootstrap((y, score, length), difference, **_bootstrap_settings(params))
    return {
        "roc_auc_minus_length": point,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "p_value": bootstrap_p_value(interval.distribution),
    }


def evaluate_scores(
    corpus: Corpus,
    index: np.ndarray,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    params: Params,
) -> dict[str, dict[str, float]]:
    """Every model's function, pair and retro-scan figures on the held-out records `index` (scores align)."""
    y, source, length = corpus.y[index], corpus.source[index], corpus.length[index]
    pair = [corpus.pair[j] for j in index]
    functions = corpus.function_set[index]
    pair_mask = np.isin(source, PAIR_SOURCES)
    pair_index = np.flatnonzero(pair_mask)
    pairs = find_pairs([pair[i] for i in pair_index], y[pair_index])
    # pairs whose two sides have the same number of code tokens: where size cannot tell them apart
    same = length[pair_index][pairs.vulnerable] == length[pair_index][pairs.fixed]
    same_length = PairIndex(pairs.vulnerable[same], pairs.fixed[same], 0)
    snapshot = source == "snapshot"
    result: dict[str, dict[str, float]] = {}
    for name, score in scores.items():
        row = function_level(y[functions], score[functions], thresholds[name], params)
        if len(pairs) >= 2:
            found = pair_metrics(
                y[pair_index], score[pair_index], thresholds[name], pairs, **_bootstrap_settings(params)
            )
            row.update({k: v for k, v in found.items() if not k.startswith(("p_v", "p_b", "p_r"))})
            row["n_pairs_same_length"] = float(len(same_length))
            if len(same_length) >= 2:
                matched = pair_row_metrics(
                    score[pair_index], thresholds[name], same_length, **_bootstrap_settings(params)
                )
                for key in [k for k in matched if k.startswith("pairwise_accuracy")]:
                    row[key.replace("pairwise_accuracy", "pairwise_accuracy_same_length")] = matched[key]
        row.update(retro_level(y[snapshot], score[snapshot], params))
        if name != "length":
            vs = versus_length(y[functions], score[functions], length_score(length[functions]), params)
            row.update({f"vs_length_{k}" if k != "roc_auc_minus_length" else k: v for k, v in vs.items()})
        result[name] = row
    return result


# --- the stage -----------------------------------------------------------------------------


def eligible_projects(corpus: Corpus) -> list[str]:
    """Projects with both labels outside the train-only sources: only those are held out and scored."""
    scored = ~np.isin(corpus.source, TRAIN_ONLY_SOURCES)
    project, y = corpus.project[scored], corpus.y[scored]
    return sorted(p for p in set(project.tolist()) if len(set(y[project == p].tolist())) == 2)


def summary_line(name: str, row: dict[str, float]) -> str:
    parts = [name.ljust(16)]
    for key in ("roc_auc", "pr_auc", "pairwise_accuracy", "retro_recall_top1pct"):
        if key in row:
            parts.append(f"{key} {row[key]:.3f} [{row[f'{key}_ci_low']:.3f}, {row[f'{key}_ci_high']:.3f}]")
    if "vs_length_p_value" in row:
        parts.append(f"vs length {row['roc_auc_minus_length']:+.3f} (p={row['vs_length_p_value']:.3g})")
    return "  ".join(parts)


@dataclass
class Generalization:
    projects: list[str]
    per_project: dict[str, Any]
    pooled: dict[str, dict[str, float]]
    pooled_index: np.ndarray
    pooled_scores: dict[str, np.ndarray]
    score_bands: dict[str, list[dict[str, float]]]  # precision by score band over the pooled snapshots

    def headline(self) -> dict[str, dict[str, float]]:
        """One short row per model (a file each): the figures `dvc metrics show` prints."""
        return {
            name: {k: round(row[k], 4) for k in HEADLINE if k in row and math.isfinite(row[k])}
            for name, row in self.pooled.items()
        }

    def details(self) -> dict[str, Any]:
        return _finite(
            {
                "projects": self.projects,
                "pooled": self.pooled,
                "per_project": self.per_project,
                "reference_rules": list(REFERENCE_RULES),
                "score_bands": self.score_bands,
            }
        )


def leave_one_project_out(
    corpus: Corpus, params: Params, progress: Callable[[str], None], where: str = "the corpus"
) -> Generalization:
    """Hold out each project with both labels in turn; score it and pool the held-out scores."""
    started = time.perf_counter()
    projects = eligible_projects(corpus)
    if len(projects) < 2:
        raise EvaluationError(
            f"{where}: {len(projects)} project(s) with both labels; leave-project-out needs at least 2"
        )
    held: list[HeldOut] = []
    per_project: dict[str, Any] = {}
    for i, project in enumerate(projects, 1):
        progress(
            f"generalize: [{i}/{len(projects)}] holding out {project} ({(corpus.project == project).sum()} functions), "
            f"{time.perf_counter() - started:.0f} s elapsed"
        )
        h = held_out_scores(corpus, project, params)
        held.append(h)
        per_project[project] = {
            "training_projects": h.training_projects,
            "thresholds": h.thresholds,
            "models": evaluate_scores(corpus, h.index, h.scores, h.thresholds, params),
        }
    index = np.concatenate([h.index for h in held])
    names = list(held[0].scores)
    pooled_scores = {name: np.concatenate([h.scores[name] for h in held]) for name in names}
    pooled = evaluate_scores(corpus, index, pooled_scores, {name: 0.5 for name in names}, params)
    functions = corpus.function_set[index]
    for name in names:
        for key in [k for k in pooled[name] if k.startswith("p_c")]:
            del pooled[name][key]  # P-C needs one threshold; each project has its own
        # accuracy, F1 and MCC pool each project's decisions at its own threshold
        decisions = np.concatenate([(h.scores[name] >= h.thresholds[name]).astype(float) for h in held])
        decided = function_level(corpus.y[index][functions], decisions[functions], 0.5, params)
        for key in ("accuracy", "f1", "mcc"):
            for suffix in ("", "_ci_low", "_ci_high"):
                if key + suffix in decided:
                    pooled[name][key + suffix] = decided[key + suffix]
        macro = [per_project[p]["models"][name].get("roc_auc") for p in projects]
        pooled[name]["macro_roc_auc"] = float(np.nanmean([m for m in macro if m is not None]))
        pairwise = [per_project[p]["models"][name].get("pairwise_accuracy") for p in projects]
        pairwise = [x for x in pairwise if x is not None]
        if pairwise:
            pooled[name]["macro_pairwise_accuracy"] = float(np.mean(pairwise))
    snapshot = corpus.source[index] == "snapshot"
    bands = {
        name: score_bands(corpus.y[index][snapshot], pooled_scores[name][snapshot], params.evaluate.confidence_level)
        for name in names
    }
    return Generalization(projects, per_project, pooled, index, pooled_scores, bands)


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined figures become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
