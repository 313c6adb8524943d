"""Running an ONNX model in onnxruntime: the session, and the outputs by name.

Used by the parity gate at export time and by `verify`, `predict` and serving anywhere
later; it imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

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


def model_classes(sess) -> list | None:
    """The classes a classifier's graph carries in its metadata (`classes`, JSON), as the data holds them:
    true/false for a bool target, numbers for a numeric one, text for text; None when it has none."""
    metadata = sess.get_modelmeta().custom_metadata_map
    if "classes" not in metadata:
        return None
    try:
        classes = json.loads(metadata["classes"])
    except ValueError as error:
        raise VerificationError(f"the ONNX model's `classes` metadata is not JSON ({error})") from None
    if not isinstance(classes, list):
        raise VerificationError(f"the ONNX model's `classes` metadata is not a list: {metadata['classes'][:80]!r}")
    return classes


def as_classes(label: np.ndarray, classes: Sequence | None) -> np.ndarray:
    """The graph's label output as the model's own classes.

    skl2onnx writes numeric class labels into the graph as integers: a bool target's False/True
    come out as 0/1 (and 1.0 as 1). Each is given back as the class it stands for, so a bool
    target's predictions are True/False, as in the data and in `classes`; integer and text labels
    are already the classes and pass unchanged.
    """
    if not classes or label.dtype.kind not in "iu":
        return label
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return label
    encoded = np.array([int(c) for c in classes], dtype=np.int64)  # the graph's labels, in `classes` order
    order = np.argsort(encoded, kind="stable")
    at = np.minimum(np.searchsorted(encoded[order], label), len(order) - 1)
    found = np.where(encoded[order][at] == label, order[at], -1)
    if (found < 0).any():
        raise VerificationError(
            f"the ONNX model answered the label(s) {sorted(set(label[found < 0].tolist()))[:5]} that stand for "
            f"none of its classes {list(classes)}: the model and its `classes` metadata disagree; do not use it"
        )
    return np.asarray(classes)[found]


def onnx_outputs(task: str, sess, feed: dict[str, np.ndarray], classes: Sequence | None = None) -> dict:
    """Run the graph. `feed` maps each raw column, in signature order, to its (n, 1) array; the graph's
    inputs come in the same order (skl2onnx renames columns whose names are not identifiers).

    With the model's `classes`, a classifier's labels are given as those classes (`as_classes`)."""
    inputs = [i.name for i in sess.get_inputs()]
    if len(inputs) != len(feed):
        raise GateError(f"the ONNX model takes {len(inputs)} inputs but {len(feed)} columns were given")
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(None, dict(zip(inputs, feed.values(), strict=True))), strict=True))
    if task == "classification":
        return {"label": as_classes(outputs["label"].reshape(-1), classes), "value": outputs["probabilities"]}
    return {"value": outputs["variable"].reshape(-1)}
