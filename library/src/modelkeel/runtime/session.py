"""Running an ONNX model in onnxruntime: the session, and the outputs by name.

Used by the parity gate at export time and by `verify`, `predict` and serving anywhere
later; it imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import GateError, VerificationError


def _tensors(message) -> Iterator:
    """Every TensorProto anywhere in an ONNX message: walked through the protobuf fields themselves, so
    initializers, sparse tensors (also as a Constant's attribute), node attributes, subgraphs, functions
    and training info are all reached, and so is any field a later ONNX version adds."""
    if message.DESCRIPTOR.full_name == "onnx.TensorProto":
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue  # numbers, strings and bytes hold no tensor
        if hasattr(value, "DESCRIPTOR"):  # one message
            yield from _tensors(value)
        else:  # a repeated field (a map yields its keys: ONNX maps hold strings, never tensors)
            for item in value:
                if hasattr(item, "DESCRIPTOR"):
                    yield from _tensors(item)


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
    for tensor in _tensors(model):
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
    # idle worker threads must not spin: after each call they would burn the CPU a server's event loop
    # needs (measured: serve's CPU per request fell from 2.3-5.6 ms to 1.0-1.4 ms for the tree models)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
