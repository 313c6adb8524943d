"""The fsspec folder registry, for real on local folders: publish, list, latest, verified and cached downloads."""

import errno
import shutil
from pathlib import Path

import pytest

from modelkeel.bundle.reader import open_bundle
from modelkeel.errors import (
    NoReleaseYet,
    RegistryError,
    ReleaseNotFound,
    VerificationError,
)
from modelkeel.registry import folder as folder_registry
from modelkeel.registry.folder import FolderRegistry

from ..conftest import peak_bytes, released_as


@pytest.fixture()
def bundle_dir(bundle_dir, release_key, tmp_path_factory):
    """The pipeline's bundle as a release is published: signed (a copy per test)."""
    copy = tmp_path_factory.mktemp("release") / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    return release_key.sign(copy)


@pytest.fixture(autouse=True)
def signer(release_key, monkeypatch):
    """Every FolderRegistry here reads with the key pair's signer (registry.signer), and publishing signs an
    unsigned bundle with its private key ($MODEL_SIGNING_KEY), as `make sign` would."""
    monkeypatch.setattr(FolderRegistry, "signer", release_key.signer)
    monkeypatch.setenv("MODEL_SIGNING_KEY", release_key.private.read_text())
    return release_key


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def same_files(a: Path, b: Path) -> bool:
    return {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}


