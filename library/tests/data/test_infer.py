import importlib.util

import numpy as np
import pandas as pd
import pytest

from modelkeel.data.contract import validate_frame
from modelkeel.data.infer import describe, plan, render_module
from modelkeel.errors import DataError, SettingsError


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
    broken = frame.astype({"count": object})
    broken.loc[0, "count"] = "many"  # a word in a number column: its type is a hard check
    with pytest.raises(Exception, match="many"):
        schema.validate(broken, lazy=True)


@pytest.mark.parametrize(("labels", "kind"), [([True, False] * 20, "b"), ([0, 1] * 20, "i"), (["yes", "no"] * 20, "O")])
def test_a_target_without_gaps_may_still_miss_in_a_later_batch_and_keeps_its_type(tmp_path, labels, kind):
    frame = pd.DataFrame({"x": np.arange(40, dtype=float), "y": labels})
    target = next(p for p in plan(frame, "y", "classification") if p.role == "target")
    assert target.nullable
    schema = load_module(tmp_path, render_module(plan(frame, "y", "classification"), "labels.csv"))
    batch = pd.DataFrame({"x": [1.0, 2.0], "y": [labels[0], None]})  # the second row's label is not in yet
    validated = validate_frame(batch, schema, "batch")
    assert validated["y"].isna().tolist() == [False, True]
    assert validated["y"].iloc[0] == labels[0]
    assert validated["y"].dtype.kind == kind or (kind == "O" and validated["y"].dtype == "string")


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
    frame = frame.assign(
        day=pd.date_range("2024-01-01", periods=60, freq="D"), price=np.linspace(1_000, 90_000, 60), month=[1, 2] * 30
    )
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
    assert written.retrain.drift_exempt == ("month",) and done.drift_exempt == ["month"], "a calendar column moves"
    bars = {c.name: c.value for c in done.thresholds}
    assert written.quality.threshold == bars["quality.threshold"] > 1_000, "an error bar in the target's units"
    assert written.retrain.promotion_margin == bars["retrain.promotion_margin"]
    text = (root / "params.yaml").read_text()
    assert "schemas/sales.py" in text and f"schemas/{settings.data.schema_name}.py" not in text

    outside = tmp_path / "elsewhere.csv"
    frame.to_csv(outside, index=False)
    done = infer.infer_schema(regression, root / "params.yaml", outside, "price", "elsewhere", False)
    assert done.data_path == str(outside) and "outside the repository" in done.warnings[0]


def test_observed_ranges_and_categories_are_expectations_that_new_values_pass(tmp_path):
    # given data whose numbers, categories and classes are what they happened to be
    frame = mixed_frame()
    plans = {p.name: p for p in plan(frame, "class", "classification")}
    assert plans["colour"].checks == {} and plans["colour"].expect == {"isin": ["blue", "green", "red"]}
    assert plans["class"].checks == {} and plans["class"].expect == {"isin": ["no", "yes"]}
    assert plans["count"].checks == {} and plans["count"].expect == {"ge": 0, "le": 4}
    low, high = plans["amount"].expect["ge"], plans["amount"].expect["le"]
    assert low <= frame["amount"].min() and frame["amount"].max() <= high
    schema = load_module(tmp_path, render_module(list(plans.values()), "mixed.csv"))
    # the expectations are the fields' metadata, for the bundle to copy; pandera checks none of them
    columns = schema.to_schema().columns
    assert columns["colour"].metadata == {"expect": {"isin": ["blue", "green", "red"]}} and not columns["colour"].checks
    assert columns["count"].metadata == {"expect": {"ge": 0, "le": 4}} and not columns["count"].checks
    # when later rows hold a new colour, a new class and numbers past the observed range, then they pass
    later = frame.head(5).copy()
    later["colour"], later["class"] = "purple", "maybe"
    later["count"], later["amount"] = 40, high * 10
    schema.validate(later, lazy=True)


def test_calendar_columns_get_their_domain_as_a_hard_check_and_are_drift_exempt(tmp_path):
    # given six months of data: a month 1..6, a weekday 0..6, an hour and a year
    rng = np.random.default_rng(1)
    n = 90
    frame = pd.DataFrame(
        {
            "Month": rng.integers(1, 7, n),
            "day_of_week": rng.integers(0, 7, n),
            "dep_hour": rng.integers(0, 24, n),
            "temp_min": rng.integers(0, 30, n),  # a minimum temperature, not a minute
            "mon": rng.integers(1, 40, n),  # named like a month, but not one
            "year": rng.integers(2019, 2024, n),
            "y": rng.normal(0, 1, n),
        }
    )
    plans = {p.name: p for p in plan(frame, "y", "regression")}
    assert plans["Month"].checks == {"ge": 1, "le": 12} and plans["Month"].expect == {"ge": 1, "le": 6}
    assert plans["day_of_week"].checks == {"ge": 0, "le": 6}
    assert plans["dep_hour"].checks == {"ge": 0, "le": 23}
    assert plans["temp_min"].checks == {} == plans["mon"].checks
    assert plans["year"].checks == {} and plans["year"].moves == "a year"
    assert {name for name, p in plans.items() if p.moves} == {"Month", "day_of_week", "dep_hour", "year"}
    assert "HARD 1..12 (a month); EXPECTED 1..6; drift-exempt" in describe(plans["Month"])
    schema = load_module(tmp_path, render_module(list(plans.values()), "months.csv"))
    # when the later months arrive, then they pass; a 13th month is refused
    later = frame.head(6).assign(Month=range(7, 13), year=2031)
    schema.validate(later, lazy=True)
    with pytest.raises(Exception, match="Month"):
        schema.validate(later.assign(Month=13), lazy=True)


