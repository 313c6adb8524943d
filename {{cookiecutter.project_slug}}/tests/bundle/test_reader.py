"""Opening a bundle: checked once (checksums, layout, model hashes), parsed once, shared by every load path."""

import json
import shutil

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.bundle.checksums import render
from {{ cookiecutter.package_name }}.bundle.layout import CHECKSUMS, LINEAGE, MODEL
from {{ cookiecutter.package_name }}.bundle.reader import open_bundle
from {{ cookiecutter.package_name }}.errors import VerificationError
from {{ cookiecutter.package_name }}.runtime.model import load_model
from {{ cookiecutter.package_name }}.runtime.scoring import predict


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
        load_model(path=copy)
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
