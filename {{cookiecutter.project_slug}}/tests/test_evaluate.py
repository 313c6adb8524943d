"""Evaluation computes each figure once from shared predictions; these tests check it against the plain way."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor

from {{ cookiecutter.package_name }} import evaluate, train


def test_training_features_kept_from_fit_are_what_the_pipeline_makes(settings, validated):
    parts = train.split(settings, validated.frame)
    model, features = train.fit_with_features(settings, parts)
    np.testing.assert_array_equal(features, model[:-1].transform(parts.X_train))
    kept = evaluate.predict(settings, model, parts.X_train, features)
    fresh = evaluate.predict(settings, model, parts.X_train)
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


def test_slice_metrics_equal_scoring_each_slice_on_its_own(trained):
    settings, model = trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    slices = evaluate.slice_metrics(settings, parts, evaluate.predict(settings, model.model, parts.X_test), classes)
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


def test_permutation_importance_is_zero_for_a_column_that_carries_nothing(trained):
    settings, model = trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    first = evaluate.permutation_importance(settings, model.model, parts, classes)
    assert set(first) == set(parts.X_test.columns)
    assert max(first.values()) > 0, "shuffling some column must hurt the model"
    assert evaluate.permutation_importance(settings, model.model, parts, classes) == first, "seeded"
    column = settings.data.categorical_features[0]
    X_test = parts.X_test.copy()
    X_test[column] = X_test[column].iloc[0]  # one value everywhere: shuffling it changes nothing
    constant = train.Split(parts.X_train, X_test, parts.y_train, parts.y_test, parts.labelled, parts.test_rows, 0)
    assert evaluate.permutation_importance(settings, model.model, constant, classes)[column] == 0.0


def test_metrics_for_just_one_metric_equal_that_entry_of_all(trained):
    settings, model = trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    predicted = evaluate.predict(settings, model.model, parts.X_test)
    everything = evaluate.score(settings, parts.y_test, predicted, classes)
    for metric, value in everything.items():
        assert evaluate.score(settings, parts.y_test, predicted, classes, metric) == {metric: value}


def test_label_codes_accept_arrow_strings_objects_and_numbers():
    assert evaluate._codes(pd.Series(["b", "a", None, "z"], dtype="str"), ["a", "b"]).tolist() == [1, 0, -1, -1]
    assert evaluate._codes(np.array(["x", "a"], dtype=object), ["a", "x"]).tolist() == [1, 0]
    assert evaluate._codes(np.array([1, 2, 3]), [1, 2]).tolist() == [0, 1, -1]


def test_counted_metrics_equal_scikit_learn_when_classes_are_missing_from_either_side():
    rng = np.random.default_rng(7)
    for _ in range(300):
        classes = np.array(["a", "b", "c", "d"][: rng.integers(2, 5)], dtype=object)
        size = int(rng.integers(1, 40))
        y_true = rng.choice(classes[: rng.integers(1, len(classes) + 1)], size)  # some classes never true
        y_pred = rng.choice(classes[rng.integers(0, len(classes)) :], size)  # some never predicted
        got = evaluate.classification_metrics(y_true, y_pred, None, classes)
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
        expected_f1 = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
        assert got["f1_macro"] == pytest.approx(expected_f1, abs=1e-12)
        if len(set(y_true)) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
                expected = skm.balanced_accuracy_score(y_true, y_pred)
            assert got["balanced_accuracy"] == pytest.approx(expected, abs=1e-12)
        else:
            assert got["balanced_accuracy"] is None


def test_an_unknown_true_label_is_scored_as_scikit_learn_scores_it():
    classes = np.array(["a", "b"], dtype=object)
    y_true = np.array(["a", "b", "new", "other", "a"], dtype=object)
    y_pred = np.array(["a", "a", "b", "a", "a"], dtype=object)
    got = evaluate.classification_metrics(y_true, y_pred, None, classes)
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))


def test_slices_score_each_unknown_label_as_its_own_class():
    from types import SimpleNamespace

    classification = SimpleNamespace(task="classification")
    y_true = pd.Series(["a", "b", "rare1", "rare2", "rare1", "a", "b"], dtype="str")
    labels = np.array(["a", "a", "b", "a", "b", "a", "b"], dtype=object)
    truth, predicted, codes = evaluate.coded(classification, y_true, evaluate.Predictions(labels, None), ["a", "b"])
    rows = np.array([0, 2, 3, 4])  # one slice holding both unknown labels
    got = evaluate.score(classification, truth[rows], predicted.take(rows), codes)
    plain_true, plain_pred = y_true.to_numpy(dtype=object)[rows], labels[rows]
    assert got["f1_macro"] == pytest.approx(skm.f1_score(plain_true, plain_pred, average="macro", zero_division=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(plain_true, plain_pred))
