"""The quality gates: the primary metric's threshold, every slice, and beating the trivial baseline.

Every bar comes from `quality:` in params.yaml; `reaches` (quality/metrics.py) knows which way
each metric improves. `pipeline` and `bundle` refuse a model that fails any gate.

A slice is judged with its uncertainty: it fails only when the `quality.slice_confidence` interval
of its metric lies wholly on the wrong side of `quality.slice_threshold`, so a small slice of a noisy
target does not fail by chance while a large slice that is clearly worse does. The interval is
computed only for a slice whose point estimate misses the bar (a passing run costs nothing extra):
analytic where one exists (accuracy: Wilson's binomial interval; mae and rmse: Student's t interval
of the mean absolute or squared error), else a percentile bootstrap seeded by `seed`
(scipy.stats.bootstrap). `evaluate`, the loop's trusted-set check and the project's tests share
this one rule (`slice_gate`, `slice_passes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..settings import QualitySettings
from .metrics import Predictions, lower_is_better, moved_by, reaches, score

# scipy.stats.bootstrap draws every resample of the row indexes at once unless batched: 1 000 resamples of
# 250 000 rows took 3.9 GiB and 12.9 s, 50 at a time 0.38 GiB and 3.4 s (make bench, the loop per batch)
BOOTSTRAP_BATCH = 50
SLICE_RESAMPLES = 1000  # bootstrap resamples of a slice metric without an analytic interval

# (low, high); None for an end the rows cannot bound (a slice of one row)
Interval = tuple[float | None, float | None]


def quality_gates(
    quality: QualitySettings,
    test: dict,
    slices: dict,
    baseline: dict,
    interval_of: Callable[[str, str], Interval] | None = None,
) -> dict:
    """Each gate with its threshold, the measured value, and whether it passed.

    `interval_of(column, value)` gives a slice metric's interval; it is called only for a gated slice
    whose point estimate misses the bar. Without it such a slice fails on its point estimate.
    """
    primary = quality.primary_metric
    gates: dict[str, Any] = {
        "threshold": {
            "metric": primary,
            "value": test[primary],
            "threshold": quality.threshold,
            "passed": reaches(primary, test[primary], quality.threshold),
        },
        "baseline": {
            "metric": primary,
            "value": test[primary],
            "baseline": baseline[primary],
            "min_improvement": quality.min_improvement_over_baseline,
            "passed": baseline[primary] is None
            or reaches(
                primary, test[primary], moved_by(primary, baseline[primary], quality.min_improvement_over_baseline)
            ),
        },
        "slices": [],
    }
    for column, values in slices.items():
        for value, entry in values.items():
            of = None if interval_of is None else (lambda c=column, v=value: interval_of(c, v))
            gates["slices"].append(slice_gate(quality, column, value, entry["rows"], entry[quality.slice_metric], of))
    gates["passed"] = (
        gates["threshold"]["passed"] and gates["baseline"]["passed"] and all(s["passed"] for s in gates["slices"])
    )
    return gates


def slice_gate(
    quality: QualitySettings,
    column: str,
    value: str,
    rows: int,
    measured: float | None,
    interval_of: Callable[[], Interval] | None,
) -> dict:
    """One slice's gate (as metrics.json records it): gated from slice_min_rows rows on, and failed only
    when its interval, computed here for a point estimate that misses the bar, lies wholly beyond it."""
    metric, bar = quality.slice_metric, quality.slice_threshold
    gated = rows >= quality.slice_min_rows and measured is not None
    interval = interval_of() if gated and interval_of is not None and not reaches(metric, measured, bar) else None
    entry = {
        "column": column,
        "value": value,
        "rows": rows,
        "metric": metric,
        "measured": measured,
        "threshold": bar,
        "gated": gated,
        "confidence": quality.slice_confidence,
        "interval": None if interval is None else list(interval),
    }
    entry["passed"] = slice_passes(entry)
    return entry


def slice_passes(entry: dict) -> bool:
    """The slice rule on a gate entry of metrics.json: not gated, at or beyond the bar, or missing it by
    no more than its uncertainty (its interval reaches the bar). An entry without an interval (a
    metrics.json written before intervals) is judged on its point estimate."""
    metric, measured, bar = entry["metric"], entry["measured"], entry["threshold"]
    if not entry.get("gated", True) or reaches(metric, measured, bar):
        return True
    interval = entry.get("interval")
    if interval is None:
        return False
    low, high = interval
    if lower_is_better(metric):
        return low is None or low <= bar
    return high is None or high >= bar


def describe_slice(entry: dict) -> str:
    """`carrier=HA (20 rows): mae 29.91 (95 % interval 18.2 to 41.6) exceeds the maximum 25.6 ...`, rounded."""
    metric, bar = entry["metric"], entry["threshold"]
    text = f"{entry['column']}={entry['value']} ({entry['rows']} rows): {metric} {_number(entry['measured'])}"
    interval = entry.get("interval")
    if interval is not None:
        text += f" ({interval_text(entry.get('confidence', 0.95), interval)})"
    if reaches(metric, entry["measured"], bar):
        return text + f" {'is within the maximum' if lower_is_better(metric) else 'reaches the minimum'} {bar:.4g}"
    text += " " + _misses(metric, bar)
    if interval is not None:
        text += " beyond its uncertainty" if not slice_passes(entry) else ", but within its uncertainty"
    return text


def interval_text(confidence: float, interval: Sequence[float | None]) -> str:
    low, high = interval
    return f"{confidence * 100:.4g} % interval {_number(low, -math.inf)} to {_number(high, math.inf)}"


def failed_gates(metrics: dict) -> list[str]:
    """Readable lines for every gate that did not pass (numbers to 4 significant digits)."""
    gates = metrics["gates"]
    lines = []
    t = gates["threshold"]
    if not t["passed"]:
        lines.append(
            f"test {t['metric']} = {_number(t['value'])} {_misses(t['metric'], t['threshold'])} (quality.threshold)"
        )
    b = gates["baseline"]
    if not b["passed"]:
        lines.append(
            f"test {b['metric']} = {_number(b['value'])} is not better than the trivial baseline "
            f"{_number(b['baseline'])} by {b['min_improvement']:.4g} (quality.min_improvement_over_baseline)"
        )
    for s in gates["slices"]:
        if not s["passed"]:
            lines.append(f"slice {describe_slice(s)} (quality.slice_threshold)")
    return lines


def metric_interval(
    task: str,
    metric: str,
    y_true: Any,
    predicted: Predictions,
    classes: Sequence | None,
    confidence: float,
    seed: int,
) -> Interval:
    """The `confidence` interval of `metric` on these rows (labels as `score` takes them).

    accuracy: Wilson's binomial interval; mae and rmse: Student's t interval of the mean absolute or
    squared error (rmse: its square root); the rest: a percentile bootstrap of the rows, seeded.
    """
    n = len(y_true)
    if metric == "accuracy":
        from scipy.stats import binomtest

        accuracy = score(task, y_true, predicted, classes, metric)[metric]
        hits = round((accuracy or 0.0) * n)
        found = binomtest(hits, n).proportion_ci(confidence_level=confidence, method="wilson")
        return float(found.low), float(found.high)
    if metric in ("mae", "rmse"):
        errors = np.asarray(y_true, dtype=float) - np.asarray(predicted.label, dtype=float)
        low, high = _mean_interval(np.abs(errors) if metric == "mae" else errors**2, confidence)
        return (low, high) if metric == "mae" else (math.sqrt(low), None if high is None else math.sqrt(high))
    return _bootstrap_interval(task, metric, np.asarray(y_true), predicted, classes, confidence, seed)


def _mean_interval(values: np.ndarray, confidence: float) -> tuple[float, float | None]:
    """Student's t interval of the mean of non-negative values (its low end at least 0)."""
    from scipy.stats import ttest_1samp

    mean = float(values.mean())
    if len(values) < 2:
        return 0.0, None
    if np.ptp(values) == 0:  # every row the same: no spread to be uncertain about
        return mean, mean
    found = ttest_1samp(values, 0.0).confidence_interval(confidence_level=confidence)
    return max(float(found.low), 0.0), float(found.high)


