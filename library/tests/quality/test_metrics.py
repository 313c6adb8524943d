"""The metrics: scikit-learn's own, scored on label codes (tests compare with scikit-learn on the labels)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modelkeel.quality import metrics
from modelkeel.stages.estimators import predict


def test_the_metric_table_is_the_template_one_and_knows_each_direction(settings):
    """params.yaml, the hooks and the gates read one table: every metric has a task and a direction."""
    assert set(metrics.for_task("classification")) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert set(metrics.for_task("regression")) == {"r2", "rmse", "mae"}
    assert {"rmse", "mae"} == metrics.LOWER_IS_BETTER
    assert settings.quality.primary_metric in metrics.for_task(settings.task)
    assert metrics.reaches("rmse", 1.0, 2.0) and not metrics.reaches("rmse", 3.0, 2.0)
    assert metrics.reaches("r2", 0.9, 0.8) and not metrics.reaches("r2", 0.7, 0.8)
    assert metrics.gain("mae", 1.0, 3.0) == 2.0 and metrics.gain("accuracy", 0.5, 0.75) == -0.25
    assert metrics.moved_by("mae", 10.0, 2.0) == 8.0 and metrics.moved_by("f1_macro", 0.5, 0.1) == 0.6


def test_label_codes_accept_arrow_strings_objects_and_numbers():
    assert metrics.codes(pd.Series(["b", "a", None, "z"], dtype="str"), ["a", "b"]).tolist() == [1, 0, -1, -1]
    assert metrics.codes(np.array(["x", "a"], dtype=object), ["a", "x"]).tolist() == [1, 0]
    assert metrics.codes(np.array([1, 2, 3]), [1, 2]).tolist() == [0, 1, -1]


@pytest.mark.parametrize(
    "labels",
    [
        np.array([True, False, True]),
        np.array([True, False, True], dtype=object),
        pd.array([True, False, True], dtype="boolean"),
        pd.Series([True, False, True], dtype="boolean").to_numpy(),
    ],
    ids=["bool", "object", "boolean", "boolean as numpy"],
)
def test_bool_labels_match_bool_classes_however_pandas_holds_them(labels):
    assert metrics.codes(labels, [False, True]).tolist() == [1, 0, 1]


def test_a_bool_and_a_number_are_different_labels_even_of_the_same_value():
    """True is not the class 1 (nor 1 the class True); a number matches a number of the same value, and a
    gap (an unlabelled row) matches nothing."""
    assert metrics.codes(np.array([1, 0]), [False, True]).tolist() == [-1, -1]
    assert metrics.codes(np.array([True, False]), [0, 1]).tolist() == [-1, -1]
    assert metrics.codes(np.array([True, None, False], dtype=object), [False, True]).tolist() == [1, -1, 0]
    assert metrics.codes(np.array([1.0, np.nan, 3.0]), [1, 2, 3]).tolist() == [0, -1, 2]
    assert metrics.codes(np.array([1, True, "a", 0.0], dtype=object), [0, True, "a"]).tolist() == [-1, 1, 2, 0]
    assert metrics.codes(np.array([1, 2]), [1, 1.0, 2]).tolist() == [0, 2], "a class listed twice keeps its first place"


def test_labels_of_another_kind_than_the_classes_are_scored_as_labels_of_their_own():
    """The crash of a bool target (True/False classes, 0/1 answers: an index of False, True, 0, 1 that is not
    unique) cannot happen: each unknown label is a class of its own, so nothing is right."""
    true_codes, predicted_codes, labels = metrics.all_codes(
        np.array([False, True, True]), np.array([0, 1, 1]), [False, True]
    )
    assert labels == [False, True, 0, 1] and [type(v) for v in labels] == [bool, bool, int, int]
    assert true_codes.tolist() == [0, 1, 1] and predicted_codes.tolist() == [2, 3, 3]
    assert (
        metrics.classification_metrics(np.array([False, True]), np.array([0, 1]), None, [False, True])["accuracy"]
        == 0.0
    )


@pytest.mark.parametrize(
    "y_true, y_pred, classes",
    [
        ([True, False, True, True, False, None], [True, True, False, True, False, False], [False, True]),
        ([1.0, 0.0, 1.0, 1.0, 0.0, np.nan], [1, 1, 0, 1, 0, 0], [0, 1]),
        ([3, 1, 2, 2, 1, 3], [3, 2, 2, 1, 1, 3], [1, 2, 3]),
        (["yes", "no", "yes", "yes", "no", None], ["yes", "yes", "no", "yes", "no", "no"], ["no", "yes"]),
    ],
    ids=["bool, a gap", "0/1 read as float, a gap", "1/2/3", "text, a gap"],
)
def test_metrics_of_labelled_rows_equal_scikit_learn_for_targets_of_any_kind(y_true, y_pred, classes):
    """Given truth as pandas holds a batch's labels (a gap makes a 0/1 column float, a bool one object) and
    predictions as the model's classes; when the rows with a label are scored; then the metrics are
    scikit-learn's on the same labels."""
    truth = pd.Series(y_true)
    labelled = truth.notna().to_numpy()
    y, predicted = truth[labelled].to_numpy(), np.asarray(y_pred)[labelled]
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(len(classes)), size=len(y))
    got = metrics.classification_metrics(y, predicted, proba, classes)
    plain = [classes[[c == v for c in classes].index(True)] for v in y]  # each label as its class
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(plain, predicted.tolist()))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(plain, predicted.tolist(), average="macro"))
    one_vs_rest = [skm.roc_auc_score([v == c for v in plain], proba[:, i]) for i, c in enumerate(classes)]
    assert got["roc_auc"] == pytest.approx(np.mean(one_vs_rest))


