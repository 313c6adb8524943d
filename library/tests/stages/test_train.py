import numpy as np
import pandas as pd
import pytest

from modelkeel.runtime.signature import (
    MISSING_CATEGORY,
    ModelInputs,
    model_frame,
)
from modelkeel.stages import train

from ..conftest import toy_frame, typed_frame


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
    share = len(parts.X_test) / labelled
    if settings.data.split == "time":  # rows sharing the boundary time stay on one side: the share may be smaller
        assert 0 < share <= settings.data.test_size + 0.02
    else:
        assert abs(share - settings.data.test_size) < 0.02


def test_model_frame_types_inputs_as_the_onnx_graph_does():
    frame = pd.DataFrame(
        {
            "n": [1, None],
            "c": ["a", None],
            "t": pd.to_datetime(["2024-03-05T14:30", None]),
            "other": [1, 2],
        }
    )
    typed = model_frame(frame, ModelInputs(("n",), ("c",), dict(t=("year", "day_of_week", "hour"))))
    assert list(typed.columns) == ["n", "t.year", "t.day_of_week", "t.hour", "c"]
    assert typed["n"].dtype == np.float32 and np.isnan(typed["n"].iloc[1])
    assert typed["c"].tolist() == ["a", MISSING_CATEGORY]
    assert typed.iloc[0][["t.year", "t.day_of_week", "t.hour"]].tolist() == [2024, 1, 14]  # a Tuesday
    assert typed[["t.year", "t.hour"]].iloc[1].isna().all(), "a missing time is NaN in every part"


def test_onnx_feed_is_the_same_for_a_few_rows_and_for_a_batch(toy_settings):
    from modelkeel.runtime.signature import (
        SMALL_BATCH,
        onnx_feed,
    )

    inputs = toy_settings.data.inputs
    X = model_frame(toy_frame(toy_settings.task), inputs).iloc[: SMALL_BATCH + 1]
    assert X.isna().to_numpy().any() and (X == MISSING_CATEGORY).to_numpy().any(), "the toy data has gaps"
    batch = onnx_feed(X, inputs)
    few = onnx_feed(X.iloc[:SMALL_BATCH], inputs)
    assert list(few) == list(batch) == [*inputs.model_numeric, *inputs.categorical]
    for column, values in few.items():
        assert values.dtype == batch[column].dtype and values.shape == (SMALL_BATCH, 1)
        assert values.flags.c_contiguous
        np.testing.assert_array_equal(values, batch[column][:SMALL_BATCH])


def test_a_time_split_trains_on_the_past_and_tests_on_the_most_recent_rows(toy_settings):
    frame = toy_frame(toy_settings.task)
    timed = toy_settings.model_copy(
        update={"data": toy_settings.data.model_copy(update={"split": "time", "split_column": "when"})}
    )
    parts = train.split(timed, frame)
    train_times, test_times = frame.loc[parts.X_train.index, "when"], parts.test_frame["when"]
    assert train_times.max() < test_times.min()
    assert abs(len(parts.X_test) / len(frame) - 0.25) < 0.02
    assert train.split(timed, frame.sample(frac=1, random_state=1)).test_frame["when"].min() == test_times.min()


def test_a_time_split_needs_more_than_one_moment(toy_settings):
    import pytest

    from modelkeel.errors import DataError

    frame = toy_frame(toy_settings.task).assign(when=pd.Timestamp("2024-01-01"))
    timed = toy_settings.model_copy(
        update={"data": toy_settings.data.model_copy(update={"split": "time", "split_column": "when"})}
    )
    with pytest.raises(DataError, match="same time"):
        train.split(timed, frame)


def test_a_saved_model_is_stale_once_model_py_changes(settings, validated, tmp_path, monkeypatch):
    """`evaluate`, `export` and the project's tests never judge a model that the current model.py did not build."""
    import shutil
    import sys

    from modelkeel.errors import StageOrderError
    from modelkeel.settings import PathSettings
    from modelkeel.stages import train

    from ..conftest import PROJECT_ROOT

    root = tmp_path / "copy"
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / "stale_project")
    monkeypatch.setattr(sys, "path", list(sys.path))
    copy = settings.model_copy(
        update={"root": root, "package": "stale_project", "paths": PathSettings(artifacts=str(tmp_path / "a"))}
    )
    parts = train.split(copy, validated.frame)
    train.save(copy, train.fit(copy, parts), parts, validated.snapshot)
    train.load(copy, validated.snapshot)  # fresh: loads
    model_py = root / "src" / "stale_project" / "model.py"
    model_py.write_text(model_py.read_text().replace('strategy="median"', 'strategy="mean"'))
    with pytest.raises(StageOrderError, match=r"model\.py.*run `train` again"):
        train.load(copy, validated.snapshot)
    for name in [m for m in sys.modules if m.startswith("stale_project")]:
        del sys.modules[name]


@pytest.mark.parametrize("typed", ["bool", "int"], indirect=True)
def test_a_nullable_target_trains_classes_as_the_data_holds_them(typed):
    """Given a bool or 0/1 target with gaps, as a nullable contract gives it ("boolean", "Int64"); when it is
    split and fitted; then the labelled rows keep numpy's bool or int64 and the classes are False/True or 0/1,
    not the floats 0.0/1.0 scikit-learn would make of a nullable column."""
    frame = typed_frame(typed.kind).astype({"target": "boolean" if typed.kind == "bool" else "Int64"})
    frame.loc[[4, 8], "target"] = pd.NA
    parts = train.split(typed.settings, frame)
    assert parts.dropped_missing_target == 2
    assert parts.y_train.dtype == (bool if typed.kind == "bool" else np.int64)
    classes = train.fit(typed.settings, parts).named_steps["model"].classes_.tolist()
    assert classes == ([False, True] if typed.kind == "bool" else [0, 1])
    assert {type(c) for c in classes} == {bool if typed.kind == "bool" else int}


def test_a_model_the_other_engine_trained_is_refused(settings, validated, tmp_path):
    """`evaluate` alone on the pandas engine after a Dask `pipeline` must not score the Dask engine's model on the
    pandas engine's split (params_hash leaves `compute` out): its test rows may be rows that model trained on."""
    import json

    from modelkeel.errors import StageOrderError
    from modelkeel.settings import ComputeSettings, PathSettings

    pandas = settings.model_copy(update={"paths": PathSettings(artifacts=str(tmp_path / "a"))})
    dask = pandas.model_copy(update={"compute": ComputeSettings(engine="dask")})
    assert dask.params_hash() == pandas.params_hash()
    parts = train.split(pandas, validated.frame)
    train.save(pandas, train.fit(pandas, parts), parts, validated.snapshot)
    train.load(pandas, validated.snapshot)  # train.json without `compute`: the pandas engine's
    with pytest.raises(
        StageOrderError, match=r"trained on the pandas engine and compute\.engine is dask.*make pipeline"
    ):
        train.load(dask, validated.snapshot)
    record_path = pandas.artifacts_dir / "train.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "compute": {"engine": "dask", "workers": 2}}))  # as the Dask engine
    with pytest.raises(StageOrderError, match=r"trained on the dask engine and compute\.engine is pandas.*make train"):
        train.load(pandas, validated.snapshot)
    _, loaded = train.load(dask, validated.snapshot)
    assert loaded["compute"]["engine"] == "dask"
