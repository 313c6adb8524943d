"""Permutation feature importance: how much worse the primary metric gets when one raw column is shuffled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..settings import Settings
from .metrics import coded, gain, score

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from ..stages.train import Split

IMPORTANCE_MAX_ROWS = 5000
IMPORTANCE_REPEATS = 5


def permutation_importance(
    settings: Settings, model: Pipeline, parts: Split, classes: list | None = None
) -> dict[str, float | None]:
    """How much worse the primary metric gets when one input column (a raw column, or one calendar part of a time
    column) is shuffled (mean of IMPORTANCE_REPEATS shuffles).

    Measured on up to IMPORTANCE_MAX_ROWS test rows. Every shuffled copy goes through the model
    in one call: on a few thousand rows the Pipeline's cost per call, not per row, is the time.
    """
    from ..stages.estimators import predict

    rng = np.random.default_rng(settings.seed)
    X, y = parts.X_test, parts.y_test.to_numpy()
    if len(X) > IMPORTANCE_MAX_ROWS:
        rows = np.sort(rng.choice(len(X), IMPORTANCE_MAX_ROWS, replace=False))
        X, y = X.iloc[rows], y[rows]
    n = len(X)
    copies = [X]
    for column in X.columns:
        for _ in range(IMPORTANCE_REPEATS):
            shuffled = X.copy()
            shuffled[column] = X[column].to_numpy()[rng.permutation(n)]
            copies.append(shuffled)
    y, predicted, classes = coded(
        settings.task, y, predict(settings, model, pd.concat(copies, ignore_index=True)), classes
    )
    metric = settings.quality.primary_metric

    def measured(copy: int) -> float | None:
        return score(settings.task, y, predicted.take(slice(copy * n, (copy + 1) * n)), classes, metric)[metric]

    intact = measured(0)
    importance: dict[str, float | None] = {}
    for position, column in enumerate(X.columns):
        drops = [measured(1 + position * IMPORTANCE_REPEATS + r) for r in range(IMPORTANCE_REPEATS)]
        defined = [loss for d in drops if (loss := gain(metric, intact, d)) is not None]
        importance[column] = float(np.mean(defined)) if defined else None
    return importance
