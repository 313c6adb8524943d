import importlib.util

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data.infer import plan, render_module
from {{ cookiecutter.package_name }}.errors import DataError


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
