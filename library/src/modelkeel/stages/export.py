"""Stage 4, export: convert the Pipeline to ONNX and prove, with the parity gate, that it predicts like scikit-learn.

The ONNX file is written only after the gate passes: a model that fails parity
never reaches the artifacts folder, so it can never be bundled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pandas as pd

from ..bundle import layout
from ..errors import GateError
from ..quality.metrics import Predictions
from ..quality.parity import ParityResult, compare, describe_failure
from ..runtime.session import model_classes, onnx_outputs, session
from ..runtime.signature import onnx_feed
from ..settings import Settings
from ..utils import atomic
from ..utils.hashing import sha256_bytes

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ML_OPSET = 3  # ai.onnx.ml domain, pinned with the main opset


def convert(settings: Settings, pipeline: Pipeline, metadata: dict[str, str]) -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if settings.model.type in ("lightgbm", "xgboost"):
        from .boosters import register_converters

        register_converters()  # onnxmltools' converters, inside the same Pipeline conversion
    data = settings.data
    initial_types = [(c, FloatTensorType([None, 1])) for c in data.inputs.model_numeric]
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
    # skl2onnx collects the opset imports in a set: their order follows PYTHONHASHSEED. Sorted, the same
    # model serializes to the same bytes in every process.
    imports = sorted(model.opset_import, key=lambda o: (o.domain, o.version))
    del model.opset_import[:]
    model.opset_import.extend(imports)
    props = {k: str(v) for k, v in metadata.items()}
    if settings.task == "classification":  # every converted classifier says its classes: the graph may not
        # (skl2onnx writes bool classes as 0/1), and every load path maps its labels back through them
        classes = pipeline.named_steps["model"].classes_
        props["classes"] = json.dumps([c.item() if hasattr(c, "item") else c for c in classes])
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


@dataclass(frozen=True)
class Exported:
    """What export hands to the bundle: the ONNX bytes that passed the gate and the parity record."""

    model_bytes: bytes
    parity: dict  # parity.json: the result, the ONNX file's sha256, the params hash and data fingerprint
    result: ParityResult


def sklearn_outputs(
    settings: Settings, pipeline: Pipeline, X: pd.DataFrame, predicted: Predictions | None = None
) -> dict:
    """The Pipeline's predict (and predict_proba) on X; `predicted` is its predictions when already made."""
    from .estimators import predict

    predicted = predicted if predicted is not None else predict(settings, pipeline, X)
    if settings.task == "classification":
        return {"label": predicted.label, "value": predicted.proba}
    return {"value": np.asarray(predicted.label).reshape(-1)}


def parity(
    settings: Settings, pipeline: Pipeline, model_bytes: bytes, X: pd.DataFrame, predicted: Predictions | None = None
) -> ParityResult:
    """The parity gate on X: onnxruntime's answers against scikit-learn's, within parity.atol / rtol."""
    data = settings.data
    feed = onnx_feed(X, data.inputs)
    graph = session(model_bytes)
    # the labels as a bundle gives them (its `classes`, as in the data), of the same kind as scikit-learn's
    candidate = onnx_outputs(settings.task, graph, feed, model_classes(graph))
    reference = sklearn_outputs(settings, pipeline, X, predicted)
    return compare(settings.task, reference, candidate, settings.parity.atol, settings.parity.rtol, same_kind=True)


def export(
    settings: Settings,
    pipeline: Pipeline,
    X_test: pd.DataFrame,
    metadata: dict[str, str],
    data_fingerprint: str = "",
    predicted: Predictions | None = None,
) -> Exported:
    """Convert, check, run the parity gate, and only then write model.onnx and parity.json.

    `predicted` is the Pipeline's predictions on X_test when evaluation already made them.
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
        (out / layout.MODEL).unlink(missing_ok=True)
        atomic.write_json(out / layout.PARITY, record)
        raise GateError(describe_failure(result))
    atomic.write_json(out / layout.PARITY, record)
    atomic.write_bytes(out / layout.MODEL, model_bytes)
    return Exported(model_bytes, record, result)
