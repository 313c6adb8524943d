"""gc keeps what a release or a waiting challenger references and what is too young to judge; forget removes one
object whatever references it and records why and what can no longer be rebuilt. On a folder and on S3."""

from __future__ import annotations

import json
import os
import time

import pytest

from modelkeel.data.retention import collect, forget
from modelkeel.data.store import DataStore
from modelkeel.errors import DataStoreError


def manifest(name: str, version: str, *shas: str) -> bytes:
    files = [{"role": "train", "path": f"data/{s[:6]}.csv", "sha256": s, "bytes": 1, "rows": 1} for s in shas]
    record = {"manifest_format": 1, "name": name, "version": version, "files": files, "parent": None}
    return json.dumps(record).encode()


def age(store: DataStore, key: str, hours: float) -> None:
    """Make a key look `hours` old: a local file's mtime (object stores keep their own clock; tests use min_age 0)."""
    then = time.time() - hours * 3600
    os.utime(key, (then, then))


@pytest.fixture()
def filled(store_url):
    store = DataStore(store_url.url, store_url.storage_options)
    kept = store.put(_stream(b"rows of a release")).sha256
    waiting = store.put(_stream(b"rows of a waiting challenger")).sha256
    loose = store.put(_stream(b"rows nobody references")).sha256
    store.put_record(f"manifests/demo/0.1.0+{'c' * 64}.json", manifest("demo", "0.1.0", kept))
    store.put_record("challengers/0.2.0.json", json.dumps({"files": {"model.onnx": {"sha256": waiting}}}).encode())
    return store, kept, waiting, loose


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


def test_gc_removes_only_what_nothing_references(filled):
    store, kept, waiting, loose = filled
    dry = collect(store, min_age_hours=0, dry_run=True)
    assert dry.removed == (loose,) and store.has(loose), "a dry run removes nothing"
    done = collect(store, min_age_hours=0)
    assert done.removed == (loose,) and done.kept == 2
    assert [s.sha256 for s in store.objects()] == sorted([kept, waiting])
    assert collect(store, min_age_hours=0).removed == (), "a second gc finds nothing more"


def test_gc_leaves_young_objects_and_interrupted_uploads_for_later(tmp_path):
    store = DataStore(str(tmp_path / "store"))
    loose = store.put(_stream(b"just uploaded, its manifest not yet recorded")).sha256
    staged = tmp_path / "store" / "staging" / "dead.partial"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(b"half an upload")
    young = collect(store, min_age_hours=24)
    assert young.removed == () and young.young == (loose,) and young.staging_removed == ()
    age(store, store.key(loose), 25)
    age(store, str(staged), 25)
    old = collect(store, min_age_hours=24)
    assert old.removed == (loose,) and old.staging_removed == (str(staged),)
    assert not staged.exists() and not store.has(loose)


def test_an_unreadable_record_stops_gc_before_it_removes_anything(filled):
    store, _, _, loose = filled
    store.put_record(f"manifests/demo/0.3.0+{'d' * 64}.json", b"{not json")
    with pytest.raises(DataStoreError, match="what it references cannot be told, so nothing was removed"):
        collect(store, min_age_hours=0)
    assert store.has(loose)


def test_forget_removes_a_referenced_object_and_records_who_why_and_what_breaks(filled):
    store, kept, _, _ = filled
    done = forget(store, kept, "erasure request 42", by="dpo@example.com")
    assert done.was_stored and not store.has(kept)
    record = json.loads(store.get_record(f"forgotten/{kept}.json"))
    assert record["reason"] == "erasure request 42" and record["by"] == "dpo@example.com"
    assert record["releases"] == ["demo 0.1.0"] and record["bytes"] == len(b"rows of a release")
    assert "demo 0.1.0" in done.describe() and "can no longer be rebuilt" in done.describe()


def test_forget_refuses_no_reason_and_a_non_sha256(tmp_path):
    store = DataStore(str(tmp_path / "store"))
    with pytest.raises(DataStoreError, match="say why"):
        forget(store, "a" * 64, "  ")
    with pytest.raises(DataStoreError, match="is not a sha256"):
        forget(store, "../../etc/passwd", "because")
    done = forget(store, "b" * 64, "never stored, never to be")
    assert not done.was_stored and store.get_record(f"forgotten/{'b' * 64}.json") is not None
