"""Stage 4: convert the Pipeline to ONNX and prove, with the parity gate, that it predicts like scikit-learn.

The ONNX file is written only after the gate passes: a model that fails parity
never reaches the artifacts folder, so it can never be bundled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
import pandas as pd

from . import fsutil
from .checksums import sha256_bytes
from .errors import GateError
from .runtime import ParityResult, compare, onnx_outputs, session
from .settings import Settings
from .signature import onnx_feed

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ONNX_FILE = "model.onnx"
PARITY_FILE = "parity.json"
ML_OPSET = 3  # ai.onnx.ml domain, pinned with the main opset


def convert(settings: Settings, pipeline: Pipeline, metadata: dict[str, str]) -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    data = settings.data
    initial_types = [(c, FloatTensorType([None, 1])) for c in data.numeric_features]
    initial_types += [(c, StringTensorType([None, 1])) for c in data.categorical_features]
    options = None
    if settings.task == "classification":
        no_zipmap = {"zipmap": False}  # plain probability tensor, not a list of dicts
        options = {id(pipeline.named_steps["model"]): no_zipmap}
    model = to_onnx(
        pipeline,
        initial_types=initial_types,
        target_opset={"": settings.parity.target_opset, "ai.onnx.ml": ML_OPSET},
        options=options,
    )
    model.producer_name = "skl2onnx"
    onnx.helper.set_model_props(model, {k: str(v) for k, v in metadata.items()})
    onnx.checker.check_model(model, full_check=True)
    return model


def sklearn_outputs(settings: Settings, pipeline: Pipeline, X: pd.DataFrame, predicted=None) -> dict:
    """The Pipeline's predict (and predict_proba) on X; `predicted` is evaluate.predict's result when already made."""
    from .evaluate import predict

    predicted = predicted if predicted is not None else predict(settings, pipeline, X)
    if settings.task == "classification":
        return {"label": predicted.label, "value": predicted.proba}
    return {"value": np.asarray(predicted.label).reshape(-1)}


def parity(settings: Settings, pipeline: Pipeline, model_bytes: bytes, X: pd.DataFrame, predicted=None) -> ParityResult:
    data = settings.data
    feed = onnx_feed(X, data.numeric_features, data.categorical_features)
    candidate = onnx_outputs(settings.task, session(model_bytes), feed)
    reference = sklearn_outputs(settings, pipeline, X, predicted)
    return compare(settings.task, reference, candidate, settings.parity.atol, settings.parity.rtol)


def describe_failure(result: ParityResult) -> str:
    return (
        f"parity gate failed on {result.rows} test rows: {result.label_mismatches} label mismatch(es), "
        f"largest difference {result.max_abs_diff:.3g} (tolerance atol={result.atol:g} + rtol={result.rtol:g}*|value|). "
        "The ONNX model does not predict like the trained one, so it was not written and cannot be bundled. "
        "Keep numeric inputs float32 end to end (see signature.py), or loosen parity.atol / parity.rtol in params.yaml "
        "only if the difference is acceptable."
    )


def export(
    settings: Settings,
    pipeline: Pipeline,
    X_test: pd.DataFrame,
    metadata: dict[str, str],
    data_fingerprint: str = "",
    predicted=None,
) -> ParityResult:
    """Convert, check, run the parity gate, and only then write model.onnx and parity.json.

    `predicted` is the Pipeline's evaluate.Predictions on X_test when evaluation already made them.
    """
    model = convert(settings, pipeline, metadata)
    model_bytes = model.SerializeToString()
    result = parity(settings, pipeline, model_bytes, X_test, predicted)
    out = settings.artifacts_dir
    record = {
        **result.as_dict(),
        "split": "test",
        "onnx_sha256": sha256_bytes(model_bytes),
        "params_hash": settings.params_hash(),
        "data": {"fingerprint": data_fingerprint},
    }
    if not result.passed:
        (out / ONNX_FILE).unlink(missing_ok=True)
        fsutil.write_json(out / PARITY_FILE, record)
        raise GateError(describe_failure(result))
    fsutil.write_json(out / PARITY_FILE, record)
    fsutil.write_bytes(out / ONNX_FILE, model_bytes)
    return result
