"""The data store: objects named by their sha256, written once, never half-visible, checked on the way out.

Every test that takes `store_url` runs twice: on a local folder and on a real S3 server on loopback
(SeaweedFS, `tests/s3server.py`).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
from pathlib import Path

import pytest

from modelkeel.data.retention import collect
from modelkeel.data.store import OBJECTS, STAGING, DataStore, Stored
from modelkeel.errors import CorruptObject, DataStoreError, ObjectNotFound, SettingsError

from ..killed import killed_while


def open_store(where, **kwargs) -> DataStore:
    return DataStore(where.url, where.storage_options, **kwargs)


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


class Breaking(io.RawIOBase):
    """A source that gives `good` bytes, then fails as a disk or network read fails (or waits at `barrier`)."""

    def __init__(self, data: bytes, good: int, barrier: threading.Barrier | None = None) -> None:
        self.data, self.good, self.offset, self.barrier = data, good, 0, barrier

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.offset >= len(self.data):
            return b""
        if self.offset >= self.good:
            if self.barrier is None:
                raise OSError(5, "Input/output error")
            self.barrier.wait(timeout=30)
            self.barrier = None
            self.good = len(self.data)
        end = min(self.offset + (size if size > 0 else len(self.data)), self.good)
        chunk, self.offset = self.data[self.offset : end], end
        return chunk


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_put_then_get_gives_back_the_same_bytes(store_url, tmp_path):
    store = open_store(store_url)
    for name, data in {"a.csv": payload(3 * 1024 * 1024 + 17), "empty.csv": b""}.items():
        source = write(tmp_path, name, data)
        stored = store.put(source)
        assert stored == Stored(hashlib.sha256(data).hexdigest(), len(data))
        assert store.has(stored.sha256)
        dest = tmp_path / "out" / name
        assert store.get(stored.sha256, dest, size=len(data)) == stored
        assert dest.read_bytes() == data
    assert leftovers(tmp_path / "out") == ["a.csv", "empty.csv"]
    assert store.staged() == []


def test_an_object_lives_at_its_sha256_under_the_documented_layout(store_url, tmp_path):
    store = open_store(store_url)
    data = b"species,bill_length_mm\nAdelie,39.1\n"
    sha = store.put(write(tmp_path, "a.csv", data)).sha256
    assert store.object_url(sha) == f"{store_url.url}/{OBJECTS}/{sha[:2]}/{sha}"
    assert store.fs.cat_file(store.key(sha)) == data


def test_putting_the_same_content_twice_keeps_one_object(store_url, tmp_path):
    store = open_store(store_url)
    data = payload(4096)
    first = store.put(write(tmp_path, "one.csv", data))
    second = store.put(write(tmp_path, "two.csv", data))
    third = store.put(io.BytesIO(data))
    assert first == second == third
    assert store.objects() == [first]
    assert store.staged() == []


def test_listing_names_every_object_with_its_size_and_nothing_else(store_url, tmp_path):
    store = open_store(store_url)
    assert store.objects() == []
    stored = [store.put(io.BytesIO(payload(100 * (i + 1), seed=i))) for i in range(3)]
    store.fs.makedirs(f"{store.root}/{OBJECTS}/ab", exist_ok=True)
    store.fs.pipe_file(f"{store.root}/{OBJECTS}/ab/not-an-object", b"x")  # a stray file is not an object
    assert store.objects() == sorted(stored, key=lambda s: s.sha256)
    assert {s.bytes for s in store.objects()} == {100, 200, 300}


@pytest.mark.parametrize("change", ["same size", "shorter", "longer", "substituted"])
def test_a_corrupted_or_substituted_object_is_refused_and_nothing_is_left_at_dest(store_url, tmp_path, change):
    store = open_store(store_url)
    data = payload(10_000)
    sha = store.put(io.BytesIO(data)).sha256
    other = store.put(io.BytesIO(payload(10_000, seed=9))).sha256
    key = store.key(sha)
    if change == "same size":
        store.fs.pipe_file(key, data[:-1] + bytes([data[-1] ^ 1]))
    elif change == "shorter":
        store.fs.pipe_file(key, data[:5000])
    elif change == "longer":
        store.fs.pipe_file(key, data + b"more")
    else:
        store.fs.copy(store.key(other), key)
    dest = tmp_path / "out" / "a.csv"
    with pytest.raises(CorruptObject, match=sha):
        store.get(sha, dest)
    with pytest.raises(CorruptObject, match=sha):
        store.get(sha, dest, size=len(data))
    assert not dest.exists()
    assert leftovers(dest.parent) == []
    assert not store.verifies(sha)
    # a put of the right content replaces what no longer verifies
    assert store.put(io.BytesIO(data)).sha256 == sha
    store.get(sha, dest)
    assert dest.read_bytes() == data


def test_a_missing_object_is_named(store_url, tmp_path):
    store = open_store(store_url)
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.has(sha)
    with pytest.raises(ObjectNotFound, match=sha):
        store.get(sha, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_an_interrupted_put_leaves_nothing_at_any_object_key(store_url, tmp_path):
    store = open_store(store_url)
    data = payload(3 * 1024 * 1024)
    with pytest.raises(DataStoreError, match="Input/output error"):
        store.put(Breaking(data, good=2 * 1024 * 1024))
    assert not store.has(hashlib.sha256(data).hexdigest())
    assert store.objects() == []
    assert store.staged() == []  # abandoned and removed


def test_an_interrupted_put_whose_clean_up_failed_leaves_only_a_staging_key(store_url, tmp_path, monkeypatch):
    """As a killed process would: the upload is neither discarded nor removed (on S3 the file object is
    even closed by garbage collection, committing what it had): only a staging key is left, which gc removes."""
    store = open_store(store_url)
    monkeypatch.setattr(store, "_abandon", lambda target: None)
    monkeypatch.setattr(store, "_remove", lambda staging: None)
    data = payload(1024 * 1024)
    with pytest.raises(DataStoreError):
        store.put(Breaking(data, good=512 * 1024))
    import gc

    gc.collect()
    assert store.objects() == []
    assert not store.has(hashlib.sha256(data[: 512 * 1024]).hexdigest())
    assert len(store.staged()) <= 1  # the half upload (committed by garbage collection on S3), or nothing
    assert all("/staging/" in key and key.endswith(".partial") for key in store.staged())


def test_an_interrupted_multipart_upload_is_aborted_and_leaves_nothing(s3_server, tmp_path):
    """On S3 a source larger than a block goes up in parts; failing after two parts aborts the upload."""
    options = {**s3_server.storage_options, "default_block_size": 5 * 1024 * 1024}
    store = DataStore(f"s3://{s3_server.new_bucket()}/store", options)
    data = payload(12 * 1024 * 1024)
    with pytest.raises(DataStoreError):
        store.put(Breaking(data, good=11 * 1024 * 1024))
    assert store.objects() == []
    assert store.staged() == []
    stored = store.put(io.BytesIO(data))  # and whole, in parts, it arrives whole
    store.get(stored.sha256, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_two_concurrent_puts_of_the_same_content_both_succeed_with_one_object(store_url, tmp_path):
    data = payload(2 * 1024 * 1024 + 3)
    barrier = threading.Barrier(2)  # both are half-way through their upload before either finishes
    results: dict[int, object] = {}

    def put(i: int) -> None:
        try:
            results[i] = open_store(store_url).put(Breaking(data, good=1024 * 1024, barrier=barrier))
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=put, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    expected = Stored(hashlib.sha256(data).hexdigest(), len(data))
    assert results == {0: expected, 1: expected}
    store = open_store(store_url)
    assert store.objects() == [expected]
    assert store.staged() == []
    store.get(expected.sha256, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_sizes_are_bounded_on_the_way_in_and_out(store_url, tmp_path):
    store = open_store(store_url)
    data = payload(5000)
    with pytest.raises(DataStoreError, match="more than the 4,999 bytes"):
        store.put(write(tmp_path, "big.csv", data), max_bytes=4999)
    with pytest.raises(DataStoreError, match="more than the 4,999 bytes"):
        store.put(io.BytesIO(data), max_bytes=4999)
    assert store.objects() == []
    assert store.staged() == []
    sha = store.put(io.BytesIO(data)).sha256
    with pytest.raises(CorruptObject, match="5,000 bytes, 4,000 were stored"):
        store.get(sha, tmp_path / "out", size=4000)
    with pytest.raises(DataStoreError, match="more than the 4,096"):
        open_store(store_url, max_bytes=4096).get(sha, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_stream_of_known_content_is_stored_only_when_it_hashes_to_it(store_url):
    """Given the sha256 and size a stream must have (a manifest's file read from its URL); when its bytes hash
    otherwise, or are more; then nothing becomes an object and no staged upload is left."""
    store = open_store(store_url)
    data = payload(3 * 1024 * 1024 + 5)  # more than one chunk: refused only once the whole stream was hashed
    sha = hashlib.sha256(data).hexdigest()
    other = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(
        CorruptObject, match=f"s3://x/y: its {len(data):,} bytes hash to [0-9a-f]{{64}}, not to the {sha}"
    ):
        store.put(io.BytesIO(other), max_bytes=len(data), sha256=sha, label="s3://x/y")
    with pytest.raises(CorruptObject, match=f"more than the {len(data):,} bytes expected"):
        store.put(io.BytesIO(data + b"x"), max_bytes=len(data), sha256=sha)
    assert store.objects() == [] and store.staged() == []
    assert store.put(io.BytesIO(data), max_bytes=len(data), sha256=sha) == Stored(sha, len(data))
    assert store.objects() == [Stored(sha, len(data))] and store.staged() == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "ab" * 31, "", "g" * 64])
def test_only_a_sha256_names_an_object(tmp_path, name):
    store = DataStore(str(tmp_path / "store"))
    with pytest.raises(ValueError, match="not a sha256"):
        store.get(name, tmp_path / "x")
    with pytest.raises(ValueError, match="not a sha256"):
        store.has(name)


def test_credentials_in_the_url_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="credentials"):
        DataStore("s3://user:secret@bucket/store")


def test_credentials_come_from_the_environment(s3_server, tmp_path, monkeypatch):
    """As a project's CI sets them: AWS_* variables, no storage_options."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    store = DataStore(f"s3://{bucket}/store", {"skip_instance_cache": True})
    stored = store.put(io.BytesIO(b"rows"))
    assert store.has(stored.sha256)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises((DataStoreError, PermissionError)):
        DataStore(f"s3://{bucket}/store", {"skip_instance_cache": True}).objects()


# ---- a put killed mid-upload (a child process, SIGKILL): no object, at most a staging key ------------------

PUT = """import json, sys
from modelkeel.data.store import DataStore
DataStore(sys.argv[1], json.loads(sys.argv[2])).put(sys.argv[3])
"""
PART_BYTES = 5 * 1024 * 1024  # S3's smallest part: on S3 the child's upload goes up in parts


def upload_under_way(store: DataStore):
    """Whether a put is writing: a local file in the store with bytes in it (its staging key); on S3, whose keys
    appear only whole, a multipart upload in progress under the store's prefix."""
    if store.local:
        root = Path(store.root)

        def written() -> bool:
            try:
                return any(p.is_file() and p.stat().st_size > 0 for p in root.rglob("*"))
            except FileNotFoundError:
                return False

        return written
    bucket, _, prefix = store.root.partition("/")
    return lambda: any(u["Key"].startswith(f"{prefix}/") for u in store.fs.list_multipart_uploads(bucket))


def test_a_put_killed_mid_upload_leaves_no_object_and_a_later_put_stores_it_whole(store_url, tmp_path, request):
    """A run killed (SIGKILL) while it uploads a file: nothing is at the object's key, nor listed; locally the
    dead upload's staging key is left for gc, on S3 not even that (an unfinished multipart upload is no key).
    The same file put again is stored, and reads back verified."""
    store = open_store(store_url)
    data = payload(40 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    source = write(tmp_path, "big.csv", data)
    # the child: this interpreter, the S3 server's credentials from the environment, as a project's CI sets them
    env = {} if store.local else request.getfixturevalue("s3_server").environment
    options = {} if store.local else {"default_block_size": PART_BYTES, "skip_instance_cache": True}
    killed_while(PUT, [store_url.url, json.dumps(options), str(source)], upload_under_way(store), "an upload", env)
    store.fs.invalidate_cache()

    assert not store.has(sha) and store.objects() == [] and not store.verifies(sha)
    with pytest.raises(ObjectNotFound, match=sha):
        store.get(sha, tmp_path / "out")
    staged = store.staged()
    assert len(staged) == (1 if store.local else 0)
    assert all(key.startswith(f"{store.root}/{STAGING}/") and key.endswith(".partial") for key in staged)

    assert store.put(source) == Stored(sha, len(data))
    assert store.objects() == [Stored(sha, len(data))]
    assert store.get(sha, tmp_path / "back", size=len(data)) == Stored(sha, len(data))
    assert (tmp_path / "back").read_bytes() == data
    assert store.staged() == staged, "the later put left no staging key of its own"
    if not store.local:  # the dead upload's parts stay on S3 until gc aborts them
        assert len(store.abandoned_uploads()) == 1
        done = collect(store, min_age_hours=0)  # no manifest names the object either: it goes too
        assert done.staging_removed[0].endswith("(unfinished multipart upload)") and done.removed == (sha,)
        assert store.abandoned_uploads() == []
