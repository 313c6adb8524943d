import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.runtime.signature import (
    MISSING_CATEGORY,
    model_frame,
)
from {{ cookiecutter.package_name }}.stages import train


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
    from {{ cookiecutter.package_name }}.runtime.signature import (
        SMALL_BATCH,
        onnx_feed,
    )

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
