"""Data a model can learn, with noise, for the cluster's training, evaluation and pipeline tests.

`modelled_frame` makes rows of two numbers (one with gaps), a colour (with gaps) and three targets the features
explain in part: `label` (three classes as text), `flag` (a bool) and `value` (a number). `modelled_project`
writes them in several files of a project whose contract declares them, with gates any fitted model passes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from modelkeel.settings import LightGBMParams, QualitySettings, Settings, XGBoostParams

from .projects import project, write

CONTRACT = """import pandera.pandas as pa
from pandera.typing import Series


class Schema(pa.DataFrameModel):
    x1: Series[float] = pa.Field(nullable=True)
    x2: Series[float] = pa.Field(ge=0.0, le=10.0, nullable=True)
    colour: Series[str] = pa.Field(isin=["blue", "green", "red"], nullable=True)
    label: Series[str] = pa.Field(isin=["high", "low", "mid"])
    flag: Series[bool] = pa.Field()
    value: Series[float] = pa.Field()

    class Config:
        strict = True
        coerce = True
"""


def modelled_frame(rows: int, start: int = 0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + start)
    x1 = rng.normal(0, 1, rows)
    x2 = rng.uniform(0, 10, rows)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    signal = x1 + 0.3 * x2 + 1.0 * (colour == "red") + rng.normal(0, 0.8, rows)
    x2[rng.random(rows) < 0.05] = np.nan
    colour[rng.random(rows) < 0.05] = None
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "colour": colour,
            "label": np.where(signal > 3.0, "high", np.where(signal > 1.5, "mid", "low")),
            "flag": signal > 2.2,
            "value": 2 * signal + rng.normal(0, 0.5, rows),
        }
    )


TARGETS = {"label": "classification", "flag": "classification", "value": "regression"}


def for_target(settings: Settings, target: str, model: str = "lightgbm", **quality) -> Settings:
    """The project's settings for one target, a small booster, and gates a fitted model passes."""
    task = TARGETS[target]
    regression = task == "regression"
    bars = {
        "primary_metric": "r2" if regression else "f1_macro",
        "threshold": 0.3,
        "slice_metric": "mae" if regression else "accuracy",
        "slice_threshold": 5.0 if regression else 0.3,
        "slice_min_rows": 10,
        "min_improvement_over_baseline": 0.0,
        **quality,
    }
    params = (
        LightGBMParams(type="lightgbm", n_estimators=15, num_leaves=7)
        if model == "lightgbm"
        else XGBoostParams(type="xgboost", n_estimators=15, max_depth=3)
    )
    data = settings.data.model_copy(update={"target": target})
    return settings.model_copy(update={"task": task, "data": data, "model": params, "quality": QualitySettings(**bars)})


@contextmanager
def modelled_project(
    root: Path, package: str, files: int = 4, rows: int = 600, suffix: str = "parquet"
) -> Iterator[Settings]:
    """A project of `files` files of `rows` rows each (several partitions), target `label` by default."""
    for i in range(files):
        write(modelled_frame(rows, rows * i), root / "data" / f"part-{i}.{suffix}")
    with project(
        root,
        package,
        "data",
        contract=CONTRACT,
        target="label",
        numeric_features=["x1", "x2"],
        categorical_features=["colour"],
    ) as settings:
        yield for_target(settings, "label")
