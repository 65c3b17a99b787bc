"""One model's test figures from probabilities in memory, computed as the `evaluate` stage computes them.

For a model trained outside the pipeline's files (a notebook, an experiment script): the threshold
is chosen on the valid split with `fusion.threshold_rule`, never on test; every metric carries its
paired percentile bootstrap CI (`evaluate.*`); and, given each test function's code-token count,
the model's ROC-AUC is compared with the length rule's on the same functions
(`generalization.versus_length`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.generalization import length_score, versus_length
from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.params import Params


def held_out_figures(
    valid_y: Sequence[int] | np.ndarray,
    valid_prob: Sequence[float] | np.ndarray,
    test_y: Sequence[int] | np.ndarray,
    test_prob: Sequence[float] | np.ndarray,
    params: Params,
    test_tokens: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """{threshold, <metric>, <metric>_ci_low, <metric>_ci_high} on test, and `versus_length` with `test_tokens`.

    `versus_length` holds roc_auc_minus_length, ci_low, ci_high and p_value.
    """
    threshold = choose_threshold(valid_y, valid_prob, params.fusion.threshold_rule)
    ev = params.evaluate
    figures: dict[str, Any] = {
        "threshold": threshold,
        **bootstrap_metrics(test_y, test_prob, threshold, ev.bootstrap_resamples, ev.confidence_level, ev.seed),
    }
    if test_tokens is not None:
        tokens = np.asarray(test_tokens, dtype=float)
        if tokens.shape != (len(test_y),):
            raise EvaluationError(
                f"test_tokens: {tokens.shape[0] if tokens.ndim else 0} token counts for {len(test_y)} test "
                "functions; give one count per test function, in the same order (c.tokens.code_tokens)"
            )
        figures["versus_length"] = versus_length(
            np.asarray(test_y), np.asarray(test_prob, dtype=float), length_score(tokens), params
        )
    return figures
