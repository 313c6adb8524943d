"""The metrics: which task each belongs to, which way it improves, and computing them with scikit-learn.

`METRICS` is the one table of metric facts. The template's `_metrics` in cookiecutter.json, which
its answer-checking hook and params.yaml read, must say the same (the template's tests compare
them), so the hook, the comments in params.yaml, the gates and the tests agree on what "better" means.

Class labels are scored as integer codes (positions in the model's classes; a label the model
does not know becomes a class of its own, as scikit-learn counts it): scikit-learn sorts the
labels it is given several times per metric, which on a million string labels costs seconds,
while on codes it is a blink. The scores are the same: the mapping is one to one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # classification | regression
    lower_is_better: bool
    best: float  # a perfect score


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", "classification", lower_is_better=False, best=1.0),
    "balanced_accuracy": Metric("balanced_accuracy", "classification", lower_is_better=False, best=1.0),
    "f1_macro": Metric("f1_macro", "classification", lower_is_better=False, best=1.0),
    "mae": Metric("mae", "regression", lower_is_better=True, best=0.0),
    "r2": Metric("r2", "regression", lower_is_better=False, best=1.0),
    "rmse": Metric("rmse", "regression", lower_is_better=True, best=0.0),
    "roc_auc": Metric("roc_auc", "classification", lower_is_better=False, best=1.0),
}
LOWER_IS_BETTER = frozenset(name for name, metric in METRICS.items() if metric.lower_is_better)


def for_task(task: str) -> tuple[str, ...]:
    return tuple(name for name, metric in METRICS.items() if metric.task == task)


def lower_is_better(metric: str) -> bool:
    return METRICS[metric].lower_is_better


def reaches(metric: str, value: float | None, bar: float) -> bool:
    """Whether `value` is at least as good as `bar` (at or below it for a metric where lower is better)."""
    if value is None:
        return False
    return value <= bar if lower_is_better(metric) else value >= bar


def gain(metric: str, new: float | None, old: float | None) -> float | None:
    """How much better `new` is than `old`, in the metric's units (negative: worse); None if either is undefined."""
    if new is None or old is None:
        return None
    return (old - new) if lower_is_better(metric) else (new - old)


def moved_by(metric: str, value: float, amount: float) -> float:
    """`value` made better by `amount` (a bar `amount` above a baseline, or below it where lower is better)."""
    return value - amount if lower_is_better(metric) else value + amount


@dataclass(frozen=True)
class Predictions:
    """A model's outputs on some rows: the predicted label or value, and the class probabilities."""

    label: np.ndarray
    proba: np.ndarray | None  # classification only; columns in the order of the model's classes

    def take(self, rows: Any) -> Predictions:
        return Predictions(self.label[rows], None if self.proba is None else self.proba[rows])


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _bools(labels: np.ndarray) -> np.ndarray:
    """Which labels are booleans: True and False are labels of their own kind, never the numbers 1 and 0."""
    if labels.dtype.kind == "b":
        return np.ones(len(labels), dtype=bool)
    if labels.dtype.kind != "O":
        return np.zeros(len(labels), dtype=bool)
    kind = pd.api.types.infer_dtype(labels, skipna=True)  # one pass in C
    if kind == "boolean":  # every label that is not missing is a bool
        return ~pd.isna(labels)
    if kind in ("mixed", "mixed-integer", "unknown-array"):  # may hold some bools among other values
        return np.fromiter((_is_bool(v) for v in labels), dtype=bool, count=len(labels))
    return np.zeros(len(labels), dtype=bool)


def _positions(labels: np.ndarray, classes: list, positions: np.ndarray) -> np.ndarray:
    """Each label's position among `classes` (whose places in the full list are `positions`), or -1.

    A class listed twice (1 and 1.0 are one value) keeps its first place: the lookup needs unique values."""
    if not classes:
        return np.full(len(labels), -1, dtype=np.int64)
    index = pd.Index(classes, dtype=object if labels.dtype.kind == "O" else None)
    if not index.is_unique:
        first = ~index.duplicated()
        index, positions = index[first], positions[first]
    found = index.get_indexer(labels)
    return np.where(found >= 0, positions[np.maximum(found, 0)], -1).astype(np.int64)


def codes(labels: Any, classes: Sequence) -> np.ndarray:
    """Labels as integer positions in `classes` (-1 for a label that is not one of them).

    Labels match by value (the truth read as 1.0 matches the class 1) and by kind: a bool never
    matches a number, so True is not the class 1 (nor 1 the class True), as the data means them."""
    classes = list(classes)
    class_bools = np.fromiter((_is_bool(c) for c in classes), dtype=bool, count=len(classes))
    if not class_bools.any():
        if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
            return _positions(labels, classes, np.arange(len(classes)))  # integer hash table
        if isinstance(labels, pd.Series) and isinstance(labels.dtype, pd.StringDtype):
            import pyarrow as pa
            import pyarrow.compute as pc

            if all(isinstance(c, str) for c in classes):  # Arrow strings: encoded by Arrow, no Python objects
                text = pa.array(labels)
                found = pc.index_in(text, value_set=pa.array(classes, text.type))
                return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    array = np.asarray(labels)
    if array.dtype.kind not in "biu":
        array = np.asarray(labels, dtype=object)
    array = array.reshape(-1)
    label_bools = _bools(array)
    result = np.full(len(array), -1, dtype=np.int64)
    for kind, labels_of_kind in ((True, label_bools), (False, ~label_bools)):
        places = np.flatnonzero(class_bools == kind)
        if places.size and labels_of_kind.any():
            chosen = array if labels_of_kind.all() else array[labels_of_kind]
            found = _positions(chosen, [classes[i] for i in places], places)
            if labels_of_kind.all():
                result = found
            else:
                result[labels_of_kind] = found
    return result


