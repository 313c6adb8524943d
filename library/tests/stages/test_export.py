"""Parity tests: the ONNX model predicts like the scikit-learn pipeline, and the gate catches it when not."""

import numpy as np
import onnx
import pytest

from modelkeel.bundle import layout
from modelkeel.errors import GateError
from modelkeel.quality.parity import compare
from modelkeel.settings import ParitySettings, PathSettings
from modelkeel.stages import export

pytestmark = pytest.mark.parity


def test_onnx_matches_sklearn_on_the_test_split(trained):
    settings, model = trained
    onx = export.convert(settings, model.model, {"version": "test"})
    result = export.parity(settings, model.model, onx.SerializeToString(), model.parts.X_test)
    assert result.passed, export.describe_failure(result)
    assert result.rows == len(model.parts.X_test)


def test_the_gate_compares_with_exactly_what_the_pipeline_predicts(toy_settings, toy_trained):
    settings, model = toy_settings, toy_trained
    X = model.parts.X_test
    outputs = export.sklearn_outputs(settings, model.model, X)
    if settings.task == "classification":
        np.testing.assert_array_equal(outputs["label"], model.model.predict(X))
        np.testing.assert_array_equal(outputs["value"], model.model.predict_proba(X))
    else:
        np.testing.assert_array_equal(outputs["value"], model.model.predict(X))


def test_onnx_takes_one_typed_input_per_raw_column_and_calendar_part(toy_settings, toy_trained):
    settings, model = toy_settings, toy_trained
    onx = export.convert(settings, model.model, {"version": "test"})
    # the graph's inputs, in order (skl2onnx makes names identifiers; the feed goes by position)
    types = [i.type.tensor_type.elem_type for i in onx.graph.input]
    assert settings.data.inputs.model_numeric == ("x1", "x2", "when.month", "when.day_of_week", "when.hour")
    assert types == [onnx.TensorProto.FLOAT] * 5 + [onnx.TensorProto.STRING]
    opsets = {o.domain: o.version for o in onx.opset_import}
    assert opsets[""] == settings.parity.target_opset
    assert {p.key: p.value for p in onx.metadata_props}["version"] == "test"


def test_onnx_matches_sklearn_from_the_raw_time_column(toy_settings, toy_trained):
    """The parity gate covers the whole path: raw rows -> calendar parts -> both models."""
    settings, model = toy_settings, toy_trained
    onx = export.convert(settings, model.model, {})
    X = model.parts.X_test
    assert X["when.hour"].nunique() > 1 and X["x2"].isna().any(), "the toy data has times and gaps"
    result = export.parity(settings, model.model, onx.SerializeToString(), X)
    assert result.passed, export.describe_failure(result)


def test_gate_blocks_the_model_when_tolerance_is_exceeded(toy_settings, toy_trained, tmp_path):
    settings, model = toy_settings, toy_trained
    impossible = settings.model_copy(
        update={
            "parity": ParitySettings(target_opset=settings.parity.target_opset, atol=0.0, rtol=0.0),
            "paths": PathSettings(artifacts=str(tmp_path)),
        }
    )
    X = model.parts.X_test.copy()
    # A model that differs from the trained one by construction: perturb every numeric input of the ONNX side.
    onx = export.convert(impossible, model.model, {})
    sess = export.session(onx.SerializeToString())
    feed = {c: (X[[c]].to_numpy(np.float32) * 1.5) for c in settings.data.inputs.model_numeric}
    feed |= {c: X[[c]].to_numpy(object) for c in settings.data.categorical_features}
    drifted = export.onnx_outputs(settings.task, sess, feed)
    result = compare(settings.task, export.sklearn_outputs(settings, model.model, X), drifted, 1e-4, 1e-5)
    assert not result.passed
    assert result.max_abs_diff > 1e-4


def test_failed_gate_writes_no_model(toy_settings, toy_trained, tmp_path, monkeypatch):
    settings, model = toy_settings, toy_trained
    scratch = settings.model_copy(update={"paths": PathSettings(artifacts=str(tmp_path))})
    monkeypatch.setattr(export, "compare", lambda *a, **k: compare(*a[:3], -1.0, 0.0))
    with pytest.raises(GateError, match="parity gate failed"):
        export.export(scratch, model.model, model.parts.X_test, {})
    assert not (tmp_path / layout.MODEL).exists()


REBUILD = """
import hashlib
import sys

from tests.conftest import toy_data_settings, toy_frame
from modelkeel.settings import load_settings
from modelkeel.stages import export, train

settings = load_settings("tests/project/params.yaml")
models = [
    dict(type="random_forest", n_estimators=5, max_depth=4),
    dict(type="linear"),
    dict(type="gradient_boosting", n_estimators=5),
    dict(type="lightgbm", n_estimators=5),
    dict(type="xgboost", n_estimators=5),
]
for model in models:
    s = settings.model_validate(
        dict(settings.model_dump(by_alias=True), data=toy_data_settings(settings.data.schema_name), model=model, root=settings.root)
    )
    fitted = train.fit(s, train.split(s, toy_frame(s.task)))
    print(model["type"], hashlib.sha256(export.convert(s, fitted, dict(version="x")).SerializeToString()).hexdigest())
"""


