"""Lineage: which code, data, params and environment made a bundle, printed for people."""

from modelkeel.bundle.lineage import environment, format_lineage
from modelkeel.bundle.reader import open_bundle


def test_lineage_reads_well(bundle_dir, validated):
    text = format_lineage(open_bundle(bundle_dir).lineage)
    data_files = [f["path"] for f in validated.snapshot["files"]]  # the files data.path names, whatever they are
    assert data_files
    for fragment in (
        "code:",
        "data:",
        *data_files,
        "schema:",
        "params:",
        "env:",
        "scikit-learn",
        "model.onnx sha256",
    ):
        assert fragment in text


def test_the_environment_names_the_model_familys_own_libraries():
    base = environment()["packages"]
    assert base["scikit-learn"] and base["skl2onnx"] and "lightgbm" not in base
    for family, library in (("lightgbm", "lightgbm"), ("xgboost", "xgboost")):
        packages = environment(family)["packages"]
        assert packages[library] and packages["onnxmltools"], packages  # installed, whichever xgboost build
        assert set(base) < set(packages)


def test_lineage_names_the_file_freeze_trusted_split_the_training_data_from(bundle_dir):
    lineage = open_bundle(bundle_dir).lineage
    assert "split from" not in format_lineage(lineage)
    split = {
        "path": "data/raw/flights.csv",
        "sha256": "a" * 64,
        "training": "data/prepared/flights_train.csv",
        "trusted": {"path": "data/trusted/flights_trusted.csv", "sha256": "b" * 64},
    }
    text = format_lineage({**lineage, "split_from": split})
    assert (
        "data/prepared/flights_train.csv and the trusted set data/trusted/flights_trusted.csv were split from "
        f"data/raw/flights.csv (sha256 {'a' * 64})"
    ) in text
