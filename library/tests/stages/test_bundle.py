"""The bundle stage: what a bundle holds, what its lineage pins, and that it is built only from fresh results."""

import json

import pytest

from modelkeel.bundle.layout import CHECKSUMS
from modelkeel.data.manifest import of_bundle
from modelkeel.errors import GateError, StageOrderError
from modelkeel.settings import PathSettings
from modelkeel.stages import bundle
from modelkeel.stages.pipeline import (
    run_evaluate,
    run_pipeline,
    run_train,
)
from modelkeel.utils.hashing import sha256_file

EXPECTED = {
    "model.onnx",
    "metrics.json",
    "parity.json",
    "schema.yaml",
    "signature.json",
    "input_example.json",
    "lineage.json",
    "model_card.md",
    "reference.json",
    "data_manifest.json",
    "feature_importance.png",
    CHECKSUMS,
}


def test_bundle_holds_the_release_unit(bundle_dir, settings):
    names = {p.name for p in bundle_dir.iterdir()}
    plot = "confusion_matrix.png" if settings.task == "classification" else "residuals.png"
    assert names == EXPECTED | {plot}
    assert bundle_dir.with_name(bundle_dir.name + ".tar.gz").is_file()
    assert not list(bundle_dir.parent.glob(".*.tmp")), "no staging folder is left behind"


def test_lineage_pins_data_params_code_and_environment(bundle_dir, settings, validated):
    lineage = json.loads((bundle_dir / "lineage.json").read_text())
    assert lineage["data"]["fingerprint"] == validated.snapshot["fingerprint"]
    assert all(len(f["sha256"]) == 64 and f["rows"] > 0 for f in lineage["data"]["files"])
    assert lineage["params_hash"] == settings.params_hash()
    assert lineage["seed"] == settings.seed
    assert {"scikit-learn", "skl2onnx", "onnx", "onnxruntime", "pandera"} <= set(lineage["environment"]["packages"])
    assert "commit" in lineage["git"] and "dirty" in lineage["git"]


def test_the_data_manifest_lists_every_file_training_read_and_lineage_pins_it(bundle_dir, settings, validated):
    lineage = json.loads((bundle_dir / "lineage.json").read_text())
    manifest = of_bundle(bundle_dir, lineage)
    assert lineage["data_manifest"]["sha256"] == sha256_file(bundle_dir / "data_manifest.json")
    assert (manifest.name, manifest.version, manifest.parent) == (lineage["name"], lineage["version"], None)
    snapshot = validated.snapshot["files"]
    assert [(f.role, f.path, f.sha256, f.bytes, f.rows) for f in manifest.trained_on] == [
        ("train", f["path"], f["sha256"], f["bytes"], f["rows"]) for f in snapshot
    ]
    trusted = [f for f in manifest.files if f.role == "trusted"]
    assert [(f.path, f.sha256) for f in trusted] == [(settings.retrain.trusted.path, settings.retrain.trusted.sha256)]
    assert all(sha256_file(settings.root / f.path) == f.sha256 for f in manifest.files)


def test_the_model_card_says_what_the_model_is_and_what_made_it(bundle_dir, settings):
    card = (bundle_dir / "model_card.md").read_text()
    lineage = json.loads((bundle_dir / "lineage.json").read_text())
    packages = lineage["environment"]["packages"]
    section = card[card.index("## Model") : card.index("## Data")]
    assert f"`{settings.model.type}`" in section
    assert all(f"{key} {value}" in section for key, value in settings.model.model_dump().items() if key != "type")
    assert f"skl2onnx {packages['skl2onnx']}" in section and f"opset {settings.parity.target_opset}" in section
    library = settings.model.type if settings.model.type in ("lightgbm", "xgboost") else "scikit-learn"
    assert f"Trained with {library} {packages[library]}" in section
    assert ("onnxmltools" in section) == (library != "scikit-learn")


def test_reference_json_carries_the_contracts_expectations_by_the_columns_data_names(bundle_dir, settings):
    from modelkeel.data.contract import load_schema_model

    expectations = json.loads((bundle_dir / "reference.json").read_text())["expectations"]
    columns = load_schema_model(settings).to_schema().columns
    # penguins: every measurement's observed range, the islands, the years; sex and species are hard checks only
    assert expectations == {name: c.metadata["expect"] for name, c in columns.items() if c.metadata}
    assert expectations["bill_length_mm"] == {"ge": 33.1, "le": 59.6}
    assert expectations["island"] == {"isin": ["Biscoe", "Dream", "Torgersen"]} and "sex" not in expectations


def test_a_retrained_model_never_ships_the_previous_onnx(settings, tmp_path):
    isolated = settings.model_copy(
        update={"paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist"))}
    )
    run_pipeline(isolated)
    reseeded = isolated.model_copy(update={"seed": isolated.seed + 1})
    trained = run_train(reseeded)
    run_evaluate(reseeded, trained)
    with pytest.raises((StageOrderError, GateError), match="export"):
        bundle.build(reseeded, trained.validated, bundle.inputs_from_artifacts(reseeded, trained.validated))


def test_the_tarball_beside_a_bundle_is_that_bundle(bundle_dir):
    import io
    import tarfile

    with tarfile.open(bundle_dir.with_name(bundle_dir.name + ".tar.gz")) as tar:
        packed = tar.extractfile(f"{bundle_dir.name}/{CHECKSUMS}")
        assert packed is not None
        assert io.TextIOWrapper(packed).read() == (bundle_dir / CHECKSUMS).read_text()
