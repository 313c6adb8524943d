"""Steps 5 and 6 of the loop: the challenger (the whole pipeline, every gate, on data.path plus the
window of batches, as the next minor version of the champion), then champion versus challenger,
both scored on the challenger's held-out rows that come from the new batches."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle
from ..bundle.verify import Verified
from ..quality.metrics import gain
from ..settings import PathSettings, Settings
from ..utils.console import say
from .ingest import Batch


@dataclass(frozen=True)
class Scores:
    """Champion and challenger on the same held-out new rows, with the evidence for the gain.

    The promotion rule (`rule`): at least `retrain.min_new_rows` rows, a gain of at least
    `retrain.promotion_margin`, and the lower end of the gain's paired-bootstrap interval above zero
    (a real improvement of the margin's size can meet it; demanding that the lower end clear the
    margin itself would need the gain to be far larger than the margin)."""

    metric: str
    rows: int
    champion: float | None
    challenger: float | None
    margin: float
    interval: tuple[float, float] | None = None  # the gain's paired-bootstrap confidence interval
    confidence: float = 0.95
    duplicates_dropped: int = 0  # held-out rows that repeated a training row (or each other)
    min_rows: int = 1
    copies_kept: int = 0  # held-out copies kept: no more than the data's natural duplicate rate explains
    natural_copy_rate: float | None = None  # the share of the champion's training rows another row repeats

    @property
    def gain(self) -> float | None:
        return gain(self.metric, self.challenger, self.champion)

    @property
    def challenger_wins(self) -> bool:
        """The promotion rule holds: enough rows, a gain of at least the margin, its interval above zero."""
        return self.gain is not None and self.gain >= self.margin and not self.not_evidence()

    @property
    def rule(self) -> str:
        return (
            f"promote when the challenger's {self.metric} beats the champion's by at least retrain.promotion_margin "
            f"{self.margin:.4g} and the lower end of the gain's {round(self.confidence * 100)} percent paired-bootstrap "
            f"interval is above 0, on at least retrain.min_new_rows {self.min_rows} held-out new rows"
        )

    def not_evidence(self) -> list[str]:
        """Why a win on these rows does not count (empty: it does)."""
        why = []
        if self.rows < self.min_rows:
            why.append(
                f"only {self.rows} held-out new row(s) after dropping {self.duplicates_dropped} duplicate(s): "
                f"fewer than retrain.min_new_rows {self.min_rows}, not evidence enough to promote"
            )
        elif self.interval is None:
            why.append("the gain's confidence interval is undefined on these rows: not evidence enough to promote")
        elif self.interval[0] <= 0:
            why.append(
                f"the gain's {round(self.confidence * 100)} percent confidence interval "
                f"[{self.interval[0]:.4g}, {self.interval[1]:.4g}] reaches 0: the win may be luck"
            )
        return why

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "rows": self.rows,
            "champion": self.champion,
            "challenger": self.challenger,
            "gain": self.gain,
            "margin": self.margin,
            "interval": list(self.interval) if self.interval else None,
            "confidence": self.confidence,
            "duplicates_dropped": self.duplicates_dropped,
            "copies_kept": self.copies_kept,
            "natural_copy_rate": self.natural_copy_rate,
            "min_rows": self.min_rows,
            "wins": self.challenger_wins,
            "rule": self.rule,
        }


def window(settings: Settings, batches: tuple[Batch, ...]) -> tuple[str, ...]:
    """data.path plus the batches the window takes (all, or the last N by name)."""
    base = (settings.data.path,) if isinstance(settings.data.path, str) else tuple(settings.data.path)
    paths = [b.path for b in batches]
    if settings.retrain.window != "all":
        paths = paths[-settings.retrain.window :]
    return (*base, *paths)


def train_challenger(
    settings: Settings,
    champion: Bundle,
    batches: tuple[Batch, ...],
    version: str,
    scratch: Path,
    pipeline: Callable[[Settings], Verified] | None = None,
) -> tuple[Settings, Verified]:
    """The challenger's settings and its verified bundle, built in `scratch` (the project's dist/ is left alone)
    by `pipeline` (default: stages/pipeline.run_pipeline; the Dask engine's loop passes its open cluster's)."""
    from ..stages.pipeline import run_pipeline

    shutil.rmtree(scratch, ignore_errors=True)
    trained_on = window(settings, batches)
    batch_files = tuple(p for p in trained_on if p in {b.path for b in batches})
    seen = {
        "champion": champion.version,
        "champion_manifest": (champion.lineage.get("data_manifest") or {}).get("sha256"),
        "batches_seen": sorted(b.sha256 for b in batches),
    }
    challenger = settings.model_copy(
        update={
            "data": settings.data.model_copy(update={"path": trained_on}),
            "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
            "model_version": version,
            "lineage_extra": {"retrain": seen},
            "test_pool": tuple(b.path for b in batches if b.new),
            "data_urls": {b.path: b.url for b in batches if b.url} or None,
            "batch_files": batch_files,
        }
    )
    say(f"retrain: challenger {version} on {', '.join(trained_on)}")
    return challenger, (pipeline or run_pipeline)(challenger)


def held_out_new_rows(
    challenger: Settings, batches: tuple[Batch, ...]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The challenger's test rows that come from the new batches (data neither model was trained on), the
    rows the challenger was trained on (to drop held-out copies of them), and the rows that are not new
    (data.path and batches the champion had seen: the population's own duplicate rate)."""
    from ..stages.train import split, test_pool
    from ..stages.validate import validate

    validated = validate(challenger)
    new_paths = {b.path for b in batches if b.new}
    origin = []
    for entry in validated.snapshot["files"]:
        origin += [entry["path"] in new_paths] * entry["rows"]
    frame = validated.frame.assign(_new=origin)
    parts = split(challenger, frame, test_pool(challenger, validated.snapshot))
    trained_on = parts.labelled.drop(parts.labelled.index[parts.test_rows]).drop(columns="_new")
    old = frame[~frame["_new"]].drop(columns="_new")
    return parts.test_frame[parts.test_frame["_new"]].drop(columns="_new"), trained_on, old


