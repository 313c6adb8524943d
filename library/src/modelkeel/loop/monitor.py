"""Step 3 of the loop: drift of every feature and of the target against the champion's `reference.json`
(effect sizes: PSI, KS distance; evidence: KS and chi-square tests), the champion's primary metric on the
new labelled rows, and its errors there by slice and by class next to the same figures at release
(concept drift shows as errors that moved)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle import layout
from ..bundle.reader import Bundle
from ..errors import PipelineError
from ..quality.metrics import score
from ..settings import Settings
from .drift import FeatureDrift, feature_drift, target_drift
from .evidence import Outputs
from .expectations import Breach, outside_expectations


@dataclass(frozen=True)
class Errors:
    """The champion on one slice or class: at release (its test split) and on the new labelled rows."""

    scope: str  # "island=Biscoe" or "class Adelie"
    metric: str
    at_release: float | None
    on_new: float | None
    rows: int


@dataclass(frozen=True)
class Monitoring:
    drift: tuple[FeatureDrift, ...]
    champion_metric: float | None  # on the new labelled rows; None when no row has a label
    plots: tuple[Path, ...]
    target: FeatureDrift | None = None  # the labels' distribution against the training data's
    errors: tuple[Errors, ...] = ()
    expectations: tuple[Breach, ...] = ()  # rows outside the contract's expectations: reported, never refused
    scored: Outputs | None = None  # the champion's answers on the labelled rows, in their order (the trend's too)

    @property
    def drifted(self) -> list[str]:
        return [d.feature for d in self.drift if d.drifted]


def metric_on(settings: Settings, model: Bundle, frame: pd.DataFrame) -> float | None:
    """A bundle's primary metric on the labelled rows of `frame` (None when no row has a label)."""
    from .evidence import metric_of, outputs

    labelled = frame[frame[settings.data.target].notna()]
    if labelled.empty:
        return None
    return metric_of(settings, outputs(settings, model, labelled), np.arange(len(labelled)))


def champion_errors(
    settings: Settings, champion: Bundle, frame: pd.DataFrame, out: Outputs | None = None
) -> tuple[Errors, ...]:
    """The champion's slice metric on all rows and per category, and recall per class, on the new labelled rows,
    beside the same figures at release (its test split). `out`: its answers on those rows, when scored already."""
    from .evidence import outputs

    labelled = frame[frame[settings.data.target].notna()]
    if labelled.empty:
        return ()
    out = out if out is not None else outputs(settings, champion, labelled)
    metric = settings.quality.slice_metric
    # every row first: numeric-only data has no slice and a regression no class, and the loss still shows here
    everyone = score(settings.task, out.y, out.predicted, out.classes, metric)[metric]
    found = [Errors("all rows", metric, champion.metrics.get("test", {}).get(metric), everyone, len(labelled))]
    released = champion.metrics.get("slices", {})
    for column in settings.data.categorical_features:
        values = labelled[column].astype(str).where(labelled[column].notna(), "(missing)").to_numpy()
        for value in sorted(set(values)):
            rows = np.flatnonzero(values == value)
            on_new = score(settings.task, out.y[rows], out.predicted.take(rows), out.classes, metric)[metric]
            at_release = released.get(column, {}).get(value, {}).get(metric)
            found.append(Errors(f"{column}={value}", metric, at_release, on_new, len(rows)))
    if out.classes is not None:  # the codes of the model's classes come first (quality/metrics.py all_codes)
        names = champion.classes or sorted(set(labelled[settings.data.target].to_numpy()))
        recalls = champion.metrics.get("classes", {})
        for code, cls in enumerate(names):
            rows = np.flatnonzero(out.y == code)
            if len(rows):
                on_new = float((out.predicted.label[rows] == code).mean())
                found.append(
                    Errors(f"class {cls}", "recall", recalls.get(str(cls), {}).get("recall"), on_new, len(rows))
                )
    return tuple(found)


def monitor(settings: Settings, champion: Bundle, frame: pd.DataFrame, plots_dir: Path) -> Monitoring:
    from ..reports.plots import drift_plot_features, plot_drift

    reference = champion.reference
    if reference is None:
        raise PipelineError(
            f"the champion v{champion.version} has no {layout.REFERENCE} (bundled before drift monitoring): "
            "release a model built by this version of the project, then retraining can compare with it"
        )
    from .evidence import metric_of, outputs

    r = settings.retrain
    drift = feature_drift(reference, frame, r)
    plots = plot_drift(reference, frame, plots_dir, drift_plot_features(drift, r.drift_plots))
    labelled = frame[frame[settings.data.target].notna()]
    out = outputs(settings, champion, labelled) if len(labelled) else None  # scored once, for every figure
    return Monitoring(
        tuple(drift),
        None if out is None else metric_of(settings, out, np.arange(len(labelled))),
        tuple(plots),
        target=target_drift(reference, frame, r),
        errors=champion_errors(settings, champion, labelled, out),
        expectations=outside_expectations(reference.get("expectations"), frame),
        scored=out,
    )
