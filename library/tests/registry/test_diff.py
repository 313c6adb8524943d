"""Diff of two bundles and the bump it requires; reproducible builds."""

import json
import re
import shutil

import pytest
import yaml

from modelkeel.bundle.checksums import render
from modelkeel.bundle.reader import open_bundle
from modelkeel.registry import diff
from modelkeel.settings import DataSettings, PathSettings
from modelkeel.stages.pipeline import run_pipeline


@pytest.fixture(scope="module")
def second_build(settings, tmp_path_factory):
    """The same code, data, params and seed built again, elsewhere."""
    scratch = tmp_path_factory.mktemp("again")
    return run_pipeline(
        settings.model_copy(
            update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
        )
    ).bundle.folder


NEW_ROWS = 40


@pytest.fixture(scope="module")
def retrained(settings, validated, tmp_path_factory):
    """Retrained on the training data plus a new file (some of its rows again): new data, same signature."""
    scratch = tmp_path_factory.mktemp("retrained")
    extra = scratch / "more.csv"
    validated.frame.head(NEW_ROWS).to_csv(extra, index=False)
    paths = [settings.data.path] if isinstance(settings.data.path, str) else list(settings.data.path)
    data = settings.data.model_dump(by_alias=True)
    data["path"] = [*paths, str(extra)]
    bundle = run_pipeline(
        settings.model_copy(
            update={
                "data": DataSettings.model_validate(data),
                "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
            }
        )
    ).bundle.folder
    return bundle, settings.data.path, data["path"]


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
    folder, old_path, new_path = retrained
    changes = diff.diff(open_bundle(bundle_dir), open_bundle(folder))
    assert changes["data"]["changed"]
    added = json.loads((folder / "lineage.json").read_text())["data"]["files"][-1]["path"]
    assert added.endswith("more.csv") and changes["data"]["added"] == [added]
    assert changes["data"]["rows"]["new"] == changes["data"]["rows"]["old"] + NEW_ROWS
    assert changes["params"] == {"data.path": dict(old=old_path, new=new_path)}
    assert not changes["model"]["identical"]
    assert diff.required_bump(changes)[0] == "minor"
    text = diff.format_diff(changes)
    assert f"+ {added}" in text and "required bump: minor" in text


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
    columns = base.schema_columns
    features = settings.data.features  # the target's classes are the model's outputs: a change there is major
    listed = next((c for c, s in columns.items() if c in features and "isin" in s and len(s["isin"]) > 1), None)
    nullable = next((c for c, spec in columns.items() if spec["nullable"]), None)
    bounded = next((c for c, spec in columns.items() if "greater_than_or_equal_to" in spec), None)

    def edit_column(column, change):
        def apply(folder):
            schema = yaml.safe_load((folder / "schema.yaml").read_text())
            change(schema["columns"][column])
            (folder / "schema.yaml").write_text(yaml.safe_dump(schema))

        return apply

    stricter, looser = {}, {}
    if listed is not None:
        stricter["fewer values"] = edit_column(listed, lambda c: c.update(isin=c["isin"][:1]))
        looser["more values"] = edit_column(listed, lambda c: c.update(isin=[*c["isin"], "Elsewhere"]))
    if nullable is not None:
        stricter["no missing values"] = edit_column(nullable, lambda c: c.update(nullable=False))
    if bounded is not None:
        raise_low = edit_column(bounded, lambda c: c.update(greater_than_or_equal_to=c["greater_than_or_equal_to"] + 1))
        lower_low = edit_column(bounded, lambda c: c.update(greater_than_or_equal_to=c["greater_than_or_equal_to"] - 1))
        stricter["higher minimum"], looser["lower minimum"] = raise_low, lower_low
    if not stricter:
        pytest.skip("the contract has no allowed values, nullable column or range to tighten or loosen")
    for name, change in stricter.items():
        changes = diff.diff(base, edited(bundle_dir, tmp_path, name.replace(" ", "-"), change))
        assert diff.required_bump(changes)[0] == "major", name
    for name, change in looser.items():
        changes = diff.diff(base, edited(bundle_dir, tmp_path, name.replace(" ", "-"), change))
        assert changes["schema"] and diff.required_bump(changes)[0] == "patch", name


