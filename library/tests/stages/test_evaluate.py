"""Evaluation computes each figure once from shared predictions; these tests check it against the plain way."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor

from modelkeel.quality.gates import quality_gates
from modelkeel.stages import evaluate, train
from modelkeel.stages.estimators import predict


def test_training_features_kept_from_fit_are_what_the_pipeline_makes(settings, validated):
    parts = train.split(settings, validated.frame)
    model, features = train.fit_with_features(settings, parts)
    np.testing.assert_array_equal(features, model[:-1].transform(parts.X_train))
    kept = predict(settings, model, parts.X_train, features)
    fresh = predict(settings, model, parts.X_train)
    np.testing.assert_array_equal(kept.label, fresh.label)


def _plain_score(settings, y_true, y_pred, metric):
    plain = {
        "accuracy": skm.accuracy_score,
        "f1_macro": lambda t, p: skm.f1_score(t, p, average="macro", zero_division=0),
        "balanced_accuracy": skm.balanced_accuracy_score,
        "rmse": skm.root_mean_squared_error,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }
    return plain[metric](y_true, y_pred)


def test_slice_metrics_equal_scoring_each_slice_on_its_own(toy_settings, toy_trained):
    settings, model = toy_settings, toy_trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    slices = evaluate.slice_metrics(settings, parts, predict(settings, model.model, parts.X_test), classes)
    metric = settings.quality.slice_metric
    checked = 0
    for column in settings.data.categorical_features:
        assert set(slices[column]) == {"(missing)" if v == "" else v for v in parts.X_test[column].unique()}, (
            f"every value of {column} is a slice"
        )
        for value, entry in slices[column].items():
            rows = parts.X_test[column] == ("" if value == "(missing)" else value)
            y_true, X = parts.y_test[rows], parts.X_test[rows]
            assert entry["rows"] == int(rows.sum())
            if settings.task == "classification" and y_true.nunique() < 2 and metric == "balanced_accuracy":
                continue
            expected = _plain_score(settings, y_true.to_numpy(), model.model.predict(X), metric)
            assert entry[metric] == pytest.approx(expected, rel=1e-9, abs=1e-12), (column, value)
            checked += 1
    assert checked > 0


def test_baseline_is_the_most_frequent_class_or_the_mean(trained):
    settings, model = trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    baseline = evaluate.baseline_predictions(settings, parts, classes)
    if settings.task == "classification":
        dummy = DummyClassifier(strategy="most_frequent").fit(parts.X_train, parts.y_train)
        np.testing.assert_array_equal(baseline.label, dummy.predict(parts.X_test))
        np.testing.assert_array_equal(baseline.proba, dummy.predict_proba(parts.X_test))
    else:
        dummy = DummyRegressor().fit(parts.X_train, parts.y_train)
        np.testing.assert_allclose(baseline.label, dummy.predict(parts.X_test))


def test_a_slice_that_misses_its_bar_carries_its_interval_and_one_that_reaches_it_none(toy_settings, toy_trained):
    from modelkeel.quality.gates import metric_interval
    from modelkeel.quality.metrics import METRICS

    settings, parts = toy_settings, toy_trained.parts
    metric = settings.quality.slice_metric
    classes = list(toy_trained.model.classes_) if settings.task == "classification" else None
    test = predict(settings, toy_trained.model, parts.X_test)
    slices = evaluate.slice_metrics(settings, parts, test, classes)
    test_scores = {settings.quality.primary_metric: 0.0}

    def gates_at(bar):
        q = settings.quality.model_copy(update={"slice_threshold": bar, "slice_min_rows": 1})
        at = settings.model_copy(update={"quality": q})
        interval_of = evaluate.slice_intervals(at, parts, test, classes)
        return quality_gates(q, test_scores, slices, test_scores, interval_of)["slices"]

    worst = 1e9 if METRICS[metric].lower_is_better else -1e9
    assert all(s["interval"] is None and s["passed"] for s in gates_at(worst)), "no slice misses: nothing computed"
    missed = [s for s in gates_at(METRICS[metric].best) if s["measured"] != METRICS[metric].best]
    assert missed, "the toy model is not perfect on every slice"
    for s in missed:
        rows = np.flatnonzero(parts.X_test[s["column"]].fillna("").replace("", "(missing)").to_numpy() == s["value"])
        y = parts.y_test.to_numpy()[rows]
        expected = metric_interval(
            settings.task, metric, y, test.take(rows), classes, settings.quality.slice_confidence, settings.seed
        )
        assert s["interval"] == pytest.approx(list(expected)), (s["column"], s["value"])
        assert s["interval"][0] <= s["measured"] <= s["interval"][1]
