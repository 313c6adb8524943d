"""Stage 3: measure the model (train/test, per slice, against a trivial baseline), plot it, and apply the quality gate."""

from __future__ import annotations

import math
import warnings
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
SCORERS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "f1_macro": "f1_macro",
    "roc_auc": "roc_auc_ovr",
    "r2": "r2",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _codes(labels, classes) -> np.ndarray:
    """Labels as integer positions in `classes` (-1 for a label the model does not know).

    scikit-learn's metrics sort the labels they are given several times each; on a million
    string labels that sorting is most of the evaluation time, on integers it is a blink.
    The metrics are the same: the mapping is one to one.
    """
    return pd.Categorical(np.asarray(labels, dtype=object), categories=list(classes)).codes.astype(np.int64)


def classification_metrics(y_true, y_pred, proba: np.ndarray | None, classes) -> dict[str, float | None]:
    y_true, y_pred, classes = _codes(y_true, classes), _codes(y_pred, classes), list(range(len(classes)))
    result = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred) if np.unique(y_true).size > 1 else None,
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
        "roc_auc": None,
    }
    if proba is not None and np.unique(y_true).size > 1:
        try:
            if len(classes) == 2:
                result["roc_auc"] = skm.roc_auc_score(y_true, proba[:, 1])
            else:
                result["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=list(classes))
        except ValueError:
            result["roc_auc"] = None
    return {k: _finite(v) if v is not None else None for k, v in result.items()}


def regression_metrics(y_true, y_pred) -> dict[str, float | None]:
    return {
        "r2": _finite(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else None,
        "rmse": _finite(skm.root_mean_squared_error(y_true, y_pred)),
        "mae": _finite(skm.mean_absolute_error(y_true, y_pred)),
    }


def score(settings: Settings, model, X: pd.DataFrame, y: pd.Series) -> dict[str, float | None]:
    """Every metric of the task; a metric a small slice cannot define (one class only) is None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return _score(settings, model, X, y)


def _score(settings: Settings, model, X: pd.DataFrame, y: pd.Series) -> dict[str, float | None]:
    pred = model.predict(X)
    if settings.task == "classification":
        return classification_metrics(y, pred, model.predict_proba(X), model.classes_)
    return regression_metrics(y, pred)


def slice_metrics(settings: Settings, model: Pipeline, parts: Split) -> dict[str, dict[str, dict]]:
    """Every metric for each value of each categorical feature on the test split."""
    result: dict[str, dict[str, dict]] = {}
    for column in settings.data.categorical_features:
        result[column] = {}
        for value, index in parts.X_test.groupby(column, sort=True).groups.items():
            rows = len(index)
            value_name = "(missing)" if value == "" else str(value)
            measured = score(settings, model, parts.X_test.loc[index], parts.y_test.loc[index])
            result[column][value_name] = {"rows": rows, **measured}
    return result


def baseline_model(settings: Settings, parts: Split):
    from sklearn.dummy import DummyClassifier, DummyRegressor

    dummy = DummyClassifier(strategy="most_frequent") if settings.task == "classification" else DummyRegressor()
    return dummy.fit(parts.X_train, parts.y_train)


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


def permutation_importance(settings: Settings, model: Pipeline, parts: Split) -> dict[str, float]:
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    X, y = parts.X_test, parts.y_test
    if len(X) > IMPORTANCE_MAX_ROWS:
        X = X.sample(IMPORTANCE_MAX_ROWS, random_state=settings.seed)
        y = y.loc[X.index]
    scorer = SCORERS[settings.quality.primary_metric]
    if scorer == "roc_auc_ovr" and len(model.classes_) == 2:
        scorer = "roc_auc"
    result = sk_permutation_importance(model, X, y, scoring=scorer, n_repeats=5, random_state=settings.seed)
    return {c: float(v) for c, v in zip(X.columns, result.importances_mean, strict=True)}


def evaluate(settings: Settings, model: Pipeline, parts: Split) -> dict:
    train = score(settings, model, parts.X_train, parts.y_train)
    test = score(settings, model, parts.X_test, parts.y_test)
    baseline = score(settings, baseline_model(settings, parts), parts.X_test, parts.y_test)
    slices = slice_metrics(settings, model, parts)
    return {
        "task": settings.task,
        "model": settings.model.type,
        "primary_metric": settings.quality.primary_metric,
        "higher_is_better": settings.quality.higher_is_better,
        "train": train,
        "test": test,
        "baseline": {"strategy": "most_frequent" if settings.task == "classification" else "mean", "test": baseline},
        "slices": slices,
        "rows": {"train": len(parts.X_train), "test": len(parts.X_test)},
        "feature_importance": permutation_importance(settings, model, parts),
        "gates": quality_gates(settings, test, slices, baseline),
    }


def plot(settings: Settings, model: Pipeline, parts: Split, importance: dict[str, float], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    if settings.task == "classification":
        from sklearn.metrics import ConfusionMatrixDisplay

        ConfusionMatrixDisplay.from_predictions(parts.y_test, model.predict(parts.X_test), ax=ax, colorbar=False)
        ax.set_title("Confusion matrix (test split)")
        name = "confusion_matrix.png"
    else:
        from sklearn.metrics import PredictionErrorDisplay

        PredictionErrorDisplay.from_predictions(
            parts.y_test, model.predict(parts.X_test), kind="residual_vs_predicted", ax=ax
        )
        ax.set_title("Residuals vs predicted (test split)")
        name = "residuals.png"
    written.append(save_png(fig, out / name))
    plt.close(fig)

    ordered = sorted(importance.items(), key=lambda kv: kv[1])
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
