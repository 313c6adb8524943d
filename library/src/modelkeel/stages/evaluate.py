"""Stage 3, evaluate: measure the model (train/test, per slice, against a trivial baseline) and apply the quality gates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle import layout
from ..quality.gates import Interval, metric_interval, quality_gates
from ..quality.importance import permutation_importance
from ..quality.metrics import Predictions, all_codes, coded, codes, score
from ..settings import Settings
from ..utils import atomic
from .estimators import predict
from .train import Split, Trained


def slice_metrics(
    settings: Settings, parts: Split, test: Predictions, classes: list | None = None
) -> dict[str, dict[str, dict]]:
    """Every metric for each value of each categorical feature on the test split (from the test predictions)."""
    y_test, test, classes = coded(settings.task, parts.y_test, test, classes)
    result: dict[str, dict[str, dict]] = {column: {} for column in settings.data.categorical_features}
    for column, value_name, rows in slice_rows(settings, parts.X_test):
        measured = score(settings.task, y_test[rows], test.take(rows), classes)
        result[column][value_name] = {"rows": len(rows), **measured}
    return result


def slice_rows(settings: Settings, X: pd.DataFrame) -> Iterator[tuple[str, str, np.ndarray]]:
    """(column, value, row positions) for each value of each categorical feature; a gap is "(missing)"."""
    for column in settings.data.categorical_features:
        codes, values = pd.factorize(X[column].to_numpy(), sort=True)
        for code, value in enumerate(values):
            yield column, "(missing)" if value == "" else str(value), np.flatnonzero(codes == code)


def slice_intervals(
    settings: Settings, parts: Split, test: Predictions, classes: list | None = None
) -> Callable[[str, str], Interval]:
    """The interval of the slice metric on one slice of the test split, computed when asked (quality/gates.py):
    the gates ask only for a slice that misses its bar, so a passing run does none of this work."""
    q = settings.quality

    @cache
    def coded_slices() -> tuple[np.ndarray, Predictions, list | None, dict[tuple[str, str], np.ndarray]]:
        y, predicted, labels = coded(settings.task, parts.y_test, test, classes)
        return y, predicted, labels, {(c, v): rows for c, v, rows in slice_rows(settings, parts.X_test)}

    def interval_of(column: str, value: str) -> Interval:
        y, predicted, labels, where = coded_slices()
        rows = where[(column, value)]
        return metric_interval(
            settings.task, q.slice_metric, y[rows], predicted.take(rows), labels, q.slice_confidence, settings.seed
        )

    return interval_of


def class_recalls(y_true, predicted: Predictions, classes: list) -> dict[str, dict]:
    """Per class: how many rows hold it and the share of them predicted right (recall), from label codes."""
    true_codes, predicted_codes, _ = all_codes(y_true, predicted.label, classes)
    result = {}
    for code, cls in enumerate(classes):
        rows = true_codes == code
        n = int(rows.sum())
        result[str(cls)] = {"rows": n, "recall": float((predicted_codes[rows] == code).mean()) if n else None}
    return result


def baseline_predictions(settings: Settings, parts: Split, classes: list | None = None) -> Predictions:
    """The trivial model's test predictions: the most frequent training class, or the training mean.

    The dummy is fitted on integer class codes: it ignores the features, and sorting a million
    string labels to find the most frequent one would cost seconds.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    train_rows, test_rows = np.zeros((len(parts.y_train), 1)), np.zeros((len(parts.y_test), 1))
    if settings.task != "classification":
        return Predictions(DummyRegressor().fit(train_rows, parts.y_train.to_numpy()).predict(test_rows), None)
    dummy = DummyClassifier(strategy="most_frequent").fit(train_rows, codes(parts.y_train, classes or []))
    proba = np.zeros((len(test_rows), len(classes or [])))
    proba[:, dummy.classes_] = dummy.predict_proba(test_rows)
    return Predictions(np.asarray(classes, dtype=object)[dummy.predict(test_rows)], proba)


@dataclass(frozen=True)
class Evaluation:
    """What evaluation hands forward: metrics.json's content and the test predictions (plots and parity reuse them)."""

    metrics: dict
    test_predictions: Predictions


def evaluate(settings: Settings, trained: Trained, fingerprint: str) -> Evaluation:
    """Train and test metrics, slices, the trivial baseline, permutation importance and the quality gates.

    The test predictions are made once and reused; the training rows are scored from the features
    the model's preprocessing produced in fit, when training ran in this process.
    """
    model, parts = trained.model, trained.parts
    classes = list(model.classes_) if settings.task == "classification" else None
    test = predict(settings, model, parts.X_test)
    train_scores = score(
        settings.task, parts.y_train, predict(settings, model, parts.X_train, trained.train_features), classes
    )
    test_scores = score(settings.task, parts.y_test, test, classes)
    baseline = score(settings.task, parts.y_test, baseline_predictions(settings, parts, classes), classes)
    slices = slice_metrics(settings, parts, test, classes)
    metrics = {
        "task": settings.task,
        "model": settings.model.type,
        "primary_metric": settings.quality.primary_metric,
        "higher_is_better": settings.quality.higher_is_better,
        "train": train_scores,
        "test": test_scores,
        "baseline": {
            "strategy": "most_frequent" if settings.task == "classification" else "mean",
            "test": baseline,
        },
        "slices": slices,
        "classes": class_recalls(parts.y_test, test, classes) if classes is not None else {},
        "rows": {"train": len(parts.X_train), "test": len(parts.X_test)},
        "feature_importance": permutation_importance(settings, model, parts, classes),
        "gates": quality_gates(
            settings.quality, test_scores, slices, baseline, slice_intervals(settings, parts, test, classes)
        ),
        "params_hash": settings.params_hash(),
        "data": {"fingerprint": fingerprint},
    }
    return Evaluation(metrics, test)


def write(settings: Settings, metrics: dict) -> Path:
    target = settings.artifacts_dir / layout.METRICS
    atomic.write_json(target, metrics)
    return target
