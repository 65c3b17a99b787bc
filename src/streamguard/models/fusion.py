"""The fusion model: a stacker over base models' probabilities, and how it is saved and loaded.

Its inputs are the logits of each base model's P(vulnerable), in
`fusion.json`'s model order, optionally followed by cheap per-function
features. The stage that fits it is `streamguard.stages.fusion`.

The stacker is saved without pickling: logistic regression as coefficients,
gradient boosting as the OOF matrix it was fitted on (it refits
deterministically in well under a second when loaded).
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamguard.data.trim import DANGEROUS_CALL, brace_depth
from streamguard.errors import StreamGuardError
from streamguard.io.fusion_json import FUSION_FILE, read_fusion_summary, write_fusion_summary
from streamguard.models.config import ModelConfig
from streamguard.models.logistic import LogisticScorer
from streamguard.params import FusionParams

if TYPE_CHECKING:  # each stacker imports its own estimator: `scan` loads one, never both
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

FEATURES = ("length", "nesting", "dangerous_calls")


def to_logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def function_features(func: str, names: list[str]) -> list[float]:
    """Cheap per-function stacker inputs, scaled to roughly unit range."""
    values = {}
    if "length" in names:
        values["length"] = math.log1p(len(func)) / 10
    if "nesting" in names:
        values["nesting"] = brace_depth(func) / 10
    if "dangerous_calls" in names:
        values["dangerous_calls"] = math.log1p(len(DANGEROUS_CALL.findall(func)))
    return [values[n] for n in names]


@dataclass(frozen=True)
class StackerConfig(ModelConfig):
    stacker: str  # logreg | gbm
    C: float  # inverse regularisation strength of the logreg stacker


class Stacker:
    """Fitted here with scikit-learn; a logreg stacker loaded from fusion.json scores with NumPy alone."""

    def __init__(self, config: StackerConfig, seed: int, scorer: LogisticScorer | None = None) -> None:
        self.config = config
        self.seed = seed
        self.estimator: LogisticRegression | HistGradientBoostingClassifier | None = None
        # a logreg's weights: set by fit, or given for a saved or fixed stacker
        self.scorer = scorer

    def _new_estimator(self) -> LogisticRegression | HistGradientBoostingClassifier:
        if self.config.stacker == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.config.C, max_iter=1000)
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=self.seed
        )

    @staticmethod
    def _inputs(probs: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        logits = to_logit(probs)
        return logits if features is None else np.hstack([logits, features])

    def fit(self, probs: np.ndarray, y: np.ndarray, features: np.ndarray | None = None) -> Stacker:
        self.estimator = self._new_estimator().fit(self._inputs(probs, features), y)
        if self.config.stacker == "logreg":
            self.scorer = LogisticScorer.of(self.estimator)
        return self

    def predict_proba(self, probs: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        inputs = self._inputs(probs, features)
        if self.estimator is not None:
            return self.estimator.predict_proba(inputs)[:, 1]
        if self.scorer is None:
            raise StreamGuardError("the fusion stacker is not fitted; fit or load it first")
        return self.scorer.predict_proba(inputs)


def save_stacker(
    stacker: Stacker, out_dir: Path, summary: dict, y_oof: np.ndarray, X_oof: np.ndarray, F_oof: np.ndarray | None
) -> dict:
    """fusion.json (`summary` plus a logreg's coefficients) and oof_matrix.npz: what `load_stacker` reads."""
    summary = dict(summary)
    if stacker.config.stacker == "logreg":
        if stacker.scorer is None:
            raise StreamGuardError("the fusion stacker is not fitted; fit it before saving")
        inputs = list(summary["models"]) + list(summary.get("features", []))
        summary["coefficients"] = dict(zip(inputs, stacker.scorer.coef.tolist()))
        summary["intercept"] = stacker.scorer.intercept
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "oof_matrix.npz", X=X_oof, y=y_oof, F=F_oof if F_oof is not None else np.zeros((len(y_oof), 0)))
    write_fusion_summary(out_dir / FUSION_FILE, summary)
    return summary


def load_stacker(out_dir: Path) -> tuple[Stacker, dict]:
    """The fitted stacker from models/fusion (for `streamguard predict`)."""
    path = out_dir / FUSION_FILE
    summary = read_fusion_summary(path)
    try:
        # the saved section is checked as a whole: a key unknown to the fusion section is refused
        config = StackerConfig.of(FusionParams(**summary["params"]))
    except TypeError as exc:  # an unknown or missing key in the saved params section
        raise StreamGuardError(
            f"{path}: 'params' is not a fusion params section ({exc}); re-run the fusion stage (dvc repro fusion)"
        ) from None
    stacker = Stacker(config, summary["seed"])
    if summary["stacker"] == "logreg":
        inputs = summary["models"] + summary.get("features", [])
        stacker.scorer = LogisticScorer(np.array([summary["coefficients"][m] for m in inputs]), summary["intercept"])
    else:
        matrix = out_dir / "oof_matrix.npz"
        try:
            data = np.load(matrix, allow_pickle=False)
            X, y, F = data["X"], data["y"], data["F"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise StreamGuardError(
                f"{matrix}: unreadable ({type(exc).__name__}); the gbm stacker refits from it. "
                "Re-run the fusion stage (dvc repro fusion)"
            ) from None
        stacker.fit(X, y, F if F.shape[1] else None)
    return stacker, summary