def _distinct(values: np.ndarray) -> list:
    """The distinct values (the bools first), a bool and a number of the same value kept apart."""
    bools = _bools(values)
    return [
        *(bool(v) for v in pd.unique(values[bools].astype(bool))),
        *pd.unique(values[~bools]),
    ]


def all_codes(y_true: Any, y_pred: Any, classes: Sequence) -> tuple[np.ndarray, np.ndarray, list]:
    """Codes of both label arrays, and the labels they index: the model's classes first, then each
    label the model does not know as a class of its own (as scikit-learn's metrics count them)."""
    true_codes, predicted_codes = codes(y_true, classes), codes(y_pred, classes)
    if not ((true_codes < 0).any() or (predicted_codes < 0).any()):
        return true_codes, predicted_codes, list(classes)
    unknown = _distinct(
        np.concatenate(
            [
                np.asarray(y_true, dtype=object).reshape(-1)[true_codes < 0],
                np.asarray(y_pred, dtype=object).reshape(-1)[predicted_codes < 0],
            ]
        )
    )
    labels = [*classes, *unknown]
    return codes(y_true, labels), codes(y_pred, labels), labels


def roc_auc(y_codes: np.ndarray, proba: np.ndarray) -> float | None:
    """scikit-learn's ROC AUC: of class 1 for two classes, else the macro average of one-vs-rest;
    None when some class is absent from the truth or a true label is one the model does not know."""
    from sklearn.metrics import roc_auc_score

    k = proba.shape[1]  # the model's classes; codes from k up are labels it does not know
    if (y_codes >= k).any() or np.unique(y_codes).size < k:
        return None
    if k == 2:
        return float(roc_auc_score(y_codes, proba[:, 1]))
    # one-vs-rest, class by class: the same average roc_auc_score(multi_class="ovr") gives, without
    # its demand that float32 probabilities sum to exactly 1
    return float(np.mean([roc_auc_score(y_codes == c, proba[:, c]) for c in range(k)]))


def classification_metrics(
    y_true: Any, y_pred: Any, proba: np.ndarray | None, classes: Sequence, only: str | None = None
) -> dict[str, float | None]:
    """accuracy, balanced_accuracy, f1_macro and roc_auc (or just the metric `only`); None where undefined."""
    from sklearn import metrics as skm
    from sklearn.exceptions import UndefinedMetricWarning

    true_codes, predicted_codes, _ = all_codes(y_true, y_pred, classes)
    rows = len(true_codes) > 0
    several = np.unique(true_codes).size > 1
    compute = {
        "accuracy": lambda: skm.accuracy_score(true_codes, predicted_codes) if rows else None,
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(true_codes, predicted_codes) if rows else None,
        "f1_macro": lambda: (
            skm.f1_score(true_codes, predicted_codes, average="macro", zero_division=0) if rows else None
        ),
        "roc_auc": lambda: roc_auc(true_codes, proba) if proba is not None and several else None,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        # balanced accuracy averages over the classes in the truth, as intended here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return {name: _finite(compute[name]()) for name in ([only] if only else compute)}


def regression_metrics(y_true: Any, y_pred: Any, only: str | None = None) -> dict[str, float | None]:
    """r2, rmse and mae (or just the metric `only`); None where undefined."""
    from sklearn import metrics as skm

    compute = {
        "r2": lambda: skm.r2_score(y_true, y_pred) if len(y_true) > 1 else None,
        "rmse": lambda: skm.root_mean_squared_error(y_true, y_pred),
        "mae": lambda: skm.mean_absolute_error(y_true, y_pred),
    }
    return {name: _finite(compute[name]()) for name in ([only] if only else compute)}


def score(
    task: str, y_true: Any, predicted: Predictions, classes: Sequence | None = None, only: str | None = None
) -> dict[str, float | None]:
    """Every metric of the task (or just `only`); a metric a small slice cannot define (one class only) is None."""
    if task == "classification":
        return classification_metrics(y_true, predicted.label, predicted.proba, classes or [], only)
    return regression_metrics(y_true, predicted.label, only)


def coded(
    task: str, y_true: Any, predicted: Predictions, classes: Sequence | None = None
) -> tuple[np.ndarray, Predictions, list | None]:
    """(truth, predictions, classes) with class labels replaced by their positions in `classes`.

    Scoring many subsets of the same rows (slices, permutation copies) then maps labels to codes once.
    """
    if task != "classification":
        return np.asarray(y_true), predicted, None
    true_codes, predicted_codes, labels = all_codes(y_true, predicted.label, classes or [])
    return true_codes, Predictions(predicted_codes, predicted.proba), list(range(len(labels)))
