"""Permutation importance: seeded, and zero for a column that carries nothing."""

from modelkeel.quality.importance import permutation_importance
from modelkeel.stages import train


def test_permutation_importance_is_zero_for_a_column_that_carries_nothing(toy_settings, toy_trained):
    settings, model = toy_settings, toy_trained
    parts = model.parts
    classes = list(model.model.classes_) if settings.task == "classification" else None
    first = permutation_importance(settings, model.model, parts, classes)
    assert set(first) == set(parts.X_test.columns)
    assert max(first.values()) > 0, "shuffling some column must hurt the model"
    assert permutation_importance(settings, model.model, parts, classes) == first, "seeded"
    assert first["x1"] > 0, "x1 carries the signal"
    column = settings.data.categorical_features[0]
    X_test = parts.X_test.copy()
    X_test[column] = X_test[column].iloc[0]  # one value everywhere: shuffling it changes nothing
    constant = train.Split(parts.X_train, X_test, parts.y_train, parts.y_test, parts.labelled, parts.test_rows, 0)
    assert permutation_importance(settings, model.model, constant, classes)[column] == 0.0
