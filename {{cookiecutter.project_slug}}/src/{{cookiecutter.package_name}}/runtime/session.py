"""Running an ONNX model in onnxruntime: the session, and the outputs by name.

Used by the parity gate at export time and by `verify`, `predict` and serving anywhere
later; it imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import GateError, VerificationError


def _tensors(graph) -> Iterator:
    """Every tensor a graph (or an ONNX function) holds: initializers, sparse ones, node attributes, subgraphs."""
    yield from getattr(graph, "initializer", ())
    for sparse in getattr(graph, "sparse_initializer", ()):
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def check_self_contained(model_bytes: bytes, where: str) -> None:
    """Refuse a model that is not one valid ONNX file holding all its tensors.

    A tensor stored as ONNX external data names a file by path, and onnxruntime resolves it
    against the working directory when the model is given as bytes: a hostile bundle could make
    the consumer read (and score with) any file it can read. The models this project exports keep
    every tensor inside; anything else is refused before a session exists.
    """
    import onnx

    try:
        model = onnx.load_model_from_string(model_bytes)
    except Exception as error:  # protobuf's DecodeError and onnx's own errors
        raise VerificationError(f"{where}: not an ONNX model ({error})") from None
    for graph in (model.graph, *model.functions):
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
                location = {e.key: e.value for e in tensor.external_data}.get("location", "?")
                raise VerificationError(
                    f"{where}: tensor {tensor.name!r} is stored as external data ({location!r}): a bundle's model "
                    "must hold every tensor itself; do not use this bundle"
                )


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
