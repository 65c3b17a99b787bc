"""Project-neutral code metrics per function, and a logistic regression over them.

The metrics say how a function is built, not what it is called: size and
complexity from lizard (lines of code, cyclomatic complexity, tokens,
parameters) and the deepest brace/parenthesis nesting, and counts of the constructs memory-safety bugs
live in (pointer dereferences, indexing, pointer arithmetic, casts, sizeof,
allocation and release, dangerous library calls, comparisons and NULL
checks). Each count enters twice: as log(1 + n), and per 100 tokens, so the
model can weigh "how much" apart from "how dense". Identifiers and literals
never reach it, which is what lets it travel between projects.

Saved as plain JSON (feature names, scaler, coefficients): loading never
unpickles anything, and scoring needs NumPy only (scikit-learn fits).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import lizard
import numpy as np

from streamguard.c.tokens import strip_comments
from streamguard.data.trim import DANGEROUS_CALL, brace_depth
from streamguard.errors import StreamGuardError
from streamguard.io.atomic import atomic_path
from streamguard.models.logistic import LogisticScorer

# construct -> pattern over comment-free code; counted per function
_CONSTRUCTS: dict[str, re.Pattern[str]] = {
    "arrow": re.compile(r"->"),
    "index": re.compile(r"\w\s*\["),
    "deref": re.compile(r"(?:^|[=(,;{}!&|+\-*/%<>?:]|\breturn)\s*\*\s*[A-Za-z_(]"),
    "pointer_arith": re.compile(r"\b[A-Za-z_]\w*\s*(?:\+=|-=|\+\+|--)|\b(?:p|ptr|buf|cp|sp|dp|bp)\w*\s*[+-]\s*\w"),
    "cast": re.compile(r"\(\s*(?:const\s+)?(?:unsigned\s+|signed\s+)?(?:struct\s+)?[A-Za-z_]\w*\s*\*+\s*\)"),
    "sizeof": re.compile(r"\bsizeof\b"),
    "alloc": re.compile(r"\b\w*(?:malloc|calloc|realloc|alloc|strdup|new)\w*\s*\("),
    "free": re.compile(r"\b\w*free\w*\s*\("),
    "dangerous_call": DANGEROUS_CALL,
    "call": re.compile(r"\b[A-Za-z_]\w*\s*\((?!\s*\*)"),
    "compare": re.compile(r"<=|>=|(?<![<-])<(?![<=])|(?<![->])>(?![>=])"),
    "null_check": re.compile(r"[!=]=\s*NULL\b|\bNULL\s*[!=]=|!\s*[A-Za-z_]\w*\s*[)&|]"),
    "return": re.compile(r"\breturn\b"),
    "goto": re.compile(r"\bgoto\b"),
    "loop": re.compile(r"\b(?:for|while|do)\b"),
    "arith": re.compile(r"[A-Za-z_0-9)\]]\s*[-+*](?![-+=>])\s*[A-Za-z_0-9(]"),
    "shift": re.compile(r"<<|>>"),
    "number": re.compile(r"\b\d[\w.]*"),
    "string": re.compile(r'"(?:[^"\\\n]|\\.)*"'),
}
_SIZE = ("nloc", "ccn", "tokens", "params", "nesting")
FEATURE_NAMES: tuple[str, ...] = (
    *(f"log_{name}" for name in _SIZE),
    *(f"log_{name}" for name in _CONSTRUCTS),
    *(f"per100_{name}" for name in _CONSTRUCTS),
    "ccn_per_nloc",
)
_LIZARD = lizard.FileAnalyzer(lizard.get_extensions([]))


class CodeMetricsError(StreamGuardError, ValueError):
    """A saved code-metrics model that cannot be read."""


def function_metrics(func: str) -> np.ndarray:
    """FEATURE_NAMES for one function's text (float64)."""
    code = strip_comments(func)
    size = _size_metrics(code)
    tokens = max(size["tokens"], 1.0)
    counts = {name: float(len(pattern.findall(code))) for name, pattern in _CONSTRUCTS.items()}
    values = [math.log1p(size[name]) for name in _SIZE]
    values += [math.log1p(counts[name]) for name in _CONSTRUCTS]
    values += [100.0 * counts[name] / tokens for name in _CONSTRUCTS]
    values.append(size["ccn"] / max(size["nloc"], 1.0))
    return np.asarray(values, dtype=np.float64)


def metrics_matrix(texts: list[str]) -> np.ndarray:
    """(len(texts), len(FEATURE_NAMES)) matrix of function_metrics."""
    if not texts:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.vstack([function_metrics(text) for text in texts])


def write_metrics_table(path: Path, metrics: np.ndarray, *, texts_of: str, max_chars: int) -> None:
    """`metrics` (rows of FEATURE_NAMES) saved with what they were computed from: the sha256 of the
    file holding the texts and the data.max_chars they were trimmed to."""
    if metrics.shape[1:] != (len(FEATURE_NAMES),):
        raise CodeMetricsError(f"{path}: a metrics table has {len(FEATURE_NAMES)} columns, not {metrics.shape[1:]}")
    with atomic_path(path) as tmp, tmp.open("wb") as out:
        np.savez(
            out,
            metrics=metrics.astype(np.float64),
            feature_names=np.array(FEATURE_NAMES),
            texts_of=np.array(texts_of),
            max_chars=np.array(max_chars),
        )


