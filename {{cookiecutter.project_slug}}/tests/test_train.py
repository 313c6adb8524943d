import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import train
from {{ cookiecutter.package_name }}.signature import MISSING_CATEGORY, model_frame


def test_training_is_deterministic(settings, validated):
    parts = train.split(settings, validated.frame)
    first = train.fit(settings, parts)
    second = train.fit(settings, train.split(settings, validated.frame))
    if settings.task == "classification":
        np.testing.assert_array_equal(first.predict_proba(parts.X_test), second.predict_proba(parts.X_test))
    else:
        np.testing.assert_array_equal(first.predict(parts.X_test), second.predict(parts.X_test))


def test_split_drops_rows_without_target_and_keeps_test_share(settings, validated):
    parts = train.split(settings, validated.frame)
    labelled = validated.frame[settings.data.target].notna().sum()
    assert parts.dropped_missing_target == len(validated.frame) - labelled
    assert len(parts.X_train) + len(parts.X_test) == labelled
    assert abs(len(parts.X_test) / labelled - settings.data.test_size) < 0.02


def test_model_frame_types_inputs_as_the_onnx_graph_does():
    frame = pd.DataFrame({"n": [1, None], "c": ["a", None], "other": [1, 2]})
    typed = model_frame(frame, ["n"], ["c"])
    assert list(typed.columns) == ["n", "c"]
    assert typed["n"].dtype == np.float32 and np.isnan(typed["n"].iloc[1])
    assert typed["c"].tolist() == ["a", MISSING_CATEGORY]


def test_onnx_feed_is_the_same_for_a_few_rows_and_for_a_batch(settings, validated):
    from {{ cookiecutter.package_name }}.signature import SMALL_BATCH, onnx_feed

    data = settings.data
    X = model_frame(validated.frame, data.numeric_features, data.categorical_features).iloc[: SMALL_BATCH + 1]
    assert X.isna().to_numpy().any() or (X == MISSING_CATEGORY).to_numpy().any(), "the sample has gaps"
    batch = onnx_feed(X, data.numeric_features, data.categorical_features)
    few = onnx_feed(X.iloc[:SMALL_BATCH], data.numeric_features, data.categorical_features)
    assert list(few) == list(batch) == [*data.numeric_features, *data.categorical_features]
    for column, values in few.items():
        assert values.dtype == batch[column].dtype and values.shape == (SMALL_BATCH, 1)
        assert values.flags.c_contiguous
        np.testing.assert_array_equal(values, batch[column][:SMALL_BATCH])


def test_metrics_on_label_codes_equal_scikit_learn_on_the_labels():
    from sklearn import metrics as skm

    from {{ cookiecutter.package_name }}.evaluate import classification_metrics

    rng = np.random.default_rng(0)
    classes = np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)
    y_true, y_pred = rng.choice(classes, 500), rng.choice(classes, 500)
    proba = rng.dirichlet(np.ones(3), 500)
    got = classification_metrics(y_true, y_pred, proba, classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    expected_auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=list(classes))
    assert got["roc_auc"] == pytest.approx(expected_auc)
    binary = classes[:2]
    y_true, y_pred = rng.choice(binary, 300), rng.choice(binary, 300)
    proba = rng.dirichlet(np.ones(2), 300)
    got = classification_metrics(y_true, y_pred, proba, binary)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, proba[:, 1]))
    # ties in the scores count one half, as on scikit-learn's ROC curve
    tied = np.round(rng.dirichlet(np.ones(3), 2000), 1)
    tied /= tied.sum(axis=1, keepdims=True)
    labels = rng.choice(classes, 2000)
    expected = skm.roc_auc_score(labels, tied, multi_class="ovr", labels=list(classes))
    assert classification_metrics(labels, labels, tied, classes)["roc_auc"] == pytest.approx(expected, rel=1e-12)
    # undefined: a class missing from the truth, or a label the model does not know
    assert (
        classification_metrics(
            labels[labels != "Gentoo"], labels[labels != "Gentoo"], tied[labels != "Gentoo"], classes
        )["roc_auc"]
        is None
    )
    assert classification_metrics(["Adelie", "Emperor"], ["Adelie", "Adelie"], tied[:2], classes[:2])["roc_auc"] is None
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
