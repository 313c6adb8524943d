"""Step 3 of the loop: drift of every feature against the champion's `reference.json` (PSI, KS test),
and the champion's primary metric on the new labelled rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle import layout
from ..bundle.reader import Bundle
from ..errors import PipelineError
from ..quality.metrics import Predictions, score
from ..settings import Settings
from .drift import FeatureDrift, feature_drift


@dataclass(frozen=True)
class Monitoring:
    drift: tuple[FeatureDrift, ...]
    champion_metric: float | None  # on the new labelled rows; None when no row has a label
    plots: tuple[Path, ...]

    @property
    def drifted(self) -> list[str]:
        return [d.feature for d in self.drift if d.drifted]


def metric_on(settings: Settings, model: Bundle, frame: pd.DataFrame) -> float | None:
    """A bundle's primary metric on the labelled rows of `frame` (None when no row has a label)."""
    labelled = frame[frame[settings.data.target].notna()]
    if labelled.empty:
        return None
    outputs = model.run(labelled)
    y_true = labelled[settings.data.target].to_numpy()
    metric = settings.quality.primary_metric
    if settings.task == "classification":
        classes = model.classes or sorted(set(y_true))
        predicted = Predictions(np.asarray(outputs["label"]), np.asarray(outputs["value"]))
        return score(settings.task, y_true, predicted, classes, metric)[metric]
    return score(settings.task, y_true, Predictions(np.asarray(outputs["value"]).ravel(), None), None, metric)[metric]


def monitor(settings: Settings, champion: Bundle, frame: pd.DataFrame, plots_dir: Path) -> Monitoring:
    from ..reports.plots import plot_drift

    reference = champion.reference
    if reference is None:
        raise PipelineError(
            f"the champion v{champion.version} has no {layout.REFERENCE} (bundled before drift monitoring): "
            "release a model built by this version of the project, then retraining can compare with it"
        )
    r = settings.retrain
    drift = feature_drift(reference, frame, r.psi_threshold, r.ks_pvalue)
    plots = plot_drift(reference, frame, plots_dir)
    return Monitoring(tuple(drift), metric_on(settings, champion, frame), tuple(plots))