def _bootstrap_interval(
    task: str,
    metric: str,
    y: np.ndarray,
    predicted: Predictions,
    classes: Sequence | None,
    confidence: float,
    seed: int,
) -> Interval:
    """A percentile bootstrap of the rows; resamples where the metric is undefined (one class) are left out."""
    from scipy.stats import bootstrap

    n = len(y)
    if n < 2:
        return None, None

    def on(rows: np.ndarray) -> float:
        rows = rows.astype(np.int64)
        found = score(task, y[rows], predicted.take(rows), classes, metric)[metric]
        return np.nan if found is None else found

    result = bootstrap(
        (np.arange(n),),
        on,
        vectorized=False,
        n_resamples=SLICE_RESAMPLES,
        batch=BOOTSTRAP_BATCH,  # resamples of row indexes made 50 at a time, not all at once
        confidence_level=confidence,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if math.isfinite(low) and math.isfinite(high):
        return low, high
    defined = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
    if defined.size == 0:
        return None, None
    tail = (1 - confidence) / 2
    return float(np.quantile(defined, tail)), float(np.quantile(defined, 1 - tail))


def _number(value: float | None, unbounded: float | None = None) -> str:
    if value is None:
        return "n/a" if unbounded is None else f"{unbounded:.4g}"
    return f"{value:.4g}"


def _misses(metric: str, bar: float) -> str:
    return f"exceeds the maximum {bar:.4g}" if lower_is_better(metric) else f"does not reach the minimum {bar:.4g}"