def read_metrics_table(path: Path, *, texts_of: str, max_chars: int, rows: int) -> np.ndarray:
    """write_metrics_table's matrix; an error naming the file when it was computed from other texts."""
    redo = "rerun the stage that writes it (`dvc repro generalize_corpus`)"
    try:
        with np.load(path, allow_pickle=False) as table:
            stored = {key: table[key] for key in ("metrics", "feature_names", "texts_of", "max_chars")}
    except FileNotFoundError:
        raise CodeMetricsError(f"{path}: no code-metrics table here; {redo}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise CodeMetricsError(f"{path}: not a code-metrics table ({exc}); {redo}") from None
    if tuple(stored["feature_names"].tolist()) != FEATURE_NAMES:
        raise CodeMetricsError(f"{path}: computed with other code metrics than this version's; {redo}")
    if str(stored["texts_of"]) != texts_of or int(stored["max_chars"]) != max_chars or len(stored["metrics"]) != rows:
        raise CodeMetricsError(
            f"{path}: computed from other functions (another corpus, or data.max_chars {int(stored['max_chars'])} "
            f"where it is {max_chars} now); {redo}"
        )
    return np.asarray(stored["metrics"], dtype=np.float64)


def _size_metrics(code: str) -> dict[str, float]:
    """lizard's view of the (first) function in `code`; plain line and token counts when it finds none."""
    found = _LIZARD.analyze_source_code("function.c", code).function_list
    if found:
        fn = max(found, key=lambda f: f.token_count)
        return {
            "nloc": float(fn.nloc),
            "ccn": float(fn.cyclomatic_complexity),
            "tokens": float(fn.token_count),
            "params": float(fn.parameter_count),
            "nesting": brace_depth(code),
        }
    lines = [line for line in code.splitlines() if line.strip()]
    return {
        "nloc": float(len(lines)),
        "ccn": 1.0,
        "tokens": float(len(code.split())),
        "params": 0.0,
        "nesting": brace_depth(code),
    }


@dataclass
class CodeMetricsConfig:
    C: float = 1.0


class CodeMetricsModel:
    """Standardised code metrics -> logistic regression."""

    def __init__(self, config: CodeMetricsConfig | None = None, seed: int = 0) -> None:
        self.config = config or CodeMetricsConfig()
        self.seed = seed
        self.mean = np.zeros(len(FEATURE_NAMES))
        self.scale = np.ones(len(FEATURE_NAMES))
        self.scorer: LogisticScorer | None = None

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None = None,
        pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> CodeMetricsModel:
        """Fit on labelled functions and, given (vulnerable rows, fixed rows, weights), on ranking pairs."""
        from sklearn.linear_model import LogisticRegression

        from streamguard.models.pair_ranking import fit_ranking

        self.mean = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        weights = np.ones(len(labels)) if weights is None else weights
        classifier = LogisticRegression(C=self.config.C, max_iter=2000, random_state=self.seed)
        self.scorer = LogisticScorer.of(fit_ranking(classifier, self._standardise(features), labels, weights, pairs))
        return self

    def _fitted(self) -> LogisticScorer:
        if self.scorer is None:
            raise CodeMetricsError("the code-metrics model is not fitted; fit or load it first")
        return self.scorer

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.scale

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self._fitted().predict_proba(self._standardise(features))

    def coefficients(self) -> dict[str, float]:
        """Weight of each standardised metric: which constructs push a function towards "vulnerable"."""
        return {name: float(c) for name, c in zip(FEATURE_NAMES, self._fitted().coef)}

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "config": asdict(self.config),
            "features": list(FEATURE_NAMES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self._fitted().coef.tolist(),
            "intercept": self._fitted().intercept,
        }
        (out_dir / "code_metrics.json").write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, out_dir: Path) -> CodeMetricsModel:
        path = out_dir / "code_metrics.json"
        try:
            state = json.loads(path.read_text())
            model = cls(CodeMetricsConfig(**state["config"]))
            if state["features"] != list(FEATURE_NAMES):
                raise CodeMetricsError(
                    f"{path}: saved for features {state['features'][:3]}..., this version computes "
                    f"{list(FEATURE_NAMES)[:3]}...; retrain the model with this version"
                )
            model.mean = np.asarray(state["mean"], dtype=np.float64)
            model.scale = np.asarray(state["scale"], dtype=np.float64)
            model.scorer = LogisticScorer(np.asarray(state["coef"], dtype=np.float64), float(state["intercept"]))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CodeMetricsError):
                raise
            raise CodeMetricsError(f"{path} is damaged or was not written by StreamGuard ({exc}); retrain") from None
        return model
