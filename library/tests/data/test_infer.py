import importlib.util

import numpy as np
import pandas as pd
import pytest

from modelkeel.data.contract import validate_frame
from modelkeel.data.infer import plan, render_module
from modelkeel.errors import DataError


def mixed_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "count": rng.integers(0, 5, n),
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
            "customer id": [f"c{i}" for i in range(n)],
            "class": rng.choice(["yes", "no"], n).astype(object),
            "level": rng.normal(0, 1, n),
        }
    )
    frame.loc[[1, 5], "amount"] = np.nan
    frame.loc[[2], "colour"] = None
    return frame


def load_module(tmp_path, source):
    path = tmp_path / "inferred.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("inferred", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Schema


def test_inferred_schema_accepts_its_data_and_marks_roles(tmp_path):
    frame = mixed_frame()
    plans = plan(frame, "class", "classification")
    roles = {p.name: p.role for p in plans}
    assert roles == {
        "amount": "numeric",
        "count": "numeric",
        "colour": "categorical",
        "customer id": "ignored",
        "class": "target",
        "level": "numeric",
    }
    assert next(p for p in plans if p.name == "amount").nullable
    schema = load_module(tmp_path, render_module(plans, "mixed.csv"))
    schema.validate(frame, lazy=True)
    broken = frame.copy()
    broken.loc[0, "colour"] = "purple"
    with pytest.raises(Exception, match="purple"):
        schema.validate(broken, lazy=True)


def test_regression_target_and_task_mismatch(tmp_path):
    frame = mixed_frame()
    assert next(p for p in plan(frame, "level", "regression") if p.name == "level").role == "target"
    with pytest.raises(DataError, match="looks continuous"):
        plan(frame, "level", "classification")
    with pytest.raises(DataError, match="holds text"):
        plan(frame, "class", "regression")
    with pytest.raises(DataError, match="not a column"):
        plan(frame, "nope", "regression")


def test_awkward_column_names_become_valid_fields(tmp_path):
    frame = pd.DataFrame(
        {
            "validate": [1.0, 2.0, 3.0],
            "größe (cm)": [1.5, 2.5, 3.5],
            "area (m²)": [10.0, 20.0, 30.0],
            "it's": ["a", "b", "a"],
            "class": ["x", "y", "x"],
        }
    )
    schema = load_module(tmp_path, render_module(plan(frame, "class", "classification"), "odd.csv"))
    validated = schema.validate(frame, lazy=True)
    assert list(validated.columns) == list(frame.columns)


def test_unusable_targets_and_values_are_clear_errors():
    frame = mixed_frame()
    frame["empty"] = None
    with pytest.raises(DataError, match="has no values"):
        plan(frame, "empty", "classification")
    frame = mixed_frame()
    frame.loc[3, "amount"] = np.inf
    with pytest.raises(DataError, match="infinite values"):
        plan(frame, "class", "classification")


def test_true_false_target_is_a_binary_class(tmp_path):
    frame = mixed_frame()
    frame["flag"] = frame["level"] > 0
    plans = plan(frame, "flag", "classification")
    target = next(p for p in plans if p.role == "target")
    assert target.checks == {"isin": [False, True]}
    load_module(tmp_path, render_module(plans, "flags.csv")).validate(frame, lazy=True)


def test_iso_text_and_timestamps_are_time_columns_with_their_calendar_parts(tmp_path):
    frame = mixed_frame()
    frame["day"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    frame["stamp"] = pd.date_range("2024-01-01 08:30", periods=len(frame), freq="7h")
    frame["mixed"] = ["2024-01-01", "2024-01-02T10:00+02:00"] * (len(frame) // 2)  # two ISO forms, an offset
    frame["bogus"] = ["2024-13-45"] * len(frame)  # looks like a date, is not one
    plans = {p.name: p for p in plan(frame, "class", "classification")}
    assert plans["day"].role == "time" and plans["day"].parts == ("year", "month", "day", "day_of_week", "day_of_year")
    assert plans["stamp"].role == "time" and plans["stamp"].parts[-2:] == ("hour", "minute")
    assert plans["mixed"].role == "time" and plans["mixed"].parts[-1] == "hour"
    assert plans["bogus"].role == "ignored" and "does not read as them" in plans["bogus"].reason
    schema = load_module(tmp_path, render_module(list(plans.values()), "times.csv"))
    validated = validate_frame(frame, schema, "times.csv", ["day", "stamp", "mixed"])
    assert pd.api.types.is_datetime64_any_dtype(validated["day"]) and validated["mixed"].iloc[1].hour == 8
    with pytest.raises(DataError, match="dates/times"):
        plan(frame, "day", "classification")


def test_infer_schema_writes_the_path_the_split_the_bars_and_a_true_comment(tmp_path, settings, monkeypatch):
    import shutil

    from modelkeel.data import infer

    root = tmp_path / "project"
    (root / "data" / "raw").mkdir(parents=True)
    shutil.copy(settings.root / "params.yaml", root / "params.yaml")
    monkeypatch.setattr("modelkeel.project.schemas_dir", lambda _settings: tmp_path / "schemas")
    (tmp_path / "schemas").mkdir()
    frame = mixed_frame().drop(columns="class")
    frame = frame.assign(day=pd.date_range("2024-01-01", periods=60, freq="D"), price=np.linspace(1_000, 90_000, 60))
    frame.to_parquet(root / "data" / "raw" / "sales.parquet")  # the same file as data_file below
    regression = settings.model_copy(
        update={
            "root": root,
            "task": "regression",
            "quality": settings.quality.model_copy(update={"primary_metric": "mae", "slice_metric": "mae"}),
        }
    )
    data_file = root / "data" / "raw" / "sales.parquet"
    done = infer.infer_schema(regression, root / "params.yaml", data_file, "price", None, False)
    assert done.data_path == "data/raw/sales.parquet"
    assert all("retrain.trusted" in w and "freeze-trusted" in w for w in done.warnings), done.warnings
    assert "time" in done.split and "'day'" in done.split
    from modelkeel.settings import load_settings

    written = load_settings(root / "params.yaml")
    assert written.data.split == "time" and written.data.split_column == "day"
    assert written.data.time_features == dict(day=("year", "month", "day", "day_of_week", "day_of_year"))
    bars = {c.name: c.value for c in done.thresholds}
    assert written.quality.threshold == bars["quality.threshold"] > 1_000, "an error bar in the target's units"
    assert written.retrain.promotion_margin == bars["retrain.promotion_margin"]
    text = (root / "params.yaml").read_text()
    assert "schemas/sales.py" in text and f"schemas/{settings.data.schema_name}.py" not in text

    outside = tmp_path / "elsewhere.csv"
    frame.to_csv(outside, index=False)
    done = infer.infer_schema(regression, root / "params.yaml", outside, "price", "elsewhere", False)
    assert done.data_path == str(outside) and "outside the repository" in done.warnings[0]
