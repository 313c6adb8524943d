"""Running the ONNX graph: its label output given back as the model's classes, as the data holds them."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from modelkeel.errors import VerificationError
from modelkeel.runtime.session import as_classes, model_classes, session


def test_a_bool_targets_0_1_labels_are_given_back_as_false_true():
    """skl2onnx writes a bool class as the integer it equals; each is given back as the class."""
    labels = as_classes(np.array([0, 1, 1], dtype=np.int64), [False, True])
    assert labels.dtype == bool and labels.tolist() == [False, True, True]
    assert as_classes(np.array([1, 2], dtype=np.int64), [1.0, 2.0]).tolist() == [1.0, 2.0]


def test_integer_and_text_labels_are_already_the_classes():
    numbers = np.array([3, 1, 2], dtype=np.int64)
    assert as_classes(numbers, [1, 2, 3]) is numbers
    text = np.array(["no", "yes"], dtype=object)
    assert as_classes(text, ["no", "yes"]) is text
    assert as_classes(numbers, None) is numbers, "a model without classes metadata answers what the graph does"


def test_a_label_that_stands_for_no_class_is_a_model_that_disagrees_with_its_metadata():
    with pytest.raises(VerificationError, match=r"label\(s\) \[2\] that stand for none of its classes \[False, True\]"):
        as_classes(np.array([0, 2], dtype=np.int64), [False, True])


def identity_model(metadata: dict[str, str]) -> bytes:
    """A one-node ONNX graph carrying the given metadata."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.helper.set_model_props(model, metadata)
    return model.SerializeToString()


def test_the_classes_are_read_from_the_models_metadata_as_json_values():
    assert model_classes(session(identity_model({"classes": "[false, true]"}))) == [False, True]
    assert model_classes(session(identity_model({"classes": '["no", "yes"]'}))) == ["no", "yes"]
    assert model_classes(session(identity_model({}))) is None
    with pytest.raises(VerificationError, match="`classes` metadata is not JSON"):
        model_classes(session(identity_model({"classes": "[False, True]"})))
    with pytest.raises(VerificationError, match="`classes` metadata is not a list"):
        model_classes(session(identity_model({"classes": '{"a": 1}'})))
