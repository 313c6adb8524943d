"""A small project the cluster tests build: a contract with every kind of column and check, and data in files.

`rows_frame` makes rows the contract accepts: an int id (unique), floats with gaps, text from a set, bools, a
date, a label; `project` writes a project around a contract and the files given, and loads its settings."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modelkeel.settings import Settings, load_settings

from ..conftest import PROJECT_ROOT

CONTRACT = """import pandera.pandas as pa
from pandera.typing import Series


class Schema(pa.DataFrameModel):
    id: Series[int] = pa.Field(unique=True, ge=0)
    amount: Series[float] = pa.Field(ge=0.0, nullable=True)
    colour: Series[str] = pa.Field(isin=["blue", "green", "red"])
    flag: Series[bool] = pa.Field()
    day: Series[pa.DateTime] = pa.Field()
    label: Series[str] = pa.Field(isin=["no", "yes"])

    class Config:
        strict = True
        coerce = True
        unique = ["id", "day"]
"""


def rows_frame(rows: int, start: int = 0, seed: int = 0) -> pd.DataFrame:
    """`rows` valid rows, ids from `start`; every 7th amount a gap; a day per 10 rows from 2024-01-01."""
    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + rows)
    amount = rng.uniform(0, 100, rows).round(3)
    amount[ids % 7 == 3] = np.nan
    return pd.DataFrame(
        {
            "id": ids,
            "amount": amount,
            "colour": rng.choice(["red", "green", "blue"], rows),
            "flag": rng.choice([True, False], rows),
            "day": (pd.Timestamp("2024-01-01") + pd.to_timedelta(ids // 10, unit="D")).strftime("%Y-%m-%d"),
            "label": np.where(amount > 50, "yes", "no"),
        }
    )


def write(frame: pd.DataFrame, path: Path, row_group_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=row_group_size)
    return path


@contextmanager
def project(
    root: Path, package: str, data_path: str | list[str], contract: str = CONTRACT, **data
) -> Iterator[Settings]:
    """Settings of a project at `root` (files already under it) with `contract` as schemas/rows.py."""
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / package)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src" / package / "schemas" / "rows.py").write_text(contract)
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["package"] = package
    params["data"] = {
        "path": data_path,
        "schema": "rows",
        "target": "label",
        "numeric_features": ["amount"],
        "categorical_features": ["colour"],
        "test_size": 0.25,
        **data,
    }
    params["model"] = {"type": "random_forest", "n_estimators": 5, "n_jobs": 1}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", list(sys.path))
        yield load_settings(root / "params.yaml")
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]


def with_data(settings: Settings, **data) -> Settings:
    return settings.model_copy(update={"data": settings.data.model_copy(update=data)})
