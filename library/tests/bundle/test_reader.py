"""Opening a bundle: checked once (checksums, layout, model hashes), parsed once, shared by every load path."""

import json
import shutil

import pandas as pd
import pytest

from modelkeel.bundle.checksums import render
from modelkeel.bundle.layout import CHECKSUMS, LINEAGE, MODEL
from modelkeel.bundle.reader import open_bundle
from modelkeel.errors import VerificationError
from modelkeel.runtime.model import load_model
from modelkeel.runtime.scoring import predict


@pytest.fixture()
def copy(bundle_dir, tmp_path):
    target = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, target)
    return target


def test_an_opened_bundle_carries_its_records_and_builds_its_session_once(bundle_dir, settings):
    bundle = open_bundle(bundle_dir)
    assert bundle.version == json.loads((bundle_dir / LINEAGE).read_text())["version"]
    assert bundle.features == list(settings.data.features)
    assert bundle.metrics["primary_metric"] == settings.quality.primary_metric
    assert set(bundle.checksums) == {p.name for p in bundle_dir.iterdir()} - {CHECKSUMS}
    assert bundle.session is bundle.session, "the onnxruntime session is built once per opened bundle"
    assert set(bundle.schema_columns) >= set(settings.data.features)


def test_a_swapped_model_with_recomputed_checksums_is_refused(copy, tmp_path):
    """SHA256SUMS alone can be recomputed; the lineage and parity records name the model that was checked."""
    model = bytearray((copy / MODEL).read_bytes())
    model[-1] ^= 0x01
    (copy / MODEL).write_bytes(bytes(model))
    (copy / CHECKSUMS).write_text(render(copy))
    with pytest.raises(VerificationError, match=r"lineage.json names model sha256 .* the model was swapped"):
        open_bundle(copy)


def test_every_load_path_refuses_a_tampered_bundle(copy, settings, tmp_path):
    (copy / "model_card.md").write_text("not the card that was released\n")
    with pytest.raises(VerificationError, match=r"model_card.md: checksum mismatch"):
        load_model(path=copy, allow_unsigned=True)
    rows = tmp_path / "rows.csv"
    pd.DataFrame(json.loads((copy / "input_example.json").read_text())["rows"]).to_csv(rows, index=False)
    with pytest.raises(VerificationError, match=r"model_card.md: checksum mismatch"):
        predict(copy, rows, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_a_folder_that_is_not_a_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(VerificationError, match=r"SHA256SUMS is missing"):
        open_bundle(tmp_path)
    with pytest.raises(VerificationError, match=r"not a bundle folder"):
        open_bundle(tmp_path / "nowhere")


def _recorded_as(copy, model_bytes):
    """What an attacker does after swapping the model: every record names the new model's sha256."""
    import hashlib

    sha = hashlib.sha256(model_bytes).hexdigest()
    (copy / MODEL).write_bytes(model_bytes)
    lineage = json.loads((copy / LINEAGE).read_text())
    lineage["model"]["sha256"] = sha
    (copy / LINEAGE).write_text(json.dumps(lineage))
    parity = json.loads((copy / "parity.json").read_text())
    parity["onnx_sha256"] = sha
    (copy / "parity.json").write_text(json.dumps(parity))
    (copy / CHECKSUMS).write_text(render(copy))


def test_a_model_with_external_data_is_refused_before_any_file_is_read(copy, tmp_path, monkeypatch):
    """A tensor stored as ONNX external data names a file that onnxruntime would read from the working folder."""
    import onnx
    from onnx import helper

    model = onnx.load_model_from_string((copy / MODEL).read_bytes())
    tensor = helper.make_tensor("planted", onnx.TensorProto.FLOAT, [4], [0.0] * 4)  # any model can carry one
    tensor.ClearField("float_data")
    model.graph.initializer.append(tensor)
    tensor = model.graph.initializer[-1]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", ".env"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    _recorded_as(copy, model.SerializeToString())
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SECRET=do-not-leak\n")
    with pytest.raises(VerificationError, match=r"tensor 'planted' is stored as external data \('.env'\)"):
        load_model(path=copy, allow_unsigned=True)
    with pytest.raises(VerificationError, match=r"stored as external data"):
        open_bundle(copy)


def test_a_model_that_is_not_onnx_is_refused_when_opened(copy):
    _recorded_as(copy, b"not a protobuf at all \xff\xfe")
    with pytest.raises(VerificationError, match=r"model.onnx: not an ONNX model"):
        open_bundle(copy)


@pytest.mark.parametrize("found", [0, -1, True, "1", 1.0, None, 99])
def test_a_bundle_format_must_be_a_positive_integer_this_runtime_reads(copy, found):
    lineage = json.loads((copy / LINEAGE).read_text())
    lineage["bundle_format"] = found
    (copy / LINEAGE).write_text(json.dumps(lineage))
    (copy / CHECKSUMS).write_text(render(copy))
    expected = "newer than this runtime supports" if found == 99 else "is not a positive integer"
    with pytest.raises(VerificationError, match=expected):
        open_bundle(copy)


def test_external_data_hidden_in_a_sparse_constant_is_refused_too(copy):
    """A Constant node's sparse_value is a tensor too: every TensorProto in the model is checked, wherever it sits."""
    import onnx
    from onnx import helper

    model = onnx.load_model_from_string((copy / MODEL).read_bytes())
    values = helper.make_tensor("hidden", onnx.TensorProto.FLOAT, [1], [0.0])
    values.ClearField("float_data")
    values.data_location = onnx.TensorProto.EXTERNAL
    entry = values.external_data.add()
    entry.key, entry.value = "location", "secret.bin"
    sparse = helper.make_sparse_tensor(values, helper.make_tensor("at", onnx.TensorProto.INT64, [1], [0]), [4])
    model.graph.node.append(helper.make_node("Constant", [], ["unused_constant"], sparse_value=sparse))
    _recorded_as(copy, model.SerializeToString())
    with pytest.raises(VerificationError, match=r"tensor 'hidden' is stored as external data \('secret.bin'\)"):
        open_bundle(copy)
