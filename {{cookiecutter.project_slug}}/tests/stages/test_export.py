"""Parity tests: the ONNX model predicts like the scikit-learn pipeline, and the gate catches it when not."""

import numpy as np
import onnx
import pytest

from {{ cookiecutter.package_name }}.bundle import layout
from {{ cookiecutter.package_name }}.errors import GateError
from {{ cookiecutter.package_name }}.quality.parity import compare
from {{ cookiecutter.package_name }}.settings import ParitySettings, PathSettings
from {{ cookiecutter.package_name }}.stages import export

pytestmark = pytest.mark.parity


def test_onnx_matches_sklearn_on_the_test_split(trained):
    settings, model = trained
    onx = export.convert(settings, model.model, {"version": "test"})
    result = export.parity(settings, model.model, onx.SerializeToString(), model.parts.X_test)
    assert result.passed, export.describe_failure(result)
    assert result.rows == len(model.parts.X_test)


def test_the_gate_compares_with_exactly_what_the_pipeline_predicts(trained):
    settings, model = trained
    X = model.parts.X_test
    outputs = export.sklearn_outputs(settings, model.model, X)
    if settings.task == "classification":
        np.testing.assert_array_equal(outputs["label"], model.model.predict(X))
        np.testing.assert_array_equal(outputs["value"], model.model.predict_proba(X))
    else:
        np.testing.assert_array_equal(outputs["value"], model.model.predict(X))


def test_onnx_takes_one_typed_input_per_raw_column(trained):
    settings, model = trained
    onx = export.convert(settings, model.model, {"version": "test"})
    types = {i.name: i.type.tensor_type.elem_type for i in onx.graph.input}
    expected = {c: onnx.TensorProto.FLOAT for c in settings.data.numeric_features}
    expected |= {c: onnx.TensorProto.STRING for c in settings.data.categorical_features}
    assert types == expected
    opsets = {o.domain: o.version for o in onx.opset_import}
    assert opsets[""] == settings.parity.target_opset
    assert {p.key: p.value for p in onx.metadata_props}["version"] == "test"


def test_gate_blocks_the_model_when_tolerance_is_exceeded(trained, tmp_path):
    settings, model = trained
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
    feed = {c: (X[[c]].to_numpy(np.float32) * 1.5) for c in settings.data.numeric_features}
    feed |= {c: X[[c]].to_numpy(object) for c in settings.data.categorical_features}
    drifted = export.onnx_outputs(settings.task, sess, feed)
    result = compare(settings.task, export.sklearn_outputs(settings, model.model, X), drifted, 1e-4, 1e-5)
    assert not result.passed
    assert result.max_abs_diff > 1e-4


def test_failed_gate_writes_no_model(trained, tmp_path, monkeypatch):
    settings, model = trained
    scratch = settings.model_copy(update={"paths": PathSettings(artifacts=str(tmp_path))})
    monkeypatch.setattr(export, "compare", lambda *a, **k: compare(*a[:3], -1.0, 0.0))
    with pytest.raises(GateError, match="parity gate failed"):
        export.export(scratch, model.model, model.parts.X_test, {})
    assert not (tmp_path / layout.MODEL).exists()