def test_every_model_exports_the_same_bytes_in_every_process_and_hash_seed():
    import os
    import subprocess
    import sys

    from ..conftest import PROJECT_ROOT

    digests = []
    for seed in ("0", "4242"):  # two processes, two hash seeds
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", REBUILD],
            cwd=PROJECT_ROOT.parents[1],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        digests.append(done.stdout.split())
    assert len(digests[0]) == 10, digests[0]
    assert digests[0] == digests[1], "model.onnx bytes depend on PYTHONHASHSEED"


def test_parity_holds_for_labels_of_any_kind_as_the_bundle_gives_them(typed):
    """Given a bool, 0/1, 1/2/3 or text target: the graph itself answers a bool target's classes as 0/1
    (skl2onnx writes bools as integers); the parity gate judges the labels a bundle gives, True/False as
    scikit-learn's, and a 0/1 answer beside True/False labels fails it."""
    import json

    from modelkeel.runtime.session import onnx_outputs
    from modelkeel.runtime.signature import model_frame, onnx_feed

    record = json.loads((typed.bundle.folder / layout.PARITY).read_text())
    assert record["passed"] and record["label_mismatches"] == 0 and record["rows"] > 0
    feed = onnx_feed(model_frame(typed.batch, typed.settings.data.inputs), typed.settings.data.inputs)
    graph = onnx_outputs("classification", typed.bundle.session, feed)  # no classes: the graph's own labels
    bundled = typed.bundle.outputs(feed)
    reference = {"label": typed.sklearn_predict(typed.batch), "value": bundled["value"]}
    assert graph["label"].dtype.kind == ("i" if typed.kind in ("bool", "int", "three") else "O")
    assert bundled["label"].dtype.kind == reference["label"].dtype.kind
    assert compare("classification", reference, bundled, 1e-4, 1e-5, same_kind=True).passed
    as_graph = compare("classification", reference, graph, 1e-4, 1e-5, same_kind=True)
    assert as_graph.passed == (typed.kind != "bool")
    assert compare("classification", reference, graph, 1e-4, 1e-5).passed, "by value alone, 1 is True"


HIGH_CARDINALITY_MODELS = [
    dict(type="random_forest", n_estimators=10, max_depth=6),
    dict(type="linear"),
    dict(type="gradient_boosting", n_estimators=10),
    dict(type="lightgbm", n_estimators=10),
    dict(type="xgboost", n_estimators=10),
]


@pytest.mark.parametrize("model", HIGH_CARDINALITY_MODELS, ids=[m["type"] for m in HIGH_CARDINALITY_MODELS])
@pytest.mark.parametrize("categorical", [("airport",), ("colour", "airport")], ids=["alone", "with-another"])
def test_a_text_column_of_300_values_trains_exports_and_passes_parity_with_values_never_seen(
    toy_settings, tmp_path, model, categorical
):
    """The shipped model.py pools rare categories (skl2onnx converts its encoder for one text column or more)."""
    from modelkeel.settings import DataSettings
    from modelkeel.stages import train

    from ..conftest import toy_frame

    # given 900 rows whose 300 airports are few busy ones and many rare ones, and a busy one that matters
    rng = np.random.default_rng(5)
    frame = toy_frame(toy_settings.task, 900, seed=5).drop(columns="when")
    weights = 1 / np.arange(1, 301)
    frame["airport"] = rng.choice([f"airport {i:03d}" for i in range(300)], len(frame), p=weights / weights.sum())
    busy = frame["airport"] == "airport 000"
    if toy_settings.task == "classification":
        frame.loc[busy, "target"] = "yes"
    else:
        frame.loc[busy, "target"] += 3.0
    data = DataSettings(
        path="toy.csv",
        schema=toy_settings.data.schema_name,
        target="target",
        numeric_features=("x1", "x2"),
        categorical_features=categorical,
        test_size=0.25,
    )
    settings = toy_settings.model_validate(
        dict(toy_settings.model_dump(by_alias=True), data=data, model=model, root=toy_settings.root)
    ).model_copy(update={"paths": PathSettings(artifacts=str(tmp_path))})
    # when it is trained, and scored on test rows of which a third hold airports training never saw
    parts = train.split(settings, frame)
    fitted, _ = train.fit_with_features(settings, parts)
    encoder = fitted.named_steps["preprocess"].named_transformers_["categorical"].named_steps["codes"]
    pooled = encoder.infrequent_categories_[categorical.index("airport")]
    assert pooled is not None and len(pooled) > 100, "the rare airports share one column"
    X = parts.X_test.copy()
    unseen = X.index[::3]
    X.loc[unseen, "airport"] = [f"new airport {i}" for i in range(len(unseen))]
    done = export.export(settings, fitted, X, {"version": "test"})
    # then the ONNX model answers every row as scikit-learn does
    assert done.result.passed and done.result.rows == len(X), export.describe_failure(done.result)
    assert (tmp_path / layout.MODEL).is_file()
