"""The pictures: the evaluation's confusion matrix (or residuals) and permutation importance, and the
loop's drift plots (reference distribution against the new batch). PNGs are written atomically,
without a software tag, so reruns give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..quality.metrics import Predictions, all_codes, codes
from ..settings import Settings
from ..utils import atomic

if TYPE_CHECKING:
    from ..loop.drift import FeatureDrift
    from ..stages.train import Split


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matrix_classes(y_true, y_pred) -> list:
    """The labels of a confusion matrix: each that the truth or the predictions hold, once (True is not 1), sorted."""
    _, _, classes = all_codes(y_true, y_pred, [])
    try:
        return sorted(classes)
    except TypeError:  # text beside numbers
        return sorted(classes, key=lambda c: (type(c).__name__, str(c)))


def evaluation_plots(
    settings: Settings, parts: Split, test: Predictions, importance: dict[str, float | None], out: Path
) -> list[Path]:
    """The confusion matrix (or residuals) of the test predictions, and the permutation importance."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    if settings.task == "classification":
        from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

        classes = matrix_classes(parts.y_test, test.label)
        every = list(range(len(classes)))
        matrix = confusion_matrix(codes(parts.y_test, classes), codes(test.label, classes), labels=every)
        ConfusionMatrixDisplay(matrix, display_labels=[str(c) for c in classes]).plot(ax=ax, colorbar=False)
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
    with atomic.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return target


def drift_plot_features(drift: Sequence[FeatureDrift], limit: int) -> list[str]:
    """The features worth a plot, at most `limit`: every drifted one first, then the largest PSI (a table row
    holds every feature's figures; a plot per feature would cost seconds per run on wide data)."""
    ranked = sorted(drift, key=lambda d: (not d.drifted, -d.psi, d.feature))
    return [d.feature for d in ranked[:limit]]


def plot_drift(reference: dict, frame: pd.DataFrame, out: Path, features: Sequence[str]) -> list[Path]:
    """One PNG per named feature, in that order: the reference distribution against the new batch."""
    plt = _pyplot()
    from ..loop.drift import MISSING, category_shares

    written = []
    for column in features:
        if column in reference["categorical"]:
            ref = reference["categorical"][column]
            new = category_shares(frame[column])
            labels = sorted(set(ref["shares"]) | set(new), key=lambda v: (v == MISSING, v))
            x = np.arange(len(labels))
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.bar(x - 0.2, [ref["shares"].get(v, 0) for v in labels], 0.4, label="champion's training data")
            ax.bar(x + 0.2, [new.get(v, 0) for v in labels], 0.4, label="new data")
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_title(column)
            ax.legend(fontsize=7)
            fig.tight_layout()
            written.append(save_png(fig, out / drift_plot_name(column)))
            plt.close(fig)
            continue
        ref = reference["numeric"][column]
        fig, ax = plt.subplots(figsize=(5, 3))
        new = pd.to_numeric(frame[column], errors="coerce").dropna()
        bins = np.histogram_bin_edges(np.concatenate([ref["sample"], new.to_numpy()]), bins=20)
        ax.hist(ref["sample"], bins=bins, density=True, alpha=0.5, label="champion's training data")
        ax.hist(new, bins=bins, density=True, alpha=0.5, label="new data")
        ax.set_title(column)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(save_png(fig, out / drift_plot_name(column)))
        plt.close(fig)
    return written


def drift_plot_name(column: str) -> str:
    """A file name for the column's drift plot: any character a file name cannot hold becomes `_`."""
    import re

    safe = re.sub(r"[^\w.() -]", "_", column)
    return f"drift_{safe}.png"
