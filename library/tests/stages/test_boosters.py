"""LightGBM and XGBoost: trained and converted inside the one Pipeline, and predicting in ONNX exactly as they do."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from modelkeel.project import build_pipeline
from modelkeel.settings import (
    DataSettings,
    LightGBMParams,
    XGBoostParams,
)
from modelkeel.stages import (
    export,
    train,
)
from modelkeel.stages.boosters import (
    LabelledXGBClassifier,
    float32_floor,
    floor_thresholds,
)

from ..conftest import toy_frame

pytestmark = pytest.mark.parity

BOOSTERS = {
    "lightgbm": LightGBMParams(type="lightgbm", n_estimators=20, min_child_samples=5),
    "xgboost": XGBoostParams(type="xgboost", n_estimators=20),
}


def with_model(settings, model, data: DataSettings | None = None):
    return settings.model_copy(update={"model": model, **({"data": data} if data is not None else {})})


def test_float32_floor_is_the_largest_float32_not_above():
    for value in (16.69999980926514, 16.7, -3.3, 0.1, 1e-35, 5.0, 1e300, -1e300, 3.4028235677973366e38):
        low = float32_floor(value)
        assert low <= value and float(np.float32(low)) == low  # a float32, not above the value
        with np.errstate(over="ignore"):  # the float32 after the largest is inf
            assert float(np.nextafter(np.float32(low), np.float32(np.inf))) > value  # the next float32 is above it
    assert float32_floor(5.0) == 5.0, "a float32 threshold stays as it is"
    assert float32_floor(16.69999980926514) < float(np.float32(16.7)) == float(np.float32(16.69999980926514))


def test_floor_thresholds_changes_numeric_splits_and_nothing_else():
    leaf = {"leaf_index": 0, "leaf_value": 0.123456789012345}
    tree = {
        "decision_type": "<=",
        "threshold": 16.69999980926514,
        "left_child": {"decision_type": "==", "threshold": "1||2", "left_child": dict(leaf), "right_child": dict(leaf)},
        "right_child": dict(leaf),
    }
    floor_thresholds(tree)
    assert tree["threshold"] == float32_floor(16.69999980926514)
    assert tree["left_child"]["threshold"] == "1||2", "a categorical set is left alone"
    assert tree["right_child"] == leaf, "leaf values are left alone"


def midpoint_frame(task: str) -> pd.DataFrame:
    """One column whose training values are 16.6 and 16.8, and rows at 16.7 between them.

    As float32 the two are 16.600000381 and 16.799999237; LightGBM splits at their midpoint in
    float64, 16.699999809, which rounds to 16.700000763: the float32 of 16.7 itself.
    """
    x = np.repeat([16.6, 16.8, 16.7], [60, 60, 20])
    high = x > 16.65
    target = np.where(high, "high", "low") if task == "classification" else np.where(high, 10.0, 0.0)
    return pd.DataFrame({"x": x.astype(np.float32), "target": target})


@pytest.mark.parametrize("family", list(BOOSTERS))
def test_onnx_takes_the_boosters_branch_at_a_float32_midpoint(settings, family):
    data = DataSettings(
        path="toy.csv", schema=settings.data.schema_name, target="target", numeric_features=("x",), test_size=0.25
    )
    s = with_model(settings, BOOSTERS[family].model_copy(update={"n_estimators": 3}), data)
    frame = midpoint_frame(s.task)
    train_rows = frame[frame["x"] != np.float32(16.7)]
    pipeline = build_pipeline(s).fit(train_rows[["x"]], train_rows["target"])
    if family == "lightgbm":  # the case this test is about: LightGBM's threshold rounds onto 16.7's float32
        dump = pipeline[-1].booster_.dump_model()
        thresholds = {n["threshold"] for t in dump["tree_info"] if "threshold" in (n := t["tree_structure"])}
        assert any(t < float(np.float32(16.7)) == float(np.float32(t)) for t in thresholds), thresholds
    probe = frame[["x"]]
    onx = export.convert(s, pipeline, {})
    result = export.parity(s, pipeline, onx.SerializeToString(), probe)
    assert result.passed and result.label_mismatches == 0, export.describe_failure(result)


@pytest.mark.parametrize("family", list(BOOSTERS))
def test_every_booster_converts_and_passes_parity_on_the_toy_data(toy_settings, family):
    s = with_model(toy_settings, BOOSTERS[family])
    frame = toy_frame(s.task)
    parts = train.split(s, frame)
    model = train.fit(s, parts)
    onx = export.convert(s, model, {})
    outputs = [o.name for o in onx.graph.output]
    assert outputs == (["label", "probabilities"] if s.task == "classification" else ["variable"])
    result = export.parity(s, model, onx.SerializeToString(), parts.X_test)
    assert result.passed, export.describe_failure(result)


@pytest.mark.parametrize(
    "labels", [np.array(["no", "yes"], dtype=object), np.array([3, 7, 9]), np.array(["a", "b", "c"], dtype=object)]
)
def test_the_xgboost_classifier_takes_any_labels_like_a_scikit_learn_classifier(labels):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 2))
    y = labels.take((X[:, 0] > 0).astype(int) + (len(labels) > 2) * (X[:, 1] > 0.5).astype(int))
    model = LabelledXGBClassifier(n_estimators=10, n_jobs=1, random_state=0).fit(X, y)
    assert list(model.classes_) == sorted(labels.tolist())
    predicted = model.predict(X)
    assert set(predicted) <= set(labels.tolist()) and (predicted == y).mean() > 0.9
    np.testing.assert_array_equal(predicted, model.classes_.take(model.predict_proba(X).argmax(axis=1)))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), predicted)
    renamed = np.array([f"class {label}" for label in y], dtype=object)
    refit = clone(model).fit(X, renamed)  # other labels, a fresh coding
    assert list(refit.classes_) == sorted({f"class {label}" for label in labels.tolist()})
    assert list(model.fit(X, y).classes_) == sorted(labels.tolist()), "refitting the same object recodes"
