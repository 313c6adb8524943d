"""The fsspec folder registry, for real on local folders: publish, list, latest, verified and cached downloads."""

import errno
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.bundle.reader import open_bundle
from {{ cookiecutter.package_name }}.errors import (
    NoReleaseYet,
    RegistryError,
    ReleaseNotFound,
    VerificationError,
)
from {{ cookiecutter.package_name }}.registry import folder as folder_registry
from {{ cookiecutter.package_name }}.registry.folder import FolderRegistry

from ..conftest import released_as


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

    def fill_the_disk(source, target, size, what):
        calls.append(what)
        if len(calls) == 3:
            target.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(source, target, size, what)

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


def test_the_cache_keeps_registries_apart(bundle_dir, tmp_path):
    from {{ cookiecutter.package_name }}.runtime.model import load_model

    staging, production = FolderRegistry(str(tmp_path / "staging")), FolderRegistry(str(tmp_path / "production"))
    staging.publish(open_bundle(bundle_dir))
    other = tmp_path / "other"
    shutil.copytree(bundle_dir, other)
    (other / "model_card.md").write_text("another model\n")
    from {{ cookiecutter.package_name }}.bundle.checksums import render

    (other / "SHA256SUMS").write_text(render(other))
    production.publish(open_bundle(other))
    assert staging.cache_key != production.cache_key
    cache = tmp_path / "cache"
    a = staging.fetch("0.1.0", cache / staging.cache_key).folder
    b = production.fetch("0.1.0", cache / production.cache_key).folder
    assert (a / "model_card.md").read_text() != (b / "model_card.md").read_text()
    assert load_model("0.1.0", url=str(tmp_path / "production"), cache_dir=None).version == "0.1.0"


def test_concurrent_publishes_leave_one_complete_version(bundle_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    reg = FolderRegistry(str(tmp_path / "registry"))
    fifth = released_as(bundle_dir, "0.5.0", tmp_path)

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


def test_hidden_entries_beside_a_bundle_are_not_part_of_it(bundle_dir, tmp_path):
    """Finder's .DS_Store or a mounted ConfigMap's ..data cannot be listed in SHA256SUMS, so they are ignored."""
    import shutil

    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    (copy / ".DS_Store").write_bytes(b"\0")
    (copy / "..data").mkdir()
    assert open_bundle(copy).version == "0.1.0"
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(open_bundle(copy))
    assert not (tmp_path / "registry" / "0.1.0" / ".DS_Store").exists(), "hidden files are not published"
