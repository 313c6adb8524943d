"""Stage 3: measure the model (train/test, per slice, against a trivial baseline), plot it, and apply the quality gate."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.pipeline import Pipeline

from . import fsutil
from .settings import LOWER_IS_BETTER, Settings
from .train import Split

METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
IMPORTANCE_MAX_ROWS = 5000
IMPORTANCE_REPEATS = 5


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _codes(labels, classes) -> np.ndarray:
    """Labels as integer positions in `classes` (-1 for a label the model does not know).

    scikit-learn's metrics sort the labels they are given several times each; on a million
    string labels that sorting is most of the evaluation time, on integers it is a blink.
    The metrics are the same: the mapping is one to one.
    """
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        return pd.Index(list(classes)).get_indexer(labels).astype(np.int64)  # integer hash table
    if isinstance(labels, pd.Series) and isinstance(labels.dtype, pd.StringDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        if all(isinstance(c, str) for c in classes):  # Arrow strings: encoded by Arrow, no Python objects
            text = pa.array(labels)
            found = pc.index_in(text, value_set=pa.array(list(classes), text.type))
            return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    labels = np.asarray(labels, dtype=object)
    return pd.Index(list(classes), dtype=object).get_indexer(labels).astype(np.int64)


def classification_metrics(
    y_true, y_pred, proba: np.ndarray | None, classes, only: str | None = None
) -> dict[str, float | None]:
    """accuracy, balanced_accuracy, f1_macro and roc_auc (or just the metric `only`); None where undefined."""
    true_codes, predicted_codes, labels = _all_codes(y_true, y_pred, classes)
    several = np.unique(true_codes).size > 1
    counted = _counts(true_codes, predicted_codes, len(labels)) if len(true_codes) else {}
    compute = {
        "accuracy": lambda: counted.get("accuracy"),
        "balanced_accuracy": lambda: counted.get("balanced_accuracy") if several else None,
        "f1_macro": lambda: counted.get("f1_macro"),
        "roc_auc": lambda: _roc_auc(true_codes, proba) if proba is not None and several else None,
    }
    return {name: _finite(compute[name]()) for name in ([only] if only else compute)}


def _all_codes(y_true, y_pred, classes) -> tuple[np.ndarray, np.ndarray, list]:
    """Codes of both label arrays, and the labels they index: the model's classes first, then each
    label the model does not know as a class of its own (as scikit-learn's metrics count them)."""
    true_codes, predicted_codes = _codes(y_true, classes), _codes(y_pred, classes)
    if not ((true_codes < 0).any() or (predicted_codes < 0).any()):
        return true_codes, predicted_codes, list(classes)
    unknown = pd.unique(
        np.concatenate(
            [np.asarray(y_true, dtype=object)[true_codes < 0], np.asarray(y_pred, dtype=object)[predicted_codes < 0]]
        )
    )
    labels = [*classes, *unknown]
    return _codes(y_true, labels), _codes(y_pred, labels), labels


def _counts(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> dict[str, float]:
    """accuracy, balanced accuracy and macro F1 (zero_division=0) as scikit-learn defines them,
    from one confusion matrix of class codes 0..k-1 (scikit-learn sorts and checks the labels
    again for each metric, which on a million rows costs more than the counting).

    Like scikit-learn, balanced accuracy averages recall over the classes in the truth, and
    macro F1 averages over the classes in the truth or the predictions.
    """
    matrix = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    hits = np.diag(matrix).astype(float)
    truth, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    in_truth, seen = truth > 0, (truth + predicted) > 0
    f1 = 2 * hits[seen] / (2 * hits[seen] + (predicted - hits)[seen] + (truth - hits)[seen])
    return {
        "accuracy": float(hits.sum() / len(y_true)),
        "balanced_accuracy": float(np.mean(hits[in_truth] / truth[in_truth])),
        "f1_macro": float(np.mean(f1)),
    }


def _roc_auc(y_codes: np.ndarray, proba: np.ndarray) -> float | None:
    """ROC AUC as scikit-learn's roc_auc_score gives it: of class 1 for two classes, else the
    macro average of one-vs-rest; None when some class is absent or a label is unknown.

    Computed in its rank form (the Mann-Whitney U statistic, ties counting one half), which is
    the same number as the area under the ROC curve, with one ranking per class instead of a
    whole curve: half the time on a million rows.
    """
    from scipy.stats import rankdata

    k = proba.shape[1]  # the model's classes; codes from k up are labels it does not know
    if (y_codes >= k).any():  # a true label the model does not know: scikit-learn refuses too
        return None
    areas = []
    for positive in [1] if k == 2 else range(k):
        is_positive = y_codes == positive
        n_pos = int(is_positive.sum())
        n_neg = len(y_codes) - n_pos
        if n_pos == 0 or n_neg == 0:
            return None
        ranks = rankdata(proba[:, positive])
        areas.append((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(areas))


def regression_metrics(y_true, y_pred, only: str | None = None) -> dict[str, float | None]:
    """r2, rmse and mae (or just the metric `only`); None where undefined."""
    compute = {
        "r2": lambda: skm.r2_score(y_true, y_pred) if len(y_true) > 1 else None,
        "rmse": lambda: skm.root_mean_squared_error(y_true, y_pred),
        "mae": lambda: skm.mean_absolute_error(y_true, y_pred),
    }
    return {name: _finite(compute[name]()) for name in ([only] if only else compute)}


@dataclass(frozen=True)
class Predictions:
    """The model's outputs on some rows: the predicted label or value, and the class probabilities."""

    label: np.ndarray
    proba: np.ndarray | None  # classification only; columns in the order of the model's classes

    def take(self, rows: np.ndarray) -> Predictions:
        return Predictions(self.label[rows], None if self.proba is None else self.proba[rows])


def predict(settings: Settings, model: Pipeline, X: pd.DataFrame, features: np.ndarray | None = None) -> Predictions:
    """What `model.predict` (and `model.predict_proba`) return on X, with one pass through the preprocessing.

    Calling both methods of the Pipeline would run the ColumnTransformer twice; on a million
    rows of text categories that transform costs as much as the prediction itself.
    `features` is X already preprocessed by the model's own steps (the training rows, as fitted).
    """
    features = model[:-1].transform(X) if features is None else features
    estimator = model[-1]
    if settings.task != "classification":
        return Predictions(np.asarray(estimator.predict(features)).reshape(-1), None)
    proba = estimator.predict_proba(features)
    if hasattr(estimator, "decision_function"):
        label = estimator.predict(features)  # margin models: scikit-learn's own decision rule
    else:
        label = estimator.classes_.take(proba.argmax(axis=1))  # forests: this is their predict
    return Predictions(label, proba)


def score(
    settings: Settings, y_true, predicted: Predictions, classes=None, only: str | None = None
) -> dict[str, float | None]:
    """Every metric of the task (or just `only`); a metric a small slice cannot define (one class only) is None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if settings.task == "classification":
            return classification_metrics(y_true, predicted.label, predicted.proba, classes, only)
        return regression_metrics(y_true, predicted.label, only)


def coded(settings: Settings, y_true, predicted: Predictions, classes=None) -> tuple[np.ndarray, Predictions, list]:
    """(truth, predictions, classes) with class labels replaced by their positions in `classes`.

    Scoring many subsets of the same rows (slices, permutation copies) then maps labels to codes once.
    """
    if settings.task != "classification":
        return np.asarray(y_true), predicted, classes
    true_codes, predicted_codes, labels = _all_codes(y_true, predicted.label, classes)
    return true_codes, Predictions(predicted_codes, predicted.proba), list(range(len(labels)))


def slice_metrics(settings: Settings, parts: Split, test: Predictions, classes=None) -> dict[str, dict[str, dict]]:
    """Every metric for each value of each categorical feature on the test split (from the test predictions)."""
    y_test, test, classes = coded(settings, parts.y_test, test, classes)
    result: dict[str, dict[str, dict]] = {}
    for column in settings.data.categorical_features:
        result[column] = {}
        codes, values = pd.factorize(parts.X_test[column].to_numpy(), sort=True)
        for code, value in enumerate(values):
            rows = np.flatnonzero(codes == code)
            value_name = "(missing)" if value == "" else str(value)
            measured = score(settings, y_test[rows], test.take(rows), classes)
            result[column][value_name] = {"rows": len(rows), **measured}
    return result


def baseline_predictions(settings: Settings, parts: Split, classes=None) -> Predictions:
    """The trivial model's test predictions: the most frequent training class, or the training mean.

    The dummy is fitted on integer class codes: it ignores the features, and sorting a million
    string labels to find the most frequent one would cost seconds.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    train_rows, test_rows = np.zeros((len(parts.y_train), 1)), np.zeros((len(parts.y_test), 1))
    if settings.task != "classification":
        return Predictions(DummyRegressor().fit(train_rows, parts.y_train.to_numpy()).predict(test_rows), None)
    dummy = DummyClassifier(strategy="most_frequent").fit(train_rows, _codes(parts.y_train, classes))
    proba = np.zeros((len(test_rows), len(classes)))
    proba[:, dummy.classes_] = dummy.predict_proba(test_rows)
    return Predictions(np.asarray(classes, dtype=object)[dummy.predict(test_rows)], proba)


def _better(metric: str, value: float | None, bar: float) -> bool:
    if value is None:
        return False
    return value <= bar if metric in LOWER_IS_BETTER else value >= bar


def quality_gates(settings: Settings, test: dict, slices: dict, baseline: dict) -> dict:
    """Each gate with its threshold, the measured value, and whether it passed."""
    quality = settings.quality
    primary = quality.primary_metric
    slice_metric = quality.slice_metric
    sign = 1 if quality.higher_is_better else -1
    gates = {
        "threshold": {
            "metric": primary,
            "value": test[primary],
            "threshold": quality.threshold,
            "passed": _better(primary, test[primary], quality.threshold),
        },
        "baseline": {
            "metric": primary,
            "value": test[primary],
            "baseline": baseline[primary],
            "min_improvement": quality.min_improvement_over_baseline,
            "passed": baseline[primary] is None
            or _better(primary, test[primary], baseline[primary] + sign * quality.min_improvement_over_baseline),
        },
        "slices": [],
    }
    for column, values in slices.items():
        for value, entry in values.items():
            gated = entry["rows"] >= quality.slice_min_rows and entry[slice_metric] is not None
            gates["slices"].append(
                {
                    "column": column,
                    "value": value,
                    "rows": entry["rows"],
                    "metric": slice_metric,
                    "measured": entry[slice_metric],
                    "threshold": quality.slice_threshold,
                    "gated": gated,
                    "passed": (not gated) or _better(slice_metric, entry[slice_metric], quality.slice_threshold),
                }
            )
    gates["passed"] = (
        gates["threshold"]["passed"] and gates["baseline"]["passed"] and all(s["passed"] for s in gates["slices"])
    )
    return gates


def failed_gates(metrics: dict) -> list[str]:
    """Readable lines for every gate that did not pass."""
    gates = metrics["gates"]
    lines = []
    t = gates["threshold"]
    if not t["passed"]:
        lines.append(
            f"test {t['metric']} = {t['value']} does not reach the threshold {t['threshold']} (quality.threshold)"
        )
    b = gates["baseline"]
    if not b["passed"]:
        lines.append(
            f"test {b['metric']} = {b['value']} is not better than the trivial baseline {b['baseline']} "
            f"by {b['min_improvement']} (quality.min_improvement_over_baseline)"
        )
    for s in gates["slices"]:
        if not s["passed"]:
            lines.append(
                f"slice {s['column']}={s['value']} ({s['rows']} rows): {s['metric']} = {s['measured']} "
                f"does not reach {s['threshold']} (quality.slice_threshold)"
            )
    return lines


def permutation_importance(settings: Settings, model: Pipeline, parts: Split, classes=None) -> dict[str, float | None]:
    """How much worse the primary metric gets when one raw column is shuffled (mean of IMPORTANCE_REPEATS shuffles).

    Measured on up to IMPORTANCE_MAX_ROWS test rows. Every shuffled copy goes through the model
    in one call: on a few thousand rows the Pipeline's cost per call, not per row, is the time.
    """
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
    y, predicted, classes = coded(settings, y, predict(settings, model, pd.concat(copies, ignore_index=True)), classes)
    metric = settings.quality.primary_metric

    def measured(copy: int) -> float | None:
        return score(settings, y, predicted.take(slice(copy * n, (copy + 1) * n)), classes, metric)[metric]

    intact = measured(0)
    sign = -1 if metric in LOWER_IS_BETTER else 1
    importance: dict[str, float | None] = {}
    for position, column in enumerate(X.columns):
        drops = [measured(1 + position * IMPORTANCE_REPEATS + r) for r in range(IMPORTANCE_REPEATS)]
        defined = [sign * (intact - d) for d in drops if d is not None and intact is not None]
        importance[column] = float(np.mean(defined)) if defined else None
    return importance


def evaluate(
    settings: Settings,
    model: Pipeline,
    parts: Split,
    test: Predictions | None = None,
    train_features: np.ndarray | None = None,
) -> dict:
    """Train and test metrics, slices, the trivial baseline, permutation importance and the quality gates.

    `test` is the model's predictions on the test split when the caller already has them (plots use
    them too); `train_features` the training rows as the model's preprocessing turned them out in fit.
    """
    classes = list(model.classes_) if settings.task == "classification" else None
    test = predict(settings, model, parts.X_test) if test is None else test
    train_scores = score(settings, parts.y_train, predict(settings, model, parts.X_train, train_features), classes)
    test_scores = score(settings, parts.y_test, test, classes)
    baseline = score(settings, parts.y_test, baseline_predictions(settings, parts, classes), classes)
    slices = slice_metrics(settings, parts, test, classes)
    return {
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
        "rows": {"train": len(parts.X_train), "test": len(parts.X_test)},
        "feature_importance": permutation_importance(settings, model, parts, classes),
        "gates": quality_gates(settings, test_scores, slices, baseline),
    }


def plot(settings: Settings, parts: Split, test: Predictions, importance: dict[str, float], out: Path) -> list[Path]:
    """The confusion matrix (or residuals) of the test predictions, and the permutation importance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    if settings.task == "classification":
        from sklearn.metrics import ConfusionMatrixDisplay

        classes = sorted(set(pd.unique(parts.y_test)) | set(pd.unique(test.label)))
        matrix = skm.confusion_matrix(_codes(parts.y_test, classes), _codes(test.label, classes))
        ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, colorbar=False)
        ax.set_title("Confusion matrix (test split)")
        name = "confusion_matrix.png"
    else:
        from sklearn.metrics import PredictionErrorDisplay

        PredictionErrorDisplay.from_predictions(parts.y_test, test.label, kind="residual_vs_predicted", ax=ax)
        ax.set_title("Residuals vs predicted (test split)")
        name = "residuals.png"
    written.append(save_png(fig, out / name))
    plt.close(fig)

    ordered = sorted(((k, v or 0.0) for k, v in importance.items()), key=lambda kv: kv[1])  # None: undefined
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.4 * len(ordered) + 1)), dpi=100)
    ax.barh([k for k, _ in ordered], [v for _, v in ordered], color="#4477aa")
    ax.set_xlabel(f"how much worse {settings.quality.primary_metric} gets when the column is shuffled")
    ax.set_title("Permutation feature importance (test split)")
    fig.tight_layout()
    written.append(save_png(fig, out / "feature_importance.png"))
    plt.close(fig)
    return written


def save_png(fig, target: Path) -> Path:
    """Write a figure as PNG atomically (no software tag, so reruns give the same bytes)."""
    with fsutil.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return target


def write(settings: Settings, metrics: dict) -> Path:
    target = settings.artifacts_dir / METRICS_FILE
    fsutil.write_json(target, metrics)
    return target