def test_folder_registry_publish_list_latest_download(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    with pytest.raises(NoReleaseYet, match=r"no published version yet"):
        reg.latest()
    assert reg.latest_or_none() is None
    second = released_as(bundle_dir, "0.2.0", tmp_path)
    reg.publish(open_bundle(bundle_dir))
    reg.publish(open_bundle(second))
    assert reg.versions() == ["0.1.0", "0.2.0"] and reg.latest() == "0.2.0"
    with pytest.raises(RegistryError, match=r"already exists"):
        reg.publish(open_bundle(second))
    folder = reg.fetch("latest", tmp_path / "cache").folder
    assert folder.name == "0.2.0" and same_files(folder, second)
    file_url = FolderRegistry(f"file://{tmp_path / 'registry'}")
    assert file_url.versions() == ["0.1.0", "0.2.0"]


def test_folder_registry_refuses_tampering_and_unknown_versions(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    with pytest.raises(ReleaseNotFound, match=r"no version 0.4.0"):
        reg.fetch("0.4.0", tmp_path / "cache")
    (tmp_path / "registry" / "0.1.0" / "metrics.json").write_text("{}")
    with pytest.raises(VerificationError, match=r"metrics.json: checksum mismatch"):
        reg.fetch("0.1.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_full_disk_in_the_cache_leaves_no_partial_file(bundle_dir, tmp_path, monkeypatch):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    real_copy = folder_registry.copy_stream
    calls = []

    def fill_the_disk(source, target, size, what, **limits):
        calls.append(what)
        if len(calls) == 3:
            target.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(source, target, size, what, **limits)

    monkeypatch.setattr(folder_registry, "copy_stream", fill_the_disk)
    with pytest.raises(RegistryError, match=r"is full"):
        reg.fetch("0.1.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_concurrent_downloads_of_one_version_all_succeed(bundle_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    with ThreadPoolExecutor(6) as pool:
        folders = list(pool.map(lambda _: reg.fetch("0.1.0", tmp_path / "cache").folder, range(6)))
    assert {str(f) for f in folders} == {str(tmp_path / "cache" / "0.1.0")}
    assert leftovers(tmp_path / "cache") == ["0.1.0"]
    assert same_files(folders[0], bundle_dir)


def test_the_cache_keeps_registries_apart(bundle_dir, tmp_path, signer):
    from modelkeel.runtime.model import load_model

    staging, production = FolderRegistry(str(tmp_path / "staging")), FolderRegistry(str(tmp_path / "production"))
    staging.publish(open_bundle(bundle_dir))
    other = tmp_path / "other"
    shutil.copytree(bundle_dir, other)
    (other / "model_card.md").write_text("another model\n")
    (other / "bundle.sig").unlink()  # signed again when published
    from modelkeel.bundle.checksums import render

    (other / "SHA256SUMS").write_text(render(other))
    production.publish(open_bundle(other))
    assert staging.cache_key != production.cache_key
    cache = tmp_path / "cache"
    a = staging.fetch("0.1.0", cache / staging.cache_key).folder
    b = production.fetch("0.1.0", cache / production.cache_key).folder
    assert (a / "model_card.md").read_text() != (b / "model_card.md").read_text()
    assert load_model("0.1.0", url=str(tmp_path / "production"), signer=signer.signer).version == "0.1.0"


def test_concurrent_publishes_leave_one_complete_version(bundle_dir, tmp_path, signer):
    from concurrent.futures import ThreadPoolExecutor

    reg = FolderRegistry(str(tmp_path / "registry"))
    fifth = released_as(bundle_dir, "0.5.0", tmp_path, signer.private)

    def attempt(_):
        try:
            reg.publish(open_bundle(fifth))
            return "published"
        except RegistryError:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert outcomes.count("published") == 1
    assert reg.versions() == ["0.5.0"]
    assert same_files(reg.fetch("0.5.0", tmp_path / "cache").folder, fifth)


def test_publishing_somewhere_unwritable_is_a_clear_error(bundle_dir):
    with pytest.raises(RegistryError, match="cannot publish to /dev/null/registry"):
        FolderRegistry("/dev/null/registry").publish(open_bundle(bundle_dir))


def test_a_version_holding_another_versions_bundle_is_refused(bundle_dir, tmp_path):
    """A folder 0.3.0/ that carries the 0.1.0 bundle is not the 0.3.0 release, however well checksummed."""
    import shutil

    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    shutil.copytree(tmp_path / "registry" / "0.1.0", tmp_path / "registry" / "0.3.0")
    with pytest.raises(VerificationError, match=r"0.3.0: the bundle inside is version 0.1.0"):
        reg.fetch("latest", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_hidden_entries_beside_a_bundle_are_not_part_of_it(bundle_dir, tmp_path, monkeypatch):
    """Finder's .DS_Store or a mounted ConfigMap's ..data cannot be listed in SHA256SUMS, so they are ignored."""
    import shutil

    monkeypatch.setattr(FolderRegistry, "signer", None)  # publishing unchecked (a signature covers hidden files)
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    (copy / "bundle.sig").unlink()
    (copy / ".DS_Store").write_bytes(b"\0")
    (copy / "..data").mkdir()
    assert open_bundle(copy).version == "0.1.0"
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(copy))
    assert not (tmp_path / "registry" / "0.1.0" / ".DS_Store").exists(), "hidden files are not published"


# ---- crash-safe publishes: a version is visible once its SHA256SUMS is there --------------------------


@pytest.fixture()
def memory_url(tmp_path):
    """An object-store-like registry (fsspec's memory://), not local: publishes upload file by file."""
    import fsspec

    url = f"memory://registry-{tmp_path.name}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def interrupted_publish(reg: FolderRegistry, bundle: Path, version: str) -> list[str]:
    """What a publish killed half-way leaves: some of the files (and a stray one), no SHA256SUMS."""
    names = sorted(p.name for p in bundle.iterdir() if p.name != "SHA256SUMS")[:3]
    for name in names:
        reg.fs.put_file(str(bundle / name), f"{reg.root}/{version}/{name}")
    reg.fs.pipe_file(f"{reg.root}/{version}/stray.bin", b"from an older attempt")
    return names


def test_an_interrupted_object_store_publish_is_ignored_then_finished(bundle_dir, tmp_path, memory_url):
    reg = FolderRegistry(memory_url)
    assert not folder_registry._is_local(reg.fs)
    reg.publish(open_bundle(bundle_dir))
    second = released_as(bundle_dir, "0.2.0", tmp_path)
    interrupted_publish(reg, second, "0.2.0")

    assert reg.versions() == ["0.1.0"] and reg.latest() == "0.1.0", "latest ignores the incomplete version"
    assert reg.incomplete() == ["0.2.0"]
    assert reg.fetch("latest", tmp_path / "cache").folder.name == "0.1.0"
    with pytest.raises(RegistryError, match=r"0.2.0 has no SHA256SUMS.*publish the bundle again to finish it"):
        reg.fetch("0.2.0", tmp_path / "cache")

    reg.publish(open_bundle(second))  # the republish finishes it
    assert reg.versions() == ["0.1.0", "0.2.0"] and reg.latest() == "0.2.0" and reg.incomplete() == []
    assert not reg.fs.exists(f"{reg.root}/0.2.0/stray.bin"), "what the bundle does not hold is removed"
    assert same_files(reg.fetch("latest", tmp_path / "cache").folder, second)
    with pytest.raises(RegistryError, match=r"already exists"):
        reg.publish(open_bundle(second))


def test_an_object_store_publish_writes_sha256sums_last(bundle_dir, memory_url, monkeypatch):
    reg = FolderRegistry(memory_url)
    uploaded = []
    real_put = reg.fs.put_file

    def put_file(local, remote, **kwargs):
        uploaded.append(Path(remote).name)
        assert reg.versions() == [], "nothing is listed before SHA256SUMS is there"
        return real_put(local, remote, **kwargs)

    monkeypatch.setattr(reg.fs, "put_file", put_file)
    reg.publish(open_bundle(bundle_dir))
    assert uploaded[-1] == "SHA256SUMS" and uploaded.count("SHA256SUMS") == 1
    assert sorted(uploaded) == sorted(p.name for p in bundle_dir.iterdir())
    assert reg.versions() == ["0.1.0"]


def test_an_upload_cut_short_leaves_the_version_unpublished(bundle_dir, tmp_path, memory_url, monkeypatch):
    reg = FolderRegistry(memory_url)
    real_put = reg.fs.put_file

    def cut_short(local, remote, **kwargs):
        if remote.endswith("model.onnx"):
            reg.fs.pipe_file(remote, Path(local).read_bytes()[:100])  # the store kept only the start
        else:
            real_put(local, remote, **kwargs)

    monkeypatch.setattr(reg.fs, "put_file", cut_short)
    with pytest.raises(RegistryError, match=r"model.onnx: the store holds 100 bytes.*publish again to finish it"):
        reg.publish(open_bundle(bundle_dir))
    assert not reg.fs.exists(f"{reg.root}/0.1.0/SHA256SUMS")
    assert reg.versions() == [] and reg.latest_or_none() is None and reg.incomplete() == ["0.1.0"]
    monkeypatch.setattr(reg.fs, "put_file", real_put)
    reg.publish(open_bundle(bundle_dir))
    assert reg.latest() == "0.1.0"
    assert same_files(reg.fetch("0.1.0", tmp_path / "cache").folder, bundle_dir)


def test_a_store_reported_md5_that_differs_leaves_the_version_unpublished(bundle_dir, memory_url, monkeypatch):
    import base64
    import hashlib

    reg = FolderRegistry(memory_url)
    real_info = reg.fs.info
    wrong = {"value": True}

    def info(path, **kwargs):
        found = dict(real_info(path, **kwargs))
        if found["type"] == "file":  # as gcsfs reports it: base64 of the MD5 of what the store holds
            data = reg.fs.cat_file(path) + (b"!" if wrong["value"] else b"")
            found["md5Hash"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        return found

    monkeypatch.setattr(reg.fs, "info", info)
    with pytest.raises(RegistryError, match=r"the store's MD5 differs.*publish again to finish it"):
        reg.publish(open_bundle(bundle_dir))
    assert reg.versions() == []
    wrong["value"] = False
    reg.publish(open_bundle(bundle_dir))
    assert reg.versions() == ["0.1.0"]


def test_an_incomplete_local_version_is_ignored_then_replaced(bundle_dir, tmp_path):
    root = tmp_path / "registry"
    reg = FolderRegistry(str(root))
    reg.publish(open_bundle(bundle_dir))
    second = released_as(bundle_dir, "0.2.0", tmp_path)
    (root / "0.2.0").mkdir()
    (root / "0.2.0" / "stray.bin").write_bytes(b"half a copy")
    assert reg.versions() == ["0.1.0"] and reg.latest() == "0.1.0" and reg.incomplete() == ["0.2.0"]
    reg.publish(open_bundle(second))
    assert reg.versions() == ["0.1.0", "0.2.0"] and same_files(root / "0.2.0", second)
    assert leftovers(root) == ["0.1.0", "0.2.0"], "no staging or retired folder is left behind"


def aged(path: Path, seconds: float) -> Path:
    import os
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def stale_and_fresh(folder: Path) -> tuple[Path, Path, Path]:
    """A staging folder a killed process left two hours ago, one made now, and an old one still written to."""
    stale, fresh, busy = (folder / f".0.1.0.{tag}.partial" for tag in ("stale", "fresh", "busy"))
    for partial in (stale, fresh, busy):
        partial.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half a download")
    aged(stale / "model.onnx", 7200)
    aged(stale, 7200)
    (busy / "model.onnx").write_bytes(b"a large download, still arriving")
    aged(busy, 7200)
    return stale, fresh, busy


def test_a_fetch_removes_stale_partial_folders_from_the_cache_and_keeps_fresh_ones(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    cache = tmp_path / "cache"
    stale, fresh, busy = stale_and_fresh(cache)
    (cache / ".notes.txt").write_text("not a staging folder")
    aged(cache / ".notes.txt", 7200)
    reg.fetch("0.1.0", cache)
    assert not stale.exists()
    assert fresh.is_dir() and busy.is_dir(), "a concurrent download's folder is kept"
    assert (cache / ".notes.txt").exists() and (cache / "0.1.0").is_dir()
    aged(fresh, 7200)
    reg.fetch("0.1.0", cache)  # a cached version: the fetch cleans all the same
    assert not fresh.exists() and busy.exists()


def test_a_local_publish_removes_stale_partial_folders_from_the_registry(bundle_dir, tmp_path):
    root = tmp_path / "registry"
    stale, fresh, busy = stale_and_fresh(root)
    reg = FolderRegistry(str(root))
    reg.publish(open_bundle(bundle_dir))
    assert not stale.exists() and fresh.is_dir() and busy.is_dir()
    assert reg.versions() == ["0.1.0"]


# ---- bounded before read ----------------------------------------------------------------------------------


def _signed(reg: FolderRegistry) -> FolderRegistry:
    """The registry with a signer set: what these tests refuse is refused before any signature check."""
    from modelkeel.settings import Signer

    reg.signer = Signer(workflow="https://github.com/octo-org/churn-model/.github/workflows/release.yml")
    return reg


def _huge_checksums(tmp_path: Path, bundle_dir: Path) -> FolderRegistry:
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    with (tmp_path / "registry" / "0.1.0" / "SHA256SUMS").open("r+b") as handle:
        handle.truncate(300 << 20)  # 300 MB, on disk only (sparse)
    return _signed(reg)


def test_a_huge_sha256sums_is_refused_by_its_listed_size(bundle_dir, tmp_path):
    reg = _huge_checksums(tmp_path, bundle_dir)

    def fetch():
        with pytest.raises(RegistryError, match=r"SHA256SUMS: 314,572,800 bytes, more than the 1.0 MiB .*before copy"):
            reg.fetch("0.1.0", tmp_path / "cache")

    assert peak_bytes(fetch) < 4 << 20
    assert leftovers(tmp_path / "cache") == []


def test_a_file_of_unlisted_size_is_cut_off_at_its_cap(bundle_dir, tmp_path, monkeypatch):
    reg = _huge_checksums(tmp_path, bundle_dir)
    listing = reg.fs.ls
    monkeypatch.setattr(
        reg.fs,
        "ls",
        lambda path, detail=True: [{k: v for k, v in e.items() if k != "size"} for e in listing(path, detail=True)],
    )

    def fetch():
        with pytest.raises(RegistryError, match=r"SHA256SUMS: the download is larger than the 1048576 bytes it may"):
            reg.fetch("0.1.0", tmp_path / "cache")

    assert peak_bytes(fetch) < 8 << 20
    assert leftovers(tmp_path / "cache") == []


def test_only_the_listed_files_are_copied(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(bundle_dir))
    with (tmp_path / "registry" / "0.1.0" / "junk.bin").open("wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB no SHA256SUMS lists: never copied
    copied = tmp_path / "copied"
    copied.mkdir()
    reg._download_files("0.1.0", copied)
    assert not (copied / "junk.bin").exists() and (copied / "model.onnx").is_file()


def test_a_first_publish_of_a_version_to_s3_succeeds(bundle_dir, tmp_path, s3_server, monkeypatch):
    """memory:// (the other object-store tests) has folders; a real S3 server has only keys."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    reg = FolderRegistry(f"s3://{s3_server.new_bucket()}/registry")
    reg.publish(open_bundle(bundle_dir))
    assert reg.versions() == ["0.1.0"]
    copied = tmp_path / "copied"
    copied.mkdir()
    reg._download_files("0.1.0", copied)
    assert same_files(copied, bundle_dir), "the version holds the bundle, byte for byte"


def another_build(bundle_dir: Path, parent: Path, note: str) -> Path:
    """The same version built again with other contents (as two release jobs racing would hold)."""
    from modelkeel.bundle.checksums import render

    other = parent / note
    shutil.copytree(bundle_dir, other)
    (other / "model_card.md").write_text(f"{note}\n")
    (other / "bundle.sig").unlink(missing_ok=True)
    (other / "SHA256SUMS").write_text(render(other))
    return other


def test_two_concurrent_publishes_of_one_version_to_s3_end_with_one_whole_bundle(
    bundle_dir, tmp_path, s3_server, monkeypatch
):
    """Two release jobs publishing one version at once to a real S3 server: both pass the "already published?"
    check before either has written (a barrier holds each at its first upload); the one that claims the
    version first (a create-only write) publishes whole, the other is refused before it uploads a byte."""
    import threading

    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    url = f"s3://{s3_server.new_bucket()}/registry"
    builds = [another_build(bundle_dir, tmp_path, f"build-{i}") for i in range(2)]
    shared = FolderRegistry(url).fs  # fsspec caches the filesystem: every FolderRegistry(url) here uses it
    barrier = threading.Barrier(2)
    waited: set[int] = set()
    real_exists = shared.exists

    def held_exists(path, *args, **kwargs):  # the "already published?" check, passed by both before either writes
        found = real_exists(path, *args, **kwargs)
        if path.endswith("/SHA256SUMS") and threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait(timeout=30)
        return found

    monkeypatch.setattr(shared, "exists", held_exists)
    outcomes: dict[int, str] = {}

    def publish(i: int) -> None:
        try:
            FolderRegistry(url).publish(open_bundle(builds[i]))
            outcomes[i] = "published"
        except RegistryError as error:
            outcomes[i] = f"refused: {error}"

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    monkeypatch.setattr(shared, "exists", real_exists)
    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["published", "refused"], outcomes
    assert "is being published by another run" in next(o for o in outcomes.values() if o.startswith("refused"))
    winner = next(i for i, o in outcomes.items() if o == "published")
    copied = tmp_path / "copied"
    copied.mkdir()
    FolderRegistry(url)._download_files("0.1.0", copied)
    assert same_files(copied, builds[winner]), "the version holds the winner's bundle, whole"


def test_a_claim_left_by_a_publish_that_died_holds_the_version_for_an_hour_then_is_taken_over(bundle_dir, memory_url):
    """A publish killed after claiming leaves its claim: a publish meanwhile is refused (that run may still be
    uploading), one after STALE_CLAIM_SECONDS takes the version over and publishes it whole."""
    import json
    import time

    from modelkeel.registry.folder import CLAIM, STALE_CLAIM_SECONDS

    reg = FolderRegistry(memory_url)
    claim = f"{reg.root}/0.1.0/{CLAIM}"
    reg.fs.pipe_file(claim, json.dumps({"token": "dead", "at": time.time() - 60}).encode())
    with pytest.raises(RegistryError, match=r"0.1.0 is being published by another run"):
        reg.publish(open_bundle(bundle_dir))
    assert reg.versions() == []
    reg.fs.pipe_file(claim, json.dumps({"token": "dead", "at": time.time() - STALE_CLAIM_SECONDS - 1}).encode())
    reg.publish(open_bundle(bundle_dir))
    assert reg.versions() == ["0.1.0"]
    assert json.loads(reg.fs.cat_file(claim))["token"] != "dead", "this run's claim replaced the dead one"


# ---- a publish killed mid-upload (a child process, SIGKILL): nothing of it is visible, and it is redone ----

PUBLISH = """import sys
from modelkeel.bundle.reader import open_bundle
from modelkeel.registry.folder import FolderRegistry
FolderRegistry(sys.argv[1]).publish(open_bundle(sys.argv[2]))
"""
LARGE_MODEL_BYTES = 64 << 20  # its upload takes a moment: the publish is killed while it is under way


def with_large_model(bundle_dir: Path, version: str, parent: Path, release_key) -> Path:
    """The bundle released as `version`, signed, its model.onnx made LARGE_MODEL_BYTES larger by an unused
    initializer (still one valid, self-contained ONNX file, named by lineage.json and parity.json)."""
    import hashlib
    import json
    import random

    import onnx
    from onnx import helper

    from modelkeel.bundle.checksums import render

    copy = released_as(bundle_dir, version, parent)
    model = onnx.load_model_from_string((copy / "model.onnx").read_bytes())
    padding = random.Random(0).randbytes(LARGE_MODEL_BYTES)
    model.graph.initializer.append(
        helper.make_tensor("padding", onnx.TensorProto.UINT8, [LARGE_MODEL_BYTES], padding, raw=True)
    )
    data = model.SerializeToString()
    (copy / "model.onnx").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    for record, path in (("lineage.json", ("model", "sha256")), ("parity.json", ("onnx_sha256",))):
        content = json.loads((copy / record).read_text())
        *parents, leaf = path
        inner = content
        for key in parents:
            inner = inner[key]
        inner[leaf] = sha
        (copy / record).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    (copy / "SHA256SUMS").write_text(render(copy))
    return release_key.sign(copy)


@pytest.fixture(params=["folder", "s3"])
def registry_url(request, tmp_path, monkeypatch) -> str:
    """A registry on a local folder, or on a fresh bucket of the S3 server with its credentials in the
    environment (AWS_*, as a project's CI sets them), which a child publishing process inherits."""
    if request.param == "folder":
        return str(tmp_path / "registry")
    server = request.getfixturevalue("s3_server")
    for name, value in server.environment.items():
        monkeypatch.setenv(name, value)
    return f"s3://{server.new_bucket()}/registry"


def a_file_arrived(reg: FolderRegistry, version: str):
    """Whether a file of the version's publish is on the store yet: in the staging folder of a local publish
    (renamed into place only when whole), under the version's prefix on an object store (beside the claim)."""
    from modelkeel.registry.folder import CLAIM

    if folder_registry._is_local(reg.fs):
        root = Path(reg.root)
        return lambda: any(root.glob(f".{version}.*.partial/*")) or any(root.glob(f"{version}/*"))

    def arrived() -> bool:
        try:
            found = reg.fs.ls(f"{reg.root}/{version}", detail=False, refresh=True)
        except FileNotFoundError:
            return False
        return bool({Path(p.rstrip("/")).name for p in found} - {CLAIM})

    return arrived


def test_a_publish_killed_mid_upload_is_never_half_visible_and_is_published_again_later(
    bundle_dir, tmp_path, registry_url, release_key, monkeypatch
):
    """A release job killed (SIGKILL) once the first file of its version is on the store, its large model.onnx
    still to upload: the version is not listed nor fetched, the previous one stays latest; on an object store
    incomplete() names it and the dead run's claim holds it until stale (STALE_CLAIM_SECONDS, here made 0),
    locally only a hidden staging folder is left. Published again, the version fetches and verifies whole."""
    from ..killed import killed_while

    reg = FolderRegistry(registry_url)
    reg.publish(open_bundle(bundle_dir))
    second = with_large_model(bundle_dir, "0.2.0", tmp_path, release_key)
    killed_while(PUBLISH, [registry_url, str(second)], a_file_arrived(reg, "0.2.0"), "a file of 0.2.0 on the store")
    reg.fs.invalidate_cache()

    local = folder_registry._is_local(reg.fs)
    assert reg.versions() == ["0.1.0"] and reg.latest() == "0.1.0"
    assert not reg.fs.exists(f"{reg.root}/0.2.0/SHA256SUMS")
    assert reg.fetch("latest", tmp_path / "cache").folder.name == "0.1.0"
    if local:
        assert reg.incomplete() == [], "a local publish is renamed into place whole: no version folder yet"
        assert [p.name for p in Path(reg.root).iterdir() if not p.name.startswith(".")] == ["0.1.0"]
        with pytest.raises(ReleaseNotFound, match=r"has no version 0.2.0"):
            reg.fetch("0.2.0", tmp_path / "cache")
    else:
        assert reg.incomplete() == ["0.2.0"]
        with pytest.raises(RegistryError, match=r"0.2.0 has no SHA256SUMS.*its publish was interrupted"):
            reg.fetch("0.2.0", tmp_path / "cache")
        with pytest.raises(RegistryError, match=r"0.2.0 is being published by another run"):
            reg.publish(open_bundle(second))  # the dead run's claim is fresh: it might still be uploading
        monkeypatch.setattr(folder_registry, "STALE_CLAIM_SECONDS", 0)
    assert not (tmp_path / "cache" / "0.2.0").exists()

    reg.publish(open_bundle(second))
    assert reg.versions() == ["0.1.0", "0.2.0"] and reg.latest() == "0.2.0" and reg.incomplete() == []
    fetched = reg.fetch("0.2.0", tmp_path / "cache")  # verified: checksums, model hashes, signature
    assert fetched.version == "0.2.0" and same_files(fetched.folder, second)
