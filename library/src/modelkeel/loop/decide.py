"""Step 4 of the loop: retrain when enough features drift, when the target's distribution moved, when the
champion's metric on the new labelled rows (every batch since its release) fell, or when forced.

The champion's score falls in one of two ways: by more than `retrain.max_metric_drop` at once, or in
a slide, batch after batch, that no single run would call large: the drop is at least
`retrain.promotion_margin` (what a challenger must gain to replace it) and the bootstrap interval of
its metric on those rows (`retrain.confidence`) lies wholly on the worse side of its release score.
`champion_trend` measures both, batch by batch, for the report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle
from ..quality.metrics import gain, lower_is_better, reaches
from ..settings import Settings
from .evidence import Outputs
from .ingest import Batch
from .monitor import Monitoring


@dataclass(frozen=True)
class BatchScore:
    """The champion's primary metric on one new batch's labelled rows."""

    batch: str
    rows: int  # labelled rows
    score: float | None  # None: no label, or undefined on these rows (one class only)


@dataclass(frozen=True)
class Trend:
    """The champion's primary metric since its release: at release, per new batch in order, on all new rows."""

    metric: str
    released: float | None  # on its own test split
    on_new: float | None  # on every new labelled row
    rows: int
    by_batch: tuple[BatchScore, ...]
    margin: float  # retrain.promotion_margin: the smallest slide that counts
    max_drop: float  # retrain.max_metric_drop: a fall beyond it counts without an interval
    confidence: float
    min_rows: int  # retrain.min_new_rows: fewer labelled rows are no evidence of a slide
    interval: tuple[float, float] | None = None  # on_new's bootstrap interval, measured for a possible slide

    @property
    def drop(self) -> float | None:
        """How much worse the champion is on the new rows than at release (negative: better)."""
        return gain(self.metric, self.released, self.on_new)

    @property
    def below_release(self) -> bool:
        """Whether the interval lies wholly on the worse side of the release score."""
        if self.interval is None or self.released is None:
            return False
        low, high = self.interval
        return low > self.released if lower_is_better(self.metric) else high < self.released

    @property
    def fell(self) -> bool:
        return self.drop is not None and self.drop > self.max_drop

    @property
    def slid(self) -> bool:
        return not self.fell and self.drop is not None and self.drop >= self.margin and self.below_release

    @property
    def rule(self) -> str:
        side = "above" if lower_is_better(self.metric) else "below"
        return (
            f"retrain when the champion's {self.metric} on the new labelled rows is worse than at release by more "
            f"than retrain.max_metric_drop {self.max_drop:.4g}, or slid: worse by at least retrain.promotion_margin "
            f"{self.margin:.4g} with its {round(self.confidence * 100)} percent bootstrap interval wholly {side} "
            f"the release score (on at least retrain.min_new_rows {self.min_rows} rows)"
        )

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "released": self.released,
            "on_new": self.on_new,
            "rows": self.rows,
            "drop": self.drop,
            "interval": list(self.interval) if self.interval else None,
            "confidence": self.confidence,
            "by_batch": [{"batch": b.batch, "rows": b.rows, "score": b.score} for b in self.by_batch],
            "fell": self.fell,
            "slid": self.slid,
            "rule": self.rule,
        }


def _batch_ranges(frame: pd.DataFrame, batches: tuple[Batch, ...]) -> list[tuple[str, int, int]]:
    """(batch, first row, end) of each new batch in `frame` (the new batches validated and concatenated in order)."""
    new = [b for b in batches if b.new]
    if sum(b.rows for b in new) != len(frame):  # not the concatenation of these batches: one range
        return [("new batches", 0, len(frame))]
    ranges, start = [], 0
    for b in new:
        ranges.append((b.path, start, start + b.rows))
        start += b.rows
    return ranges


