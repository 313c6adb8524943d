"""Step 4 of the loop: retrain when enough features drift, when the champion's metric on the new data
fell by more than `retrain.max_metric_drop` or misses the quality threshold, or when forced."""

from __future__ import annotations

from ..bundle.reader import Bundle
from ..quality.metrics import gain, reaches
from ..settings import Settings
from .monitor import Monitoring


def label_change(settings: Settings, champion: Bundle, monitoring: Monitoring) -> tuple[str, ...]:
    """Signs that the labels, not the world, changed: why a person must approve any promotion (empty: none).

    A target whose distribution moved, or (when no feature drifted) a champion whose metric fell,
    points at the labels (a labelling job that changed, or someone feeding wrong labels): the
    challenger would learn them, and the held-out new rows would judge it by them."""
    q, r = settings.quality, settings.retrain
    signs = []
    target = monitoring.target
    if target is not None and target.drifted:  # with or without feature drift: labels are what a batch can fake
        signs.append(
            f"the target's distribution moved ({'; '.join(target.reasons)}): the labels may have changed, "
            "not only the world, so a person decides"
        )
    metric = monitoring.champion_metric
    if metric is not None and not monitoring.drifted:
        drop = gain(q.primary_metric, champion.metrics["test"][q.primary_metric], metric)
        if drop is not None and drop > r.max_metric_drop:
            signs.append(
                f"the champion disagrees with the new labels ({q.primary_metric} {metric:.4f}, "
                f"{drop:.4g} below its release) while no feature drifted: a labelling change looks like this"
            )
    return tuple(signs)


def reasons_to_retrain(settings: Settings, champion: Bundle, monitoring: Monitoring, force: bool) -> tuple[str, ...]:
    """Why a challenger should be trained (empty: it should not)."""
    q, r = settings.quality, settings.retrain
    reasons = []
    drifted = monitoring.drifted
    if len(drifted) >= r.min_drifted_features:
        reasons.append(f"{len(drifted)} feature(s) drifted: {', '.join(drifted)}")
    if monitoring.target is not None and monitoring.target.drifted:
        reasons.append(f"the target's distribution moved: {'; '.join(monitoring.target.reasons)}")
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
