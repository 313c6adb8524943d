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


@pytest.fixture(scope="module")
def project_settings():
    """The fixed project's settings (one task: uploading does not depend on it)."""
    from modelkeel.settings import load_settings

    from ..conftest import PROJECT_ROOT

    return load_settings(PROJECT_ROOT / "params.yaml")


@pytest.fixture
def data_on_s3(s3_server, monkeypatch):
    """A bucket of the S3 server for training data, its credentials in the environment as a project sets them;
    `put(name, data)` writes an object there and gives its URL."""
    for key, value in s3_server.environment.items():
        monkeypatch.setenv(key, value)
    bucket, fs = s3_server.new_bucket(), s3_server.filesystem()

    def put(name: str, data: bytes) -> str:
        fs.pipe_file(f"{bucket}/data/{name}", data)
        return f"s3://{bucket}/data/{name}"

    return put


def behind(url: str, data: bytes, role: str = "train") -> ManifestFile:
    """The manifest entry of `data` read from `url` in place (the Dask engine): its path names a copy never made."""
    path = "artifacts/snapshot/data/s3/" + url.removeprefix("s3://")
    return ManifestFile(role, path, hashlib.sha256(data).hexdigest(), len(data), data.count(b"\n") - 1, url)


def test_a_file_read_behind_a_url_and_never_copied_is_streamed_from_it_into_the_store(
    project_settings, store_url, data_on_s3, tmp_path
):
    """The Dask engine reads data.path's URLs in place: with no copy here, the release stores each file from its
    URL (checked against its sha256), where it failed before with "neither here ... nor in the data store"."""
    data = b"id,label\n" + b"".join(b"%d,yes\n" % i for i in range(50_000))  # several of the store's 1 MiB chunks
    entry = behind(data_on_s3("part-0.csv", data), data)
    assert not (project_settings.root / entry.path).exists()
    store = DataStore(store_url.url, store_url.storage_options)
    assert upload(project_settings, store, [entry]) == [entry.sha256]
    assert store.get(entry.sha256, tmp_path / "back.csv", size=len(data)).bytes == len(data)
    assert (tmp_path / "back.csv").read_bytes() == data
    assert store.staged() == [] and [s.sha256 for s in store.objects()] == [entry.sha256]
    assert upload(project_settings, store, [entry]) == [], "what the store holds is not read from the URL again"


@pytest.mark.parametrize(
    ("now", "complaint"),
    [
        (b"id,label\n2,yes\n", r"the object now gives other bytes \(its 15 bytes hash to [0-9a-f]{64}"),  # same size
        (b"id,label\n1,yes\n2,no\n", "the object now holds 20 bytes"),
    ],
)
def test_a_file_that_changed_behind_its_url_is_refused_and_nothing_is_stored(
    project_settings, store_url, data_on_s3, now, complaint
):
    trained_on = b"id,label\n1,yes\n"
    url = data_on_s3("part-0.csv", trained_on)
    entry = behind(url, trained_on)
    data_on_s3("part-0.csv", now)  # replaced after training
    store = DataStore(store_url.url, store_url.storage_options)
    with pytest.raises(DataStoreError, match=re.escape(url) + r" \(.*\) changed since the model was trained on it.* "
                       + complaint + r".*Nothing was stored"):  # fmt: skip
        upload(project_settings, store, [entry])
    assert store.objects() == [] and store.staged() == []


def test_a_file_gone_from_its_url_and_from_the_store_stops_the_release(
    project_settings, tmp_path, data_on_s3, s3_server
):
    data = b"id,label\n1,yes\n"
    url = data_on_s3("gone.csv", data)
    s3_server.filesystem().rm(url.removeprefix("s3://"))
    store = DataStore(str(tmp_path / "store"))
    with pytest.raises(DataStoreError, match=re.escape(url) + r" .*no object there any more"):
        upload(project_settings, store, [behind(url, data)])
    assert store.objects() == []
