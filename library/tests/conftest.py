"""Shared fixtures: the project's own settings, data and model; a small toy dataset; the contract's checks.

Model-quality and parity tests check the model in artifacts/ when it was trained on
the current params and data; otherwise they train one (same code, same seed) in a
temporary folder, so `pytest` never tests a stale model.

Unit tests of the library that need a column of some kind (a category, a gap, a date) use
the toy data built here (`toy_frame`, `toy_settings`, `toy_trained`): the project's own data
may have none. Data tests derive their bad rows from the contract (`contract_checks`), and
skip, saying why, only when the contract has no such check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkeel.errors import StageOrderError
from modelkeel.settings import (
    DataSettings,
    PathSettings,
    Settings,
    load_settings,
)
from modelkeel.stages import evaluate, train
from modelkeel.stages.train import Trained
from modelkeel.stages.validate import ValidatedData, validate

PROJECT_ROOT = Path(__file__).resolve().parent / "project"  # the fixed project the tests run on


def released_as(bundle_dir: Path, version: str, parent: Path) -> Path:
    """A copy of the bundle as if built as `version`: its lineage names that version and SHA256SUMS covers it."""
    import json
    import shutil

    from modelkeel.bundle.checksums import render

    copy = parent / f"{bundle_dir.name.rsplit('-', 1)[0]}-{version}"
    shutil.copytree(bundle_dir, copy)
    lineage = json.loads((copy / "lineage.json").read_text())
    lineage["version"] = version
    (copy / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n")
    (copy / "SHA256SUMS").write_text(render(copy))
    return copy


# the fixed project's two params files: random-forest classification of the species, gradient-boosted
# regression of the body mass; every test that takes `settings` runs for both tasks
PARAMS = {"classification": "params.yaml", "regression": "params.regression.yaml"}


@pytest.fixture(scope="session", params=list(PARAMS))
def settings(request) -> Settings:
    return load_settings(PROJECT_ROOT / PARAMS[request.param])


@pytest.fixture(scope="session")
def validated(settings):
    return validate(settings)


@pytest.fixture(scope="session")
def trained(settings, validated, tmp_path_factory) -> tuple[Settings, Trained]:
    """(settings, trained model) for the current params and data: from artifacts/ if fresh, else trained now."""
    parts = train.split(settings, validated.frame)
    try:
        model, _ = train.load(settings, validated.snapshot)
        return settings, Trained(validated, model, parts)
    except StageOrderError:
        scratch = settings.model_copy(
            update={"paths": PathSettings(artifacts=str(tmp_path_factory.mktemp("artifacts")))}
        )
        model = train.fit(scratch, parts)
        train.save(scratch, model, parts, validated.snapshot)
        return scratch, Trained(validated, model, parts)


@pytest.fixture(scope="session")
def metrics(trained) -> dict:
    settings, model = trained
    return evaluate.evaluate(settings, model, model.validated.snapshot["fingerprint"]).metrics


@pytest.fixture(scope="session")
def bundle_dir(settings, tmp_path_factory) -> Path:
    """A bundle made by the whole pipeline into a temporary folder (artifacts/ and dist/ are left alone)."""
    from modelkeel.stages.pipeline import run_pipeline

    scratch = tmp_path_factory.mktemp("pipeline")
    isolated = settings.model_copy(
        update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
    )
    return run_pipeline(isolated).bundle.folder


TOY_ROWS = 240
TOY_TIME_PARTS = ("month", "day_of_week", "hour")


def toy_frame(task: str, rows: int = TOY_ROWS, seed: int = 0) -> pd.DataFrame:
    """Two numeric columns (one with gaps), a category (with gaps), a timestamp and a target the features explain."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(5, 2, rows)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, rows), unit="h")
    frame = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "when": when})
    signal = x1 + 1.2 * (colour == "red") + 0.1 * (x2 - 5)
    frame["target"] = np.where(signal > 0.4, "yes", "no") if task == "classification" else 3 * signal
    frame.loc[[1, 5, 9], "x2"] = np.nan
    frame.loc[[2, 7], "colour"] = None
    return frame


def toy_data_settings(schema_name: str) -> DataSettings:
    return DataSettings(
        path="toy.csv",
        schema=schema_name,
        target="target",
        numeric_features=("x1", "x2"),
        categorical_features=("colour",),
        time_features=dict(when=TOY_TIME_PARTS),
        test_size=0.25,
    )


@pytest.fixture(scope="session")
def toy_settings(settings, tmp_path_factory) -> Settings:
    """The project's task, model family and metrics, on the toy columns (small models: these are unit tests)."""
    data = toy_data_settings(settings.data.schema_name)
    model = settings.model
    if hasattr(model, "n_estimators"):
        model = model.model_copy(update={"n_estimators": min(model.n_estimators, 25)})
    scratch = tmp_path_factory.mktemp("toy")
    return settings.model_copy(
        update={
            "data": data,
            "model": model,
            "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
        }
    )


@pytest.fixture(scope="session")
def toy_trained(toy_settings) -> Trained:
    """A model fitted on the toy data (never saved)."""
    frame = toy_frame(toy_settings.task)
    parts = train.split(toy_settings, frame)
    model, features = train.fit_with_features(toy_settings, parts)
    validated = ValidatedData(frame, {"fingerprint": "toy", "rows": len(frame), "files": []}, "toy")
    return Trained(validated, model, parts, features)


def contract_checks(schema_model) -> dict[str, dict[str, dict]]:
    """column -> {check name: its statistics}; a lower bound is greater_than_or_equal_to -> min_value."""
    schema = schema_model.to_schema()
    return {name: {c.name: dict(c.statistics or {}) for c in col.checks} for name, col in schema.columns.items()}


def bounded_column(schema_model, columns) -> tuple[str, float]:
    """A column with a range check and a value outside it, or a skip naming what the contract lacks."""
    checks = contract_checks(schema_model)
    for column in columns:
        stats = checks.get(column, {})
        low = stats.get("greater_than_or_equal_to", stats.get("in_range", {})).get("min_value")
        high = stats.get("less_than_or_equal_to", stats.get("in_range", {})).get("max_value")
        if low is not None:
            return column, float(low) - 1000 * (abs(float(low)) + 1)
        if high is not None:
            return column, float(high) + 1000 * (abs(float(high)) + 1)
    pytest.skip(f"the contract has no range check on any of {list(columns)}, so no value can be out of range")


def category_column(schema_model, columns) -> tuple[str, list]:
    """A column with an allowed-values check and its values, or a skip naming what the contract lacks."""
    checks = contract_checks(schema_model)
    for column in columns:
        if "isin" in checks.get(column, {}):
            return column, list(checks[column]["isin"]["allowed_values"])
    pytest.skip(f"the contract has no allowed-values check on any of {list(columns)}, so no category can be wrong")
