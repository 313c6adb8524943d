"""Diff of two bundles and the bump it requires; reproducible builds."""

import json
import shutil

import pytest
import yaml

from {{ cookiecutter.package_name }}.bundle.checksums import render
from {{ cookiecutter.package_name }}.bundle.reader import open_bundle
from {{ cookiecutter.package_name }}.registry import diff
from {{ cookiecutter.package_name }}.settings import DataSettings, PathSettings
from {{ cookiecutter.package_name }}.stages.pipeline import run_pipeline


@pytest.fixture(scope="module")
def second_build(settings, tmp_path_factory):
    """The same code, data, params and seed built again, elsewhere."""
    scratch = tmp_path_factory.mktemp("again")
    return run_pipeline(
        settings.model_copy(
            update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
        )
    ).bundle.folder


@pytest.fixture(scope="module")
def retrained(settings, tmp_path_factory):
    """Retrained on the training data plus the 2009 season: new data, same signature."""
    scratch = tmp_path_factory.mktemp("retrained")
    data = settings.data.model_dump(by_alias=True)
    data["path"] = ["data/raw/penguins.csv", "data/samples/penguins_2009.csv"]
    return run_pipeline(
        settings.model_copy(
            update={
                "data": DataSettings.model_validate(data),
                "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
            }
        )
    ).bundle.folder


def edited(bundle_dir, tmp_path, name, change):
    copy = tmp_path / name
    shutil.copytree(bundle_dir, copy)
    change(copy)
    (copy / "SHA256SUMS").write_text(render(copy))  # another build, checksummed as every bundle is
    return open_bundle(copy)


def test_same_inputs_give_a_byte_identical_model(bundle_dir, second_build):
    assert (bundle_dir / "model.onnx").read_bytes() == (second_build / "model.onnx").read_bytes()
    changes = diff.diff(open_bundle(bundle_dir), open_bundle(second_build))
    assert changes["model"]["identical"] and not changes["params"] and not changes["data"]["changed"]
    assert diff.required_bump(changes)[0] == "patch"


def test_new_data_is_a_minor_bump_and_diff_names_the_files(bundle_dir, retrained):
    changes = diff.diff(open_bundle(bundle_dir), open_bundle(retrained))
    assert changes["data"]["changed"]
    assert changes["data"]["added"] == ["data/samples/penguins_2009.csv"]
    assert changes["data"]["rows"]["new"] == changes["data"]["rows"]["old"] + 120
    path_change = {"old": "data/raw/penguins.csv", "new": ["data/raw/penguins.csv", "data/samples/penguins_2009.csv"]}
    assert changes["params"] == {"data.path": path_change}
    assert not changes["model"]["identical"]
    assert diff.required_bump(changes)[0] == "minor"
    text = diff.format_diff(changes)
    assert "+ data/samples/penguins_2009.csv" in text and "required bump: minor" in text


def test_signature_or_schema_type_change_is_major(bundle_dir, tmp_path):
    base = open_bundle(bundle_dir)

    def drop_input(folder):
        signature = json.loads((folder / "signature.json").read_text())
        signature["inputs"] = signature["inputs"][1:]
        (folder / "signature.json").write_text(json.dumps(signature))

    def retype_column(folder):
        schema = yaml.safe_load((folder / "schema.yaml").read_text())
        column = next(iter(schema["columns"]))
        schema["columns"][column]["dtype"] = "int64"
        (folder / "schema.yaml").write_text(yaml.safe_dump(schema))

    for name, change in (("signature", drop_input), ("schema", retype_column)):
        kind, reasons = diff.required_bump(diff.diff(base, edited(bundle_dir, tmp_path, name, change)))
        assert kind == "major", name
        assert reasons


def test_a_stricter_schema_is_major_and_a_looser_one_is_not(bundle_dir, tmp_path, settings):
    base = open_bundle(bundle_dir)
    column = next(c for c, spec in base.schema_columns.items() if spec["nullable"] and "isin" in spec)  # e.g. sex

    def edit_column(change):
        def apply(folder):
            schema = yaml.safe_load((folder / "schema.yaml").read_text())
            change(schema["columns"][column])
            (folder / "schema.yaml").write_text(yaml.safe_dump(schema))

        return apply

    stricter = {
        "fewer values": edit_column(lambda c: c.update(isin=c["isin"][:1])),
        "no missing values": edit_column(lambda c: c.update(nullable=False)),
    }
    for name, change in stricter.items():
        changes = diff.diff(base, edited(bundle_dir, tmp_path, name.replace(" ", "-"), change))
        assert diff.required_bump(changes)[0] == "major", name
    looser = edit_column(lambda c: c.update(isin=[*c["isin"], "Elsewhere"], nullable=True))
    changes = diff.diff(base, edited(bundle_dir, tmp_path, "looser", looser))
    assert changes["schema"] and diff.required_bump(changes)[0] == "patch"


def test_a_folder_that_is_not_a_bundle_is_a_clear_error(bundle_dir, tmp_path):
    from {{ cookiecutter.package_name }}.errors import VerificationError

    folder = tmp_path / "partial"
    shutil.copytree(bundle_dir, folder)
    (folder / "lineage.json").unlink()
    (folder / "SHA256SUMS").write_text(render(folder))
    with pytest.raises(VerificationError, match=r"lineage\.json: missing"):
        open_bundle(folder)
    (folder / "lineage.json").write_text('{"bundle_format": 1, "trunc')
    (folder / "SHA256SUMS").write_text(render(folder))
    with pytest.raises(VerificationError, match="not valid JSON"):
        open_bundle(folder)