def test_a_weekday_whose_convention_is_unclear_accepts_both():
    frame = pd.DataFrame({"weekday": [1, 2, 3, 4, 5, 6] * 5, "y": np.arange(30.0)})
    assert next(p for p in plan(frame, "y", "regression") if p.name == "weekday").checks == {"ge": 0, "le": 7}


def test_the_category_limit_is_a_setting_and_the_ignored_column_says_how_to_keep_it():
    # given a text column with 60 distinct values
    frame = mixed_frame(n=120).assign(airport=[f"A{i % 60:02d}" for i in range(120)])
    ignored = next(p for p in plan(frame, "class", "classification") if p.name == "airport")
    assert ignored.role == "ignored" and "--max-categories 60" in ignored.reason
    kept = next(p for p in plan(frame, "class", "classification", max_categories=60) if p.name == "airport")
    assert kept.role == "categorical" and len(kept.expect["isin"]) == 60
    with pytest.raises(SettingsError, match="--max-categories 0"):
        plan(frame, "class", "classification", max_categories=0)


def test_the_generated_module_is_ruff_format_clean(tmp_path):
    import subprocess
    import sys

    # given columns of every kind, long category lists and numbers whose repr has an exponent
    frame = mixed_frame(n=120).assign(
        airport=[f"airport number {i % 60}" for i in range(120)],
        big=np.linspace(1e20, 3e20, 120),
        month=[1, 2, 3] * 40,
    )
    source = render_module(plan(frame, "class", "classification", max_categories=80), "odd name.csv")
    path = tmp_path / "schema_module.py"
    path.write_text(source)
    config = ["--config", "line-length = 120"]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--diff", *config, str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'metadata={"expect": {"ge": 1, "le": 3}},' in source and "        ge=1,\n        le=12," in source
    assert "HARD" in source and "EXPECTED" in source and "promote an expectation" in source


def test_a_short_calendar_name_is_a_calendar_part_only_beside_another_calendar_column():
    alone = pd.DataFrame({"day": [1, 2, 30], "min": [0.0, 5.0, 30.0], "y": [1.0, 2.0, 3.0]})
    plans = {p.name: p for p in plan(alone, "y", "regression")}
    assert plans["day"].checks == {} and not plans["day"].moves, "a count of days may pass 31"
    assert plans["min"].checks == {} and not plans["min"].moves, "a minimum temperature is no minute"
    dated = alone.assign(month=[1, 2, 3])
    plans = {p.name: p for p in plan(dated, "y", "regression")}
    assert plans["day"].checks == {"ge": 1, "le": 31} and plans["month"].checks == {"ge": 1, "le": 12}
    assert plans["min"].checks == {}


def test_a_whole_number_regression_target_is_contracted_as_a_float_a_later_fractional_label_passes(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "price": [326, 400, 512, 900]})
    plans = plan(frame, "price", "regression")
    assert next(p for p in plans if p.name == "price").dtype == "float"
    schema = load_module(tmp_path, render_module(plans, "prices.csv"))
    later = validate_frame(pd.DataFrame({"x": [1.0, 2.0], "price": [326.5, None]}), schema, "batch")
    assert later["price"].iloc[0] == 326.5


def test_a_retrain_section_without_the_usual_keys_gets_drift_exempt_last(tmp_path):
    from modelkeel.data.infer import update_params

    params = tmp_path / "params.yaml"
    params.write_text(
        "data:\n  path: old.csv\n  schema: old\n  target: y\n  test_size: 0.25\nretrain:\n  window: all\n"
    )
    frame = pd.DataFrame({"year": [2013, 2013, 2014], "month": [1, 2, 3], "y": [1.0, 2.0, 3.0]})
    plans = plan(frame, "y", "regression")
    update_params(params, "data/new.csv", "new", "y", plans, [], None, ["year", "month"])
    text = params.read_text()
    assert text.endswith("retrain:\n  window: all\n  drift_exempt: [year, month]\n"), text