NUMBER = {"dtype": "int64", "nullable": False, "greater_than_or_equal_to": 1, "less_than_or_equal_to": 12}
TEXT = {"dtype": "str", "nullable": True, "isin": ["a", "b"]}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (NUMBER, {**NUMBER, "dtype": "float64"}),  # a float accepts every int
        (NUMBER, {**NUMBER, "dtype": "int64", "nullable": True}),
        (NUMBER, {**NUMBER, "greater_than_or_equal_to": 0, "less_than_or_equal_to": 31}),
        (NUMBER, {"dtype": "int64", "nullable": False}),  # bounds removed
        (NUMBER, {**NUMBER, "greater_than_or_equal_to": None, "in_range": {"min_value": 0, "max_value": 12}}),
        ({**NUMBER, "greater_than": 1}, {**NUMBER, "greater_than": None}),  # > 1 and >= 1 became >= 1
        (TEXT, {**TEXT, "isin": ["a", "b", "c"]}),
        (TEXT, {"dtype": "str", "nullable": True}),  # any value
        (TEXT, {**TEXT, "description": "the colour", "title": "Colour"}),  # words, not rules
        ({**TEXT, "notin": ["x", "y"]}, {**TEXT, "notin": ["x"]}),
    ],
)
def test_a_contract_that_only_widens_what_it_accepts_does_not_break_consumers(old, new):
    assert diff.breaks_consumers(old, new) is None
    changes = {"signature": {}, "schema": {"c": {"old": old, "new": new}}, "data": {"changed": False}, "target": "y"}
    assert diff.required_bump(changes)[0] == "patch"


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ({**NUMBER, "dtype": "float64"}, NUMBER, "type float64 -> int64"),
        ({**NUMBER, "dtype": "int64"}, {**NUMBER, "dtype": "str"}, "type int64 -> str"),
        ({**NUMBER, "nullable": True}, NUMBER, "no longer accepts missing values"),
        (NUMBER, {**NUMBER, "less_than_or_equal_to": 6}, r"narrower range \(upper bound <= 12 -> <= 6\)"),
        ({"dtype": "int64", "nullable": False}, NUMBER, r"narrower range \(lower bound none -> >= 1\)"),
        (NUMBER, {**NUMBER, "greater_than": 1}, r"lower bound >= 1 -> > 1"),  # the same number, now excluded
        (NUMBER, {**NUMBER, "in_range": {"min_value": 2, "max_value": 12}}, "lower bound"),
        (TEXT, {**TEXT, "isin": ["a"]}, "accepts fewer values"),
        ({"dtype": "str", "nullable": True}, TEXT, "accepts fewer values"),
        (TEXT, {**TEXT, "notin": ["x"]}, "refuses more values"),
        (TEXT, {**TEXT, "str_length": {"min_value": 1, "max_value": 3}}, "check str_length added"),
        (TEXT, {**TEXT, "unique": True}, "unique"),
    ],
)
def test_a_contract_that_narrows_what_it_accepts_breaks_consumers(old, new, why):
    assert re.search(why, diff.breaks_consumers(old, new) or "")
    changes = {"signature": {}, "schema": {"c": {"old": old, "new": new}}, "data": {"changed": False}, "target": "y"}
    assert diff.required_bump(changes)[0] == "major"


@pytest.mark.parametrize("settings", ["classification"], indirect=True)  # a regression has no classes
def test_a_classifier_whose_classes_changed_is_major_though_its_schema_holds_them_as_expectations(
    settings, bundle_dir, tmp_path
):
    base = open_bundle(bundle_dir)
    other = edited(bundle_dir, tmp_path, "classes", lambda folder: None)
    other.__dict__["classes"] = [*base.classes, "Emperor"]  # as a model trained on a fourth species would say
    changes = diff.diff(base, other)
    assert changes["signature"]["classes"] == {"old": base.classes, "new": [*base.classes, "Emperor"]}
    kind, reasons = diff.required_bump(changes)
    assert kind == "major" and "signature classes changed" in reasons
    assert "classes" not in diff.diff(base, open_bundle(bundle_dir))["signature"]


def test_expectations_never_reach_the_schema_so_never_break_consumers(settings, bundle_dir):
    """The contract's expectations are in reference.json, not schema.yaml: moving one changes no schema column."""
    from modelkeel.data.contract import contract_expectations, load_schema_model

    bundle = open_bundle(bundle_dir)
    expectations = contract_expectations(load_schema_model(settings))
    assert expectations and bundle.reference["expectations"] == expectations
    assert all("metadata" not in spec and "expect" not in spec for spec in bundle.schema_columns.values())


def test_a_folder_that_is_not_a_bundle_is_a_clear_error(bundle_dir, tmp_path):
    from modelkeel.errors import VerificationError

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
