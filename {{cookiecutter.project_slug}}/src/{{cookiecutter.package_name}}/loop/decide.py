"""Step 4 of the loop: retrain when enough features drift, when the champion's metric on the new data
fell by more than `retrain.max_metric_drop` or misses the quality threshold, or when forced."""

from __future__ import annotations

from ..bundle.reader import Bundle
from ..quality.metrics import gain, reaches
from ..settings import Settings
from .monitor import Monitoring


def reasons_to_retrain(settings: Settings, champion: Bundle, monitoring: Monitoring, force: bool) -> tuple[str, ...]:
    """Why a challenger should be trained (empty: it should not)."""
    q, r = settings.quality, settings.retrain
    reasons = []
    drifted = monitoring.drifted
    if len(drifted) >= r.min_drifted_features:
        reasons.append(f"{len(drifted)} feature(s) drifted: {', '.join(drifted)}")
    metric = monitoring.champion_metric
    if metric is not None:
        released = champion.metrics["test"][q.primary_metric]
        drop = gain(q.primary_metric, released, metric)  # how much better it was at release
        if drop is not None and drop > r.max_metric_drop:
            reasons.append(
                f"the champion's {q.primary_metric} fell from {released:.4f} at release to {metric:.4f} on the new data "
                f"(more than retrain.max_metric_drop {r.max_metric_drop})"
            )
        if not reaches(q.primary_metric, metric, q.threshold):
            reasons.append(
                f"the champion's {q.primary_metric} {metric:.4f} on the new data misses the threshold {q.threshold}"
            )
    if force:
        reasons.append("forced by the caller")
    return tuple(reasons)
