"""Steps 5 and 6 of the loop: the challenger (the whole pipeline, every gate, on data.path plus the
window of batches, as the next minor version of the champion), then champion versus challenger,
both scored on the challenger's held-out rows that come from the new batches."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..bundle.reader import Bundle
from ..bundle.verify import Verified
from ..quality.metrics import gain
from ..settings import PathSettings, Settings
from ..utils.console import say
from .ingest import Batch
from .monitor import metric_on


@dataclass(frozen=True)
class Scores:
    """Champion and challenger on the same held-out new rows."""

    metric: str
    rows: int
    champion: float | None
    challenger: float | None
    margin: float

    @property
    def gain(self) -> float | None:
        return gain(self.metric, self.challenger, self.champion)

    @property
    def challenger_wins(self) -> bool:
        return self.gain is not None and self.gain >= self.margin

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "rows": self.rows,
            "champion": self.champion,
            "challenger": self.challenger,
            "gain": self.gain,
            "margin": self.margin,
        }


def window(settings: Settings, batches: tuple[Batch, ...]) -> tuple[str, ...]:
    """data.path plus the batches the window takes (all, or the last N by name)."""
    base = (settings.data.path,) if isinstance(settings.data.path, str) else tuple(settings.data.path)
    paths = [b.path for b in batches]
    if settings.retrain.window != "all":
        paths = paths[-settings.retrain.window :]
    return (*base, *paths)


def train_challenger(
    settings: Settings, champion: Bundle, batches: tuple[Batch, ...], version: str, scratch: Path
) -> tuple[Settings, Verified]:
    """The challenger's settings and its verified bundle, built in `scratch` (the project's dist/ is left alone)."""
    from ..stages.pipeline import run_pipeline

    shutil.rmtree(scratch, ignore_errors=True)
    seen = {"champion": champion.version, "batches_seen": sorted(b.sha256 for b in batches)}
    challenger = settings.model_copy(
        update={
            "data": settings.data.model_copy(update={"path": window(settings, batches)}),
            "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
            "model_version": version,
            "lineage_extra": {"retrain": seen},
            "test_pool": tuple(b.path for b in batches if b.new),
        }
    )
    say(f"retrain: challenger {version} on {', '.join(window(settings, batches))}")
    return challenger, run_pipeline(challenger)


def held_out_new_rows(challenger: Settings, batches: tuple[Batch, ...]) -> pd.DataFrame:
    """The challenger's test rows that come from the new batches: data neither model was trained on."""
    from ..stages.train import split, test_pool
    from ..stages.validate import validate

    validated = validate(challenger)
    new_paths = {b.path for b in batches if b.new}
    origin = []
    for entry in validated.snapshot["files"]:
        origin += [entry["path"] in new_paths] * entry["rows"]
    frame = validated.frame.assign(_new=origin)
    parts = split(challenger, frame, test_pool(challenger, validated.snapshot))
    return parts.test_frame[parts.test_frame["_new"]].drop(columns="_new")


def compare(settings: Settings, champion: Bundle, challenger: Bundle, held_out: pd.DataFrame) -> Scores:
    return Scores(
        metric=settings.quality.primary_metric,
        rows=len(held_out),
        champion=metric_on(settings, champion, held_out),
        challenger=metric_on(settings, challenger, held_out),
        margin=settings.retrain.promotion_margin,
    )
