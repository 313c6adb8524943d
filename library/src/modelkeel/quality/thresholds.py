"""Thresholds that fit the data: every bar with units, placed relative to the trivial baseline on this data.

`infer-schema` calls `fit_thresholds` on the file it reads, so the gates speak the data's own
units (a price error in dollars, not the sample's grams) and ask for a real improvement over
doing nothing clever. For each metric the *gap* is the distance from the trivial baseline's
score (the most frequent class with the class shares as probabilities, or the mean) to a
perfect score, in the metric's units; every bar is a share of that gap:

- quality.threshold: a third of the way from the baseline to perfect;
- quality.min_improvement_over_baseline: a tenth of the gap;
- quality.slice_threshold: the baseline's own score on the whole data (no slice may do worse
  than doing nothing clever does overall); for classification the slice metric becomes
  balanced_accuracy, whose trivial score is the same in every slice (1 / classes), however the
  slice's classes are balanced: with accuracy, a slice where the rarer class is common (the late
  flights of one airline) falls below the whole data's majority share even for a good model;
- retrain.max_metric_drop and retrain.max_trusted_drop: a tenth of the gap; retrain.promotion_margin:
  a fiftieth of it (the smallest gain that promotes a challenger, with its interval above zero, and
  the smallest slide that retrains a champion, with its interval wholly below the release score).

Bars are rounded to three significant digits, towards the easier side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import METRICS, Predictions, lower_is_better, moved_by, score

THRESHOLD_SHARE = 1 / 3
SLICE_METRIC = "balanced_accuracy"  # a classifier's slices, whatever their balance of classes
IMPROVEMENT_SHARE = 0.1
DROP_SHARE = 0.1
MARGIN_SHARE = 0.02


@dataclass(frozen=True)
class Choice:
    section: str  # params.yaml section: quality or retrain
    key: str
    value: float | str  # a bar, or (quality.slice_metric) the metric it is in
    why: str

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def trivial_baseline(task: str, y: pd.Series) -> dict[str, float | None]:
    """Every metric of the task for the trivial model on these labels (fitted and scored on them)."""
    y = y.dropna()
    if task == "classification":
        classes = sorted(pd.unique(y.to_numpy(dtype=object)), key=str)
        shares = y.astype(object).value_counts(normalize=True).reindex(classes).to_numpy(dtype=float)
        majority = classes[int(np.argmax(shares))]
        label = np.full(len(y), majority, dtype=object)
        proba = np.tile(shares, (len(y), 1))
        return score(task, y.to_numpy(dtype=object), Predictions(label, proba), classes)
    values = y.to_numpy(dtype=float)
    return score(task, values, Predictions(np.full(len(values), values.mean()), None))


def _round(value: float, easier_up: bool) -> float:
    """Three significant digits, rounded towards the easier side of the bar."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    exponent = math.floor(math.log10(abs(value))) - 2
    step = 10.0**exponent
    steps = round(value / step, 6)  # 0.564 / 0.001 is 563.99999...: not a step below
    rounded = (math.ceil if easier_up else math.floor)(steps) * step
    return round(rounded, max(0, -exponent))


def fit_thresholds(task: str, y: pd.Series, primary: str, slice_metric: str) -> list[Choice]:
    """The bars for this data, each with the reason it was chosen."""
    baseline = trivial_baseline(task, y)
    choices: list[Choice] = []

    def gap_of(metric: str) -> tuple[float, float]:
        base = baseline[metric]
        if base is None:
            raise ValueError(f"the trivial baseline's {metric} is undefined on this data")
        return base, abs(METRICS[metric].best - base)

    base, gap = gap_of(primary)
    lower = lower_is_better(primary)
    unit = "in the target's units" if METRICS[primary].best == 0 and lower else "on its 0-1 scale"
    best = METRICS[primary].best
    choices.append(
        Choice(
            "quality",
            "threshold",
            _round(moved_by(primary, base, gap * THRESHOLD_SHARE), easier_up=lower),
            f"the trivial baseline's {primary} is {base:.4g} on this data and a perfect one is {best:g}: "
            f"the model must get a third of the way there ({'at most' if lower else 'at least'}, {unit})",
        )
    )
    choices.append(
        Choice(
            "quality",
            "min_improvement_over_baseline",
            _round(gap * IMPROVEMENT_SHARE, easier_up=False),
            f"a tenth of that gap ({gap:.4g}) better than the trivial baseline",
        )
    )
    if task == "classification" and slice_metric != SLICE_METRIC:
        choices.append(
            Choice(
                "quality",
                "slice_metric",
                SLICE_METRIC,
                f"instead of {slice_metric}: a slice's classes may be balanced otherwise than the whole data's, "
                f"and {SLICE_METRIC} scores doing nothing clever the same in every slice",
            )
        )
        slice_metric = SLICE_METRIC
    slice_base, _ = gap_of(slice_metric)
    choices.append(
        Choice(
            "quality",
            "slice_threshold",
            _round(slice_base, easier_up=lower_is_better(slice_metric)),
            f"no slice may score a worse {slice_metric} than the trivial baseline does on the whole data "
            f"({slice_base:.4g})",
        )
    )
    choices.append(
        Choice(
            "retrain",
            "max_metric_drop",
            _round(gap * DROP_SHARE, easier_up=False),
            f"retrain when the champion's {primary} on new rows is a tenth of the gap worse",
        )
    )
    choices.append(
        Choice(
            "retrain",
            "max_trusted_drop",
            _round(gap * DROP_SHARE, easier_up=False),
            "a challenger may score a tenth of the gap worse than the champion on the trusted set, no more",
        )
    )
    choices.append(
        Choice(
            "retrain",
            "promotion_margin",
            _round(gap * MARGIN_SHARE, easier_up=False),
            f"a challenger must beat the champion's {primary} by a fiftieth of the gap (and a champion that slid "
            "this much is retrained)",
        )
    )
    return choices
