"""The quality gates: the primary metric's threshold, every slice, and beating the trivial baseline.

Every bar comes from `quality:` in params.yaml; `reaches` (quality/metrics.py) knows which way
each metric improves. `pipeline` and `bundle` refuse a model that fails any gate.
"""

from __future__ import annotations

from typing import Any

from ..settings import QualitySettings
from .metrics import lower_is_better, moved_by, reaches


def quality_gates(quality: QualitySettings, test: dict, slices: dict, baseline: dict) -> dict:
    """Each gate with its threshold, the measured value, and whether it passed."""
    primary = quality.primary_metric
    slice_metric = quality.slice_metric
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
                    "passed": (not gated) or reaches(slice_metric, entry[slice_metric], quality.slice_threshold),
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
        lines.append(f"test {t['metric']} = {t['value']} {_misses(t['metric'], t['threshold'])} (quality.threshold)")
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
                f"{_misses(s['metric'], s['threshold'])} (quality.slice_threshold)"
            )
    return lines


def _misses(metric: str, bar: float) -> str:
    return f"exceeds the maximum {bar}" if lower_is_better(metric) else f"does not reach the minimum {bar}"
