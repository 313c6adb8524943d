"""Running an ONNX model in onnxruntime: the session, and the outputs by name.

Used by the parity gate at export time and by `verify`, `predict` and serving anywhere
later; it imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import numpy as np

from ..errors import GateError


def session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_outputs(task: str, sess, feed: dict[str, np.ndarray]) -> dict:
    """Run the graph. `feed` maps each raw column, in signature order, to its (n, 1) array; the graph's
    inputs come in the same order (skl2onnx renames columns whose names are not identifiers)."""
    inputs = [i.name for i in sess.get_inputs()]
    if len(inputs) != len(feed):
        raise GateError(f"the ONNX model takes {len(inputs)} inputs but {len(feed)} columns were given")
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(None, dict(zip(inputs, feed.values(), strict=True))), strict=True))
    if task == "classification":
        return {"label": outputs["label"].reshape(-1), "value": outputs["probabilities"]}
    return {"value": outputs["variable"].reshape(-1)}
