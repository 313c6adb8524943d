"""A data manifest is parsed field by field (a hostile one fails closed), checked against lineage, and uploaded
to the data store only with the bytes it names."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest

from modelkeel.data.manifest import Manifest, ManifestFile, of_bundle, parse, safe_relative, store_release_data, upload
from modelkeel.data.store import DataStore
from modelkeel.errors import DataStoreError, VerificationError

SHA = "a" * 64


def entry(**changes) -> dict:
    return {"role": "train", "path": "data/raw/x.csv", "sha256": SHA, "bytes": 3, "rows": 1, **changes}


def document(*files: dict, **changes) -> bytes:
    return json.dumps(
        {"manifest_format": 1, "name": "p", "version": "1.0.0", "files": list(files), "parent": None, **changes}
    ).encode()


def test_a_manifest_round_trips_through_its_bytes():
    made = Manifest("p", "1.0.0", (ManifestFile("batch", "data/incoming/b.csv", SHA, 3, 1, "s3://b/b.csv", True),))
    assert parse(made.render(), "here") == made


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"\xff not json", "not JSON"),
        (document(manifest_format=2), "manifest_format must be 1"),
        (document(name="../x"), "name '../x' is not a plain name"),
        (document(entry(role="model")), "role 'model' is none of"),
        (document(entry(path="")), "path is not a path"),
        (document(entry(path="a\0b")), "path is not a path"),
        (document(entry(sha256="A" * 64)), "sha256 is not 64 lowercase hex"),
        (document(entry(bytes=-1)), "bytes is not a whole number"),
        (document(entry(rows=True)), "rows is not a whole number"),
        (document(entry(held_out="yes")), "held_out is not true or false"),
        (document(parent={"version": "1.0.0", "sha256": "x"}), "parent must name a version"),
        (document(files={"not": "a list"}), "files must be a list"),
    ],
)
def test_a_malformed_manifest_is_refused_naming_the_field(data, complaint):
    with pytest.raises(VerificationError, match="not a valid data manifest: (files\\[0\\]\\.)?" + re.escape(complaint)):
        parse(data, "bundle/data_manifest.json")


def test_paths_restored_inside_a_folder_must_stay_inside_it():
    assert safe_relative("data/raw/x.csv") is not None
    assert safe_relative("../outside.csv") is None
    assert safe_relative("/etc/passwd") is None
    assert safe_relative("data/../../x") is None


def test_a_manifest_lineage_does_not_pin_is_refused(signed_bundle_dir, tmp_path):
    copy = tmp_path / signed_bundle_dir.name
    shutil.copytree(signed_bundle_dir, copy)
    lineage = json.loads((copy / "lineage.json").read_text())
    assert of_bundle(copy, lineage) is not None
    (copy / "data_manifest.json").write_bytes(document(entry()))
    with pytest.raises(VerificationError, match=r"not the one lineage\.json records"):
        of_bundle(copy, lineage)
    (copy / "data_manifest.json").unlink()
    with pytest.raises(VerificationError, match="disagree on whether the bundle has a data manifest"):
        of_bundle(copy, lineage)
    del lineage["data_manifest"]
    assert of_bundle(copy, lineage) is None, "a bundle from before manifests has none"


def test_upload_stores_each_file_once_then_records_the_manifest(settings, bundle_dir, store_url):
    store = DataStore(store_url.url, store_url.storage_options)
    lineage = json.loads((bundle_dir / "lineage.json").read_text())
    made = store_release_data(settings, bundle_dir, lineage, store)
    assert sorted(s.sha256 for s in store.objects()) == sorted({f.sha256 for f in made.files})
    data = (bundle_dir / "data_manifest.json").read_bytes()
    name = f"manifests/{made.name}/{made.version}+{hashlib.sha256(data).hexdigest()}.json"
    assert store.records(f"manifests/{made.name}") == [name] and store.get_record(name) == data
    assert upload(settings, store, made.files) == [], "what the store holds is not uploaded again"


def test_a_file_that_is_neither_here_nor_in_the_store_stops_the_release(settings, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    changed = ManifestFile("train", settings.data.path, SHA, 3, 1)  # the file is here, but not with these bytes
    with pytest.raises(DataStoreError, match="is neither here with those bytes nor in the data store"):
        upload(settings, store, [changed])
    assert store.objects() == []