def champion_trend(
    settings: Settings,
    champion: Bundle,
    frame: pd.DataFrame,
    batches: tuple[Batch, ...],
    scored: Outputs | None = None,
) -> Trend:
    """The champion's primary metric at release, on each new batch in order and on all of them, and (when
    the drop reaches the margin without passing max_metric_drop) its bootstrap interval on all of them.

    `scored`: the champion's answers on the labelled rows of `frame` when the monitor has them already."""
    from .evidence import metric_bootstrap, metric_of, outputs

    q, r = settings.quality, settings.retrain
    released = champion.metrics.get("test", {}).get(q.primary_metric)
    labelled = frame[settings.data.target].notna().to_numpy()
    where = np.flatnonzero(labelled)
    out = scored if scored is not None else outputs(settings, champion, frame.iloc[where]) if len(where) else None
    by_batch = []
    for name, start, end in _batch_ranges(frame, batches):
        rows = np.flatnonzero((where >= start) & (where < end))
        score = metric_of(settings, out, rows) if out is not None and len(rows) else None
        by_batch.append(BatchScore(name, len(rows), score))
    on_new = metric_of(settings, out, np.arange(len(where))) if out is not None else None
    trend = Trend(
        metric=q.primary_metric,
        released=released,
        on_new=on_new,
        rows=len(where),
        by_batch=tuple(by_batch),
        margin=r.promotion_margin,
        max_drop=r.max_metric_drop,
        confidence=r.confidence,
        min_rows=r.min_new_rows,
    )
    drop = trend.drop
    # a fall needs no interval, nor does a drop below the margin: the bootstrap is the costly part
    possible_slide = drop is not None and r.promotion_margin <= drop and not trend.fell
    if out is not None and len(where) >= r.min_new_rows and possible_slide:
        return dataclasses.replace(trend, interval=metric_bootstrap(settings, out))
    return trend


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
                f"the champion disagrees with the new labels ({q.primary_metric} {metric:.4g}, "
                f"{drop:.4g} below its release) while no feature drifted: a labelling change looks like this"
            )
    return tuple(signs)


def _slide_text(trend: Trend) -> str:
    assert trend.interval is not None and trend.released is not None and trend.on_new is not None
    side = "above" if lower_is_better(trend.metric) else "below"
    steps = ", ".join(f"{b.score:.4g}" for b in trend.by_batch if b.score is not None)
    return (
        f"the champion's {trend.metric} slid from {trend.released:.4g} at release to {trend.on_new:.4g} on the "
        f"{trend.rows} new labelled rows since (batch by batch: {steps}): {trend.drop:.4g} worse, at least "
        f"retrain.promotion_margin {trend.margin:.4g}, and its {round(trend.confidence * 100)} percent bootstrap "
        f"interval [{trend.interval[0]:.4g}, {trend.interval[1]:.4g}] lies wholly {side} the release score"
    )


def reasons_to_retrain(
    settings: Settings, champion: Bundle, monitoring: Monitoring, force: bool, trend: Trend | None = None
) -> tuple[str, ...]:
    """Why a challenger should be trained (empty: it should not). `trend` (champion_trend) adds the slide."""
    q, r = settings.quality, settings.retrain
    reasons = []
    drifted = [d for d in monitoring.drift if d.drifted]
    if len(drifted) >= r.min_drifted_features:  # each with the effect and the test that decided
        reasons.append(
            f"{len(drifted)} feature(s) drifted: " + "; ".join(f"{d.feature} ({d.reasons[0]})" for d in drifted)
        )
    if monitoring.target is not None and monitoring.target.drifted:
        reasons.append(f"the target's distribution moved: {'; '.join(monitoring.target.reasons)}")
    metric = monitoring.champion_metric
    if metric is not None:
        released = champion.metrics["test"][q.primary_metric]
        drop = gain(q.primary_metric, released, metric)  # how much better it was at release
        if drop is not None and drop > r.max_metric_drop:
            reasons.append(
                f"the champion's {q.primary_metric} fell from {released:.4g} at release to {metric:.4g} on the new "
                f"data: {drop:.4g} worse, more than retrain.max_metric_drop {r.max_metric_drop:.4g}"
            )
        elif trend is not None and trend.slid:
            reasons.append(_slide_text(trend))
        if not reaches(q.primary_metric, metric, q.threshold):
            reasons.append(
                f"the champion's {q.primary_metric} {metric:.4g} on the new data misses the threshold {q.threshold}"
            )
    if force:
        reasons.append("forced by the caller")
    return tuple(reasons)
