"""The per-epoch validation summary the training loop logs and early-stops on."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, matthews_corrcoef, roc_auc_score


def classification_summary(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    pred = (prob >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "loss": float(log_loss(y_true, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "f1": float(f1_score(y_true, pred, pos_label=1, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "mcc": float(matthews_corrcoef(y_true, pred)),
        "roc_auc": float(roc_auc_score(y_true, prob)) if both_classes else float("nan"),
    }