def test_counted_metrics_equal_scikit_learn_when_classes_are_missing_from_either_side():
    rng = np.random.default_rng(7)
    for _ in range(300):
        classes = np.array(["a", "b", "c", "d"][: rng.integers(2, 5)], dtype=object)
        size = int(rng.integers(1, 40))
        y_true = rng.choice(classes[: rng.integers(1, len(classes) + 1)], size)  # some classes never true
        y_pred = rng.choice(classes[rng.integers(0, len(classes)) :], size)  # some never predicted
        got = metrics.classification_metrics(y_true, y_pred, None, classes)
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
        expected_f1 = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
        assert got["f1_macro"] == pytest.approx(expected_f1, abs=1e-12)
        with warnings.catch_warnings():  # one class in the truth too: that class's recall, as scikit-learn says
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            expected = skm.balanced_accuracy_score(y_true, y_pred)
        assert got["balanced_accuracy"] == pytest.approx(expected, abs=1e-12)


def test_an_unknown_true_label_is_scored_as_scikit_learn_scores_it():
    classes = np.array(["a", "b"], dtype=object)
    y_true = np.array(["a", "b", "new", "other", "a"], dtype=object)
    y_pred = np.array(["a", "a", "b", "a", "a"], dtype=object)
    got = metrics.classification_metrics(y_true, y_pred, None, classes)
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))


def test_slices_score_each_unknown_label_as_its_own_class():
    y_true = pd.Series(["a", "b", "rare1", "rare2", "rare1", "a", "b"], dtype="str")
    labels = np.array(["a", "a", "b", "a", "b", "a", "b"], dtype=object)
    truth, predicted, codes = metrics.coded("classification", y_true, metrics.Predictions(labels, None), ["a", "b"])
    rows = np.array([0, 2, 3, 4])  # one slice holding both unknown labels
    got = metrics.score("classification", truth[rows], predicted.take(rows), codes)
    plain_true, plain_pred = y_true.to_numpy(dtype=object)[rows], labels[rows]
    assert got["f1_macro"] == pytest.approx(skm.f1_score(plain_true, plain_pred, average="macro", zero_division=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(plain_true, plain_pred))


def test_metrics_for_just_one_metric_equal_that_entry_of_all(trained):
    settings, model = trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    predicted = predict(settings, model.model, parts.X_test)
    everything = metrics.score(settings.task, parts.y_test, predicted, classes)
    for metric, value in everything.items():
        assert metrics.score(settings.task, parts.y_test, predicted, classes, metric) == {metric: value}


def test_metrics_on_label_codes_equal_scikit_learn_on_the_labels():
    rng = np.random.default_rng(0)
    classes = np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)
    y_true, y_pred = rng.choice(classes, 500), rng.choice(classes, 500)
    proba = rng.dirichlet(np.ones(3), 500)
    got = metrics.classification_metrics(y_true, y_pred, proba, classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    expected_auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=list(classes))
    assert got["roc_auc"] == pytest.approx(expected_auc)
    binary = classes[:2]
    y_true, y_pred = rng.choice(binary, 300), rng.choice(binary, 300)
    proba = rng.dirichlet(np.ones(2), 300)
    got = metrics.classification_metrics(y_true, y_pred, proba, binary)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, proba[:, 1]))
    # ties in the scores count one half, as on scikit-learn's ROC curve
    tied = np.round(rng.dirichlet(np.ones(3), 2000), 1)
    tied /= tied.sum(axis=1, keepdims=True)
    labels = rng.choice(classes, 2000)
    expected = skm.roc_auc_score(labels, tied, multi_class="ovr", labels=list(classes))
    assert metrics.classification_metrics(labels, labels, tied, classes)["roc_auc"] == pytest.approx(
        expected, rel=1e-12
    )
    # undefined: a class missing from the truth, or a label the model does not know
    assert (
        metrics.classification_metrics(
            labels[labels != "Gentoo"], labels[labels != "Gentoo"], tied[labels != "Gentoo"], classes
        )["roc_auc"]
        is None
    )
    assert (
        metrics.classification_metrics(["Adelie", "Emperor"], ["Adelie", "Adelie"], tied[:2], classes[:2])["roc_auc"]
        is None
    )
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_balanced_accuracy_on_rows_of_one_class_is_that_class_recall_so_a_slice_of_one_class_is_still_gated():
    """infer-schema judges a classifier's slices by balanced accuracy: a slice whose rows all hold one class
    (every flight of an airline on time) must still be scored, not passed as undefined."""
    y = np.zeros(12, dtype=np.int64)
    predicted = np.array([1] * 10 + [0] * 2)
    scored = metrics.score("classification", y, metrics.Predictions(predicted, None), [0, 1])
    assert scored["balanced_accuracy"] == pytest.approx(2 / 12) == skm.recall_score(y, predicted, pos_label=0)