def compare(
    settings: Settings,
    champion: Bundle,
    challenger: Bundle,
    held_out: pd.DataFrame,
    trained_on: pd.DataFrame,
    old: pd.DataFrame | None = None,
    natural_rate: tuple[float, int] | None = None,
) -> Scores:
    """Both models on the same held-out new rows, once copies of training rows are dropped (copies no more
    frequent than in the `old` rows, the data's natural duplicates, are kept), with the gain's
    paired-bootstrap confidence interval. `natural_rate`: that rate and the rows it was counted on, when
    counted elsewhere (the Dask engine counts it on the cluster: cluster/loop.py), in place of `old`."""
    from .evidence import held_out_copies, metric_of, natural_copy_rate, outputs, paired_bootstrap

    r = settings.retrain
    inputs = settings.data.inputs
    natural = None if old is None else natural_copy_rate(old, inputs)
    reference_rows = 0 if old is None else len(old)
    if natural_rate is not None:
        natural, reference_rows = natural_rate
    held_out, dropped, kept = held_out_copies(held_out, trained_on, inputs, natural, reference_rows)
    labelled = held_out[held_out[settings.data.target].notna()]
    old_out = new_out = None
    if len(labelled):  # each model scored once: its metric and the bootstrap read the same answers
        old_out, new_out = outputs(settings, champion, labelled), outputs(settings, challenger, labelled)
    interval = None
    if old_out is not None and new_out is not None and len(labelled) >= max(r.min_new_rows, 2):
        interval = paired_bootstrap(settings, old_out, new_out)
    everything = np.arange(len(labelled))
    return Scores(
        metric=settings.quality.primary_metric,
        rows=len(labelled),
        champion=None if old_out is None else metric_of(settings, old_out, everything),
        challenger=None if new_out is None else metric_of(settings, new_out, everything),
        margin=r.promotion_margin,
        interval=interval,
        confidence=r.confidence,
        duplicates_dropped=dropped,
        min_rows=r.min_new_rows,
        copies_kept=kept,
        natural_copy_rate=natural,
    )
